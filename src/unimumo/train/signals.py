"""Pre-emption signals: SIGUSR1 (Slurm's --signal) and SIGTERM set a flag the training loop polls.

The loop finishes the current step, checkpoints and exits with REQUEUE_EXIT_CODE. A signal seen by
any rank stops all of them (the flag is all-reduced once per step).
"""

from __future__ import annotations

import signal

import torch
import torch.distributed as dist

STOP_SIGNALS = (signal.SIGUSR1, signal.SIGTERM)


class StopRequest:
    """Installs handlers on entry, restores the previous ones on exit."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequest:
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame) -> None:
        self.signum = signum

    def any_rank(self, device: torch.device) -> bool:
        """True on every rank when at least one rank received a stop signal (a collective call)."""
        raised = self.signum is not None
        if dist.is_initialized() and dist.get_world_size() > 1:
            flag = torch.tensor([1.0 if raised else 0.0], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            raised = bool(flag.item())
        return raised
