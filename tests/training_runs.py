"""Helpers shared by the tests that launch real training processes: a free rendezvous port, and one
`unimumo-train` run in a single process (ZeRO-0 on the CPU) that returns its metric lines."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_one_process(recipe: str, out: Path, settings: dict, *extra: str) -> list[dict]:
    """Run `unimumo-train --recipe RECIPE --set k=v ...` in one CPU process; returns metrics.jsonl's lines."""
    cmd = [sys.executable, "-m", "unimumo.cli.train", "--recipe", recipe, "--out", str(out), "--ds-config",
           "cpu_zero0", *extra]
    for key, value in settings.items():
        cmd += ["--set", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu", MASTER_PORT=str(free_port()))
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
