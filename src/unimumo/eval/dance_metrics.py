"""All dance metrics of a generated set against its ground truth (the music -> motion benchmark).

`protocol` picks the definitions (`unimumo.eval.protocols`): `unimumo` (default), `bailando` and `edge`
reproduce the published evaluation code; `corrected` is this project's physically consistent version
(`prepare_joints`: 1200 frames at most, first root at the origin, for both sets; features at the real
frame time; BAS in seconds; PFC scaled to 30 fps), not comparable with published tables.
Metrics: FID_k / FID_m against the ground truth (both normalised with ground-truth statistics),
Div_k / Div_m of each set (normalised the same way), BAS against the music beats, PFC. The
ground-truth column gives the reference values. BAS and PFC are means over the sequences where
they are defined; BAS_nan and PFC_nan count the others (no motion or music beat; a still root). A set
without music (its beat lists all None, e.g. AIST++ motion read without its music) has no BAS.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from unimumo.eval.dance_features import kinetic_features, manual_features, prepare_joints
from unimumo.eval.metric_functions import (
    diversity,
    fid,
    fid_sqrtm,
    normalise_by_reference,
    normalise_upstream,
    physical_foot_contact,
)
from unimumo.eval.protocols import (
    DEFAULT_PROTOCOL,
    Protocol,
    get_protocol,
    upstream_beat_alignment,
    upstream_features,
    upstream_foot_contact,
)
from unimumo.rhythm import beat_alignment_score, motion_beats

GENERATED, GROUND_TRUTH = "generated", "ground_truth"
KINDS = (("kinetic", "k"), ("manual", "m"))


def _corrected_statistics(joints, beats, fps: float, name: str) -> dict:
    prepared = prepare_joints(joints, source=name)
    dance_beats = motion_beats(prepared, fps)
    root = prepared[:, 0]
    still = not np.any(root[2:] - 2 * root[1:-1] + root[:-2])
    stats = {
        "kinetic": kinetic_features(prepared, fps),
        "manual": manual_features(prepared, fps),
        "pfc": float("nan") if still else physical_foot_contact(prepared, fps),
    }
    if beats is not None:
        stats["bas"] = beat_alignment_score(beats, dance_beats) if len(beats) and len(dance_beats) else float("nan")
    return stats


def _protocol_statistics(joints, beats, fps: float, name: str, protocol: Protocol, truncate: bool) -> dict:
    stats = {"pfc": upstream_foot_contact(joints, fps, protocol, name)}
    if protocol.motion_features:
        stats["kinetic"], stats["manual"] = upstream_features(joints, protocol, truncate, name)
        if beats is not None:
            stats["bas"] = upstream_beat_alignment(joints, beats, fps, protocol, name)
    return stats


def motion_statistics(
    joints: Sequence[np.ndarray],
    music_beats: Sequence[np.ndarray | None],
    fps: float,
    name: str,
    protocol: Protocol,
    truncate: bool = True,
) -> dict:
    """Stacked kinetic and manual features (if the protocol has them) and the per-sequence BAS and PFC of a set."""
    rows = []
    for index, (sequence, beats) in enumerate(
        tqdm(list(zip(joints, music_beats)), desc=f"features ({name})", unit="motion")
    ):
        source = f"{name} motion {index}"
        if protocol.name == "corrected":
            rows.append(_corrected_statistics(sequence, beats, fps, source))
        else:
            rows.append(_protocol_statistics(sequence, beats, fps, source, protocol, truncate))
    return {
        key: np.stack([row[key] for row in rows]) if key in ("kinetic", "manual") else [row[key] for row in rows]
        for key in rows[0]
    }


def _mean_and_undefined(values: list[float]) -> tuple[float | None, int]:
    """Mean over the finite values (None if there is none) and the number of NaN values."""
    array = np.asarray(values, dtype=np.float64)
    defined = array[np.isfinite(array)]
    return (float(defined.mean()) if defined.size else None), int(array.size - defined.size)


def dance_metrics(
    generated: Sequence[np.ndarray],
    ground_truth: Sequence[np.ndarray],
    music_beats: Sequence[np.ndarray | None],
    fps: float,
    ground_truth_music_beats: Sequence[np.ndarray | None] | None = None,
    protocol: str = DEFAULT_PROTOCOL,
) -> dict[str, dict[str, float | int | None]]:
    """{"generated": {...}, "ground_truth": {...}} with FID_k, FID_m, Div_k, Div_m, BAS, BAS_nan, PFC, PFC_nan.

    Music beats are times in seconds. BAS of the generated motions uses `music_beats`; that of the ground
    truth uses `ground_truth_music_beats` (default: the same beats, when both dance to the same music).
    The ground-truth set may differ in size from the generated one (e.g. real AIST++ test sequences);
    it then needs its own beat lists, all None when it has no music (no ground-truth BAS then).
    The `edge` protocol reports PFC only.
    """
    chosen = get_protocol(protocol)
    reference_beats = music_beats if ground_truth_music_beats is None else ground_truth_music_beats
    if len(generated) != len(music_beats) or len(ground_truth) != len(reference_beats):
        raise ValueError(
            f"{len(generated)} generated motions with {len(music_beats)} beat lists, "
            f"{len(ground_truth)} ground-truth motions with {len(reference_beats)} beat lists"
        )
    for name, beats in (("music_beats", music_beats), ("ground_truth_music_beats", reference_beats)):
        if any(b is None for b in beats) and not all(b is None for b in beats):
            raise ValueError(f"{name}: give beats for every sequence of a set, or None for all (a set without music)")
    if len(generated) < 2 or len(ground_truth) < 2:
        raise ValueError("dance metrics need at least 2 motions in each set (covariances, pairwise distances)")
    stats = {
        GENERATED: motion_statistics(generated, music_beats, fps, GENERATED, chosen),
        GROUND_TRUTH: motion_statistics(
            ground_truth, reference_beats, fps, GROUND_TRUTH, chosen, truncate=chosen.truncate_ground_truth
        ),
    }
    table: dict[str, dict[str, float | int | None]] = {GENERATED: {}, GROUND_TRUTH: {}}
    if chosen.motion_features:
        for kind, suffix in KINDS:
            truth, made = stats[GROUND_TRUTH][kind], stats[GENERATED][kind]
            if chosen.name == "corrected":
                table[GENERATED][f"FID_{suffix}"] = fid(made, truth)
                table[GROUND_TRUTH][f"FID_{suffix}"] = fid(truth, truth)
                truth, made = normalise_by_reference(truth, made)
            else:
                truth, made = normalise_upstream(truth, made)
                table[GENERATED][f"FID_{suffix}"] = fid_sqrtm(made, truth)
                table[GROUND_TRUTH][f"FID_{suffix}"] = fid_sqrtm(truth, truth)
            table[GENERATED][f"Div_{suffix}"] = diversity(made)
            table[GROUND_TRUTH][f"Div_{suffix}"] = diversity(truth)
    for column in (GENERATED, GROUND_TRUTH):
        for metric in ("BAS", "PFC"):
            values = stats[column].get(metric.lower())
            if values is not None:  # no BAS without music or for `edge`
                table[column][metric], table[column][f"{metric}_nan"] = _mean_and_undefined(values)
    return table
