"""Motion VQ-VAE data (`MOTION_WINDOWS`, a data builder): random windows of raw AIST++ / HumanML3D motion.

Clips are read with the corpus readers (features at the clip's fps), resampled to the VQ-VAE's
frame rate and normalised with mean/std computed over all training clips (the same on every rank;
they are stored in the model, so the export carries them). Rank r samples from clips r, r+W, ...;
micro batch n of rank r is drawn from an RNG seeded by (seed, rank, n), so the stream's whole
state is the batch counter and resume is exact. Clips shorter than the window are masked;
unreadable clips are skipped with a warning that counts them. The VQ-VAE's objective is
`unimumo.train.objectives.MotionVQVAEObjective`.

With model.codebook=music (the motion VQ-VAE in the music code space) the clips are music-motion pairs made from
raw Music4All tracks (data.music4all) and the motions, exactly as the shard builder pairs them: the builder's
motion choice per track (`pairing.choose_motions` with `pair_rng`), its beat tracker, and the same placement,
tiling and beat warp (`pairing.warp_to_track`); the builder's defaults (5 pairs per track, tiling, 10 s of
beats). Each pair keeps its music, the track's waveform at the codec's rate from the code step the motion
starts on, and every window carries its slice of it (`music` [B,S]). Pairs are held in memory (a waveform
and a motion per pair): meant for a training subset of tracks, not the whole of Music4All at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from unimumo.train.data import DataSource
from unimumo.train.recipes import Recipe, RecipeError
from unimumo.utils.log import get_logger

logger = get_logger(__name__)


class MotionWindows:
    """Infinite iterable of {"features" [B,N,263] normalised, "mask" [B,N] bool} micro batches; with `music`
    (a waveform per clip, `samples_per_frame` samples per motion frame) also "music" [B,S], silence past its end."""

    def __init__(
        self,
        clips: list[np.ndarray],
        mean: np.ndarray,
        std: np.ndarray,
        *,
        window: int,
        batch_size: int,
        seed: int,
        rank: int,
        world_size: int,
        music: list[np.ndarray] | None = None,
        samples_per_frame: int = 0,
    ):
        pick = (lambda items: items[rank::world_size]) if len(clips) >= world_size else (lambda items: items)
        own = pick(clips)
        self.music = None if music is None else pick(music)
        self.samples_per_frame = samples_per_frame
        self.clips = [((clip - mean) / std).astype(np.float32) for clip in own]
        self.feature_stats = (mean, std)
        self.window, self.batch_size, self.seed, self.rank = window, batch_size, seed, rank
        self.batches = 0

    def state_dict(self) -> dict:
        return {"batches": self.batches, "clips": len(self.clips)}

    def load_state_dict(self, state: dict) -> None:
        if state["clips"] != len(self.clips):
            raise ValueError(
                f"motion windows: the checkpoint saw {state['clips']} clips on this rank, now "
                f"{len(self.clips)}; the raw data changed, exact resume is impossible"
            )
        self.batches = state["batches"]

    def _batch(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.rank, index])
        features = np.zeros((self.batch_size, self.window, self.clips[0].shape[1]), dtype=np.float32)
        mask = np.zeros((self.batch_size, self.window), dtype=bool)
        hop = self.samples_per_frame
        music = None if self.music is None else np.zeros((self.batch_size, self.window * hop), dtype=np.float32)
        for row, choice in enumerate(rng.integers(len(self.clips), size=self.batch_size)):
            clip = self.clips[choice]
            start = int(rng.integers(len(clip) - self.window + 1)) if len(clip) > self.window else 0
            piece = clip[start : start + self.window]
            features[row, : len(piece)], mask[row, : len(piece)] = piece, True
            if music is not None:
                wav = self.music[choice][start * hop : (start + len(piece)) * hop]
                music[row, : len(wav)] = wav
        batch = {"features": torch.from_numpy(features), "mask": torch.from_numpy(mask)}
        return batch if music is None else {**batch, "music": torch.from_numpy(music)}

    def __iter__(self) -> Iterator[dict]:
        while True:
            batch = self._batch(self.batches)
            self.batches += 1
            yield batch


def _motion_paths(recipe: Recipe) -> list[tuple[str, object]]:
    """(source, path) of the split's motion files: AIST++ then HumanML3D, in list order (the builder's pool)."""
    from unimumo.data.sources import aist, humanml3d

    paths = []
    if recipe.data.aist:
        paths += [("aist", p) for p in aist.list_sequences(recipe.data.aist, recipe.data.split)]
    if recipe.data.humanml3d:
        paths += [("humanml3d", p) for p in humanml3d.list_clips(recipe.data.humanml3d, recipe.data.split)]
    return paths


def _read_clips(recipe: Recipe, frame_rate: float) -> list[np.ndarray]:
    from unimumo.data.pairing import READERS
    from unimumo.motion.humanml3d_features import MotionFormatError
    from unimumo.motion.resample import resample_features

    paths = [(READERS[source], path) for source, path in _motion_paths(recipe)]
    clips, skipped = [], []
    for reader, path in paths:
        try:
            clip = reader(path)
            clips.append(resample_features(clip.features, clip.fps, frame_rate, source=str(path)))
        except (MotionFormatError, OSError, ValueError) as error:
            skipped.append(f"{path}: {error}")
    if skipped:
        logger.warning(
            "%s: skipped %d unreadable clip(s) of %d; first: %s", recipe.name, len(skipped), len(paths), skipped[0]
        )
    if not clips:
        raise RecipeError(
            f"data.aist / data.humanml3d: no motion clips of split {recipe.data.split!r} under "
            f"{recipe.data.aist or '-'} / {recipe.data.humanml3d or '-'}"
        )
    return clips


def _read_pairs(recipe: Recipe, config) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(motion features at the VQ-VAE's frame rate, the music under them at the codec's rate) of every pair the
    shard builder's rules make from the split's Music4All tracks and motions (see the module docstring)."""
    from unimumo.constants import CODE_RATE
    from unimumo.data.build_config import BuildConfig
    from unimumo.data.pairing import MotionEntry, MusicTrack, choose_motions, load_motion, pair_rng, warp_to_track
    from unimumo.data.sources import music4all
    from unimumo.motion.humanml3d_features import joints_to_features
    from unimumo.motion.resample import resample_features
    from unimumo.rhythm import track_beats

    split, seed, rate = recipe.data.split, recipe.seed, int(config.music_codec_config["sampling_rate"])
    pool = [MotionEntry(id=path.stem, source=source, path=str(path)) for source, path in _motion_paths(recipe)]
    if not pool:
        raise RecipeError(f"data.aist / data.humanml3d: no motion clips of split {split!r}")
    hop, step = config.music_hop, config.frames_per_code
    clips, music, skipped = [], [], []
    tracks = music4all.list_tracks(recipe.data.music4all, split)
    for info in tracks:
        try:
            wav = music4all.load_audio(info.audio_path, rate)
            rhythm = track_beats(wav, rate, BuildConfig.beat_tracker)
        except (OSError, ValueError) as error:
            skipped.append(f"{info.audio_path}: {error}")
            continue
        if rhythm.beats.size < 2 or rhythm.beats[-1] - rhythm.beats[0] < BuildConfig.min_beat_seconds:
            skipped.append(f"{info.audio_path}: under {BuildConfig.min_beat_seconds:g} s of beats")
            continue
        track = MusicTrack(info=info, codes=None, rhythm=rhythm, duration=len(wav) / rate)
        chosen = choose_motions(pool, BuildConfig.pairs_per_track, pair_rng(seed, split, info.id))
        for pair, entry in enumerate(chosen):
            try:
                motion = load_motion(entry)
                fps = motion.clip.fps
                _, _, placement, joints = warp_to_track(
                    track, motion, pair_rng(seed, split, info.id, pair), BuildConfig.tile
                )
                start = int(round(placement.music_start * CODE_RATE))  # the builder's music span
                steps = min(int(round(len(joints) / fps * CODE_RATE)), len(wav) // hop - start)
                features = resample_features(
                    joints_to_features(joints, fps=fps), fps, config.frame_rate, steps * step, entry.path
                )
            except (OSError, ValueError) as error:
                skipped.append(f"{entry.path} with {info.id}: {error}")
                continue
            clips.append(features)
            music.append(wav[start * hop : (start + steps) * hop])
    if skipped:
        logger.warning("%s: skipped %d unusable track(s) or pair(s); first: %s", recipe.name, len(skipped), skipped[0])
    if not clips:
        raise RecipeError(f"data.music4all: no music-motion pair of split {split!r} from {recipe.data.music4all}")
    return clips, music


def _config(recipe: Recipe):
    """The VQ-VAE config the recipe builds (with the music codec's config for model.codebook=music)."""
    from unimumo.models.configuration_motion_vqvae import MotionVQVAEConfig

    if recipe.model.codebook != "music":
        return MotionVQVAEConfig.preset(recipe.model.preset, **recipe.model.config)
    from transformers import EncodecConfig

    codec = EncodecConfig.from_pretrained(recipe.music_codec)
    return MotionVQVAEConfig.preset(
        recipe.model.preset,
        **{
            **recipe.model.config,
            "codebook": "music",
            "music_codec_config": codec.to_dict(),
            "code_dim": codec.codebook_dim,
        },
    )


def _frame_rate(recipe: Recipe) -> int:
    """The VQ-VAE's frame rate (its preset and config): what clips are resampled to, what data.window_s counts."""
    from unimumo.models.configuration_motion_vqvae import MotionVQVAEConfig

    return MotionVQVAEConfig.preset(recipe.model.preset, **recipe.model.config).frame_rate


def build_motion_windows(
    stage, recipe: Recipe, rank: int, world_size: int, feature_stats: tuple[np.ndarray, np.ndarray] | None = None
) -> MotionWindows:
    """Windows of the clips of `recipe.data.split`, normalised with `feature_stats` (mean, std) when given (held-out
    data, with the training statistics), else with their own."""
    from unimumo.motion.stats import compute_feature_stats

    music, samples_per_frame = None, 0
    if recipe.model.codebook == "music":
        config = _config(recipe)
        clips, music = _read_pairs(recipe, config)
        samples_per_frame = config.music_hop // config.frames_per_code
    else:
        clips = _read_clips(recipe, _frame_rate(recipe))
    mean, std = feature_stats if feature_stats is not None else compute_feature_stats(clips)
    return MotionWindows(
        clips,
        mean,
        std,
        window=MOTION_WINDOWS.window(recipe).steps,
        batch_size=recipe.data.micro_batch,
        seed=recipe.seed,
        rank=rank,
        world_size=world_size,
        music=music,
        samples_per_frame=samples_per_frame,
    )


def _needs_raw_motion(recipe: Recipe) -> None:
    if recipe.data.aist is None and recipe.data.humanml3d is None:
        raise RecipeError(
            f"data.aist / data.humanml3d: {recipe.name} needs at least one raw motion root "
            "(--aist DIR, --humanml3d DIR)"
        )
    if recipe.model.codebook == "music":
        if recipe.music_codec is None:
            raise RecipeError(
                "music_codec: model.codebook=music quantises with the music codec's codebooks; give "
                "its EncodecModel directory (--music-codec DIR)"
            )
        if recipe.data.music4all is None:
            raise RecipeError(
                "data.music4all: model.codebook=music trains on music-motion pairs; give the raw "
                "Music4All root (--music4all DIR)"
            )


MOTION_WINDOWS = DataSource("raw motion window", build_motion_windows, _needs_raw_motion, window_rate=_frame_rate)
