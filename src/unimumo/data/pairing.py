"""Pair one music track with K motions: choose motions, beat-align them by time warping, caption, tokenize.

A pair is made in two steps: `draft_pair` places and warps the motion and computes everything but the
motion codes (a `PairDraft` holding the warped 263-d features); the shard builder encodes the drafts'
features in batched `MotionTokenizer.encode` calls, and `PairDraft.sample` completes the shard sample.
Everything random is drawn from RNGs seeded by (seed, split, track id[, pair index]), so a track's
samples do not depend on which process builds it or in which order.
"""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unimumo.constants import CODE_RATE
from unimumo.data.alignment import (beat_alignment, beat_period, folded_rate, place_pair, tile_joints, visual_beats,
                                    warp_joints)
from unimumo.data.captions import MUSIC_TEMPLATES, motion_caption, music_caption
from unimumo.shards.format import encode_sample
from unimumo.data.sources import aist, humanml3d
from unimumo.data.sources.clip import MotionClip
from unimumo.data.sources.music4all import TrackInfo
from unimumo.motion.humanml3d_features import features_to_joints, joints_to_features
from unimumo.rhythm import BeatTrack

READERS = {"aist": aist.read_clip, "humanml3d": humanml3d.read_clip}


@dataclass(frozen=True)
class MotionEntry:
    """A motion file of the split's pool (listed, not yet known to be readable)."""

    id: str
    source: str
    path: str


@dataclass
class LoadedMotion:
    clip: MotionClip
    joints: np.ndarray  # [N,22,3] at clip.fps
    beats: np.ndarray  # visual beats (s)

    @property
    def duration(self) -> float:
        return (len(self.joints) - 1) / self.clip.fps


@functools.lru_cache(maxsize=64)
def load_motion(entry: MotionEntry) -> LoadedMotion:
    """Read a motion file, recover joint positions and find its visual beats (cached per process)."""
    clip = READERS[entry.source](Path(entry.path))
    joints = clip.joints if clip.joints is not None else features_to_joints(clip.features)
    return LoadedMotion(clip=clip, joints=joints, beats=visual_beats(joints, clip.fps))


def fill_window(motion: LoadedMotion, track: "MusicTrack") -> tuple[LoadedMotion, dict | None]:
    """The motion tiled (`alignment.tile_joints`) to cover the whole track at the beat-matching rate, plus one
    motion beat period of room for the phase shift; with the tiling's sample metadata (None: long enough)."""
    period = beat_period(motion.beats)
    seconds = folded_rate(period, beat_period(track.beats)) * track.duration + (period or 1.0)
    joints, loop = tile_joints(motion.joints, motion.clip.fps, motion.beats, seconds)
    if loop is None:
        return motion, None
    tiled = LoadedMotion(clip=motion.clip, joints=joints, beats=visual_beats(joints, motion.clip.fps))
    return tiled, loop.as_meta(motion.clip.fps)


def pair_rng(seed: int, split: str, track_id: str, pair: int | None = None) -> random.Random:
    return random.Random(f"{seed}:{split}:{track_id}" + ("" if pair is None else f":{pair}"))


def choose_motions(pool: list[MotionEntry], k: int, rng: random.Random) -> list[MotionEntry]:
    """K motions without repetition while the pool allows, then with repetition."""
    chosen = rng.sample(pool, min(k, len(pool)))
    return chosen + [rng.choice(pool) for _ in range(k - len(chosen))]


@dataclass
class MusicTrack:
    """A decoded, tokenized track: codes [4, T] at CODE_RATE and its tracked beats (s) and tempo."""

    info: TrackInfo
    codes: np.ndarray
    rhythm: BeatTrack
    duration: float

    @property
    def beats(self) -> np.ndarray:
        return self.rhythm.beats

    @property
    def caption_tempo(self) -> float | None:
        """The metadata's tempo; else the tracked one only when it is confident (`BeatTrack.confident`); else None."""
        return self.info.tempo or (self.rhythm.tempo if self.rhythm.confident else None)


