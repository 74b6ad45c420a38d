"""Rhythm metrics between music and motion: beat extraction, BAS, beat coverage and beat hit.

* Motion (kinematic) beats (Bailando, Li et al. CVPR 2022, after Kim et al. 2003): local minima
  of the mean joint speed smoothed by a Gaussian of sigma = 5 frames at 60 fps (1/12 s). Speeds
  come from central differences, so speed sample i belongs to frame i (the Bailando code's forward
  differences put every motion beat half a frame early).
* BAS, beat alignment score (Bailando):  (1/|B_m|) sum over music beats t_m of
  exp(-min_{t_d in B_d} |t_d - t_m|^2 / (2 sigma^2)),  sigma = 3 frames at 60 fps (0.05 s).
  The sum runs over music beats, as in the Bailando evaluation code. Times are in seconds here,
  so the score does not depend on the motion frame rate.
* Beat coverage and beat hit (Zhu et al., "Quantized GAN for complex music generation from dance
  videos" (D2M-GAN), ECCV 2022; LORIS, Yu et al. ICML 2023): time is cut into 1-second bins;
  B_t = bins holding a reference beat, B_c = bins holding a generated beat, B_h = bins holding
  both; coverage = B_c / B_t and hit = B_h / B_t. For motion -> music the reference beats are the
  motion's kinematic beats and the generated ones the music beats that librosa tracks.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import argrelextrema

from unimumo.eval.dance_features import mean_joint_speed

SPEED_SMOOTHING_SECONDS = 5.0 / 60.0
BAS_SIGMA_SECONDS = 3.0 / 60.0
BEAT_BIN_SECONDS = 1.0


def smoothed_speed(joints, fps: float) -> np.ndarray:
    """Mean joint speed per frame (m/s), Gaussian-smoothed with sigma = 1/12 s."""
    return gaussian_filter1d(mean_joint_speed(joints, fps), SPEED_SMOOTHING_SECONDS * fps, mode="reflect")


def motion_beats(joints, fps: float) -> np.ndarray:
    """Kinematic beat times (s): strict local minima of the smoothed mean joint speed."""
    (frames,) = argrelextrema(smoothed_speed(joints, fps), np.less)
    return frames / float(fps)


def music_beats(wav: np.ndarray, sampling_rate: int) -> np.ndarray:
    """Beat times (s) of a mono waveform, from librosa's dynamic-programming beat tracker."""
    import librosa

    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1 or wav.size == 0 or not np.isfinite(wav).all():
        raise ValueError(f"music_beats: expected a finite, non-empty mono waveform, got shape {list(wav.shape)}")
    _, beats = librosa.beat.beat_track(y=wav, sr=sampling_rate, units="time")
    return np.asarray(beats, dtype=np.float64)


def _times(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: beat times must be finite")
    return array


def beat_alignment_score(music_beat_times, motion_beat_times, sigma: float = BAS_SIGMA_SECONDS) -> float:
    """BAS in [0, 1]: how closely every music beat is matched by its nearest motion beat (times in seconds)."""
    music, motion = _times(music_beat_times, "music beats"), _times(motion_beat_times, "motion beats")
    if music.size == 0:
        raise ValueError("beat_alignment_score: no music beats to align with")
    if motion.size == 0:
        return 0.0
    nearest = np.abs(music[:, None] - motion[None, :]).min(axis=1)
    return float(np.exp(-(nearest**2) / (2.0 * sigma**2)).mean())


def beat_coverage_and_hit(
    generated_beat_times, reference_beat_times, duration: float, bin_seconds: float = BEAT_BIN_SECONDS
) -> tuple[float, float]:
    """(coverage, hit) of generated beats against reference beats over [0, duration) seconds."""
    generated = _times(generated_beat_times, "generated beats")
    reference = _times(reference_beat_times, "reference beats")
    num_bins = int(np.ceil(duration / bin_seconds))
    if num_bins <= 0:
        raise ValueError(f"beat_coverage_and_hit: duration must be positive, got {duration}")

    def occupied(times: np.ndarray) -> np.ndarray:
        bins = np.zeros(num_bins, dtype=bool)
        inside = times[(times >= 0.0) & (times < duration)]
        bins[(inside // bin_seconds).astype(int)] = True
        return bins

    reference_bins, generated_bins = occupied(reference), occupied(generated)
    total = int(reference_bins.sum())
    if total == 0:
        raise ValueError("beat_coverage_and_hit: the reference has no beats in the window")
    return float(generated_bins.sum() / total), float((generated_bins & reference_bins).sum() / total)
