"""`unimumo-shards verify`: check a shard directory against its manifest and the frozen tokenizers.

Checks: every listed shard exists and its sha256 matches; every sample decodes (codes int16 [4,T] in
range, music and motion of equal length, text ids, json); per-shard sample counts match; and the
tokenizer fingerprints recorded in the manifest match the tokenizers given (default: the paths
recorded in the manifest). Returns a list of problems; empty means the directory is sound.
"""
from __future__ import annotations

import tarfile
from pathlib import Path

from tqdm import tqdm
from webdataset.tariterators import group_by_keys, tar_file_expander, url_opener

from unimumo.shards.manifest import read_manifest
from unimumo.shards.format import decode_sample
from unimumo.utils.fingerprint import fingerprint_file


def iter_samples(path: Path):
    """(key, fields) of every sample in a tar, in order; raises on an unreadable tar."""
    for sample in group_by_keys(tar_file_expander(url_opener([{"url": str(path)}]))):
        key = sample["__key__"]
        yield key, {name: value for name, value in sample.items() if not name.startswith("__")}


def tokenizer_fingerprints(music_codec: Path | None, motion_codec: Path | None, text_tokenizer: Path | None) -> dict:
    from unimumo.models.text_tokenizer import TextTokenizer
    from unimumo.models.motion_vqvae import MotionTokenizer
    from unimumo.models.music_codec import MusicCodec

    loaders = {"music_codec": (music_codec, MusicCodec.from_pretrained),
               "motion_codec": (motion_codec, MotionTokenizer.from_pretrained),
               "text_tokenizer": (text_tokenizer, TextTokenizer)}
    return {name: load(path).fingerprint for name, (path, load) in loaders.items() if path is not None}


def verify_shards(out: str | Path, *, music_codec=None, motion_codec=None, text_tokenizer=None,
                  check_tokenizers: bool = True, progress: bool = False) -> tuple[list[str], dict]:
    """(problems, stats). Tokenizer paths default to those recorded in the manifest."""
    out = Path(out)
    if not (out / "manifest.json").is_file():
        return [f"{out}: no manifest.json"], {}
    try:
        manifest = read_manifest(out)
    except ValueError as error:  # unparsable or unknown-format manifest: report it like any other problem
        return [str(error)], {}
    problems: list[str] = []
    stats = {"shards": 0, "samples": 0}
    for entry in tqdm(manifest["shards"], unit="shard", desc="verify", disable=not progress):
        path = out / entry["name"]
        if not path.is_file():
            problems.append(f"{path}: listed in manifest but missing")
            continue
        if fingerprint_file(path) != entry["sha256"]:
            problems.append(f"{path}: sha256 mismatch (file changed or corrupt)")
        count = 0
        try:
            for key, fields in iter_samples(path):
                try:
                    decode_sample(fields, key)
                except ValueError as error:
                    problems.append(f"{path}: {error}")
                count += 1
        except (tarfile.TarError, OSError, ValueError, EOFError) as error:
            problems.append(f"{path}: unreadable tar ({type(error).__name__}: {error})")
        if count != entry["count"]:
            problems.append(f"{path}: {count} samples, manifest says {entry['count']}")
        stats["shards"] += 1
        stats["samples"] += count
    for split, summary in manifest["splits"].items():
        listed = sum(e["count"] for e in manifest["shards"] if e["split"] == split)
        if listed != summary.get("samples"):
            problems.append(f"{out}: split {split}: shards hold {listed} samples, summary says {summary.get('samples')}")
    if check_tokenizers:
        recorded = manifest["tokenizers"]
        given = {"music_codec": music_codec, "motion_codec": motion_codec, "text_tokenizer": text_tokenizer}
        paths = {name: Path(given[name] or recorded[name]["path"]) for name in recorded}
        missing = [f"{path}: {name} not found" for name, path in paths.items() if not path.exists()]
        problems += missing
        if not missing:
            actual = tokenizer_fingerprints(paths.get("music_codec"), paths.get("motion_codec"), paths.get("text_tokenizer"))
            for name, fingerprint in actual.items():
                if fingerprint != recorded[name]["fingerprint"]:
                    problems.append(f"{paths[name]}: {name} fingerprint {fingerprint[:12]} does not match the "
                                    f"shards' {recorded[name]['fingerprint'][:12]} (tokenized with another model)")
    return problems, stats
