"""Per-clip cache of evaluation-model outputs (embeddings, label distributions) and per-clip scores.

An entry is one `.npz` file `ROOT/KIND/MODEL-VARIANT/<clip id>.npz` (KIND: what the model computes, e.g.
`vggish`; MODEL: the first 16 hex digits of the evaluation checkpoint's sha256; VARIANT: the audio loader or
another setting the values depend on). It records the whole key (clip id, content digest, model fingerprint,
variant), so an entry is reused only for the same input content (a wav rewritten with other audio, or another
caption, is recomputed) with the same model and variant. Entries are written atomically; an unreadable or
mismatching entry is recomputed and replaced. An interrupted run, or one extended with more clips, recomputes
nothing it already has.

`checkpoint_fingerprint(path, root)` hashes a checkpoint once per (size, mtime) and remembers it in
`ROOT/fingerprints.json`, so a rerun does not reread gigabytes of weights.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from unimumo.utils.fingerprint import fingerprint_file
from unimumo.utils.io import atomic_open, atomic_write_json
from unimumo.utils.log import get_logger

logger = get_logger(__name__)

FINGERPRINTS = "fingerprints.json"
_KEY_FIELDS = ("clip", "content", "model", "variant")


def text_digest(text: str) -> str:
    """The content digest of a text input (a caption)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_digest(path: str | Path) -> str:
    """The content digest of an input file (an audio clip): sha256 of its bytes."""
    return fingerprint_file(path)


def checkpoint_fingerprint(path: str | Path, root: str | Path) -> str:
    """sha256 of a checkpoint file or of a directory's files (names and bytes), remembered in ROOT/fingerprints.json
    by (resolved path, size, mtime)."""
    path = Path(path).resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    stamp = [
        [str(p.relative_to(path)) if path.is_dir() else p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files
    ]
    memo_path = Path(root) / FINGERPRINTS
    try:
        memo = json.loads(memo_path.read_text()) if memo_path.is_file() else {}
    except (OSError, ValueError):
        memo = {}  # a damaged memo is rebuilt
    known = memo.get(str(path))
    if isinstance(known, dict) and known.get("stamp") == stamp and isinstance(known.get("sha256"), str):
        return known["sha256"]
    if path.is_dir():
        digest = hashlib.sha256()
        for (name, _, _), file in zip(stamp, files):
            digest.update(f"{name}|{fingerprint_file(file)}".encode())
        sha = digest.hexdigest()
    else:
        sha = fingerprint_file(path)
    memo[str(path)] = {"stamp": stamp, "sha256": sha}
    atomic_write_json(memo_path, memo)
    return sha


class ClipCache:
    """One (kind, model, variant) slice of the cache; `fetch_many` returns cached values or computes and stores them."""

    def __init__(self, root: str | Path, kind: str, model_fingerprint: str, variant: str = "default"):
        self.kind, self.model, self.variant = kind, model_fingerprint, variant
        self.directory = Path(root) / _safe(kind) / f"{model_fingerprint[:16]}-{_safe(variant)}"
        self.hits = self.misses = 0

    def path(self, clip: str) -> Path:
        return self.directory / f"{_safe(clip)}.npz"

    def _key(self, clip: str, content: str) -> dict[str, str]:
        return {"clip": clip, "content": content, "model": self.model, "variant": self.variant}

    def get(self, clip: str, content: str) -> dict[str, np.ndarray] | None:
        """The stored arrays of `clip` with input `content` (a digest), or None."""
        path = self.path(clip)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                key = {name: str(data[f"key_{name}"]) for name in _KEY_FIELDS}
                if key != self._key(clip, content):
                    return None
                return {name: data[name] for name in data.files if not name.startswith("key_")}
        except (OSError, ValueError, KeyError, EOFError):
            logger.warning("%s: unreadable cache entry, recomputing it", path)
            return None

    def put(self, clip: str, content: str, arrays: dict[str, np.ndarray]) -> None:
        if any(name.startswith("key_") for name in arrays):
            raise ValueError(f"cache array names must not start with 'key_': {sorted(arrays)}")
        keys = {f"key_{name}": np.array(value) for name, value in self._key(clip, content).items()}
        with atomic_open(self.path(clip), "wb") as handle:
            np.savez(handle, **keys, **{name: np.asarray(value) for name, value in arrays.items()})

    def fetch_many(
        self,
        items: list[tuple[str, str]],
        compute: Callable[[list[int]], list[dict[str, np.ndarray]]],
        batch_size: int = 1,
    ) -> list[dict[str, np.ndarray]]:
        """The arrays of every (clip, content) item, in order: cached ones loaded, the others computed by
        `compute(indices)` (one dict per index) in batches of `batch_size` and stored as each batch finishes."""
        results = [self.get(clip, content) for clip, content in items]
        missing = [index for index, result in enumerate(results) if result is None]
        self.hits += len(items) - len(missing)
        for start in range(0, len(missing), batch_size):
            indices = missing[start : start + batch_size]
            computed = compute(indices)
            if len(computed) != len(indices):
                raise ValueError(f"{self.kind}: {len(computed)} results for {len(indices)} clips")
            for index, arrays in zip(indices, computed):
                arrays = {name: np.asarray(value) for name, value in arrays.items()}
                self.put(*items[index], arrays)
                results[index] = arrays
            self.misses += len(indices)
        return results

    def summary(self) -> dict[str, int]:
        return {"reused": self.hits, "computed": self.misses}


def _safe(name: str) -> str:
    """A file-name-safe, collision-free form of `name` (unsafe characters replaced, a digest suffix added then)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    if cleaned == name and not name.startswith("."):
        return name
    return f"{cleaned.lstrip('.')}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"
