"""The validation pass during training: real DeepSpeed on 2 CPU ranks (gloo, DS_ACCELERATOR=cpu), tiny models.

- stage2_joint: a validation line every `validation.every` steps and at the last step, per stream and per task,
  in metrics.jsonl and TensorBoard; every rank ends with the same best value, and the logged loss is the mean over
  both ranks' held-out batches (recomputed here from the best/ weights); best/ is the step with the lowest
  val/loss in metrics.jsonl and holds that step's checkpoint weights; a best/ lost after its checkpoint is
  exported again on resume.
- a run SIGKILLed after its best step and resumed keeps that best (the checkpoint carries it), then stops early
  where the uninterrupted run's curve says the patience runs out, "completed" with the reason.
- motion_vqvae validates on held-out raw motion: MPJPE in mm, the same as motion.reconstruction_error computes;
  the caption stage validates its caption loss (under ZeRO-3); a val split with fewer shards than ranks is read
  whole by every rank; training (with dropout) is the same with or without validation.
- bad validation settings are refused at start-up naming the key.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from testkit.training_runs import NO_DROPOUT, TINY_RECIPE, free_port, train_one_process

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
RUNNER = """import json, os, sys
from unimumo.train import run
result = run(sys.argv[1], **json.loads(sys.argv[2]))
print("RESULT", os.environ["RANK"], json.dumps(result), flush=True)
"""
TINY = {**TINY_RECIPE, **NO_DROPOUT, "data.global_batch": 4, "ds_config": "zero2"}
# a learning rate far too high: the held-out loss jumps about, so some pass does not improve on the ones before
CURVE = {
    **TINY,
    "steps": 11,
    "optim.lr": 5e-2,
    "schedule.decay": "constant",
    "validation.every": 2,
    "validation.batches": 2,
    "checkpoint.every": 1000,
    "checkpoint.keep": 10,
}
PATIENCE = 1  # the pass after the best that does not improve ends the run


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu", PYTHONUNBUFFERED="1")
    return env


def launch(recipe: str, out: Path, settings: dict) -> subprocess.Popen:
    """`unimumo.train.run(recipe, **settings)` on 2 ranks under torchrun; each rank prints its run summary."""
    script = out.parent / "run_validation.py"
    script.write_text(RUNNER)
    cmd = [
        TORCHRUN,
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        str(script),
        recipe,
        json.dumps({**settings, "out": str(out)}),
    ]
    log = open(out.parent / f"{out.name}.log", "a")
    return subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def train(recipe: str, out: Path, settings: dict) -> dict[int, dict]:
    """Run to the end; rank -> its run summary."""
    code = launch(recipe, out, settings).wait(timeout=600)
    text = (out.parent / f"{out.name}.log").read_text()
    assert code == 0, f"torchrun exited {code}:\n{text[-5000:]}"
    results = [line.split(" ", 2) for line in text.splitlines() if line.startswith("RESULT ")]
    return {int(rank): json.loads(summary) for _, rank, summary in results}


def val_lines(out: Path) -> dict[int, dict]:
    """step -> the validation line of metrics.jsonl."""
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {line["step"]: line for line in lines if line.get("split") == "val"}


def early_stop(curve: dict[int, float], patience: int) -> tuple[int | None, int | None]:
    """(best step, step of the early stop) of a validation-loss curve, as early stopping reads it."""
    best, best_step, since = math.inf, None, 0
    for step in sorted(curve):
        if curve[step] < best:
            best, best_step, since = curve[step], step, 0
        else:
            since += 1
            if since >= patience:
                return best_step, step
    return best_step, None


def _latest_step(out: Path) -> int:
    pointer = out / "checkpoints" / "latest"
    return int(pointer.read_text().strip().removeprefix("global_step")) if pointer.is_file() else -1


@pytest.fixture(scope="module")
def lm(tiny_shards, synthetic_corpus) -> dict:
    """Settings of the LM stages on the tiny train/val/test shards."""
    return {"data.shards": str(tiny_shards), "text_model": str(synthetic_corpus / "models" / "t5")}


@pytest.fixture(scope="module")
def curve_run(lm, tmp_path_factory):
    """The uninterrupted stage2_joint run with a validation pass every 2 steps: (out, per-rank summaries)."""
    out = tmp_path_factory.mktemp("validation") / "whole"
    return out, train("stage2_joint", out, {**lm, **CURVE})


def _held_out_means(recipe_settings: dict, model, world_size: int = 2) -> dict[str, float]:
    """Means of each loss term over every rank's held-out batches, recomputed in this process from `model`."""
    from unimumo.train.stages import STAGES, build_recipe
    from unimumo.train.validation import held_out_stream

    recipe = build_recipe("stage2_joint", {**recipe_settings, "out": "unused"})
    stage = STAGES[recipe.name]
    objective = stage.objective(stage, recipe, torch.device("cpu"))
    sums: dict[str, list[float]] = {}
    model.eval()
    with torch.no_grad():
        for rank in range(world_size):
            stream = iter(held_out_stream(stage, recipe, rank, world_size, None))
            for index in range(recipe.validation.batches):
                batch = next(stream)
                output = model(**objective.inputs(batch, index))
                for name, (value, count) in objective.loss_terms(output, batch, with_tasks=True).items():
                    total = sums.setdefault(name, [0.0, 0])
                    total[0] += float(value)
                    total[1] += count
    return {name: total / count for name, (total, count) in sums.items() if count}


