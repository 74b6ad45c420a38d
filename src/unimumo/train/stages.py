"""Freeze plans: which parameter groups each training stage updates, and the trainable-parameter table.

The model names the group of every parameter (`parameter_group(name)` -> "music" | "motion" |
"shared" | "captioning" | "text"); a stage is the set of groups it trains. Frozen parameters get
`requires_grad=False`, are never handed to the optimizer and so hold no optimizer state.

stage2_joint trains music, motion and shared modules. The captioning modules are not on the joint
forward path, so they would get no gradient, only weight decay; they stay as they are.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch

TRAINED_GROUPS: dict[str, frozenset[str] | None] = {
    "motion_vqvae": None,  # None: every parameter trains (the VQ-VAE has no groups)
    "stage1_motion": frozenset({"motion"}),
    "stage2_joint": frozenset({"music", "motion", "shared"}),
    "caption": frozenset({"captioning"}),
}


@dataclass(frozen=True)
class GroupCount:
    group: str
    tensors: int
    params: int
    trainable: bool


def group_of(model: torch.nn.Module, name: str) -> str:
    return model.parameter_group(name) if hasattr(model, "parameter_group") else "all"


def apply_freeze_plan(model: torch.nn.Module, stage: str) -> list[GroupCount]:
    """Set requires_grad per the stage's plan; return per-group counts. Raises if nothing would train."""
    if stage not in TRAINED_GROUPS:
        raise ValueError(f"no freeze plan for stage {stage!r}; known: {', '.join(TRAINED_GROUPS)}")
    trained = TRAINED_GROUPS[stage]
    counts: OrderedDict[str, list[int]] = OrderedDict()
    for name, param in model.named_parameters():
        group = group_of(model, name)
        train = trained is None or group in trained
        param.requires_grad_(train)
        tensors_params = counts.setdefault(group, [0, 0])
        tensors_params[0] += 1
        tensors_params[1] += param.numel()
    rows = [GroupCount(group, n, p, trained is None or group in trained) for group, (n, p) in counts.items()]
    if not any(row.trainable for row in rows):
        raise ValueError(f"stage {stage!r} trains groups {sorted(trained or [])} but the model has none of them "
                         f"(its groups: {[row.group for row in rows]})")
    return rows


def trainable_table(rows: list[GroupCount]) -> str:
    """A printable table: one line per parameter group, then the totals."""
    lines = [f"{'group':<12} {'tensors':>8} {'parameters':>14}  status"]
    for row in rows:
        lines.append(f"{row.group:<12} {row.tensors:>8} {row.params:>14,}  {'TRAIN' if row.trainable else 'frozen'}")
    trainable = sum(r.params for r in rows if r.trainable)
    total = sum(r.params for r in rows)
    lines.append(f"{'total':<12} {sum(r.tensors for r in rows):>8} {total:>14,}  "
                 f"{trainable:,} trainable ({100.0 * trainable / max(total, 1):.2f}%)")
    return "\n".join(lines)


def optimizer_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters only, split into decayed matrices and undecayed vectors (biases, norms)."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]
