"""Frame-rate conversion of motion: AIST++ 60 fps and HumanML3D/DanceDB 20 fps <-> the motion VQ-VAE's frame
rate (`MotionVQVAEConfig.frame_rate` = 50 codes/s x frames per code).

Frame i of a clip at `fps` is taken to be at time i / fps; the resampled clip samples the same
time axis at the new rate by linear interpolation (clamped at the last frame), so a clip keeps its
duration: N frames at `src_fps` become round(N * dst_fps / src_fps) frames at `dst_fps`.
"""

from __future__ import annotations

import numpy as np

from unimumo.motion.humanml3d_features import (
    FOOT_CONTACTS,
    LOCAL_VELOCITIES,
    ROOT_LINEAR_VELOCITY,
    ROOT_ROT_VELOCITY,
    features_to_joints,
    recover_root,
    validate_features,
    yaw_matrix,
)


def resampled_length(num_frames: int, src_fps: float, dst_fps: float) -> int:
    """round(num_frames * dst_fps / src_fps): the frame count of the same duration at `dst_fps`."""
    return int(round(num_frames * dst_fps / src_fps))


def resample_motion(x: np.ndarray, src_fps: float, dst_fps: float, num_frames: int | None = None) -> np.ndarray:
    """Linearly resample [N,...] frames from `src_fps` to `dst_fps`.

    Returns round(N * dst_fps / src_fps) frames, or exactly `num_frames` if given (the time axis
    still runs at `dst_fps`; frames beyond the clip's end repeat its last frame).
    """
    if not (src_fps > 0 and dst_fps > 0):
        raise ValueError(f"frame rates must be positive, got src_fps={src_fps}, dst_fps={dst_fps}")
    x = np.asarray(x)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"cannot resample an empty clip of shape {list(x.shape)}")
    length = resampled_length(len(x), src_fps, dst_fps) if num_frames is None else int(num_frames)
    if length < 1:
        raise ValueError(f"a clip of {len(x)} frames at {src_fps} fps has no frames at {dst_fps} fps")
    return interpolate_frames(x, np.arange(length) * (src_fps / dst_fps))


def interpolate_frames(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Linear interpolation of frames x [N,...] at fractional frame `positions` (clamped to the clip)."""
    position = np.clip(positions, 0.0, len(x) - 1)
    left = np.floor(position).astype(np.int64)
    right = np.minimum(left + 1, len(x) - 1)
    weight = (position - left).reshape(-1, *([1] * (x.ndim - 1)))
    out = x[left] * (1.0 - weight) + x[right] * weight
    return out.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32)


def resample_features(
    features: np.ndarray, src_fps: float, dst_fps: float, num_frames: int | None = None, source: str = "features"
) -> np.ndarray:
    """Resample HumanML3D features [N,263] to `dst_fps` (round(N * dst / src) frames, or `num_frames`).

    Pose channels (root height, ric positions, 6D rotations) are interpolated directly. The velocity
    channels are not: the root facing, the root trajectory and the joint positions are integrated to
    world space (``features_to_joints``), interpolated there, and differentiated again at the new rate,
    so the recovered trajectory does not drift. Foot contacts describe the step from frame i to i + 1
    and are sampled half a frame later than the poses.
    """
    features = validate_features(features, source, min_frames=1).astype(np.float64)
    length = resampled_length(len(features), src_fps, dst_fps) if num_frames is None else int(num_frames)
    out = resample_motion(features, src_fps, dst_fps, length)
    ratio = src_fps / dst_fps

    # World-space state at the N + 1 frame boundaries (the last one is where the final step ends).
    facing, root = recover_root(features)
    facing = np.append(facing, facing[-1] + 2.0 * features[-1, ROOT_ROT_VELOCITY][0])
    last_root_step = yaw_matrix(-facing[-1]) @ np.array([features[-1, 1], 0.0, features[-1, 2]])
    root = np.concatenate([root, root[-1:] + last_root_step])
    joints = features_to_joints(features).astype(np.float64)
    last_steps = features[-1, LOCAL_VELOCITIES].reshape(-1, 3) @ yaw_matrix(-facing[-2]).T
    joints = np.concatenate([joints, joints[-1:] + last_steps])

    boundaries = np.arange(length + 1) * ratio
    facing = interpolate_frames(facing, boundaries)
    root = interpolate_frames(root, boundaries)
    joints = interpolate_frames(joints, boundaries)
    out[:, ROOT_ROT_VELOCITY] = (np.diff(facing) / 2.0)[:, None]
    root_steps = np.einsum("nij,nj->ni", yaw_matrix(facing[1:]), np.diff(root, axis=0))
    out[:, ROOT_LINEAR_VELOCITY] = root_steps[:, [0, 2]]
    joint_steps = np.einsum("nij,nkj->nki", yaw_matrix(facing[:-1]), np.diff(joints, axis=0))
    out[:, LOCAL_VELOCITIES] = joint_steps.reshape(length, -1)
    out[:, FOOT_CONTACTS] = interpolate_frames(features[:, FOOT_CONTACTS], (np.arange(length) + 0.5) * ratio - 0.5)
    return out.astype(np.float32)
