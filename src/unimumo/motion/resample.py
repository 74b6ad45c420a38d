"""Frame-rate conversion of motion: AIST++ 60 fps and HumanML3D/DanceDB 20 fps <-> the 50 Hz code rate.

Frame i of a clip at `fps` is taken to be at time i / fps; the resampled clip samples the same
time axis at the new rate by linear interpolation (clamped at the last frame), so a clip keeps its
duration: N frames at `src_fps` become round(N * dst_fps / src_fps) frames at `dst_fps`.
"""
from __future__ import annotations

import numpy as np

from unimumo.motion.features import FOOT_CONTACTS, VELOCITY_CHANNELS, validate_features

STEP_CHANNELS = (*VELOCITY_CHANNELS, FOOT_CONTACTS)


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
    return _interpolate(x, np.arange(length) * (src_fps / dst_fps))


def _interpolate(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
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
    """Resample HumanML3D features [N,263] and rescale their per-frame velocity channels to the new rate.

    A velocity (or foot contact) of frame i describes the step from frame i to i + 1, i.e. the time
    (i + 1/2) / fps, so those channels are sampled half a frame later than the pose channels.
    """
    features = validate_features(features, source, min_frames=1)
    out = resample_motion(features, src_fps, dst_fps, num_frames)
    steps = (np.arange(len(out)) + 0.5) * (src_fps / dst_fps) - 0.5
    for channels in STEP_CHANNELS:
        out[:, channels] = _interpolate(features[:, channels], steps)
    for channels in VELOCITY_CHANNELS:
        out[:, channels] *= src_fps / dst_fps
    return out
