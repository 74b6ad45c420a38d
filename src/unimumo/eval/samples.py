"""Evaluation samples: whole shard samples of one split, cut to a deterministic first-N-seconds window.

Unlike the training loader (random crops, shuffling), evaluation reads the split's shards in
manifest order and keeps the first `num_samples` samples that are at least `seconds` long (`num_steps`
code steps at 50 codes/s), each cut to codes [:, :num_steps] (both streams start together).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from unimumo.constants import CODE_RATE
from unimumo.loader.windows import collate_windows, seconds_to_steps
from unimumo.shards.format import (
    META,
    MOTION_CODES,
    MOTION_IDS,
    MOTION_TEXT,
    MUSIC_CODES,
    MUSIC_IDS,
    MUSIC_TEXT,
    SampleError,
    decode_sample,
)
from unimumo.shards.manifest import Manifest
from unimumo.shards.tar_reader import read_shard


@dataclass
class EvalSample:
    key: str
    music_codes: np.ndarray  # int64 [4, T]
    motion_codes: np.ndarray  # int64 [4, T]
    music_text: str
    motion_text: str
    music_ids: np.ndarray  # int64 [L]
    motion_ids: np.ndarray  # int64 [L]
    meta: dict = field(default_factory=dict)


def eval_sample(raw: dict, num_steps: int, source: str) -> EvalSample | None:
    """One raw shard sample cut to its first `num_steps` codes; None when it is shorter. ValueError names `source`."""
    try:
        sample = decode_sample(raw, crop=(0, num_steps))
    except SampleError as error:
        raise ValueError(f"{source}: {error}") from error
    if sample is None:
        return None
    return EvalSample(
        key=raw["__key__"],
        music_codes=sample[MUSIC_CODES].astype(np.int64),
        motion_codes=sample[MOTION_CODES].astype(np.int64),
        music_text=sample[MUSIC_TEXT].strip(),
        motion_text=sample[MOTION_TEXT].strip(),
        music_ids=sample[MUSIC_IDS].astype(np.int64),
        motion_ids=sample[MOTION_IDS].astype(np.int64),
        meta=sample[META],
    )


def _shard_samples(path: str):
    """Raw samples of one tar; an unreadable tar is an error here (evaluation must not silently skip data)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: shard listed in the manifest is missing")
    try:
        yield from read_shard(path)
    except (OSError, ValueError) as error:  # TarFormatError is a ValueError
        raise ValueError(f"{path}: unreadable shard ({type(error).__name__}: {error})") from error


def read_eval_samples(shards: str | Path, split: str, num_samples: int, seconds: float) -> tuple[list[EvalSample], int]:
    """The first `num_samples` usable samples of `split` and how many shorter samples were skipped."""
    if num_samples < 1 or seconds <= 0:
        raise ValueError(f"num_samples must be >= 1 and seconds > 0, got {num_samples} and {seconds}")
    num_steps = seconds_to_steps(seconds, CODE_RATE)
    manifest = Manifest.load(shards)
    samples, too_short = [], 0
    for path in manifest.split_paths(split):
        for raw in _shard_samples(path):
            sample = eval_sample(raw, num_steps, path)
            if sample is None:
                too_short += 1
                continue
            samples.append(sample)
            if len(samples) == num_samples:
                return samples, too_short
    if not samples:
        raise ValueError(f"{manifest.path}: split {split!r} has no sample of at least {seconds} s")
    return samples, too_short


def read_split_captions(shards: str | Path, split: str) -> dict[str, set[str]] | None:
    """Every caption (stripped) of `split`'s samples, per modality ("music", "motion"), texts only decoded; None when
    the manifest has no shards of `split`."""
    manifest = Manifest.load(shards)
    if not any(entry.split == split for entry in manifest.shards):
        return None
    captions = {"music": set(), "motion": set()}
    for path in manifest.split_paths(split):
        for raw in _shard_samples(path):
            try:
                captions["music"].add(raw[MUSIC_TEXT].decode("utf-8").strip())
                captions["motion"].add(raw[MOTION_TEXT].decode("utf-8").strip())
            except (KeyError, UnicodeDecodeError) as error:
                raise ValueError(f"{path}: sample {raw.get('__key__')!r} has no readable caption ({error})") from None
    return captions


def batch_inputs(samples: list[EvalSample], max_text_len: int = 64) -> dict[str, torch.Tensor]:
    """Model inputs for a list of samples, in the loader's batch layout (codes, text ids and masks).

    The batch's `task` tag is the loader's training tag and unused here: generation names its task.
    """
    windows = [
        {
            "key": s.key,
            "music_codes": s.music_codes,
            "motion_codes": s.motion_codes,
            "task": 0,
            "music_text_ids": s.music_ids[:max_text_len],
            "motion_text_ids": s.motion_ids[:max_text_len],
        }
        for s in samples
    ]
    return collate_windows(windows, max_text_len)