def test_validation_is_logged_reduced_over_ranks_and_best_is_the_lowest_step(curve_run, lm, tmp_path):
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration
    from unimumo.train.export import export_checkpoint

    out, results = curve_run
    lines = val_lines(out)
    assert sorted(lines) == [2, 4, 6, 8, 10, 11]  # every 2 steps and the last
    train_steps = [
        json.loads(line)["step"]
        for line in (out / "metrics.jsonl").read_text().splitlines()
        if "split" not in json.loads(line)
    ]
    assert train_steps == list(range(1, 12))  # training lines are as before
    for line in lines.values():
        for key in (
            "val/loss",
            "val/loss/music",
            "val/loss/motion",
            "val/loss/task/text2music_motion",
            "val/loss/task/music2motion",
            "val/loss/task/motion2music",
        ):
            assert line[key] is not None and np.isfinite(line[key]), key
    curve = {step: line["val/loss"] for step, line in lines.items()}
    best_step = min(curve, key=curve.get)

    # every rank holds the same reduced values; best/ records the lowest step of metrics.jsonl
    assert sorted(results) == [0, 1]
    for rank, summary in results.items():
        assert summary["status"] == "completed" and "reason" not in summary, summary
        assert (summary["best_step"], summary["best_val_loss"]) == (best_step, curve[best_step]), rank
    record = json.loads((out / "best" / "unimumo_best.json").read_text())
    assert (record["step"], record["loss"], record["metric"]) == (best_step, curve[best_step], "val/loss")

    # best/ holds the weights of that step's checkpoint, not the final ones
    best = UniMuMoForConditionalGeneration.from_pretrained(out / "best")
    final = UniMuMoForConditionalGeneration.from_pretrained(out / "export").state_dict()
    export_checkpoint(out / "checkpoints" / f"global_step{best_step}", tmp_path / "step")
    at_best = UniMuMoForConditionalGeneration.from_pretrained(tmp_path / "step").state_dict()
    assert all(torch.equal(value, at_best[name]) for name, value in best.state_dict().items())
    if best_step != max(curve):
        assert any(not torch.equal(value, final[name]) for name, value in best.state_dict().items())

    # the logged values are the means over both ranks' held-out batches (each rank reads its own val shard)
    expected = _held_out_means({**lm, **CURVE}, best)
    for name, value in expected.items():
        assert lines[best_step][f"val/{name}"] == pytest.approx(value, rel=1e-5), name

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert [event.step for event in events.Scalars("val/loss")] == sorted(lines)

    # a best/ that does not hold the checkpoint's best step (a kill between the checkpoint and the export) is
    # exported again when the run resumes
    shutil.rmtree(out / "best")
    train("stage2_joint", out, {**lm, **CURVE, "resume": True})
    assert json.loads((out / "best" / "unimumo_best.json").read_text())["step"] == best_step
    again = UniMuMoForConditionalGeneration.from_pretrained(out / "best").state_dict()
    assert all(torch.equal(value, at_best[name]) for name, value in again.items())


