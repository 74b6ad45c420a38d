"""manifest.json and failures.jsonl of a shard directory, updated one split at a time.

manifest.json:
    format         "unimumo-shards/1"
    tokenizers     {music_codec|motion_codec|text_tokenizer: {path, fingerprint, ...}}  (same for every split)
    shards         [{name, split, count, bytes, sha256}]  (what the loader reads)
    splits         {split: {num_shards, num_samples, num_tracks, tracks_with_samples, skipped, failures, build_args}}
failures.jsonl: one {split, file, stage, reason[, track_id]} per line.
Several splits may be built into one directory at once: updates hold an exclusive file lock.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
from pathlib import Path
from typing import Iterator

from unimumo.utils.io import atomic_write_json, atomic_write_text

MANIFEST_NAME = "manifest.json"
FAILURES_NAME = "failures.jsonl"
FORMAT = "unimumo-shards/1"


class ManifestError(ValueError):
    """manifest.json is unreadable, of another format, or lacks what was asked of it."""


class ManifestMismatchError(ManifestError):
    """The directory already holds shards made with different frozen tokenizers."""


@contextlib.contextmanager
def manifest_lock(out: Path) -> Iterator[None]:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".manifest.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_manifest(out: Path) -> dict:
    path = Path(out) / MANIFEST_NAME
    if not path.is_file():
        return {"format": FORMAT, "tokenizers": {}, "shards": [], "splits": {}}
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ManifestError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ManifestError(f"{path}: unknown manifest format {found!r}, expected {FORMAT!r}")
    return manifest


def check_tokenizers(manifest: dict, tokenizers: dict, where: Path) -> None:
    for name, info in manifest.get("tokenizers", {}).items():
        if name in tokenizers and tokenizers[name]["fingerprint"] != info["fingerprint"]:
            raise ManifestMismatchError(
                f"{where}: existing shards were built with {name} {info['path']} (fingerprint {info['fingerprint'][:12]}), "
                f"now {tokenizers[name]['path']} (fingerprint {tokenizers[name]['fingerprint'][:12]}); use another --out"
            )


def read_failures(out: Path) -> list[dict]:
    path = Path(out) / FAILURES_NAME
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def update_split(out: Path, split: str, *, tokenizers: dict, shards: list[dict], summary: dict,
                 failures: list[dict]) -> dict:
    """Replace `split`'s entries in manifest.json and failures.jsonl (atomically, under the lock)."""
    with manifest_lock(out):
        manifest = read_manifest(out)
        check_tokenizers(manifest, tokenizers, out)
        manifest["tokenizers"] = tokenizers
        manifest["shards"] = [s for s in manifest["shards"] if s["split"] != split] + [dict(s, split=split) for s in shards]
        manifest["splits"][split] = summary
        atomic_write_json(out / MANIFEST_NAME, manifest)
        kept = [f for f in read_failures(out) if f.get("split") != split]
        lines = [json.dumps(f, sort_keys=True) for f in kept + [dict(f, split=split) for f in failures]]
        atomic_write_text(out / FAILURES_NAME, "".join(line + "\n" for line in lines))
    return manifest