@dataclass
class PairDraft:
    """A pair awaiting its motion codes: the warped features [N,263] at `fps`, and the sample around them."""

    key: str
    file: str  # the motion file, for failure records
    features: np.ndarray
    fps: float
    music_codes: np.ndarray  # [4, frames], already cropped
    music_text: str
    motion_text: str
    music_ids: list[int]
    motion_ids: list[int]
    meta: dict

    def sample(self, motion_codes: np.ndarray) -> dict:
        """The shard sample, with the codes `MotionTokenizer.encode(self.features, fps=self.fps)` gave."""
        frames = self.music_codes.shape[1]
        return encode_sample(
            self.key, music_codes=self.music_codes, motion_codes=motion_codes[:, :frames], music_text=self.music_text,
            motion_text=self.motion_text, music_ids=self.music_ids, motion_ids=self.motion_ids, meta=self.meta,
        )


def draft_pair(track: MusicTrack, motion: LoadedMotion, pair: int, *, seed: int, split: str, motion_file: str,
               motion_tokenizer, text_tokenizer, tile: bool = True) -> PairDraft:
    """One pair up to its motion codes: the music span and the beat-warped motion over it, captioned.

    With `tile` a motion shorter than the track is first repeated to fill it (`fill_window`), so the pair
    spans the whole track; without, the pair lasts as long as the motion.

    `motion_tokenizer` only checks that it accepts the warped features (`check_clip`) and counts their code
    steps, so that one bad pair never fails the batch it would be encoded in.
    """
    rng = pair_rng(seed, split, track.info.id, pair)
    fps = motion.clip.fps
    motion, tiling = fill_window(motion, track) if tile else (motion, None)
    placement = place_pair(track.beats, track.duration, motion.beats, motion.duration, rng)
    joints = warp_joints(motion.joints, fps, placement.warp, placement.duration, fps)
    features, motion_steps = motion_tokenizer.check_clip(joints_to_features(joints, fps=fps), fps, motion_file)
    start = int(round(placement.music_start * CODE_RATE))
    frames = min(motion_steps, track.codes.shape[1] - start)
    beats = track.beats - start / CODE_RATE
    beats = beats[(beats >= 0) & (beats < frames / CODE_RATE)]
    warped_beats = visual_beats(joints, fps)
    unwarped_beats = motion.beats - placement.warp.motion_knots[0]
    info = track.info
    music_text = music_caption(genre=info.genre, tempo=track.caption_tempo, key=info.key, energy=info.energy,
                               tags=info.tags, template=rng.choice(MUSIC_TEMPLATES))
    clip = motion.clip
    motion_text = rng.choice(clip.captions) if clip.captions else motion_caption(clip.genre, rng)
    meta = {
        "track_id": info.id,
        "motion_id": clip.id,
        "source": clip.source,
        "genre": info.genre,
        "motion_genre": clip.genre,
        "tempo": round(track.rhythm.tempo, 3),
        "tempo_confident": track.rhythm.confident,
        "beat_agreement": None if track.rhythm.agreement is None else round(track.rhythm.agreement, 3),
        "metadata_tempo": info.tempo,
        "beats": [round(float(b), 4) for b in beats],
        "motion_beats": [round(float(b), 4) for b in warped_beats[warped_beats < frames / CODE_RATE]],
        "fps": CODE_RATE,
        "motion_source_fps": fps,
        "num_frames": int(frames),
        "offsets": {
            "music_start_s": round(start / CODE_RATE, 4),
            "motion_start_s": round(float(placement.warp.motion_knots[0]), 4),
            "motion_end_s": round(float(placement.warp.motion_knots[-1]), 4),
            "warp_rate": round(placement.warp.rate, 4),
            "warp_anchors": placement.warp.num_anchors,
        },
        "tiling": tiling,
        "beat_alignment": {
            "before_warp": round(beat_alignment(beats, unwarped_beats[unwarped_beats >= 0]), 4),
            "after_warp": round(beat_alignment(beats, warped_beats), 4),
        },
    }
    return PairDraft(
        key=f"{info.id}-{pair:02d}", file=motion_file, features=features, fps=fps,
        music_codes=track.codes[:, start:start + frames], music_text=music_text, motion_text=motion_text,
        music_ids=text_tokenizer.encode(music_text), motion_ids=text_tokenizer.encode(motion_text), meta=meta,
    )
