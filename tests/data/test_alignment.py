"""Visual beats and the beat-aligning time warp, measured on synthetic music and dance."""

import random

import numpy as np
import pytest

from unimumo.data.alignment import beat_alignment, fit_warp, folded_rate, place_pair, visual_beats, warp_joints
from unimumo.data.synthetic_corpus import SAMPLING_RATE, beat_audio
from unimumo.motion.skeleton import smpl_to_joints22
from unimumo.motion.synthetic_dance import synthetic_smpl_dance
from unimumo.rhythm import music_beats


def dance(bpm: float, seconds: float, fps: float, seed: int = 0) -> np.ndarray:
    poses, trans = synthetic_smpl_dance(int(seconds * fps), fps, bpm, seed)
    return smpl_to_joints22(poses, trans)


@pytest.mark.parametrize("bpm,fps", [(100.0, 60.0), (128.0, 20.0)])
def test_visual_beats_are_the_joint_speed_minima_of_a_dance(bpm, fps):
    beats = visual_beats(dance(bpm, 10.0, fps), fps)
    expected = np.arange(1, int(10.0 * bpm / 60) - 1) * 60.0 / bpm  # inner beats (ends lack a neighbour)
    nearest = np.abs(expected[:, None] - beats[None, :]).min(axis=1)
    assert np.all(nearest <= 1.5 / fps), nearest.max()


def test_folded_rate_keeps_every_other_beat_dances_on_the_beat():
    assert folded_rate(0.5, 0.5) == 1.0
    assert folded_rate(1.0, 0.5) == pytest.approx(1.0)  # dance on every other music beat: no 2x slow-down
    assert folded_rate(0.6, 0.5) == pytest.approx(1.2)
    assert folded_rate(None, 0.5) == 1.0


def test_warp_is_monotonic_with_bounded_slopes():
    rng = np.random.default_rng(1)
    music = np.cumsum(rng.uniform(0.45, 0.55, 30))
    motion = np.cumsum(rng.uniform(0.3, 0.9, 40))
    warp = fit_warp(music, motion, duration=14.0, motion_start=1.0, rate=1.1)
    slopes = np.diff(warp.motion_knots) / np.diff(warp.music_knots)
    assert np.all(np.diff(warp.music_knots) > 0)
    assert np.all(slopes >= 1.1 / 2 - 1e-9) and np.all(slopes <= 2 * 1.1 + 1e-9)


def test_identity_warp_leaves_joints_unchanged():
    joints = dance(110.0, 4.0, 20.0)
    warp = fit_warp(np.zeros(0), np.zeros(0), duration=3.0, motion_start=0.0, rate=1.0)
    np.testing.assert_allclose(warp_joints(joints, 20.0, warp, 3.0, 20.0), joints[:61], atol=1e-6)


@pytest.mark.parametrize("music_bpm,dance_bpm,fps", [(120.0, 97.0, 60.0), (104.0, 131.0, 20.0), (90.0, 118.0, 60.0)])
def test_beat_alignment_improves_after_warping(music_bpm, dance_bpm, fps):
    wav = beat_audio(music_bpm, 13.0, key=0, rng=np.random.default_rng(2))
    m_beats = music_beats(wav, SAMPLING_RATE)
    joints = dance(dance_bpm, 16.0, fps, seed=3)
    v_beats = visual_beats(joints, fps)
    placement = place_pair(m_beats, 13.0, v_beats, (len(joints) - 1) / fps, random.Random(0))
    local = m_beats - placement.music_start
    local = local[(local >= 0) & (local <= placement.duration)]

    start = placement.warp.motion_knots[0]
    unwarped = joints[int(round(start * fps)) :][: int(placement.duration * fps) + 1]
    before = beat_alignment(local, visual_beats(unwarped, fps))
    after = beat_alignment(local, visual_beats(warp_joints(joints, fps, placement.warp, placement.duration, fps), fps))
    assert after >= 0.8, (before, after)
    assert after > before + 0.2, (before, after)


def test_steady_beat_grids_are_aligned_whatever_the_random_motion_start():
    """Two perfectly steady grids: without the phase shift, a random start half a beat off left no knot at all."""
    music = np.arange(0.1, 12.0, 0.5)  # 120 bpm from 0.1 s
    motion = np.arange(0.0, 20.0, 60.0 / 113.0)  # 113 bpm
    for seed in range(20):
        placement = place_pair(music, 12.0, motion, 20.0, random.Random(seed))
        local = music - placement.music_start
        local = local[(local > 0) & (local < placement.duration)]
        assert placement.warp.num_anchors >= local.size - 1, seed
        np.testing.assert_allclose(
            placement.warp(local),
            motion[np.abs(motion[None] - placement.warp(local)[:, None]).argmin(axis=1)],
            atol=1e-9,
        )


def test_the_phase_shift_keeps_the_motion_window_inside_the_motion():
    """Shifted by under half a motion beat, then by whole beats back into the motion where it has room; a lone
    distant visual beat cannot drag the window off the motion (it would then be a frozen last frame)."""
    music = np.arange(0.1, 8.0, 0.5)  # 120 bpm
    for motion_bpm in (97.0, 113.0, 131.0):
        motion_seconds = 8.0 * 120.0 / motion_bpm * 1.2  # 20 % slack: the random start is often near an end
        motion = np.arange(0.05, motion_seconds, 60.0 / motion_bpm)
        for seed in range(30):
            placement = place_pair(music, 8.0, motion, motion_seconds, random.Random(seed))
            assert -1e-9 <= placement.warp(0.0), (motion_bpm, seed)
            assert placement.warp(placement.duration) <= motion_seconds + 1e-9, (motion_bpm, seed)
    placement = place_pair(np.array([1.0]), 4.0, np.array([0.2, 12.0]), 16.0, random.Random(0))
    assert 0.0 <= placement.warp(0.0) and placement.warp(4.0) <= 16.0
