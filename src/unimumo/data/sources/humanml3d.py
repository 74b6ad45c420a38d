"""HumanML3D reader: `new_joint_vecs/<id>.npy` [N,263] at 20 fps with `texts/<id>.txt` captions.

Layout:
    ROOT/new_joint_vecs/<id>.npy
    ROOT/texts/<id>.txt        lines "caption#tokens#start#end"
    ROOT/{train,val,test}.txt  ids, one per line
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unimumo.data.sources import lists
from unimumo.data.sources.clip import MotionClip
from unimumo.motion.humanml3d_features import MotionFormatError, validate_features

FPS = 20.0
SPLITS = ("train", "val", "test")


def list_clips(
    root: str | Path, split: str, skipped: list[dict] | None = None, split_path: str | Path | None = None
) -> list[Path]:
    """Feature paths of `split` (ids from `split_path`, default ROOT/{split}.txt); skip records of bad split lines go
    to `skipped` (or the log)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    root = Path(root)
    split_path = Path(split_path) if split_path is not None else root / f"{split}.txt"
    if not split_path.is_file():
        raise FileNotFoundError(f"{split_path}: missing HumanML3D split file")
    ids, bad = lists.read_names(split_path)
    lists.report(bad, skipped)
    return [root / "new_joint_vecs" / f"{clip_id}.npy" for clip_id in ids]


def read_captions(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_clip(path: str | Path) -> MotionClip:
    """Load one clip; raises MotionFormatError (naming the file) when unreadable, wrong width or non-finite."""
    path = Path(path)
    try:
        features = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise MotionFormatError(f"{path}: cannot read .npy ({type(error).__name__}: {error})") from error
    features = validate_features(np.asarray(features, dtype=np.float32), str(path))
    captions = read_captions(path.parent.parent / "texts" / f"{path.stem}.txt")
    return MotionClip(id=path.stem, source="humanml3d", path=path, fps=FPS, features=features, captions=captions)
