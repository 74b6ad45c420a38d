"""Real motion capture for the motion tokenizer benchmarks: the DeepMimic clips that the `pybullet` wheel ships,
converted to the project's 22-joint skeleton (unimumo.motion.skeleton) by forward kinematics.

Where the data comes from: `pip download pybullet==3.2.7 --no-deps` (PyPI; nothing is committed here). The wheel
holds `pybullet_data/data/motions/humanoid3d_*.txt`: the reference clips of DeepMimic (Peng et al., SIGGRAPH 2018,
xbpeng/DeepMimic, whose README calls them "mocap clips" of its humanoid, in its data/motions/; the capture sessions
they were retargeted from are not named there). The copy used here is pybullet's, distributed under the zlib
licence (pybullet-3.2.7.dist-info/LICENSE.txt: "The files in this repository are licensed under the zlib license,
except for the files under 'Extras' and examples/ThirdPartyLibs"; PyPI classifier zlib/libpng). Give the motions
directory (`--motions DIR`: an unpacked wheel's pybullet_data/data/motions) or install the wheel in the benchmark's
environment (`pip install pybullet`, not in pyproject.toml): `motions_dir()` then finds it through `pybullet_data`.
The `walker/` clips and `laikago_walk.txt` are left out (no recorded origin / another body).

Format (pybullet_envs/deep_mimic/env/humanoid_pose_interpolator.py reads the same): JSON {"Loop", "Frames"}, one
row of 44 numbers per key frame: its duration (s), root position (3, metres, y up), root rotation (quaternion
w,x,y,z, global), then local rotations in the parent's frame: chest (4), neck (4), right hip (4), right knee
(1: angle about z), right ankle (4), right shoulder (4), right elbow (1), left hip (4), left knee (1), left ankle
(4), left shoulder (4), left elbow (1). The body is `pybullet_data/humanoid/humanoid.urdf` loaded with
globalScaling 0.25 (as the DeepMimic env does): the joint offsets below are its joint origins x 0.25. The humanoid
faces +x with its right side on +z; SMPL faces +z with its left side on +x, so positions map (x, y, z) ->
(-z, y, x), a rotation.

Joint mapping to the 22 SMPL joints (DeepMimic has 15 bodies): pelvis = root; hips, knees, ankles, shoulders,
elbows = the joints of those names; wrists = the fixed wrist joints; neck = the neck joint. Interpolated (points
rigidly attached to a DeepMimic body, placed between its joints): spine1 = halfway along root -> chest, spine2 =
the chest joint, spine3 = a quarter of the way chest -> neck, collars = halfway between the spine3 point and each
shoulder, head = 0.09 m up the neck body (SMPL's neck-head length), feet = the front of the foot box, 0.12 m ahead
of and 0.045 m below the ankle in the ankle's frame. The clips' key frames are not evenly spaced (durations of
1/60 to 1/16 s, some vary within a clip): joint positions are interpolated linearly to an even `fps` (60).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import numpy as np  # noqa: E402

from unimumo.motion.skeleton import SMPL_JOINT_NAMES  # noqa: E402

SCALE = 0.25  # the DeepMimic env loads humanoid.urdf with globalScaling=0.25
# joint origins of humanoid.urdf (x SCALE): child -> (parent, offset in the parent's frame)
OFFSETS = {
    "chest": ("root", (0.0, 0.944604, 0.0)),
    "neck": ("chest", (0.0, 0.895576, 0.0)),
    "right_hip": ("root", (0.0, 0.0, 0.339548)),
    "right_knee": ("right_hip", (0.0, -1.686184, 0.0)),
    "right_ankle": ("right_knee", (0.0, -1.639480, 0.0)),
    "right_shoulder": ("chest", (-0.096200, 0.974000, 0.732440)),
    "right_elbow": ("right_shoulder", (0.0, -1.099152, 0.0)),
    "right_wrist": ("right_elbow", (0.0, -1.035788, 0.0)),
    "left_hip": ("root", (0.0, 0.0, -0.339548)),
    "left_knee": ("left_hip", (0.0, -1.686184, 0.0)),
    "left_ankle": ("left_knee", (0.0, -1.639480, 0.0)),
    "left_shoulder": ("chest", (-0.096200, 0.974000, -0.732440)),
    "left_elbow": ("left_shoulder", (0.0, -1.099152, 0.0)),
    "left_wrist": ("left_elbow", (0.0, -1.035788, 0.0)),
}
# column of each rotated joint's value in a frame row: 4 = quaternion (w,x,y,z), 1 = angle about z
ROTATIONS = {
    "chest": (8, 4),
    "neck": (12, 4),
    "right_hip": (16, 4),
    "right_knee": (20, 1),
    "right_ankle": (21, 4),
    "right_shoulder": (25, 4),
    "right_elbow": (29, 1),
    "left_hip": (30, 4),
    "left_knee": (34, 1),
    "left_ankle": (35, 4),
    "left_shoulder": (39, 4),
    "left_elbow": (43, 1),
}
ROW_WIDTH = 44
LEFT_OUT = ("laikago_walk.txt",)  # another body; walker/ is not read (no recorded origin)
# points rigidly attached to a body (metres, in that body's frame) for the SMPL joints DeepMimic lacks
HEAD = ("neck", (0.0, 0.09, 0.0))
FOOT = (0.12, -0.045, 0.0)  # in the ankle's frame
DM_TO_SMPL = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # (x, y, z) -> (-z, y, x)


@dataclass(frozen=True)
class MocapClip:
    name: str  # file stem, e.g. humanoid3d_dance_a
    joints: np.ndarray  # [N,22,3] metres, SMPL frame (y up, facing +z), at `fps`
    fps: float


def motions_dir(given: str | Path | None = None) -> Path:
    """`given`, or pybullet_data's motions directory when pybullet is installed; FileNotFoundError otherwise."""
    if given is not None:
        path = Path(given)
    else:
        try:
            import pybullet_data
        except ImportError:
            raise FileNotFoundError(
                "no motions directory: give --motions DIR (pybullet_data/data/motions of an unpacked pybullet wheel) "
                "or `pip install pybullet`"
            ) from None
        path = Path(pybullet_data.getDataPath()) / "data" / "motions"
    if not sorted(path.glob("humanoid3d_*.txt")):
        raise FileNotFoundError(f"{path}: no humanoid3d_*.txt DeepMimic clips")
    return path


