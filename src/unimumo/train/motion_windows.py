"""Motion VQ-VAE data (`MOTION_WINDOWS`, a data builder): random windows of raw AIST++ / HumanML3D motion.

Clips are read with the corpus readers (features at the clip's fps), resampled to the VQ-VAE's
frame rate and normalised with mean/std computed over all training clips (the same on every rank;
they are stored in the model, so the export carries them). Rank r samples from clips r, r+W, ...;
micro batch n of rank r is drawn from an RNG seeded by (seed, rank, n), so the stream's whole
state is the batch counter and resume is exact. Clips shorter than the window are masked;
unreadable clips are skipped with a warning that counts them. The VQ-VAE's objective is
`unimumo.train.objectives.MotionVQVAEObjective`.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from unimumo.train.data import DataSource
from unimumo.train.recipes import Recipe, RecipeError
from unimumo.utils.log import get_logger

logger = get_logger(__name__)


class MotionWindows:
    """Infinite iterable of {"features" [B,N,263] normalised, "mask" [B,N] bool} micro batches."""

    def __init__(self, clips: list[np.ndarray], mean: np.ndarray, std: np.ndarray, *, window: int, batch_size: int,
                 seed: int, rank: int, world_size: int):
        own = clips[rank::world_size] if len(clips) >= world_size else clips
        self.clips = [((clip - mean) / std).astype(np.float32) for clip in own]
        self.feature_stats = (mean, std)
        self.window, self.batch_size, self.seed, self.rank = window, batch_size, seed, rank
        self.batches = 0

    def state_dict(self) -> dict:
        return {"batches": self.batches, "clips": len(self.clips)}

    def load_state_dict(self, state: dict) -> None:
        if state["clips"] != len(self.clips):
            raise ValueError(f"motion windows: the checkpoint saw {state['clips']} clips on this rank, now "
                             f"{len(self.clips)}; the raw data changed, exact resume is impossible")
        self.batches = state["batches"]

    def _batch(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.rank, index])
        features = np.zeros((self.batch_size, self.window, self.clips[0].shape[1]), dtype=np.float32)
        mask = np.zeros((self.batch_size, self.window), dtype=bool)
        for row, choice in enumerate(rng.integers(len(self.clips), size=self.batch_size)):
            clip = self.clips[choice]
            start = int(rng.integers(len(clip) - self.window + 1)) if len(clip) > self.window else 0
            piece = clip[start:start + self.window]
            features[row, :len(piece)], mask[row, :len(piece)] = piece, True
        return {"features": torch.from_numpy(features), "mask": torch.from_numpy(mask)}

    def __iter__(self) -> Iterator[dict]:
        while True:
            batch = self._batch(self.batches)
            self.batches += 1
            yield batch


def _read_clips(recipe: Recipe, frame_rate: float) -> list[np.ndarray]:
    from unimumo.data.sources import aist, humanml3d
    from unimumo.motion.humanml3d_features import MotionFormatError
    from unimumo.motion.resample import resample_features

    paths = []
    if recipe.data.aist:
        paths += [(aist, p) for p in aist.list_sequences(recipe.data.aist, recipe.data.split)]
    if recipe.data.humanml3d:
        paths += [(humanml3d, p) for p in humanml3d.list_clips(recipe.data.humanml3d, recipe.data.split)]
    clips, skipped = [], []
    for reader, path in paths:
        try:
            clip = reader.read_clip(path)
            clips.append(resample_features(clip.features, clip.fps, frame_rate, source=str(path)))
        except (MotionFormatError, OSError, ValueError) as error:
            skipped.append(f"{path}: {error}")
    if skipped:
        logger.warning("%s: skipped %d unreadable clip(s) of %d; first: %s", recipe.name, len(skipped), len(paths),
                       skipped[0])
    if not clips:
        raise RecipeError(f"data.aist / data.humanml3d: no motion clips of split {recipe.data.split!r} under "
                          f"{recipe.data.aist or '-'} / {recipe.data.humanml3d or '-'}")
    return clips


def _frame_rate(recipe: Recipe) -> int:
    """The VQ-VAE's frame rate (its preset and config): what clips are resampled to, what data.window_s counts."""
    from unimumo.models.configuration_motion_vqvae import MotionVQVAEConfig

    return MotionVQVAEConfig.preset(recipe.model.preset, **recipe.model.config).frame_rate


def build_motion_windows(stage, recipe: Recipe, rank: int, world_size: int,
                         feature_stats: tuple[np.ndarray, np.ndarray] | None = None) -> MotionWindows:
    """Windows of the clips of `recipe.data.split`, normalised with `feature_stats` (mean, std) when given (held-out
    data, with the training statistics), else with their own."""
    from unimumo.motion.stats import compute_feature_stats

    clips = _read_clips(recipe, _frame_rate(recipe))
    mean, std = feature_stats if feature_stats is not None else compute_feature_stats(clips)
    return MotionWindows(clips, mean, std, window=MOTION_WINDOWS.window(recipe).steps,
                         batch_size=recipe.data.micro_batch, seed=recipe.seed, rank=rank, world_size=world_size)


def _needs_raw_motion(recipe: Recipe) -> None:
    if recipe.data.aist is None and recipe.data.humanml3d is None:
        raise RecipeError(f"data.aist / data.humanml3d: {recipe.name} needs at least one raw motion root "
                          "(--aist DIR, --humanml3d DIR)")


MOTION_WINDOWS = DataSource("raw motion window", build_motion_windows, _needs_raw_motion, window_rate=_frame_rate)
