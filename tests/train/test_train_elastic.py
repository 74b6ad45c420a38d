"""Elastic resume: a checkpoint written by N ranks continues on M ranks (real DeepSpeed, CPU, gloo).

A finished run is rolled back to an intermediate checkpoint (its `latest` pointer moved back and the
later checkpoints deleted: what a kill right after that checkpoint leaves) and resumed on another
world size with the same global batch. The learning rate must equal the uninterrupted run's at every
step; frozen weights stay bit-identical; the universal copy is written once and reused. Exactly-once
data within the epoch is pinned by tests/loader/test_loader.py (test_resharding_*). The streamed export of
these checkpoints (ZeRO-3, and ZeRO-1/2 with frozen weights) holds exactly DeepSpeed's own consolidation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from testkit.training_runs import free_port
from unimumo.train import checkpoint as ckpt

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
# tiny preset and random init explicitly: the defaults are MusicGen-small / pretrained weights
SETTINGS = {
    "data.window_s": 0.48,
    "data.micro_batch": 2,
    "data.shuffle_buffer": 8,
    "data.num_workers": 0,
    "data.global_batch": 4,
    "schedule.warmup_steps": 2,
    "log.every": 1,
    "log.progress_bar": "false",
    "model.config.dropout": 0,
    "model.config.condition_dropout": 0,
    "seed": 3,
    "model.preset": "tiny",
    "init.random": "true",
    "steps": 8,
    "checkpoint.every": 2,
    "checkpoint.keep": 10,
}
# The resumed run sees other samples per step than the uninterrupted one (another split of the shards),
# so its losses differ by the sample-to-sample spread. Weights are identical at the resume point and the
# lr is <= 5e-5 for 4 steps, so each stream's cross-entropy stays near its value in the uninterrupted run:
# these tiny random models sit at ln(2048) ~ 7.6 +- 0.05 per batch, hence a 2% relative bound.
LOSS_RTOL = 0.02


@pytest.fixture(scope="module")
def shards(synthetic_corpus, tmp_path_factory) -> dict:
    from unimumo.cli.shards import main
    from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv

    out = tmp_path_factory.mktemp("elastic_shards") / "shards"
    assert main(build_argv(synthetic_corpus, out, "train", *TINY_SHARDS_ARGS)) == 0
    return {"data.shards": str(out), "text_model": str(synthetic_corpus / "models" / "t5")}


def train(ranks: int, recipe: str, zero: str, out: Path, shards: dict, *extra: str) -> str:
    """torchrun `ranks` processes of unimumo-train; returns the log."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu", PYTHONUNBUFFERED="1")
    cmd = [
        TORCHRUN,
        "--nproc_per_node",
        str(ranks),
        "--master_port",
        str(free_port()),
        "-m",
        "unimumo.cli.train",
        "--recipe",
        recipe,
        "--out",
        str(out),
        "--ds-config",
        zero,
        *extra,
    ]
    for key, value in {**SETTINGS, **shards}.items():
        cmd += ["--set", f"{key}={value}"]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done.stdout + done.stderr


def roll_back(run: Path, copy: Path, step: int) -> None:
    """`copy` = `run` as a kill right after the step-`step` checkpoint leaves it."""
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "export")
    for path in (copy / "checkpoints").iterdir():
        if path.is_dir() and ckpt.step_of(path.name) > step:
            shutil.rmtree(path)
    (copy / "checkpoints" / ckpt.LATEST).write_text(ckpt.tag_for(step) + "\n")


def metrics(out: Path) -> dict[int, dict]:
    return {line["step"]: line for line in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())}


def assert_continues(whole: Path, resumed: Path, from_step: int) -> None:
    expected, got = metrics(whole), metrics(resumed)
    assert sorted(got) == sorted(expected) == list(range(1, SETTINGS["steps"] + 1))
    assert [got[s]["lr"] for s in got] == [expected[s]["lr"] for s in got]  # the same float schedule: exact
    for step in range(1, from_step + 1):  # kept from before the interruption
        assert got[step]["loss"] == expected[step]["loss"]
    for step in range(from_step + 1, SETTINGS["steps"] + 1):
        terms = [term for term in ("loss/music", "loss/motion") if term in expected[step]]  # the trained streams
        assert terms
        for term in terms:
            np.testing.assert_allclose(got[step][term], expected[step][term], rtol=LOSS_RTOL, err_msg=f"{step} {term}")
    assert got[SETTINGS["steps"]]["skipped_steps"] == expected[SETTINGS["steps"]]["skipped_steps"] == 0


def load_export(path: Path) -> dict[str, torch.Tensor]:
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    return UniMuMoForConditionalGeneration.from_pretrained(path).state_dict()


