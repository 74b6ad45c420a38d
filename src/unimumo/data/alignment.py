"""Pairing a motion with music: the beats that anchor it, its placement and the beat-aligning time warp.

A `TimeWarp` maps time in the music clip (seconds from the clip start) to time in the motion
sequence. It is piecewise linear: a global rate brings the motion's beat period to the music's
(folded by powers of two, so a dance on every other beat stays on every other beat), the motion start
is shifted (by under one motion beat) to put most music beats on a visual beat, then each music beat
that has a visual beat close to its predicted position becomes a knot, so the warped motion has its
visual beats on the music beats. Local slopes stay within [rate/2, 2*rate]. Without the shift, two
steady beat grids drawn half a beat apart would share no beat at all, and the warp would have no knot.

A motion shorter than the music it is paired with is first tiled (`tile_joints`): repeated from a loop
segment between two visual beats (so the beat grid runs on across the seam), each repeat moved to where the
last one ended and blended into it over LOOP_CROSSFADE_SECONDS, as the authors repeat short motions to fill
the 30 s of music (hanyangclarence/UniMuMo, preprocessing/get_aligned_motion_code.py: np.tile, no blend).

Beats and the alignment score come from `unimumo.rhythm`. Visual beats here differ from the evaluation's
kinematic beats on purpose: lighter smoothing, a minimum gap and a prominence threshold, so that only
clear beats become warp knots.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from unimumo.constants import CODE_RATE
from unimumo.motion.resample import interpolate_frames
from unimumo.rhythm import beat_alignment_score, motion_beats

VISUAL_BEAT_SMOOTHING_SECONDS = 0.05
VISUAL_BEAT_MIN_SMOOTHING_FRAMES = 0.5  # no smoothing at frame rates where sigma would be under half a frame
VISUAL_BEAT_MIN_GAP_SECONDS = 0.2
VISUAL_BEAT_MIN_PROMINENCE = 0.05  # fraction of the speed's range
ALIGNMENT_SIGMA_SECONDS = 0.1
PHASE_TOLERANCE = 0.1  # music beats count as on one phase when their offsets agree within 0.1 beat period
LOOP_CROSSFADE_SECONDS = 0.25  # a repeat is blended into the previous one over this time
LOOP_MIN_FRACTION = 0.5  # a loop segment spans at least this fraction of the clip


def visual_beats(joints: np.ndarray, fps: float, min_gap_seconds: float = VISUAL_BEAT_MIN_GAP_SECONDS) -> np.ndarray:
    """Visual beats (s): local minima of joint speed that stand out from the surrounding motion."""
    return motion_beats(
        joints,
        fps,
        VISUAL_BEAT_SMOOTHING_SECONDS,
        min_smoothing_frames=VISUAL_BEAT_MIN_SMOOTHING_FRAMES,
        min_gap_seconds=min_gap_seconds,
        min_prominence=VISUAL_BEAT_MIN_PROMINENCE,
        flat_minima=True,
    )


def beat_alignment(
    music_beat_times: np.ndarray, motion_beat_times: np.ndarray, sigma: float = ALIGNMENT_SIGMA_SECONDS
) -> float:
    """The BAS of a pair (`unimumo.rhythm.beat_alignment_score`) with a wider default sigma, 0.0 without music beats."""
    if np.size(music_beat_times) == 0:
        return 0.0
    return beat_alignment_score(music_beat_times, motion_beat_times, sigma=sigma)


def beat_period(beat_times: np.ndarray) -> float | None:
    gaps = np.diff(np.asarray(beat_times, dtype=np.float64))
    gaps = gaps[gaps > 0]
    return float(np.median(gaps)) if gaps.size else None


def folded_rate(motion_period: float | None, music_period: float | None) -> float:
    """Motion seconds per music second that match the beat periods, folded by 2**k into [1/sqrt2, sqrt2]."""
    if not motion_period or not music_period:
        return 1.0
    rate = motion_period / music_period
    return float(rate / 2.0 ** np.round(np.log2(rate)))


@dataclass
class TimeWarp:
    """Piecewise-linear map from music-clip time to motion time (both in seconds)."""

    music_knots: np.ndarray
    motion_knots: np.ndarray
    rate: float

    def __call__(self, times: np.ndarray) -> np.ndarray:
        return np.interp(times, self.music_knots, self.motion_knots)

    @property
    def num_anchors(self) -> int:
        return len(self.music_knots) - 2


def fit_warp(
    music_beat_times: np.ndarray, motion_beat_times: np.ndarray, duration: float, motion_start: float, rate: float
) -> TimeWarp:
    """Warp of the music span [0, duration] onto motion time starting at `motion_start` with global `rate`."""
    music_beat_times = np.asarray(music_beat_times, dtype=np.float64)
    motion_beat_times = np.asarray(motion_beat_times, dtype=np.float64)
    music_period = beat_period(music_beat_times) or 0.5
    tolerance = 0.4 * rate * music_period
    anchors: list[tuple[float, float]] = []
    for beat in music_beat_times[(music_beat_times > 0) & (music_beat_times < duration)]:
        if motion_beat_times.size == 0:
            break
        predicted = motion_start + rate * beat
        nearest = motion_beat_times[np.argmin(np.abs(motion_beat_times - predicted))]
        if abs(nearest - predicted) > tolerance:
            continue
        if anchors:
            slope = (nearest - anchors[-1][1]) / (beat - anchors[-1][0])
            if not rate / 2 <= slope <= 2 * rate:
                continue
        anchors.append((float(beat), float(nearest)))
    if anchors:
        first, last = anchors[0], anchors[-1]
        start = (0.0, first[1] - rate * first[0])
        end = (duration, last[1] + rate * (duration - last[0]))
    else:
        start, end = (0.0, motion_start), (duration, motion_start + rate * duration)
    knots = np.array([start, *anchors, end])
    return TimeWarp(music_knots=knots[:, 0], motion_knots=knots[:, 1], rate=rate)


def phase_offset(
    music_beat_times: np.ndarray, motion_beat_times: np.ndarray, motion_start: float, rate: float
) -> float:
    """The shift of the motion start that puts the most music beats on a visual beat (the smallest such shift;
    0.0 without beats): each music beat proposes the offset to its nearest visual beat, the one that the most
    other beats agree with (within PHASE_TOLERANCE of a music beat period) wins."""
    music_beat_times = np.asarray(music_beat_times, dtype=np.float64)
    motion_beat_times = np.asarray(motion_beat_times, dtype=np.float64)
    if music_beat_times.size == 0 or motion_beat_times.size == 0:
        return 0.0
    predicted = motion_start + rate * music_beat_times
    nearest = motion_beat_times[np.abs(motion_beat_times[None, :] - predicted[:, None]).argmin(axis=1)]
    offsets = nearest - predicted
    tolerance = PHASE_TOLERANCE * rate * (beat_period(music_beat_times) or 0.5)
    support = (np.abs(offsets[:, None] - offsets[None, :]) <= tolerance).sum(axis=0)
    best = offsets[support == support.max()]
    return float(best[np.argmin(np.abs(best))])


def shift_onto_phase(motion_start: float, offset: float, motion_period: float, latest_start: float) -> float:
    """`motion_start` moved by `offset` wrapped to within half a motion beat period, then by whole periods
    (which keep the phase) back into [0, latest_start] where there is room."""
    start = motion_start + (offset + motion_period / 2) % motion_period - motion_period / 2
    while start < 0 and start + motion_period <= latest_start:
        start += motion_period
    while start > latest_start and start - motion_period >= 0:
        start -= motion_period
    return start


@dataclass
class PairPlacement:
    """Where a pair sits: music clip [music_start, music_start + duration), motion from `warp`."""

    music_start: float
    duration: float
    warp: TimeWarp


def place_pair(
    music_beat_times: np.ndarray,
    music_duration: float,
    motion_beat_times: np.ndarray,
    motion_duration: float,
    rng: random.Random,
) -> PairPlacement:
    """Choose the music span and motion start (random where there is slack) and fit the beat warp.

    The music span is the whole track when the (rate-scaled) motion is long enough, otherwise a random
    sub-span as long as the motion allows, starting on a code frame (1 / CODE_RATE s). The random motion
    start is then shifted onto the music's beat phase (`phase_offset`).
    """
    rate = folded_rate(beat_period(motion_beat_times), beat_period(music_beat_times))
    duration = min(music_duration, motion_duration / rate)
    music_start = rng.uniform(0.0, music_duration - duration) if music_duration > duration else 0.0
    music_start = np.floor(music_start * CODE_RATE) / CODE_RATE
    motion_start = rng.uniform(0.0, motion_duration - rate * duration) if motion_duration > rate * duration else 0.0
    local_beats = np.asarray(music_beat_times) - music_start
    local_beats = local_beats[(local_beats >= 0) & (local_beats <= duration)]
    motion_start = shift_onto_phase(
        motion_start,
        phase_offset(local_beats, motion_beat_times, motion_start, rate),
        beat_period(motion_beat_times) or rate * (beat_period(local_beats) or 0.5),
        max(motion_duration - rate * duration, 0.0),
    )
    warp = fit_warp(local_beats, motion_beat_times, duration, motion_start, rate)
    return PairPlacement(music_start=music_start, duration=duration, warp=warp)


def warp_joints(joints: np.ndarray, fps: float, warp: TimeWarp, duration: float, out_fps: float) -> np.ndarray:
    """Resample joints [N,22,3] (at `fps`) on the warped time grid: frame k shows motion time warp(k / out_fps)."""
    num_out = int(round(duration * out_fps)) + 1
    return interpolate_frames(np.asarray(joints), warp(np.arange(num_out) / out_fps) * fps).astype(np.float32)


@dataclass(frozen=True)
class Loop:
    """How a motion was tiled: frames [start, end] repeated `repeats` times after the clip's first `end` frames."""

    start: int
    end: int
    repeats: int
    crossfade: int  # frames over which each repeat is blended into the previous one

    def as_meta(self, fps: float) -> dict:
        return {
            "loop_start_s": round(self.start / fps, 4),
            "loop_end_s": round(self.end / fps, 4),
            "repeats": self.repeats,
            "crossfade_s": round(self.crossfade / fps, 4),
        }


