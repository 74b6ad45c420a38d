"""AIST++ reader: per-sequence SMPL pickles at 60 fps -> 22-joint positions -> 263-d features.

Layout (as in aist_plusplus_final):
    ROOT/motions/<name>.pkl            dict with smpl_poses [N,72], smpl_trans [N,3], smpl_scaling [1]
    ROOT/splits/crossmodal_{train,val,test}.txt   sequence names, one per line
    ROOT/ignore_list.txt               broken sequences, never used
Sequence names code the genre, e.g. gBR_sBM_cAll_d04_mBR0_ch01 -> "break".
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from unimumo.data.captions import AIST_GENRES
from unimumo.data.sources import lists
from unimumo.data.sources.clip import MotionClip
from unimumo.motion.humanml3d_features import MotionFormatError, joints_to_features, validate_features
from unimumo.motion.skeleton import smpl_to_joints22

FPS = 60.0
SPLITS = ("train", "val", "test")


def read_name_lines(path: Path) -> tuple[list[str], list[dict]]:
    """(names, skip records of the bad lines: see unimumo.data.sources.lists) of an AIST++ list file."""
    if not os.path.lexists(path):
        raise FileNotFoundError(f"{path}: missing AIST++ list file")
    return lists.read_names(path)


def read_names(path: Path) -> list[str]:
    return read_name_lines(path)[0]


def genre_of(name: str) -> str | None:
    return AIST_GENRES.get(name.split("_", 1)[0])


def list_sequences(
    root: str | Path, split: str, skipped: list[dict] | None = None, split_path: str | Path | None = None
) -> list[Path]:
    """Pickle paths of the official crossmodal split (or the names of `split_path`), minus `ignore_list.txt`; skip
    records of bad list lines
    go to `skipped` (or the log)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    root = Path(root)
    ignore_path = root / "ignore_list.txt"
    ignored, records = read_name_lines(ignore_path) if os.path.lexists(ignore_path) else ([], [])
    names, bad = read_name_lines(
        Path(split_path) if split_path is not None else root / "splits" / f"crossmodal_{split}.txt"
    )
    lists.report(records + bad, skipped)
    return [root / "motions" / f"{name}.pkl" for name in names if name not in set(ignored)]


class AistUnpickler(pickle.Unpickler):
    """Loads only what an AIST++ motion pickle holds: dicts, lists, tuples, strings, numbers and numpy arrays.

    Any other global (a class or function that a crafted pickle would call) raises UnpicklingError before
    it is looked up, so nothing in the file is executed.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),  # protocol 5 arrays
        ("_codecs", "encode"),  # protocol 2 stores the arrays' bytes as latin-1 text re-encoded on load
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}: not part of the AIST++ motion format")
        return super().find_class(module, name)


def read_smpl(path: str | Path) -> tuple[np.ndarray, np.ndarray, float]:
    """SMPL poses [N,72], translations [N,3] and scaling of one sequence; raises MotionFormatError (naming the
    file) on missing keys, bad shapes or NaNs."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = AistUnpickler(handle).load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise MotionFormatError(f"{path}: cannot read AIST++ pickle ({type(error).__name__}: {error})") from error
    if not isinstance(data, dict):
        raise MotionFormatError(f"{path}: expected a dict of SMPL arrays, got {type(data).__name__}")
    missing = [key for key in ("smpl_poses", "smpl_trans", "smpl_scaling") if key not in data]
    if missing:
        raise MotionFormatError(f"{path}: missing keys {missing}")
    poses = np.asarray(data["smpl_poses"], dtype=np.float64)
    trans = np.asarray(data["smpl_trans"], dtype=np.float64)
    scaling = float(np.asarray(data["smpl_scaling"]).reshape(-1)[0])
    if poses.ndim != 2 or poses.shape[1] != 72 or trans.shape != (poses.shape[0], 3):
        raise MotionFormatError(f"{path}: smpl_poses {poses.shape} / smpl_trans {trans.shape}, expected [N,72] / [N,3]")
    if poses.shape[0] < 2:
        raise MotionFormatError(f"{path}: only {poses.shape[0]} frames")
    if not (np.all(np.isfinite(poses)) and np.all(np.isfinite(trans)) and np.isfinite(scaling) and scaling > 0):
        raise MotionFormatError(f"{path}: NaN/inf or non-positive scaling in SMPL parameters")
    return poses, trans, scaling


def read_clip(path: str | Path) -> MotionClip:
    """Load one sequence as 22 joints and 263-d features; MotionFormatError names the file on bad input."""
    path = Path(path)
    joints = smpl_to_joints22(*read_smpl(path))
    features = validate_features(joints_to_features(joints, fps=FPS, source=str(path)), str(path))
    return MotionClip(
        id=path.stem,
        source="aist",
        path=path,
        fps=FPS,
        features=features,
        joints=joints,
        genre=genre_of(path.stem),
        captions=[],
    )
