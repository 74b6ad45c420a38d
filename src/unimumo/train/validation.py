"""The validation pass of a training run: held-out loss, the best/ export and early stopping.

Every `validation.every` steps (and at the last step) each rank runs `validation.batches` micro batches of
held-out data in eval mode without gradients: the stage's own data of split `validation.split`, read the same
way every pass (shards in manifest order, no shuffle, no loader workers, the training window and task
mixture; a split with fewer shards than ranks is read whole by every rank; for the motion VQ-VAE, raw motion
windows of that corpus split normalised with the training statistics). The stream restarts at its first batch
each pass, so passes compare, and the random-number state is restored afterwards, so training is the same with
or without validation. Every term the objective logs (loss per stream and per task, the caption loss, the
VQ-VAE's reconstruction error in mm, `mpjpe_mm`) is summed with its count over the batches and ranks in one
all-reduce: every rank holds the same values. Rank 0 logs them to metrics.jsonl (lines with "split": "val" and
keys `val/<term>`) and TensorBoard (`val/<term>`).

best/: when `val/loss` is lower than at every earlier pass, the trainer saves a checkpoint of that step and
rank 0 exports it with the export code to OUT/best (a from_pretrained directory, like OUT/export) beside
OUT/best/unimumo_best.json (step, loss, the pass's values). The best loss, its step and the passes since live in
the checkpoint's client state, so `--resume` continues them; a best/ export that a kill interrupted is redone
from its checkpoint on resume. Early stop: after `early_stop_patience` passes in a row without a lower loss,
the run ends "completed" with the reason.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from unimumo.shards.manifest import Manifest, ManifestError
from unimumo.train.checkpoint import META, capture_rng, restore_rng, tag_for
from unimumo.train.data import SHARDS
from unimumo.train.export import export_checkpoint
from unimumo.train.motion_windows import MOTION_WINDOWS, build_motion_windows
from unimumo.train.recipes import Recipe, RecipeError
from unimumo.utils.io import atomic_write_json
from unimumo.utils.log import get_logger

logger = get_logger(__name__)

BEST_DIR = "best"
BEST_RECORD = "unimumo_best.json"
PREFIX = "val/"
METRIC = "loss"  # the term best/ and early stopping follow (for every stage its total training loss)


def held_out_stream(stage, recipe: Recipe, rank: int, world_size: int, train_data: Any):
    """This rank's stream of `validation.split` micro batches (the stage's data kind, read in a fixed order)."""
    split = recipe.validation.split
    held_out = dataclasses.replace(
        recipe, data=dataclasses.replace(recipe.data, split=split, shuffle_buffer=0, num_workers=0)
    )
    if stage.data is MOTION_WINDOWS:  # normalised as the model sees training windows
        return build_motion_windows(stage, held_out, rank, world_size, feature_stats=train_data.feature_stats)
    if stage.data is SHARDS:
        try:
            shards = len(Manifest.load(recipe.data.shards).split_paths(split))
        except ManifestError as error:  # no such split
            raise RecipeError(
                f"validation.split: {error}; build it (unimumo-shards build --split {split}) or set validation.every=0"
            ) from None
        if shards < world_size:
            rank, world_size = 0, 1  # every rank reads the whole split: the mean over ranks is its mean
    return stage.data(stage, held_out, rank, world_size)


@dataclass(frozen=True)
class Pass:
    """The outcome of one validation pass (the same on every rank)."""

    values: dict[str, float | None]  # term -> mean over the pass's batches on all ranks
    improved: bool  # val/loss is lower than at every earlier pass: this step is the new best
    stop_reason: str | None  # set when early stopping ends the run here

    @property
    def needs_checkpoint(self) -> bool:
        """A checkpoint of this step must be written now (best/ is exported from it, or the run ends)."""
        return self.improved or self.stop_reason is not None


class Validation:
    """The run's validation passes and their state (best loss, its step, passes since); off when every == 0."""

    def __init__(
        self,
        stage,
        recipe: Recipe,
        *,
        engine,
        objective,
        reduce: Callable[[dict], dict],
        train_data: Any,
        rank: int,
        world_size: int,
        out: Path,
    ):
        self.spec = recipe.validation
        self.last_step = recipe.steps
        self.engine, self.objective, self.reduce = engine, objective, reduce
        self.rank = rank
        self.out = Path(out)
        self.best_loss: float | None = None
        self.best_step: int | None = None
        self.best_values: dict[str, float | None] = {}
        self.since_best = 0  # passes since the best one
        self.stop_reason: str | None = None  # set when early stopping ends the run
        self.stream = None
        if self.spec.every:
            self.stream = held_out_stream(stage, recipe, rank, world_size, train_data)
            self._start = self.stream.state_dict()
            self._check_readable()

    @property
    def enabled(self) -> bool:
        return self.stream is not None

    def _check_readable(self) -> None:
        """Read one batch at start-up, so that an unusable split stops the run before training does."""
        try:
            next(iter(self.stream))
        except RuntimeError as error:  # the loader found no sample of at least min_window frames
            raise RecipeError(f"validation.split: {self.spec.split!r}: {error}") from None
        self.stream.load_state_dict(self._start)

    def due(self, step: int) -> bool:
        return self.enabled and (step % self.spec.every == 0 or step == self.last_step)

    def after_step(self, step: int, metrics) -> Pass | None:
        """Run a pass if one is due at `step` (every rank calls this), log it on rank 0; None when none is due."""
        if not self.due(step):
            return None
        values = self._evaluate()
        loss = values.get(METRIC)
        improved = loss is not None and math.isfinite(loss) and (self.best_loss is None or loss < self.best_loss)
        if improved:
            self.best_loss, self.best_step, self.best_values, self.since_best = loss, step, values, 0
        else:
            self.since_best += 1
        self._check_patience(step)
        record = {PREFIX + name: value for name, value in values.items()}
        metrics.log(step, {**record, PREFIX + "best_loss": self.best_loss}, split="val")
        shown = " | ".join(f"{name} {value:.4g}" for name, value in record.items() if value is not None)
        logger.info("validation step %d: %s%s", step, shown, " (best so far)" if improved else "")
        if self.stop_reason:
            logger.info("%s", self.stop_reason)
        return Pass(values, improved, self.stop_reason)

    def _check_patience(self, step: int) -> None:
        patience = self.spec.early_stop_patience
        if patience and self.since_best >= patience:
            best = f"{self.best_loss:.6g} at step {self.best_step}" if self.best_step is not None else "none finite"
            self.stop_reason = (
                f"early stop at step {step}: the validation loss did not improve for "
                f"{self.since_best} passes (validation.early_stop_patience={patience}; best {best})"
            )

    def _evaluate(self) -> dict[str, float | None]:
        """Means of the objective's terms over `batches` held-out micro batches of every rank (eval, no grad)."""
        rng = capture_rng()
        self.engine.eval()
        self.stream.load_state_dict(self._start)
        totals: dict[str, tuple[torch.Tensor, int]] = {}
        try:
            with torch.no_grad():
                for index, batch in enumerate(itertools.islice(iter(self.stream), self.spec.batches)):
                    # index as the step: a caption stage that alternates modalities by step covers both
                    output = self.engine(**self.objective.inputs(batch, index))
                    for name, (value, count) in self.objective.loss_terms(output, batch, with_tasks=True).items():
                        value = value.detach().float().to(output.loss.device)
                        total, seen = totals.get(name, (torch.zeros((), device=value.device), 0))
                        totals[name] = (total + value, seen + count)
        finally:
            self.engine.train()
            restore_rng(rng)
        return self.reduce(totals)

    # -- best/ -------------------------------------------------------------------------------------------------------

    def export_best(self, checkpoint: Path) -> Path:
        """Export `checkpoint` (this step's, the new best) to OUT/best with its record; every rank calls this."""
        target = self.out / BEST_DIR
        if self.rank == 0:
            export_checkpoint(checkpoint, target)
            atomic_write_json(
                target / BEST_RECORD,
                {
                    "step": self.best_step,
                    "metric": PREFIX + METRIC,
                    "loss": self.best_loss,
                    "values": {PREFIX + name: value for name, value in self.best_values.items()},
                    "checkpoint": Path(checkpoint).name,
                },
            )
            logger.info("best validation loss %.6g at step %d: exported to %s", self.best_loss, self.best_step, target)
        if dist.is_initialized():
            dist.barrier()
        return target

    def state_dict(self) -> dict:
        """Plain values for the checkpoint's client state."""
        return {
            "best_loss": self.best_loss,
            "best_step": self.best_step,
            "best_values": dict(self.best_values),
            "since_best": self.since_best,
        }

    def resume(self, state: dict | None, step: int, checkpoints: Path) -> None:
        """Continue from the state of the checkpoint of `step` (None: written without validation); every rank
        calls this. A run that had stopped early stays stopped (unless early_stop_patience was raised).

        A best/ export that does not match the state's best step (a kill between the checkpoint and the export)
        is redone from that step's checkpoint.
        """
        if not state or not self.enabled:
            return
        self.best_loss, self.best_step = state["best_loss"], state["best_step"]
        self.best_values, self.since_best = dict(state["best_values"]), int(state["since_best"])
        self._check_patience(step)
        if self.best_step is None:
            return
        source = Path(checkpoints) / tag_for(self.best_step)
        action = [None]  # rank 0 decides for every rank (each then takes part in the export's barrier, or none does)
        if self.rank == 0 and read_best(self.out).get("step") != self.best_step:
            action[0] = "export" if (source / META).is_file() else "gone"
        if dist.is_initialized():
            dist.broadcast_object_list(action, src=0)
        if action[0] == "export":
            self.export_best(source)
        elif action[0] == "gone":
            logger.warning(
                "best/ does not hold step %d, the best validation loss, and its checkpoint %s is gone",
                self.best_step,
                source,
            )

    def summary(self) -> dict:
        """The run summary's validation entries (none when validation is off)."""
        if not self.enabled:
            return {}
        summary = {
            "best_step": self.best_step,
            "best_val_loss": self.best_loss,
            "best": str(self.out / BEST_DIR) if self.best_step is not None else None,
        }
        return {**summary, "reason": self.stop_reason} if self.stop_reason else summary


def validation_curve(out: str | Path) -> dict[int, dict[str, float | None]]:
    """step -> the values of that step's validation line in OUT/metrics.jsonl (without the "val/" prefix)."""
    path = Path(out) / "metrics.jsonl"
    curve = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            record = json.loads(line)
        except ValueError:  # a line cut short by a kill
            continue
        if record.get("split") == "val":
            curve[record["step"]] = {
                key.removeprefix(PREFIX): value for key, value in record.items() if key.startswith(PREFIX)
            }
    return curve


def read_best(out: str | Path) -> dict:
    """OUT/best/unimumo_best.json ({} when there is none or it cannot be read)."""
    path = Path(out) / BEST_DIR / BEST_RECORD
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
