"""`unimumo-train`: one process per rank (torchrun, the deepspeed launcher or srun) running one recipe.

Its flags and the UNIMUMO_* variables it reads come from the table in unimumo.train.flags;
`--list-stages` prints the stage chain of the registry (unimumo.train.stages) for the launchers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from unimumo.cli.common import add_log_level, run_command
from unimumo.train.flags import OVERRIDES_ENV, add_flags, overrides_from
from unimumo.train.signals import StopRequest
from unimumo.train.stages import STAGES, build_recipe, list_stages

EPILOG = (
    """\
examples:
  torchrun --nproc_per_node 8 -m unimumo.cli.train --recipe stage1_motion --shards shards/ --out runs/s1 \\
      --init-from models/musicgen-small --text-model models/t5-base --ds-config zero2
  unimumo-train --recipe stage2_joint --shards shards/ --out runs/s2 --init-from runs/s1/export \\
      --set optim.lr=1e-4 --set tasks.music2motion=0.3 --set data.global_batch=256
  unimumo-train --recipe caption --shards shards/ --out runs/caption --init-from runs/s2/export
  unimumo-train --recipe motion_vqvae --aist data/aist --humanml3d data/humanml3d --out runs/vq
  unimumo-train --recipe stage1_motion --shards shards/ --out runs/s1 --print-recipe   # every key and default

the LM stages start from the export of the stage before them (--list-stages: NAME STARTS_FROM, one line each);
the first from a MusicGen directory (facebook/musicgen-small saved locally, full or decoder-only). A checkpoint
fixes the model shape (without --init-from the recipes build the MusicGen-small shape, model.preset=small); every
weight must come from it, from --text-model or from the documented MusicGen mapping, or be allowed by
--allow-random-init.

run directory: OUT/checkpoints/{global_stepN,latest}, OUT/export (HF, written at the end), OUT/metrics.jsonl,
OUT/tensorboard/, OUT/recipe.json. On SIGUSR1/SIGTERM the current step finishes, a checkpoint is written and
the process exits with code 42 (requeue); start again with --resume to continue exactly. (Under srun every
task exits 42; torchrun itself turns a non-zero worker exit into its own exit code 1.)
"""
    + f"""
environment: a flag's variable (env ...) sets it when the flag is not given; {OVERRIDES_ENV} holds
whitespace-separated key=value overrides, applied before --set.
"""
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unimumo-train",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        description="Train a UniMuMo stage with DeepSpeed ZeRO. Every recipe value has a reference default and "
        "can be overridden with --set key=value (see --print-recipe for the keys).",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--recipe", choices=list(STAGES), help="training stage to run")
    what.add_argument(
        "--list-stages", action="store_true", help="print one line per stage, NAME STARTS_FROM ('-': none), and exit"
    )
    add_flags(parser)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe value, e.g. optim.lr=1e-4, data.global_batch=256, steps=5000, "
        "model.config.dropout=0 (repeatable)",
    )
    parser.add_argument("--print-recipe", action="store_true", help="print the resolved recipe as JSON and exit")
    add_log_level(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command("unimumo-train", lambda: _command(args), args.log_level)


def _command(args: argparse.Namespace) -> int:
    if args.list_stages:
        print(list_stages(), end="")
        return 0
    overrides = overrides_from(args, os.environ, args.set)
    if args.print_recipe:
        print(json.dumps(build_recipe(args.recipe, overrides, check=False).to_dict(), indent=2))
        return 0
    recipe = build_recipe(args.recipe, overrides)
    with StopRequest() as stop:  # before the slow imports: a pre-emption signal during set-up is not fatal
        from unimumo.train.trainer import run_trainer

        return run_trainer(recipe, stop)["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
