"""DeepSpeed checkpoints of a run: save with client state, a `latest` pointer that moves last, rotation.

Layout: OUT/checkpoints/global_step{N}/ (DeepSpeed files + `unimumo_meta.json`: model class, model
config, recipe, world size) and OUT/checkpoints/latest (the tag of the newest complete checkpoint).
Every rank's RNG state and loader position are gathered into the client state so that `--resume`
continues the exact sample and random-number sequence of each rank.

Resuming on another world size: the checkpoint is converted once to DeepSpeed's universal format
(ds_to_universal) into global_step{N}/universal/ (written beside, renamed into place, reused later,
rotated with its checkpoint) and loaded with `"checkpoint": {"load_universal": true}`.
"""
from __future__ import annotations

from unimumo.errors import UniMuMoError

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from unimumo.utils.io import atomic_write_json, atomic_write_text

LATEST = "latest"
META = "unimumo_meta.json"
UNIVERSAL = "universal"  # the universal-format copy inside a checkpoint directory
CLIENT_KEY = "unimumo"  # our client state lives under one key: DeepSpeed reserves names such as skipped_steps
_TAG = re.compile(r"^global_step(\d+)$")


class CheckpointError(UniMuMoError, RuntimeError):
    """A checkpoint is missing, incomplete or was written by an incompatible run."""
    kind = "checkpoint error"


def tag_for(step: int) -> str:
    return f"global_step{step}"


def step_of(tag: str) -> int | None:
    match = _TAG.match(tag)
    return int(match.group(1)) if match else None


def latest_tag(root: str | Path) -> str | None:
    """The tag `latest` points at, or None when the run has no complete checkpoint."""
    pointer = Path(root) / LATEST
    if not pointer.is_file():
        return None
    tag = pointer.read_text().strip()
    if not (Path(root) / tag / META).is_file():
        raise CheckpointError(f"{pointer} points at {tag!r}, which is not a complete checkpoint")
    return tag


def resolve(path: str | Path) -> tuple[Path, str]:
    """(checkpoint root, tag) for either a run's checkpoints dir (uses `latest`) or one tag directory."""
    path = Path(path)
    if (path / META).is_file():
        return path.parent, path.name
    if (path / "checkpoints" / LATEST).is_file():
        path = path / "checkpoints"
    tag = latest_tag(path)
    if tag is None:
        raise CheckpointError(f"{path} holds no complete checkpoint (no {LATEST} pointer and no {META})")
    return path, tag


def rotate(root: str | Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest complete checkpoints, and leftovers newer than `latest`."""
    root = Path(root)
    current = latest_tag(root)
    if current is None:
        return []
    newest = step_of(current)
    tags = sorted((step_of(p.name), p) for p in root.iterdir() if p.is_dir() and step_of(p.name) is not None)
    complete = [p for step, p in tags if step <= newest]
    doomed = complete[:-keep] + [p for step, p in tags if step > newest]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return doomed


def capture_rng() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _gather(obj: Any) -> list[Any]:
    if not dist.is_initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


class CheckpointManager:
    """Saves and restores one run's DeepSpeed checkpoints under `root`."""

    def __init__(self, root: str | Path, keep: int, rank: int):
        self.root = Path(root)
        self.keep = keep
        self.rank = rank

    def save(self, engine, step: int, *, meta: dict, client_state: dict, rank_state: dict) -> Path:
        """Write checkpoint `global_step{step}`; every rank calls this. `rank_state` is per rank."""
        tag = tag_for(step)
        state = {CLIENT_KEY: dict(client_state, step=step, ranks=_gather(rank_state))}
        engine.save_checkpoint(str(self.root), tag=tag, client_state=state, save_latest=False)
        _barrier()  # every rank's shard is on disk
        if self.rank == 0:
            atomic_write_json(self.root / tag / META, meta)
            atomic_write_text(self.root / LATEST, tag + "\n")
            rotate(self.root, self.keep)
        _barrier()
        return self.root / tag

    def saved_world_size(self) -> int | None:
        """World size of the newest complete checkpoint (None: there is none)."""
        tag = latest_tag(self.root)
        return None if tag is None else int(read_meta(self.root, tag)["world_size"])

    def prepare_universal(self) -> Path:
        """The universal copy of the newest checkpoint, converted by rank 0 if it is not there yet."""
        tag = latest_tag(self.root)
        target = self.root / tag / UNIVERSAL
        if self.rank == 0 and not target.is_dir():
            convert_to_universal(self.root / tag, target)
        _barrier()
        if not target.is_dir():
            raise CheckpointError(f"{target} is missing after the conversion (is {self.root} on a shared file system?)")
        return target

    def load(self, engine, *, universal: bool = False) -> dict | None:
        """Restore the newest complete checkpoint into `engine` (from its universal copy when `universal`,
        after `prepare_universal`); returns our client state (None: no checkpoint)."""
        tag = latest_tag(self.root)
        if tag is None:
            return None
        load_dir, load_tag = (self.root / tag, UNIVERSAL) if universal else (self.root, tag)
        path, client = engine.load_checkpoint(str(load_dir), tag=load_tag, load_optimizer_states=True,
                                              load_lr_scheduler_states=True)
        if path is None or not client or CLIENT_KEY not in client:
            raise CheckpointError(f"DeepSpeed could not load {load_dir / load_tag} (or it holds no {CLIENT_KEY} state)")
        return client[CLIENT_KEY]


def convert_to_universal(checkpoint: Path, target: Path) -> None:
    """ds_to_universal of one checkpoint directory into `target`, atomically (a staging directory beside it)."""
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    command = [sys.executable, "-m", "deepspeed.checkpoint.ds_to_universal", "--input_folder", str(checkpoint),
               "--output_folder", str(staging), "--num_extract_workers", "1", "--num_merge_workers", "1",
               "--inject_missing_state"]  # ZeRO 1-2 checkpoints of a plain module lack universal_checkpoint_info
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise CheckpointError(f"converting {checkpoint} to the universal format failed "
                              f"(exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    os.replace(staging, target)


def read_meta(root: Path, tag: str) -> dict:
    return json.loads((root / tag / META).read_text())
