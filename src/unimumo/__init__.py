"""UniMuMo: training framework for a unified music-motion-text language model."""

__version__ = "0.1.0"
