"""The framework's logger: `logging` under the name "unimumo", rank-aware.

`get_logger(__name__)` in every module. `setup_logging(level, rank)` is called once per process by a
command's `main`: rank 0 logs at `level` (INFO by default, `--log-level` on every command), the other
ranks only warnings and errors unless `all_ranks=True`, so N ranks do not print every line N times.
Records carry the rank when the run is distributed.
"""

from __future__ import annotations

import logging
import os
import sys

ROOT_LOGGER = "unimumo"
LEVELS = ("debug", "info", "warning", "error")


def get_logger(name: str) -> logging.Logger:
    """A child of the "unimumo" logger (`name` is normally the caller's `__name__`)."""
    return logging.getLogger(name if name.startswith(ROOT_LOGGER) else f"{ROOT_LOGGER}.{name}")


def _rank_from_env() -> int:
    for key in ("RANK", "SLURM_PROCID"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


def setup_logging(level: str | int = "info", rank: int | None = None, *, all_ranks: bool = False) -> logging.Logger:
    """Configure the "unimumo" logger for this process (idempotent) and return it."""
    rank = _rank_from_env() if rank is None else rank
    if isinstance(level, str):
        if level.lower() not in LEVELS:
            raise ValueError(f"log level {level!r}: choose one of {', '.join(LEVELS)}")
        level = getattr(logging, level.upper())
    logger = logging.getLogger(ROOT_LOGGER)
    logger.setLevel(level if rank == 0 or all_ranks else max(level, logging.WARNING))
    world = os.environ.get("WORLD_SIZE", "1")
    prefix = f"[rank {rank}] " if world.isdigit() and int(world) > 1 else ""
    handler = next((h for h in logger.handlers if getattr(h, "_unimumo", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._unimumo = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s", "%H:%M:%S"))
    logger.propagate = False
    return logger
