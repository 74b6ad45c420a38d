"""DeepSpeed checkpoints of a run: save with client state and checksums, discovery, integrity checks, rotation.

Layout: OUT/checkpoints/global_step{N}/ holds DeepSpeed's files and `unimumo_meta.json`, written last:
model_class, model_config, recipe, step, world_size, zero_stage, layout (a fingerprint of the parameter
names, shapes and trainable flags) and files {name: {bytes, sha256}} (every file DeepSpeed wrote; each rank
hashes and fsyncs the files it wrote before rank 0 writes the meta file). A step directory with a readable
meta file is complete. OUT/checkpoints/latest names the newest complete one, for people and other tools:
resume and export find checkpoints by scanning the step directories, so a missing or damaged `latest`
loses nothing. Every rank's RNG state and loader position are gathered into the client state so that
`--resume` continues the exact sample and random-number sequence of each rank.

Resume takes the newest complete checkpoint whose files match their recorded size and sha256 and hold
nothing but tensors and plain DeepSpeed data (the pickled globals are listed without unpickling anything,
before DeepSpeed loads a file); a damaged one is moved aside to damaged-global_step{N} (never deleted) with
a warning naming the bad file, and the one before it is used. A checkpoint of another stage, model shape
or ZeRO stage is refused with one line. A run without --resume refuses a directory that holds checkpoints.
sha256 runs at about 1.5 GB/s per core; each rank hashes its own files, so a save costs the time to read
back (from the page cache) the largest rank's share once.

Rotation deletes only complete checkpoints of this run's history, keeping the `checkpoint.keep` newest and,
until a newer one has proved itself, the newest checkpoint whose weights gave a finite loss (a step
completed after it): so after a stop for non-finite losses some checkpoint holds weights that trained,
even with keep=1. That stop moves the checkpoints that gave no finite loss to nonfinite-global_step{N}.

Resuming on another world size: the checkpoint is converted once to DeepSpeed's universal format
(ds_to_universal) into global_step{N}/universal/ (written beside, renamed into place, reused later,
rotated with its checkpoint) and loaded with `"checkpoint": {"load_universal": true}`.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import json
import os
import pickle
import random
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from unimumo.errors import UniMuMoError
from unimumo.utils.io import atomic_write_json, atomic_write_text
from unimumo.utils.log import get_logger

logger = get_logger(__name__)

LATEST = "latest"
META = "unimumo_meta.json"
UNIVERSAL = "universal"  # the universal-format copy inside a checkpoint directory
CLIENT_KEY = "unimumo"  # our client state lives under one key: DeepSpeed reserves names such as skipped_steps
DAMAGED = "damaged-"  # prefix of a checkpoint found damaged on resume, moved aside
NONFINITE = "nonfinite-"  # prefix of a checkpoint whose weights gave no finite loss, moved aside at that stop
_TAG = re.compile(r"^global_step(\d+)$")
_OWNER = re.compile(r"zero_pp_rank_(\d+)_")  # DeepSpeed names a rank's files so; the rest rank 0 writes
_CHUNK = 8 << 20
LOW_SPACE_BYTES = 64 << 20  # a failed save with less free space than this is reported as a full disk
# The globals a checkpoint file may reference besides torch's tensor types: DeepSpeed's plain data
# (enum, loss scaler, fragment address) and numpy arrays (RNG states of older checkpoints). A fixed table.
SAFE_GLOBALS = (
    ("deepspeed.runtime.zero.config", "ZeroStageEnum"),
    ("deepspeed.runtime.fp16.loss_scaler", "LossScaler"),
    ("deepspeed.runtime.fp16.loss_scaler", "DynamicLossScaler"),
    ("deepspeed.utils.tensor_fragment", "fragment_address"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.dtypes", "UInt32DType"),
)


class CheckpointError(UniMuMoError, RuntimeError):
    """A checkpoint is missing, incomplete, damaged or was written by an incompatible run."""

    kind = "checkpoint error"


def tag_for(step: int) -> str:
    return f"global_step{step}"


def step_of(tag: str) -> int | None:
    match = _TAG.match(tag)
    return int(match.group(1)) if match else None


def read_meta(root: str | Path, tag: str) -> dict:
    """The meta file of checkpoint `tag`; CheckpointError naming it when unreadable."""
    path = Path(root) / tag / META
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: unreadable checkpoint meta file ({type(error).__name__}: {error})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return meta


def complete_tags(root: str | Path) -> list[str]:
    """Tags of the step directories under `root` with a readable meta file, newest first (`latest` is not read)."""
    root = Path(root)
    if not root.is_dir():
        return []
    tags = sorted(
        ((step_of(p.name), p.name) for p in root.iterdir() if p.is_dir() and step_of(p.name) is not None), reverse=True
    )
    complete = []
    for _, tag in tags:
        try:
            read_meta(root, tag)
        except CheckpointError:
            continue
        complete.append(tag)
    return complete


def latest_tag(root: str | Path) -> str | None:
    """The newest complete checkpoint's tag (found by scanning; None: there is none)."""
    tags = complete_tags(root)
    return tags[0] if tags else None


