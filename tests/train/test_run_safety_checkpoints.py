"""Checkpoints that survive mistakes (issue 25, findings 2, 4, 5, 6, 7): real `unimumo-train` runs (one CPU
process, DeepSpeed ZeRO-2 unless said otherwise) on real shards, damaged by hand the way users damage them.

- resume finds checkpoints by scanning the step directories: a missing or damaged `latest` resumes, and a
  run never deletes a checkpoint it did not write (a run without --resume refuses the directory);
- each file's size and sha256 are in the meta file: a damaged or truncated newest checkpoint falls back to
  the one before it with a warning naming the file (the damaged one is moved aside, not deleted);
- a checkpoint of another model or ZeRO stage, a full disk during a save and the stop for non-finite losses
  each end in one line; after that stop the last checkpoint whose weights gave a finite loss is there,
  even with checkpoint.keep=1;
- export and resume never unpickle code: a crafted checkpoint file is refused before anything runs, and
  `model_class` comes from a fixed table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.training_runs import free_port
from unimumo.train import checkpoint as ckpt

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TINY = {
    "model.preset": "tiny",
    "data.window_s": 0.48,
    "data.micro_batch": 2,
    "data.global_batch": 2,
    "data.shuffle_buffer": 8,
    "schedule.warmup_steps": 2,
    "log.every": 1,
    "log.progress_bar": "false",
    "data.num_workers": 0,
    "seed": 3,
    "model.config.dropout": 0,
}
BASE = {"steps": 6, "checkpoint.every": 2, "checkpoint.keep": 3}


@pytest.fixture(scope="module")
def corpus_shards(synthetic_corpus, tmp_path_factory):
    from unimumo.cli.shards import main
    from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv

    out = tmp_path_factory.mktemp("safety_shards") / "shards"
    assert main(build_argv(synthetic_corpus, out, "train", *TINY_SHARDS_ARGS)) == 0
    return out, synthetic_corpus / "models" / "t5"


def train(
    data, out: Path, settings: dict, *extra: str, ds_config: str = "zero2", recipe: str = "stage2_joint"
) -> subprocess.CompletedProcess:
    """`unimumo-train --recipe RECIPE` in one CPU process (tiny model); returns the finished process."""
    shards, t5 = data
    cmd = [
        sys.executable,
        "-m",
        "unimumo.cli.train",
        "--recipe",
        recipe,
        "--out",
        str(out),
        "--shards",
        str(shards),
        "--text-model",
        str(t5),
        "--ds-config",
        ds_config,
        *extra,
    ]
    for key, value in {**TINY, **settings}.items():
        cmd += ["--set", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu", MASTER_PORT=str(free_port()))
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout + done.stderr


def one_line_error(done: subprocess.CompletedProcess, code: int = 2) -> str:
    """The last stderr line of a run that failed with `code` and printed no traceback."""
    assert done.returncode == code, done.stdout[-2000:] + done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    return done.stderr.strip().splitlines()[-1]


def steps_dirs(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "checkpoints").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def base_run(corpus_shards, tmp_path_factory) -> Path:
    """A finished run with checkpoints global_step2, 4 and 6 (keep=3)."""
    out = tmp_path_factory.mktemp("base") / "run"
    ok(train(corpus_shards, out, BASE))
    assert steps_dirs(out) == ["global_step2", "global_step4", "global_step6"]
    return out


def copy_of(run: Path, tmp_path: Path) -> Path:
    out = shutil.copytree(run, tmp_path / "run")
    shutil.rmtree(out / "export")
    return out


def metric_steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("pointer", [None, "global_step99\n", "\x00garbage"], ids=["missing", "dangling", "garbage"])
def test_resume_without_a_usable_latest_continues_from_the_newest_checkpoint(
    base_run, corpus_shards, tmp_path, pointer
):
    out = copy_of(base_run, tmp_path)
    latest = out / "checkpoints" / ckpt.LATEST
    latest.unlink()
    if pointer is not None:
        latest.write_text(pointer)
    log = ok(train(corpus_shards, out, {**BASE, "steps": 8}, "--resume"))
    assert "resumed from step 6" in log and "starting fresh" not in log
    assert steps_dirs(out) == ["global_step4", "global_step6", "global_step8"]  # nothing of the run's lost
    assert metric_steps(out) == list(range(1, 9))
    assert latest.read_text() == "global_step8\n"


def test_changed_optimizer_settings_on_resume_apply_from_the_first_resumed_step(base_run, corpus_shards, tmp_path):
    """The restored scheduler and optimizer hold the checkpoint's base lr, betas, eps and weight decay; the
    recipe's must win from the first resumed step, with the schedule's position kept. The base run's schedule
    ended at step 6; both resumed runs follow the 8-step one from step 7 on, one at a peak of 0.3 x (not a power
    of two) with other betas, eps and weight decay."""
    from unimumo.train.stages import STAGES

    peak = STAGES["stage2_joint"].recipe().optim.lr
    same = copy_of(base_run, tmp_path / "same")
    assert "changed on resume" not in ok(train(corpus_shards, same, {**BASE, "steps": 8}, "--resume"))
    lower = copy_of(base_run, tmp_path / "lower")
    changed = {"optim.lr": peak * 0.3, "optim.betas": "0.8,0.9", "optim.eps": 1e-6, "optim.weight_decay": 0.05}
    log = ok(train(corpus_shards, lower, {**BASE, "steps": 8, **changed}, "--resume"))
    assert f"changed on resume: optim.lr {peak:g} -> {peak * 0.3:g}" in log
    assert "changed on resume: optim.betas (0.9, 0.95) -> (0.8, 0.9)" in log
    assert "changed on resume: optim.eps 1e-08 -> 1e-06" in log
    assert "changed on resume: optim.weight_decay 0.1 -> 0.05" in log

    def rows(out: Path) -> dict[int, dict]:
        return {row["step"]: row for row in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())}

    kept, moved = rows(same), rows(lower)
    assert [moved[step] for step in range(1, 7)] == [kept[step] for step in range(1, 7)]  # the base run's lines
    scaled = [kept[step]["lr"] * (peak * 0.3) / peak for step in (7, 8)]
    assert [moved[step]["lr"] for step in (7, 8)] == pytest.approx(scaled, rel=1e-12)
    assert kept[7]["lr"] > kept[6]["lr"]  # the 8-step cosine at step 6 is above the 6-step one's floor: the new shape


def test_a_run_without_resume_refuses_a_directory_that_holds_checkpoints(base_run, corpus_shards, tmp_path):
    out = copy_of(base_run, tmp_path)
    (out / "checkpoints" / ckpt.LATEST).unlink()
    before = {p: p.stat().st_mtime_ns for p in (out / "checkpoints").rglob("*")}
    line = one_line_error(train(corpus_shards, out, BASE))
    assert "holds checkpoints of an earlier run (newest global_step6)" in line and "--resume" in line
    assert {p: p.stat().st_mtime_ns for p in (out / "checkpoints").rglob("*")} == before


def _overwrite_4k(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        handle.write(b"\xa5" * 4096)


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 3)


@pytest.mark.parametrize(
    "damage, name",
    [(_overwrite_4k, "zero_pp_rank_0_mp_rank_00_optim_states.pt"), (_truncate, "mp_rank_00_model_states.pt")],
    ids=["overwritten", "truncated"],
)
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(base_run, corpus_shards, tmp_path, damage, name):
    out = copy_of(base_run, tmp_path)
    bad = out / "checkpoints" / "global_step6" / name
    damage(bad)
    log = ok(train(corpus_shards, out, {**BASE, "steps": 8}, "--resume"))
    assert f"checkpoint {bad.parent} is damaged ({bad}:" in log
    assert "resumed from step 4" in log
    assert (out / "checkpoints" / "damaged-global_step6" / name).is_file()  # moved aside, never deleted
    assert steps_dirs(out) == ["damaged-global_step6", "global_step4", "global_step6", "global_step8"]
    assert metric_steps(out) == list(range(1, 9))


@pytest.mark.parametrize(
    "recipe, ds_config, settings, message",
    [
        (
            "caption",
            "zero2",
            {},
            "was written by recipe stage2_joint, this run is caption: resume it with --recipe stage2_joint",
        ),
        ("stage2_joint", "zero2", {"model.config.num_hidden_layers": 3}, "holds another model"),
        ("stage2_joint", "zero1", {}, "was written under ZeRO stage 2, this run uses stage 1"),
    ],
    ids=["recipe", "model-shape", "zero-stage"],
)
def test_resuming_another_recipe_model_or_zero_stage_is_one_line(
    base_run, corpus_shards, tmp_path, recipe, ds_config, settings, message
):
    out = copy_of(base_run, tmp_path)
    line = one_line_error(
        train(corpus_shards, out, {**BASE, **settings, "steps": 8}, "--resume", ds_config=ds_config, recipe=recipe)
    )
    assert line.startswith("unimumo-train: checkpoint error:") and message in line, line
    assert steps_dirs(out) == ["global_step2", "global_step4", "global_step6"]


def test_a_stop_for_non_finite_losses_keeps_the_last_checkpoint_that_trained_even_with_keep_1(corpus_shards, tmp_path):
    out = tmp_path / "diverged"
    # lr 1e4: step 1 trains from the initial weights, step 2's loss is ~1e8 (finite), every loss after it NaN
    done = train(
        corpus_shards,
        out,
        {
            "steps": 8,
            "checkpoint.every": 1,
            "checkpoint.keep": 1,
            "max_nonfinite_steps": 2,
            "optim.lr": 1e4,
            "schedule.warmup_steps": 4,
        },
        ds_config="cpu_zero0",
    )
    line = one_line_error(done)
    assert "training stopped: 2 micro batches in a row had a non-finite loss at step 3" in line
    assert "global_step2 gave no finite loss" in line
    assert f"--resume continues from {out / 'checkpoints' / 'global_step1'}" in line
    assert steps_dirs(out) == ["global_step1", "nonfinite-global_step2"]
    assert (out / "checkpoints" / ckpt.LATEST).read_text() == "global_step1\n"


@pytest.fixture
def small_disk(tmp_path):
    """A 8 MiB tmpfs (root only): room for a run's logs, not for a checkpoint."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.decode().strip()})")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_during_a_save_is_one_line_naming_the_directory(corpus_shards, small_disk):
    out = small_disk / "run"
    line = one_line_error(train(corpus_shards, out, {"steps": 4, "checkpoint.every": 2}))
    assert f"no space left on device writing checkpoint {out / 'checkpoints' / 'global_step2'}" in line, line
    assert steps_dirs(out) == []  # the incomplete save gave its space back


