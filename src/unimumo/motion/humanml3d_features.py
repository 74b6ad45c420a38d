"""HumanML3D 263-d motion features from 22-joint positions, and joint positions back from them.

Layout of one feature frame (HumanML3D order, 263 = 4 + 63 + 126 + 66 + 4):

    [0]        root rotational velocity around y (half-angle per frame, HumanML3D convention)
    [1:3]      root linear velocity in x, z, expressed in the root's facing frame
    [3]        root height
    [4:67]     "ric": joints 1..21 relative to the root's x/z, rotated into the facing frame
    [67:193]   local joint rotations of joints 1..21 in 6D (first two rotation-matrix columns)
    [193:259]  velocities of all 22 joints in the facing frame
    [259:263]  foot contacts: left ankle, left toe, right ankle, right toe

``joints_to_features`` first canonicalises the motion like HumanML3D: the lowest joint of the
clip touches the floor (y = 0), the root starts at x = z = 0 and the body starts facing +z.
Feature frame i describes joint frame i and the step to frame i + 1, so N joint frames give
N - 1 feature frames; ``features_to_joints`` (HumanML3D's ``recover_from_ric``) integrates the
root velocities back and reproduces the canonical joints of those N - 1 frames.
Velocity channels are per frame, so they depend on the frame rate (see ``resample_features``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from unimumo.constants import MOTION_FEATURE_DIM, NUM_JOINTS
from unimumo.errors import UniMuMoError
from unimumo.motion.skeleton import JOINT22_OFFSETS, KINEMATIC_CHAINS, axis_angle_to_matrix

ROOT_ROT_VELOCITY = slice(0, 1)
ROOT_LINEAR_VELOCITY = slice(1, 3)
ROOT_HEIGHT = slice(3, 4)
RIC_POSITIONS = slice(4, 4 + (NUM_JOINTS - 1) * 3)
ROTATIONS_6D = slice(RIC_POSITIONS.stop, RIC_POSITIONS.stop + (NUM_JOINTS - 1) * 6)
LOCAL_VELOCITIES = slice(ROTATIONS_6D.stop, ROTATIONS_6D.stop + NUM_JOINTS * 3)
FOOT_CONTACTS = slice(LOCAL_VELOCITIES.stop, LOCAL_VELOCITIES.stop + 4)
assert FOOT_CONTACTS.stop == MOTION_FEATURE_DIM

FACE_JOINTS = (2, 1, 17, 16)  # right hip, left hip, right shoulder, left shoulder
LEFT_FOOT, RIGHT_FOOT = (7, 10), (8, 11)
FOOT_CONTACT_THRESHOLD = 0.002  # squared metres per frame at 20 fps, as in HumanML3D
REFERENCE_FPS = 20.0


class MotionFormatError(UniMuMoError, ValueError):
    """Motion data that cannot be used: wrong shape, non-finite values or a clip that is too short."""

    kind = "motion format error"


def _check_joints(joints: np.ndarray, source: str) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
        raise MotionFormatError(
            f"{source}: expected joint positions [N,{NUM_JOINTS},3], got shape {list(joints.shape)}"
        )
    if len(joints) < 2:
        raise MotionFormatError(f"{source}: clip too short: {len(joints)} joint frame(s), need at least 2")
    if not np.isfinite(joints).all():
        frame = int(np.argwhere(~np.isfinite(joints))[0, 0])
        raise MotionFormatError(f"{source}: joint positions contain NaN/inf (first at frame {frame})")
    return joints


def validate_features(features: np.ndarray, source: str, min_frames: int = 2) -> np.ndarray:
    """Return `features` as float32 [N,263] or raise MotionFormatError naming `source` and the problem."""
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[1] != MOTION_FEATURE_DIM:
        raise MotionFormatError(
            f"{source}: expected motion features [N,{MOTION_FEATURE_DIM}], got shape {list(features.shape)}"
        )
    if len(features) < min_frames:
        raise MotionFormatError(f"{source}: clip too short: {len(features)} frame(s), need at least {min_frames}")
    if not np.issubdtype(features.dtype, np.number):
        raise MotionFormatError(f"{source}: motion features must be numeric, got dtype {features.dtype}")
    features = features.astype(np.float32, copy=False)
    if not np.isfinite(features).all():
        frame, channel = np.argwhere(~np.isfinite(features))[0]
        raise MotionFormatError(
            f"{source}: motion features contain NaN/inf (first at frame {frame}, channel {channel})"
        )
    return features


def yaw_matrix(angle: np.ndarray) -> np.ndarray:
    """Rotations about +y by `angle` (radians): [...] -> [...,3,3]."""
    cos, sin = np.cos(angle), np.sin(angle)
    zeros, ones = np.zeros_like(angle), np.ones_like(angle)
    rows = [cos, zeros, sin, zeros, ones, zeros, -sin, zeros, cos]
    return np.stack(rows, axis=-1).reshape(*np.shape(angle), 3, 3)


def facing_angle(joints: np.ndarray) -> np.ndarray:
    """Per-frame yaw [N] that turns the body's forward direction (from hips and shoulders) onto +z."""
    r_hip, l_hip, r_shoulder, l_shoulder = FACE_JOINTS
    across = joints[:, r_hip] - joints[:, l_hip] + joints[:, r_shoulder] - joints[:, l_shoulder]
    forward_x, forward_z = across[:, 2], -across[:, 0]  # up x across, with up = +y
    return -np.arctan2(forward_x, forward_z)