def resolve(path: str | Path) -> tuple[Path, str]:
    """(checkpoint root, tag) for a run directory, its checkpoints/ directory (newest complete) or one tag directory."""
    path = Path(path)
    if (path / META).is_file():
        return path.parent, path.name
    if (path / "checkpoints").is_dir():
        path = path / "checkpoints"
    tag = latest_tag(path)
    if tag is None:
        raise CheckpointError(f"{path} holds no complete checkpoint (no global_stepN directory with {META})")
    return path, tag


def rotate(root: str | Path, keep: int, *, newest: int | None = None, spare: int | None = None) -> list[Path]:
    """Delete complete checkpoints up to step `newest` (all when None) but the `keep` newest and step `spare`.

    Incomplete directories and checkpoints newer than `newest` are left alone: this run did not write them.
    """
    root = Path(root)
    tags = [tag for tag in complete_tags(root) if newest is None or step_of(tag) <= newest]
    doomed = [root / tag for tag in tags[keep:] if step_of(tag) != spare]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return doomed


def set_aside(directory: Path, prefix: str) -> Path:
    """Rename `directory` to prefix + its name (a free variant of it) beside it; returns the new path."""
    target, number = directory.with_name(prefix + directory.name), 1
    while target.exists():
        target, number = directory.with_name(f"{prefix}{directory.name}.{number}"), number + 1
    os.replace(directory, target)
    return target


# -- file integrity ---------------------------------------------------------------------------------------------------


def _checkpoint_files(directory: Path) -> list[str]:
    """Names (relative, sorted) of the files DeepSpeed wrote into a checkpoint directory."""
    names = []
    for path in directory.rglob("*"):
        relative = path.relative_to(directory)
        if path.is_file() and relative.parts[0] != UNIVERSAL and path.name != META and not path.name.startswith("."):
            names.append(relative.as_posix())
    return sorted(names)


def _owner(name: str) -> int:
    match = _OWNER.search(Path(name).name)
    return int(match.group(1)) if match else 0


def _mine(names: list[str], rank: int, world: int) -> list[str]:
    return [name for name in names if _owner(name) % world == rank]


