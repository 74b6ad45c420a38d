"""`unimumo-train`: one process per rank (torchrun, the deepspeed launcher or srun) running one recipe."""
from __future__ import annotations

import argparse
import json
import sys

from unimumo.train.recipes import Recipe, RecipeError, parse_assignment
from unimumo.train.signals import StopRequest
from unimumo.train.stages import STAGES, build_recipe

EPILOG = """\
examples:
  torchrun --nproc_per_node 8 -m unimumo.cli.train --recipe stage1_motion --shards shards/ --out runs/s1 \\
      --init-from models/musicgen-small --text-model models/t5-base --ds-config zero2
  unimumo-train --recipe stage2_joint --shards shards/ --out runs/s2 --init-from runs/s1/export \\
      --set optim.lr=1e-4 --set tasks.music2motion=0.3 --set data.global_batch=256
  unimumo-train --recipe caption --shards shards/ --out runs/caption --init-from runs/s2/export
  unimumo-train --recipe motion_vqvae --aist data/aist --humanml3d data/humanml3d --out runs/vq
  unimumo-train --recipe stage1_motion --shards shards/ --out runs/s1 --print-recipe   # every key and default

the three LM stages: stage1_motion from a MusicGen directory (facebook/musicgen-small saved locally, full or
decoder-only), stage2_joint from stage 1's export, caption from stage 2's export. A checkpoint fixes the model
shape (without --init-from the recipes build the MusicGen-small shape, model.preset=small); every weight must
come from it, from --text-model or from the documented MusicGen mapping, or be allowed by --allow-random-init.

run directory: OUT/checkpoints/{global_stepN,latest}, OUT/export (HF, written at the end), OUT/metrics.jsonl,
OUT/tensorboard/, OUT/recipe.json. On SIGUSR1/SIGTERM the current step finishes, a checkpoint is written and
the process exits with code 42 (requeue); start again with --resume to continue exactly. (Under srun every
task exits 42; torchrun itself turns a non-zero worker exit into its own exit code 1.)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unimumo-train", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Train a UniMuMo stage with DeepSpeed ZeRO. Every recipe value has a reference default and "
                    "can be overridden with --set key=value (see --print-recipe for the keys).")
    motion_stages = ", ".join(name for name, stage in STAGES.items() if stage.data == "motion_windows")
    parser.add_argument("--recipe", required=True, choices=list(STAGES), help="training stage to run")
    parser.add_argument("--out", help="run directory (checkpoints, export, metrics)")
    parser.add_argument("--shards", help="shard directory with manifest.json (LM recipes)")
    parser.add_argument("--aist", help=f"raw AIST++ root ({motion_stages})")
    parser.add_argument("--humanml3d", help=f"raw HumanML3D root ({motion_stages})")
    parser.add_argument("--text-model", help="local T5ForConditionalGeneration directory (text encoder, caption "
                                             "decoder); not needed with --init-from, whose export holds them")
    parser.add_argument("--init-from", help="checkpoint to start from: a UniMuMo export (e.g. stage 1's OUT/export) or "
                                            "a transformers MusicGen directory (MusicgenForConditionalGeneration or "
                                            "MusicgenForCausalLM), told apart by its config.json model_type")
    parser.add_argument("--allow-random-init", action="append", metavar="PATTERN",
                        help="weights that may start random with --init-from (fnmatch on parameter names, "
                             "repeatable), e.g. 'captioning_decoder.*' from a MusicGen dir without --text-model")
    parser.add_argument("--ds-config", help="DeepSpeed config: a name in ds_configs/ (zero1, zero2, zero3, "
                                            "zero3_offload, cpu_zero0) or a JSON file")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/latest if present")
    parser.add_argument("--peak-flops", type=float, help="peak FLOP/s of one device for the MFU estimate "
                                                         "(detected on known GPUs; e.g. 989e12 for an H100 in bf16)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value, e.g. optim.lr=1e-4, data.global_batch=256, steps=5000, "
                             "model.config.dropout=0 (repeatable)")
    parser.add_argument("--print-recipe", action="store_true", help="print the resolved recipe as JSON and exit")
    return parser


def overrides_from_args(args: argparse.Namespace) -> dict:
    overrides = {}
    for flag, key in (("out", "out"), ("shards", "data.shards"), ("aist", "data.aist"),
                      ("humanml3d", "data.humanml3d"), ("text_model", "text_model"), ("init_from", "init_from"),
                      ("ds_config", "ds_config"), ("peak_flops", "log.peak_flops")):
        if getattr(args, flag) is not None:
            overrides[key] = getattr(args, flag)
    if args.allow_random_init:
        overrides["init.allow_random"] = args.allow_random_init
    if args.resume:
        overrides["resume"] = True
    for assignment in args.set:
        key, value = parse_assignment(assignment)
        overrides[key] = value
    return overrides


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        overrides = overrides_from_args(args)
        if args.print_recipe:
            print(json.dumps(build_recipe(args.recipe, overrides, check=False).to_dict(), indent=2))
            return 0
        recipe = build_recipe(args.recipe, overrides)
    except RecipeError as error:
        print(f"unimumo-train: recipe error: {error}", file=sys.stderr)
        return 2
    with StopRequest() as stop:  # before the slow imports: a pre-emption signal during set-up is not fatal
        return _train(recipe, stop)


def _train(recipe: Recipe, stop: StopRequest) -> int:
    from unimumo.shards.manifest import ManifestError
    from unimumo.train.checkpoint import CheckpointError
    from unimumo.train.trainer import run_trainer

    try:
        result = run_trainer(recipe, stop)
    except RecipeError as error:  # found at set-up: world-size batch split, ds_config file, raw motion data
        print(f"unimumo-train: recipe error: {error}", file=sys.stderr)
        return 2
    except CheckpointError as error:  # the checkpoint to resume from (or export) is incomplete or incompatible
        print(f"unimumo-train: checkpoint error: {error}", file=sys.stderr)
        return 2
    except ManifestError as error:  # manifest.json unreadable, of another format, or without the split
        print(f"unimumo-train: shard manifest error: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:  # shard manifest, text model or --init-from directory missing
        print(f"unimumo-train: missing input: {error}", file=sys.stderr)
        return 2
    return result["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
