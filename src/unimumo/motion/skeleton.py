"""SMPL-24 standard skeleton and forward kinematics to the 22 HumanML3D joints.

The rest-pose offsets are those of the neutral SMPL body with mean shape (metres, y up,
body facing +z, its left side on +x). They are embedded here so that no body-model file is
ever needed. Forward kinematics follows the SMPL convention: each joint's axis-angle rotation
is expressed in its parent's frame and the root is placed at ``trans / scaling`` (AIST++
stores translations in its own scaled units together with ``smpl_scaling``).
"""

from __future__ import annotations

import numpy as np

from unimumo.constants import NUM_JOINTS

SMPL_JOINT_NAMES = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)
SMPL_PARENTS = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21], dtype=np.int64
)
SMPL_OFFSETS = np.array(
    [
        [0.0, 0.0, 0.0],
        [0.05858135, -0.08228004, -0.01766408],
        [-0.06030973, -0.09051332, -0.01354254],
        [0.00443945, 0.12440352, -0.03838522],
        [0.04345142, -0.38646945, 0.008037],
        [-0.04325663, -0.38368791, -0.00484304],
        [0.00448844, 0.1379564, 0.02682033],
        [-0.01479032, -0.42687458, -0.037428],
        [0.01905555, -0.4200455, -0.03456167],
        [-0.00226458, 0.05603239, 0.00285505],
        [0.04105436, -0.06028581, 0.12204243],
        [-0.03483987, -0.06210566, 0.13032329],
        [-0.0133902, 0.21163553, -0.03346758],
        [0.07170245, 0.11399969, -0.01889817],
        [-0.08295366, 0.11247234, -0.02370739],
        [0.01011321, 0.08893734, 0.05040987],
        [0.12292141, 0.04520509, -0.019046],
        [-0.11322832, 0.04685326, -0.00847207],
        [0.2553319, -0.01564902, -0.02294649],
        [-0.26012748, -0.01436928, -0.03126873],
        [0.26570925, 0.01269811, -0.00737473],
        [-0.26910836, 0.00679372, -0.00602676],
        [0.08669055, -0.01063603, -0.01559429],
        [-0.0887537, -0.00865157, -0.01010708],
    ],
    dtype=np.float64,
)
NUM_SMPL_JOINTS = len(SMPL_PARENTS)

# The 22-joint HumanML3D skeleton is the SMPL skeleton without the two hand joints.
# Chains as used by HumanML3D: right leg, left leg, spine + head, right arm, left arm.
KINEMATIC_CHAINS = ((0, 2, 5, 8, 11), (0, 1, 4, 7, 10), (0, 3, 6, 9, 12, 15), (9, 14, 17, 19, 21), (9, 13, 16, 18, 20))
JOINT22_PARENTS = SMPL_PARENTS[:NUM_JOINTS]
JOINT22_OFFSETS = SMPL_OFFSETS[:NUM_JOINTS]


def validate_joints(
    joints, source: str = "joints", min_frames: int = 3, joint_counts: tuple[int, ...] = (NUM_JOINTS,), dtype=np.float64
) -> np.ndarray:
    """Check a finite [N,J,3] joint-position array (J in `joint_counts`) with at least `min_frames` frames;
    returns it as a `dtype` array."""
    array = np.asarray(joints, dtype=dtype)
    if array.ndim != 3 or array.shape[1] not in joint_counts or array.shape[2] != 3:
        shapes = " or ".join(f"[N,{count},3]" for count in joint_counts)
        raise ValueError(f"{source}: expected joint positions {shapes}, got shape {list(array.shape)}")
    if len(array) < min_frames:
        raise ValueError(f"{source}: needs at least {min_frames} frames, got {len(array)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{source}: joint positions contain NaN or infinite values")
    return array


def axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """Rodrigues' formula: [..., 3] axis-angle vectors -> [..., 3, 3] rotation matrices."""
    axis_angle = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(axis_angle, axis=-1, keepdims=True)
    axis = axis_angle / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zeros = np.zeros_like(x)
    cross = np.stack([zeros, -z, y, z, zeros, -x, -y, x, zeros], axis=-1).reshape(*axis.shape[:-1], 3, 3)
    sin, cos = np.sin(angle)[..., None], np.cos(angle)[..., None]
    eye = np.broadcast_to(np.eye(3), cross.shape)
    return eye + sin * cross + (1.0 - cos) * (cross @ cross)


def smpl_forward_kinematics(poses: np.ndarray, trans: np.ndarray, scaling: float = 1.0) -> np.ndarray:
    """SMPL-24 joint positions [N,24,3] (metres) from axis-angle poses [N,72] or [N,24,3] and trans [N,3].

    The root joint is placed at ``trans / scaling``; every other joint at its parent's position
    plus the parent's global rotation applied to the rest-pose offset.
    """
    poses = np.asarray(poses, dtype=np.float64)
    trans = np.asarray(trans, dtype=np.float64)
    if poses.ndim == 2 and poses.shape[1] == 3 * NUM_SMPL_JOINTS:
        poses = poses.reshape(len(poses), NUM_SMPL_JOINTS, 3)
    if poses.ndim != 3 or poses.shape[1:] != (NUM_SMPL_JOINTS, 3):
        raise ValueError(f"SMPL poses must have shape [N,72] or [N,24,3], got {list(poses.shape)}")
    if trans.shape != (len(poses), 3):
        raise ValueError(f"SMPL trans must have shape [{len(poses)},3] to match poses, got {list(trans.shape)}")
    if not scaling or not np.isfinite(scaling):
        raise ValueError(f"SMPL scaling must be a finite non-zero number, got {scaling!r}")
    local = axis_angle_to_matrix(poses)
    rotations = np.empty_like(local)
    positions = np.empty((len(poses), NUM_SMPL_JOINTS, 3))
    rotations[:, 0] = local[:, 0]
    positions[:, 0] = trans / scaling
    for joint in range(1, NUM_SMPL_JOINTS):
        parent = SMPL_PARENTS[joint]
        rotations[:, joint] = rotations[:, parent] @ local[:, joint]
        positions[:, joint] = positions[:, parent] + rotations[:, parent] @ SMPL_OFFSETS[joint]
    return positions


def smpl_to_joints22(poses: np.ndarray, trans: np.ndarray, scaling: float = 1.0) -> np.ndarray:
    """The 22 HumanML3D joints [N,22,3] float32 (y up, metres) of an SMPL sequence."""
    return smpl_forward_kinematics(poses, trans, scaling)[:, :NUM_JOINTS].astype(np.float32)