def _sha256_and_sync(path: Path) -> dict:
    """{bytes, sha256} of a file, fsynced (read back from the page cache just after writing)."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
        os.fsync(handle.fileno())
    return {"bytes": size, "sha256": digest.hexdigest()}


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _safe_globals() -> list:
    found = []
    for module, name in SAFE_GLOBALS:
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):  # another numpy / DeepSpeed version: that name cannot occur
            continue
    return found


def unsafe_globals(path: str | Path) -> list[str]:
    """Globals a torch checkpoint file would call on unpickling beyond tensors and SAFE_GLOBALS (read, not run)."""
    allowed = {f"{module}.{name}" for module, name in SAFE_GLOBALS}
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, KeyError) as error:  # opcodes it cannot read
        raise ValueError(f"its pickle cannot be scanned ({type(error).__name__}: {error})") from None
    return [name for name in found if name not in allowed]


def load_tensors(path: str | Path, *, mmap: bool = True) -> Any:
    """A torch checkpoint file read with weights_only=True (tensors and SAFE_GLOBALS, never arbitrary code);
    CheckpointError naming the file and what it refers to otherwise."""
    try:
        refused = unsafe_globals(path)
    except (OSError, RuntimeError, ValueError) as error:
        raise CheckpointError(
            f"{path}: not a readable torch checkpoint file ({type(error).__name__}: {error})"
        ) from None
    if refused:
        raise CheckpointError(
            f"{path}: refers to {', '.join(refused[:5])}, which a checkpoint does not hold "
            "(refusing to unpickle it: it could run code)"
        )
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            return torch.load(path, map_location="cpu", mmap=mmap, weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError) as error:
        raise CheckpointError(
            f"{path}: unreadable checkpoint file ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''})"
        ) from None


def file_problems(directory: Path, meta: dict, names: list[str]) -> list[str]:
    """Problems of the files `names` of a checkpoint: missing, size or sha256 unlike the meta file's record,
    or pickled globals beyond tensors and plain DeepSpeed data. Empty: intact."""
    recorded = meta.get("files", {})
    problems = []
    for name in names:
        path = directory / name
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        if name in recorded:
            found = _sha256_and_sync(path)
            if found["bytes"] != recorded[name]["bytes"]:
                problems.append(f"{path}: {found['bytes']} bytes, {recorded[name]['bytes']} written (truncated?)")
                continue
            if found["sha256"] != recorded[name]["sha256"]:
                problems.append(f"{path}: sha256 differs from the one recorded when it was written (damaged)")
                continue
        try:
            refused = unsafe_globals(path) if path.suffix == ".pt" else []
        except (OSError, RuntimeError, ValueError) as error:
            problems.append(f"{path}: unreadable ({type(error).__name__}: {error})")
            continue
        if refused:
            problems.append(f"{path}: refers to {', '.join(refused[:5])} (it could run code when unpickled)")
    return problems


def verify_checkpoint(directory: str | Path) -> None:
    """CheckpointError naming every damaged file of one checkpoint directory (see `file_problems`)."""
    directory = Path(directory)
    meta = read_meta(directory.parent, directory.name)
    problems = file_problems(directory, meta, sorted(set(meta.get("files", {})) | set(_checkpoint_files(directory))))
    if problems:
        raise CheckpointError("; ".join(problems))


def parameter_layout(module: torch.nn.Module) -> str:
    """sha256 of the parameter names, shapes and trainable flags (what a ZeRO checkpoint's partitions depend on)."""
    digest = hashlib.sha256()
    for name, parameter in module.named_parameters():
        shape = tuple(getattr(parameter, "ds_shape", parameter.shape))  # ZeRO-3 partitions keep the full shape there
        digest.update(f"{name}|{shape}|{parameter.requires_grad}\n".encode())
    return digest.hexdigest()


def _space_message(error: BaseException, directory: Path) -> str:
    """One line for a failed save: a full disk said so (errno ENOSPC anywhere in the chain, or almost no space left)."""
    chain, seen = [], error
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    free = None
    for path in (directory, *directory.parents):
        if path.exists():
            free = shutil.disk_usage(path).free
            break
    full = (
        any(isinstance(e, OSError) and e.errno == errno.ENOSPC for e in chain)
        or any("No space left" in str(e) for e in chain)
        or (free is not None and free < LOW_SPACE_BYTES)
    )
    if full:
        left = f" ({free / 2**20:.1f} MiB free)" if free is not None else ""
        return (
            f"no space left on device writing checkpoint {directory}{left}; free space there or lower "
            "checkpoint.keep, then start again with --resume"
        )
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"writing checkpoint {directory} failed ({type(error).__name__}: {first})"


def capture_rng() -> dict[str, Any]:
    """Every generator's state as tensors and plain values (numpy's key array as a list: nothing to unpickle)."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (name, keys.tolist(), position, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
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


def _raise_on_every_rank(problem: str | None) -> None:
    """A collective: raise CheckpointError on every rank when any rank found `problem` (else a barrier)."""
    found = [p for p in _gather(problem) if p]
    if found:
        raise CheckpointError(found[0])


def _world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


class CheckpointManager:
    """Saves, finds and restores one run's DeepSpeed checkpoints under `root`; every rank makes the same calls."""

    def __init__(self, root: str | Path, keep: int, rank: int):
        self.root = Path(root)
        self.keep = keep
        self.rank = rank
        self.tag: str | None = None  # the checkpoint to resume from (`discover`)
        self.discovered = False
        self.pending: int | None = None  # newest checkpoint no finite step has followed yet
        self.confirmed: int | None = None  # newest checkpoint a finite step followed

    # -- saving ------------------------------------------------------------------------------------------------------

    def check_fresh(self) -> None:
        """A run without --resume: CheckpointError if the directory holds checkpoints (of an earlier run)."""
        tags = complete_tags(self.root)
        if tags:
            raise CheckpointError(
                f"{self.root} holds checkpoints of an earlier run (newest {tags[0]}); continue it "
                "with --resume, or use another --out"
            )

    def save(self, engine, step: int, *, meta: dict, client_state: dict, rank_state: dict) -> Path:
        """Write checkpoint `global_step{step}`: DeepSpeed's files (each rank hashes and fsyncs its own), then the
        meta file with the checksums, then `latest`, then rotation. A failure (a full disk) is a CheckpointError."""
        tag = tag_for(step)
        directory = self.root / tag
        if step == self.pending and (directory / META).is_file():
            return directory  # saved at this step already
        problem = None
        if self.rank == 0 and directory.is_dir():
            if (directory / META).is_file():
                problem = f"{directory} exists already (a checkpoint this run did not write)"
            else:
                shutil.rmtree(directory)  # what a killed save of this step left: stale files of other ranks
        _raise_on_every_rank(problem)  # every rank stops, none waits in a collective for rank 0
        state = {CLIENT_KEY: dict(client_state, step=step, ranks=_gather(rank_state))}
        files, failure = {}, None
        try:
            engine.save_checkpoint(str(self.root), tag=tag, client_state=state, save_latest=False)
            files = {
                name: _sha256_and_sync(directory / name)
                for name in _mine(_checkpoint_files(directory), self.rank, _world())
            }
        except (OSError, RuntimeError) as error:
            failure = _space_message(error, directory)
        results = _gather((files, failure))
        failures = [failure for _, failure in results if failure]
        if failures:
            if self.rank == 0:
                shutil.rmtree(directory, ignore_errors=True)  # an incomplete save: give the space back
            raise CheckpointError(failures[0])
        if self.rank == 0:
            written = {name: record for part, _ in results for name, record in part.items()}
            _fsync_directory(directory)
            atomic_write_json(
                directory / META,
                dict(
                    meta,
                    zero_stage=engine.zero_optimization_stage(),
                    layout=parameter_layout(engine.module),
                    files=written,
                ),
            )
            atomic_write_text(self.root / LATEST, tag + "\n")
            _fsync_directory(self.root)
        self.pending = step
        self._rotate(step)
        _barrier()
        return directory

    def step_done(self, step: int) -> None:
        """A step finished with finite losses: the newest checkpoint before it has proved its weights."""
        if self.pending is not None and step > self.pending:
            self.confirmed, self.pending = self.pending, None
            self._rotate(self.confirmed)

    def finish(self) -> None:
        """The run completed: its last checkpoint is final (rotation need not spare an earlier one any more)."""
        if self.pending is not None:
            self.confirmed, self.pending = self.pending, None
            self._rotate(self.confirmed)

    def _rotate(self, newest: int) -> None:
        if self.rank == 0:
            rotate(self.root, self.keep, newest=newest, spare=self.confirmed)

    def set_aside_nonfinite(self) -> str:
        """At a stop for non-finite losses: move the checkpoint no finite step followed (if any) to
        nonfinite-global_stepN; returns a sentence saying what --resume continues from."""
        moved = ""
        if self.pending is not None:
            directory = self.root / tag_for(self.pending)
            if self.rank == 0 and directory.is_dir():
                target = set_aside(directory, NONFINITE)
                if latest_tag(self.root):
                    atomic_write_text(self.root / LATEST, latest_tag(self.root) + "\n")
                else:
                    (self.root / LATEST).unlink(missing_ok=True)
                moved = f"{directory.name} gave no finite loss and was moved to {target}; "
            self.pending = None
        newest = latest_tag(self.root)
        return moved + (f"--resume continues from {self.root / newest}" if newest else "no checkpoint to resume from")

    # -- resuming ----------------------------------------------------------------------------------------------------

    def discover(self) -> str | None:
        """The newest complete checkpoint whose files are intact; a damaged one is moved aside to
        damaged-global_stepN with a warning naming the bad file, and the one before it is tried."""
        if self.discovered:
            return self.tag
        tags = _gather(complete_tags(self.root) if self.rank == 0 else None)[0]
        for tag in tags:
            directory = self.root / tag
            meta = read_meta(self.root, tag)
            if "files" not in meta and self.rank == 0:
                logger.warning("%s records no checksums (written by an older unimumo): not checked", directory)
            names = sorted(set(meta.get("files", {})) | set(_checkpoint_files(directory)))
            problems = [
                p for part in _gather(file_problems(directory, meta, _mine(names, self.rank, _world()))) for p in part
            ]
            if not problems:
                self.tag = tag
                break
            if self.rank == 0:
                target = set_aside(directory, DAMAGED)
                logger.warning(
                    "checkpoint %s is damaged (%s); moved to %s, trying the one before it",
                    directory,
                    "; ".join(problems[:3]),
                    target.name,
                )
            _barrier()
        self.discovered = True
        if self.tag is not None:
            self.pending = step_of(self.tag)  # proved once a step after it is finite
            older = [step_of(tag) for tag in complete_tags(self.root) if step_of(tag) < self.pending]
            self.confirmed = max(older) if older else None
        return self.tag

    def saved_world_size(self) -> int | None:
        """World size of the checkpoint to resume from (None: there is none)."""
        tag = self.discover()
        return None if tag is None else int(read_meta(self.root, tag)["world_size"])

    def check_compatible(self, engine, stage: str) -> None:
        """CheckpointError (one line) unless the checkpoint to resume from was written by this stage, with this
        model shape and freeze plan (parameter layout) and this ZeRO stage."""
        directory = self.root / self.discover()
        meta = read_meta(self.root, directory.name)
        written_by = (meta.get("recipe") or {}).get("name")
        if written_by is not None and written_by != stage:
            raise CheckpointError(
                f"{directory} was written by recipe {written_by}, this run is {stage}: resume it "
                f"with --recipe {written_by}, or start {stage} from an export with --init-from"
            )
        if meta.get("layout") not in (None, parameter_layout(engine.module)):
            raise CheckpointError(
                f"{directory} holds another model (parameter names, shapes or trained groups differ "
                f"from this {stage} run's): resume with the recipe and model settings it was "
                f"written with (its {META} lists them)"
            )
        zero = engine.zero_optimization_stage()
        if meta.get("zero_stage") not in (None, zero):
            raise CheckpointError(
                f"{directory} was written under ZeRO stage {meta['zero_stage']}, this run uses "
                f"stage {zero}: resume with the --ds-config it was written with"
            )

    def prepare_universal(self) -> Path:
        """The universal copy of the checkpoint to resume from, converted by rank 0 if it is not there yet."""
        tag = self.discover()
        target = self.root / tag / UNIVERSAL
        problem = None
        if self.rank == 0:
            try:
                if not target.is_dir():
                    convert_to_universal(self.root / tag, target)
                refused = [f"{path}: {names}" for path in target.rglob("*.pt") if (names := unsafe_globals(path))]
                if refused:
                    problem = f"{target}: refusing files that could run code when unpickled: {refused[:3]}"
            except (CheckpointError, OSError, RuntimeError, ValueError) as error:
                problem = str(error)
        _raise_on_every_rank(problem)  # every rank stops, none waits in a collective for rank 0
        if not target.is_dir():
            raise CheckpointError(f"{target} is missing after the conversion (is {self.root} on a shared file system?)")
        return target

    def load(self, engine, *, universal: bool = False) -> dict | None:
        """Restore the checkpoint `discover` found into `engine` (from its universal copy when `universal`,
        after `prepare_universal`); returns our client state (None: no checkpoint)."""
        tag = self.discover()
        if tag is None:
            return None
        load_dir, load_tag = (self.root / tag, UNIVERSAL) if universal else (self.root, tag)
        try:
            path, client = engine.load_checkpoint(
                str(load_dir), tag=load_tag, load_optimizer_states=True, load_lr_scheduler_states=True
            )
        except (RuntimeError, KeyError, ValueError, AssertionError, IndexError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise CheckpointError(
                f"DeepSpeed could not load {load_dir / load_tag} ({type(error).__name__}: {first[:300]})"
            ) from error
        if path is None or not client or CLIENT_KEY not in client:
            raise CheckpointError(f"DeepSpeed could not load {load_dir / load_tag} (or it holds no {CLIENT_KEY} state)")
        return client[CLIENT_KEY]


def convert_to_universal(checkpoint: Path, target: Path) -> None:
    """ds_to_universal of one checkpoint directory into `target`, atomically (a staging directory beside it)."""
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "deepspeed.checkpoint.ds_to_universal",
        "--input_folder",
        str(checkpoint),
        "--output_folder",
        str(staging),
        "--num_extract_workers",
        "1",
        "--num_merge_workers",
        "1",
        "--inject_missing_state",
    ]  # ZeRO 1-2 checkpoints of a plain module lack universal_checkpoint_info
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise CheckpointError(
            f"converting {checkpoint} to the universal format failed "
            f"(exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
    os.replace(staging, target)
