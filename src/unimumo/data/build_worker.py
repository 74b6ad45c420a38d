"""The per-process side of the shard builder: frozen models loaded once, then one track (or motion) per call.

A track goes through four calls (see shard_builder): `prepare_track` decodes the audio and tracks the
beats, `encode_music` encodes a whole chunk's decoded tracks in batched codec passes, `pair_track` drafts
the encoded track's pairs with its motions (pairing.draft_pair: everything but the motion codes), and
`encode_motions` completes a whole chunk's drafts in batched motion-tokenizer passes. On the CPU a worker
makes them as two calls per chunk (`encode_chunk`, `pair_chunk`), so that chunks encode in parallel; with a
device the batched calls run in the main process.
Functions here run in worker processes (or in the main process); they return plain results and never
raise for bad inputs: a bad input becomes a failure record {file, reason, stage}.

A motion tokenizer in the music code space (`MotionTokenizer.needs_music`) encodes each pair's motion with the
pair's music: the decoded track is then kept past `encode_music`, `pair_track` cuts each draft's span of it
(`TrackResult.music`), and `encode_motions` passes it. Its codebooks must be the music codec's.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from unimumo.constants import CODE_RATE
from unimumo.data.build_config import BuildConfig
from unimumo.data.captions import CaptionFiles
from unimumo.data.pairing import MotionEntry, MusicTrack, PairDraft, draft_pair, load_motion
from unimumo.data.sources.music4all import TrackInfo, load_audio
from unimumo.models.motion_tokenizer import MotionTokenizer
from unimumo.models.music_codec import MusicCodec
from unimumo.models.text_tokenizer import TextTokenizer
from unimumo.rhythm import BeatTrack, track_beats


@dataclass
class TrackResult:
    index: int
    track_id: str
    samples: list[dict] = field(default_factory=list)
    drafts: list[PairDraft] = field(default_factory=list)  # pairs awaiting their motion codes
    music: dict[str, np.ndarray] = field(default_factory=dict)  # draft key -> its music (tokenizers that need it)
    failures: list[dict] = field(default_factory=list)
    skipped: dict | None = None  # why a valid track produced no samples: a skipped.jsonl record


@dataclass
class PreparedTrack:
    """Track `index` of the plan, decoded and beat-tracked (`wav`), then encoded (`codes`, `wav` dropped);
    `result` holds the final result of a track that failed or was skipped."""

    index: int
    info: TrackInfo
    chosen: list[MotionEntry]
    wav: np.ndarray | None = None
    rhythm: BeatTrack | None = None
    duration: float = 0.0
    codes: np.ndarray | None = None  # [4, T] music codes
    result: TrackResult | None = None


@dataclass
class WorkerContext:
    config: BuildConfig
    codec: MusicCodec
    motion_tokenizer: MotionTokenizer
    text_tokenizer: TextTokenizer
    captions: CaptionFiles  # --music-captions / --motion-captions


_CONTEXT: WorkerContext | None = None


def load_context(config: BuildConfig) -> WorkerContext:
    context = WorkerContext(
        config=config,
        codec=MusicCodec.from_pretrained(config.music_codec),
        motion_tokenizer=MotionTokenizer.from_pretrained(config.motion_tokenizer),
        text_tokenizer=TextTokenizer(config.text_tokenizer),
        captions=CaptionFiles.read(config.music_captions, config.motion_captions),
    )
    check_code_space(context.motion_tokenizer, context.codec, config)
    return context


def check_code_space(motion_tokenizer: MotionTokenizer, codec: MusicCodec, config: BuildConfig) -> None:
    """A tokenizer in the music code space must hold this codec's codebooks and sampling rate (ValueError naming
    both directories), so that a motion code means the music code of the same id."""
    if not motion_tokenizer.needs_music:
        return
    layers = codec.model.quantizer.layers
    same = motion_tokenizer.music_sampling_rate == codec.sampling_rate and all(
        torch.equal(motion_tokenizer.model.codebooks[level].cpu(), layers[level].codebook.embed.cpu())
        for level in range(len(motion_tokenizer.model.codebooks))
    )
    if not same:
        raise ValueError(
            f"{config.motion_tokenizer}: a motion tokenizer in the music code space of another codec "
            f"than {config.music_codec} (its codebooks or sampling rate differ)"
        )


M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc mallopt parameters


def keep_freed_memory() -> None:
    """Make glibc's malloc serve every allocation from its heap and keep freed memory (up to 1 GiB at the top)
    for reuse. Otherwise the codec's and the motion tokenizer's large tensors are fresh mmaps, zeroed and
    page-faulted in on every call: ~18% of a CPU build's time went to the kernel, more with workers faulting at
    once. Peak memory stays about the same (+4% measured). Nothing where the C library is not glibc."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_MAX, 0)
    mallopt(M_TRIM_THRESHOLD, 2**30)


