"""Process-group set-up: rank, world size and rendezvous from torchrun, the deepspeed launcher or Slurm.

torchrun and the deepspeed launcher export RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT.
Under `srun` only SLURM_* variables exist; they are translated into the same five variables so that
`torch.distributed` (env:// rendezvous) and DeepSpeed see one consistent picture.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

DEFAULT_PORT_BASE = 29500


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int
    launcher: str  # "torchrun" (also the deepspeed launcher), "slurm" or "single"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def exports(self) -> dict[str, str]:
        return {
            "RANK": str(self.rank),
            "WORLD_SIZE": str(self.world_size),
            "LOCAL_RANK": str(self.local_rank),
            "MASTER_ADDR": self.master_addr,
            "MASTER_PORT": str(self.master_port),
        }


def first_slurm_host(nodelist: str) -> str:
    """First host name of a compact Slurm node list: 'gpu[003-005,009],cpu1' -> 'gpu003'."""
    match = re.match(r"^([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if not match:
        raise ValueError(f"cannot parse SLURM node list {nodelist!r}")
    prefix, ranges = match.groups()
    if not ranges:
        return prefix
    first = ranges.split(",")[0].split("-")[0]
    return prefix + first


def _int(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ValueError(f"environment variable {name}={env[name]!r} is not an integer") from None


def detect(env: Mapping[str, str] | None = None) -> DistEnv:
    """Read the launcher's environment (os.environ by default). torchrun variables win over Slurm's."""
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" in env:
        return DistEnv(
            rank=_int(env, "RANK"),
            world_size=_int(env, "WORLD_SIZE"),
            local_rank=_int(env, "LOCAL_RANK") if "LOCAL_RANK" in env else 0,
            master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
            master_port=_int(env, "MASTER_PORT") if "MASTER_PORT" in env else DEFAULT_PORT_BASE,
            launcher="torchrun",
        )
    if "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
        job_id = _int(env, "SLURM_JOB_ID") if "SLURM_JOB_ID" in env else 0
        nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
        return DistEnv(
            rank=_int(env, "SLURM_PROCID"),
            world_size=_int(env, "SLURM_NTASKS"),
            local_rank=_int(env, "SLURM_LOCALID") if "SLURM_LOCALID" in env else 0,
            master_addr=env.get("MASTER_ADDR") or (first_slurm_host(nodelist) if nodelist else "127.0.0.1"),
            master_port=(_int(env, "MASTER_PORT") if "MASTER_PORT" in env else DEFAULT_PORT_BASE + job_id % 10000),
            launcher="slurm",
        )
    return DistEnv(
        rank=0,
        world_size=1,
        local_rank=0,
        master_addr="127.0.0.1",
        master_port=_int(env, "MASTER_PORT") if "MASTER_PORT" in env else DEFAULT_PORT_BASE,
        launcher="single",
    )


def device_for(env: DistEnv) -> torch.device:
    """One GPU per local rank when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        torch.cuda.set_device(env.local_rank)
        return torch.device("cuda", env.local_rank)
    return torch.device("cpu")


def init_process_group(env: DistEnv, device: torch.device) -> str:
    """Export the rendezvous variables and start the process group (nccl on GPU, gloo on CPU)."""
    import deepspeed

    os.environ.update(env.exports())
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not torch.distributed.is_initialized():
        deepspeed.init_distributed(
            dist_backend=backend, auto_mpi_discovery=False, rank=env.rank, world_size=env.world_size
        )
    return backend
