"""Outputs people look at and listen to: wav, joint .npy, .bvh, a stick-figure GIF with beats, a speed/beat plot.

The GIF is drawn with matplotlib (3-D stick figure along the HumanML3D kinematic chains, a
timeline with the music beats underneath, and a red flash of the title on every music beat)
and assembled with Pillow, so no video encoder is needed. Every file is written atomically.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from unimumo.eval.bvh import write_bvh
from unimumo.eval.dance_features import UP_AXIS
from unimumo.motion.skeleton import KINEMATIC_CHAINS, validate_joints
from unimumo.rhythm import SPEED_SMOOTHING_SECONDS, mean_joint_speed, motion_beats
from unimumo.utils.io import atomic_open

GIF_FPS = 15.0
CHAIN_COLOURS = ("tab:red", "tab:blue", "black", "tab:orange", "tab:green")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_wav(path: str | Path, wav: np.ndarray, sampling_rate: int) -> None:
    """16-bit PCM wav of a mono waveform (clipped to [-1, 1])."""
    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    if not np.isfinite(wav).all():
        raise ValueError(f"{path}: waveform contains NaN or infinite samples")
    with atomic_open(path, "wb") as handle:
        sf.write(handle, np.clip(wav, -1.0, 1.0), int(sampling_rate), format="WAV", subtype="PCM_16")


def write_joints(path: str | Path, joints: np.ndarray) -> None:
    """Joint positions [N,22,3] float32 as .npy."""
    with atomic_open(path, "wb") as handle:
        np.save(handle, validate_joints(joints, min_frames=1).astype(np.float32))


def _beat_flash(times: np.ndarray, beats: np.ndarray, half_width: float) -> np.ndarray:
    if len(beats) == 0:
        return np.zeros(len(times), dtype=bool)
    return np.abs(times[:, None] - np.asarray(beats)[None, :]).min(axis=1) <= half_width


def write_stick_figure_gif(path: str | Path, joints, fps: float, music_beats=(), title: str = "") -> None:
    """Animated GIF of the dance (at most 15 frames/s) with the music beats on a timeline and flashing title."""
    from PIL import Image

    plt = _pyplot()
    joints = validate_joints(joints, min_frames=1)
    step = max(1, int(np.ceil(fps / GIF_FPS - 1e-9)))
    frames = np.arange(0, len(joints), step)
    times, duration = frames / fps, len(joints) / fps
    flash = _beat_flash(times, np.asarray(music_beats, dtype=np.float64), half_width=step / fps)
    # plot with y (up) as the vertical axis (matplotlib's 3-D z); the camera follows the root horizontally
    xyz = joints[..., [0, 2, UP_AXIS]]
    extent = (xyz - xyz[:, :1]).reshape(-1, 3)
    radius = max(float(np.abs(extent[:, :2]).max()), float(np.ptp(xyz[..., 2])) / 2, 0.3) * 1.1
    floor = float(xyz[..., 2].min())
    figure = plt.figure(figsize=(4, 4.6), dpi=72)
    axes = figure.add_axes([0.0, 0.12, 1.0, 0.83], projection="3d")
    timeline = figure.add_axes([0.08, 0.05, 0.84, 0.05])
    images = []
    try:
        for frame, time, on_beat in zip(frames, times, flash):
            axes.cla()
            root = xyz[frame, 0]
            axes.set_xlim(root[0] - radius, root[0] + radius)
            axes.set_ylim(root[1] - radius, root[1] + radius)
            axes.set_zlim(floor, floor + 2 * radius)
            axes.set_box_aspect((1, 1, 1), zoom=1.4)
            axes.set_axis_off()
            for chain, colour in zip(KINEMATIC_CHAINS, CHAIN_COLOURS):
                points = xyz[frame, list(chain)]
                axes.plot(points[:, 0], points[:, 1], points[:, 2], color=colour, linewidth=2.5)
            axes.set_title(
                f"{title}  {time:5.2f} s",
                color="red" if on_beat else "black",
                fontweight="bold" if on_beat else "normal",
                fontsize=9,
            )
            timeline.cla()
            timeline.set_xlim(0, duration)
            timeline.set_yticks([])
            timeline.vlines(music_beats, 0, 1, color="tab:purple", linewidth=1)
            timeline.axvline(time, color="red", linewidth=2)
            timeline.tick_params(labelsize=6)
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png")
            images.append(Image.open(io.BytesIO(buffer.getvalue())).convert("P", palette=Image.Palette.ADAPTIVE))
    finally:
        plt.close(figure)
    # GIF delays are whole centiseconds: round the frame times, not the delays, so the clock never drifts
    stamps = np.round(np.arange(len(images) + 1) * step / fps * 100.0) * 10
    with atomic_open(path, "wb") as handle:
        images[0].save(
            handle,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=np.diff(stamps).astype(int).tolist(),
            loop=0,
        )


def write_speed_plot(path: str | Path, joints, fps: float, music_beats=(), motion_beats=(), title: str = "") -> None:
    """PNG: smoothed mean joint speed over time, music beats as vertical lines, motion beats as dots."""
    plt = _pyplot()
    speed = mean_joint_speed(joints, fps, SPEED_SMOOTHING_SECONDS)
    times = np.arange(len(speed)) / fps
    figure, axes = plt.subplots(figsize=(8, 3), dpi=100)
    try:
        axes.plot(times, speed, color="black", linewidth=1.2, label="mean joint speed (smoothed)")
        for index, beat in enumerate(music_beats):
            axes.axvline(beat, color="tab:purple", alpha=0.6, linewidth=1, label="music beat" if index == 0 else None)
        motion_beats = np.asarray(motion_beats, dtype=np.float64)
        if len(motion_beats):
            axes.plot(motion_beats, np.interp(motion_beats, times, speed), "o", color="tab:red", label="motion beat")
        axes.set_xlabel("time (s)")
        axes.set_ylabel("speed (m/s)")
        axes.set_title(title, fontsize=10)
        axes.legend(loc="upper right", fontsize=7)
        figure.tight_layout()
        with atomic_open(path, "wb") as handle:
            figure.savefig(handle, format="png")
    finally:
        plt.close(figure)


def render_motion(directory: Path, joints: np.ndarray, fps: float, music_beats, title: str) -> None:
    """motion.npy, motion.bvh, dance.gif and speed_beats.png of one motion in `directory`."""
    write_joints(directory / "motion.npy", joints)
    write_bvh(directory / "motion.bvh", joints, fps)
    write_stick_figure_gif(directory / "dance.gif", joints, fps, music_beats, title)
    write_speed_plot(directory / "speed_beats.png", joints, fps, music_beats, motion_beats(joints, fps), title)
