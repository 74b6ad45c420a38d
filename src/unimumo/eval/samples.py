"""Evaluation samples: whole shard samples of one split, cut to a deterministic first-N-seconds window.

Unlike the training loader (random crops, shuffling), evaluation reads the split's shards in
manifest order with webdataset and keeps the first `num_samples` samples that are at least
`num_frames` codes long, each cut to codes [:, :num_frames] (both streams start together).
"""
from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from unimumo.constants import CODE_RATE, CODEBOOK_SIZE, NUM_CODEBOOKS
from unimumo.shards.split_list import manifest_path, split_shards
from unimumo.loader.shard_stream import read_shard
from unimumo.loader.windows import collate_windows


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

    @property
    def music_beats(self) -> np.ndarray:
        """Music beat times (s) inside the window, from the builder's `beats` (seconds from the sample start)."""
        seconds = self.music_codes.shape[1] / CODE_RATE
        beats = np.asarray(self.meta.get("beats", []), dtype=np.float64).reshape(-1)
        return beats[(beats >= 0.0) & (beats < seconds)]


def _field(sample: dict, name: str, source: str) -> bytes:
    if name not in sample:
        present = sorted(k for k in sample if not k.startswith("__"))
        raise ValueError(f"{source}: sample {sample.get('__key__')!r} has no {name!r} (fields: {present})")
    return sample[name]


def _array(sample: dict, name: str, source: str, ndim: int) -> np.ndarray:
    where = f"{source}: sample {sample['__key__']!r}: {name!r}"
    try:
        array = np.load(io.BytesIO(_field(sample, name, source)), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{where} is not a readable .npy ({error})") from error
    if array.ndim != ndim or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{where} has shape {array.shape} / dtype {array.dtype}, expected {ndim}-d integers")
    return array.astype(np.int64)


def decode_sample(sample: dict, num_frames: int, source: str) -> EvalSample | None:
    """One raw shard sample cut to its first `num_frames` codes; None when it is shorter."""
    codes = {m: _array(sample, f"{m}.codes.npy", source, 2) for m in ("music", "motion")}
    for modality, array in codes.items():
        if array.shape[0] != NUM_CODEBOOKS or (array.size and (array.min() < 0 or array.max() >= CODEBOOK_SIZE)):
            raise ValueError(
                f"{source}: sample {sample['__key__']!r}: {modality}.codes.npy must be codes in [0, {CODEBOOK_SIZE}) "
                f"of shape [{NUM_CODEBOOKS}, T], got shape {array.shape}"
            )
    if min(array.shape[1] for array in codes.values()) < num_frames:
        return None
    try:
        meta = json.loads(_field(sample, "json", source))
    except json.JSONDecodeError as error:
        raise ValueError(f"{source}: sample {sample['__key__']!r}: json field is not JSON ({error})") from error
    return EvalSample(
        key=sample["__key__"],
        music_codes=codes["music"][:, :num_frames],
        motion_codes=codes["motion"][:, :num_frames],
        music_text=_field(sample, "music.txt", source).decode("utf-8").strip(),
        motion_text=_field(sample, "motion.txt", source).decode("utf-8").strip(),
        music_ids=_array(sample, "music.ids.npy", source, 1),
        motion_ids=_array(sample, "motion.ids.npy", source, 1),
        meta=meta,
    )


def _shard_samples(path: str):
    """Raw samples of one tar; an unreadable tar is an error here (evaluation must not silently skip data)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: shard listed in the manifest is missing")
    try:
        yield from read_shard(path)
    except (OSError, tarfile.TarError, ValueError) as error:
        raise ValueError(f"{path}: unreadable shard ({type(error).__name__}: {error})") from error


def read_eval_samples(shards: str | Path, split: str, num_samples: int, seconds: float) -> tuple[list[EvalSample], int]:
    """The first `num_samples` usable samples of `split` and how many shorter samples were skipped."""
    if num_samples < 1 or seconds <= 0:
        raise ValueError(f"num_samples must be >= 1 and seconds > 0, got {num_samples} and {seconds}")
    num_frames = int(round(seconds * CODE_RATE))
    samples, too_short = [], 0
    for entry in split_shards(shards, split):
        for raw in _shard_samples(entry["path"]):
            sample = decode_sample(raw, num_frames, entry["path"])
            if sample is None:
                too_short += 1
                continue
            samples.append(sample)
            if len(samples) == num_samples:
                return samples, too_short
    if not samples:
        raise ValueError(f"{manifest_path(shards)}: split {split!r} has no sample of at least {seconds} s")
    return samples, too_short


def batch_inputs(samples: list[EvalSample], max_text_len: int = 64) -> dict[str, torch.Tensor]:
    """Model inputs for a list of samples, in the loader's batch layout (codes, text ids and masks).

    The batch's `task` tag is the loader's training tag and unused here: generation names its task.
    """
    windows = [
        {
            "key": s.key, "music_codes": s.music_codes, "motion_codes": s.motion_codes, "task": 0,
            "music_text_ids": s.music_ids[:max_text_len], "motion_text_ids": s.motion_ids[:max_text_len],
        }
        for s in samples
    ]
    return collate_windows(windows, max_text_len)
