"""Scoring any system's outputs with the benchmarks' own protocols (`unimumo-eval score-music`, `score-dance`).

`score_music_files` is the dance-to-music scoring: Beats Coverage / Hit of generated music files against
reference files (`unimumo.eval.beats_metrics`, Cralence/My_Eval), and, given the dances the music was made
for, BAS of each music against its dance (My_Project's cal_beat_alignment). `score-music --metrics fad,kl,clap`
adds the text-to-music table's music quality (`unimumo.eval.quality_scoring`), the files then paired by name
stem (a file without a partner is skipped, named in `info.skipped`). `score_dance_joints` is the
music-to-dance scoring: FID_k, FID_m, Div_k, Div_m, PFC (and BAS given the music) of a joint set against
the AIST++ ground truth under a dance-metric protocol, exactly as `unimumo-eval music2motion --aist`
scores generated motion (`unimumo.eval.dance_benchmark.aist_ground_truth`, `dance_metrics`). The
generation benchmarks call the same functions on the files they write.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from unimumo.constants import NUM_JOINTS
from unimumo.eval.beats_metrics import (
    BAS_SAMPLING_RATE,
    BAS_UPSTREAM,
    BEATS_UPSTREAM,
    load_music,
    music_dance_bas,
    score_beats,
)
from unimumo.eval.config import ScoreDanceConfig, ScoreMusicConfig
from unimumo.eval.dance_benchmark import aist_ground_truth, benchmark_beat_tracker, music_beat_times, protocol_info
from unimumo.eval.dance_metrics import dance_metrics
from unimumo.eval.musiccaps import QUALITY_UPSTREAM
from unimumo.eval.protocols import Protocol, get_protocol
from unimumo.eval.report import Table, write_report
from unimumo.eval.system_outputs import (
    AUDIO_SUFFIXES,
    JOINT_SUFFIXES,
    EvalInputError,
    list_files,
    paired,
    read_joints,
)
from unimumo.utils.log import get_logger

logger = get_logger(__name__)

GENERATED, REFERENCE = "generated", "reference"


def _mean_defined(values: Sequence[float]) -> dict[str, float | int | None]:
    array = np.asarray(values, dtype=np.float64)
    defined = array[np.isfinite(array)]
    return {"BAS": float(defined.mean()) if defined.size else None, "BAS_nan": int(array.size - defined.size)}


def score_music_files(
    pairs: list[tuple[Path, Path]], dances: list[np.ndarray] | None = None, fps: float = 60.0
) -> tuple[Table, dict, list[dict]]:
    """(table, info, inputs) for (reference, generated) music file pairs; with `dances` (joints at `fps`, one per
    pair) also the BAS of the generated and of the reference music against the dance."""
    beats, per_pair = score_beats(pairs)
    table: Table = {GENERATED: dict(beats)}
    inputs = [
        {"reference": p.reference, "generated": p.generated, "beats_coverage": p.coverage, "beats_hit": p.hit}
        for p in per_pair
    ]
    info = {
        "beats_metric": BEATS_UPSTREAM,
        "beats_note": "fractions (the published table shows percentages); a "
        "pair whose files differ in length counts as 0 (upstream)",
    }
    if dances is not None:
        for column, side in ((GENERATED, 1), (REFERENCE, 0)):
            scores = [music_dance_bas(pair[side], joints, fps) for pair, joints in zip(pairs, dances)]
            table.setdefault(column, {}).update(_mean_defined(scores))
            for entry, score in zip(inputs, scores):
                entry[f"BAS_{column}"] = None if np.isnan(score) else score
        info["bas_metric"] = BAS_UPSTREAM
    return table, info, inputs


def _stem_pairs(reference: list[Path], generated: list[Path]) -> tuple[list[tuple[Path, Path]], list[dict]]:
    """(reference, generated) files with the same name stem, and a skipped entry for each file without a partner.
    Two files of one side with the same stem (clip.wav, clip.flac) are an error: which one is meant is unknown."""
    for files, side in ((reference, "reference"), (generated, "generated")):
        stems: dict[str, list[str]] = {}
        for path in files:
            stems.setdefault(path.stem, []).append(path.name)
        clashes = {stem: names for stem, names in stems.items() if len(names) > 1}
        if clashes:
            raise EvalInputError(
                f"{files[0].parent}: {len(clashes)} name stem(s) shared by several {side} files, e.g. "
                f"{', '.join(next(iter(clashes.values())))}; files are paired by name stem, so keep one file per stem"
            )
    by_stem = {path.stem: path for path in reference}
    pairs = [(by_stem[path.stem], path) for path in generated if path.stem in by_stem]
    paired_stems = {path.stem for _, path in pairs}
    skipped = [
        {"file": str(path), "reason": f"no {other} file named {path.stem}.*"}
        for files, other in ((generated, "reference"), (reference, "generated"))
        for path in files
        if path.stem not in paired_stems
    ]
    if not pairs:
        raise EvalInputError(f"no generated file has a reference file of the same name stem ({reference[0].parent})")
    return pairs, skipped


def _quality(config: ScoreMusicConfig, pairs: list[tuple[Path, Path]]) -> tuple[dict, dict, list[dict]]:
    """FAD / KL / CLAP of the (reference, generated) pairs, the captions read from --captions by name stem."""
    from unimumo.eval.config import quality_metrics
    from unimumo.eval.musiccaps import read_musiccaps
    from unimumo.eval.quality_scoring import QualityClip, QualityModels, score_quality

    captions = {row.ytid: row.caption for row in read_musiccaps(config.captions)} if config.captions else {}
    clips = [QualityClip(made.stem, made, real, captions.get(made.stem)) for real, made in pairs]
    return score_quality(clips, quality_metrics(config.metrics), QualityModels.of(config), Path(config.out) / "cache")


def score_music(config: ScoreMusicConfig) -> Table:
    """`score-music`: read, pair, score and write OUT/metrics.json and OUT/metrics.md."""
    generated = list_files(config.generated, AUDIO_SUFFIXES, "generated music")
    reference = list_files(config.reference, AUDIO_SUFFIXES, "reference music")
    skipped: list[dict] = []
    if config.metrics:  # the music-quality metrics pair by name stem, as the upstream scorers
        pairs, skipped = _stem_pairs(reference, generated)
        generated = [made for _, made in pairs]
        for entry in skipped:
            logger.warning("score-music: %s skipped: %s", entry["file"], entry["reason"])
    else:
        pairs = paired(reference, generated, "reference music", "generated music")
    dances = None
    if config.dance:
        dance_files = list_files(config.dance, JOINT_SUFFIXES, "dance joints")
        paired(generated, dance_files, "generated music", "dance joints")
        dances = [read_joints(path, NUM_JOINTS, config.fps, config.fps) for path in dance_files]
    table, info, inputs = score_music_files(pairs, dances, config.fps)
    if config.dance:
        for entry, path in zip(inputs, dance_files):
            entry["dance"] = str(path)
    if config.metrics:
        values, quality_info, per_clip = _quality(config, pairs)
        table[GENERATED].update(values)
        for entry, scores in zip(inputs, per_clip):
            entry.update({name: value for name, value in scores.items() if name not in ("generated", "reference")})
        info.update(quality_info, quality_upstream=QUALITY_UPSTREAM, skipped=skipped)
    info = {
        "generated": config.generated,
        "reference": config.reference,
        "dance": config.dance,
        "dance_fps": config.fps if config.dance else None,
        **info,
    }
    write_report(Path(config.out), "score-music", table, info, inputs=inputs)
    return table


def score_dance_joints(
    generated: list[np.ndarray],
    music_beats: list[np.ndarray | None],
    fps: float,
    ground_truth: tuple[list[np.ndarray], dict],
    protocol: Protocol,
) -> tuple[Table, dict]:
    """Dance metrics of `generated` joints (at `fps`, with the beat times of their music or all None) against the
    ground truth from `aist_ground_truth` (no music: no ground-truth BAS); and the run's description."""
    truth, truth_info = ground_truth
    table = dance_metrics(generated, truth, music_beats, fps, [None] * len(truth), protocol=protocol.name)
    return table, {**protocol_info(protocol), **truth_info}


