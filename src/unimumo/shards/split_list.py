"""The shard list of one split, from a shard directory's manifest.json (written by `unimumo-shards build`)."""
from __future__ import annotations

from pathlib import Path

from unimumo.shards.manifest import MANIFEST_NAME, ManifestError, read_manifest


def manifest_path(shards: str | Path) -> Path:
    """`shards` is a shard directory or the path of its manifest (a .json file)."""
    path = Path(shards)
    return path if path.suffix == ".json" else path / MANIFEST_NAME


def split_shards(shards: str | Path, split: str) -> list[dict]:
    """Entries {"path": tar path, "count": samples} of `split`, in manifest order."""
    path = manifest_path(shards)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: shard manifest not found (build shards with `unimumo-shards build`)")
    entries = read_manifest(path.parent).get("shards", [])
    try:
        selected = [{"path": str(path.parent / entry["name"]), "count": int(entry["count"])}
                    for entry in entries if entry["split"] == split]
        available = sorted({entry["split"] for entry in entries})
    except (KeyError, TypeError, ValueError) as error:
        raise ManifestError(f"{path}: malformed shard entry ({type(error).__name__}: {error}); "
                            "rebuild with `unimumo-shards build`") from error
    if not selected:
        raise ManifestError(f"{path}: no shards for split {split!r} (splits present: {available})")
    return selected
