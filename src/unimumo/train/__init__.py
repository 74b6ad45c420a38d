"""Training: DeepSpeed engine, stage recipes and freeze plans, checkpoints and export.

`run(recipe, **overrides)` is `unimumo-train` as a Python call (used by submitit). Overrides are
recipe keys, dotted (`**{"optim.lr": 1e-4}`), with `__` for the dot (`optim__lr=1e-4`) or as
section mappings (`optim={"lr": 1e-4}`); `shards`, `aist` and `humanml3d` are short for
`data.shards` etc. Returns the run summary: status ("completed" | "preempted"), exit_code
(0 | REQUEUE_EXIT_CODE), step, checkpoint, export, skipped_steps, wall_time_s.
"""
from __future__ import annotations

from typing import Any

SHORTHANDS = {"shards": "data.shards", "aist": "data.aist", "humanml3d": "data.humanml3d"}


def run(recipe: str, **overrides: Any) -> dict:
    from unimumo.train.stages import build_recipe
    from unimumo.train.trainer import run_trainer

    resolved = {SHORTHANDS.get(key, key): value for key, value in overrides.items()}
    return run_trainer(build_recipe(recipe, resolved))


__all__ = ["run"]
