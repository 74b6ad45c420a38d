"""SMPL kinematics, HumanML3D features, resampling, statistics and the synthetic dance generator."""

import numpy as np
import pytest
import torch
from scipy.signal import argrelmin

from unimumo.constants import MOTION_FEATURE_DIM
from unimumo.motion.humanml3d_features import (
    FOOT_CONTACTS,
    LOCAL_VELOCITIES,
    RIC_POSITIONS,
    ROOT_HEIGHT,
    ROOT_LINEAR_VELOCITY,
    ROOT_ROT_VELOCITY,
    ROTATIONS_6D,
    MotionFormatError,
    canonicalize_joints,
    facing_angle,
    features_to_joints,
    joints_to_features,
    validate_features,
    yaw_matrix,
)
from unimumo.motion.reconstruction_error import feature_mpjpe_mm, mpjpe_mm
from unimumo.motion.resample import resample_features, resample_motion
from unimumo.motion.skeleton import (
    JOINT22_OFFSETS,
    KINEMATIC_CHAINS,
    SMPL_OFFSETS,
    axis_angle_to_matrix,
    smpl_forward_kinematics,
    smpl_to_joints22,
)
from unimumo.motion.stats import compute_feature_stats
from unimumo.motion.synthetic_dance import synthetic_smpl_dance


def dance_joints(num_frames=180, fps=60.0, bpm=120.0, seed=0):
    return smpl_to_joints22(*synthetic_smpl_dance(num_frames, fps, bpm, seed))


def rest_joints(num_frames, trans):
    return smpl_to_joints22(np.zeros((num_frames, 72), np.float32), trans)


# -- skeleton ---------------------------------------------------------------------------------
def test_rest_pose_places_joints_at_summed_offsets_plus_scaled_translation():
    trans = np.array([[10.0, 20.0, -30.0]])
    joints = smpl_forward_kinematics(np.zeros((1, 72)), trans, scaling=10.0)
    left_ankle = trans[0] / 10.0 + SMPL_OFFSETS[1] + SMPL_OFFSETS[4] + SMPL_OFFSETS[7]
    np.testing.assert_allclose(joints[0, 7], left_ankle, atol=1e-12)
    np.testing.assert_allclose(joints[0, 0], [1.0, 2.0, -3.0], atol=1e-12)


def test_hip_rotation_turns_the_whole_leg_below_it():
    poses = np.zeros((1, 24, 3))
    poses[0, 1] = [0.0, 0.0, np.pi / 2]  # left hip, 90 degrees about z
    joints = smpl_forward_kinematics(poses, np.zeros((1, 3)))
    rot_z = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    hip = SMPL_OFFSETS[1]
    np.testing.assert_allclose(joints[0, 4], hip + rot_z @ SMPL_OFFSETS[4], atol=1e-12)
    np.testing.assert_allclose(joints[0, 7], hip + rot_z @ (SMPL_OFFSETS[4] + SMPL_OFFSETS[7]), atol=1e-12)
    np.testing.assert_allclose(joints[0, 5], SMPL_OFFSETS[2] + SMPL_OFFSETS[5], atol=1e-12)  # other leg untouched


def test_axis_angle_matrices_are_rotations():
    rotations = axis_angle_to_matrix(np.random.default_rng(0).normal(size=(50, 3)))
    np.testing.assert_allclose(
        rotations @ np.swapaxes(rotations, 1, 2), np.broadcast_to(np.eye(3), (50, 3, 3)), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-12)


def test_joints22_accepts_both_pose_layouts_and_keeps_bone_lengths():
    poses, trans = synthetic_smpl_dance(40, 20.0, 100.0, seed=3)
    joints = smpl_to_joints22(poses, trans)
    assert joints.shape == (40, 22, 3) and joints.dtype == np.float32
    # bitwise: identical arithmetic ([N,72] is reshaped to [N,24,3] before any math)
    np.testing.assert_array_equal(joints, smpl_to_joints22(poses.reshape(40, 24, 3), trans))
    for joint in range(1, 22):
        parent = [p for chain in KINEMATIC_CHAINS for p, c in zip(chain[:-1], chain[1:]) if c == joint][0]
        length = np.linalg.norm(joints[:, joint] - joints[:, parent], axis=-1)
        np.testing.assert_allclose(length, np.linalg.norm(SMPL_OFFSETS[joint]), rtol=1e-5)