class _RunsCode:
    """Unpickling this touches a file: what a crafted checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _craft(checkpoint: Path, marker: Path) -> Path:
    """Replace the optimizer file of `checkpoint` by one that runs code on unpickling, with a matching checksum."""
    import torch

    path = checkpoint / "zero_pp_rank_0_mp_rank_00_optim_states.pt"
    torch.save({"optimizer_state_dict": _RunsCode(marker)}, path)
    meta = json.loads((checkpoint / ckpt.META).read_text())
    meta["files"][path.name] = {"bytes": path.stat().st_size, "sha256": ckpt._sha256_and_sync(path)["sha256"]}
    (checkpoint / ckpt.META).write_text(json.dumps(meta))
    return path


def test_export_and_resume_refuse_a_checkpoint_that_would_run_code(base_run, corpus_shards, tmp_path):
    from unimumo.train.export import export_checkpoint

    out = copy_of(base_run, tmp_path)
    marker = tmp_path / "PWNED"
    crafted = _craft(out / "checkpoints" / "global_step6", marker)
    with pytest.raises(ckpt.CheckpointError, match=f"{crafted}: refers to posix.system"):
        export_checkpoint(out, tmp_path / "export")
    assert not marker.exists() and not (tmp_path / "export").exists()

    log = ok(train(corpus_shards, out, {**BASE, "steps": 8}, "--resume"))
    assert not marker.exists()
    assert f"{crafted}: refers to posix.system" in log and "resumed from step 4" in log


def test_model_class_comes_from_a_fixed_table(base_run, tmp_path, monkeypatch):
    from unimumo.train.export import export_checkpoint

    out = copy_of(base_run, tmp_path)
    marker = tmp_path / "IMPORTED"
    (tmp_path / "evil_module.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Model: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    meta_path = out / "checkpoints" / "global_step6" / ckpt.META
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(dict(meta, model_class="evil_module.Model")))
    with pytest.raises(ckpt.CheckpointError, match="'evil_module.Model' is not a UniMuMo model class"):
        export_checkpoint(out, tmp_path / "export")
    assert not marker.exists()


def test_a_pickle_the_scan_cannot_read_is_a_damaged_file_not_a_crash(tmp_path):
    """Protocol-4 opcodes (STACK_GLOBAL) stop torch's globals scan: the file is reported, never loaded."""
    import collections

    import torch

    torch.save({"a": collections.OrderedDict(x=torch.zeros(2))}, tmp_path / "p4.pt", pickle_protocol=4)
    problems = ckpt.file_problems(tmp_path, {}, ["p4.pt"])
    assert len(problems) == 1 and problems[0].startswith(f"{tmp_path / 'p4.pt'}: unreadable")
    with pytest.raises(ckpt.CheckpointError, match="p4.pt: not a readable torch checkpoint file"):
        ckpt.load_tensors(tmp_path / "p4.pt")
