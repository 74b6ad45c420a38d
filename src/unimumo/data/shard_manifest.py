"""The shard list of one split, from a shard directory's manifest.json (written by `unimumo-shards build`)."""
from __future__ import annotations

from pathlib import Path

from unimumo.data.build_manifest import MANIFEST_NAME, read_manifest


def manifest_path(shards: str | Path) -> Path:
    """`shards` is a shard directory or the path of its manifest (a .json file)."""
    path = Path(shards)
    return path if path.suffix == ".json" else path / MANIFEST_NAME


def split_shards(shards: str | Path, split: str) -> list[dict]:
    """Entries {"path": tar path, "count": samples} of `split`, in manifest order."""
    path = manifest_path(shards)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: shard manifest not found (build shards with `unimumo-shards build`)")
    entries = read_manifest(path.parent)["shards"]
    selected = [entry for entry in entries if entry["split"] == split]
    if not selected:
        available = sorted({entry["split"] for entry in entries})
        raise ValueError(f"{path}: no shards for split {split!r} (splits present: {available})")
    return [{"path": str(path.parent / entry["name"]), "count": int(entry["count"])} for entry in selected]
