"""DeepSpeed ZeRO-3 helpers for code that touches parameters outside forward (weight copies, generation)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch


def is_partitioned(params: Iterable[torch.nn.Parameter]) -> bool:
    """Whether any of `params` is a ZeRO-3 partitioned parameter."""
    return any(hasattr(p, "ds_id") for p in params)


def gathered_parameters(params: Iterable[torch.nn.Parameter]):
    """Context in which ZeRO-3 partitioned `params` are whole (edits made on rank 0 are kept); a no-op otherwise."""
    params = list(params)
    if not is_partitioned(params):
        return contextlib.nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(params, modifier_rank=0)


def needs_synced_generation(module: torch.nn.Module) -> bool:
    """ZeRO-3 over several ranks: every rank must keep calling forward until all ranks finish (HF `synced_gpus`)."""
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    return distributed and torch.distributed.get_world_size() > 1 and is_partitioned(module.parameters())
