"""Evaluation: motion features, dance and music metrics, benchmark runs and rendering."""
