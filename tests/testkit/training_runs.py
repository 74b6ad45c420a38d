"""Helpers shared by the tests that launch real training processes: the tiny recipe they start from, a free
rendezvous port, and one `unimumo-train` run in a single process (ZeRO-0 on the CPU) that returns its metric lines."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The tiny recipe of the training tests: the tiny LM, 0.48 s windows (24 code steps), micro batch 2, no loader
# workers, 2 warm-up steps, a metric line per step, no progress bar. Each test adds its steps and batch sizes.
TINY_RECIPE = {
    "model.preset": "tiny",
    "data.window_s": 0.48,
    "data.micro_batch": 2,
    "data.shuffle_buffer": 8,
    "data.num_workers": 0,
    "schedule.warmup_steps": 2,
    "log.every": 1,
    "log.progress_bar": "false",
    "seed": 3,
}
NO_DROPOUT = {"model.config.dropout": 0, "model.config.condition_dropout": 0}  # runs compared with a plain loop


def set_args(overrides: dict) -> list[str]:
    """`--set key=value` arguments of unimumo-train for `overrides`."""
    return [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value}")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_one_process(recipe: str, out: Path, settings: dict, *extra: str) -> list[dict]:
    """Run `unimumo-train --recipe RECIPE --set k=v ...` in one CPU process; returns metrics.jsonl's lines."""
    cmd = [
        sys.executable,
        "-m",
        "unimumo.cli.train",
        "--recipe",
        recipe,
        "--out",
        str(out),
        "--ds-config",
        "cpu_zero0",
        *extra,
    ]
    for key, value in settings.items():
        cmd += ["--set", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu", MASTER_PORT=str(free_port()))
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
