"""Feature normalisation statistics (mean/std per channel) computed from training clips."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from unimumo.constants import MOTION_FEATURE_DIM
from unimumo.motion.humanml3d_features import validate_features

MIN_STD = 1e-3  # channels that never vary (e.g. a foot that is always in contact) keep unit-ish scale


def compute_feature_stats(clips: Iterable[np.ndarray], min_std: float = MIN_STD) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std [263] float32 over every frame of `clips` (each [N,263]).

    Accumulated in float64 in one pass; std is floored at `min_std` so normalisation never divides by ~0.
    """
    count, total, total_sq = 0, np.zeros(MOTION_FEATURE_DIM), np.zeros(MOTION_FEATURE_DIM)
    for index, clip in enumerate(clips):
        clip = validate_features(clip, f"training clip {index}", min_frames=1).astype(np.float64)
        count += len(clip)
        total += clip.sum(0)
        total_sq += (clip**2).sum(0)
    if count == 0:
        raise ValueError("compute_feature_stats needs at least one clip with at least one frame")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return mean.astype(np.float32), np.maximum(std, min_std).astype(np.float32)
