"""`unimumo-export CKPT OUT`: a ZeRO checkpoint of any stage -> a `from_pretrained` directory (unimumo.train.export).

The module is not named export.py: module names are unique in the package (tests/test_layering.py), and
unimumo/train/export.py owns the export layout.
"""

from __future__ import annotations

import argparse
import sys

from unimumo.cli.common import add_log_level, run_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unimumo-export",
        description="Convert a DeepSpeed ZeRO checkpoint (stage 0-3) written by unimumo-train into a HuggingFace "
        "save_pretrained directory (safetensors) that from_pretrained loads. Tensors are streamed "
        "from the checkpoint to the output one at a time (peak memory about one fp32 model copy).",
    )
    parser.add_argument(
        "checkpoint",
        help="run directory, its checkpoints/ directory (uses `latest`) or one checkpoints/global_stepN directory",
    )
    parser.add_argument("out_dir", help="export directory to write (replaced atomically if it exists)")
    add_log_level(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        from unimumo.train.export import export_checkpoint

        print(f"unimumo-export: wrote {export_checkpoint(args.checkpoint, args.out_dir)}")
        return 0

    return run_command("unimumo-export", body, args.log_level)


if __name__ == "__main__":
    sys.exit(main())
