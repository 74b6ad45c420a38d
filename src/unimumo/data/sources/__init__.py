"""Readers for the raw corpora in their on-disk formats (Music4All, AIST++, HumanML3D)."""
