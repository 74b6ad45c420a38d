"""Packaging for the UniMuMo training framework: `pip install -e ".[dev]"`."""
from setuptools import find_packages, setup

setup(
    name="unimumo",
    version="0.1.0",
    description="Training framework for a unified music-motion-text language model (UniMuMo family).",
    # ds_configs/ stays at the repository root (researchers edit it there) and is also installed as
    # unimumo.ds_configs, so a non-editable install finds the named configs too.
    package_dir={"": "src", "unimumo.ds_configs": "ds_configs"},
    packages=find_packages("src") + ["unimumo.ds_configs"],
    package_data={"unimumo.ds_configs": ["*.json"]},
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.4",
        "numpy>=1.24",
        "scipy>=1.10",
        "transformers>=4.45",
        "safetensors>=0.4",
        "sentencepiece>=0.2",
        "deepspeed>=0.15",
        "webdataset>=0.2.90",
        "librosa>=0.10",
        "soundfile>=0.12",
        "submitit>=1.5",
        "tqdm>=4.60",
        "tensorboard>=2.14",
        "matplotlib>=3.7",
    ],
    extras_require={
        "dev": ["pytest>=8", "pytest-timeout>=2.2", "mir_eval>=0.7"],  # mir_eval: the beat F-measure's reference
        # `unimumo-shards build --beat-tracker essentia`; optional because essentia is AGPL-3.0-only
        "beats": ["essentia>=2.1b6.dev1389"],
    },
    entry_points={
        "console_scripts": [
            "unimumo-shards=unimumo.cli.shards:main",
            "unimumo-train=unimumo.cli.train:main",
            "unimumo-export=unimumo.train.export:main",
            "unimumo-submit=unimumo.launch:main",
            "unimumo-eval=unimumo.cli.eval:main",
            "unimumo-demo=unimumo.demo:main",
        ],
    },
)
