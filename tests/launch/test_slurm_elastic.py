"""A requeued `sbatch slurm/stage1_motion.sh` that comes back with fewer tasks (2 -> 1 while it waits to
restart) resumes without a manual step: the trainer re-shards the checkpoint and the learning rate
follows the uninterrupted run's at every step.

On Slurm 22.05 `NumTasks=1` alone leaves the job's tasks per node at 2 (the allocation keeps 2 tasks):
the update needs `TasksPerNode=1` too. The batch environment still carries the submission's
SLURM_NTASKS=2; slurm/env.sh recomputes it from SLURM_TASKS_PER_NODE."""

import json
import subprocess
import time

import pytest

from slurm.jobs import assert_completed, job_fields, read_log, slurm_cluster, wait_for_job, wait_for_log_line  # noqa: F401
from slurm.training import TINY_OVERRIDES, job_env, stage1_reference, submit_stage

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _lrs(out) -> dict[int, float]:
    return {line["step"]: line["lr"] for line in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())}


def test_requeued_job_with_fewer_tasks_resumes_resharded(
    slurm_cluster, tiny_shards, synthetic_corpus, tmp_path, tmp_path_factory
):
    reference = stage1_reference(tmp_path_factory.getbasetemp(), tiny_shards, synthetic_corpus)
    out, log = tmp_path / "shrunk", tmp_path / "shrunk.log"
    job = submit_stage("slurm/stage1_motion.sh", job_env(tiny_shards, synthetic_corpus, out, TINY_OVERRIDES), log)
    wait_for_log_line(job, log, "step 2/")
    subprocess.run(["scancel", "--signal=USR1", job], check=True, timeout=30)
    deadline = time.monotonic() + 300
    while job_fields(job).get("Restarts") == "0" or job_fields(job)["JobState"] != "PENDING":
        assert time.monotonic() < deadline, f"job {job} was not requeued:\n{read_log(log)}"
        time.sleep(0.5)
    done = subprocess.run(
        ["scontrol", "update", f"JobId={job}", "NumTasks=1", "TasksPerNode=1"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    text = assert_completed(job, wait_for_job(job, log), log)
    assert "(restart 1): stage1_motion with 1 ranks" in text and "re-sharded from 2 to 1 ranks" in text, text
    assert _lrs(out) == _lrs(reference)
    assert (out / "export" / "config.json").is_file()
