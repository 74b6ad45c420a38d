"""One writer per output directory: a lock file naming its holder, for training, shard building and evaluation.

`run_lock(directory, name, command)` creates DIRECTORY/.unimumo-NAME.lock exclusively (O_CREAT|O_EXCL) with the
holder's host, pid, start time, command and Slurm job id, and removes it when the block ends. Taking, taking
over and removing a lock happen under an flock on a guard file beside it, so two starters never both win; the
guard is removed by whoever holds it, and a process that locked a guard someone removed meanwhile tries again,
so no guard file outlives the decision. A second writer gets a RunLockError naming the holder.

A lock is stale, and is taken over with a warning, when its holder ran on this host and its pid is gone, or when
it belongs to an earlier run of this very Slurm job (its restart count grew: the job was requeued, maybe onto
another node after a crash); two writers within one run of a job are refused like any others. A lock file that
cannot be read is stale once it is older than a minute (a writer killed between creating and filling it). Any
other lock is left to the user to remove, by the path the error gives.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from unimumo.errors import UniMuMoError
from unimumo.utils.log import get_logger

logger = get_logger(__name__)

UNREADABLE_STALE_S = 60.0  # an unreadable lock file older than this was left by a writer killed while creating it


class RunLockError(UniMuMoError, RuntimeError):
    """Another process writes to this output directory."""

    kind = "output directory in use"


def lock_path(directory: str | Path, name: str) -> Path:
    return Path(directory) / f".unimumo-{name}.lock"


def _holder(command: str) -> dict:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "command": command,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "slurm_job": os.environ.get("SLURM_JOB_ID"),
        "slurm_restart": os.environ.get("SLURM_RESTART_COUNT", "0"),
    }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return holder if isinstance(holder, dict) else None


def _stale_reason(path: Path, holder: dict | None) -> str | None:
    """Why the lock at `path` is stale, or None when its holder may still be writing."""
    if holder is None:
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return "it is gone"
        return f"it is unreadable and {age:.0f} s old" if age > UNREADABLE_STALE_S else None
    if (
        holder.get("slurm_job")
        and holder["slurm_job"] == os.environ.get("SLURM_JOB_ID")
        and holder.get("slurm_restart", "0") != os.environ.get("SLURM_RESTART_COUNT", "0")
    ):
        return f"it belongs to an earlier run of this Slurm job ({holder['slurm_job']}), requeued since"
    if (
        holder.get("host") == socket.gethostname()
        and isinstance(holder.get("pid"), int)
        and not _pid_alive(holder["pid"])
    ):
        return f"its process {holder['pid']} on this host has ended"
    return None


def _describe(holder: dict | None) -> str:
    if holder is None:
        return "a process that is creating the lock right now"
    return (
        f"{holder.get('command', '?')} (host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, started "
        f"{holder.get('started', '?')})"
    )


def acquire(directory: str | Path, name: str, command: str) -> Path:
    """Take the lock (see the module docstring); returns its path. RunLockError naming the holder if it is held."""
    path = lock_path(directory, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _guarded(path):  # one process at a time decides
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read(path)
            reason = _stale_reason(path, holder)
            if reason is None:
                raise RunLockError(
                    f"{Path(directory)} is being written by {_describe(holder)}; wait for it to end or "
                    f"use another output directory (if it is not running any more, delete {path})"
                ) from None
            logger.warning("taking over the stale lock %s of %s: %s", path, _describe(holder), reason)
            path.unlink(missing_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "w") as handle:
            json.dump(_holder(command), handle)
            handle.flush()
            os.fsync(handle.fileno())
    return path


def release(path: Path) -> None:
    """Remove the lock at `path` if this process still holds it."""
    if not path.parent.is_dir():  # the output directory was removed while the lock was held
        return
    with _guarded(path):
        holder = _read(path)
        if holder is not None and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


@contextlib.contextmanager
def _guarded(path: Path) -> Iterator[None]:
    """Hold the flock of the guard file beside the lock at `path`; the guard is removed when the block ends."""
    guard_path = path.with_name(path.name + ".guard")
    while True:
        guard = open(guard_path, "a")
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            current = os.stat(guard_path).st_ino == os.fstat(guard.fileno()).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        guard.close()  # its holder removed it while this process waited: lock the new one
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            guard_path.unlink()
        guard.close()


@contextlib.contextmanager
def run_lock(directory: str | Path, name: str, command: str) -> Iterator[Path]:
    """Hold the `name` lock of `directory` for the block (see the module docstring)."""
    path = acquire(directory, name, command)
    try:
        yield path
    finally:
        release(path)
