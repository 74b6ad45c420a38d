"""Shared test helpers: the tiny recipe and training runs, tiny models, fixture corpora."""
