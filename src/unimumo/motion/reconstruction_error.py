"""Motion reconstruction metrics: MPJPE in millimetres on 22-joint positions (the one implementation, used by
the VQ-VAE's training output and by evaluation)."""

from __future__ import annotations

import numpy as np
import torch

from unimumo.motion.humanml3d_features import features_to_joints


def mpjpe_mm(predicted, target, mask=None, root_relative: bool = False):
    """Mean per-joint position error (mm) between joints [...,N,22,3] given in metres.

    `mask` [...,N] selects the valid frames; with `root_relative` both skeletons are first
    translated so that their root joints coincide (pose error without trajectory drift).
    numpy in -> a float (computed in float64); torch in -> a 0-d tensor on the inputs' device, in their dtype.
    """
    if not isinstance(predicted, torch.Tensor):
        predicted = torch.from_numpy(np.asarray(predicted, dtype=np.float64))
        target = torch.from_numpy(np.asarray(target, dtype=np.float64))
        mask = None if mask is None else torch.from_numpy(np.asarray(mask, dtype=bool))
        return float(mpjpe_mm(predicted, target, mask, root_relative))
    if predicted.shape != target.shape or predicted.shape[-1] != 3:
        raise ValueError(
            f"MPJPE needs two joint arrays of equal shape [...,J,3], got {tuple(predicted.shape)} and "
            f"{tuple(target.shape)}"
        )
    if root_relative:
        predicted, target = predicted - predicted[..., :1, :], target - target[..., :1, :]
    error = (predicted - target).norm(dim=-1).mean(-1)  # [...,N]
    if mask is None:
        return 1000.0 * error.mean()
    mask = mask.to(device=error.device, dtype=torch.bool)
    if not mask.any():
        raise ValueError("MPJPE mask selects no frame")
    return 1000.0 * error[mask].mean()


def feature_mpjpe_mm(predicted, target, mask=None, root_relative: bool = False):
    """MPJPE (mm) between the joints recovered from denormalised features [...,N,263] (e.g. a VQ-VAE
    reconstruction and its input); velocities are integrated per clip, so padded frames must come last.
    numpy in -> a float; torch in -> a 0-d tensor (see `mpjpe_mm`)."""
    return mpjpe_mm(features_to_joints(predicted), features_to_joints(target), mask, root_relative)
