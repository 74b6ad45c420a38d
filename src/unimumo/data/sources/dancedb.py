"""DanceDB reader: AMASS SMPL-H `.npz` files -> 22-joint positions (the AIST++ skeleton path) -> 263-d features.

DanceDB is distributed in the AMASS format (https://amass.is.tue.mpg.de, "DanceDB"): one `.npz` per take,
anywhere under ROOT (AMASS nests them by session), each with
    poses            [N,156]  SMPL-H axis-angle: the root, 21 body joints, then 30 finger joints
    trans            [N,3]    root translation (metres), z up
    mocap_framerate  scalar   frames per second (DanceDB: 120 or 250)
(`betas`, `gender`, `dmpls` are not used: joints come from the embedded mean-shape skeleton of
motion/skeleton.py, as for AIST++). Files are read with numpy's allow_pickle=False: an `.npz` holding
Python objects is refused, never unpickled. The 22 body joints are the same in SMPL and SMPL-H, so the
body part of `poses` (padded with the two SMPL hand joints at rest) goes through `smpl_to_joints22`;
the z-up world is then turned to the y-up one of HumanML3D and the clip resampled to FPS.

A take's id is its file name without `.npz` (as in the authors' data/motion/dancedb_{split}.txt, e.g.
Andria_Happy_v1_C3D_poses); its second word is the dance's feeling ("happy"), used in its caption.
Splits: ROOT/dancedb_{train,val,test}.txt (ids, one per line; or --split-file dancedb=FILE) when present;
without them every take is in train and none in val or test. ROOT/ignore_list.txt (ids) is never used.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from unimumo.data.sources import lists
from unimumo.data.sources.clip import MotionClip
from unimumo.motion.humanml3d_features import MotionFormatError, joints_to_features, validate_features
from unimumo.motion.resample import interpolate_frames
from unimumo.motion.skeleton import smpl_to_joints22
from unimumo.utils.log import get_logger

FPS = 60.0  # takes are resampled to the AIST++ rate
SPLITS = ("train", "val", "test")
BODY_POSE_VALUES = 66  # root + 21 body joints, axis-angle
SMPLH_POSE_VALUES = 156
KEYS = ("poses", "trans", "mocap_framerate")
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # a rotation: (x, y, z) -> (x, z, -y)

log = get_logger(__name__)


def take_paths(root: str | Path) -> dict[str, Path]:
    """{id: path} of every `.npz` under ROOT (sorted); MotionFormatError when two takes share an id."""
    paths: dict[str, Path] = {}
    for path in sorted(Path(root).rglob("*.npz")):
        if path.stem in paths:
            raise MotionFormatError(
                f"{path}: take id {path.stem!r} also names {paths[path.stem]}; ids (file names "
                "without .npz) must be unique under --dancedb"
            )
        paths[path.stem] = path
    return paths


def list_takes(
    root: str | Path, split: str, skipped: list[dict] | None = None, split_path: str | Path | None = None
) -> tuple[list[Path], list[str]]:
    """(paths of the split's takes in list order, ids listed for the split but ignore-listed). The split's ids
    come from `split_path` (default ROOT/dancedb_{split}.txt; without it every take is in train); skip
    records of bad list lines go to `skipped` (or the log). FileNotFoundError names a listed take without a file."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    root = Path(root)
    paths, records = take_paths(root), []
    split_path = Path(split_path) if split_path is not None else root / f"dancedb_{split}.txt"
    if split_path.is_file():
        listed, records = lists.read_names(split_path)
    else:
        listed = list(paths) if split == "train" else []
        log.info("%s: no split file; %d DanceDB takes in %s", split_path, len(listed), split)
    ignore_path = root / "ignore_list.txt"
    ignored, bad = lists.read_names(ignore_path) if ignore_path.is_file() else ([], [])
    lists.report(records + bad, skipped)
    missing = [take for take in listed if take not in paths]
    if missing:
        raise FileNotFoundError(
            f"{split_path}: {len(missing)} listed takes have no .npz under {root} (first: {missing[0]!r})"
        )
    return [paths[take] for take in listed if take not in set(ignored)], [take for take in listed if take in ignored]


def feeling_of(take: str) -> str | None:
    """The feeling a DanceDB take's name gives (Andria_Happy_v1_C3D_poses -> "happy"); None without one."""
    words = take.split("_")
    return words[1].lower() if len(words) > 2 and words[1].isalpha() else None


def read_amass(path: str | Path) -> tuple[np.ndarray, np.ndarray, float]:
    """SMPL-H poses [N,156], translations [N,3] and frame rate of one take; MotionFormatError naming the file on
    an unreadable file, missing keys, bad shapes, NaNs or a bad frame rate."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError(f"a single {type(data).__name__}, not an .npz archive")
        with data:
            found = data.files
            arrays = {key: np.asarray(data[key], dtype=np.float64) for key in KEYS if key in found}
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as error:
        raise MotionFormatError(f"{path}: cannot read AMASS .npz ({type(error).__name__}: {error})") from error
    missing = [key for key in KEYS if key not in arrays]
    if missing:
        raise MotionFormatError(f"{path}: missing keys {missing} (found {found}); not an AMASS take")
    poses, trans, rate = (arrays[key] for key in KEYS)
    if poses.ndim != 2 or poses.shape[1] != SMPLH_POSE_VALUES or trans.shape != (poses.shape[0], 3):
        raise MotionFormatError(
            f"{path}: poses {list(poses.shape)} / trans {list(trans.shape)}, expected [N,156] / [N,3] (SMPL-H)"
        )
    if rate.size != 1 or not np.isfinite(rate).all() or float(rate.reshape(-1)[0]) <= 0:
        raise MotionFormatError(f"{path}: mocap_framerate {rate.tolist()!r} is not a positive number")
    if poses.shape[0] < 2:
        raise MotionFormatError(f"{path}: only {poses.shape[0]} frames")
    if not (np.isfinite(poses).all() and np.isfinite(trans).all()):
        raise MotionFormatError(f"{path}: NaN/inf in poses or trans")
    return poses, trans, float(rate.reshape(-1)[0])


def amass_to_joints(poses: np.ndarray, trans: np.ndarray, rate: float) -> np.ndarray:
    """22 joints [M,22,3] (y up, metres) at FPS of an AMASS take."""
    body = np.concatenate([poses[:, :BODY_POSE_VALUES], np.zeros((len(poses), 6))], axis=1)  # SMPL hands at rest
    joints = smpl_to_joints22(body, trans) @ Z_UP_TO_Y_UP.T
    if rate != FPS:
        duration = (len(joints) - 1) / rate
        joints = interpolate_frames(joints, np.arange(int(np.floor(duration * FPS + 1e-9)) + 1) * rate / FPS)
    return joints.astype(np.float32)


def read_clip(path: str | Path) -> MotionClip:
    """Load one take as 22 joints and 263-d features at FPS; MotionFormatError names the file on bad input."""
    path = Path(path)
    joints = amass_to_joints(*read_amass(path))
    features = validate_features(joints_to_features(joints, fps=FPS, source=str(path)), str(path))
    return MotionClip(
        id=path.stem,
        source="dancedb",
        path=path,
        fps=FPS,
        features=features,
        joints=joints,
        feeling=feeling_of(path.stem),
        captions=[],
    )
