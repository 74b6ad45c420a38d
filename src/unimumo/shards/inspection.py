"""`unimumo-shards inspect`: a readable summary of a shard directory and its first few samples."""
from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Iterator

from unimumo.constants import CODE_RATE
from unimumo.shards.manifest import MANIFEST_NAME, read_failures, read_manifest
from unimumo.shards.format import decode_sample
from unimumo.shards.verify import iter_samples


def summary_lines(out: Path) -> list[str]:
    if not (out / MANIFEST_NAME).is_file():
        raise FileNotFoundError(f"{out}: no {MANIFEST_NAME} (not a shard directory built by `unimumo-shards build`)")
    manifest = read_manifest(out)
    lines = [f"shard directory {out}"]
    for name, info in manifest["tokenizers"].items():
        lines.append(f"  {name}: {info['path']} (fingerprint {info['fingerprint'][:12]})")
    for split, summary in sorted(manifest["splits"].items()):
        entries = [e for e in manifest["shards"] if e["split"] == split]
        size = sum(e["bytes"] for e in entries) / 2**20
        lines.append(f"  {split}: {summary['samples']} samples in {len(entries)} shards ({size:.2f} MiB), "
                     f"{summary['tracks_with_samples']}/{summary['tracks']} tracks used, skipped {summary['skipped']}, "
                     f"{summary['failures']} failures")
    failures = read_failures(out)
    for failure in failures[:5]:
        lines.append(f"  failure [{failure.get('split')}] {failure['file']}: {failure['reason']}")
    if len(failures) > 5:
        lines.append(f"  ... {len(failures) - 5} more in failures.jsonl")
    return lines


def _checked(samples: Iterator, path: Path) -> Iterator:
    """`samples`, with any error reading the tar turned into a ValueError naming `path`."""
    try:
        yield from samples
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ValueError(f"{path}: unreadable shard ({type(error).__name__}: {error})") from error


def sample_lines(out: Path, split: str | None, limit: int) -> list[str]:
    manifest = read_manifest(out)
    lines = []
    for entry in manifest["shards"]:
        if split is not None and entry["split"] != split:
            continue
        path = out / entry["name"]
        for key, fields in _checked(iter_samples(path), path):
            if len(lines) >= limit:
                return [line for block in lines for line in block]
            try:
                sample = decode_sample(fields, key)
            except ValueError as error:
                raise ValueError(f"{path}: {error}") from error
            meta = sample["json"]
            frames = sample["music.codes.npy"].shape[1]
            lines.append([
                f"sample {key} ({entry['name']}): {frames} frames = {frames / CODE_RATE:.1f} s, "
                f"motion {meta['motion_id']} ({meta['source']}), tempo {meta['tempo']:.1f} bpm, "
                f"{len(meta['beats'])} beats, beat alignment {meta['beat_alignment']}",
                f"  music:  {sample['music.txt']}  ({len(sample['music.ids.npy'])} ids)",
                f"  motion: {sample['motion.txt']}  ({len(sample['motion.ids.npy'])} ids)",
                f"  music codes[:, :6]  {sample['music.codes.npy'][:, :6].tolist()}",
                f"  motion codes[:, :6] {sample['motion.codes.npy'][:, :6].tolist()}",
            ])
    return [line for block in lines for line in block]
