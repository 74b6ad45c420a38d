"""A tiny Beat This! checkpoint in the published format (a PyTorch Lightning file: "state_dict" with "model."
keys, "hyper_parameters" holding the model's and the training's arguments), its weights a fixed function of each
key (seeded by the key's CRC-32), so the upstream package can build the same model (tests/test_beat_this.py)."""

from __future__ import annotations

import zlib
from pathlib import Path

import torch

from unimumo.beat_this import BeatThis

# PLBeatThis's saved hyper-parameters, with a tiny network (beat-this 1.1.0, beat_this/model/pl_module.py)
TINY_HYPER_PARAMETERS = {
    "spect_dim": 128,
    "fps": 50,
    "transformer_dim": 32,
    "ff_mult": 2,
    "n_layers": 1,
    "stem_dim": 8,
    "dropout": {"frontend": 0.1, "transformer": 0.2},
    "lr": 0.0008,
    "weight_decay": 0.01,
    "pos_weights": {"beat": 1, "downbeat": 1},
    "head_dim": 8,
    "loss_type": "shift_tolerant_weighted_bce",
    "warmup_steps": 1000,
    "max_epochs": 100,
    "use_dbn": False,
    "eval_trim_beats": 5,
    "sum_head": True,
    "partial_transformers": True,
}


def keyed_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights for every key of a state dict: batch-norm variances in [0.5, 2], norm scales in [0.5, 1.5], biases
    and means N(0, 0.1), matrices uniform with variance 1 / fan-in; the rotary frequencies and counters as they are."""
    out = {}
    for key in sorted(state):
        value = state[key]
        generator = torch.Generator().manual_seed(zlib.crc32(key.encode()))
        if key.endswith("num_batches_tracked") or key.endswith("rotary_embed.freqs"):
            out[key] = value.clone()
        elif key.endswith("running_var"):
            out[key] = torch.rand(value.shape, generator=generator) * 1.5 + 0.5
        elif value.ndim == 1 and (key.endswith("gamma") or key.endswith("weight")):
            out[key] = torch.rand(value.shape, generator=generator) + 0.5
        elif value.ndim == 1:
            out[key] = torch.randn(value.shape, generator=generator) * 0.1
        else:
            out[key] = (torch.rand(value.shape, generator=generator) * 2 - 1) * (3 / value[0].numel()) ** 0.5
    return out


def save_tiny_beat_this(path: Path, beat_bias: float | None = None) -> Path:
    """Write the tiny checkpoint to `path`; `beat_bias` (if given) replaces the beat logit's bias."""
    names = ("spect_dim", "transformer_dim", "ff_mult", "n_layers", "head_dim", "stem_dim", "dropout", "sum_head")
    model = BeatThis(**{name: TINY_HYPER_PARAMETERS[name] for name in names})
    state = keyed_weights(model.state_dict())
    if beat_bias is not None:
        state["task_heads.beat_downbeat_lin.bias"][0] = beat_bias
    torch.save(
        {
            "state_dict": {f"model.{key}": value for key, value in state.items()},
            "hyper_parameters": TINY_HYPER_PARAMETERS,
            "datamodule_hyper_parameters": {"batch_size": 8},
            "pytorch-lightning_version": "2.3.3",
        },
        path,
    )
    return path