def test_best_survives_a_killed_run_and_early_stopping_ends_it(curve_run, lm, tmp_path):
    whole, _ = curve_run
    curve = {step: line["val/loss"] for step, line in val_lines(whole).items()}
    best_step, stop_step = early_stop(curve, PATIENCE)
    assert stop_step is not None and best_step < stop_step, f"every pass improved on the ones before: {curve}"
    settings = {**lm, **CURVE, "validation.early_stop_patience": PATIENCE}

    out = tmp_path / "killed"
    proc = launch("stage2_joint", out, settings)
    deadline = time.time() + 300
    try:
        while _latest_step(out) < best_step:  # the checkpoint of the best step is written
            assert proc.poll() is None and time.time() < deadline, (out.parent / "killed.log").read_text()[-3000:]
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _latest_step(out)
    assert killed_at < stop_step, "the run stopped before it was killed"

    results = train("stage2_joint", out, {**settings, "resume": True})
    for summary in results.values():
        assert summary["status"] == "completed" and summary["step"] == stop_step, summary
        assert "early stop" in summary["reason"] and f"validation.early_stop_patience={PATIENCE}" in summary["reason"]
        assert summary["best_step"] == best_step
    lines = val_lines(out)
    assert sorted(lines) == [step for step in sorted(curve) if step <= stop_step]
    assert all(lines[step]["val/loss"] == curve[step] for step in lines)  # resumed exactly
    assert json.loads((out / "best" / "unimumo_best.json").read_text())["step"] == best_step
    assert (out / "export" / "config.json").is_file()
    assert max(json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()) == stop_step

    # resuming the stopped run trains no further
    again = train("stage2_joint", out, {**settings, "resume": True})
    assert {summary["step"] for summary in again.values()} == {stop_step}


def test_motion_vqvae_validates_reconstruction_error_in_mm(synthetic_corpus, tmp_path):
    from unimumo.models.motion_tokenizer import MotionTokenizer
    from unimumo.motion.reconstruction_error import feature_mpjpe_mm
    from unimumo.train.stages import STAGES, build_recipe
    from unimumo.train.validation import held_out_stream

    settings = {
        "data.aist": str(synthetic_corpus / "aist"),
        "data.humanml3d": str(synthetic_corpus / "humanml3d"),
        "steps": 4,
        "data.window_s": 1.6,
        "data.micro_batch": 2,
        "data.global_batch": 4,
        "optim.lr": 1e-3,
        "schedule.warmup_steps": 1,
        "log.every": 1,
        "checkpoint.every": 100,
        "log.progress_bar": False,
        "model.preset": "tiny",
        "validation.every": 2,
        "validation.batches": 2,
        "ds_config": "zero2",
    }
    out = tmp_path / "vq"
    results = train("motion_vqvae", out, settings)
    lines = val_lines(out)
    assert sorted(lines) == [2, 4]
    assert all(0 < line["val/mpjpe_mm"] < 1e5 and np.isfinite(line["val/loss/recon"]) for line in lines.values())
    best_step = results[0]["best_step"]
    assert best_step == min(lines, key=lambda step: lines[step]["val/loss"])

    # the logged MPJPE is the held-out windows' error in mm, as motion.reconstruction_error measures it
    model = MotionTokenizer.from_pretrained(out / "best").model.eval()
    recipe = build_recipe("motion_vqvae", {**settings, "out": "unused"})
    stats = (model.feature_mean.numpy(), model.feature_std.numpy())
    errors = []
    with torch.no_grad():
        for rank in range(2):
            train_like = type("TrainData", (), {"feature_stats": stats})
            stream = iter(held_out_stream(STAGES["motion_vqvae"], recipe, rank, 2, train_like))
            for _ in range(recipe.validation.batches):
                batch = next(stream)
                output = model(batch["features"], batch["mask"])
                assert (batch["mask"].sum(1) > 0).all()
                reference = feature_mpjpe_mm(
                    model.denormalize(output.reconstruction).numpy(),
                    model.denormalize(batch["features"]).numpy(),
                    batch["mask"].numpy(),
                )
                assert float(output.mpjpe_mm) == pytest.approx(reference, rel=1e-3)
                errors.append(float(output.mpjpe_mm))
    assert lines[best_step]["val/mpjpe_mm"] == pytest.approx(float(np.mean(errors)), rel=1e-4)


