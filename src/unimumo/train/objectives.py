"""What each stage feeds the model: loader batch -> forward keyword arguments, and what it logs.

stage1_motion passes the motion stream only. stage2_joint passes both streams and turns each
sample's task into per-sample modality loss weights: text2music_motion trains both streams,
music2motion only motion (music is the given condition), motion2music only music. caption passes
the stream being captioned and its caption ids as labels, alternating music/motion by step unless
the recipe fixes one modality.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from unimumo.constants import TASKS
from unimumo.train.recipes import Recipe

# which streams carry a loss, per task (text2music_motion: both; music2motion: motion; motion2music: music)
TASK_TRAINS = {"text2music_motion": ("music", "motion"), "music2motion": ("motion",), "motion2music": ("music",)}


def _to(batch: dict, names: tuple[str, ...], device: torch.device) -> dict:
    return {name: batch[name].to(device, non_blocking=True) for name in names}


def task_loss_weights(task: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (music, motion) loss weights [B] from task ids [B]: 1 where the task trains the stream.

    The model averages each stream's loss over the samples weighted here and scales it by the modality
    weight of its config (loss.music_weight / loss.motion_weight, set when the model is built).
    """
    music_table = torch.tensor([1.0 if "music" in TASK_TRAINS[t] else 0.0 for t in TASKS])
    motion_table = torch.tensor([1.0 if "motion" in TASK_TRAINS[t] else 0.0 for t in TASKS])
    task = task.cpu().long()
    return music_table[task], motion_table[task]


def per_sample_ce(logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per sample [B] of logits [B,K,T,V] against codes [B,K,T] (for logging)."""
    ce = F.cross_entropy(logits.detach().float().flatten(0, 2), codes.flatten(), reduction="none")
    return ce.view(codes.shape[0], -1).mean(dim=1)


class LMObjective:
    """Batch plumbing for the UniMuMo LM stages (stage1_motion, stage2_joint, caption)."""

    def __init__(self, recipe: Recipe, device: torch.device):
        self.stage = recipe.name
        self.loss = recipe.loss
        self.device = device

    def caption_modality(self, step: int) -> str:
        fixed = self.loss.caption_modality
        return fixed if fixed != "alternate" else ("music", "motion")[step % 2]

    def inputs(self, batch: dict, step: int) -> dict:
        d = self.device
        if self.stage == "stage1_motion":
            return _to(batch, ("motion_codes", "motion_text_ids", "motion_text_mask"), d)
        if self.stage == "stage2_joint":
            kwargs = _to(batch, ("music_codes", "motion_codes", "music_text_ids", "music_text_mask",
                                 "motion_text_ids", "motion_text_mask"), d)
            music_w, motion_w = task_loss_weights(batch["task"])
            kwargs.update(music_loss_weight=music_w.to(d), motion_loss_weight=motion_w.to(d))
            return kwargs
        modality = self.caption_modality(step)
        return {f"{modality}_codes": batch[f"{modality}_codes"].to(d), "caption_modality": modality,
                "caption_labels": batch[f"{modality}_text_ids"].to(d),
                "caption_labels_mask": batch[f"{modality}_text_mask"].to(d)}

    def tokens(self, batch: dict) -> int:
        """Code time steps the forward pass models (one token = one time step of one stream)."""
        streams = {"stage1_motion": ("motion_codes",), "stage2_joint": ("music_codes", "motion_codes")}
        names = streams.get(self.stage, ("music_codes",))
        return sum(batch[n].shape[0] * batch[n].shape[-1] for n in names)

    def _trained_streams(self, batch: dict) -> set[str]:
        """Streams with a loss in this batch (a stage2 batch may hold no sample that trains one of them)."""
        if self.stage != "stage2_joint":
            return {"stage1_motion": {"motion"}, "caption": {"caption"}}[self.stage]
        return {stream for t in batch["task"].tolist() for stream in TASK_TRAINS[TASKS[t]]}

    @property
    def term_names(self) -> tuple[str, ...]:
        """The logged loss terms; fixed per stage so that every rank reduces the same vector."""
        if self.stage == "stage1_motion":
            return ("loss", "loss/motion")
        if self.stage == "caption":
            return ("loss", "loss/caption")
        return ("loss", "loss/music", "loss/motion") + tuple(f"loss/task/{t}" for t in TASKS)

    def loss_terms(self, output, batch: dict, with_tasks: bool) -> dict[str, tuple[torch.Tensor, int]]:
        """(sum, count) per logged term: scalars count once, per-task losses once per sample of that task.

        Per-task losses (stage2_joint, computed only when `with_tasks`, i.e. on log steps) are each
        sample's cross-entropy on the streams its task trains, weighted by the modality weights.
        """
        terms = {name: (torch.zeros(()), 0) for name in self.term_names}
        terms["loss"] = (output.loss.detach().float(), 1)
        trained = self._trained_streams(batch)
        for name in ("music", "motion", "caption"):
            value = getattr(output, f"{name}_loss", None)
            if f"loss/{name}" in terms and value is not None and name in trained:
                terms[f"loss/{name}"] = (value.detach().float(), 1)
        if self.stage == "stage2_joint" and with_tasks:
            device = output.loss.device
            music_ce = per_sample_ce(output.music_logits, batch["music_codes"].to(device))
            motion_ce = per_sample_ce(output.motion_logits, batch["motion_codes"].to(device))
            task = batch["task"].to(device)
            for index, name in enumerate(TASKS):
                chosen = task == index
                trains = TASK_TRAINS[name]
                value = (self.loss.music_weight * music_ce * ("music" in trains)
                         + self.loss.motion_weight * motion_ce * ("motion" in trains))
                terms[f"loss/task/{name}"] = (value[chosen].sum(), int(chosen.sum()))
        return terms


def build_objective(recipe: Recipe, device: torch.device):
    """The batch plumbing of `recipe`'s stage."""
    if recipe.name == "motion_vqvae":
        from unimumo.train.motion_windows import MotionVQVAEObjective

        return MotionVQVAEObjective(device)
    return LMObjective(recipe, device)