def init_worker(config: BuildConfig) -> WorkerContext:
    """Load the models for this process, with one torch thread and one BLAS/OpenMP thread (results must not
    depend on the thread count, and --workers N processes must not start N x cores threads).

    Called once in the main process; forked workers inherit the loaded context and the thread limits.
    """
    global _CONTEXT
    torch.set_num_threads(1)
    threadpool_limits(1)  # numpy's OpenBLAS (librosa's mel projection) would add a spinning helper per core
    keep_freed_memory()
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


def prepare_track(job: tuple[int, TrackInfo, list[MotionEntry]]) -> PreparedTrack:
    """Decode track `index` of the plan and track its beats; short-beat tracks are skipped, bad ones failed."""
    index, info, chosen = job
    config, sampling_rate = _CONTEXT.config, _CONTEXT.codec.sampling_rate
    prepared = PreparedTrack(index=index, info=info, chosen=chosen)
    try:
        wav = load_audio(info.audio_path, sampling_rate)
        rhythm = track_beats(wav, sampling_rate, config.beat_tracker, config.beat_checkpoint)
    except Exception as error:  # any unreadable input is recorded, the build goes on
        prepared.result = TrackResult(
            index, info.id, failures=[failure(info.audio_path, "music", error, track_id=info.id)]
        )
        return prepared
    span = float(rhythm.beats[-1] - rhythm.beats[0]) if rhythm.beats.size >= 2 else 0.0
    if span < config.min_beat_seconds:
        prepared.result = TrackResult(
            index,
            info.id,
            skipped={
                "id": info.id,
                "file": str(info.audio_path),
                "reason": "short_beats",
                "detail": f"{rhythm.beats.size} beats spanning {span:.2f} s, under the "
                f"{config.min_beat_seconds:g} s minimum",
            },
        )
        return prepared
    prepared.wav, prepared.rhythm, prepared.duration = wav, rhythm, len(wav) / sampling_rate
    return prepared


def encode_music(chunk: list[PreparedTrack]) -> list[PreparedTrack]:
    """The chunk's tracks without their audio, the decoded ones with their codes (one batched codec call);
    a codec error fails every track of the call (each recorded, the build goes on)."""
    decoded = [track for track in chunk if track.wav is not None]
    try:
        codes = _CONTEXT.codec.encode_batch([track.wav for track in decoded]) if decoded else []
    except Exception as error:  # recorded for every track of the batch
        failed = {
            track.index: TrackResult(
                track.index,
                track.info.id,
                failures=[failure(track.info.audio_path, "music", error, track_id=track.info.id)],
            )
            for track in decoded
        }
        return [replace(track, wav=None, result=failed.get(track.index, track.result)) for track in chunk]
    by_index = {track.index: track_codes for track, track_codes in zip(decoded, codes, strict=True)}
    keep = _CONTEXT.motion_tokenizer.needs_music  # the pairs' music, cut in pair_track
    return [replace(track, wav=track.wav if keep else None, codes=by_index.get(track.index)) for track in chunk]