def test_caption_stage_validates_its_caption_loss_under_zero3(lm, tmp_path):
    """ZeRO-3 gathers the parameters in every forward: each rank runs the same held-out forwards in eval mode."""
    out = tmp_path / "caption"
    results = train(
        "caption", out, {**TINY, **lm, "ds_config": "zero3", "steps": 2, "validation.every": 1, "validation.batches": 2}
    )
    lines = val_lines(out)
    assert sorted(lines) == [1, 2]
    assert all(
        np.isfinite(line["val/loss/caption"]) and line["val/loss"] == line["val/loss/caption"]
        for line in lines.values()
    )
    lowest = min(line["val/loss"] for line in lines.values())
    assert results[0]["best_val_loss"] == results[1]["best_val_loss"] == lowest
    assert (out / "best" / "config.json").is_file()


def test_training_is_the_same_with_or_without_validation(lm, tmp_path):
    """The held-out pass reads its own stream and restores the random-number state: dropout draws do not shift."""
    settings = {**TINY_RECIPE, **lm, "steps": 3, "data.global_batch": 2, "model.config.dropout": 0.2}
    plain = train_one_process("stage2_joint", tmp_path / "plain", settings)
    validated = train_one_process("stage2_joint", tmp_path / "validated", {**settings, "validation.every": 1})
    assert [line["step"] for line in validated if line.get("split") == "val"] == [1, 2, 3]
    assert [line["loss"] for line in plain] == [line["loss"] for line in validated if "split" not in line]


def test_a_split_with_fewer_shards_than_ranks_is_read_whole_by_every_rank(lm):
    from unimumo.train.stages import STAGES, build_recipe
    from unimumo.train.validation import held_out_stream

    recipe = build_recipe("stage2_joint", {**TINY, **lm, "out": "unused", "validation.every": 1})
    stage = STAGES[recipe.name]
    first = [next(iter(held_out_stream(stage, recipe, rank, 4, None)))["keys"] for rank in range(4)]  # 2 val shards
    assert all(keys == first[0] for keys in first)
    split = [next(iter(held_out_stream(stage, recipe, rank, 2, None)))["keys"] for rank in range(2)]
    assert split[0] != split[1] and first[0] == split[0]


def test_bad_validation_settings_are_refused_naming_the_key(lm, tmp_path):
    from unimumo.train.recipes import RecipeError
    from unimumo.train.stages import STAGES, build_recipe
    from unimumo.train.validation import held_out_stream

    base = {**lm, "out": str(tmp_path), "model.preset": "tiny"}
    for overrides, key in (
        ({"validation.every": -1}, "validation.every"),
        ({"validation.batches": 0}, "validation.batches"),
        ({"validation.early_stop_patience": 3}, "validation.early_stop_patience"),
        ({"validation.every": 5, "validation.split": "train"}, "validation.split"),
    ):
        with pytest.raises(RecipeError, match=key):
            build_recipe("stage2_joint", {**base, **overrides})
    recipe = build_recipe("stage2_joint", {**base, "validation.every": 5, "validation.split": "dev"})
    with pytest.raises(RecipeError, match=r"validation.split: .*no shards for split 'dev'"):
        held_out_stream(STAGES["stage2_joint"], recipe, 0, 2, None)
