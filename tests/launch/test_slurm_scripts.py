"""slurm/*.sh on the real local cluster, with a stand-in `unimumo-train` that records how it was started.

The stand-in keeps these tests fast; tests/launch/test_slurm_training.py runs the same scripts with the real trainer.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from slurm.jobs import (  # noqa: F401
    CPU_ALLOCATION,
    REPO,
    assert_completed,
    clean_env,
    job_fields,
    read_log,
    sbatch,
    slurm_cluster,
    wait_for_job,
    wait_for_log_line,
)
from unimumo.constants import REQUEUE_EXIT_CODE

pytestmark = pytest.mark.slurm
SCRIPTS = sorted(str(path.relative_to(REPO)) for path in (REPO / "slurm").glob("*.sh"))  # every script parses

# Prints one line per rank (the UNIMUMO_* settings it reads from the environment, then its arguments). On the
# first run (restart 0) it exits with REQUEUE_EXIT_CODE at once when
# STUB_PREEMPT=now, or when it receives USR1 when STUB_PREEMPT=usr1 (like the trainer).
STUB_TRAIN = """#!/bin/bash
trap 'echo "stub-train rank=$SLURM_PROCID got USR1"; exit %(code)d' USR1
echo "stub-train rank=$SLURM_PROCID/$SLURM_NTASKS restart=${SLURM_RESTART_COUNT:-0} \
master=$MASTER_ADDR:$MASTER_PORT accel=${DS_ACCELERATOR:-} omp=$OMP_NUM_THREADS \
env=[shards=${UNIMUMO_SHARDS:-} text_model=${UNIMUMO_TEXT_MODEL:-} ds_config=${UNIMUMO_DS_CONFIG:-} \
overrides=${UNIMUMO_OVERRIDES:-}] args=$*"
[ "${SLURM_RESTART_COUNT:-0}" = 0 ] || exit 0
case "${STUB_PREEMPT:-}" in
  now) exit %(code)d ;;
  usr1) for _ in $(seq 600); do sleep 0.1; done ;;
esac
"""


@pytest.fixture
def stub_venv(tmp_path):
    """A 'virtualenv' whose activate puts the stand-in trainer first on PATH (and the real python next)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    train = venv / "bin" / "unimumo-train"
    train.write_text(STUB_TRAIN % {"code": REQUEUE_EXIT_CODE})
    train.chmod(0o755)
    (venv / "bin" / "activate").write_text(f'export PATH="{venv / "bin"}:{Path(sys.executable).parent}:$PATH"\n')
    return venv


def run_stub_job(script, tmp_path, stub_venv, *args, env=None, timeout_s=180):
    log = tmp_path / "job.log"
    job_env = clean_env(
        UNIMUMO_VENV=str(stub_venv), UNIMUMO_SHARDS="/data/shards", UNIMUMO_RUNS=str(tmp_path / "runs"), **(env or {})
    )
    job = sbatch(*CPU_ALLOCATION, f"--output={log}", script, *args, env=job_env)
    return job, wait_for_job(job, log, timeout_s=timeout_s), log


