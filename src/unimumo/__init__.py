"""UniMuMo: training framework for a unified music-motion-text language model.

The public classes are importable from here. Importing `unimumo` registers the UniMuMo and motion VQ-VAE
model types with transformers' AutoConfig / AutoModel, so `AutoModel.from_pretrained(export_dir)` loads an
export (see `unimumo.models.register_auto_classes`).
"""

from unimumo import models
from unimumo.models import *  # noqa: F403  the public classes and register_auto_classes

__version__ = "0.1.0"

__all__ = ["__version__", *models.__all__]

models.register_auto_classes()
