"""One writer per output directory (issue 25, finding 3): training, shard building and evaluation hold a lock
file naming their host, pid and start time; a second writer is refused with one line naming the holder; a
lock whose process has ended on this host is taken over with a warning."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testkit.training_runs import free_port
from unimumo.constants import REQUEUE_EXIT_CODE
from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv
from unimumo.utils.run_lock import RunLockError, acquire, lock_path, release, run_lock

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_JOB_ID")}
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu", MASTER_PORT=str(free_port()))
    return env


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"ended ({process.returncode}) before taking its lock"
        assert time.monotonic() < deadline, f"no {path}"
        time.sleep(0.02)


@pytest.fixture
def sleeper():
    """A live process on this host (a lock holder that is still running)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield process.pid
    process.kill()
    process.wait()


def _plant(directory: Path, name: str, **holder) -> Path:
    path = lock_path(directory, name)
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": socket.gethostname(), "command": "someone", "started": "earlier", **holder}))
    return path


def test_a_held_lock_refuses_a_second_writer_and_a_dead_holders_lock_is_taken_over(
    tmp_path, sleeper, caplog, monkeypatch
):
    with run_lock(tmp_path, "train", "unimumo-train --recipe stage2_joint") as path:
        holder = json.loads(path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname() and holder["started"]
        with pytest.raises(
            RunLockError,
            match=rf"{tmp_path} is being written by unimumo-train --recipe stage2_joint "
            rf"\(host {socket.gethostname()}, pid {os.getpid()}, started ",
        ):
            acquire(tmp_path, "train", "another")
        assert run_lock(tmp_path, "build-train", "a build of another name")  # other names are other locks
    assert not path.exists()  # released
    assert not list(tmp_path.glob(".unimumo-*")), "a released lock leaves no file behind (its guard included)"

    _plant(tmp_path, "train", pid=sleeper)  # alive on this host: held
    with pytest.raises(RunLockError, match=f"pid {sleeper}.*delete {lock_path(tmp_path, 'train')}"):
        acquire(tmp_path, "train", "x")
    _plant(tmp_path, "train", pid=sleeper, host="elsewhere.invalid")  # another host: cannot tell, held
    with pytest.raises(RunLockError, match="host elsewhere.invalid"):
        acquire(tmp_path, "train", "x")

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _plant(tmp_path, "train", pid=dead.pid)
    monkeypatch.setattr(logging.getLogger("unimumo"), "propagate", True)  # to caplog
    with caplog.at_level(logging.WARNING):
        path = acquire(tmp_path, "train", "x")
    assert (
        f"taking over the stale lock {path}" in caplog.text
        and f"process {dead.pid} on this host has ended" in caplog.text
    )
    assert json.loads(path.read_text())["pid"] == os.getpid()
    release(path)
    assert not path.exists()


@pytest.mark.slow
def test_a_second_training_on_one_run_directory_is_refused(synthetic_corpus, tiny_shards, tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "unimumo.cli.train",
        "--recipe",
        "stage2_joint",
        "--out",
        str(out),
        "--shards",
        str(tiny_shards),
        "--text-model",
        str(synthetic_corpus / "models" / "t5"),
        "--ds-config",
        "cpu_zero0",
    ]
    for key, value in {
        "model.preset": "tiny",
        "data.window_s": 0.48,
        "data.micro_batch": 2,
        "data.global_batch": 2,
        "data.num_workers": 0,
        "steps": 100000,
        "log.every": 1,
        "log.progress_bar": "false",
    }.items():
        cmd += ["--set", f"{key}={value}"]
    first = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lock_path(out, "train"), first)
        second = subprocess.run(
            cmd + ["--set", "seed=1"], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600
        )
        assert second.returncode == 2 and "Traceback" not in second.stderr, second.stderr[-3000:]
        line = second.stderr.strip().splitlines()[-1]
        assert line.startswith(
            f"unimumo-train: output directory in use: {out} is being written by unimumo-train "
            f"--recipe stage2_joint (host {socket.gethostname()}, pid {first.pid}"
        ), line
        first.send_signal(signal.SIGUSR1)  # the first ends at a checkpoint
        log, _ = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == REQUEUE_EXIT_CODE, log[-3000:]
    assert json.loads((out / "recipe.json").read_text())["seed"] == 0  # the second run wrote nothing
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, len(steps) + 1))
    assert not lock_path(out, "train").exists()


@pytest.mark.slow
def test_a_second_build_of_a_split_into_one_directory_is_refused(synthetic_corpus, tmp_path):
    out = tmp_path / "shards"
    cmd = [sys.executable, "-m", "unimumo.cli.shards", *build_argv(synthetic_corpus, out, "train", *TINY_SHARDS_ARGS)]
    first = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lock_path(out, "build-train"), first)
        second = subprocess.run(cmd + ["--seed", "7"], env=_env(), capture_output=True, text=True, timeout=300)
        _, errors = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 3, second.stderr[-3000:]
    assert (
        f"{out} is being written by unimumo-shards build --split train (host {socket.gethostname()}, "
        f"pid {first.pid}" in second.stderr
    )
    assert first.returncode == 0, errors[-3000:]
    assert json.loads((out / "manifest.json").read_text())["splits"]["train"]["build_args"]["seed"] == 0


def test_an_evaluation_refuses_an_output_directory_another_process_writes(tmp_path, sleeper):
    from unimumo.cli.eval import main

    out = tmp_path / "eval"
    _plant(out, "eval", pid=sleeper, command="unimumo-eval caption")
    code = main(
        ["caption", "--model", str(tmp_path / "model"), "--shards", str(tmp_path / "shards"), "--out", str(out)]
    )
    assert code == 2
    assert not (out / "metrics.json").exists()


def test_a_lock_of_this_slurm_job_is_stale_only_after_a_requeue(tmp_path, sleeper, monkeypatch):
    """Two writers inside one run of a job are refused; the run after a requeue (restart count grown) takes over."""
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    _plant(tmp_path, "train", pid=sleeper, host="node-a.invalid", slurm_job="4242", slurm_restart="0")
    with pytest.raises(RunLockError, match="host node-a.invalid"):
        acquire(tmp_path, "train", "a second step of the same run")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    path = acquire(tmp_path, "train", "the requeued run")
    assert json.loads(path.read_text())["slurm_restart"] == "1"
    release(path)
