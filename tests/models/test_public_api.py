"""Public API: the `unimumo` / `unimumo.models` exports, and exports loaded by AutoModel after `import unimumo`."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import numpy as np
import torch
from transformers import AutoConfig, AutoModel

import unimumo
from testkit.model_fixtures import build_model, random_codes, random_text
from unimumo.models import register_auto_classes
from unimumo.train.export import save_export

PUBLIC = {
    "UniMuMoConfig": "unimumo.models.configuration_unimumo",
    "UniMuMoForConditionalGeneration": "unimumo.models.modeling_unimumo",
    "MotionVQVAEConfig": "unimumo.models.configuration_motion_vqvae",
    "MotionVQVAE": "unimumo.models.motion_vqvae",
    "MotionTokenizer": "unimumo.models.motion_tokenizer",
    "MusicCodec": "unimumo.models.music_codec",
    "TextTokenizer": "unimumo.models.text_tokenizer",
}


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_public_names_are_the_model_classes():
    import unimumo.models

    assert unimumo.__version__ == importlib.metadata.version("unimumo")
    assert set(PUBLIC) | {"__version__", "register_auto_classes"} == set(unimumo.__all__)
    for name, module in PUBLIC.items():
        cls = getattr(importlib.import_module(module), name)
        assert getattr(unimumo, name) is cls and getattr(unimumo.models, name) is cls
    namespace = {}
    exec("from unimumo import *", namespace)
    assert namespace["MotionTokenizer"] is unimumo.MotionTokenizer


def test_unimumo_export_loads_through_auto_model(t5_dir, tmp_path):
    model = build_model(t5_dir, expert_layers=[0])
    save_export(model, tmp_path / "export")
    config = AutoConfig.from_pretrained(tmp_path / "export")
    assert type(config) is unimumo.UniMuMoConfig
    loaded = AutoModel.from_pretrained(tmp_path / "export")
    assert type(loaded) is unimumo.UniMuMoForConditionalGeneration and not loaded.training
    ids, mask = random_text(2, 6, 0)
    batch = dict(
        music_codes=random_codes(2, 8, 1),
        motion_codes=random_codes(2, 8, 2),
        music_text_ids=ids,
        music_text_mask=mask,
        motion_text_ids=ids,
        motion_text_mask=mask,
    )
    with torch.no_grad():
        expected, restored = model(**batch), loaded(**batch)
    # bitwise: identical arithmetic (same weights, same inputs and shapes, same kernels)
    assert torch.equal(expected.music_logits, restored.music_logits)
    assert torch.equal(expected.motion_logits, restored.motion_logits)


def test_motion_tokenizer_export_loads_through_auto_model(tmp_path):
    tokenizer = unimumo.MotionTokenizer.from_random(seed=0)
    save_export(tokenizer.model, tmp_path / "motion_vqvae")
    assert type(AutoConfig.from_pretrained(tmp_path / "motion_vqvae")) is unimumo.MotionVQVAEConfig
    loaded = AutoModel.from_pretrained(tmp_path / "motion_vqvae")
    assert type(loaded) is unimumo.MotionVQVAE and not loaded.training
    features = torch.from_numpy(
        np.random.default_rng(0).standard_normal((2, 16, tokenizer.config.feature_dim), dtype=np.float32)
    )
    mask = torch.ones(2, 16, dtype=torch.bool)
    mask[1, 12:] = False
    with torch.no_grad():
        expected, restored = tokenizer.model(features, mask), loaded(features, mask)
    # bitwise: identical arithmetic (same weights and feature statistics, same inputs, same kernels)
    assert torch.equal(expected.codes, restored.codes)
    assert torch.equal(expected.reconstruction, restored.reconstruction)
    assert unimumo.MotionTokenizer(loaded).fingerprint == tokenizer.fingerprint


def test_registration_is_idempotent_and_works_in_a_fresh_process(tmp_path):
    register_auto_classes()
    register_auto_classes()
    unimumo.MotionTokenizer.from_random(seed=0).save_pretrained(tmp_path / "motion_vqvae")
    code = (
        "import unimumo, transformers  # nothing else: the import registers the Auto classes\n"
        f"model = transformers.AutoModel.from_pretrained({str(tmp_path / 'motion_vqvae')!r})\n"
        "print(type(model).__name__, transformers.AutoConfig.for_model('unimumo').__class__.__name__)"
    )
    assert _run(code) == "MotionVQVAE UniMuMoConfig"
