"""Turn one raw shard sample (bytes per field) into a training window, and windows into a batch.

A window's length is a `Window`: `steps` code steps (music and motion are both 50 codes/s, start
together and have the same length), converted once from the recipe's seconds (`Window.from_seconds`).
A window is a random crop of `steps` code steps taken at the same offset from the music and the
motion codes. A sample shorter than the window is kept whole and padded at the end to `steps`; its
`length` (real steps) becomes the batch's `code_mask` [B, T] (True = real code), which the model uses
to leave the padding out of the loss and the attention. Samples shorter than `min_steps` are dropped
and counted by the loader. The crop offset and the task tag come from an RNG seeded by
(seed, epoch, sample key), so they do not depend on the worker layout or on the order samples
arrive in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from unimumo.models.text_tokenizer import PAD_ID
from unimumo.shards.format import MOTION_CODES, MOTION_IDS, MUSIC_CODES, MUSIC_IDS, decode_sample, sample_frames
from unimumo.tasks import TASKS
from unimumo.utils.seeding import derive_seed

WINDOW_FIELDS = (MUSIC_CODES, MOTION_CODES, MUSIC_IDS, MOTION_IDS)  # what training reads of a sample


def seconds_to_steps(seconds: float, rate: float) -> int:
    """The number of steps (codes, motion frames) `seconds` last at `rate` steps per second, rounded."""
    return int(round(seconds * rate))


@dataclass(frozen=True)
class Window:
    """A training window's length in steps of its stream: code steps for the shard loader, motion frames at the
    VQ-VAE's frame rate for motion windows. Samples shorter than `min_steps` are dropped, samples of `min_steps` ..
    `steps` - 1 are padded; a `min_steps` above `steps` means `steps` (nothing that fills a window is dropped)."""

    steps: int
    min_steps: int

    def __post_init__(self):
        if not (isinstance(self.steps, int) and isinstance(self.min_steps, int)) or min(self.steps, self.min_steps) < 1:
            raise ValueError(
                f"a window needs steps >= 1 and min_steps >= 1, got steps={self.steps}, min_steps={self.min_steps}"
            )
        object.__setattr__(self, "min_steps", min(self.min_steps, self.steps))

    @classmethod
    def from_seconds(cls, seconds: float, min_seconds: float, rate: float) -> Window:
        """The window of `seconds` (samples under `min_seconds` dropped) at `rate` steps per second."""
        return cls(seconds_to_steps(seconds, rate), seconds_to_steps(min_seconds, rate))


@dataclass(frozen=True)
class WindowSpec:
    window: Window
    max_text_len: int
    task_weights: tuple[float, ...]  # one weight per entry of TASKS
    seed: int


def task_weights_from_mixture(task_mixture: dict[str, float] | None) -> tuple[float, ...]:
    """Validate a {task name: weight} mixture and return weights aligned with TASKS."""
    if task_mixture is None:
        task_mixture = {TASKS[0]: 1.0}
    unknown = sorted(set(task_mixture) - set(TASKS))
    if unknown:
        raise ValueError(f"task_mixture names unknown tasks {unknown}; known tasks are {list(TASKS)}")
    weights = tuple(float(task_mixture.get(name, 0.0)) for name in TASKS)
    if any(not np.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"task_mixture weights must be finite, >= 0 and not all zero, got {task_mixture}")
    return weights


def make_window(sample: dict, spec: WindowSpec, epoch: int) -> dict | None:
    """Decode, crop (or pad) and tokenize one raw sample; None when it is shorter than `spec.window.min_steps`.
    Raises SampleError.

    Only the fields training needs are decoded (`WINDOW_FIELDS`). The codes are always `spec.window.steps`
    wide; the first `length` of them are real, the rest is padding (code 0).
    """
    key = sample["__key__"]
    frames = sample_frames(sample)
    if frames < spec.window.min_steps:
        return None
    steps = spec.window.steps
    length = min(frames, steps)
    rng = random.Random(derive_seed(spec.seed, epoch, key))
    start = rng.randint(0, frames - length)
    task = rng.choices(range(len(TASKS)), weights=spec.task_weights)[0]
    fields = decode_sample(sample, fields=WINDOW_FIELDS, crop=(start, length))
    return {
        "key": key,
        "music_codes": _pad_codes(fields[MUSIC_CODES], steps),
        "motion_codes": _pad_codes(fields[MOTION_CODES], steps),
        "length": length,
        "music_text_ids": fields[MUSIC_IDS][: spec.max_text_len],
        "motion_text_ids": fields[MOTION_IDS][: spec.max_text_len],
        "task": task,
    }


def _pad_codes(codes: np.ndarray, width: int) -> np.ndarray:
    """codes [K, T <= width] -> [K, width], padded at the end with code 0."""
    if codes.shape[1] == width:
        return codes
    return np.pad(codes, ((0, 0), (0, width - codes.shape[1])))


def _pad_ids(rows: list[np.ndarray], max_text_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = np.full((len(rows), max_text_len), PAD_ID, dtype=np.int64)
    mask = np.zeros((len(rows), max_text_len), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def collate_windows(windows: list[dict], max_text_len: int) -> dict:
    """Stack windows (equally wide) into the batch layout of the Loader contract (docs/interfaces.md).

    A window's optional `length` is its number of real frames (default: all); `code_mask` marks them.
    """
    width = windows[0]["music_codes"].shape[1]
    lengths = torch.tensor([w.get("length", width) for w in windows])
    music_ids, music_mask = _pad_ids([w["music_text_ids"] for w in windows], max_text_len)
    motion_ids, motion_mask = _pad_ids([w["motion_text_ids"] for w in windows], max_text_len)
    return {
        "music_codes": torch.from_numpy(np.stack([w["music_codes"] for w in windows]).astype(np.int64)),
        "motion_codes": torch.from_numpy(np.stack([w["motion_codes"] for w in windows]).astype(np.int64)),
        "code_mask": torch.arange(width)[None, :] < lengths[:, None],
        "music_text_ids": music_ids,
        "music_text_mask": music_mask,
        "motion_text_ids": motion_ids,
        "motion_text_mask": motion_mask,
        "task": torch.tensor([w["task"] for w in windows], dtype=torch.long),
        "keys": [w["key"] for w in windows],
    }
