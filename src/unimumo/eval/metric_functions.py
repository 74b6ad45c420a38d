"""Motion-quality metrics: Frechet distance (FID_k / FID_m), diversity (Div_k / Div_m) and PFC.

* Frechet distance between Gaussians fitted to two feature sets (Dowson & Landau 1982; FID,
  Heusel et al. NeurIPS 2017):  |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2).
  For dance (Bailando, Li et al. CVPR 2022) both sets are first normalised with the mean and
  standard deviation of the ground-truth features.
* Diversity (Bailando): the mean Euclidean distance over all distinct pairs of the (normalised)
  generated features.
* PFC, physical foot contact (EDGE, Tseng et al. CVPR 2023): the frame mean of
  a_root * min(v_left_ankle, v_left_foot) * min(v_right_ankle, v_right_foot), where a_root is the
  root acceleration (upward component clamped at 0) divided by its maximum over the sequence and
  v the horizontal foot speeds; reported x 10^4.

tr((S1 S2)^1/2) is computed without `scipy.linalg.sqrtm`: the eigenvalues of S1 S2 are those of
the symmetric matrix S1^1/2 S2 S1^1/2, whose square roots sum to the trace. Round-off can make an
eigenvalue slightly negative (that is where sqrtm's complex residue comes from): such tiny
imaginary parts are clipped to zero, a large one (an input that is not a covariance) raises
`ComplexResidueError`. Singular covariances (fewer samples than features, constant or duplicated
features) need no regularisation on this route.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg
from scipy.spatial.distance import pdist

from unimumo.errors import UniMuMoError
from unimumo.eval.dance_features import HORIZONTAL_AXES, UP_AXIS, J
from unimumo.motion.skeleton import validate_joints

UPSTREAM_STD_EPSILON = 1e-10
UPSTREAM_SQRTM_OFFSET = 1e-5
IMAG_TOLERANCE = 1e-3  # largest tolerated |imaginary part| of a square root, relative to the largest real one
PFC_REFERENCE_FPS = 30.0  # EDGE measures foot displacement per frame at 30 fps
PFC_SCALE = 1e4
LEFT_FOOT = (J["left_ankle"], J["left_foot"])
RIGHT_FOOT = (J["right_ankle"], J["right_foot"])


class ComplexResidueError(UniMuMoError, ValueError):
    """A matrix square root has an imaginary part too large to be round-off."""

    kind = "metric error"


def _real_sqrt_eigenvalues(eigenvalues: np.ndarray, what: str, tolerance: float) -> np.ndarray:
    """Square roots of real eigenvalues; negative ones are round-off if sqrt(-lambda) is tiny, else an error."""
    scale = np.sqrt(max(float(np.abs(eigenvalues).max(initial=0.0)), np.finfo(np.float64).tiny))
    imaginary = np.sqrt(np.clip(-eigenvalues, 0.0, None))
    if imaginary.max(initial=0.0) > tolerance * scale:
        raise ComplexResidueError(
            f"{what}: square root has an imaginary part {imaginary.max():.3g} "
            f"(> {tolerance:g} x {scale:.3g}); the input is not a positive semi-definite covariance"
        )
    return np.sqrt(np.clip(eigenvalues, 0.0, None))


def _symmetric(matrix, name: str) -> np.ndarray:
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.float64))
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name}: expected a square covariance matrix, got shape {list(matrix.shape)}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name}: covariance contains NaN or infinite values")
    return (matrix + matrix.T) / 2.0


def trace_sqrt_product(sigma1, sigma2, tolerance: float = IMAG_TOLERANCE) -> float:
    """tr((S1 S2)^1/2) for symmetric positive semi-definite S1, S2 (always a real float)."""
    sigma1, sigma2 = _symmetric(sigma1, "sigma1"), _symmetric(sigma2, "sigma2")
    values, vectors = np.linalg.eigh(sigma1)
    root1 = (vectors * _real_sqrt_eigenvalues(values, "sigma1", tolerance)) @ vectors.T
    similar = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((similar + similar.T) / 2.0)
    return float(_real_sqrt_eigenvalues(eigenvalues, "sigma1 @ sigma2", tolerance).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2, tolerance: float = IMAG_TOLERANCE) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2); a finite, non-negative real number."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    if mu1.shape != mu2.shape:
        raise ValueError(f"means have different shapes {list(mu1.shape)} and {list(mu2.shape)}")
    sigma1, sigma2 = _symmetric(sigma1, "sigma1"), _symmetric(sigma2, "sigma2")
    if sigma1.shape != (len(mu1), len(mu1)) or sigma2.shape != sigma1.shape:
        raise ValueError(
            f"covariances {list(sigma1.shape)} / {list(sigma2.shape)} do not match means of size {len(mu1)}"
        )
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2, tolerance)
    return max(float(value), 0.0)  # a squared distance: a negative value is round-off


def _feature_matrix(features, name: str) -> np.ndarray:
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or len(array) < 2:
        raise ValueError(f"{name}: expected a [num_samples >= 2, num_features] array, got shape {list(array.shape)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: features contain NaN or infinite values")
    return array


def gaussian_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of a [num_samples, num_features] feature matrix."""
    array = _feature_matrix(features, "features")
    return array.mean(axis=0), np.atleast_2d(np.cov(array, rowvar=False))