def canonicalize_joints(joints: np.ndarray, source: str = "joints") -> np.ndarray:
    """Floor at y = 0, root starting at x = z = 0, body starting to face +z (HumanML3D preprocessing)."""
    joints = _check_joints(joints, source).copy()
    joints[..., 1] -= joints[..., 1].min()
    joints[..., [0, 2]] -= joints[0, 0, [0, 2]]
    return joints @ yaw_matrix(facing_angle(joints[:1])[0]).T


def _rotation_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Smallest rotations [...,3,3] taking unit vectors u onto unit vectors v."""
    axis = np.cross(u, v)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.clip((u * v).sum(-1), -1.0, 1.0)
    # Antiparallel vectors: turn by pi around any axis perpendicular to u.
    fallback = np.cross(u, np.array([1.0, 0.0, 0.0]))
    fallback = np.where(np.linalg.norm(fallback, axis=-1, keepdims=True) < 1e-6, np.cross(u, [0.0, 1.0, 0.0]), fallback)
    axis = np.where((sin < 1e-9)[..., None], fallback, axis)
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    return axis_angle_to_matrix(axis * np.arctan2(sin, cos)[..., None])


def local_rotations(joints: np.ndarray, facing: np.ndarray) -> np.ndarray:
    """HumanML3D-style inverse kinematics: rotations [N,22,3,3]; joint j holds its parent bone's rotation.

    Along every kinematic chain, the bone ending at joint j is the SMPL rest direction of j turned
    by the accumulated rotation of the chain so far times the local rotation stored at j; the
    accumulation starts from the root's facing rotation. (HumanML3D measures the rest directions on
    its own template skeleton; ours are the SMPL ones, so the 6D channels of files made by the
    HumanML3D scripts differ slightly, while positions and velocities mean the same.)
    """
    rest = JOINT22_OFFSETS / np.maximum(np.linalg.norm(JOINT22_OFFSETS, axis=-1, keepdims=True), 1e-12)
    rotations = np.broadcast_to(np.eye(3), (len(joints), NUM_JOINTS, 3, 3)).copy()
    rotations[:, 0] = yaw_matrix(facing)
    for chain in KINEMATIC_CHAINS:
        accumulated = rotations[:, 0]
        for parent, child in zip(chain[:-1], chain[1:]):
            bone = joints[:, child] - joints[:, parent]
            bone = bone / np.maximum(np.linalg.norm(bone, axis=-1, keepdims=True), 1e-12)
            swing = _rotation_between(np.broadcast_to(rest[child], bone.shape), bone)
            rotations[:, child] = np.swapaxes(accumulated, -1, -2) @ swing
            accumulated = swing
    return rotations


def joints_to_features(joints: np.ndarray, fps: float = REFERENCE_FPS, source: str = "joints") -> np.ndarray:
    """HumanML3D features [N-1,263] float32 of joint positions [N,22,3] (y up, metres).

    `fps` only scales the foot-contact threshold so that contacts mean the same foot speed at any
    frame rate (pass 60 for AIST++); the velocity channels stay per frame of the input. Bad input
    raises MotionFormatError naming `source`.
    """
    positions = canonicalize_joints(joints, source)
    facing = facing_angle(positions)
    rot = yaw_matrix(facing)  # world -> facing frame, [N,3,3]

    root_step = positions[1:, 0] - positions[:-1, 0]
    root_linear_velocity = np.einsum("nij,nj->ni", rot[1:], root_step)[:, [0, 2]]
    turn = np.angle(np.exp(1j * (facing[1:] - facing[:-1])))  # wrapped to (-pi, pi]
    root_rot_velocity = turn / 2.0  # HumanML3D stores the quaternion half-angle
    root_height = positions[:-1, 0, 1:2]

    relative = positions.copy()
    relative[..., [0, 2]] -= positions[:, :1, [0, 2]]
    ric = np.einsum("nij,nkj->nki", rot, relative)[:-1, 1:].reshape(len(positions) - 1, -1)

    rotations = local_rotations(positions, facing)[:-1, 1:]
    rot6d = np.concatenate([rotations[..., :, 0], rotations[..., :, 1]], axis=-1).reshape(len(positions) - 1, -1)

    steps = positions[1:] - positions[:-1]
    local_velocity = np.einsum("nij,nkj->nki", rot[:-1], steps).reshape(len(positions) - 1, -1)

    threshold = FOOT_CONTACT_THRESHOLD * (REFERENCE_FPS / fps) ** 2
    contacts = [(steps[:, foot] ** 2).sum(-1) < threshold for foot in (LEFT_FOOT, RIGHT_FOOT)]
    foot_contacts = np.concatenate(contacts, axis=-1).astype(np.float64)

    features = np.concatenate(
        [root_rot_velocity[:, None], root_linear_velocity, root_height, ric, rot6d, local_velocity, foot_contacts],
        axis=-1,
    )
    return features.astype(np.float32)


def _turn_about_y(vectors: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate vectors [...,3] about +y by `angle` (broadcast against vectors[..., 0])."""
    cos, sin = angle.cos(), angle.sin()
    x, y, z = vectors.unbind(-1)
    return torch.stack([cos * x + sin * z, y, cos * z - sin * x], dim=-1)


