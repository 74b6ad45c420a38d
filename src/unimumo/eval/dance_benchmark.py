"""What the dance benchmarks (music2motion, text2music) share: the protocol, the ground truth, the music beats.

Generated motion is decoded by the motion tokenizer to the 22 HumanML3D joints, so a protocol that needs
24 SMPL joints (`bailando`) cannot score it and is refused before anything runs. The ground truth is either
real AIST++ motion (`aist`, as in the published tables: the AIST++ reader's SMPL joints of the evaluated
split's sequences, whole, resampled to the benchmark's frame rate; the protocol then cuts them as its
upstream code does) or the motion tokenizer's reconstruction of the shard motion codes (`reconstruction`),
whose figures are not comparable with published tables. Music beats: Bailando's onset beats for the
published protocols; for `corrected`, the beat tracker the shards were built with (`unimumo.rhythm.track_beats`
with the tracker their manifest records, `benchmark_beat_tracker`) on the raw mix; generated and ground-truth
music (decoded by the codec) alike.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from unimumo.constants import NUM_JOINTS
from unimumo.data.sources import aist
from unimumo.eval.assets import shards_beat_tracker
from unimumo.eval.dance_features import MAX_FRAMES
from unimumo.eval.generation import decode_music, ground_truth
from unimumo.eval.protocols import Protocol, get_protocol
from unimumo.eval.samples import EvalSample
from unimumo.motion.resample import resample_motion
from unimumo.motion.skeleton import smpl_forward_kinematics
from unimumo.rhythm import DEFAULT_BEAT_TRACKER, BeatTracker, onset_beat_frames

GENERATED_JOINTS = NUM_JOINTS  # what MotionTokenizer.decode_joints gives
GROUND_TRUTHS = ("aist", "reconstruction")
ONSET_FRAME_RATE = 60.0  # onset_beat_frames' frames per second
BAILANDO_BEATS = "Bailando onset beats (librosa beat_track on the percussive onset strength, 30720 Hz, hop 512)"
NOT_COMPARABLE = (
    "ground truth: the motion tokenizer's reconstruction of the shard motion codes, not real AIST++ "
    "motion; the figures are not comparable with published tables (give --aist DIR)"
)


def benchmark_protocol(name: str) -> Protocol:
    """The protocol `name`, refused when it cannot score the generated (22-joint) motion."""
    protocol = get_protocol(name)
    if protocol.num_joints not in (None, GENERATED_JOINTS):
        raise ValueError(
            f"--protocol {name} needs {protocol.num_joints} SMPL joints ({protocol.upstream}), but generated motion "
            f"is decoded by the motion tokenizer to {GENERATED_JOINTS} joints and there is no "
            f"{protocol.num_joints}-joint source; use --protocol unimumo (My_Eval on {GENERATED_JOINTS} joints, "
            f"the UniMuMo table)"
        )
    return protocol


def protocol_info(protocol: Protocol) -> dict:
    return {
        "protocol": protocol.name,
        "protocol_upstream": protocol.upstream or "none",
        "compares_with": protocol.compares_with,
    }


def ground_truth_kind(args: argparse.Namespace) -> str:
    """--ground-truth, by default `aist` when --aist is given, else `reconstruction`."""
    kind = args.ground_truth or ("aist" if args.aist else "reconstruction")
    if kind == "aist" and not args.aist:
        raise ValueError("--ground-truth aist needs --aist DIR (the AIST++ root: motions/, splits/crossmodal_*.txt)")
    if kind == "reconstruction" and args.aist:
        raise ValueError(f"--aist {args.aist} is only read with --ground-truth aist")
    return kind


def _set_info(kind: str, description: str, split: str, joints: Sequence[np.ndarray], protocol: Protocol) -> dict:
    info = {
        "ground_truth": kind,
        "ground_truth_set": description,
        "ground_truth_split": split,
        "ground_truth_sequences": len(joints),
        "ground_truth_frames": sum(len(j) for j in joints),
    }
    if protocol.motion_features:  # the frames FID/Div see after the protocol's cut
        cut = MAX_FRAMES if protocol.truncate_ground_truth else None
        info["ground_truth_feature_frames"] = sum(len(j[:cut]) for j in joints)
    if kind == "reconstruction":
        info["ground_truth_note"] = NOT_COMPARABLE
    return info


def aist_ground_truth(root: str | Path, split: str, protocol: Protocol, fps: float) -> tuple[list[np.ndarray], dict]:
    """Float32 joints of the AIST++ `split` sequences (the protocol's joint count, 22 if it has none; whole
    sequences at `fps`) and their description for metrics.json."""
    root = Path(root)
    if not (root / "motions").is_dir():
        raise FileNotFoundError(f"{root / 'motions'}: missing; --aist must be the AIST++ root (motions/, splits/)")
    try:
        paths = aist.list_sequences(root, split)
    except (ValueError, FileNotFoundError) as error:
        raise type(error)(f"--aist {root} has no split {split!r} for the ground truth: {error}") from error
    if len(paths) < 2:
        raise ValueError(
            f"{root / 'splits' / f'crossmodal_{split}.txt'}: {len(paths)} usable sequence(s) (after "
            "ignore_list.txt); the ground truth needs at least 2"
        )
    num_joints = protocol.num_joints or NUM_JOINTS
    joints = []
    for path in paths:
        sequence = smpl_forward_kinematics(*aist.read_smpl(path))[:, :num_joints].astype(np.float32)
        joints.append(sequence if fps == aist.FPS else resample_motion(sequence, aist.FPS, fps))
    rate = f"{aist.FPS:g} fps" + ("" if fps == aist.FPS else f", resampled to {fps:g} fps")
    description = f"AIST++ {root} crossmodal_{split}: SMPL joints ({num_joints}) at {rate}; no music (no BAS)"
    return joints, _set_info("aist", description, split, joints, protocol)


def open_ground_truth(args: argparse.Namespace, protocol: Protocol) -> tuple[list[np.ndarray], dict] | None:
    """The AIST++ ground truth (joints, info), read before anything is generated so that a bad --aist fails at
    once; None for the reconstruction (whose figures are not comparable: the command says so before it runs)."""
    if ground_truth_kind(args) == "aist":
        return aist_ground_truth(args.aist, args.split, protocol, args.motion_fps)
    return None


def scored_ground_truth(
    real: tuple[list[np.ndarray], dict] | None,
    reference: list[np.ndarray],
    reference_beats: list[np.ndarray],
    split: str,
    protocol: Protocol,
) -> tuple[list[np.ndarray], list[np.ndarray | None], dict]:
    """(joints, music beat lists, info) of the set the generated motion is scored against: the AIST++ motion
    (without music) from `open_ground_truth`, or the reconstruction `reference` with its music's beats."""
    if real is None:
        description = "motion tokenizer reconstruction of the shard motion codes"
        return reference, reference_beats, _set_info("reconstruction", description, split, reference, protocol)
    joints, info = real
    return joints, [None] * len(joints), info