def test_fk_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\[N,72\]"):
        smpl_forward_kinematics(np.zeros((5, 70)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="trans"):
        smpl_forward_kinematics(np.zeros((5, 72)), np.zeros((4, 3)))


# -- features -----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed,fps", [(0, 60.0), (1, 20.0), (2, 60.0)])
def test_positions_features_positions_round_trip(seed, fps):
    joints = dance_joints(num_frames=150, fps=fps, seed=seed)
    features = joints_to_features(joints, fps=fps)
    assert features.shape == (149, MOTION_FEATURE_DIM) and features.dtype == np.float32
    recovered = features_to_joints(features)
    expected = canonicalize_joints(joints)[:-1]
    assert np.abs(recovered - expected).max() < 1e-5  # metres: 10 micrometres


def test_joint_recovery_runs_on_torch_tensors_too():
    features = joints_to_features(dance_joints(num_frames=40, seed=12))
    batch = torch.from_numpy(np.stack([features, features[::-1].copy()])).requires_grad_()
    recovered = features_to_joints(batch)
    assert recovered.shape == (2, 39, 22, 3) and recovered.dtype == torch.float32
    np.testing.assert_allclose(recovered[0].detach().numpy(), features_to_joints(features), atol=1e-5)
    recovered.sum().backward()  # differentiable, e.g. for a joint-space loss
    assert torch.isfinite(batch.grad).all()


def test_canonical_motion_stands_on_the_floor_at_the_origin_facing_forward():
    canonical = canonicalize_joints(dance_joints(seed=4))
    assert canonical[..., 1].min() == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(canonical[0, 0, [0, 2]], 0.0, atol=1e-9)
    assert facing_angle(canonical[:1])[0] == pytest.approx(0.0, abs=1e-9)


def test_features_do_not_depend_on_where_the_dancer_stands_or_faces():
    joints = dance_joints(num_frames=90, seed=5).astype(np.float64)
    moved = joints @ yaw_matrix(np.array(1.3)).T + np.array([2.0, 0.5, -4.0])
    np.testing.assert_allclose(joints_to_features(moved), joints_to_features(joints), atol=2e-5)


def test_root_channels_of_a_straight_walk_and_a_turn_on_the_spot():
    frames = 30
    standing = rest_joints(1, np.array([[0.0, 1.0, 0.0]]))
    forward = yaw_matrix(-facing_angle(standing)[0]) @ [0.0, 0.0, 1.0]  # the rest pose faces almost +z
    walk = rest_joints(frames, np.array([0.0, 1.0, 0.0]) + 0.01 * np.arange(frames)[:, None] * forward)
    features = joints_to_features(walk)
    np.testing.assert_allclose(features[:, ROOT_LINEAR_VELOCITY], [[0.0, 0.01]] * (frames - 1), atol=1e-6)
    np.testing.assert_allclose(features[:, ROOT_ROT_VELOCITY], 0.0, atol=1e-6)
    np.testing.assert_allclose(
        features[:, LOCAL_VELOCITIES].reshape(-1, 22, 3), [[[0.0, 0.0, 0.01]] * 22] * (frames - 1), atol=1e-6
    )

    turn_rate = 0.05  # radians per frame about +y
    poses = np.zeros((frames, 24, 3))
    poses[:, 0, 1] = turn_rate * np.arange(frames)
    turning = smpl_to_joints22(poses, np.tile([0.0, 1.0, 0.0], (frames, 1)))
    features = joints_to_features(turning)
    # HumanML3D stores the half-angle of the rotation that turns the body back onto +z.
    np.testing.assert_allclose(features[:, ROOT_ROT_VELOCITY], -turn_rate / 2, atol=1e-6)
    pelvis_above_lowest_joint = standing[0, 0, 1] - standing[0, :, 1].min()
    np.testing.assert_allclose(features[:, ROOT_HEIGHT], pelvis_above_lowest_joint, atol=1e-6)


def test_ric_positions_are_relative_to_the_root_in_its_facing_frame():
    joints = dance_joints(num_frames=20, seed=6)
    canonical = canonicalize_joints(joints)
    features = joints_to_features(joints)
    facing = facing_angle(canonical)[5]
    relative = canonical[5, 1:] - canonical[5, 0] * np.array([1.0, 0.0, 1.0])
    expected = relative @ yaw_matrix(np.array(facing)).T
    np.testing.assert_allclose(features[5, RIC_POSITIONS].reshape(21, 3), expected, atol=1e-6)


def test_6d_rotations_rebuild_every_bone_direction():
    joints = dance_joints(num_frames=12, seed=7)
    canonical = canonicalize_joints(joints)
    features = joints_to_features(joints)
    sixd = features[:, ROTATIONS_6D].reshape(-1, 21, 2, 3).astype(np.float64)
    first, second = sixd[..., 0, :], sixd[..., 1, :]
    rotations = np.stack([first, second, np.cross(first, second)], axis=-1)  # columns
    rotations = np.concatenate([np.broadcast_to(np.eye(3), (len(features), 1, 3, 3)), rotations], axis=1)
    rest = JOINT22_OFFSETS / np.maximum(np.linalg.norm(JOINT22_OFFSETS, axis=-1, keepdims=True), 1e-12)
    facing = yaw_matrix(facing_angle(canonical))[:-1]
    for chain in KINEMATIC_CHAINS:
        accumulated = facing
        for parent, child in zip(chain[:-1], chain[1:]):
            accumulated = accumulated @ rotations[:, child]
            bone = canonical[:-1, child] - canonical[:-1, parent]
            bone /= np.linalg.norm(bone, axis=-1, keepdims=True)
            np.testing.assert_allclose(np.einsum("nij,j->ni", accumulated, rest[child]), bone, atol=1e-5)


def test_foot_contacts_follow_foot_speed():
    frames = 10
    joints = rest_joints(frames, np.tile([0.0, 1.0, 0.0], (frames, 1))).astype(np.float64)
    joints[:, [8, 11], 2] += 0.1 * np.arange(frames)[:, None]  # right ankle and toe slide 0.1 m per frame
    contacts = joints_to_features(joints)[:, FOOT_CONTACTS]
    np.testing.assert_array_equal(contacts, [[1.0, 1.0, 0.0, 0.0]] * (frames - 1))
    # 0.03 m per frame is slow at 20 fps (0.6 m/s, squared 9e-4 < 2e-3) but fast at 60 fps (1.8 m/s).
    joints[:, [8, 11], 2] = 0.03 * np.arange(frames)[:, None]
    assert joints_to_features(joints, fps=20.0)[:, FOOT_CONTACTS][:, 2:].min() == 1.0
    assert joints_to_features(joints, fps=60.0)[:, FOOT_CONTACTS][:, 2:].max() == 0.0


@pytest.mark.parametrize(
    "bad,message",
    [
        (np.zeros((10, 262)), r"expected motion features \[N,263\], got shape \[10, 262\]"),
        (np.zeros(263), r"got shape \[263\]"),
        (np.zeros((1, 263)), "too short: 1 frame"),
        (np.where(np.arange(263) == 7, np.nan, 0.0)[None].repeat(4, 0), "NaN/inf .*frame 0, channel 7"),
        (np.full((3, 263), np.inf), "NaN/inf"),
    ],
)
def test_validate_features_names_the_source_and_the_problem(bad, message):
    with pytest.raises(MotionFormatError, match=f"clips/abc.npy: .*{message}"):
        validate_features(bad, "clips/abc.npy")


def test_validate_features_returns_float32():
    out = validate_features(np.ones((4, 263), dtype=np.float64), "x")
    assert out.dtype == np.float32 and out.shape == (4, 263)


def test_joint_input_errors():
    with pytest.raises(MotionFormatError, match=r"\[N,22,3\]"):
        joints_to_features(np.zeros((10, 24, 3)))
    with pytest.raises(MotionFormatError, match="too short"):
        joints_to_features(np.zeros((1, 22, 3)))
    joints = dance_joints(num_frames=10)
    joints[4, 3, 1] = np.nan
    with pytest.raises(MotionFormatError, match="seq01.pkl: joint positions contain NaN/inf .*frame 4"):
        joints_to_features(joints, source="seq01.pkl")


# -- resampling ----------------------------------------------------------------------------------
def test_resampling_preserves_duration_and_linear_signals():
    ramp = np.arange(30, dtype=np.float64)[:, None] * np.array([1.0, -2.0])  # value = 1 per source frame
    at50 = resample_motion(ramp, 20.0, 50.0)
    assert at50.shape == (75, 2)
    np.testing.assert_allclose(at50[:72, 0], np.arange(72) * 20.0 / 50.0)  # before the clamp at the last frame
    np.testing.assert_allclose(resample_motion(at50, 50.0, 20.0)[:29], ramp[:29])
    assert resample_motion(np.zeros((600, 3)), 60.0, 50.0).shape == (500, 3)
    assert resample_motion(np.zeros((7, 22, 3)), 20.0, 50.0, num_frames=20).shape == (20, 22, 3)


def test_downsampled_features_equal_features_of_downsampled_joints():
    joints60 = dance_joints(num_frames=361, fps=60.0, bpm=110.0, seed=8)
    features20 = joints_to_features(joints60[::3], fps=20.0)
    resampled = resample_features(joints_to_features(joints60, fps=60.0), 60.0, 20.0, num_frames=len(features20))
    np.testing.assert_allclose(resampled[:, : FOOT_CONTACTS.start], features20[:, : FOOT_CONTACTS.start], atol=2e-5)
    assert mpjpe_mm(features_to_joints(resampled), features_to_joints(features20)) < 0.05


def test_upsampling_to_the_network_rate_keeps_the_trajectory():
    poses, trans = synthetic_smpl_dance(2001, 200.0, 128.0, seed=9)  # 10 s at 200 fps
    joints = smpl_to_joints22(poses, trans)
    features100 = joints_to_features(joints[::2], fps=100.0)
    resampled = resample_features(joints_to_features(joints[::10], fps=20.0), 20.0, 100.0, num_frames=len(features100))
    # Linear interpolation of 20 fps poses costs about a millimetre; the root does not drift over 10 s.
    assert mpjpe_mm(features_to_joints(resampled), features_to_joints(features100)) < 3.0
    np.testing.assert_allclose(
        features_to_joints(resampled)[::5, 0], features_to_joints(features100)[::5, 0], atol=1e-4
    )


def test_resample_rejects_bad_rates():
    with pytest.raises(ValueError, match="positive"):
        resample_motion(np.zeros((5, 2)), 0.0, 50.0)
    with pytest.raises(MotionFormatError, match="clip.npy"):
        resample_features(np.zeros((5, 12)), 20.0, 50.0, source="clip.npy")


# -- statistics and metrics ----------------------------------------------------------------------
def test_feature_stats_match_numpy_over_all_frames():
    clips = [joints_to_features(dance_joints(num_frames=n, fps=20.0, seed=s), fps=20.0) for s, n in ((0, 30), (1, 45))]
    mean, std = compute_feature_stats(clips)
    stacked = np.concatenate(clips).astype(np.float64)
    np.testing.assert_allclose(mean, stacked.mean(0), atol=1e-5)
    np.testing.assert_allclose(std, np.maximum(stacked.std(0), 1e-3), rtol=1e-3, atol=1e-6)
    assert mean.dtype == std.dtype == np.float32 and std.min() >= 1e-3
    with pytest.raises(MotionFormatError, match="training clip 1"):
        compute_feature_stats([clips[0], np.zeros((4, 10))])


def test_mpjpe_in_millimetres():
    target = np.zeros((2, 5, 22, 3))
    shifted = target + np.array([0.03, 0.0, 0.04])  # 5 cm everywhere
    assert mpjpe_mm(shifted, target) == pytest.approx(50.0)
    assert mpjpe_mm(shifted, target, root_relative=True) == pytest.approx(0.0)
    partly = target.copy()
    partly[:, 3:] += [0.1, 0.0, 0.0]
    mask = np.zeros((2, 5), bool)
    mask[:, :3] = True
    assert mpjpe_mm(partly, target, mask=mask) == pytest.approx(0.0)
    assert mpjpe_mm(partly, target) == pytest.approx(40.0)
    features = joints_to_features(dance_joints(num_frames=30))
    assert feature_mpjpe_mm(features, features) == 0.0


# -- synthetic dance ---------------------------------------------------------------------------
@pytest.mark.parametrize("fps,bpm", [(60.0, 120.0), (20.0, 90.0), (60.0, 137.0)])
def test_synthetic_dance_speed_minima_fall_on_the_beats(fps, bpm):
    joints = dance_joints(num_frames=int(8 * fps), fps=fps, bpm=bpm, seed=11)
    speed = np.linalg.norm(joints[2:] - joints[:-2], axis=-1).mean(-1)  # centred difference at frames 1..N-2
    minima = (argrelmin(speed)[0] + 1) / fps
    beats = np.arange(60.0 / bpm, (len(joints) - 2) / fps, 60.0 / bpm)
    assert len(minima) == len(beats)
    np.testing.assert_allclose(minima, beats, atol=0.51 / fps)  # nearest frame to each beat


def test_synthetic_dance_is_seeded_and_plausible():
    poses, trans = synthetic_smpl_dance(120, 60.0, 120.0, seed=1)
    assert poses.shape == (120, 72) and trans.shape == (120, 3) and poses.dtype == trans.dtype == np.float32
    again = synthetic_smpl_dance(120, 60.0, 120.0, seed=1)
    np.testing.assert_array_equal(poses, again[0])
    np.testing.assert_array_equal(trans, again[1])
    assert not np.array_equal(poses, synthetic_smpl_dance(120, 60.0, 120.0, seed=2)[0])
    joints = smpl_to_joints22(poses, trans)
    assert joints[:, 15, 1].min() > joints[:, 0, 1].max()  # head stays above the pelvis
    assert np.abs(joints[..., 1].min(axis=1) - joints[..., 1].min()).max() < 0.15  # feet stay near the floor
    with pytest.raises(ValueError, match="num_frames"):
        synthetic_smpl_dance(0, 60.0, 120.0, 0)
