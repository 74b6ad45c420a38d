"""Motion VQ-VAE data and objective: random windows of raw AIST++ / HumanML3D motion, and the VQ-VAE losses.

Clips are read with the corpus readers (features at the clip's fps), resampled to the VQ-VAE's
frame rate and normalised with mean/std computed over all training clips (the same on every rank;
they are stored in the model, so the export carries them). Rank r samples from clips r, r+W, ...;
micro batch n of rank r is drawn from an RNG seeded by (seed, rank, n), so the stream's whole
state is the batch counter and resume is exact. Clips shorter than the window are masked;
unreadable clips are skipped with a warning that counts them.
"""
from __future__ import annotations

import warnings
from typing import Iterator

import numpy as np
import torch

from unimumo.train.recipes import Recipe, RecipeError


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
        warnings.warn(f"{recipe.name}: skipped {len(skipped)} unreadable clip(s) of {len(paths)}; first: {skipped[0]}",
                      stacklevel=2)
    if not clips:
        raise RecipeError(f"data.aist / data.humanml3d: no motion clips of split {recipe.data.split!r} under "
                          f"{recipe.data.aist or '-'} / {recipe.data.humanml3d or '-'}")
    return clips


def build_motion_windows(recipe: Recipe, rank: int, world_size: int) -> MotionWindows:
    from unimumo.models.configuration_motion_vqvae import MotionVQVAEConfig
    from unimumo.motion.stats import compute_feature_stats

    config = MotionVQVAEConfig.preset(recipe.model.preset, **recipe.model.config)
    clips = _read_clips(recipe, config.frame_rate)
    mean, std = compute_feature_stats(clips)
    return MotionWindows(clips, mean, std, window=recipe.data.window, batch_size=recipe.data.micro_batch,
                         seed=recipe.seed, rank=rank, world_size=world_size)


class MotionVQVAEObjective:
    """Feeds normalised windows to MotionVQVAE.forward and logs its losses and codebook health."""

    term_names = ("loss", "loss/recon", "loss/commit", "mpjpe_mm", "perplexity", "dead_codes")

    def __init__(self, stage, recipe: Recipe, device: torch.device):  # the objective factory signature (Stage)
        self.device = device

    def inputs(self, batch: dict, step: int) -> dict:
        return {"features": batch["features"].to(self.device), "mask": batch["mask"].to(self.device)}

    def tokens(self, batch: dict) -> int:
        """Valid motion frames in the batch."""
        return int(batch["mask"].sum())

    def loss_terms(self, output, batch: dict, with_tasks: bool) -> dict[str, tuple[torch.Tensor, int]]:
        values = {"loss": output.loss, "loss/recon": output.recon_loss, "loss/commit": output.commit_loss,
                  "mpjpe_mm": output.mpjpe_mm, "perplexity": output.perplexity, "dead_codes": output.dead_codes}
        return {name: (torch.as_tensor(value).detach().float(), 1) for name, value in values.items()}
