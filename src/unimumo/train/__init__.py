"""Training: DeepSpeed engine, stage recipes and freeze plans, checkpoints and export.

`run(recipe, **overrides)` is `unimumo-train` as a Python call (used by submitit). Overrides are
recipe keys, dotted (`**{"optim.lr": 1e-4}`), with `__` for the dot (`optim__lr=1e-4`) or as
section mappings (`optim={"lr": 1e-4}`), or the keywords of unimumo-train's flags (`shards`, `aist`,
`humanml3d`, `text_model`, `init_from`, ...: the table in unimumo.train.flags). Returns the run summary:
status ("completed" | "preempted"), exit_code (0 | REQUEUE_EXIT_CODE), step, checkpoint, export,
skipped_steps, wall_time_s.
"""

from __future__ import annotations

from typing import Any


def run(recipe: str, **overrides: Any) -> dict:
    from unimumo.train.flags import resolve_keywords
    from unimumo.train.stages import build_recipe
    from unimumo.train.trainer import run_trainer
    from unimumo.utils.log import setup_logging

    setup_logging()  # as the command does: rank 0 at INFO, the other ranks warnings and errors
    return run_trainer(build_recipe(recipe, resolve_keywords(overrides)))


__all__ = ["run"]
