"""The training loop: set-up, steps with gradient accumulation, logging, checkpoints, pre-emption, export.

One `Trainer` per rank, for the stage its recipe names (train/stages.py). Set-up order: process
group -> `build_components` (data stream, seeded model, freeze plan, optimizer groups, objective) ->
DeepSpeed engine -> resume. A step consumes
`accumulation` finite micro batches; a micro batch whose loss is non-finite on any rank is dropped
on every rank (no backward, no optimizer change) and counted, and the run stops after
`max_nonfinite_steps` of them in a row.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from unimumo.constants import NUM_CODEBOOKS, REQUEUE_EXIT_CODE
from unimumo.errors import UniMuMoError
from unimumo.shards.manifest import Manifest
from unimumo.train import distributed
from unimumo.train import engine as engine_lib
from unimumo.train.checkpoint import CheckpointError, CheckpointManager, capture_rng, restore_rng, tag_for
from unimumo.train.data import SHARDS
from unimumo.train.export import export_checkpoint
from unimumo.train.model_factory import describe
from unimumo.train.recipes import Recipe
from unimumo.train.signals import StopRequest
from unimumo.train.stages import STAGES, build_components, seed_all, trainable_table
from unimumo.train.step_metrics import (
    MetricsLogger,
    WindowStats,
    detect_peak_flops,
    flops_per_token,
    max_memory_bytes,
    summary_line,
)
from unimumo.train.validation import Validation
from unimumo.utils.io import atomic_write_json, atomic_write_text
from unimumo.utils.log import get_logger
from unimumo.utils.run_lock import run_lock

logger = get_logger(__name__)

OOM_ADVICE = (
    "out of memory. Knobs, cheapest first: lower data.micro_batch (data.global_batch stays, gradient "
    "accumulation grows), turn on model.activation_checkpointing=true, move to a higher ZeRO stage "
    "(--ds-config zero2 -> zero3) or offload (--ds-config zero3_offload), or shorten data.window_s."
)


class NonFiniteLossError(UniMuMoError, RuntimeError):
    """Too many consecutive micro batches had a non-finite loss."""

    kind = "training stopped"


def _is_oom(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "can't allocate memory" in str(error)


class Trainer:
    def __init__(self, recipe: Recipe):
        warnings.filterwarnings("ignore", message=r".*torch\.distributed\.\w+` is deprecated", category=FutureWarning)
        self.recipe = recipe
        stage = STAGES[recipe.name]
        self.env = distributed.detect()
        self.device = distributed.device_for(self.env)
        self.backend = distributed.init_process_group(self.env, self.device)
        self.rank, self.world = self.env.rank, self.env.world_size
        self.out = Path(recipe.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.main = self.env.is_main

        parts = build_components(recipe, self.rank, self.world, self.device)  # data, seeded model, freeze, objective
        self.data, model, self.objective, rows = parts.data, parts.model, parts.objective, parts.freeze
        self.model_description = describe(model)
        # the tokenizers the shards were built with, kept in every checkpoint's meta for the export to record
        self.tokenizers = Manifest.load(recipe.data.shards).tokenizers if stage.data is SHARDS else {}
        # keys a code token attends to: every stream's delayed window (T + K - 1 steps each) plus its text
        keys = len(stage.streams) * (stage.data.window(recipe).steps + NUM_CODEBOOKS - 1) + recipe.data.max_text_len
        self.flops_per_token = flops_per_token(model, stage.streams, attention_context=keys) if stage.streams else None
        self.checkpoints = CheckpointManager(self.out / "checkpoints", recipe.checkpoint.keep, self.rank)
        if not recipe.resume:
            self.checkpoints.check_fresh()  # never overwrite (or rotate away) an earlier run's checkpoints
        saved_world = self.checkpoints.saved_world_size() if recipe.resume else None
        reshard = saved_world is not None and saved_world != self.world
        self.engine, ds_config = engine_lib.initialize(
            model, parts.param_groups, recipe, self.world, self.device, load_universal=reshard
        )
        self.engine.train()  # from_pretrained (--init-from) leaves the model in eval mode
        self.accumulation = ds_config["gradient_accumulation_steps"]
        self.peak_flops = recipe.log.peak_flops or detect_peak_flops(self.device)
        self.validation = Validation(
            stage,
            recipe,
            engine=self.engine,
            objective=self.objective,
            reduce=self._reduce,
            train_data=self.data,
            rank=self.rank,
            world_size=self.world,
            out=self.out,
        )

        self.step = 0
        self.skipped = 0  # micro batches dropped for a non-finite loss, over the whole run
        self.nonfinite_in_row = 0
        self.unzero_grad_norm: float | None = None  # ZeRO-0 only, measured on log steps
        seed_all(recipe.seed + 1000 * (self.rank + 1))  # distinct dropout streams per rank
        if recipe.resume:
            self._resume(saved_world)
        if self.main:
            atomic_write_json(self.out / "recipe.json", recipe.to_dict())
            logger.info(
                f"recipe {recipe.name}: {self.world} rank(s) ({self.env.launcher}, {self.backend}), "
                f"global batch {recipe.data.global_batch} = micro {recipe.data.micro_batch} x {self.world} "
                f"ranks x {self.accumulation} accumulation, {engine_lib.resolve_precision(recipe, self.device)}"
                f", ZeRO stage {self.engine.zero_optimization_stage()}\n{trainable_table(rows)}"
            )
        self.metrics = MetricsLogger(self.out, enabled=self.main, tensorboard=recipe.log.tensorboard)

    # -- resume ------------------------------------------------------------------------------------------------------

    def _resume(self, saved_world: int | None) -> None:
        """Continue the newest checkpoint. Written by another number of ranks: load its universal copy
        (weights, optimizer moments, step, lr schedule, skipped counter continue exactly), continue the
        data epoch by samples consumed (loader.load_elastic_state) and restore the RNG of the ranks
        that existed before (the others keep their fresh per-rank seed)."""
        if saved_world is None:
            if self.main:
                logger.info("--resume: no checkpoint in %s; starting fresh", self.checkpoints.root)
            return
        reshard = saved_world != self.world
        if reshard and not hasattr(self.data, "load_elastic_state"):
            raise CheckpointError(
                f"{self.checkpoints.root}: written by {saved_world} ranks, now {self.world}; the "
                f"{STAGES[self.recipe.name].data.name} data of this stage cannot be re-sharded - "
                f"resume on {saved_world} ranks"
            )
        self.checkpoints.check_compatible(self.engine, self.recipe.name)
        if reshard:
            self.checkpoints.prepare_universal()
        client = self.checkpoints.load(self.engine, universal=reshard)
        self.step, self.skipped = client["step"], client["skipped_steps"]
        for change in engine_lib.follow_recipe_optim(self.engine.lr_scheduler, self.recipe.optim):
            if self.main:
                logger.warning("changed on resume: %s", change)
        self.validation.resume(client.get("validation"), self.step, self.checkpoints.root)
        ranks = client["ranks"]
        if reshard:
            self.data.load_elastic_state([state["loader"] for state in ranks])
        else:
            self.data.load_state_dict(ranks[self.rank]["loader"])
        if self.rank < len(ranks):
            restore_rng(ranks[self.rank]["rng"])
        if self.main:
            self._truncate_metrics()
            how = f", re-sharded from {saved_world} to {self.world} ranks" if reshard else ""
            logger.info("resumed from step %d%s", self.step, how)

    def _truncate_metrics(self) -> None:
        """Drop metric lines logged after the checkpoint we resume from (they will be logged again).

        A line cut short by the kill that ended the previous run is not JSON; it is dropped too.
        """
        path = self.out / "metrics.jsonl"
        if path.is_file():
            kept = [line for line in path.read_text().splitlines() if _logged_step(line) <= self.step]
            atomic_write_text(path, "".join(line + "\n" for line in kept))

    # -- steps -------------------------------------------------------------------------------------------------------

    def _reduce(self, terms: dict[str, tuple[torch.Tensor, int]]) -> dict[str, float]:
        """Means over all ranks of each (sum, count) term, in one all-reduce."""
        names = list(terms)
        sums = torch.stack([terms[n][0].float().to(self.device).reshape(()) for n in names])
        counts = torch.tensor([float(terms[n][1]) for n in names], device=self.device)
        packed = torch.cat([sums, counts])
        if self.world > 1:
            dist.all_reduce(packed)
        totals = packed.cpu().tolist()
        sums, counts = totals[: len(names)], totals[len(names) :]
        return {n: s / c if c > 0 else None for n, s, c in zip(names, sums, counts)}

    def _micro_step(self, batch: dict, log_step: bool) -> dict[str, float] | None:
        """Forward, and backward + engine step if the loss is finite on every rank; None when dropped."""
        output = self.engine(**self.objective.inputs(batch, self.step))
        values = self._reduce(self.objective.loss_terms(output, batch, with_tasks=log_step))
        if values["loss"] is None or not np.isfinite(values["loss"]):
            return None
        self.engine.backward(output.loss)
        if log_step and self.engine.zero_optimization_stage() == 0 and self.engine.is_gradient_accumulation_boundary():
            # DeepSpeed records the global gradient norm only under ZeRO; without it, measure it here
            # (after the gradient all-reduce, before clipping, as DeepSpeed reports it)
            grads = [p.grad for p in self.engine.module.parameters() if p.grad is not None]
            self.unzero_grad_norm = float(torch.nn.utils.get_total_norm(grads))
        self.engine.step()
        return values

    def _train_step(self, batches, log_step: bool) -> tuple[dict[str, float], int, int]:
        """One optimizer step -> (mean loss terms, tokens, samples) of this rank's micro batches."""
        done, tokens, samples = 0, 0, 0
        sums: dict[str, list[float]] = {}
        lr = self.engine.get_lr()[0]
        while done < self.accumulation:
            batch = next(batches)
            values = self._micro_step(batch, log_step)
            tokens += self.objective.tokens(batch)
            samples += len(batch["keys"]) if "keys" in batch else next(iter(batch.values())).shape[0]
            if values is None:
                self.skipped += 1
                self.nonfinite_in_row += 1
                if self.nonfinite_in_row >= self.recipe.max_nonfinite_steps:
                    raise NonFiniteLossError(
                        f"{self.nonfinite_in_row} micro batches in a row had a non-finite loss at step {self.step + 1} "
                        f"({self.skipped} skipped in total); lower optim.lr, check the data, or raise "
                        f"max_nonfinite_steps"
                    )
                continue
            self.nonfinite_in_row = 0
            done += 1
            for key, value in values.items():
                if value is not None:
                    sums.setdefault(key, []).append(value)
        self.step += 1
        out = {key: float(np.mean(v)) for key, v in sums.items()}
        grad_norm = self.engine.get_global_grad_norm()
        if grad_norm is None:
            grad_norm, self.unzero_grad_norm = self.unzero_grad_norm, None
        out.update(lr=lr, grad_norm=float(grad_norm) if grad_norm is not None else None, skipped_steps=self.skipped)
        return out, tokens, samples

    # -- checkpoints and export --------------------------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        meta = dict(
            self.model_description,
            recipe=self.recipe.to_dict(),
            step=self.step,
            world_size=self.world,
            tokenizers=self.tokenizers,
        )
        return self.checkpoints.save(
            self.engine,
            self.step,
            meta=meta,
            client_state={"skipped_steps": self.skipped, "validation": self.validation.state_dict()},
            rank_state={"loader": self.data.state_dict(), "rng": capture_rng()},
        )

    def export(self, checkpoint: Path) -> Path:
        target = self.out / "export"
        if self.main:
            export_checkpoint(checkpoint, target)
        if dist.is_initialized():
            dist.barrier()
        return target

    # -- loop --------------------------------------------------------------------------------------------------------

    def train(self, stop: StopRequest) -> dict:
        """Run to `recipe.steps`; a signal recorded by `stop` (installed by the caller) ends it at a checkpoint."""
        recipe = self.recipe
        window = WindowStats()
        bar = tqdm(
            total=recipe.steps,
            initial=self.step,
            disable=not (self.main and recipe.log.progress_bar),
            desc=recipe.name,
            dynamic_ncols=True,
            file=sys.stderr,
        )
        batches = iter(self.data)
        last_saved, status = None, "completed"
        try:
            while self.step < recipe.steps and not self.validation.stop_reason:
                log_step = (self.step + 1) % recipe.log.every == 0 or self.step + 1 == recipe.steps
                values, tokens, samples = self._train_step(batches, log_step)
                self.checkpoints.step_done(self.step)  # the previous checkpoint's weights gave finite losses
                window.add(values, tokens, samples)
                bar.update(1)
                bar.set_postfix(loss=f"{values.get('loss', float('nan')):.4f}", refresh=False)
                if log_step:
                    self._log(window, bar)
                checked = self.validation.after_step(self.step, self.metrics)  # a pass when one is due, else None
                preempted = stop.any_rank(self.device)
                if (
                    preempted
                    or self.step % recipe.checkpoint.every == 0
                    or self.step == recipe.steps
                    or (checked and checked.needs_checkpoint)
                ):
                    last_saved = self.save_checkpoint()
                if checked and checked.improved:
                    self.validation.export_best(last_saved)
                if preempted:
                    status = "preempted"
                    break
        except NonFiniteLossError as error:  # keep the last checkpoint whose weights trained; say where it is
            raise NonFiniteLossError(f"{error}; {self.checkpoints.set_aside_nonfinite()}") from None
        except RuntimeError as error:
            if _is_oom(error):
                raise RuntimeError(f"[unimumo-train] step {self.step + 1}: {OOM_ADVICE}") from error
            raise
        finally:
            bar.close()
            self.metrics.close()
        if status == "preempted":
            if self.main:
                logger.info(
                    "stop signal: checkpoint %s written at step %d; exiting with %d for requeue",
                    last_saved,
                    self.step,
                    REQUEUE_EXIT_CODE,
                )
            return {
                "status": status,
                "exit_code": REQUEUE_EXIT_CODE,
                "step": self.step,
                "checkpoint": str(last_saved),
                "skipped_steps": self.skipped,
            }
        if last_saved is None:  # resumed a finished run
            last_saved = self.checkpoints.root / tag_for(self.step)
        export = self.export(last_saved)
        self.checkpoints.finish()
        return {
            "status": status,
            "exit_code": 0,
            "step": self.step,
            "checkpoint": str(last_saved),
            "export": str(export),
            "skipped_steps": self.skipped,
            **self.validation.summary(),
        }

    def _log(self, window: WindowStats, bar: tqdm) -> None:
        values = window.summary()
        values["tokens_per_s"] *= self.world
        values["samples_per_s"] *= self.world
        if self.peak_flops and self.flops_per_token:  # no MFU for a model without code streams (VQ-VAE)
            values["mfu"] = self.flops_per_token * values["tokens_per_s"] / (self.peak_flops * self.world)
        values["max_memory_gb"] = max_memory_bytes(self.device) / 2**30
        stats = getattr(self.data, "stats", None) or {}  # rank 0's loader: skipped shards / samples
        values.update({f"data/{key}": value for key, value in stats.items() if isinstance(value, (int, float))})
        self.metrics.log(self.step, values)
        if self.main:
            bar.write(summary_line(self.step, self.recipe.steps, values))
        window.reset()


def _logged_step(line: str) -> float:
    """The step of one metrics.jsonl line; infinity for a blank or torn line."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return float("inf")


def run_trainer(recipe: Recipe, stop: StopRequest | None = None) -> dict:
    """Build a Trainer for `recipe` and train it; returns the run summary.

    Stop signals are caught from here on (or from wherever the caller entered `stop`): one that arrives
    during set-up ends the run at a checkpoint after the first step instead of killing the process.
    """
    started = time.time()
    with contextlib.ExitStack() as stack:
        stop = stop if stop is not None else stack.enter_context(StopRequest())
        if distributed.detect().is_main:  # one writer per run directory, for the whole run
            stack.enter_context(run_lock(recipe.out, "train", f"unimumo-train --recipe {recipe.name}"))
        result = Trainer(recipe).train(stop)
    result["wall_time_s"] = time.time() - started
    return result
