"""Launch UniMuMo training with submitit: `submit(...)` from Python and the `unimumo-submit` CLI.

Each task of the submitted job is one training rank running `unimumo.train.run`. The rank, world size
and rendezvous come from `submitit.JobEnvironment`. Slurm sends USR1 `signal_delay_s` before the time
limit (or `scancel --signal=USR1` does); the trainer then checkpoints and stops with REQUEUE_EXIT_CODE,
rank 0 requeues the job, and the requeued run resumes from OUT/checkpoints/latest. The callable is a
`submitit.helpers.Checkpointable`, so submitit's own preemption signal (USR2) also requeues it.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import submitit

from unimumo.constants import REQUEUE_EXIT_CODE
from unimumo.train import SHORTHANDS
from unimumo.train.recipes import RecipeError, parse_assignment
from unimumo.train.stages import STAGES, build_recipe

CLUSTERS = ("slurm", "local", "debug")
DEFAULT_FOLDER = "slurm/logs/submitit/%j"


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
            raise ValueError("a training job needs overrides['out'] (the run directory)")
        self.recipe = recipe
        self.overrides = dict(overrides)
        self.cpu_only = cpu_only

    def __call__(self) -> dict:
        from unimumo import train

        env = submitit.JobEnvironment()
        os.environ.update(distributed_environ(env))
        if self.cpu_only:
            os.environ.setdefault("DS_ACCELERATOR", "cpu")
        print(f"[unimumo-submit] {env}: {self.recipe} in {self.overrides['out']}", flush=True)
        # resume is a no-op without a checkpoint, and continues the run after a requeue.
        result = train.run(self.recipe, **{**self.overrides, "resume": True})
        if result["exit_code"] == REQUEUE_EXIT_CODE and env.cluster == "slurm":
            if env.global_rank == 0:
                requeue(env.job_id)
            # Leave without a result file: submitit then keeps waiting for the requeued run.
            raise SystemExit(REQUEUE_EXIT_CODE)
        return result


def requeue(job_id: str) -> None:
    print(f"[unimumo-submit] trainer checkpointed after a signal; requeueing job {job_id}", flush=True)
    done = subprocess.run(["scontrol", "requeue", job_id], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"scontrol requeue {job_id} failed: {done.stderr.strip()}")


def submit(
    recipe: str,
    *,
    out: str | Path,
    shards: str | Path | None = None,
    text_model: str | Path | None = None,
    init_from: str | Path | None = None,
    musicgen: str | Path | None = None,
    ds_config: str | None = None,
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
) -> submitit.Job:
    """Submit `recipe` (a stage name, a key of unimumo.train.stages.STAGES) and return the submitit job.

    One task per GPU (`tasks_per_node` defaults to `gpus_per_node`, or 1 without GPUs). With
    `gpus_per_node=0` the ranks train on CPUs with gloo. `overrides` are recipe keys
    (`{"steps": 1000, "optim.lr": 1e-4}`); `cluster` is "slurm", "local" (subprocesses on this
    machine), "debug" (in this process) or None (slurm when available, else local). An unknown
    recipe, key or ill-typed value raises RecipeError here, before anything is queued.

    The stages chain through `init_from`: stage1_motion from a MusicGen directory (`musicgen`, a synonym of
    `init_from` named as slurm/env.sh's UNIMUMO_MUSICGEN), stage2_joint from stage 1's OUT/export, caption
    from stage 2's OUT/export.
    """
    if musicgen is not None:
        if init_from is not None:
            raise ValueError("give the checkpoint to start from once: init_from or musicgen, not both")
        init_from = musicgen
    if cluster not in CLUSTERS + (None,):
        raise ValueError(f"cluster must be one of {', '.join(CLUSTERS)} or None, got {cluster!r}")
    if nodes < 1 or gpus_per_node < 0 or cpus_per_task < 1:
        raise ValueError(f"need nodes >= 1, gpus_per_node >= 0, cpus_per_task >= 1; got {nodes}, {gpus_per_node}, {cpus_per_task}")
    cpu_only = gpus_per_node == 0
    tasks_per_node = tasks_per_node or gpus_per_node or 1
    run_overrides = {"out": str(out), **(overrides or {})}
    for key, value in (("data.shards", shards), ("text_model", text_model), ("init_from", init_from),
                       ("ds_config", ds_config)):
        if value is not None:
            run_overrides[key] = str(value)
    # unknown recipes, keys and ill-typed values fail now rather than after the job waited in the queue
    build_recipe(recipe, {SHORTHANDS.get(key, key): value for key, value in run_overrides.items()}, check=False)

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
        slurm_additional_parameters={"signal": f"USR1@{signal_delay_s}", "requeue": True,
                                     **(slurm_additional_parameters or {})},
    )
    return executor.submit(TrainingJob(recipe, run_overrides, cpu_only))


def _parse_assignment(text: str) -> tuple[str, str]:
    try:
        return parse_assignment(text)
    except RecipeError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unimumo-submit",
        description="Submit a UniMuMo training run with submitit (one rank per task). On Slurm the job "
                    "checkpoints on USR1, requeues itself and resumes from OUT/checkpoints/latest.",
        epilog="example: unimumo-submit --recipe stage1_motion --shards shards/ --out runs/stage1 "
               "--musicgen models/musicgen-small --nodes 2 --gpus-per-node 8 --partition gpu --set steps=20000; "
               "then --recipe stage2_joint --init-from runs/stage1/export, then --recipe caption "
               "--init-from runs/stage2/export",
    )
    run = parser.add_argument_group("training run (as for unimumo-train)")
    run.add_argument("--recipe", required=True, choices=list(STAGES), help="training stage to run")
    run.add_argument("--out", required=True, help="run directory (checkpoints/, export/)")
    run.add_argument("--shards", help="shard directory")
    run.add_argument("--text-model", help="local T5 directory")
    run.add_argument("--init-from", help="checkpoint to start from: stage 1 a MusicGen directory, stage 2 the "
                                         "stage-1 export, caption the stage-2 export")
    run.add_argument("--musicgen", help="local MusicGen directory stage 1 starts from (same as --init-from)")
    run.add_argument("--ds-config", help="DeepSpeed config: a name in ds_configs/ or a JSON file (default: the recipe's)")
    run.add_argument("--set", dest="overrides", action="append", default=[], type=_parse_assignment,
                     metavar="KEY=VALUE", help="recipe override, repeatable (e.g. --set optim.lr=1e-4)")
    job = parser.add_argument_group("allocation")
    job.add_argument("--cluster", choices=CLUSTERS, default="slurm",
                     help="slurm (sbatch), local (subprocesses here) or debug (this process); default slurm")
    job.add_argument("--nodes", type=int, default=1, help="nodes (default 1)")
    job.add_argument("--gpus-per-node", type=int, default=8, help="GPUs per node; 0 trains on CPUs with gloo (default 8)")
    job.add_argument("--tasks-per-node", type=int, help="ranks per node (default: one per GPU, 1 without GPUs)")
    job.add_argument("--cpus-per-task", type=int, default=8, help="CPUs per rank (default 8)")
    job.add_argument("--timeout-min", type=int, default=24 * 60, help="time limit in minutes (default 1440)")
    job.add_argument("--partition", help="Slurm partition")
    job.add_argument("--signal-delay-s", type=int, default=120,
                     help="USR1 is sent this many seconds before the time limit (default 120)")
    job.add_argument("--folder", default=DEFAULT_FOLDER, help="submitit logs and pickles; %%j is the job id (default %(default)s)")
    job.add_argument("--wait", action="store_true", help="wait for the job and print its result")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        job = submit(
            args.recipe, out=args.out, shards=args.shards, text_model=args.text_model, init_from=args.init_from,
            musicgen=args.musicgen, ds_config=args.ds_config, overrides=dict(args.overrides), nodes=args.nodes,
            gpus_per_node=args.gpus_per_node, tasks_per_node=args.tasks_per_node, cpus_per_task=args.cpus_per_task,
            timeout_min=args.timeout_min, partition=args.partition, signal_delay_s=args.signal_delay_s,
            cluster=args.cluster, folder=args.folder,
        )
    except ValueError as error:  # RecipeError included
        print(f"unimumo-submit: error: {error}", file=sys.stderr)
        return 2
    print(f"submitted job {job.job_id}; log: {job.paths.stdout}", flush=True)
    if args.wait:
        print(job.results()[0])  # rank 0's run summary
    return 0


if __name__ == "__main__":
    sys.exit(main())