def assert_export_is_deepspeeds_consolidation(checkpoint: Path, out: Path) -> None:
    """`export_checkpoint` (streamed, here into 1 MiB shards + index) = zero_to_fp32's state dict loaded into
    the model (ZeRO-1/2: what it lacks from the module state). The same fp32 values copied: bitwise."""
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint
    from transformers import AutoModel

    import unimumo  # noqa: F401  (registers the Auto classes)
    from unimumo.train.export import INDEX, export_checkpoint
    from unimumo.train.model_factory import rebuild

    root, tag = ckpt.resolve(checkpoint)
    state = get_fp32_state_dict_from_zero_checkpoint(str(root), tag=tag)
    if (root / tag / "mp_rank_00_model_states.pt").is_file():
        module = torch.load(root / tag / "mp_rank_00_model_states.pt", weights_only=False)["module"]
        state.update({k: v for k, v in module.items() if k not in state})
    model = rebuild(ckpt.read_meta(root, tag))
    model.load_state_dict(state, strict=False)
    export_checkpoint(checkpoint, out, max_shard_bytes=2**20)
    assert (out / INDEX).is_file() and len(list(out.glob("model-*-of-*.safetensors"))) > 1
    exported, expected = AutoModel.from_pretrained(out).state_dict(), model.state_dict()
    assert exported.keys() == expected.keys()
    assert not [name for name in expected if not torch.equal(exported[name], expected[name])]


def test_zero3_checkpoint_of_two_ranks_resumes_on_one_and_exports(shards, tmp_path):
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    train(2, "stage2_joint", "zero3", whole, shards)
    assert_export_is_deepspeeds_consolidation(whole / "checkpoints" / "global_step4", tmp_path / "export_step4")
    roll_back(whole, resumed, 4)
    log = train(1, "stage2_joint", "zero3", resumed, shards, "--resume")
    assert "resumed from step 4, re-sharded from 2 to 1 ranks" in log
    assert_continues(whole, resumed, 4)
    universal = resumed / "checkpoints" / "global_step4" / ckpt.UNIVERSAL
    assert (universal / "zero").is_dir()
    assert json.loads((resumed / "checkpoints" / "global_step8" / ckpt.META).read_text())["world_size"] == 1
    final = load_export(resumed / "export")
    assert final.keys() == load_export(whole / "export").keys()

    # the universal copy is reused: resuming the step-4 checkpoint again does not convert it again
    again = tmp_path / "again"
    roll_back(resumed, again, 4)
    stamp = (again / "checkpoints" / "global_step4" / ckpt.UNIVERSAL / "zero").stat().st_mtime_ns
    log = train(1, "stage2_joint", "zero3", again, shards, "--resume")
    assert "re-sharded from 2 to 1 ranks" in log
    assert (again / "checkpoints" / "global_step4" / ckpt.UNIVERSAL / "zero").stat().st_mtime_ns == stamp
    assert all(torch.equal(value, final[name]) for name, value in load_export(again / "export").items())


# ZeRO-1 lists frozen weights only in the module state; bf16 keeps them (and the module) in bf16
@pytest.mark.parametrize("zero, precision", [("zero2", "fp32"), ("zero1", "bf16")])
def test_stage1_with_frozen_weights_on_one_rank_resumes_on_two(zero, precision, shards, tmp_path):
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    train(1, "stage1_motion", zero, whole, shards, "--set", f"precision={precision}")
    roll_back(whole, resumed, 2)
    assert_export_is_deepspeeds_consolidation(whole / "checkpoints" / "global_step2", tmp_path / "export_step2")
    log = train(2, "stage1_motion", zero, resumed, shards, "--resume", "--set", f"precision={precision}")
    assert "resumed from step 2, re-sharded from 1 to 2 ranks" in log
    assert "x 2 ranks x 1 accumulation" in log  # the global batch stays 4: accumulation 2 -> 1
    assert_continues(whole, resumed, 2)

    from unimumo.train.stages import STAGES, build_recipe, seed_all

    recipe = build_recipe("stage1_motion", {**SETTINGS, **shards, "out": "unused"})
    seed_all(recipe.seed)
    initial = STAGES[recipe.name].model(recipe)
    final = load_export(resumed / "export")
    # bf16 training holds the frozen weights rounded to bf16 (exactly; the export widens them back exactly)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    for name, value in initial.named_parameters():
        if initial.parameter_group(name) != "motion":
            assert torch.equal(value.detach().to(dtype), final[name].to(dtype)), f"frozen {name} changed"


def test_a_global_batch_the_new_world_size_cannot_divide_names_the_values_that_work():
    from unimumo.train.engine import accumulation_for
    from unimumo.train.recipes import RecipeError
    from unimumo.train.stages import build_recipe

    recipe = build_recipe(
        "stage2_joint",
        {
            "data.global_batch": 12,
            "data.micro_batch": 2,
            "out": "unused",
            "model.preset": "tiny",
            "data.shards": "unused",
            "text_model": "unused",
        },
    )
    assert accumulation_for(recipe, 3) == 2
    with pytest.raises(
        RecipeError,
        match=r"world sizes \[1, 2, 3, 6\] work with data.micro_batch=2; "
        r"with 4 ranks data.micro_batch can be \[1, 3\]",
    ):
        accumulation_for(recipe, 4)
