"""Every stage's objective: loader batch -> forward keyword arguments, the tokens it counts, what it logs.

An objective is anything that satisfies the `Objective` protocol; a stage names the factory that builds
it (`Stage.objective(stage, recipe, device)`, unimumo.train.stages). `LMObjective` and `CaptionObjective`
serve the LM stages, `MotionVQVAEObjective` the motion VQ-VAE.

`LMObjective` passes the stage's code streams and their texts. In a stage that trains a task mixture, each
sample's task (unimumo.tasks) becomes per-sample stream loss weights: a sample has a loss on the streams its
task trains. Both pass the batch's `code_mask`, so padded frames of short samples have no loss and are seen by
no real position (each sample's loss is its mean over its real codes). `CaptionObjective` passes the stream
being captioned and its caption ids as labels, taking the stage's streams in turn by step unless the recipe
fixes one modality. `MotionVQVAEObjective` feeds normalised motion windows to the VQ-VAE and logs its losses
and codebook health.
"""

from __future__ import annotations

from typing import Protocol

import torch

from unimumo.models.modeling_unimumo import per_sample_ce
from unimumo.tasks import TASK_TABLE, TASKS
from unimumo.train.recipes import Recipe

LossTerms = dict[str, tuple[torch.Tensor, int]]  # name -> (sum, count), reduced over ranks by the trainer


class Objective(Protocol):
    """What the trainer needs from a stage's objective."""

    term_names: tuple[str, ...]  # the logged terms, the same on every rank and step ("loss" first)

    def inputs(self, batch: dict, step: int) -> dict:
        """The model's forward keyword arguments for `batch` at optimizer step `step`, on the objective's device."""

    def tokens(self, batch: dict) -> int:
        """Tokens the forward pass models (for throughput and MFU)."""

    def loss_terms(self, output, batch: dict, with_tasks: bool) -> LossTerms:
        """(sum, count) per logged term; per-task terms only when `with_tasks` (log steps)."""


def _to(batch: dict, names: tuple[str, ...], device: torch.device) -> dict:
    """The named tensors of `batch` on `device`, plus its `code_mask` when it has one (none = all frames real)."""
    names = names + (("code_mask",) if "code_mask" in batch else ())
    return {name: batch[name].to(device, non_blocking=True) for name in names}


