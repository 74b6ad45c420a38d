"""Beats Coverage and Beats Hit of generated music against reference music, and BAS of music against a dance.

Beats Coverage / Beats Hit reproduce Cralence/My_Eval @ ce5b01d `eval_motion2music.py` (the UniMuMo
dance-to-music table, after D2M-GAN): each file is loaded with librosa at 22,050 Hz (mono), its onsets
found by `librosa.onset.onset_detect(wait=1, delta=0.2, pre_avg=1, post_avg=1, post_max=1)` (hop 512) and
binned per second (ceil(len / sr) bins, an onset at t s marks bin trunc(t)). With R the reference's marked
bins and G the generated one's: coverage = |G| / |R| (it can exceed 1), hit = |G and R| / |R|; both are
averaged over the pairs. As upstream, a pair whose two files differ in length after loading is not scored
but still counts in the average (a 0 for both; `beats_length_mismatch` counts them, and a warning names
the files). A reference without any onset is an error (upstream divides by zero).

BAS reproduces hanyangclarence/My_Project @ fb07319 `cal_beat_alignment.py` with `--music_dir`: music beats
from `librosa.beat.beat_track` on the music loaded at 32 kHz, as frames at 60 fps (not rounded); motion
beats the strict minima of the Gaussian-smoothed (sigma 5 frames) mean joint displacement of the 22
joints at 60 fps; BAS = mean over music beats of exp(-min_m (m - b)^2 / 18). Undefined (NaN, counted in
`BAS_nan`) without a music or a motion beat, where the upstream script skips the clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unimumo.constants import NUM_JOINTS
from unimumo.eval.system_outputs import EvalInputError
from unimumo.motion.resample import resample_motion
from unimumo.rhythm import frame_beat_alignment, speed_minimum_frames
from unimumo.utils.log import get_logger

logger = get_logger(__name__)

BEATS_UPSTREAM = "Cralence/My_Eval@ce5b01d eval_motion2music.py"
BAS_UPSTREAM = "hanyangclarence/My_Project@fb07319 cal_beat_alignment.py"
BEATS_SAMPLING_RATE = 22050  # librosa.load's default rate, as upstream loads both files
ONSET_OPTIONS = {"wait": 1, "delta": 0.2, "pre_avg": 1, "post_avg": 1, "post_max": 1}
BAS_SAMPLING_RATE = 32000
BAS_FPS = 60.0


def load_music(path: str | Path, sampling_rate: int) -> np.ndarray:
    """Mono float32 samples of an audio file resampled to `sampling_rate` (librosa.load); errors name the file."""
    import librosa

    try:
        wav, _ = librosa.load(str(path), sr=sampling_rate, mono=True)
    except Exception as error:  # soundfile / audioread raise many unrelated types for an unreadable file
        raise EvalInputError(f"{path}: cannot read audio ({type(error).__name__}: {error})") from error
    if wav.size == 0:
        raise EvalInputError(f"{path}: empty audio")
    return wav


def onset_bins(wav: np.ndarray, sampling_rate: int = BEATS_SAMPLING_RATE) -> np.ndarray:
    """0/1 per second of `wav`: whether an onset falls in that second (ceil(len / sr) bins)."""
    import librosa

    onsets = librosa.onset.onset_detect(y=wav, sr=sampling_rate, units="time", **ONSET_OPTIONS)
    bins = np.zeros(int(np.ceil(len(wav) / sampling_rate)), dtype=np.int64)
    bins[np.trunc(onsets).astype(np.int64)] = 1
    return bins


def beats_scores(reference: np.ndarray, generated: np.ndarray, source: str) -> tuple[float, float]:
    """(coverage, hit) of generated onset bins against reference onset bins of the same length."""
    if len(reference) != len(generated):
        raise ValueError(f"{source}: {len(reference)} reference bins but {len(generated)} generated bins")
    total = int(reference.sum())
    if total == 0:
        raise EvalInputError(f"{source}: the reference has no onset; Beats Coverage / Hit are undefined")
    return int(generated.sum()) / total, int(((reference == 1) & (generated == 1)).sum()) / total


@dataclass(frozen=True)
class BeatsPair:
    reference: str
    generated: str
    coverage: float | None  # None: lengths differ, not scored (a 0 in the average, as upstream)
    hit: float | None


def score_beats(pairs: list[tuple[Path, Path]]) -> tuple[dict[str, float | int], list[BeatsPair]]:
    """{beats_coverage, beats_hit (means over all pairs, fractions), beats_pairs, beats_length_mismatch} and
    each pair's scores, for (reference file, generated file) pairs."""
    if not pairs:
        raise EvalInputError("Beats Coverage / Hit need at least one (reference, generated) pair")
    scored = []
    for reference_path, generated_path in pairs:
        reference = load_music(reference_path, BEATS_SAMPLING_RATE)
        generated = load_music(generated_path, BEATS_SAMPLING_RATE)
        if reference.shape != generated.shape:
            logger.warning(
                "%s (%d samples) and %s (%d samples) differ in length at %d Hz: not scored, counted as 0 as upstream",
                reference_path,
                len(reference),
                generated_path,
                len(generated),
                BEATS_SAMPLING_RATE,
            )
            scored.append(BeatsPair(str(reference_path), str(generated_path), None, None))
            continue
        coverage, hit = beats_scores(onset_bins(reference), onset_bins(generated), str(reference_path))
        scored.append(BeatsPair(str(reference_path), str(generated_path), coverage, hit))
    table = {
        "beats_coverage": sum(p.coverage or 0.0 for p in scored) / len(scored),
        "beats_hit": sum(p.hit or 0.0 for p in scored) / len(scored),
        "beats_pairs": len(scored),
        "beats_length_mismatch": sum(p.coverage is None for p in scored),
    }
    return table, scored


def music_beat_frames(path: str | Path) -> np.ndarray:
    """Beat positions of a music file in 60 fps frames (float): librosa's beat tracker at 32 kHz."""
    import librosa

    wav = load_music(path, BAS_SAMPLING_RATE)
    _, frames = librosa.beat.beat_track(y=wav, sr=BAS_SAMPLING_RATE)
    return librosa.frames_to_time(frames, sr=BAS_SAMPLING_RATE) * BAS_FPS


def music_dance_bas(music_path: str | Path, joints: np.ndarray, fps: float) -> float:
    """BAS of a music file against a dance (joints [N,J>=22,3] at `fps`, taken at 60 fps); NaN if undefined."""
    array = np.asarray(joints)[:, :NUM_JOINTS]
    if fps != BAS_FPS:
        array = resample_motion(array, fps, BAS_FPS)
    if len(array) < 3:
        return float("nan")
    return frame_beat_alignment(music_beat_frames(music_path), speed_minimum_frames(array))
