"""Renderings: wav, npy, GIF (frames, duration) and the speed/beat plot are written and readable."""

import numpy as np
import soundfile as sf
from PIL import Image

from unimumo.eval.render import render_motion, write_wav
from unimumo.motion.skeleton import smpl_to_joints22
from unimumo.motion.synthetic_dance import synthetic_smpl_dance


def test_render_motion_writes_every_file(tmp_path):
    fps = 20.0
    poses, trans = synthetic_smpl_dance(num_frames=30, fps=fps, bpm=120.0, seed=1)
    joints = smpl_to_joints22(poses, trans)
    beats = np.array([0.5, 1.0])
    render_motion(tmp_path, joints, fps, beats, title="test")
    assert np.load(tmp_path / "motion.npy").shape == (30, 22, 3)
    assert (tmp_path / "motion.bvh").read_text().startswith("HIERARCHY")
    with Image.open(tmp_path / "dance.gif") as gif:
        assert gif.n_frames == 15  # 20 fps shown at 10 fps (every second frame)
        assert gif.info["duration"] == 100
    with Image.open(tmp_path / "speed_beats.png") as png:
        assert png.size == (800, 300)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dance.gif", "motion.bvh", "motion.npy", "speed_beats.png"]


def test_write_wav_round_trip(tmp_path):
    wav = 0.5 * np.sin(np.linspace(0, 100, 3200)).astype(np.float32)
    write_wav(tmp_path / "music.wav", wav, 32000)
    data, rate = sf.read(tmp_path / "music.wav")
    assert rate == 32000 and len(data) == 3200
    np.testing.assert_allclose(data, wav, atol=1e-4)


def test_gif_timing_does_not_drift_at_60_fps(tmp_path):
    from unimumo.eval.render import write_stick_figure_gif

    poses, trans = synthetic_smpl_dance(num_frames=30, fps=60.0, bpm=120.0, seed=2)
    write_stick_figure_gif(tmp_path / "d.gif", smpl_to_joints22(poses, trans), 60.0, music_beats=[0.25])
    durations = []
    with Image.open(tmp_path / "d.gif") as gif:
        for frame in range(gif.n_frames):
            gif.seek(frame)
            durations.append(gif.info["duration"])
    assert len(durations) == 8  # every 4th frame: 15 frames/s
    assert set(durations) <= {60, 70} and sum(durations) == 530  # 8 x 66.7 ms, rounded once
