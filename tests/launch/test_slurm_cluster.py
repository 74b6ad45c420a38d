"""The local single-node Slurm cluster of tests/slurm/cluster.sh runs real multi-task jobs."""

import subprocess

import pytest

from slurm.jobs import CLUSTER_SH, assert_completed, sbatch, slurm_cluster, wait_for_job  # noqa: F401

pytestmark = pytest.mark.slurm


def test_cluster_up_is_idempotent_and_node_has_two_cpus(slurm_cluster):
    again = subprocess.run(["bash", str(CLUSTER_SH), "up"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    node = subprocess.run(["sinfo", "-h", "-n", slurm_cluster, "-o", "%T %c"], capture_output=True, text=True)
    state, cpus = node.stdout.split()
    assert state in ("idle", "mixed", "allocated") and cpus == "2", node.stdout


def test_two_task_srun_job_completes_with_one_process_per_rank(slurm_cluster, tmp_path):
    log = tmp_path / "job.log"
    script = tmp_path / "two_tasks.sh"
    script.write_text("#!/bin/bash\nsrun bash -c 'echo rank=$SLURM_PROCID ntasks=$SLURM_NTASKS pid=$$'\n")
    job = sbatch("--ntasks=2", f"--output={log}", str(script))
    text = assert_completed(job, wait_for_job(job, log, timeout_s=120), log)
    ranks = sorted(line.split()[0] for line in text.splitlines() if line.startswith("rank="))
    pids = {line.split()[2] for line in text.splitlines() if line.startswith("rank=")}
    assert ranks == ["rank=0", "rank=1"] and len(pids) == 2, text
    assert all("ntasks=2" in line for line in text.splitlines() if line.startswith("rank=")), text


def test_usage_is_printed_for_an_unknown_command():
    done = subprocess.run(["bash", str(CLUSTER_SH), "bogus"], capture_output=True, text=True)
    assert done.returncode == 2 and "cluster.sh up" in done.stdout
