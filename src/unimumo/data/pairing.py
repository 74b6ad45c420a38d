"""Pair one music track with K motions: choose motions, beat-align them by time warping, caption, tokenize.

A pair is made in two steps: `draft_pair` places and warps the motion and computes everything but the
motion codes (a `PairDraft` holding the warped 263-d features); the shard builder encodes the drafts'
features in batched `MotionTokenizer.encode` calls, and `PairDraft.sample` completes the shard sample.
Everything random is drawn from RNGs seeded by (seed, split, track id[, pair index]), so a track's
samples do not depend on which process builds it or in which order.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unimumo.constants import CODE_RATE
from unimumo.data.alignment import (
    beat_alignment,
    beat_period,
    folded_rate,
    place_pair,
    tile_joints,
    visual_beats,
    warp_joints,
)
from unimumo.data.captions import MUSIC_TEMPLATES, CaptionFiles, described_motion, motion_caption, music_caption
from unimumo.data.sources import aist, dancedb, humanml3d
from unimumo.data.sources.clip import MotionClip
from unimumo.data.sources.music4all import TrackInfo
from unimumo.motion.humanml3d_features import features_to_joints, joints_to_features
from unimumo.rhythm import BeatTrack
from unimumo.shards.format import META, encode_sample

READERS = {"aist": aist.read_clip, "dancedb": dancedb.read_clip, "humanml3d": humanml3d.read_clip}
SOURCES = ("aist", "dancedb", "humanml3d")  # the motion corpora, as named in samples and --source-weight

# Motion pool weights per source (a motion of weight W is drawn W times as often as one of weight 1). "unimumo":
# the authors' recipe (hanyangclarence/UniMuMo, preprocessing/get_aligned_motion_code.py: every AIST++ and
# DanceDB motion is listed repeat_time = 30 times in the pool, every HumanML3D motion once), which makes dance
# about half of the pairs with the full corpora.
SOURCE_RECIPES = {"uniform": {}, "unimumo": {"aist": 30.0, "dancedb": 30.0, "humanml3d": 1.0}}


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


def fill_window(motion: LoadedMotion, track: MusicTrack) -> tuple[LoadedMotion, dict | None]:
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


def check_source_weights(weights: dict[str, float]) -> dict[str, float]:
    """`weights` when every name is a source (SOURCES) and every weight a finite number > 0, else ValueError."""
    for name, weight in weights.items():
        if (
            name not in SOURCES
            or isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not (math.isfinite(weight) and weight > 0)
        ):
            raise ValueError(
                f"--source-weight {name}={weight!r}: expected a source of {list(SOURCES)} and a "
                "number > 0 (e.g. aist=30)"
            )
    return weights


def parse_source_weights(items: list[str], recipe: str = "uniform") -> dict[str, float]:
    """The weights of `recipe` (SOURCE_RECIPES) overridden by NAME=W items (--source-weight); ValueError
    naming the item when it is not NAME=W with a known source and a finite W > 0."""
    if recipe not in SOURCE_RECIPES:
        raise ValueError(f"--source-recipe {recipe!r}: unknown recipe; expected one of {list(SOURCE_RECIPES)}")
    weights = dict(SOURCE_RECIPES[recipe])
    for item in items:
        name, _, value = item.partition("=")
        try:
            weights[name] = float(value)
        except ValueError:  # also an item without "="
            raise ValueError(f"--source-weight {item!r}: expected NAME=W (e.g. aist=30)") from None
    return check_source_weights(weights)


def pool_cum_weights(pool: list[MotionEntry], weights: dict[str, float]) -> list[float] | None:
    """Cumulative draw weights of the pool's motions (weight 1 for a source not in `weights`); None when all
    weights are equal (uniform draws)."""
    per_motion = [weights.get(entry.source, 1.0) for entry in pool]
    return None if len(set(per_motion)) <= 1 else list(itertools.accumulate(per_motion))


def choose_motions(
    pool: list[MotionEntry], k: int, rng: random.Random, cum_weights: list[float] | None = None
) -> list[MotionEntry]:
    """K motions without repetition while the pool allows, then with repetition; drawn in proportion to
    `cum_weights` (`pool_cum_weights`) when given, else uniformly."""
    if cum_weights is None:
        chosen = rng.sample(pool, min(k, len(pool)))
        return chosen + [rng.choice(pool) for _ in range(k - len(chosen))]
    indices: list[int] = []
    while len(indices) < min(k, len(pool)):  # weighted draws without repetition: redraw a repeat
        index = rng.choices(range(len(pool)), cum_weights=cum_weights)[0]
        if index not in indices:
            indices.append(index)
    indices += rng.choices(range(len(pool)), cum_weights=cum_weights, k=k - len(indices))
    return [pool[index] for index in indices]


def empty_counts() -> dict:
    """What `count_samples` counts, all zero."""
    return {"sources": {}, "tiled": 0, "music_captions": {}, "motion_captions": {}, "beat_phase": {}}


def count_samples(samples, counts: dict | None = None) -> dict:
    """`counts` (a new `empty_counts()` when None) plus the samples' (shard sample dicts) motion sources, tiled
    motions, caption origins and beat phase choices (the steady tracker's: "kept" or "shifted" half a beat): the
    realised pairing recipe, recorded in the manifest and shown by `unimumo-shards inspect`."""
    counts = counts if counts is not None else empty_counts()

    def add(name: str, key: str) -> None:
        counts[name][key] = counts[name].get(key, 0) + 1

    for sample in samples:
        meta = json.loads(sample[META])
        add("sources", meta["source"])
        counts["tiled"] += meta.get("tiling") is not None
        if meta.get("beat_phase") is not None:
            add("beat_phase", "shifted" if meta["beat_phase"]["shifted"] else "kept")
        for stream, origin in meta.get("caption_origins", {}).items():
            add(f"{stream}_captions", origin)
    return counts


def add_counts(total: dict, more: dict) -> dict:
    """Two `count_samples` results added up (slices merged)."""
    out = json.loads(json.dumps(total))
    for name, value in more.items():
        if isinstance(value, dict):
            for key, count in value.items():
                out.setdefault(name, {})[key] = out.get(name, {}).get(key, 0) + count
        else:
            out[name] = out.get(name, 0) + value
    return out


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
            self.key,
            music_codes=self.music_codes,
            motion_codes=motion_codes[:, :frames],
            music_text=self.music_text,
            motion_text=self.motion_text,
            music_ids=self.music_ids,
            motion_ids=self.motion_ids,
            meta=self.meta,
        )


def warp_to_track(track, motion: LoadedMotion, rng: random.Random, tile: bool = True):
    """The motion placed on `track` (anything with `beats` and `duration`; tiled to fill it with `tile`) and
    beat-warped: (the motion placed, its tiling metadata, the placement, warped joints [N,22,3] at its fps).
    The shard builder's pairs (`draft_pair`) and the music-codebook motion VQ-VAE's training pairs
    (train/motion_windows.py) are both made here."""
    fps = motion.clip.fps
    motion, tiling = fill_window(motion, track) if tile else (motion, None)
    placement = place_pair(track.beats, track.duration, motion.beats, motion.duration, rng)
    return motion, tiling, placement, warp_joints(motion.joints, fps, placement.warp, placement.duration, fps)


def draft_pair(
    track: MusicTrack,
    motion: LoadedMotion,
    pair: int,
    *,
    seed: int,
    split: str,
    motion_file: str,
    motion_tokenizer,
    text_tokenizer,
    tile: bool = True,
    captions: CaptionFiles = CaptionFiles(),
) -> PairDraft:
    """One pair up to its motion codes: the music span and the beat-warped motion over it, captioned.

    With `tile` a motion shorter than the track is first repeated to fill it (`fill_window`), so the pair
    spans the whole track; without, the pair lasts as long as the motion. Captions come from `captions` (the
    caption files) where they have the track's or motion's id, else from templates (`caption_origins` in the meta).

    `motion_tokenizer` only checks that it accepts the warped features (`check_clip`) and counts their code
    steps, so that one bad pair never fails the batch it would be encoded in.
    """
    rng = pair_rng(seed, split, track.info.id, pair)
    fps = motion.clip.fps
    motion, tiling, placement, joints = warp_to_track(track, motion, rng, tile)
    features, motion_steps = motion_tokenizer.check_clip(joints_to_features(joints, fps=fps), fps, motion_file)
    start = int(round(placement.music_start * CODE_RATE))
    frames = min(motion_steps, track.codes.shape[1] - start)
    beats = track.beats - start / CODE_RATE
    beats = beats[(beats >= 0) & (beats < frames / CODE_RATE)]
    warped_beats = visual_beats(joints, fps)
    unwarped_beats = motion.beats - placement.warp.motion_knots[0]
    info = track.info
    music_text = music_caption(
        genre=info.genre,
        tempo=track.caption_tempo,
        key=info.key,
        energy=info.energy,
        tags=info.tags,
        template=rng.choice(MUSIC_TEMPLATES),
    )
    if info.id in captions.music:
        music_text = rng.choice(captions.music[info.id])
    clip = motion.clip
    descriptions, motion_origin = (
        (captions.motion[clip.id], "file")
        if clip.id in captions.motion
        else (clip.captions, "corpus")
        if clip.captions
        else ((), "template")
    )
    motion_text = (
        described_motion(rng.choice(descriptions), rng)
        if descriptions
        else motion_caption(clip.genre, rng, clip.feeling)
    )
    meta = {
        "track_id": info.id,
        "motion_id": clip.id,
        "source": clip.source,
        "genre": info.genre,
        "motion_genre": clip.genre,
        "tempo": round(track.rhythm.tempo, 3),
        "tempo_confident": track.rhythm.confident,
        "beat_agreement": None if track.rhythm.agreement is None else round(track.rhythm.agreement, 3),
        "beat_phase": None if track.rhythm.phase is None else track.rhythm.phase.as_json(),  # steady only
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
        "caption_origins": {"music": "file" if info.id in captions.music else "template", "motion": motion_origin},
        "beat_alignment": {
            "before_warp": round(beat_alignment(beats, unwarped_beats[unwarped_beats >= 0]), 4),
            "after_warp": round(beat_alignment(beats, warped_beats), 4),
        },
    }
    return PairDraft(
        key=f"{info.id}-{pair:02d}",
        file=motion_file,
        features=features,
        fps=fps,
        music_codes=track.codes[:, start : start + frames],
        music_text=music_text,
        motion_text=motion_text,
        music_ids=text_tokenizer.encode(music_text),
        motion_ids=text_tokenizer.encode(motion_text),
        meta=meta,
    )
