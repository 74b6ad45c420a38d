"""Any system's outputs as evaluation inputs: directories of wavs or joints, paired by sorted file name.

The scoring commands (`unimumo-eval score-music`, `score-dance`) and the generation benchmarks read the
same files the same way. Joints come as `.npy` ([N,J,3] or [N,J*3], read without pickle), `.pkl` (read
with the AIST++ reader's restricted unpickler: dicts, lists, numbers and numpy arrays only, nothing in
the file is executed) or `.pt` / `.pth` (`torch.load(weights_only=True)`: tensors and containers only).
A pickled dict gives its joints under one of JOINT_KEYS (EDGE writes `full_pose`), or SMPL parameters
(`smpl_poses`, `smpl_trans`, optional `smpl_scaling`) that forward kinematics turns into joints.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from unimumo.data.sources.aist import AistUnpickler
from unimumo.errors import UniMuMoError
from unimumo.motion.resample import resample_motion
from unimumo.motion.skeleton import smpl_forward_kinematics

AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg")
JOINT_SUFFIXES = (".npy", ".pkl", ".pt", ".pth")
JOINT_KEYS = ("full_pose", "joints", "positions", "keypoints3d", "pred_position")
UP_AXES = ("y", "z")  # y up: AIST++ / HumanML3D / this project; z up: EDGE's outputs


class EvalInputError(UniMuMoError, ValueError):
    """A file or directory given to an evaluation is missing, unreadable or malformed."""

    kind = "input error"


def list_files(directory: str | Path, suffixes: tuple[str, ...], what: str) -> list[Path]:
    """The files of `directory` with one of `suffixes`, sorted by name; an error when there is none."""
    directory = Path(directory)
    if not directory.is_dir():
        raise EvalInputError(f"{directory}: {what} directory is missing")
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise EvalInputError(f"{directory}: no {what} file ({', '.join(suffixes)})")
    return files


def paired(first: list[Path], second: list[Path], first_name: str, second_name: str) -> list[tuple[Path, Path]]:
    """Files of two sorted lists paired by position (the upstream scripts' sorted-glob pairing)."""
    if len(first) != len(second):
        raise EvalInputError(
            f"{len(first)} {first_name} files ({first[0].parent}) but {len(second)} "
            f"{second_name} files ({second[0].parent}); files are paired by sorted name"
        )
    return list(zip(first, second))


def _load_object(path: Path):
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".pkl":
            with open(path, "rb") as handle:
                return AistUnpickler(handle).load()
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)
    except (
        OSError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        RuntimeError,
        pickle.UnpicklingError,
    ) as error:  # torch refuses a global with an UnpicklingError, a bad zip with both
        raise EvalInputError(f"{path}: cannot read joints ({type(error).__name__}: {error})") from error


def _as_array(value, path: Path, key: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray):
        raise EvalInputError(f"{path}: {key} is a {type(value).__name__}, expected an array")
    return value


def joint_positions(value, path: Path) -> np.ndarray:
    """Joint positions [N,J,3] (float64) from a loaded file: an array, or a dict with JOINT_KEYS / SMPL keys."""
    if isinstance(value, dict):
        key = next((k for k in JOINT_KEYS if k in value), None)
        if key is not None:
            array = _as_array(value[key], path, key)
        elif "smpl_poses" in value and "smpl_trans" in value:
            scaling = float(np.asarray(value.get("smpl_scaling", 1.0)).reshape(-1)[0])
            poses, trans = (_as_array(value[k], path, k) for k in ("smpl_poses", "smpl_trans"))
            try:
                array = smpl_forward_kinematics(poses.reshape(len(poses), -1), trans, scaling)
            except ValueError as error:
                raise EvalInputError(f"{path}: bad SMPL parameters: {error}") from error
        else:
            raise EvalInputError(
                f"{path}: a dict without joints (keys {sorted(map(str, value))}); expected one of "
                f"{', '.join(JOINT_KEYS)} or smpl_poses + smpl_trans"
            )
    else:
        array = _as_array(value, path, "content")
    array = np.asarray(array, dtype=np.float64)
    if array.ndim == 2 and array.shape[1] % 3 == 0:
        array = array.reshape(len(array), -1, 3)
    if array.ndim == 4 and array.shape[0] == 1:  # a batch of one
        array = array[0]
    if array.ndim != 3 or array.shape[2] != 3 or len(array) < 3:
        raise EvalInputError(f"{path}: expected joint positions [N>=3,J,3], got shape {list(array.shape)}")
    if not np.isfinite(array).all():
        raise EvalInputError(f"{path}: joint positions contain NaN or infinite values")
    return array


def read_joints(path: str | Path, num_joints: int, fps: float, target_fps: float, up_axis: str = "y") -> np.ndarray:
    """The first `num_joints` joints (SMPL order) of one file at `fps`, resampled to `target_fps`, float32, y up
    (joints stored z up, as EDGE's, are rotated by -90 degrees about x: (x, y, z) -> (x, z, -y))."""
    path = Path(path)
    array = joint_positions(_load_object(path), path)
    if up_axis not in UP_AXES:
        raise EvalInputError(f"up axis must be one of {', '.join(UP_AXES)}, got {up_axis!r}")
    if up_axis == "z":
        array = np.stack([array[..., 0], array[..., 2], -array[..., 1]], axis=-1)
    if array.shape[1] < num_joints:
        raise EvalInputError(f"{path}: {array.shape[1]} joints, the protocol needs {num_joints} (SMPL order)")
    array = array[:, :num_joints]
    if fps != target_fps:
        array = resample_motion(array, fps, target_fps)
    return array.astype(np.float32)