def pose(joints: np.ndarray) -> np.ndarray:
    """Joints [N,22,3] with the root's horizontal position (x, z) removed: the body pose and height."""
    centred = np.array(joints, dtype=np.float64)
    centred[..., [0, 2]] -= centred[:, :1, [0, 2]]
    return centred


def loop_frames(joints: np.ndarray, fps: float, beat_times: np.ndarray) -> tuple[int, int]:
    """The loop segment (start, end frames): of the visual-beat pairs at least LOOP_MIN_FRACTION of the clip
    apart, the one whose poses match best (the seam then falls on a beat, and needs the least blending);
    the whole clip when there are no such beats."""
    last = len(joints) - 1
    frames = np.unique(np.clip(np.round(np.asarray(beat_times) * fps).astype(np.int64), 0, last))
    starts, ends = np.meshgrid(frames, frames, indexing="ij")
    ok = ends - starts >= max(LOOP_MIN_FRACTION * last, 1)
    if not ok.any():
        return 0, last
    poses = pose(joints)
    mismatch = np.linalg.norm(poses[starts[ok]] - poses[ends[ok]], axis=-1).mean(axis=-1)
    best = int(np.argmin(mismatch))
    return int(starts[ok][best]), int(ends[ok][best])


def tile_joints(
    joints: np.ndarray, fps: float, beat_times: np.ndarray, min_seconds: float
) -> tuple[np.ndarray, Loop | None]:
    """Joints [N,22,3] extended to last at least `min_seconds` (None: already long enough).

    The clip plays to the loop end, then the loop segment (`loop_frames`) repeats. Each repeat is moved
    horizontally to start where the previous one ended, and the remaining pose mismatch at the seam is
    blended out over LOOP_CROSSFADE_SECONDS (linearly), so no joint jumps.
    """
    needed = int(np.ceil(min_seconds * fps)) + 1
    if len(joints) >= needed:
        return joints, None
    start, end = loop_frames(joints, fps, beat_times)
    length = end - start
    crossfade = int(min(max(round(LOOP_CROSSFADE_SECONDS * fps), 1), length))
    segment = np.asarray(joints[start + 1 : end + 1], dtype=np.float64)
    fade = np.clip(1.0 - np.arange(1, length + 1) / crossfade, 0.0, 1.0)[:, None, None]
    pieces, total, repeats = [np.asarray(joints[: end + 1], dtype=np.float64)], end + 1, 0
    while total < needed:
        previous = pieces[-1][-1]
        shift = np.zeros(3)
        shift[[0, 2]] = previous[0, [0, 2]] - joints[start, 0, [0, 2]]
        mismatch = previous - (joints[start] + shift)
        pieces.append(segment + shift + fade * mismatch)
        total, repeats = total + length, repeats + 1
    tiled = np.concatenate(pieces)[:needed].astype(np.float32)
    return tiled, Loop(start=start, end=end, repeats=repeats, crossfade=crossfade)
