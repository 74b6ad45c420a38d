"""unimumo.launch without a cluster: the submitted callable's environment and arguments (submitit's
in-process "debug" executor, trainer replaced by a recorder), validation, and the unimumo-submit CLI
(unimumo.cli.submit)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import unimumo.train
from unimumo import launch
from unimumo.cli import submit as submit_cli
from unimumo.constants import REQUEUE_EXIT_CODE

DIST_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "DS_ACCELERATOR")


@pytest.fixture
def recorded_runs(monkeypatch):
    """Replace unimumo.train.run by a recorder; restore the distributed variables the job sets."""
    for name in DIST_VARS:
        monkeypatch.delenv(name, raising=False)
    calls = []

    def fake_run(recipe, **overrides):
        calls.append({"recipe": recipe, "overrides": overrides, "env": {k: os.environ.get(k) for k in DIST_VARS}})
        return {"status": "completed", "exit_code": 0, "step": 3}

    monkeypatch.setattr(unimumo.train, "run", fake_run)
    return calls


def test_debug_job_runs_the_trainer_with_recipe_paths_and_rank_environment(recorded_runs, tmp_path):
    job = launch.submit(
        "stage2_joint",
        out=tmp_path / "run",
        shards=tmp_path / "shards",
        text_model="/m/t5",
        init_from=tmp_path / "s1" / "export",
        ds_config="zero3",
        overrides={"optim.lr": 1e-4},
        gpus_per_node=0,
        cluster="debug",
        folder=tmp_path / "logs",
    )
    assert job.result() == {"status": "completed", "exit_code": 0, "step": 3}
    (call,) = recorded_runs
    assert call["recipe"] == "stage2_joint"
    assert call["overrides"] == {
        "out": str(tmp_path / "run"),
        "optim.lr": 1e-4,
        "data.shards": str(tmp_path / "shards"),
        "text_model": "/m/t5",
        "init_from": str(tmp_path / "s1" / "export"),
        "ds_config": "zero3",
        "resume": True,
    }
    env = call["env"]
    assert (env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"], env["DS_ACCELERATOR"]) == ("0", "1", "0", "cpu")
    assert env["MASTER_ADDR"] and 20000 <= int(env["MASTER_PORT"]) < 40000


def test_the_stages_chain_through_init_from_musicgen_then_exports(recorded_runs, tmp_path):
    """stage 1 from a MusicGen directory (musicgen=), stage 2 and the caption stage from the export before them."""
    starts = {
        "stage1_motion": {"musicgen": "/m/musicgen"},
        "stage2_joint": {"init_from": "/runs/s1/export"},
        "caption": {"init_from": "/runs/s2/export"},
    }
    for recipe, start in starts.items():
        launch.submit(
            recipe, out=tmp_path / recipe, gpus_per_node=0, cluster="debug", folder=tmp_path / "logs", **start
        ).result()
    assert [(call["recipe"], call["overrides"]["init_from"]) for call in recorded_runs] == [
        ("stage1_motion", "/m/musicgen"),
        ("stage2_joint", "/runs/s1/export"),
        ("caption", "/runs/s2/export"),
    ]
    with pytest.raises(ValueError, match="init_from or musicgen, not both"):
        launch.submit("stage1_motion", out=tmp_path, musicgen="/a", init_from="/b", cluster="debug", folder=tmp_path)


def test_preempted_run_outside_slurm_returns_its_summary(recorded_runs, tmp_path, monkeypatch):
    preempted = {"status": "preempted", "exit_code": REQUEUE_EXIT_CODE, "step": 5}
    monkeypatch.setattr(unimumo.train, "run", lambda recipe, **overrides: preempted)
    job = launch.submit("stage1_motion", out=tmp_path / "run", gpus_per_node=0, cluster="debug", folder=tmp_path)
    assert job.result() == preempted


def test_rendezvous_port_is_stable_per_job_and_in_range():
    assert launch.rendezvous_port("123") == launch.rendezvous_port("123") == 20123
    assert 20000 <= launch.rendezvous_port("4567_12") < 40000


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cluster": "kubernetes"}, "cluster must be one of"),
        ({"nodes": 0}, "nodes >= 1"),
        ({"overrides": {"optim.lrr": 1}}, "unknown recipe key 'optim.lrr'"),
        ({"overrides": {"steps": "many"}}, "steps: expected int"),
    ],
)
def test_invalid_submissions_are_refused(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        launch.submit("stage1_motion", out=tmp_path, folder=tmp_path, **kwargs)


def test_cli_help_explains_the_launcher():
    done = subprocess.run(
        [str(Path(sys.executable).with_name("unimumo-submit")), "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    for text in ("requeues itself", "--gpus-per-node", "--cluster {slurm,local,debug}", "--set KEY=VALUE"):
        assert text in done.stdout


def test_cli_submits_and_waits(recorded_runs, tmp_path, capsys):
    code = submit_cli.main(
        [
            "--recipe",
            "stage1_motion",
            "--out",
            str(tmp_path / "run"),
            "--shards",
            "/s",
            "--set",
            "steps=7",
            "--cluster",
            "debug",
            "--gpus-per-node",
            "0",
            "--folder",
            str(tmp_path / "logs"),
            "--wait",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "submitted job" in printed and "'status': 'completed'" in printed
    assert recorded_runs[0]["overrides"]["steps"] == "7" and recorded_runs[0]["overrides"]["data.shards"] == "/s"


def test_cli_rejects_a_malformed_override(capsys):
    with pytest.raises(SystemExit):
        submit_cli.main(["--recipe", "stage1_motion", "--out", "x", "--set", "steps"])
    assert "--set expects key=value" in capsys.readouterr().err