def stub_lines(text):
    return [line for line in text.splitlines() if line.startswith("stub-train")]


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_parse(script):
    done = subprocess.run(["bash", "-n", script], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_header_defaults_are_multi_node_gpu_and_overridable(slurm_cluster):
    """#SBATCH values are defaults: sbatch flags and SBATCH_* variables override them (held jobs, never run)."""
    without_nodes = [flag for flag in CPU_ALLOCATION if not flag.startswith("--nodes")]
    held = sbatch("--hold", *without_nodes, "slurm/stage2_joint.sh")
    flagged = sbatch("--hold", *CPU_ALLOCATION, "--time=00:10:00", "--job-name=mine", "slurm/stage2_joint.sh")
    by_env = sbatch(
        "--hold", *CPU_ALLOCATION, "slurm/stage1_motion.sh", env=clean_env(SBATCH_TIMELIMIT="7", SBATCH_NO_REQUEUE="1")
    )
    try:
        defaults = job_fields(held)
        assert defaults["JobName"] == "unimumo-stage2" and defaults["NumNodes"] == "2-2"
        assert defaults["TimeLimit"] == "2-00:00:00" and defaults["Requeue"] == "1"
        assert defaults["StdOut"] == str(REPO / f"slurm/logs/unimumo-stage2-{held}.out")
        flags = job_fields(flagged)
        assert (flags["JobName"], flags["NumNodes"], flags["TimeLimit"]) == ("mine", "1-1", "00:10:00")
        assert (flags["NumTasks"], flags["CPUs/Task"]) == ("2", "1")
        from_env = job_fields(by_env)
        assert (from_env["TimeLimit"], from_env["Requeue"]) == ("00:07:00", "0")
    finally:
        subprocess.run(["scancel", held, flagged, by_env])


def test_stage1_starts_one_rank_per_task_with_environment_settings(slurm_cluster, tmp_path, stub_venv):
    job, fields, log = run_stub_job(
        "slurm/stage1_motion.sh",
        tmp_path,
        stub_venv,
        "--set",
        "log.every=5",
        env={
            "UNIMUMO_OVERRIDES": "steps=3 optim.lr=1e-4",
            "UNIMUMO_TEXT_MODEL": "/m/t5",
            "UNIMUMO_DS_CONFIG": "zero1",
            "UNIMUMO_MUSICGEN": "/m/musicgen",
        },
    )
    text = assert_completed(job, fields, log)
    lines = stub_lines(text)
    assert sorted(line.split()[1] for line in lines) == ["rank=0/2", "rank=1/2"], text
    out = tmp_path / "runs" / "stage1_motion"
    # unimumo-train reads the UNIMUMO_* settings itself (unimumo.train.flags); the script passes what it decides
    expected_env = "env=[shards=/data/shards text_model=/m/t5 ds_config=zero1 overrides=steps=3 optim.lr=1e-4]"
    expected_args = f"args=--recipe stage1_motion --out {out} --resume --init-from /m/musicgen --set log.every=5"
    assert all(line.endswith(f"{expected_env} {expected_args}") for line in lines), text
    host = subprocess.run(["hostname", "-s"], capture_output=True, text=True).stdout.strip()
    assert len({line.split()[3] for line in lines}) == 1 and f"master={host}:" in lines[0], text
    assert "accel=cpu omp=1" in lines[0], text
    assert "[unimumo-slurm] stage1_motion finished" in text, text


def test_requeue_exit_code_requeues_the_job_which_then_completes(slurm_cluster, tmp_path, stub_venv):
    job, fields, log = run_stub_job("slurm/stage1_motion.sh", tmp_path, stub_venv, env={"STUB_PREEMPT": "now"})
    text = assert_completed(job, fields, log)
    assert fields["Restarts"] == "1", text
    assert "requeueing job" in text, text
    restarts = sorted(line.split()[2] for line in stub_lines(text))
    assert restarts == ["restart=0", "restart=0", "restart=1", "restart=1"], text


def test_usr1_sent_to_the_batch_shell_is_forwarded_to_every_rank(slurm_cluster, tmp_path, stub_venv):
    """--signal=B:USR1 or scancel --batch signal only the batch shell; it must pass USR1 on through srun."""
    log = tmp_path / "job.log"
    env = clean_env(UNIMUMO_VENV=str(stub_venv), UNIMUMO_RUNS=str(tmp_path / "runs"), STUB_PREEMPT="usr1")
    job = sbatch(*CPU_ALLOCATION, f"--output={log}", "slurm/stage1_motion.sh", env=env)
    wait_for_log_line(job, log, "restart=0", count=2)
    subprocess.run(["scancel", "--batch", "--signal=USR1", job], check=True, timeout=30)
    text = assert_completed(job, wait_for_job(job, log, timeout_s=180), log)
    assert "rank=0 got USR1" in text and "rank=1 got USR1" in text and "requeueing job" in text, text


def test_stage2_inits_from_the_stage1_export_by_default(slurm_cluster, tmp_path, stub_venv):
    export = tmp_path / "runs" / "stage1_motion" / "export"
    export.mkdir(parents=True)
    (export / "config.json").write_text("{}")
    job, fields, log = run_stub_job("slurm/stage2_joint.sh", tmp_path, stub_venv)
    text = assert_completed(job, fields, log)
    assert all(
        f"--out {tmp_path}/runs/stage2_joint --resume" in line and line.endswith(f"--init-from {export}")
        for line in stub_lines(text)
    ), text


def test_stage2_without_a_stage1_export_fails_with_a_clear_message(slurm_cluster, tmp_path, stub_venv):
    job, fields, log = run_stub_job("slurm/stage2_joint.sh", tmp_path, stub_venv)
    assert fields["JobState"] == "FAILED", read_log(log)
    assert f"no stage-1 export at {tmp_path}/runs/stage1_motion/export" in read_log(log)
    assert not stub_lines(read_log(log))


def test_caption_stage_inits_from_the_stage2_export_by_default(slurm_cluster, tmp_path, stub_venv):
    export = tmp_path / "runs" / "stage2_joint" / "export"
    export.mkdir(parents=True)
    (export / "config.json").write_text("{}")
    job, fields, log = run_stub_job("slurm/stage3_caption.sh", tmp_path, stub_venv)
    text = assert_completed(job, fields, log)
    lines = stub_lines(text)
    assert lines and all(
        "--recipe caption" in line
        and f"--out {tmp_path}/runs/caption --resume" in line
        and line.endswith(f"--init-from {export}")
        for line in lines
    ), text


def test_caption_stage_without_a_stage2_export_fails_with_a_clear_message(slurm_cluster, tmp_path, stub_venv):
    job, fields, log = run_stub_job("slurm/stage3_caption.sh", tmp_path, stub_venv)
    assert fields["JobState"] == "FAILED", read_log(log)
    assert f"no stage-2 export at {tmp_path}/runs/stage2_joint/export" in read_log(log)


def test_pipeline_chains_stage1_stage2_caption_with_afterok(slurm_cluster, tmp_path):
    musicgen = tmp_path / "musicgen"
    musicgen.mkdir()
    (musicgen / "config.json").write_text("{}")
    done = subprocess.run(
        ["bash", "slurm/pipeline.sh", "--hold", *CPU_ALLOCATION],
        cwd=REPO,
        env=clean_env(UNIMUMO_RUNS=str(tmp_path), UNIMUMO_MUSICGEN=str(musicgen)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    stage1, stage2, caption = (line.split()[2] for line in done.stdout.splitlines())
    try:
        assert job_fields(stage1)["JobName"] == "unimumo-stage1"
        second, third = job_fields(stage2), job_fields(caption)
        assert second["JobName"] == "unimumo-stage2" and second["Dependency"] == f"afterok:{stage1}(unfulfilled)"
        assert third["JobName"] == "unimumo-caption" and third["Dependency"] == f"afterok:{stage2}(unfulfilled)"
    finally:
        subprocess.run(["scancel", stage1, stage2, caption])


def test_pipeline_without_a_musicgen_refuses_before_submitting(tmp_path):
    done = subprocess.run(
        ["bash", "slurm/pipeline.sh"],
        cwd=REPO,
        env=clean_env(UNIMUMO_RUNS=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "set UNIMUMO_MUSICGEN" in done.stderr, done.stderr
