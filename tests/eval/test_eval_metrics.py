"""Frechet distance, diversity and PFC against hand-computed cases; no complex residue ever escapes."""

import numpy as np
import pytest
import scipy.linalg

from unimumo.eval.dance_features import J, rest_positions
from unimumo.eval.metric_functions import (
    ComplexResidueError,
    diversity,
    fid,
    frechet_distance,
    gaussian_statistics,
    normalise_by_reference,
    physical_foot_contact,
    trace_sqrt_product,
)


def test_identical_sets_have_zero_fid():
    features = np.random.default_rng(0).normal(size=(50, 6))
    assert fid(features, features) == pytest.approx(0.0, abs=1e-9)


def test_known_mean_shift_gives_squared_shift():
    features = np.random.default_rng(1).normal(size=(40, 3))
    shift = np.array([1.0, -2.0, 0.5])
    mu, sigma = gaussian_statistics(features)
    assert frechet_distance(mu + shift, sigma, mu, sigma) == pytest.approx(1.0 + 4.0 + 0.25)


def test_fid_normalises_by_reference_statistics():
    reference = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])  # mean (1,1), population std (1,1)
    generated = reference + np.array([3.0, 0.0])
    assert fid(generated, reference) == pytest.approx(9.0)
    normalised_reference, normalised = normalise_by_reference(reference, generated)
    np.testing.assert_allclose(normalised_reference.mean(0), 0.0)
    np.testing.assert_allclose(normalised.mean(0), [3.0, 0.0])


def test_one_dimensional_gaussians_by_hand():
    # N(0,1) vs N(0,4): 1 + 4 - 2 * sqrt(4) = 1 = (sigma1 - sigma2)^2
    assert frechet_distance([0.0], [[1.0]], [0.0], [[4.0]]) == pytest.approx(1.0)


def test_singular_covariances():
    # rank one: 1 + 4 - 2 * 2 = 1
    assert frechet_distance([0, 0], np.diag([1.0, 0.0]), [0, 0], np.diag([4.0, 0.0])) == pytest.approx(1.0)
    # a duplicated and a constant feature column: identical sets still give 0
    base = np.random.default_rng(2).normal(size=(30, 2))
    features = np.column_stack([base, base[:, 0], np.zeros(30)])
    assert fid(features, features) == pytest.approx(0.0, abs=1e-9)


def test_near_singular_covariance_leaves_no_complex_residue():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 20)), rng.normal(size=(5, 20)) + 0.3  # 5 samples in 20 dims: rank 4
    (mu1, s1), (mu2, s2) = gaussian_statistics(a), gaussian_statistics(b)
    reference = scipy.linalg.sqrtm(s1 @ s2)
    assert np.iscomplexobj(reference) and np.abs(reference.imag).max() > 0  # sqrtm itself leaks
    value = frechet_distance(mu1, s1, mu2, s2)
    assert type(value) is float and np.isfinite(value)
    assert trace_sqrt_product(s1, s2) == pytest.approx(np.trace(reference).real, rel=1e-6)


def test_large_imaginary_part_raises():
    not_a_covariance = np.diag([1.0, -1.0])
    with pytest.raises(ComplexResidueError, match="imaginary part"):
        frechet_distance([0, 0], not_a_covariance, [0, 0], np.eye(2))


def test_bad_feature_sets_raise():
    with pytest.raises(ValueError, match="NaN"):
        fid(np.full((4, 2), np.nan), np.ones((4, 2)))
    with pytest.raises(ValueError, match="feature sizes differ"):
        fid(np.ones((4, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="num_samples >= 2"):
        diversity(np.ones((1, 3)))


def test_diversity_is_mean_pairwise_distance():
    points = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0]])  # distances 5, 3, 4
    assert diversity(points) == pytest.approx(4.0)


def _walking_feet(fps, left_step, right_step, num_frames=12):
    """Root accelerating forward uniformly (normalised acceleration 1), feet sliding at constant speeds."""
    joints = np.repeat(rest_positions()[None], num_frames, axis=0)
    frames = np.arange(num_frames)[:, None]
    joints[:, :, 2] += 0.5 * (frames / fps) ** 2  # every joint, root included: a = 1 m/s^2 along z
    for joint, step in (
        (J["left_ankle"], left_step),
        (J["left_foot"], left_step),
        (J["right_ankle"], right_step),
        (J["right_foot"], right_step),
    ):
        joints[:, joint, 0] += step * frames[:, 0]  # sideways slide per frame, on top of the forward motion
    return joints


def test_pfc_by_hand():
    # horizontal foot speed includes the forward component; compute it exactly per frame
    fps = 30.0
    joints = _walking_feet(fps, 0.01, 0.02)
    forward = np.diff(0.5 * (np.arange(12) / fps) ** 2)[1:]  # frames 2..N-1 minus the previous
    expected = np.mean(np.hypot(0.01, forward) * np.hypot(0.02, forward)) * 1e4
    assert physical_foot_contact(joints, fps) == pytest.approx(expected)


def test_pfc_is_frame_rate_independent_and_zero_without_root_acceleration():
    slow = _walking_feet(30.0, 0.01, 0.02, num_frames=30)
    fast = _walking_feet(60.0, 0.005, 0.01, num_frames=60)  # same physical speeds at twice the frame rate
    assert physical_foot_contact(fast, 60.0) == pytest.approx(physical_foot_contact(slow, 30.0), rel=0.05)
    still = np.repeat(rest_positions()[None], 10, axis=0)
    assert physical_foot_contact(still, 30.0) == 0.0