def tracks_builder_beats(protocol: Protocol) -> bool:
    """The protocol finds music beats as the shard builder does (`corrected`), not with Bailando's onset beats."""
    return protocol.name == "corrected"


def benchmark_beat_tracker(
    protocol: Protocol, shards: str | Path | None, split: str | None, checkpoint: str | Path | None = None
) -> BeatTracker | None:
    """The beat tracker `music_beat_times` needs for `protocol`: None unless the protocol tracks beats as the builder
    does; then the one the shards' manifest records for `split` (`shards_beat_tracker`; `checkpoint`: where the
    Beat This! weights of a beat_this build are now), or without shards (scoring any system's outputs) the
    builder's default. Call it at start-up, so that a missing or unusable record fails before anything is
    generated."""
    if checkpoint is not None and (not tracks_builder_beats(protocol) or shards is None):
        raise ValueError(
            "--beat-checkpoint is used only with --protocol corrected on --shards built with --beat-tracker beat_this "
            f"(here: --protocol {protocol.name}{', no --shards' if shards is None else ''})"
        )
    if not tracks_builder_beats(protocol):
        return None
    if shards is None:
        return BeatTracker(DEFAULT_BEAT_TRACKER)
    return shards_beat_tracker(shards, split, checkpoint)


def music_beat_times(
    wavs: Sequence[np.ndarray], sampling_rate: int, protocol: Protocol, beat_tracker: BeatTracker | None = None
) -> tuple[list[np.ndarray], str]:
    """Beat times (s) of each waveform as the protocol finds them, and the extractor's name. `beat_tracker` (e.g.
    from `benchmark_beat_tracker`) is required when the protocol tracks beats as the shard builder does."""
    if not tracks_builder_beats(protocol):
        return [onset_beat_frames(wav, sampling_rate) / ONSET_FRAME_RATE for wav in wavs], BAILANDO_BEATS
    if beat_tracker is None:
        raise ValueError(
            f"--protocol {protocol.name} tracks music beats as the shard builder did: give the beat "
            "tracker the shards were built with (their manifest records it)"
        )
    return (
        [beat_tracker.track(wav, sampling_rate).beats for wav in wavs],
        f"the shard builder's beat tracker ({beat_tracker}) on the raw mix",
    )


def ground_truth_music_beats(
    samples: list[EvalSample], codec, protocol: Protocol, beat_tracker: BeatTracker | None = None
) -> tuple[list[np.ndarray], str]:
    """Beat times (s) of the samples' own music, the protocol's extractor on the codec-decoded music (as for
    generated music); and where they come from."""
    music = decode_music(codec, ground_truth(samples, "music_codes"), "ground-truth")
    beats, extractor = music_beat_times(music, codec.sampling_rate, protocol, beat_tracker)
    return beats, f"{extractor} of the codec-decoded ground-truth music"
