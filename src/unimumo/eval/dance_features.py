"""Motion features for the dance benchmark, from joint positions [N,J,3] (metres, y up; J = 22 or 24 SMPL joints).

* Kinetic features (Onuma, Faloutsos & Hodgins, "FMDistance", 2008; as used by the AIST++ API
  and Bailando, Li et al. CVPR 2022): per joint, the average horizontal kinetic energy, the
  average vertical kinetic energy and the average energy expenditure (acceleration magnitude),
  each from velocities/accelerations averaged over a sliding window of +-2 frames -> 3 J values.
* Manual geometric features (Mueller, Roeder & Clausen, "Efficient content-based retrieval of
  motion capture data", SIGGRAPH 2005; the 32 boolean predicates of the AIST++ API used by
  Bailando): per frame, 32 booleans on relative joint positions/velocities, averaged over
  frames -> 32 values.

These are the physically consistent definitions (the `corrected` protocol): velocities and
accelerations use the real frame time 1/fps and the energy expenditure the second difference
(p[k+1] - 2 p[k] + p[k-1]) / dt^2. The published protocols (`unimumo.eval.protocols`) call the same
functions with the upstream code's slips switched on: `upstream_expenditure` (an operator-precedence
slip that divides only one position by dt), hard-coded frame times, the upstream body lengths and
blanked predicate slots. The predicate geometry is the API's, including its `move` predicate, which
tests its third joint (so features 5 and 6 coincide). Degenerate geometry (a zero-length direction or
a collapsed plane) makes a predicate false, as the NaN comparison does upstream.

`prepare_joints` applies the benchmark protocol: at most 1200 frames, positions relative to the
first frame's root.
"""

from __future__ import annotations

import numpy as np

from unimumo.constants import NUM_JOINTS
from unimumo.motion.skeleton import JOINT22_OFFSETS, JOINT22_PARENTS, NUM_SMPL_JOINTS, SMPL_JOINT_NAMES, validate_joints

UP_AXIS = 1  # y up
HORIZONTAL_AXES = (0, 2)
MAX_FRAMES = 1200
KINETIC_WINDOW = 2
NUM_KINETIC_FEATURES = 3 * NUM_JOINTS
NUM_MANUAL_FEATURES = 32
JOINT_COUNTS = (NUM_JOINTS, NUM_SMPL_JOINTS)  # HumanML3D's 22 joints, or all 24 SMPL joints (same order)

J = {name: index for index, name in enumerate(SMPL_JOINT_NAMES)}


def rest_positions() -> np.ndarray:
    """Rest-pose (T-pose) joint positions [22,3] of the neutral SMPL skeleton, root at the origin."""
    positions = np.zeros((NUM_JOINTS, 3))
    for joint in range(1, NUM_JOINTS):
        positions[joint] = positions[JOINT22_PARENTS[joint]] + JOINT22_OFFSETS[joint]
    return positions


_REST = rest_positions()
HUMERUS_LENGTH = float(np.linalg.norm(_REST[J["left_elbow"]] - _REST[J["left_shoulder"]]))
SHOULDER_WIDTH = float(np.linalg.norm(_REST[J["left_shoulder"]] - _REST[J["right_shoulder"]]))
HIP_WIDTH = float(np.linalg.norm(_REST[J["left_hip"]] - _REST[J["right_hip"]]))


def check_positions(joints, source: str = "joints", min_frames: int = 3, dtype=np.float64) -> np.ndarray:
    """A finite [N,22,3] or [N,24,3] joint-position array with at least `min_frames` frames, as `dtype`."""
    return validate_joints(joints, source, min_frames, JOINT_COUNTS, dtype)


def prepare_joints(joints, source: str = "joints", max_frames: int | None = MAX_FRAMES, dtype=np.float64) -> np.ndarray:
    """Benchmark protocol: first `max_frames` frames (all if None), translated so the first frame's root is at
    the origin; the subtraction is done in `dtype` (the upstream code works in its files' dtype)."""
    array = check_positions(joints, source, dtype=dtype)[:max_frames]
    return array - array[:1, :1]


