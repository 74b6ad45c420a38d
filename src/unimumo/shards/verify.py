"""`unimumo-shards verify`: check a shard directory against its manifest and the frozen tokenizers.

Checks: every listed shard exists and its sha256 matches; every sample decodes (codes int16 [4,T] in
range, music and motion of equal length, text ids, json); per-shard sample counts match; and the
tokenizer fingerprints recorded in the manifest match the tokenizers given (default: the paths
recorded in the manifest); failures.jsonl and skipped.jsonl list as many inputs per split as the
manifest's summary counts. Returns a list of problems; empty means the directory is sound.
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from unimumo.shards.format import SampleError, decode_sample
from unimumo.shards.manifest import (
    FAILURES_NAME,
    MANIFEST_NAME,
    SKIPPED_NAME,
    Manifest,
    ManifestError,
    read_failures,
    read_skipped,
)
from unimumo.shards.tar_reader import read_shard
from unimumo.utils.fingerprint import fingerprint_file


def tokenizer_fingerprints(paths: dict[str, Path]) -> dict[str, str]:
    """{name: fingerprint} of the tokenizers in `paths` ({music_codec|motion_tokenizer|text_tokenizer: path})."""
    from unimumo.models.motion_tokenizer import MotionTokenizer
    from unimumo.models.music_codec import MusicCodec
    from unimumo.models.text_tokenizer import TextTokenizer

    loaders = {
        "music_codec": MusicCodec.from_pretrained,
        "motion_tokenizer": MotionTokenizer.from_pretrained,
        "text_tokenizer": TextTokenizer,
    }
    return {name: loaders[name](path).fingerprint for name, path in paths.items() if name in loaders}


def _shard_problems(path: Path, count: int) -> tuple[list[str], int]:
    """(problems, samples read) of one shard's samples."""
    problems, read = [], 0
    try:
        for sample in read_shard(str(path)):
            try:
                decode_sample(sample)
            except SampleError as error:
                problems.append(f"{path}: {error}")
            read += 1
    except (OSError, ValueError) as error:
        problems.append(f"{path}: unreadable tar ({type(error).__name__}: {error})")
    if read != count:
        problems.append(f"{path}: {read} samples, manifest says {count}")
    return problems, read


def verify_shards(
    out: str | Path,
    *,
    music_codec=None,
    motion_tokenizer=None,
    text_tokenizer=None,
    check_tokenizers: bool = True,
    progress: bool = False,
) -> tuple[list[str], dict]:
    """(problems, stats). Tokenizer paths default to those recorded in the manifest."""
    out = Path(out)
    if not (out / MANIFEST_NAME).is_file():
        return [f"{out}: no {MANIFEST_NAME}"], {}
    try:
        manifest = Manifest.load(out)
    except ManifestError as error:  # unparsable or unknown-format manifest: report it like any other problem
        return [str(error)], {}
    problems: list[str] = []
    stats = {"shards": 0, "samples": 0}
    for entry in tqdm(manifest.shards, unit="shard", desc="verify", disable=not progress):
        path = out / entry.name
        if not path.is_file():
            problems.append(f"{path}: listed in manifest but missing")
            continue
        if fingerprint_file(path) != entry.sha256:
            problems.append(f"{path}: sha256 mismatch (file changed or corrupt)")
        shard_problems, count = _shard_problems(path, entry.count)
        problems += shard_problems
        stats["shards"] += 1
        stats["samples"] += count
    for split, summary in manifest.splits.items():
        listed = sum(entry.count for entry in manifest.shards if entry.split == split)
        if listed != summary.get("samples"):
            problems.append(
                f"{out}: split {split}: shards hold {listed} samples, summary says {summary.get('samples')}"
            )
    try:
        problems += _listing_problems(out, manifest, stats)
    except ManifestError as error:
        problems.append(str(error))
    if check_tokenizers:
        problems += _tokenizer_problems(
            manifest,
            {"music_codec": music_codec, "motion_tokenizer": motion_tokenizer, "text_tokenizer": text_tokenizer},
        )
    return problems, stats


def _listing_problems(out: Path, manifest: Manifest, stats: dict) -> list[str]:
    """failures.jsonl / skipped.jsonl against the per-split counts of the manifest (totals go into `stats`)."""
    failures, skipped = read_failures(out), read_skipped(out)
    stats["failures"], stats["skipped"] = len(failures), len(skipped)
    problems = []
    for split, summary in manifest.splits.items():
        listed = sum(f.get("split") == split for f in failures)
        if listed != summary.get("failures", 0):
            problems.append(
                f"{out / FAILURES_NAME}: split {split}: {listed} failures listed, "
                f"summary says {summary.get('failures')}"
            )
        listed = sum(s.get("split") == split for s in skipped)
        counted = sum((summary.get("skipped") or {}).values())
        if listed != counted:
            problems.append(
                f"{out / SKIPPED_NAME}: split {split}: {listed} skipped inputs listed, summary counts "
                f"{counted} ({summary.get('skipped')})"
            )
    return problems


def _tokenizer_problems(manifest: Manifest, given: dict) -> list[str]:
    recorded = manifest.tokenizers
    paths = {name: Path(given.get(name) or recorded[name]["path"]) for name in recorded}
    missing = [f"{path}: {name} not found" for name, path in paths.items() if not path.exists()]
    if missing:
        return missing
    return [
        f"{paths[name]}: {name} fingerprint {fingerprint[:12]} does not match the shards' "
        f"{recorded[name]['fingerprint'][:12]} (tokenized with another model)"
        for name, fingerprint in tokenizer_fingerprints(paths).items()
        if fingerprint != recorded[name]["fingerprint"]
    ]
