"""Drive the local Slurm cluster from tests: bring it up, submit with sbatch, wait for a job to end.

Every failure message carries the job's log, so a broken job explains itself in the pytest output.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = Path(__file__).with_name("cluster.sh")
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}
REQUEUE_RELEASE_DELAY_S = 3
CPU_ALLOCATION = ["--nodes=1", "--gpus-per-node=0", "--ntasks-per-node=2", "--cpus-per-task=1"]


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """Start the cluster (installing Slurm when missing); fails, never skips, when it cannot start."""
    done = subprocess.run(["bash", str(CLUSTER_SH), "up"], capture_output=True, text=True, timeout=900)
    if done.returncode:
        pytest.fail(f"the local Slurm cluster did not start (bash {CLUSTER_SH} up):\n{done.stdout}{done.stderr}")
    return subprocess.run(["hostname", "-s"], capture_output=True, text=True, check=True).stdout.strip()


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without Slurm/rendezvous variables of an enclosing job, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SUBMITIT_")) and k not in ("MASTER_ADDR", "MASTER_PORT")
    }
    env.update(extra)
    return env


def sbatch(*args: str, env: dict[str, str] | None = None) -> str:
    """Submit from the repository root (as documented) and return the job id."""
    done = subprocess.run(
        ["sbatch", "--parsable", *args], cwd=REPO, env=env or clean_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"sbatch {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout.strip().split(";")[0]


def job_fields(job_id: str) -> dict[str, str]:
    """`scontrol show job` as a dict (JobState, Restarts, ExitCode, Reason, ...)."""
    done = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"scontrol show job {job_id}: {done.stderr}"
    return dict(item.split("=", 1) for item in done.stdout.split() if "=" in item)


def read_log(log: Path) -> str:
    return log.read_text(errors="replace") if log.is_file() else f"(no log at {log})"


def release_requeued(job_id: str, fields: dict[str, str], released: set[str]) -> None:
    """Slurm holds a requeued batch job for ~2 minutes (Reason=BeginTime); start it a few seconds from now.

    Not at once: slurmd refuses a launch whose credential is from the same second as the previous run's
    revocation ("Job credential revoked"), and the job then ends FAILED instead of running again.
    `released` holds the (job, restart) pairs already moved, so the start time is set once per requeue.
    """
    key = f"{job_id}/{fields.get('Restarts')}"
    if (
        fields.get("JobState") == "PENDING"
        and fields.get("Reason") == "BeginTime"
        and fields.get("Restarts") != "0"
        and key not in released
    ):
        released.add(key)
        subprocess.run(
            ["scontrol", "update", f"JobId={job_id}", f"StartTime=now+{REQUEUE_RELEASE_DELAY_S}"],
            capture_output=True,
            timeout=30,
        )


def wait_for_job(job_id: str, log: Path, timeout_s: float = 600) -> dict[str, str]:
    """Poll until the job reaches a final state; returns its fields. Cancels it and fails on timeout."""
    deadline, released = time.monotonic() + timeout_s, set()
    while time.monotonic() < deadline:
        fields = job_fields(job_id)
        if fields["JobState"] in FINAL_STATES:
            return fields
        release_requeued(job_id, fields, released)
        time.sleep(1)
    subprocess.run(["scancel", job_id], timeout=30)
    pytest.fail(
        f"job {job_id} did not finish within {timeout_s:.0f}s (state {fields['JobState']}, "
        f"reason {fields['Reason']}); log {log}:\n{read_log(log)}"
    )


def wait_for_log_line(job_id: str, log: Path, text: str, timeout_s: float = 600, count: int = 1) -> None:
    """Poll the job's log until it contains `text` (`count` times); fails with the log if the job ends first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if read_log(log).count(text) >= count:
            return
        if job_fields(job_id)["JobState"] in FINAL_STATES:
            break
        time.sleep(0.5)
    pytest.fail(f"job {job_id}: {text!r} never appeared in {log}:\n{read_log(log)}")


def assert_completed(job_id: str, fields: dict[str, str], log: Path) -> str:
    """The job ended COMPLETED with exit code 0; returns its log."""
    text = read_log(log)
    assert fields["JobState"] == "COMPLETED" and fields["ExitCode"] == "0:0", (
        f"job {job_id} ended {fields['JobState']} (exit {fields['ExitCode']}); log {log}:\n{text}"
    )
    return text