def normalise_by_reference(reference, *others) -> list[np.ndarray]:
    """Standardise every set with the reference set's per-feature mean and (population) std.

    Features whose reference std is zero are only centred: dividing by `std + 1e-10`, as the
    Bailando code does, would blow a constant ground-truth feature up by 10^10.
    """
    reference = _feature_matrix(reference, "reference features")
    mean, std = reference.mean(axis=0), reference.std(axis=0)
    std = np.where(std > 0.0, std, 1.0)
    arrays = [reference] + [_feature_matrix(other, "features") for other in others]
    for array in arrays[1:]:
        if array.shape[1] != reference.shape[1]:
            raise ValueError(f"feature sizes differ: {array.shape[1]} vs reference {reference.shape[1]}")
    return [(array - mean) / std for array in arrays]


def fid(generated, reference) -> float:
    """FID (Bailando protocol): Frechet distance after normalising both sets by the reference statistics."""
    reference, generated = normalise_by_reference(reference, generated)
    return frechet_distance(*gaussian_statistics(generated), *gaussian_statistics(reference))


def diversity(features) -> float:
    """Mean Euclidean distance over all distinct pairs of feature vectors."""
    return float(pdist(_feature_matrix(features, "features")).mean())


def physical_foot_contact(joints, fps: float) -> float:
    """EDGE's PFC of one sequence (x 10^4; lower is better). Zero for a motion whose root never accelerates.

    Foot speeds are horizontal displacements per 1/30 s, so a sequence gives EDGE's number at any frame rate.
    """
    array = validate_joints(joints)
    root_velocity = np.diff(array[:, 0], axis=0) * fps
    root_acceleration = np.diff(root_velocity, axis=0) * fps  # [N-2,3], frames 1..N-2
    root_acceleration[:, UP_AXIS] = np.maximum(root_acceleration[:, UP_AXIS], 0.0)
    magnitude = np.linalg.norm(root_acceleration, axis=-1)
    peak = magnitude.max()
    if peak <= 0.0:
        return 0.0
    feet = array[:, list(LEFT_FOOT + RIGHT_FOOT)][..., list(HORIZONTAL_AXES)]
    foot_speed = np.linalg.norm(feet[2:] - feet[1:-1], axis=-1) * (fps / PFC_REFERENCE_FPS)  # [N-2,4]
    left, right = foot_speed[:, :2].min(axis=1), foot_speed[:, 2:].min(axis=1)
    return float((left * right * magnitude / peak).mean() * PFC_SCALE)


def normalise_upstream(reference: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(reference - mean) / (std + 1e-10) and the same for `other`, in the features' own dtype, as upstream."""
    mean, std = reference.mean(axis=0), reference.std(axis=0)
    return (reference - mean) / (std + UPSTREAM_STD_EPSILON), (other - mean) / (std + UPSTREAM_STD_EPSILON)


def fid_sqrtm(generated: np.ndarray, reference: np.ndarray) -> float:
    """Frechet distance of two already normalised sets by the upstream route (scipy's sqrtm; real part kept)."""
    mu1, mu2 = np.mean(generated, axis=0), np.mean(reference, axis=0)
    sigma1, sigma2 = np.cov(generated, rowvar=False), np.cov(reference, rowvar=False)
    with warnings.catch_warnings():  # upstream asks for no singularity warning (disp=False)
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(sigma1.dot(sigma2))
        if not np.isfinite(root).all():
            offset = np.eye(sigma1.shape[0]) * UPSTREAM_SQRTM_OFFSET
            root = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    diff = mu1 - mu2
    value = diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(root)
    return float(np.real(value))


def foot_contact_upstream(joints: np.ndarray, fps: float, up_axis: int = UP_AXIS) -> float:
    """EDGE's PFC (x 10^4) of one sequence at its own frame rate: per-frame foot displacements; NaN for a root
    that never accelerates (the upstream code divides 0 by 0). `up_axis`: 1 for y-up joints, 2 for z-up."""
    flat = [axis for axis in range(3) if axis != up_axis]
    step = 1 / fps
    root_velocity = (joints[1:, 0, :] - joints[:-1, 0, :]) / step
    root_acceleration = (root_velocity[1:] - root_velocity[:-1]) / step
    root_acceleration[:, up_axis] = np.maximum(root_acceleration[:, up_axis], 0)
    magnitude = np.linalg.norm(root_acceleration, axis=-1)
    peak = magnitude.max()
    if not peak > 0:
        return float("nan")
    magnitude /= peak
    feet = joints[:, list(LEFT_FOOT + RIGHT_FOOT)]
    foot_speed = np.linalg.norm(feet[2:, :, flat] - feet[1:-1, :, flat], axis=-1)
    minima = np.zeros((len(foot_speed), 2))  # float64 whatever the input dtype, as upstream
    minima[:, 0] = np.minimum(foot_speed[:, 0], foot_speed[:, 1])
    minima[:, 1] = np.minimum(foot_speed[:, 2], foot_speed[:, 3])
    return float((minima[:, 0] * minima[:, 1] * magnitude).mean() * PFC_SCALE)
