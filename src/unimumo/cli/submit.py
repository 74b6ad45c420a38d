"""`unimumo-submit`: submit a training run with submitit (unimumo.launch.submit), one rank per task.

Its training-run flags are unimumo-train's (the table in unimumo.train.flags); the stage chain in the
help comes from the stage registry.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from unimumo.cli.common import add_log_level, run_command
from unimumo.launch import CLUSTERS, DEFAULT_FOLDER, chain_text, submit
from unimumo.train.flags import add_flags, given
from unimumo.train.recipes import RecipeError, parse_assignment
from unimumo.train.stages import STAGES


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
        "--init-from models/musicgen-small --nodes 2 --gpus-per-node 8 --partition gpu --set steps=20000. "
        f"The stages: {chain_text()}.",
    )
    run = parser.add_argument_group("training run (as for unimumo-train)")
    run.add_argument("--recipe", required=True, choices=list(STAGES), help="training stage to run")
    add_flags(run, required=("--out",), environment=False)
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        type=_parse_assignment,
        metavar="KEY=VALUE",
        help="recipe override, repeatable (e.g. --set optim.lr=1e-4)",
    )
    job = parser.add_argument_group("allocation")
    job.add_argument(
        "--cluster",
        choices=CLUSTERS,
        default="slurm",
        help="slurm (sbatch), local (subprocesses here) or debug (this process); default slurm",
    )
    job.add_argument("--nodes", type=int, default=1, help="nodes (default 1)")
    job.add_argument(
        "--gpus-per-node", type=int, default=8, help="GPUs per node; 0 trains on CPUs with gloo (default 8)"
    )
    job.add_argument("--tasks-per-node", type=int, help="ranks per node (default: one per GPU, 1 without GPUs)")
    job.add_argument("--cpus-per-task", type=int, default=8, help="CPUs per rank (default 8)")
    job.add_argument("--timeout-min", type=int, default=24 * 60, help="time limit in minutes (default 1440)")
    job.add_argument("--partition", help="Slurm partition")
    job.add_argument(
        "--signal-delay-s",
        type=int,
        default=120,
        help="USR1 is sent this many seconds before the time limit (default 120)",
    )
    job.add_argument(
        "--folder", default=DEFAULT_FOLDER, help="submitit logs and pickles; %%j is the job id (default %(default)s)"
    )
    job.add_argument("--wait", action="store_true", help="wait for the job and print its result")
    add_log_level(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        job = submit(
            args.recipe,
            overrides=dict(args.overrides),
            nodes=args.nodes,
            gpus_per_node=args.gpus_per_node,
            tasks_per_node=args.tasks_per_node,
            cpus_per_task=args.cpus_per_task,
            timeout_min=args.timeout_min,
            partition=args.partition,
            signal_delay_s=args.signal_delay_s,
            cluster=args.cluster,
            folder=args.folder,
            **given(args),
        )
        print(f"submitted job {job.job_id}; log: {job.paths.stdout}", flush=True)
        if args.wait:
            print(job.results()[0])  # rank 0's run summary
        return 0

    return run_command("unimumo-submit", body, args.log_level)


if __name__ == "__main__":
    sys.exit(main())
