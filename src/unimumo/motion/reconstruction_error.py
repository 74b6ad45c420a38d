"""Motion reconstruction metrics: MPJPE in millimetres on 22-joint positions."""
from __future__ import annotations

import numpy as np

from unimumo.motion.humanml3d_features import features_to_joints


def mpjpe_mm(predicted: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None, root_relative: bool = False) -> float:
    """Mean per-joint position error (mm) between joints [...,N,22,3] given in metres.

    `mask` [...,N] selects the valid frames; with `root_relative` both skeletons are first
    translated so that their root joints coincide (pose error without trajectory drift).
    """
    predicted, target = np.asarray(predicted, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if predicted.shape != target.shape or predicted.shape[-1] != 3:
        raise ValueError(f"MPJPE needs two joint arrays of equal shape [...,J,3], got {predicted.shape} and {target.shape}")
    if root_relative:
        predicted, target = predicted - predicted[..., :1, :], target - target[..., :1, :]
    error = np.linalg.norm(predicted - target, axis=-1).mean(-1)  # [...,N]
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            raise ValueError("MPJPE mask selects no frame")
        return float(error[mask].mean() * 1000.0)
    return float(error.mean() * 1000.0)


def feature_mpjpe_mm(predicted: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None, root_relative: bool = False) -> float:
    """MPJPE (mm) between the joints recovered from denormalised features [...,N,263] (e.g. a VQ-VAE
    reconstruction and its input); velocities are integrated per clip, so padded frames must come last."""
    return mpjpe_mm(features_to_joints(predicted), features_to_joints(target), mask, root_relative)
