"""Launch UniMuMo training with submitit: `submit(...)` from Python (its command: unimumo-submit, unimumo.cli.submit).

Each task of the submitted job is one training rank running `unimumo.train.run`. The rank, world size
and rendezvous come from `submitit.JobEnvironment`. Slurm sends USR1 `signal_delay_s` before the time
limit (or `scancel --signal=USR1` does); the trainer then checkpoints and stops with REQUEUE_EXIT_CODE,
rank 0 requeues the job, and the requeued run resumes from OUT/checkpoints/latest. The callable is a
`submitit.helpers.Checkpointable`, so submitit's own preemption signal (USR2) also requeues it.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import submitit

from unimumo.constants import REQUEUE_EXIT_CODE
from unimumo.errors import UniMuMoError
from unimumo.train.flags import resolve_keywords
from unimumo.train.stages import build_recipe, chain
from unimumo.utils.log import get_logger

logger = get_logger(__name__)

CLUSTERS = ("slurm", "local", "debug")
DEFAULT_FOLDER = "slurm/logs/submitit/%j"


class SubmitError(UniMuMoError, ValueError):
    """An allocation or argument the launcher refuses before submitting."""


def chain_text() -> str:
    """The stage chain of the registry in words, e.g. for a command's help."""
    return ", then ".join(
        f"{stage.name} (--init-from "
        + (f"the {stage.starts_from} OUT/export)" if stage.starts_from else "a MusicGen directory)")
        for stage in chain()
    )


def rendezvous_port(job_id: str) -> int:
    """A port in [20000, 40000) derived from the job id, equal on every rank of the job."""
    digits = re.sub(r"\D", "", job_id)
    return 20000 + int(digits or 0) % 20000


def distributed_environ(env: submitit.JobEnvironment) -> dict[str, str]:
    """torch.distributed's env:// variables for the current task of a submitit job."""
    return {
        "RANK": str(env.global_rank),
        "WORLD_SIZE": str(env.num_tasks),
        "LOCAL_RANK": str(env.local_rank),
        "MASTER_ADDR": env.hostnames[0],
        "MASTER_PORT": str(rendezvous_port(env.job_id)),
    }


class TrainingJob(submitit.helpers.Checkpointable):
    """One rank of a training run; calling it again resumes from the run's latest checkpoint.

    The inherited `checkpoint()` resubmits the same call, which is all a requeue needs because the
    run directory, not the pickled callable, holds the training state.
    """

    def __init__(self, recipe: str, overrides: Mapping[str, Any], cpu_only: bool):
        if "out" not in overrides:
            raise SubmitError("a training job needs overrides['out'] (the run directory)")
        self.recipe = recipe
        self.overrides = dict(overrides)
        self.cpu_only = cpu_only

    def __call__(self) -> dict:
        from unimumo import train

        env = submitit.JobEnvironment()
        os.environ.update(distributed_environ(env))
        if self.cpu_only:
            os.environ.setdefault("DS_ACCELERATOR", "cpu")
        logger.info("%s: %s in %s", env, self.recipe, self.overrides["out"])
        # resume is a no-op without a checkpoint, and continues the run after a requeue.
        result = train.run(self.recipe, **{**self.overrides, "resume": True})
        if result["exit_code"] == REQUEUE_EXIT_CODE and env.cluster == "slurm":
            if env.global_rank == 0:
                requeue(env.job_id)
            # Leave without a result file: submitit then keeps waiting for the requeued run.
            raise SystemExit(REQUEUE_EXIT_CODE)
        return result


def requeue(job_id: str) -> None:
    logger.info("trainer checkpointed after a signal; requeueing job %s", job_id)
    done = subprocess.run(["scontrol", "requeue", job_id], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"scontrol requeue {job_id} failed: {done.stderr.strip()}")


def submit(
    recipe: str,
    *,
    out: str | Path,
    overrides: Mapping[str, Any] | None = None,
    nodes: int = 1,
    gpus_per_node: int = 8,
    tasks_per_node: int | None = None,
    cpus_per_task: int = 8,
    timeout_min: int = 24 * 60,
    partition: str | None = None,
    signal_delay_s: int = 120,
    cluster: str | None = "slurm",
    folder: str | Path = DEFAULT_FOLDER,
    job_name: str | None = None,
    slurm_additional_parameters: Mapping[str, Any] | None = None,
    **run_args: Any,
) -> submitit.Job:
    """Submit `recipe` (a stage name, a key of unimumo.train.stages.STAGES) and return the submitit job.

    One task per GPU (`tasks_per_node` defaults to `gpus_per_node`, or 1 without GPUs). With
    `gpus_per_node=0` the ranks train on CPUs with gloo. `run_args` are unimumo-train's flags as keywords
    (`shards`, `text_model`, `init_from`, `ds_config`, ...: the table in unimumo.train.flags; the old
    `musicgen` still means `init_from`, with a warning); `overrides` are recipe keys
    (`{"steps": 1000, "optim.lr": 1e-4}`); `cluster` is "slurm", "local" (subprocesses on this
    machine), "debug" (in this process) or None (slurm when available, else local). An unknown
    recipe, key or ill-typed value raises RecipeError here, before anything is queued.

    The stages chain through `init_from` (`chain_text()`): the first from a MusicGen directory, each
    other from the OUT/export of the stage it starts from.
    """
    if cluster not in CLUSTERS + (None,):
        raise SubmitError(f"cluster must be one of {', '.join(CLUSTERS)} or None, got {cluster!r}")
    if nodes < 1 or gpus_per_node < 0 or cpus_per_task < 1:
        raise SubmitError(
            f"need nodes >= 1, gpus_per_node >= 0, cpus_per_task >= 1; got {nodes}, {gpus_per_node}, {cpus_per_task}"
        )
    cpu_only = gpus_per_node == 0
    tasks_per_node = tasks_per_node or gpus_per_node or 1
    paths = {
        name: str(value) if isinstance(value, Path) else value for name, value in run_args.items() if value is not None
    }
    run_overrides = {**(overrides or {}), **resolve_keywords({"out": str(out), **paths})}
    # unknown recipes, keys and ill-typed values fail now rather than after the job waited in the queue
    build_recipe(recipe, run_overrides, check=False)

    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    executor.update_parameters(
        name=job_name or f"unimumo-{recipe}",
        nodes=nodes,
        tasks_per_node=tasks_per_node,
        gpus_per_node=gpus_per_node,
        cpus_per_task=cpus_per_task,
        timeout_min=timeout_min,
        slurm_partition=partition,
        # The trainer checkpoints on USR1; every task (not only the batch shell) must receive it.
        slurm_additional_parameters={
            "signal": f"USR1@{signal_delay_s}",
            "requeue": True,
            **(slurm_additional_parameters or {}),
        },
    )
    return executor.submit(TrainingJob(recipe, run_overrides, cpu_only))
