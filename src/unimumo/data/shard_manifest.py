"""Read the shard list of one split from a shard directory's manifest.json (written by `unimumo-shards build`)."""
from __future__ import annotations

import json
from pathlib import Path

MANIFEST_NAME = "manifest.json"


def manifest_path(shards: str | Path) -> Path:
    """`shards` is a shard directory or the path of its manifest (a .json file)."""
    path = Path(shards)
    return path if path.suffix == ".json" else path / MANIFEST_NAME


def split_shards(shards: str | Path, split: str) -> list[dict]:
    """Entries {"path": absolute tar path, "count": samples} of `split`, in manifest order."""
    path = manifest_path(shards)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: shard manifest not found (build shards with `unimumo-shards build`)")
    try:
        manifest = json.loads(path.read_text())
        entries = manifest["shards"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a shard manifest ({type(error).__name__}: {error})") from error
    selected = [entry for entry in entries if entry.get("split") == split]
    if not selected:
        available = sorted({str(entry.get("split")) for entry in entries})
        raise ValueError(f"{path}: no shards for split {split!r} (splits present: {available})")
    return [{"path": str(path.parent / entry["name"]), "count": int(entry["count"])} for entry in selected]
