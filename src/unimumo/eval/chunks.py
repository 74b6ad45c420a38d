"""Resumable, deterministic batched work: samples are cut into fixed chunks and each chunk is cached on disk.

Chunk i holds samples [i * batch_size, (i + 1) * batch_size) and is computed with seed `seed + i`,
so its result depends neither on which chunks were already done nor on interruptions. A finished
chunk is written atomically to `cache_dir/chunk_NNNNN.npz` (arrays with a leading sample axis plus
the sample keys); on a rerun, chunks whose file holds the expected keys are loaded, not recomputed.
`cache_dir/settings.json` records the settings that produced the cache; resuming with different
settings is refused, since mixing results of two configurations would corrupt the metrics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from unimumo.utils.io import atomic_open, atomic_write_json

SETTINGS_NAME = "settings.json"


def check_settings(cache_dir: Path, settings: dict) -> None:
    """Record `settings` in a new cache directory, or check that an existing cache was made with the same ones."""
    path = cache_dir / SETTINGS_NAME
    canonical = json.loads(json.dumps(settings, sort_keys=True, default=str))
    if path.is_file():
        recorded = json.loads(path.read_text())
        if recorded != canonical:
            changed = sorted(k for k in set(recorded) | set(canonical) if recorded.get(k) != canonical.get(k))
            raise ValueError(
                f"{path}: cached results were made with different settings ({', '.join(changed)}); "
                f"use another --out directory or delete {cache_dir} to start over"
            )
        return
    atomic_write_json(path, canonical)


def _load_chunk(path: Path, keys: list[str]) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if list(data["keys"]) != keys:
                return None
            return {name: data[name] for name in data.files if name != "keys"}
    except (OSError, ValueError, KeyError):
        return None  # unreadable (e.g. a crash mid-copy on a non-atomic filesystem): recompute


def run_chunks(
    keys: Sequence[str],
    batch_size: int,
    cache_dir: Path,
    compute: Callable[[slice, int], dict[str, np.ndarray]],
    seed: int,
    description: str,
) -> dict[str, np.ndarray]:
    """Results of `compute(sample_slice, chunk_seed)` for all chunks, concatenated along the sample axis."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, np.ndarray]] = []
    starts = range(0, len(keys), batch_size)
    cached = 0
    with tqdm(total=len(keys), desc=description, unit="sample") as progress:
        for index, start in enumerate(starts):
            chunk = slice(start, min(start + batch_size, len(keys)))
            chunk_keys = list(keys[chunk])
            path = cache_dir / f"chunk_{index:05d}.npz"
            result = _load_chunk(path, chunk_keys) if path.is_file() else None
            if result is None:
                result = compute(chunk, seed + index)
                for name, array in result.items():
                    if len(array) != len(chunk_keys):
                        raise ValueError(f"{description}: {name!r} has {len(array)} rows for {len(chunk_keys)} samples")
                with atomic_open(path, "wb") as handle:
                    np.savez(handle, keys=np.array(chunk_keys), **result)
            else:
                cached += len(chunk_keys)
            results.append(result)
            progress.update(len(chunk_keys))
            progress.set_postfix(reused=cached)
    return {name: np.concatenate([r[name] for r in results]) for name in results[0]}
