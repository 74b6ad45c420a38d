"""All dance metrics of a generated set against its ground truth (the music -> motion benchmark).

Generated and ground-truth motions go through the same protocol (`prepare_joints`: 1200 frames
at most, first root at the origin), then: FID_k / FID_m against the ground truth (both normalised
with ground-truth statistics), Div_k / Div_m of each set (normalised the same way, as Bailando
does), BAS against the music beats, PFC. Ground-truth columns give the reference values.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from tqdm import tqdm

from unimumo.eval.dance_features import kinetic_features, manual_features, prepare_joints
from unimumo.eval.metric_functions import diversity, fid, normalise_by_reference, physical_foot_contact
from unimumo.rhythm import beat_alignment_score, motion_beats

GENERATED, GROUND_TRUTH = "generated", "ground_truth"


def motion_statistics(joints: Sequence[np.ndarray], music_beats: Sequence[np.ndarray], fps: float, name: str) -> dict:
    """Stacked kinetic and manual features, and the BAS (of samples with music beats) and PFC values of a set."""
    kinetic, manual, bas, pfc = [], [], [], []
    pairs = tqdm(list(zip(joints, music_beats)), desc=f"features ({name})", unit="motion")
    for index, (sequence, beats) in enumerate(pairs):
        prepared = prepare_joints(sequence, source=f"{name} motion {index}")
        kinetic.append(kinetic_features(prepared, fps))
        manual.append(manual_features(prepared, fps))
        pfc.append(physical_foot_contact(prepared, fps))
        if len(beats):
            bas.append(beat_alignment_score(beats, motion_beats(prepared, fps)))
    return {"kinetic": np.stack(kinetic), "manual": np.stack(manual), "bas": bas, "pfc": pfc}


def _mean_or_none(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def dance_metrics(
    generated: Sequence[np.ndarray],
    ground_truth: Sequence[np.ndarray],
    music_beats: Sequence[np.ndarray],
    fps: float,
    ground_truth_music_beats: Sequence[np.ndarray] | None = None,
) -> dict[str, dict[str, float | None]]:
    """{"generated": {...}, "ground_truth": {...}} with FID_k, FID_m, Div_k, Div_m, BAS, PFC.

    BAS of the generated motions uses `music_beats`; that of the ground truth uses
    `ground_truth_music_beats` (default: the same beats, when both dance to the same music).
    """
    reference_beats = music_beats if ground_truth_music_beats is None else ground_truth_music_beats
    if not len(generated) == len(ground_truth) == len(music_beats) == len(reference_beats):
        raise ValueError(f"{len(generated)} generated, {len(ground_truth)} ground-truth motions, "
                         f"{len(music_beats)} / {len(reference_beats)} beat lists")
    if len(generated) < 2:
        raise ValueError("dance metrics need at least 2 motions (covariances, pairwise distances)")
    stats = {
        GENERATED: motion_statistics(generated, music_beats, fps, GENERATED),
        GROUND_TRUTH: motion_statistics(ground_truth, reference_beats, fps, GROUND_TRUTH),
    }
    table: dict[str, dict[str, float | None]] = {GENERATED: {}, GROUND_TRUTH: {}}
    normalised = {kind: normalise_by_reference(stats[GROUND_TRUTH][kind], stats[GENERATED][kind])
                  for kind in ("kinetic", "manual")}
    for kind, suffix in (("kinetic", "k"), ("manual", "m")):
        table[GENERATED][f"FID_{suffix}"] = fid(stats[GENERATED][kind], stats[GROUND_TRUTH][kind])
        table[GROUND_TRUTH][f"FID_{suffix}"] = fid(stats[GROUND_TRUTH][kind], stats[GROUND_TRUTH][kind])
    for kind, suffix in (("kinetic", "k"), ("manual", "m")):
        reference, generated_normalised = normalised[kind]
        table[GENERATED][f"Div_{suffix}"] = diversity(generated_normalised)
        table[GROUND_TRUTH][f"Div_{suffix}"] = diversity(reference)
    for column in (GENERATED, GROUND_TRUTH):
        table[column]["BAS"] = _mean_or_none(stats[column]["bas"])
        table[column]["PFC"] = _mean_or_none(stats[column]["pfc"])
    return table
