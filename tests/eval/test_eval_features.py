"""Kinetic and manual motion features on synthetic motions with hand-computed values."""

import numpy as np
import pytest

from unimumo.eval.dance_features import (
    HUMERUS_LENGTH,
    NUM_KINETIC_FEATURES,
    NUM_MANUAL_FEATURES,
    J,
    kinetic_features,
    manual_features,
    prepare_joints,
    rest_positions,
)


def translating(velocity, num_frames=20, fps=20.0):
    """Rest pose translated at a constant velocity (m/s)."""
    times = np.arange(num_frames) / fps
    return rest_positions()[None] + times[:, None, None] * np.asarray(velocity, float)


def test_kinetic_features_of_constant_velocity():
    features = kinetic_features(translating([3.0, 2.0, 4.0]), fps=20.0).reshape(22, 3)
    assert features.shape == (22, 3) and NUM_KINETIC_FEATURES == 66
    np.testing.assert_allclose(features[:, 0], 3.0**2 + 4.0**2)  # horizontal: x and z
    np.testing.assert_allclose(features[:, 1], 2.0**2)  # vertical: y
    np.testing.assert_allclose(features[:, 2], 0.0, atol=1e-9)  # no acceleration


def test_kinetic_features_of_uniform_acceleration_by_hand():
    # x = k^2 at 1 fps: steps 1, 3, 5; second differences 2, 2.
    joints = np.zeros((4, 22, 3))
    joints[:, :, 0] = (np.arange(4) ** 2)[:, None]
    # window 1: frame 1 averages steps {1,3} -> 2, frame 2 {1,3,5} -> 3, frame 3 {3,5} -> 4
    narrow = kinetic_features(joints, fps=1.0, window=1).reshape(22, 3)
    np.testing.assert_allclose(narrow[:, 0], (4 + 9 + 16) / 3)
    np.testing.assert_allclose(narrow[:, 1], 0.0)
    np.testing.assert_allclose(narrow[:, 2], 2.0)
    # window 2 (published): every frame averages all three steps -> 3
    wide = kinetic_features(joints, fps=1.0).reshape(22, 3)
    np.testing.assert_allclose(wide[:, 0], 9.0)
    np.testing.assert_allclose(wide[:, 2], 2.0)


def test_kinetic_features_scale_with_frame_rate():
    slow = kinetic_features(translating([1.0, 0.0, 0.0], fps=20.0), fps=20.0)
    fast = kinetic_features(translating([1.0, 0.0, 0.0], num_frames=60, fps=60.0), fps=60.0)
    np.testing.assert_allclose(slow, fast, atol=1e-9)  # same physical motion, same features


def test_manual_features_of_a_static_rest_pose():
    features = manual_features(np.repeat(rest_positions()[None], 10, axis=0), fps=20.0)
    assert features.shape == (NUM_MANUAL_FEATURES,)
    assert set(np.unique(features)) <= {0.0, 1.0}
    for fast in (12, 13, 21, 22, 31):  # hands, feet, root: not moving
        assert features[fast] == 0.0
    assert features[6] == features[7] == 0.0  # straight elbows (180 degrees) are not bent
    assert features[19] == features[20] == 0.0  # straight knees


def test_manual_features_fast_hand_and_bent_elbow():
    fps = 20.0
    joints = np.repeat(rest_positions()[None], 11, axis=0)
    speed = 2.0 * 2.5 * HUMERUS_LENGTH  # twice the "fast" threshold
    joints[6:, J["right_wrist"], 2] += speed / fps * np.arange(1, 6)  # moves during the last 5 of 10 steps
    features = manual_features(joints, fps)
    assert features[12] == pytest.approx(0.5)  # right wrist fast in half of the frames
    assert features[13] == 0.0  # left wrist still
    bent = np.repeat(rest_positions()[None], 5, axis=0)
    elbow = bent[0, J["left_elbow"]]
    bent[:, J["left_wrist"]] = elbow + np.array([0.0, 0.0, 0.25])  # forearm at 90 degrees to the upper arm
    features = manual_features(bent, fps)
    assert features[7] == 1.0 and features[6] == 0.0


def test_prepare_joints_truncates_and_centres_on_first_root():
    joints = translating([1.0, 0.0, 0.0], num_frames=30) + 5.0
    prepared = prepare_joints(joints, max_frames=12)
    assert prepared.shape == (12, 22, 3)
    np.testing.assert_allclose(prepared[0, 0], 0.0)
    np.testing.assert_allclose(prepared[5, 0], [5 / 20.0, 0.0, 0.0])


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((10, 21, 3)), "expected joint positions"),
        (np.zeros((2, 22, 3)), "at least 3 frames"),
        (np.full((5, 22, 3), np.nan), "NaN"),
    ],
)
def test_bad_joints_raise_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        kinetic_features(bad, fps=20.0)
