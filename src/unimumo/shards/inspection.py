"""`unimumo-shards inspect`: a readable summary of a shard directory and its first few samples."""

from __future__ import annotations

from pathlib import Path

from unimumo.constants import CODE_RATE
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
from unimumo.shards.manifest import MANIFEST_NAME, Manifest, read_failures, read_skipped
from unimumo.shards.tar_reader import read_shard

SHOWN = 5  # failures and skipped inputs listed in the summary (all are in failures.jsonl / skipped.jsonl)


def pairing_lines(summary: dict) -> list[str]:
    """The realised pairing recipe of a split (data.pairing.count_samples): each motion source's share of the
    samples with its --source-weight, the tiled share and where the captions came from; none for older builds."""
    counts = summary.get("pairing")
    if not counts or not summary.get("samples"):
        return []
    samples, weights = summary["samples"], summary.get("build_args", {}).get("source_weights") or {}
    shares = ", ".join(
        f"{source} {count / samples:.1%} ({count}, weight {weights.get(source, 1.0):g})"
        for source, count in sorted(counts["sources"].items())
    )
    lines = [f"    sources: {shares}; motion tiled to fill the track in {counts['tiled'] / samples:.1%}"]
    for name in ("music_captions", "motion_captions"):
        if counts.get(name):
            origins = ", ".join(f"{origin} {count / samples:.1%}" for origin, count in sorted(counts[name].items()))
            lines.append(f"    {name.replace('_', ' ')}: {origins}")
    if counts.get("beat_phase"):
        shifted = counts["beat_phase"].get("shifted", 0)
        lines.append(f"    beats moved half a beat (beat phase) in {shifted / samples:.1%} ({shifted})")
    return lines


def summary_lines(out: Path) -> list[str]:
    if not (out / MANIFEST_NAME).is_file():
        raise FileNotFoundError(f"{out}: no {MANIFEST_NAME} (not a shard directory built by `unimumo-shards build`)")
    manifest = Manifest.load(out)
    lines = [f"shard directory {out}"]
    for name, info in manifest.tokenizers.items():
        lines.append(f"  {name}: {info['path']} (fingerprint {info['fingerprint'][:12]})")
    for split, summary in sorted(manifest.splits.items()):
        entries = [entry for entry in manifest.shards if entry.split == split]
        size = sum(entry.bytes or 0 for entry in entries) / 2**20
        lines.append(
            f"  {split}: {summary['samples']} samples in {len(entries)} shards ({size:.2f} MiB), "
            f"{summary['tracks_with_samples']}/{summary['tracks']} tracks used, skipped {summary['skipped']}, "
            f"{summary['failures']} failures"
        )
        lines += pairing_lines(summary)
    failures, skipped = read_failures(out), read_skipped(out)
    for failure in failures[:SHOWN]:
        lines.append(f"  failure [{failure.get('split')}] {failure['file']}: {failure['reason']}")
    if len(failures) > SHOWN:
        lines.append(f"  ... {len(failures) - SHOWN} more in failures.jsonl")
    for skip in skipped[:SHOWN]:
        lines.append(
            f"  skipped [{skip.get('split')}] {skip['id']} ({skip['file']}): {skip['reason']}"
            + (f", {skip['detail']}" if skip.get("detail") else "")
        )
    if len(skipped) > SHOWN:
        lines.append(f"  ... {len(skipped) - SHOWN} more in skipped.jsonl")
    return lines


def sample_lines(out: Path, split: str | None, limit: int) -> list[str]:
    """Lines describing the first `limit` samples (of `split`); ValueError naming the shard if one is unreadable."""
    lines = []
    for entry in Manifest.load(out).shards:
        if split is not None and entry.split != split:
            continue
        path = out / entry.name
        for raw in read_shard(str(path)):
            if len(lines) >= limit:
                return [line for block in lines for line in block]
            try:
                sample = decode_sample(raw)
            except SampleError as error:
                raise SampleError(f"{path}: {error}") from error
            meta = sample[META]
            frames = sample[MUSIC_CODES].shape[1]
            lines.append(
                [
                    f"sample {raw['__key__']} ({entry.name}): {frames} frames = {frames / CODE_RATE:.1f} s, "
                    f"motion {meta['motion_id']} ({meta['source']}), tempo {meta['tempo']:.1f} bpm, "
                    f"{len(meta['beats'])} beats, beat alignment {meta['beat_alignment']}",
                    f"  music:  {sample[MUSIC_TEXT]}  ({len(sample[MUSIC_IDS])} ids)",
                    f"  motion: {sample[MOTION_TEXT]}  ({len(sample[MOTION_IDS])} ids)",
                    f"  music codes[:, :6]  {sample[MUSIC_CODES][:, :6].tolist()}",
                    f"  motion codes[:, :6] {sample[MOTION_CODES][:, :6].tolist()}",
                ]
            )
    return [line for block in lines for line in block]