def _windowed_mean(values: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Mean of values[k] over k in [first[i], last[i]] for every i (inclusive bounds, along axis 0)."""
    cumulative = np.concatenate([np.zeros_like(values[:1]), np.cumsum(values, axis=0)])
    counts = (last - first + 1).reshape(-1, *([1] * (values.ndim - 1)))
    return (cumulative[last + 1] - cumulative[first]) / counts


def kinetic_features(
    joints, fps: float, window: int = KINETIC_WINDOW, *, upstream_expenditure: bool = False
) -> np.ndarray:
    """3 J kinetic features: per joint (horizontal KE, vertical KE, energy expenditure), averaged over frames.

    For frames i = 1..N-1 the velocity is the mean of the frame differences (p[k]-p[k-1])/dt over
    k in [i-window, i+window] within the sequence, and the acceleration the mean of the second
    differences (p[k+1]-2p[k]+p[k-1])/dt^2 over the same k range within the sequence. Kinetic
    energies are the frame means of |v_h|^2 and v_y^2 (unit mass, no 1/2 factor, as published);
    energy expenditure is the frame mean of |a|. `upstream_expenditure` replaces the second
    difference by the AIST++ API's ((p[k+1]-p[k])/dt - (p[k] - p[k-1]/dt)) / dt.
    """
    if window < 1:
        raise ValueError(f"kinetic_features: window must be >= 1 frame, got {window}")
    array = check_positions(joints)
    n, dt = len(array), 1.0 / fps
    frames = np.arange(1, n)
    velocity_steps = (array[1:] - array[:-1]) / dt  # entry k-1 is the difference ending at frame k
    first = np.maximum(frames - window, 1) - 1
    velocity = _windowed_mean(velocity_steps, first, np.minimum(frames + window, n - 1) - 1)
    if upstream_expenditure:  # entry k-1 centred at frame k
        acceleration_steps = ((array[2:] - array[1:-1]) / dt - (array[1:-1] - array[:-2] / dt)) / dt
    else:
        acceleration_steps = (array[2:] - 2.0 * array[1:-1] + array[:-2]) / dt**2
    acceleration = _windowed_mean(acceleration_steps, first, np.minimum(frames + window, n - 2) - 1)
    horizontal = (velocity[..., list(HORIZONTAL_AXES)] ** 2).sum(-1).mean(0)
    vertical = (velocity[..., UP_AXIS] ** 2).mean(0)
    expenditure = np.linalg.norm(acceleration, axis=-1).mean(0)
    return np.stack([horizontal, vertical, expenditure], axis=1).reshape(-1)


def _unit(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors and a mask of the non-degenerate ones (norm > 1e-9)."""
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    valid = norm[..., 0] > 1e-9
    return vectors / np.where(norm > 1e-9, norm, 1.0), valid


class _Pose:
    """Joint positions of frames 1..N-1 (`now`) and 0..N-2 (`prev`) plus the virtual points of the predicates."""

    def __init__(self, joints: np.ndarray, fps: float):
        self.now, self.prev, self.fps = joints[1:], joints[:-1], fps
        frames = len(self.now)
        self.virtual = {
            "zero": np.zeros((frames, 3)),
            "y_unit": np.tile([0.0, 1.0, 0.0], (frames, 1)),
            "minus_y_unit": np.tile([0.0, -1.0, 0.0], (frames, 1)),
            "y_min": np.stack([np.zeros(frames), self.now[..., UP_AXIS].min(axis=1), np.zeros(frames)], axis=1),
        }

    def at(self, name: str) -> np.ndarray:
        return self.virtual[name] if name in self.virtual else self.now[:, J[name]]

    def before(self, name: str) -> np.ndarray:
        return self.prev[:, J[name]]

    def relative_velocity(self, moving: str, anchor: str) -> np.ndarray:
        """Velocity of `moving` relative to `anchor` (m/s), from the last frame step."""
        return ((self.at(moving) - self.at(anchor)) - (self.before(moving) - self.before(anchor))) * self.fps

    def move(self, j1, j2, j3, threshold):
        """Velocity of j3 relative to j1, along the direction j1 -> j2, exceeds the threshold."""
        direction, valid = _unit(self.at(j2) - self.at(j1))
        return valid & ((self.relative_velocity(j3, j1) * direction).sum(-1) > threshold)

    def nmove(self, j1, j2, j3, j4, threshold):
        """Velocity of j4 relative to j1, along the normal (j3-j1) x (j2-j1) of the plane j1 j2 j3, exceeds it."""
        normal, valid = _unit(np.cross(self.at(j3) - self.at(j1), self.at(j2) - self.at(j1)))
        return valid & ((self.relative_velocity(j4, j1) * normal).sum(-1) > threshold)

    def plane(self, j1, j2, j3, j4, threshold):
        """Signed distance of j4 from the plane through j1 j2 j3 (normal (j3-j1) x (j2-j1)) exceeds it."""
        normal, valid = _unit(np.cross(self.at(j3) - self.at(j1), self.at(j2) - self.at(j1)))
        return valid & (((self.at(j4) - self.at(j1)) * normal).sum(-1) > threshold)

    def nplane(self, n1, n2, point, j, threshold):
        """Signed distance of j from the plane through `point` with normal n1 -> n2 exceeds it."""
        normal, valid = _unit(self.at(n2) - self.at(n1))
        return valid & (((self.at(j) - self.at(point)) * normal).sum(-1) > threshold)

    def angle(self, j1, j2, k1, k2, low, high):
        """The angle (degrees) between the segments j1 -> j2 and k1 -> k2 lies strictly inside (low, high)."""
        a, valid_a = _unit(self.at(j2) - self.at(j1))
        b, valid_b = _unit(self.at(k2) - self.at(k1))
        degrees = np.degrees(np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0)))
        return valid_a & valid_b & (degrees > low) & (degrees < high)

    def fast(self, j, threshold):
        """Speed of j exceeds the threshold."""
        return np.linalg.norm(self.at(j) - self.before(j), axis=-1) * self.fps > threshold


