"""`sbatch slurm/stage1_motion.sh` / `slurm/stage2_joint.sh` with the real trainer: 2 CPU ranks (gloo) on the
local Slurm cluster, tiny model and shards. A USR1 mid-run checkpoints, requeues and resumes to the same
final weights as an uninterrupted run; stage 2 starts from the stage-1 export."""

import re
import subprocess

import pytest
import torch

from slurm.jobs import assert_completed, read_log, slurm_cluster, wait_for_job, wait_for_log_line  # noqa: F401
from slurm.training import (
    STEPS,
    TINY_OVERRIDES,
    assert_same_run,
    export_weights,
    job_env,
    stage1_reference,
    submit_stage,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


@pytest.fixture(scope="module")
def reference(slurm_cluster, tiny_shards, synthetic_corpus, tmp_path_factory):
    return stage1_reference(tmp_path_factory.getbasetemp(), tiny_shards, synthetic_corpus)


def test_stage1_runs_two_ranks_to_completion_with_checkpoint_and_export(reference):
    log = reference.parent / "stage1_reference.log"
    text = read_log(log)
    assert "stage1_motion with 2 ranks" in text and "2 rank(s) (slurm, gloo)" in text, text
    assert f"step {STEPS}/{STEPS}" in text, text
    assert (reference / "checkpoints" / "latest").read_text().strip() == f"global_step{STEPS}"
    assert (reference / "export" / "config.json").is_file() and "stage1_motion finished" in text


def test_usr1_mid_run_checkpoints_requeues_and_ends_with_the_same_weights(
    reference, tiny_shards, synthetic_corpus, tmp_path
):
    out, log = tmp_path / "preempted", tmp_path / "preempted.log"
    job = submit_stage("slurm/stage1_motion.sh", job_env(tiny_shards, synthetic_corpus, out, TINY_OVERRIDES), log)
    wait_for_log_line(job, log, "step 2/")
    # Without --batch/--full the signal goes to the job steps: the srun-started trainer ranks.
    subprocess.run(["scancel", "--signal=USR1", job], check=True, timeout=30)
    fields = wait_for_job(job, log)
    text = assert_completed(job, fields, log)

    assert fields["Restarts"] == "1" and f"requeueing job {job}" in text, text
    resumed = re.search(r"resumed from step (\d+)", text)
    assert resumed and 2 <= int(resumed.group(1)) < STEPS, text
    assert (out / "checkpoints" / f"global_step{resumed.group(1)}").is_dir()
    assert_same_run(out, reference)


def test_stage2_starts_from_the_stage1_export_and_completes(reference, tiny_shards, synthetic_corpus, tmp_path):
    out, log = tmp_path / "stage2", tmp_path / "stage2.log"
    # A learning rate too small to move the weights: stage 2's export must still be stage 1's.
    overrides = {**TINY_OVERRIDES, "steps": 2, "optim.lr": 1e-12, "optim.weight_decay": 0}
    env = job_env(tiny_shards, synthetic_corpus, out, overrides, UNIMUMO_STAGE1_OUT=str(reference))
    job = submit_stage("slurm/stage2_joint.sh", env, log)
    text = assert_completed(job, wait_for_job(job, log), log)
    assert f"--init-from {reference}/export" in text and "stage2_joint finished" in text, text

    stage1, stage2 = export_weights(reference), export_weights(out)
    moved = [name for name in stage1 if not torch.allclose(stage1[name], stage2[name], atol=1e-6)]
    assert not moved, f"stage 2 did not start from the stage-1 export: {moved[:5]}"


def test_pipeline_runs_stage1_stage2_caption_from_musicgen(slurm_cluster, tiny_shards, synthetic_corpus, tmp_path):
    """`bash slurm/pipeline.sh`: stage 1 from the corpus's tiny MusicGen, stage 2 and the caption stage each from
    the export before them, chained with afterok; all three complete with an export."""
    from slurm.jobs import CPU_ALLOCATION, REPO

    env = job_env(
        tiny_shards,
        synthetic_corpus,
        tmp_path / "unused",
        {**TINY_OVERRIDES, "steps": 2},
        UNIMUMO_RUNS=str(tmp_path / "runs"),
    )
    del env["UNIMUMO_OUT"]  # the pipeline names the run directories
    done = subprocess.run(
        ["bash", "slurm/pipeline.sh", *CPU_ALLOCATION, "--time=20", f"--output={tmp_path}/%x-%j.log"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    jobs = [line.split()[2] for line in done.stdout.splitlines()]
    starts = {
        "stage1_motion": ("stage1", synthetic_corpus / "models" / "musicgen"),
        "stage2_joint": ("stage2", tmp_path / "runs" / "stage1_motion" / "export"),
        "caption": ("caption", tmp_path / "runs" / "stage2_joint" / "export"),
    }
    for job, (stage, (name, start)) in zip(jobs, starts.items()):
        log = tmp_path / f"unimumo-{name}-{job}.log"  # --output=%x-%j.log
        text = assert_completed(job, wait_for_job(job, log, timeout_s=900), log)
        assert f"--init-from {start}" in text and f"{stage} finished" in text, text
        assert (tmp_path / "runs" / stage / "export" / "config.json").is_file()
