"""The export layout: a ZeRO checkpoint of any stage -> a `save_pretrained` directory (safetensors).

Its command is `unimumo-export CKPT OUT` (unimumo.cli.export_cmd). CKPT is a run directory, its
checkpoints/ directory (the newest complete checkpoint is used) or one global_stepN directory. The fp32
weights are consolidated from the ZeRO shards (frozen parameters included) one tensor at a time: the
checkpoint files, checked against the sizes and sha256 recorded when they were written, are memory-mapped
with weights_only=True (nothing but tensors and plain DeepSpeed data is unpickled; the Adam moments beside
the fp32 master weights are never read), each tensor is assembled from its rank partitions and written
straight into safetensors shards, next to the config files `save_pretrained` writes for the model class
recorded in the checkpoint (looked up in model_factory's fixed table), which is built on the meta device
(no weights). Peak memory: the master weights' pages read so far (at most one fp32 copy of the model) plus
one tensor.
The tokenizers the run's shards were built with (the checkpoint meta's `tokenizers`, from the shard manifest) are
written beside the weights as `unimumo_tokenizers.json` (`unimumo.models.tokenizer_record`): evaluation finds
them there. A motion VQ-VAE (small) is loaded into a real model and written as a MotionTokenizer directory.
OUT appears only when complete: the directory is written beside it and renamed into place.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from pathlib import Path

import torch

from unimumo.models.tokenizer_record import write_tokenizer_record
from unimumo.train.checkpoint import CheckpointError, load_tensors, read_meta, resolve, verify_checkpoint
from unimumo.train.model_factory import rebuild
from unimumo.utils.io import atomic_directory

WEIGHTS = "model.safetensors"
INDEX = "model.safetensors.index.json"
MAX_SHARD_BYTES = 5 * 2**30
_SAFETENSORS_DTYPES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
Fetch = Callable[[], torch.Tensor]


def _mmap(path: str) -> dict:
    return load_tensors(path)  # weights_only: tensors and plain DeepSpeed data, never code


def _span(pieces: list[torch.Tensor], start: int, length: int) -> torch.Tensor:
    """Elements [start, start+length) of the concatenation of the 1-d `pieces`, reading only those."""
    parts, begin = [], 0
    for piece in pieces:
        end = begin + piece.numel()
        if begin < start + length and start < end:
            parts.append(piece[max(start, begin) - begin : min(start + length, end) - begin])
        begin = end
    return torch.cat(parts) if len(parts) > 1 else parts[0].clone()


def _zero12_trainable(optims: list[dict], model_state: dict) -> dict[str, Fetch]:
    """ZeRO 1-2: each group's fp32 vector is cut into one equal partition per rank (parameters cross ranks)."""
    paddings = optims[0]["optimizer_state_dict"].get("param_alignment_paddings")
    out = {}
    for group, shapes in enumerate(model_state["param_shapes"]):
        partitions = [o["optimizer_state_dict"]["single_partition_of_fp32_groups"][group] for o in optims]
        offset = 0
        for index, (name, shape) in enumerate(shapes.items()):
            numel = math.prod(shape)
            out[name] = lambda p=partitions, o=offset, n=numel, s=shape: _span(p, o, n).view(s)
            offset += numel + (paddings[group][index] if paddings is not None else 0)
        align, total = 2 * len(optims), sum(p.numel() for p in partitions)  # groups are padded to 2 x world size
        if math.ceil(offset / align) != math.ceil(total / align):
            raise CheckpointError(
                f"ZeRO group {group}: the parameters take {offset} elements, the optimizer partitions hold {total}"
            )
    return out


def _zero3_trainable(optims: list[dict], model_state: dict) -> dict[str, Fetch]:
    """ZeRO 3: each rank holds ceil(numel / world) elements of every parameter, one after another."""
    world = len(optims)
    flats = [list(o["optimizer_state_dict"]["fp32_flat_groups"]) for o in optims]
    out, offset = {}, 0
    for shapes in model_state["param_shapes"]:
        for name, shape in shapes.items():
            numel = math.prod(shape)
            part = math.ceil(numel / world)
            out[name] = lambda o=offset, p=part, n=numel, s=shape: torch.cat([_span(flat, o, p) for flat in flats])[
                :n
            ].view(s)
            offset += part
    held = sum(piece.numel() for piece in flats[0])
    if offset != held:
        raise CheckpointError(f"ZeRO-3 parameters take {offset} elements per rank, the partitions hold {held}")
    return out