def manual_predicates(
    joints, fps: float, body_lengths: tuple[float, float, float] | None = None, blank_slots: tuple[int, ...] = ()
) -> np.ndarray:
    """The 32 boolean predicates [N-1, 32] of frames 1..N-1.

    Thresholds are in units of the humerus length (hl), shoulder width (sw) and hip width (hw):
    `body_lengths` = (hl, sw, hw), default those of the neutral SMPL rest pose; velocities are
    per 1/`fps` seconds. The predicates at `blank_slots` are forced false (the UniMuMo evaluation
    blanks slots 28-30 for 22-joint input).
    """
    pose = _Pose(check_positions(joints, min_frames=2), fps)
    hl, sw, hw = body_lengths or (HUMERUS_LENGTH, SHOULDER_WIDTH, HIP_WIDTH)
    predicates = [
        # hands moving forward/backward out of the body plane, relative to the neck
        pose.nmove("neck", "right_hip", "left_hip", "right_wrist", 1.8 * hl),
        pose.nmove("neck", "left_hip", "right_hip", "left_wrist", 1.8 * hl),
        # hands in front of the chest
        pose.nplane("spine3", "neck", "neck", "right_wrist", 0.2 * hl),
        pose.nplane("spine3", "neck", "neck", "left_wrist", 0.2 * hl),
        # upward motion along the spine
        pose.move("spine1", "spine3", "spine3", 1.8 * hl),
        pose.move("spine1", "spine3", "spine3", 1.8 * hl),
        # elbows bent
        pose.angle("right_elbow", "right_shoulder", "right_elbow", "right_wrist", 0, 110),
        pose.angle("left_elbow", "left_shoulder", "left_elbow", "left_wrist", 0, 110),
        # hands apart
        pose.nplane("left_shoulder", "right_shoulder", "left_wrist", "right_wrist", 2.5 * sw),
        pose.move("left_wrist", "right_wrist", "right_wrist", 1.4 * hl),
        pose.move("right_wrist", "pelvis", "left_wrist", 1.4 * hl),
        pose.move("left_wrist", "pelvis", "right_wrist", 1.4 * hl),
        # fast hands
        pose.fast("right_wrist", 2.5 * hl),
        pose.fast("left_wrist", 2.5 * hl),
        # feet in front of / behind the body
        pose.plane("pelvis", "left_hip", "left_foot", "right_ankle", 0.38 * hl),
        pose.plane("pelvis", "right_hip", "right_foot", "left_ankle", 0.38 * hl),
        # feet raised above the lowest point of the body
        pose.nplane("zero", "y_unit", "y_min", "right_ankle", 1.2 * hl),
        pose.nplane("zero", "y_unit", "y_min", "left_ankle", 1.2 * hl),
        # feet apart
        pose.nplane("left_hip", "right_hip", "left_ankle", "right_ankle", 2.1 * hw),
        # knees bent
        pose.angle("right_knee", "right_hip", "right_knee", "right_ankle", 0, 110),
        pose.angle("left_knee", "left_hip", "left_knee", "left_ankle", 0, 110),
        # fast feet
        pose.fast("right_ankle", 2.5 * hl),
        pose.fast("left_ankle", 2.5 * hl),
        # arms raised sideways
        pose.angle("neck", "pelvis", "right_shoulder", "right_elbow", 25, 180),
        pose.angle("neck", "pelvis", "left_shoulder", "left_elbow", 25, 180),
        # legs raised
        pose.angle("neck", "pelvis", "right_hip", "right_knee", 50, 180),
        pose.angle("neck", "pelvis", "left_hip", "left_knee", 50, 180),
        # feet crossed
        pose.plane("right_ankle", "neck", "left_ankle", "pelvis", 0.5 * hl),
        # torso lying (spine roughly horizontal)
        pose.angle("neck", "pelvis", "zero", "y_unit", 70, 110),
        # hands below the lowest point of the body minus 1.2 hl (never true for a grounded body)
        pose.nplane("zero", "minus_y_unit", "y_min", "right_wrist", -1.2 * hl),
        pose.nplane("zero", "minus_y_unit", "y_min", "left_wrist", -1.2 * hl),
        # fast root
        pose.fast("pelvis", 2.3 * hl),
    ]
    table = np.stack(predicates, axis=1)
    table[:, list(blank_slots)] = False
    return table


def manual_features(joints, fps: float) -> np.ndarray:
    """32 manual geometric features: the fraction of frames 1..N-1 on which each predicate holds (rest-pose units)."""
    return manual_predicates(joints, fps).astype(np.float64).mean(axis=0)