def _quaternion_matrices(q: np.ndarray) -> np.ndarray:
    """[N,4] quaternions (w,x,y,z; normalised here) -> [N,3,3] rotation matrices."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def _z_matrices(angle: np.ndarray) -> np.ndarray:
    c, s, zero, one = np.cos(angle), np.sin(angle), np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([c, -s, zero], -1), np.stack([s, c, zero], -1), np.stack([zero, zero, one], -1)], -2)


def forward_kinematics(frames: np.ndarray) -> np.ndarray:
    """Key frame rows [N,44] -> the 22 SMPL joints [N,22,3] in the SMPL frame (see the module's mapping)."""
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != ROW_WIDTH:
        raise ValueError(f"DeepMimic humanoid frames must be [N,{ROW_WIDTH}], got {list(frames.shape)}")
    position = {"root": frames[:, 1:4]}
    rotation = {"root": _quaternion_matrices(frames[:, 4:8])}

    def attached(body: str, offset) -> np.ndarray:  # a point fixed in `body`'s frame (metres)
        return position[body] + rotation[body] @ np.asarray(offset, dtype=np.float64)

    for joint, (parent, offset) in OFFSETS.items():  # parents come first
        position[joint] = attached(parent, np.asarray(offset) * SCALE)
        column, width = ROTATIONS.get(joint, (None, 0))
        local = (
            np.broadcast_to(np.eye(3), (len(frames), 3, 3))
            if column is None
            else _quaternion_matrices(frames[:, column : column + 4])
            if width == 4
            else _z_matrices(frames[:, column])
        )
        rotation[joint] = rotation[parent] @ local
    chest, neck = (np.asarray(OFFSETS[name][1]) * SCALE for name in ("chest", "neck"))
    spine3 = attached("chest", 0.25 * neck)
    collar = {side: 0.5 * (spine3 + position[f"{side}_shoulder"]) for side in ("left", "right")}
    joints = {
        "pelvis": position["root"],
        "spine1": attached("root", 0.5 * chest),
        "spine2": position["chest"],
        "spine3": spine3,
        "neck": position["neck"],
        "head": attached(*HEAD),
        **{f"{side}_collar": collar[side] for side in ("left", "right")},
        **{f"{side}_foot": attached(f"{side}_ankle", FOOT) for side in ("left", "right")},
        **{
            f"{side}_{part}": position[f"{side}_{source}"]
            for side in ("left", "right")
            for part, source in (
                ("hip", "hip"),
                ("knee", "knee"),
                ("ankle", "ankle"),
                ("shoulder", "shoulder"),
                ("elbow", "elbow"),
                ("wrist", "wrist"),
            )
        },
    }
    stacked = np.stack([joints[name] for name in SMPL_JOINT_NAMES[:22]], axis=1)
    return (stacked @ DM_TO_SMPL.T).astype(np.float32)


def read_clip(path: str | Path, fps: float = 60.0) -> MocapClip:
    """One DeepMimic humanoid clip as 22 joints at an even `fps` (positions interpolated linearly)."""
    path = Path(path)
    try:
        frames = np.asarray(json.loads(path.read_text())["Frames"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a DeepMimic motion file ({error})") from None
    joints = forward_kinematics(frames)
    times = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])  # a row's duration runs to the next key frame
    if np.any(np.diff(times) <= 0):
        raise ValueError(f"{path}: key frame durations must be positive")
    even = np.arange(0.0, times[-1] + 1e-9, 1.0 / fps)
    flat = joints.reshape(len(joints), -1)
    resampled = np.stack([np.interp(even, times, flat[:, k]) for k in range(flat.shape[1])], axis=-1)
    return MocapClip(path.stem, resampled.reshape(len(even), 22, 3).astype(np.float32), fps)


def read_clips(directory: str | Path | None = None, fps: float = 60.0) -> list[MocapClip]:
    """Every humanoid3d clip of the motions directory (sorted by name)."""
    root = motions_dir(directory)
    return [read_clip(path, fps) for path in sorted(root.glob("humanoid3d_*.txt")) if path.name not in LEFT_OUT]
