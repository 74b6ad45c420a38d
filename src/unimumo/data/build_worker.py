"""The per-process side of the shard builder: frozen models loaded once, then one track (or motion) per call.

Functions here run in worker processes (or in the main process with --workers 1); they return plain
results and never raise for bad inputs: a bad input becomes a failure record {file, reason, stage}.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from unimumo.data.build_config import BuildConfig
from unimumo.data.pairing import MotionEntry, MusicTrack, load_motion, make_pair_sample
from unimumo.data.sources.music4all import TrackInfo, load_audio
from unimumo.models.text_tokenizer import TextTokenizer
from unimumo.models.motion_tokenizer import MotionTokenizer
from unimumo.models.music_codec import MusicCodec
from unimumo.rhythm import track_beats


@dataclass
class TrackResult:
    index: int
    track_id: str
    samples: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    skipped: dict | None = None  # why a valid track produced no samples: a skipped.jsonl record


@dataclass
class WorkerContext:
    config: BuildConfig
    codec: MusicCodec
    motion_tokenizer: MotionTokenizer
    text_tokenizer: TextTokenizer


_CONTEXT: WorkerContext | None = None


def load_context(config: BuildConfig) -> WorkerContext:
    return WorkerContext(
        config=config,
        codec=MusicCodec.from_pretrained(config.music_codec),
        motion_tokenizer=MotionTokenizer.from_pretrained(config.motion_tokenizer),
        text_tokenizer=TextTokenizer(config.text_tokenizer),
    )


def init_worker(config: BuildConfig) -> WorkerContext:
    """Load the models for this process, with one torch thread (results must not depend on the thread count).

    Called once in the main process; forked workers inherit the loaded context.
    """
    global _CONTEXT
    torch.set_num_threads(1)
    _CONTEXT = load_context(config)
    return _CONTEXT



def failure(path, stage: str, error: Exception, **extra) -> dict:
    """A failures.jsonl record: the input file, the build stage and the error."""
    return {"file": str(path), "stage": stage, "reason": f"{type(error).__name__}: {error}", **extra}


def scan_motion(entry: MotionEntry) -> tuple[MotionEntry, dict | None]:
    """(entry, None) if the motion is usable, else (entry, failure record)."""
    try:
        motion = load_motion(entry)
        if motion.duration <= 0:
            raise ValueError(f"{entry.path}: motion has no duration")
    except Exception as error:  # any unreadable input is recorded, the build goes on
        return entry, failure(entry.path, "motion", error)
    return entry, None


def process_track(job: tuple[int, TrackInfo, list[MotionEntry]]) -> TrackResult:
    """Track `index` of the plan paired with the motions chosen for it (see pairing.choose_motions)."""
    index, info, chosen = job
    context = _CONTEXT
    config = context.config
    result = TrackResult(index=index, track_id=info.id)
    try:
        wav = load_audio(info.audio_path, context.codec.sampling_rate)
        rhythm = track_beats(wav, context.codec.sampling_rate, config.beat_tracker)
        span = float(rhythm.beats[-1] - rhythm.beats[0]) if rhythm.beats.size >= 2 else 0.0
        if span < config.min_beat_seconds:
            result.skipped = {"id": info.id, "file": str(info.audio_path), "reason": "short_beats",
                              "detail": f"{rhythm.beats.size} beats spanning {span:.2f} s, under the "
                                        f"{config.min_beat_seconds:g} s minimum"}
            return result
        track = MusicTrack(info=info, codes=context.codec.encode(wav), rhythm=rhythm,
                           duration=len(wav) / context.codec.sampling_rate)
    except Exception as error:  # any unreadable input is recorded, the build goes on
        result.failures.append(failure(info.audio_path, "music", error, track_id=info.id))
        return result
    for pair, entry in enumerate(chosen):
        try:
            result.samples.append(make_pair_sample(
                track, load_motion(entry), pair, seed=config.seed, split=config.split,
                motion_tokenizer=context.motion_tokenizer, text_tokenizer=context.text_tokenizer,
            ))
        except Exception as error:  # a pair that cannot be made is recorded; the track's other pairs stay
            result.failures.append(failure(entry.path, "pair", error, track_id=info.id))
    return result