def weight_sources(directory: Path) -> dict[str, Fetch]:
    """name -> a function reading that weight (or buffer) of checkpoint `directory` from disk on demand.

    ZeRO 1-3: trainable weights are the fp32 optimizer partitions, frozen ones the saved fragments,
    buffers the module state's. ZeRO-1 checkpoints do not list frozen parameters; under ZeRO 0-2 the
    saved module state is whole, so what is missing is taken from it. ZeRO 0 (no partitioned
    optimizer files): the module state is all. Values keep their saved dtype (cast when written).
    """
    from deepspeed.utils.zero_to_fp32 import get_model_state_files, get_optim_files

    sources: dict[str, Fetch] = {}
    if any(directory.glob("*optim_states.pt")):
        models = [_mmap(f) for f in get_model_state_files(str(directory))]
        optims = [_mmap(f) for f in get_optim_files(str(directory))]
        stage = optims[0]["optimizer_state_dict"].get("zero_stage")
        if stage not in (1, 2, 3):
            raise CheckpointError(f"{directory}: the optimizer files are not ZeRO 1-3 partitions (zero_stage={stage})")
        frozen = models[0].get("frozen_param_shapes") or {}
        for name, shape in frozen.items():
            if stage == 3:  # a fragment per rank
                sources[name] = lambda n=name, s=shape: torch.cat(
                    [m["frozen_param_fragments"][n].reshape(-1) for m in models]
                )[: math.prod(s)].view(s)
            else:  # whole on rank 0
                sources[name] = lambda n=name: models[0]["frozen_param_fragments"][n]
        sources.update((_zero3_trainable if stage == 3 else _zero12_trainable)(optims, models[0]))
        for name in models[0]["buffer_names"]:
            sources.setdefault(name, lambda n=name: models[0]["module"][n])
        for alias, target in models[0]["shared_params"].items():
            if target in sources:
                sources[alias] = sources[target]
    module_file = directory / "mp_rank_00_model_states.pt"  # ZeRO 0-2 (ZeRO-3 names it per rank)
    if module_file.is_file():
        module = _mmap(str(module_file))["module"]
        for name in module:
            sources.setdefault(name, lambda n=name: module[n])
    if not sources:
        raise CheckpointError(f"{directory} holds neither ZeRO optimizer partitions nor a module state")
    return sources


def _saved_names(model) -> dict[str, torch.Tensor]:
    """The state-dict entries `save_pretrained` writes: all but the tied copies."""
    tied = set(getattr(model, "all_tied_weights_keys", None) or {})
    return {name: value for name, value in model.state_dict().items() if name not in tied}


def _check_names(model, wanted: dict, sources: dict) -> None:
    missing = [name for name in wanted if name not in sources]
    unexpected = [name for name in sources if name not in model.state_dict()]
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint does not match {type(model).__name__}: missing {missing[:8]}, unexpected {unexpected[:8]}"
        )


def _write_safetensors(path: Path, entries: dict[str, torch.Tensor], sources: dict[str, Fetch]) -> None:
    """One safetensors file, tensor after tensor: the header from the (meta) `entries`, then each value."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, like in entries.items():
        size = like.numel() * like.element_size()
        header[name] = {
            "dtype": _SAFETENSORS_DTYPES[like.dtype],
            "shape": list(like.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(blob)) + blob)
        for name, like in entries.items():
            value = sources[name]()
            if value.shape != like.shape:
                raise CheckpointError(
                    f"{name}: the checkpoint holds shape {tuple(value.shape)}, the model {tuple(like.shape)}"
                )
            file.write(value.to(like.dtype).contiguous().reshape(-1).view(torch.uint8).numpy().data)


def write_weights(
    out: Path, entries: dict[str, torch.Tensor], sources: dict[str, Fetch], max_shard_bytes: int = MAX_SHARD_BYTES
) -> None:
    """model.safetensors, or shards model-0000i-of-0000N.safetensors and the index transformers reads."""
    shards: list[dict] = [{}]
    size = 0
    for name, like in entries.items():
        nbytes = like.numel() * like.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = like
        size += nbytes
    if len(shards) == 1:
        _write_safetensors(out / WEIGHTS, shards[0], sources)
        return
    weight_map = {}
    for number, shard in enumerate(shards, 1):
        filename = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        _write_safetensors(out / filename, shard, sources)
        weight_map.update(dict.fromkeys(shard, filename))
    total = sum(like.numel() * like.element_size() for like in entries.values())
    (out / INDEX).write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2, sort_keys=True) + "\n"
    )


def export_checkpoint(checkpoint: str | Path, out_dir: str | Path, max_shard_bytes: int = MAX_SHARD_BYTES) -> Path:
    """Write the HF export of `checkpoint` to `out_dir` (replaced atomically if it exists)."""
    from unimumo.models.motion_vqvae import MotionVQVAE

    root, tag = resolve(checkpoint)
    verify_checkpoint(root / tag)  # sizes and sha256 as written; nothing but tensors and plain DeepSpeed data
    meta = read_meta(root, tag)
    sources = weight_sources(root / tag)
    out_dir = Path(out_dir)
    with torch.device("meta"):
        model = rebuild(meta)
    wanted = _saved_names(model)
    _check_names(model, wanted, sources)
    if isinstance(model, MotionVQVAE):  # small: a real model, filled tensor by tensor
        model = rebuild(meta)
        with torch.no_grad():
            for name, value in model.state_dict().items():
                value.copy_(sources[name]())
        return save_export(model, out_dir)
    with atomic_directory(out_dir) as staging:
        model.save_pretrained(staging, state_dict={}, safe_serialization=True)  # config files only
        for stale in (WEIGHTS, INDEX):
            (staging / stale).unlink(missing_ok=True)
        write_weights(staging, wanted, sources, max_shard_bytes)
        if meta.get("tokenizers"):  # the shards' tokenizers, so that evaluation needs no shards
            write_tokenizer_record(staging, meta["tokenizers"])
    return out_dir


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
