"""Random-weight VGGish and PANNs Cnn14 (real sizes) in their published file formats, and a fixed clip pair set.

* `write_vggish_checkpoint`: torchvggish's `vggish-10086976.pth` format (the VGG state dict alone);
* `write_panns_checkpoint`: PANNs' `Cnn14_16k_mAP=0.438.pth` format (`{"iteration", "model", "sampler"}`, the
  sampler's state holding numpy arrays as the training checkpoints do);
* `write_clip_pairs`: generated clips (32 kHz) and reference clips (16 kHz), one pair per name, cut from the real
  drum loops in tests/assets/beats/ (16-bit PCM WAV, so every reader sees the same samples).

Weights come from numpy's PCG64 (`np.random.default_rng(seed)`), uniform with He-like scales (so activations
neither vanish nor explode through the real depths), BatchNorm statistics set for the inputs each layer sees; the
STFT and mel matrices of Cnn14 are the real ones (`unimumo.eval.panns`). Same seed, same files, on any machine.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from unimumo.eval.panns import Cnn14, front_end_state
from unimumo.eval.vggish import VGGish

BEATS = Path(__file__).resolve().parents[1] / "assets" / "beats"
# name: (loop, start s, duration s) of the generated clip (samples written at 32 kHz) and of the reference (16 kHz)
CLIP_PAIRS = {
    "clip_a": (("loop_garzul.flac", 0.0, 3.0), ("loop_compus.flac", 0.0, 2.5)),
    "clip_b": (("loop_compus.flac", 2.0, 3.0), ("loop_garzul.flac", 3.0, 3.0)),
    "clip_c": (("loop_breakbeat.flac", 0.0, 1.9), ("loop_breakbeat.flac", 0.0, 1.9)),
    "clip_d": (("loop_industrial.flac", 0.0, 0.88), ("loop_garzul.flac", 5.0, 1.5)),
}


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], scale: float, center: float = 0.0) -> torch.Tensor:
    values = rng.random(shape, dtype=np.float32)
    values *= np.float32(2 * scale)
    values += np.float32(center - scale)
    return torch.from_numpy(values)


def _random_state(
    model_class: type[torch.nn.Module], seed: int, bn_stats: dict[str, tuple[float, float]], given: dict
) -> dict:
    """Weights U(+-sqrt(6 / fan_in)) (He), biases U(+-0.05); BatchNorm affine near identity, its running mean and
    variance from `bn_stats[name]` (mean, std of its input) or (0, 1); the entries in `given` as they are."""
    with torch.device("meta"):
        shapes = model_class().state_dict()
    rng = np.random.default_rng(seed)
    state = {}
    for name, value in shapes.items():
        module, _, kind = name.rpartition(".")
        if name in given:
            state[name] = given[name]
        elif kind == "num_batches_tracked":
            state[name] = torch.tensor(1000, dtype=torch.long)
        elif kind == "running_mean":
            mean, std = bn_stats.get(module, (0.0, 1.0))
            state[name] = _uniform(rng, tuple(value.shape), 0.1 * std, mean)
        elif kind == "running_var":
            _, std = bn_stats.get(module, (0.0, 1.0))
            state[name] = _uniform(rng, tuple(value.shape), 0.3 * std**2, std**2)
        elif value.ndim == 1 and module.split(".")[-1].startswith("bn"):
            state[name] = _uniform(rng, tuple(value.shape), 0.2, 1.0 if kind == "weight" else 0.0)
        elif kind == "bias":
            state[name] = _uniform(rng, tuple(value.shape), 0.05)
        else:
            fan_in = int(np.prod(value.shape[1:]))
            state[name] = _uniform(rng, tuple(value.shape), float(np.sqrt(6.0 / fan_in)))
    return state


def state_digest(state: dict) -> str:
    """sha256 over each tensor's key, shape and first and last 256 values: which weights a golden value was for."""
    digest = hashlib.sha256()
    for name, value in state.items():
        flat = value.reshape(-1)
        digest.update(f"{name}{tuple(value.shape)}".encode())
        digest.update(torch.cat([flat[:256], flat[-256:]]).numpy().tobytes())
    return digest.hexdigest()[:16]


def write_vggish_checkpoint(path: Path, seed: int = 0) -> Path:
    torch.save(_random_state(VGGish, seed, {}, {}), path)
    return path


def write_panns_checkpoint(path: Path, seed: int = 1) -> Path:
    state = _random_state(Cnn14, seed, {"bn0": (-30.0, 20.0)}, front_end_state())  # bn0 sees log-mel in dB
    sampler = {"indexes_per_class": [np.arange(5, dtype=np.int64) + k for k in range(3)], "queue": [2, 0, 1],
               "pointers_of_classes": [0, 1, 2]}
    torch.save({"iteration": 660000, "model": state, "sampler": sampler}, path)
    return path


def write_clip_pairs(root: Path) -> tuple[Path, Path]:
    """root/generated/<name>.wav (32 kHz) and root/reference/<name>.wav (16 kHz) for each of CLIP_PAIRS."""
    out = {"generated": root / "generated", "reference": root / "reference"}
    for folder in out.values():
        folder.mkdir(parents=True, exist_ok=True)
    for name, pair in CLIP_PAIRS.items():
        for (loop, start, seconds), side, sr in zip(pair, ("generated", "reference"), (32000, 16000)):
            samples, loop_sr = sf.read(BEATS / loop, dtype="int16")
            first = int(round(start * loop_sr))
            # the loop's 16 kHz samples, written as they are: at 32 kHz they play twice as fast
            sf.write(out[side] / f"{name}.wav", samples[first : first + int(round(seconds * loop_sr))], sr,
                     subtype="PCM_16")
    return out["generated"], out["reference"]
