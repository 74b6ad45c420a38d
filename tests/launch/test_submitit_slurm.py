"""`unimumo.launch.submit(..., cluster="slurm")` with the real trainer on the local Slurm cluster: a USR1
mid-run checkpoints, rank 0 requeues, and the requeued job ends with the uninterrupted run's weights."""

import re
import subprocess
from pathlib import Path

import pytest

from slurm.jobs import assert_completed, slurm_cluster, wait_for_job, wait_for_log_line  # noqa: F401
from slurm.training import STEPS, TINY_OVERRIDES, assert_same_run, stage1_reference
from unimumo.launch import submit

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_preempted_submitit_job_requeues_and_matches_the_uninterrupted_run(
    slurm_cluster, tiny_shards, synthetic_corpus, tmp_path_factory
):
    reference = stage1_reference(tmp_path_factory.getbasetemp(), tiny_shards, synthetic_corpus)
    tmp = tmp_path_factory.mktemp("submitit_preempted")
    out = tmp / "run"
    job = submit(
        "stage1_motion",
        out=out,
        shards=tiny_shards,
        text_model=synthetic_corpus / "models" / "t5",
        init_from=synthetic_corpus / "models" / "musicgen",
        overrides=TINY_OVERRIDES,
        nodes=1,
        gpus_per_node=0,
        tasks_per_node=2,
        cpus_per_task=1,
        timeout_min=20,
        cluster="slurm",
        folder=tmp / "logs" / "%j",
    )
    log = Path(job.paths.stdout)  # rank 0
    wait_for_log_line(job.job_id, log, "step 2/")
    subprocess.run(["scancel", "--signal=USR1", job.job_id], check=True, timeout=30)
    fields = wait_for_job(job.job_id, log)
    text = assert_completed(job.job_id, fields, log) + Path(job.paths.stderr).read_text(errors="replace")

    assert fields["Restarts"] == "1" and f"requeueing job {job.job_id}" in text, text
    resumed = re.search(r"resumed from step (\d+)", text)
    assert resumed and 2 <= int(resumed.group(1)) < STEPS, text
    results = job.results()  # one summary per rank
    assert [(r["status"], r["step"]) for r in results] == [("completed", STEPS)] * 2, results
    assert results[0]["export"] == str(out / "export")
    assert_same_run(out, reference)
