"""The published dance-metric protocols, each reproducing the evaluation code behind a published table.

* `unimumo` (default): the UniMuMo authors' evaluation, Cralence/My_Eval @ ce5b01d (motion_eval/), on
  22 joints. Both sets are cut to 1200 frames and moved so that frame 0's root is at the origin; kinetic
  features with a hard-coded frame time of 1/60 s and the energy-expenditure slip, manual features with
  velocities per 1/120 s, the template body lengths and slots 28-30 forced false; features stored as
  float32; normalisation by the ground truth's mean and std + 1e-10; FID through `scipy.linalg.sqrtm`;
  BAS and PFC on the whole sequences, in frames (`unimumo.rhythm.speed_minimum_frames`,
  `frame_beat_alignment`; PFC per frame step at the data's rate).
* `bailando`: lisiyao21/Bailando @ cc90b98 (utils/metrics_new.py, utils/features/, utils/beat_align_score.py,
  extract_aist_features.py), on 24 SMPL joints: as `unimumo` but with all 32 manual predicates, and only the
  generated motions are cut to 1200 frames (the ground-truth features come from whole sequences).
* `edge`: Stanford-TML/EDGE @ 17c3428 (eval/eval_pfc.py): PFC only, on joints resampled to 30 fps.
* `corrected`: this project's physically consistent definitions (`unimumo.eval.dance_features`); not
  comparable with any published table.

A sequence whose metric is undefined (no motion beat or no music beat for BAS, a root that never
accelerates for PFC) gets NaN; the means skip it and `BAS_nan` / `PFC_nan` count it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unimumo.eval.dance_features import (
    JOINT_COUNTS,
    MAX_FRAMES,
    check_positions,
    kinetic_features,
    manual_predicates,
    prepare_joints,
)
from unimumo.eval.metric_functions import foot_contact_upstream
from unimumo.motion.resample import resample_motion
from unimumo.rhythm import frame_beat_alignment, speed_minimum_frames

UPSTREAM_KINETIC_FPS = 60.0  # the kinetic features' hard-coded frame time is 1/60 s
UPSTREAM_MANUAL_FPS = 120.0  # the manual predicates' hard-coded frame time is 1/120 s
EDGE_FPS = 30.0
Z_UP_ORDER = [0, 2, 1]  # y-up (x, y, z) -> EDGE's z-up component order (x, horizontal, up)
# Left shoulder, left elbow, right shoulder, left hip, right hip of the SMPL template the upstream code
# measures its body lengths on (metres).
_TEMPLATE = {
    "left_shoulder": (1.99113488e-01, 2.36807942e-01, -1.80702247e-02),
    "left_elbow": (4.54445392e-01, 2.21158922e-01, -4.10167128e-02),
    "right_shoulder": (-1.91692337e-01, 2.36928746e-01, -1.23055102e-02),
    "left_hip": (5.64076714e-02, -3.23069185e-01, 1.09197125e-02),
    "right_hip": (-6.24834076e-02, -3.31302464e-01, 1.50412619e-02),
}


def _distance(a: str, b: str) -> float:
    return float(np.linalg.norm(np.array(_TEMPLATE[a]) - np.array(_TEMPLATE[b])))


UPSTREAM_BODY_LENGTHS = (  # humerus length, shoulder width, hip width
    _distance("left_shoulder", "left_elbow"),
    _distance("left_shoulder", "right_shoulder"),
    _distance("left_hip", "right_hip"),
)


@dataclass(frozen=True)
class Protocol:
    name: str
    upstream: str  # repository @ commit whose code the protocol reproduces ("" for corrected)
    compares_with: str  # the published table its numbers can stand next to
    num_joints: int | None = None  # the joint count it requires (None: 22 or 24)
    truncate_ground_truth: bool = True  # ground-truth features from the first 1200 frames too
    blank_manual_slots: tuple[int, ...] = ()
    motion_features: bool = True  # FID_k, FID_m, Div_k, Div_m and BAS (edge reports PFC only)
    pfc_fps: float | None = None  # PFC on joints resampled to this rate (None: the data's rate)


PROTOCOLS = {
    "unimumo": Protocol(
        "unimumo",
        "Cralence/My_Eval@ce5b01d",
        "UniMuMo (Yang et al. 2024) music-to-dance table on AIST++",
        num_joints=22,
        blank_manual_slots=(28, 29, 30),
    ),
    "bailando": Protocol(
        "bailando",
        "lisiyao21/Bailando@cc90b98",
        "Bailando (Li et al. CVPR 2022) Table 1 on AIST++",
        num_joints=24,
        truncate_ground_truth=False,
    ),
    "edge": Protocol(
        "edge",
        "Stanford-TML/EDGE@17c3428",
        "EDGE (Tseng et al. CVPR 2023) PFC column",
        motion_features=False,
        pfc_fps=EDGE_FPS,
    ),
    "corrected": Protocol("corrected", "", "none: physically consistent definitions, not comparable"),
}
DEFAULT_PROTOCOL = "unimumo"


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown dance-metric protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def _joints(joints, protocol: Protocol, source: str) -> np.ndarray:
    """The array in its own dtype (the upstream code works in its files' dtype), with the joint count checked."""
    array = np.asarray(joints)
    array = check_positions(array, source, dtype=array.dtype if array.dtype == np.float32 else np.float64)
    expected = (protocol.num_joints,) if protocol.num_joints else JOINT_COUNTS
    if array.shape[1] not in expected:
        raise ValueError(
            f"{source}: protocol {protocol.name!r} needs {protocol.num_joints} joints "
            f"({protocol.upstream}), got {array.shape[1]}"
        )
    return array


def upstream_features(joints, protocol: Protocol, truncate: bool, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Kinetic (3 J) and manual (32) features of one sequence as the protocol's upstream code stores them (float32)."""
    array = _joints(joints, protocol, source)
    prepared = prepare_joints(array, source, MAX_FRAMES if truncate else None, dtype=array.dtype)
    kinetic = kinetic_features(prepared, UPSTREAM_KINETIC_FPS, upstream_expenditure=True).astype(np.float32)
    predicates = manual_predicates(prepared, UPSTREAM_MANUAL_FPS, UPSTREAM_BODY_LENGTHS, protocol.blank_manual_slots)
    return kinetic, predicates.astype(np.float32).mean(axis=0)


def upstream_beat_alignment(joints, music_beat_times, fps: float, protocol: Protocol, source: str) -> float:
    """BAS in frames on the whole sequence; music beats (s) become frames round(t * fps), those before the
    last speed sample kept. NaN without a music or a motion beat."""
    array = _joints(joints, protocol, source)
    motion = speed_minimum_frames(array)
    music = np.round(np.asarray(music_beat_times, dtype=np.float64).reshape(-1) * fps).astype(np.int64)
    music = music[(music >= 0) & (music < len(array) - 1)]
    return frame_beat_alignment(music, motion)


def upstream_foot_contact(joints, fps: float, protocol: Protocol, source: str) -> float:
    """PFC on the whole sequence at the data's rate, or for `edge` on joints resampled to 30 fps in EDGE's z-up
    component order (the norms then sum in EDGE's order); NaN for a still root."""
    array = _joints(joints, protocol, source)
    if protocol.pfc_fps is None:
        return foot_contact_upstream(array, fps)
    array = resample_motion(array, fps, protocol.pfc_fps)
    if len(array) < 3:
        raise ValueError(f"{source}: PFC needs at least 3 frames at {protocol.pfc_fps:g} fps, got {len(array)}")
    return foot_contact_upstream(array[..., Z_UP_ORDER], protocol.pfc_fps, up_axis=2)  # EDGE's z-up axis order
