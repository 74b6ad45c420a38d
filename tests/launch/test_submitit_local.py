"""`unimumo.launch.submit(..., cluster="local")` with the real trainer: two local processes form one gloo
group from submitit.JobEnvironment's ranks and finish a tiny run with a checkpoint and an export."""

from pathlib import Path

import pytest

from slurm.training import TINY_OVERRIDES
from unimumo.launch import submit

pytestmark = pytest.mark.slow


def test_local_two_rank_job_trains_and_exports(tiny_shards, synthetic_corpus, tmp_path):
    out = tmp_path / "run"
    job = submit(
        "stage1_motion",
        out=out,
        shards=tiny_shards,
        text_model=synthetic_corpus / "models" / "t5",
        init_from=synthetic_corpus / "models" / "musicgen",
        overrides={**TINY_OVERRIDES, "steps": 3},
        gpus_per_node=0,
        tasks_per_node=2,
        cpus_per_task=1,
        timeout_min=10,
        cluster="local",
        folder=tmp_path / "logs" / "%j",
    )
    try:
        results = job.results()
    except Exception as error:  # submitit raises with the failing task's traceback; add rank 0's log
        raise AssertionError(f"{error}\nrank 0 log:\n{Path(job.paths.stdout).read_text(errors='replace')}") from error
    assert [(r["status"], r["step"]) for r in results] == [("completed", 3)] * 2
    assert (out / "checkpoints" / "latest").read_text().strip() == "global_step3"
    assert (out / "export" / "config.json").is_file()
    assert "2 rank(s)" in Path(job.paths.stderr).read_text()  # the trainer's log
