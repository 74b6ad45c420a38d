"""Write 22-joint positions [N,22,3] as a BVH animation (Biovision hierarchy; units: metres, y up).

BVH stores rotations, so joint rotations are recovered from positions: every joint with children
gets the global rotation that carries its rest-pose child offsets (the SMPL skeleton of
`unimumo.motion.skeleton`) onto the observed child bones - the least-squares rotation (Kabsch)
when it has several children, the smallest rotation from its parent's frame when it has one.
Bone lengths are the motion's mean bone lengths; the five leaf joints (feet, head, wrists) become
End Sites. For motions with rigid bones (e.g. SMPL forward kinematics) the BVH reproduces the
joint positions exactly; otherwise bone directions are kept and lengths averaged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from unimumo.constants import NUM_JOINTS
from unimumo.motion.skeleton import JOINT22_OFFSETS, JOINT22_PARENTS, SMPL_JOINT_NAMES, validate_joints
from unimumo.utils.io import atomic_write_text

CHILDREN = {j: [c for c in range(NUM_JOINTS) if JOINT22_PARENTS[c] == j] for j in range(NUM_JOINTS)}
EULER_ORDER = "ZXY"  # intrinsic: R = Rz Rx Ry, i.e. "Zrotation Xrotation Yrotation"


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _kabsch(rest: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Rotations [N,3,3] best mapping rest directions [C,3] onto current directions [N,C,3]."""
    covariance = np.einsum("ci,ncj->nij", rest, current)
    u, _, vt = np.linalg.svd(covariance)
    sign = np.sign(np.linalg.det(np.swapaxes(vt, 1, 2) @ np.swapaxes(u, 1, 2)))
    correction = np.broadcast_to(np.eye(3), u.shape).copy()
    correction[:, 2, 2] = sign
    return np.swapaxes(vt, 1, 2) @ correction @ np.swapaxes(u, 1, 2)


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations [N,3,3] turning unit vectors a [N,3] into unit vectors b [N,3]."""
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis, axis=-1), np.clip((a * b).sum(-1), -1.0, 1.0)
    fallback = np.cross(a, np.where(np.abs(a[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]]))  # for opposite vectors
    axis = np.where((sin < 1e-9)[:, None], _unit(fallback), axis / np.maximum(sin, 1e-12)[:, None])
    return Rotation.from_rotvec(axis * np.arctan2(sin, cos)[:, None]).as_matrix()


def global_rotations(joints: np.ndarray) -> dict[int, np.ndarray]:
    """Global rotation [N,3,3] of every joint that has children, parents before children."""
    rotations: dict[int, np.ndarray] = {}
    for joint in range(NUM_JOINTS):
        children = CHILDREN[joint]
        if not children:
            continue
        current = _unit(joints[:, children] - joints[:, joint : joint + 1])
        rest = _unit(JOINT22_OFFSETS[children])
        if len(children) > 1:
            rotations[joint] = _kabsch(rest, current)
        else:
            parent_rotation = rotations[JOINT22_PARENTS[joint]]
            carried = parent_rotation @ rest[0]
            rotations[joint] = _rotation_between(carried, current[:, 0]) @ parent_rotation
    return rotations


def bvh_text(joints, fps: float) -> str:
    """The BVH document of a motion [N,22,3] sampled at `fps`."""
    joints = validate_joints(joints, min_frames=1)
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, JOINT22_PARENTS[1:]], axis=-1).mean(axis=0)
    offsets = np.vstack([np.zeros(3), _unit(JOINT22_OFFSETS[1:]) * lengths[:, None]])
    rotations = global_rotations(joints)
    hierarchy, channels = [], []

    def emit(joint: int, depth: int) -> None:
        pad = "  " * depth
        offset = " ".join(f"{v:.6f}" for v in offsets[joint])
        if not CHILDREN[joint]:
            hierarchy.extend([f"{pad}End Site", f"{pad}{{", f"{pad}  OFFSET {offset}", f"{pad}}}"])
            return
        kind = "ROOT" if joint == 0 else "JOINT"
        hierarchy.extend([f"{pad}{kind} {SMPL_JOINT_NAMES[joint]}", f"{pad}{{", f"{pad}  OFFSET {offset}"])
        if joint == 0:
            hierarchy.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
            channels.append(joints[:, 0])
            local = rotations[0]
        else:
            hierarchy.append(f"{pad}  CHANNELS 3 Zrotation Xrotation Yrotation")
            local = np.swapaxes(rotations[JOINT22_PARENTS[joint]], 1, 2) @ rotations[joint]
        channels.append(Rotation.from_matrix(local).as_euler(EULER_ORDER, degrees=True))
        for child in CHILDREN[joint]:
            emit(child, depth + 1)
        hierarchy.append(f"{pad}}}")

    emit(0, 0)
    values = np.concatenate(channels, axis=1)
    frames = "\n".join(" ".join(f"{v:.6f}" for v in row) for row in values)
    motion = f"MOTION\nFrames: {len(joints)}\nFrame Time: {1.0 / fps:.8f}\n{frames}\n"
    return "HIERARCHY\n" + "\n".join(hierarchy) + "\n" + motion


def write_bvh(path: str | Path, joints, fps: float) -> None:
    atomic_write_text(path, bvh_text(joints, fps))