def recover_root(features):
    """Root facing yaw [...,N] and root position [...,N,3] integrated from the root channels.

    Accepts numpy arrays (returns float64 numpy) or torch tensors (returns tensors, differentiable).
    """
    if not isinstance(features, torch.Tensor):
        facing, root = recover_root(torch.from_numpy(np.asarray(features, dtype=np.float64)))
        return facing.numpy(), root.numpy()
    facing = 2.0 * torch.cumsum(F.pad(features[..., :-1, 0], (1, 0)), dim=-1)
    steps = F.pad(features[..., :-1, 1:3], (0, 0, 1, 0))  # x, z of the step that ends at each frame
    steps = torch.stack([steps[..., 0], torch.zeros_like(steps[..., 0]), steps[..., 1]], dim=-1)
    position = torch.cumsum(_turn_about_y(steps, -facing), dim=-2)
    position = torch.cat([position[..., :1], features[..., 3:4], position[..., 2:]], dim=-1)
    return facing, position


def features_to_joints(features):
    """Joint positions [...,N,22,3] from features [...,N,263] (HumanML3D ``recover_from_ric``).

    numpy in -> float32 numpy out (computed in float64); torch in -> torch out in the input's dtype,
    on its device and differentiable.
    """
    if not isinstance(features, torch.Tensor):
        features = np.asarray(features, dtype=np.float64)
    if features.shape[-1] != MOTION_FEATURE_DIM:
        raise MotionFormatError(
            f"expected motion features [...,N,{MOTION_FEATURE_DIM}], got shape {list(features.shape)}"
        )
    if not isinstance(features, torch.Tensor):
        return features_to_joints(torch.from_numpy(features)).numpy().astype(np.float32)
    facing, root = recover_root(features)
    ric = features[..., RIC_POSITIONS].unflatten(-1, (NUM_JOINTS - 1, 3))
    joints = _turn_about_y(ric, -facing.unsqueeze(-1))
    joints = joints + torch.stack([root[..., 0], torch.zeros_like(root[..., 0]), root[..., 2]], dim=-1).unsqueeze(-2)
    return torch.cat([root.unsqueeze(-2), joints], dim=-2)
