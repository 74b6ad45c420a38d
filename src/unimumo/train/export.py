"""`unimumo-export CKPT OUT`: a ZeRO checkpoint of any stage -> a `save_pretrained` directory (safetensors).

CKPT is a run directory, its checkpoints/ directory (the `latest` checkpoint is used) or one
global_stepN directory. The fp32 weights are consolidated from the ZeRO shards (frozen parameters
included), loaded into the model class recorded in the checkpoint and saved with `save_pretrained`.
OUT appears only when complete: the directory is written beside it and renamed into place.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from unimumo.train.checkpoint import CheckpointError, read_meta, resolve
from unimumo.train.model_factory import rebuild
from unimumo.utils.io import atomic_directory


def consolidated_state_dict(root: Path, tag: str) -> dict:
    """fp32 weights of every parameter (trainable and frozen) and buffer of checkpoint `root/tag`.

    ZeRO 1-3: trainable weights come from the fp32 optimizer partitions (zero_to_fp32). ZeRO-1
    checkpoints do not list frozen parameters there; under ZeRO 0-2 the saved module state is whole,
    so they are taken from it. ZeRO 0 (no partitioned optimizer files): the module state is all.
    """
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    directory = root / tag
    state = {}
    if any(directory.glob("*optim_states.pt")):
        state = get_fp32_state_dict_from_zero_checkpoint(str(root), tag=tag)
    module_file = directory / "mp_rank_00_model_states.pt"  # ZeRO 0-2 (ZeRO-3 names it per rank)
    if module_file.is_file():
        module = torch.load(module_file, map_location="cpu", weights_only=False)["module"]
        state.update({k: v.float() if v.is_floating_point() else v for k, v in module.items() if k not in state})
    if not state:
        raise CheckpointError(f"{directory} holds neither ZeRO optimizer partitions nor a module state")
    return state


def _load_into(model, state: dict) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = set(getattr(model, "all_tied_weights_keys", None) or {})
    for key in getattr(model, "_tied_weights_keys", None) or []:
        tied.add(key)
    missing = [key for key in missing if key not in tied]
    if missing or unexpected:
        raise CheckpointError(f"checkpoint does not match {type(model).__name__}: missing {missing[:8]}, "
                              f"unexpected {unexpected[:8]}")


def export_checkpoint(checkpoint: str | Path, out_dir: str | Path) -> Path:
    """Write the HF export of `checkpoint` to `out_dir` (replaced atomically if it exists)."""
    root, tag = resolve(checkpoint)
    meta = read_meta(root, tag)
    model = rebuild(meta)
    _load_into(model, consolidated_state_dict(root, tag))
    return save_export(model, Path(out_dir))


def save_export(model, out_dir: Path) -> Path:
    """save_pretrained into a staging directory beside `out_dir`, then rename it into place.

    A motion VQ-VAE is written as a MotionTokenizer directory (weights, normalisation, fingerprint).
    """
    from unimumo.models.motion_vqvae import MotionVQVAE

    if isinstance(model, MotionVQVAE):
        from unimumo.models.motion_tokenizer import MotionTokenizer

        MotionTokenizer(model).save_pretrained(out_dir)
        return out_dir
    with atomic_directory(out_dir) as staging:
        model.save_pretrained(staging, safe_serialization=True)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="unimumo-export",
        description="Convert a DeepSpeed ZeRO checkpoint (stage 0-3) written by unimumo-train into a HuggingFace "
                    "save_pretrained directory (safetensors) that from_pretrained loads.")
    parser.add_argument("checkpoint", help="run directory, its checkpoints/ directory (uses `latest`) "
                                           "or one checkpoints/global_stepN directory")
    parser.add_argument("out_dir", help="export directory to write (replaced atomically if it exists)")
    args = parser.parse_args(argv)
    try:
        out = export_checkpoint(args.checkpoint, args.out_dir)
    except (CheckpointError, FileNotFoundError) as error:
        print(f"unimumo-export: {error}", file=sys.stderr)
        return 2
    print(f"unimumo-export: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