def score_dance(config: ScoreDanceConfig) -> Table:
    """`score-dance`: read the joints (and music), score against AIST++, write OUT/metrics.json / metrics.md."""
    protocol = get_protocol(config.protocol)
    ground_truth = aist_ground_truth(config.aist, config.split, protocol, config.motion_fps)
    files = list_files(config.generated, JOINT_SUFFIXES, "generated joints")
    joints = [
        read_joints(path, protocol.num_joints or NUM_JOINTS, config.fps, config.motion_fps, config.up_axis)
        for path in files
    ]
    beats: list = [None] * len(files)
    beat_source = "none (no --music: no BAS)"
    if config.music:
        music = paired(files, list_files(config.music, AUDIO_SUFFIXES, "music"), "generated joints", "music")
        wavs = [load_music(path, BAS_SAMPLING_RATE) for _, path in music]
        beat_tracker = benchmark_beat_tracker(protocol, None, None)  # any system's music: no shards
        beats, beat_source = music_beat_times(wavs, BAS_SAMPLING_RATE, protocol, beat_tracker)
    table, info = score_dance_joints(joints, beats, config.motion_fps, ground_truth, protocol)
    inputs = [{"file": str(path), "frames": len(array), "fps": config.motion_fps} for path, array in zip(files, joints)]
    if config.music:
        for entry, (_, path) in zip(inputs, music):
            entry["music"] = str(path)
    info = {
        "generated": config.generated,
        "generated_fps": config.fps,
        "generated_up_axis": config.up_axis,
        "motion_fps": config.motion_fps,
        "music_beats": beat_source,
        **info,
    }
    write_report(Path(config.out), "score-dance", table, info, inputs=inputs)
    return table