def task_loss_weights(task: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (music, motion) loss weights [B] from task ids [B]: 1 where the task trains the stream.

    The model averages each stream's loss over the samples weighted here and scales it by the modality
    weight of its config (loss.music_weight / loss.motion_weight, set when the model is built).
    """
    music_table = torch.tensor([1.0 if "music" in t.trained else 0.0 for t in TASK_TABLE])
    motion_table = torch.tensor([1.0 if "motion" in t.trained else 0.0 for t in TASK_TABLE])
    task = task.cpu().long()
    return music_table[task], motion_table[task]


def _output_terms(output, names: tuple[str, ...], trained: set[str]) -> LossTerms:
    """(sum, count) of every name in `names`: the total loss, and each `loss/<x>` that `output` has and trains."""
    terms = {name: (torch.zeros(()), 0) for name in names}
    terms["loss"] = (output.loss.detach().float(), 1)
    for name in ("music", "motion", "caption"):
        value = getattr(output, f"{name}_loss", None)
        if f"loss/{name}" in terms and value is not None and name in trained:
            terms[f"loss/{name}"] = (value.detach().float(), 1)
    return terms


class LMObjective:
    """Teacher-forced LM over the stage's streams (`stage.streams`), per-task losses with `stage.task_mixture`."""

    def __init__(self, stage, recipe: Recipe, device: torch.device):
        self.streams = stage.streams
        self.task_mixture = stage.task_mixture
        self.loss = recipe.loss
        self.device = device

    def inputs(self, batch: dict, step: int) -> dict:
        names = tuple(f"{s}_codes" for s in self.streams) + tuple(
            f"{s}_text_{part}" for s in self.streams for part in ("ids", "mask")
        )
        kwargs = _to(batch, names, self.device)
        if self.task_mixture:
            music_w, motion_w = task_loss_weights(batch["task"])
            kwargs.update(music_loss_weight=music_w.to(self.device), motion_loss_weight=motion_w.to(self.device))
        return kwargs

    def tokens(self, batch: dict) -> int:
        """Code time steps the forward pass models (one token = one time step of one stream; padding included)."""
        return sum(batch[f"{s}_codes"].shape[0] * batch[f"{s}_codes"].shape[-1] for s in self.streams)

    def _trained_streams(self, batch: dict) -> set[str]:
        """Streams with a loss in this batch (a task-mixture batch may hold no sample that trains one of them)."""
        if not self.task_mixture:
            return set(self.streams)
        return {stream for t in batch["task"].tolist() for stream in TASK_TABLE[t].trained}

    @property
    def term_names(self) -> tuple[str, ...]:
        """The logged loss terms; fixed per stage so that every rank reduces the same vector."""
        tasks = tuple(f"loss/task/{t}" for t in TASKS) if self.task_mixture else ()
        return ("loss",) + tuple(f"loss/{s}" for s in self.streams) + tasks

    def loss_terms(self, output, batch: dict, with_tasks: bool) -> LossTerms:
        """(sum, count) per logged term: scalars count once, per-task losses once per sample of that task.

        Per-task losses (task-mixture stages, computed only when `with_tasks`, i.e. on log steps) are each
        sample's cross-entropy on the streams its task trains, weighted by the modality weights.
        """
        terms = _output_terms(output, self.term_names, self._trained_streams(batch))
        if self.task_mixture and with_tasks:
            device = output.loss.device
            mask = batch["code_mask"].to(device) if "code_mask" in batch else None
            music_ce = per_sample_ce(output.music_logits.detach(), batch["music_codes"].to(device), mask)
            motion_ce = per_sample_ce(output.motion_logits.detach(), batch["motion_codes"].to(device), mask)
            task = batch["task"].to(device)
            for spec in TASK_TABLE:
                chosen = task == spec.tag
                value = self.loss.music_weight * music_ce * (
                    "music" in spec.trained
                ) + self.loss.motion_weight * motion_ce * ("motion" in spec.trained)
                terms[f"loss/task/{spec.name}"] = (value[chosen].sum(), int(chosen.sum()))
        return terms


class CaptionObjective:
    """Caption loss of one stream per step: `loss.caption_modality`, or the stage's streams in turn."""

    term_names = ("loss", "loss/caption")

    def __init__(self, stage, recipe: Recipe, device: torch.device):
        self.streams = stage.streams
        self.modality = recipe.loss.caption_modality
        self.device = device

    def caption_modality(self, step: int) -> str:
        return self.modality if self.modality != "alternate" else self.streams[step % len(self.streams)]

    def inputs(self, batch: dict, step: int) -> dict:
        modality = self.caption_modality(step)
        return {
            **_to(batch, (f"{modality}_codes",), self.device),
            "caption_modality": modality,
            "caption_labels": batch[f"{modality}_text_ids"].to(self.device),
            "caption_labels_mask": batch[f"{modality}_text_mask"].to(self.device),
        }

    def tokens(self, batch: dict) -> int:
        """Code time steps of the captioned stream (every stream of a window has the same length)."""
        codes = batch[f"{self.streams[0]}_codes"]
        return codes.shape[0] * codes.shape[-1]

    def loss_terms(self, output, batch: dict, with_tasks: bool) -> LossTerms:
        return _output_terms(output, self.term_names, {"caption"})


class MotionVQVAEObjective:
    """Feeds normalised windows to MotionVQVAE.forward and logs its losses and codebook health."""

    term_names = ("loss", "loss/recon", "loss/commit", "mpjpe_mm", "perplexity", "dead_codes")

    def __init__(self, stage, recipe: Recipe, device: torch.device):  # the objective factory signature (Stage)
        self.device = device

    def inputs(self, batch: dict, step: int) -> dict:
        """Features and mask, and the pairs' music where the batch has it (the music-codebook VQ-VAE)."""
        return {name: batch[name].to(self.device) for name in ("features", "mask", "music") if name in batch}

    def tokens(self, batch: dict) -> int:
        """Valid motion frames in the batch."""
        return int(batch["mask"].sum())

    def loss_terms(self, output, batch: dict, with_tasks: bool) -> LossTerms:
        values = {
            "loss": output.loss,
            "loss/recon": output.recon_loss,
            "loss/commit": output.commit_loss,
            "mpjpe_mm": output.mpjpe_mm,
            "perplexity": output.perplexity,
            "dead_codes": output.dead_codes,
        }
        return {name: (torch.as_tensor(value).detach().float(), 1) for name, value in values.items()}