def pair_track(prepared: PreparedTrack) -> TrackResult:
    """The drafts of an encoded track paired with the motions chosen for it (see pairing.choose_motions);
    a track that failed or was skipped gives its result."""
    if prepared.codes is None:
        return prepared.result
    config, info = _CONTEXT.config, prepared.info
    track = MusicTrack(info=info, codes=prepared.codes, rhythm=prepared.rhythm, duration=prepared.duration)
    result = TrackResult(index=prepared.index, track_id=info.id)
    for pair, entry in enumerate(prepared.chosen):
        try:
            result.drafts.append(
                draft_pair(
                    track,
                    load_motion(entry),
                    pair,
                    seed=config.seed,
                    split=config.split,
                    motion_file=entry.path,
                    motion_tokenizer=_CONTEXT.motion_tokenizer,
                    text_tokenizer=_CONTEXT.text_tokenizer,
                    tile=config.tile,
                    captions=_CONTEXT.captions,
                )
            )
        except Exception as error:  # a pair that cannot be made is recorded; the track's other pairs stay
            result.failures.append(failure(entry.path, "pair", error, track_id=info.id))
    if prepared.wav is not None:  # the music under each pair: its code steps of the track
        hop = _CONTEXT.codec.sampling_rate // CODE_RATE
        for draft in result.drafts:
            start = int(round(draft.meta["offsets"]["music_start_s"] * CODE_RATE))
            result.music[draft.key] = prepared.wav[start * hop : (start + draft.music_codes.shape[1]) * hop]
    return result


def encode_motions(results: list[TrackResult]) -> list[TrackResult]:
    """A chunk's track results with their drafts completed into samples: one batched `MotionTokenizer.encode` per
    motion frame rate over the chunk's pairs in plan order; a tokenizer error fails every pair of its call (each
    recorded, the build goes on)."""
    drafts = [draft for result in results for draft in result.drafts]
    result_music = {key: wav for result in results for key, wav in result.music.items()}
    needs_music = _CONTEXT.motion_tokenizer.needs_music
    outcomes: list = []  # per draft, in order: its codes, or the error of its call
    for fps in sorted({draft.fps for draft in drafts}):
        group = [draft for draft in drafts if draft.fps == fps]
        try:
            music = {"music": [result_music.get(draft.key) for draft in group]} if needs_music else {}
            encoded = _CONTEXT.motion_tokenizer.encode([draft.features for draft in group], fps=fps, **music)
            outcomes += list(zip(group, encoded, strict=True))
        except Exception as error:  # recorded for every pair of the call
            outcomes += [(draft, error) for draft in group]
    by_draft = {id(draft): outcome for draft, outcome in outcomes}
    for result in results:
        for draft in result.drafts:
            stage, outcome = "motion_tokenizer", by_draft[id(draft)]
            if not isinstance(outcome, Exception):
                try:
                    result.samples.append(draft.sample(outcome))
                    continue
                except Exception as error:  # a sample failing its checks is a failed pair; the track's others stay
                    stage, outcome = "pair", error
            result.failures.append(failure(draft.file, stage, outcome, track_id=result.track_id))
        result.drafts, result.music = [], {}
    return results


def encode_chunk(jobs: list[tuple[int, TrackInfo, list[MotionEntry]]]) -> list[PreparedTrack]:
    """`prepare_track` then `encode_music` over a chunk's jobs in one call (the CPU build: its audio stays here)."""
    return encode_music([prepare_track(job) for job in jobs])


def pair_chunk(chunk: list[PreparedTrack]) -> list[TrackResult]:
    """`pair_track` then `encode_motions` over an encoded chunk in one call (the CPU build: its drafts stay here)."""
    return encode_motions([pair_track(track) for track in chunk])
