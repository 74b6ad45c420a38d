"""Trainer pieces that need no DeepSpeed run: recipes, launcher env, freeze plans, checkpoint pointers, config."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from unimumo.tasks import TASKS
from unimumo.train import checkpoint as ckpt
from unimumo.train.distributed import detect, first_slurm_host
from unimumo.train.engine import build_ds_config, lr_lambda
from unimumo.train.objectives import task_loss_weights
from unimumo.train.recipes import Recipe, RecipeError, global_batch_split
from unimumo.train.signals import StopRequest
from unimumo.train.stages import (
    STAGES,
    Stage,
    apply_freeze_plan,
    build_recipe,
    optimizer_groups,
    recipe_from_dict,
    register,
    trainable_table,
)

PY = sys.executable


def _recipe(name="stage2_joint", **overrides):
    base = {"out": "/tmp/run", "data.shards": "/tmp/shards", "init.random": True}  # stage1_motion: no MusicGen here
    if name == "motion_vqvae":
        base = {"out": "/tmp/run", "data.aist": "/tmp/aist"}
    return build_recipe(name, {**base, **overrides})


# -- recipes ---------------------------------------------------------------------------------------------------------


def test_reference_defaults():
    joint, stage1 = _recipe(), _recipe("stage1_motion")
    assert joint.optim.betas == (0.9, 0.95) and joint.optim.weight_decay == 0.1 and joint.optim.grad_clip == 1.0
    assert joint.optim.lr == 5e-5 and stage1.optim.lr == 1e-5
    assert joint.schedule.warmup_steps > 0 and joint.schedule.decay == "cosine"
    assert (joint.loss.music_weight, joint.loss.motion_weight) == (0.85, 0.15)
    assert stage1.loss.music_weight == 0.0 and stage1.loss.motion_weight == 1.0


def test_overrides_convert_cli_strings_and_python_values():
    recipe = _recipe(
        **{
            "optim.lr": "1e-4",
            "optim.betas": "0.8,0.9",
            "log.tensorboard": "false",
            "steps": "7",
            "log.peak_flops": "none",
            "model.config.dropout": "0",
            "model.config.expert_layers": "[0]",
            "tasks__music2motion": 0.5,
            "schedule": {"decay": "linear"},
        }
    )
    assert recipe.optim.lr == 1e-4 and recipe.optim.betas == (0.8, 0.9) and recipe.log.tensorboard is False
    assert recipe.steps == 7 and recipe.log.peak_flops is None and recipe.tasks.music2motion == 0.5
    assert recipe.model.config == {"dropout": 0, "expert_layers": [0]} and recipe.schedule.decay == "linear"
    assert recipe_from_dict(recipe.to_dict()) == recipe


def test_windows_are_seconds_converted_per_stage_and_the_step_counts_are_deprecated_aliases(caplog, monkeypatch):
    import logging

    from unimumo.loader.windows import Window

    monkeypatch.setattr(logging.getLogger("unimumo"), "propagate", True)  # to caplog
    joint, vqvae = _recipe(), _recipe("motion_vqvae")
    assert (joint.data.window_s, joint.data.min_window_s, vqvae.data.window_s) == (10.0, 1.0, 1.28)
    assert STAGES["stage2_joint"].data.window(joint) == Window(500, 50)  # code steps at 50 codes/s
    assert STAGES["motion_vqvae"].data.window(vqvae).steps == 128  # motion frames at the VQ-VAE's 100 Hz
    with caplog.at_level(logging.WARNING):
        old = _recipe(**{"data.window": "24", "data__min_window": 12})
        old_vqvae = _recipe("motion_vqvae", **{"data.window": 64, "model.config.downsample_layers": 2})  # 200 Hz
    assert STAGES["stage2_joint"].data.window(old) == Window(24, 12) and old.data.window_s == pytest.approx(0.48)
    assert STAGES["motion_vqvae"].data.window(old_vqvae).steps == 64 and old_vqvae.data.window_s == 0.32
    assert "data.window=24 is deprecated" in caplog.text and "use data.window_s=0.48 (seconds)" in caplog.text
    assert "data.min_window=12 is deprecated" in caplog.text and "use data.min_window_s=0.24" in caplog.text
    saved = old.to_dict()  # a recipe.json written before the keys were seconds
    saved["data"] = {
        **{k: v for k, v in saved["data"].items() if not k.endswith("window_s")},
        "window": 24,
        "min_window": 12,
    }
    assert STAGES["stage2_joint"].data.window(recipe_from_dict(saved)) == Window(24, 12)
    with pytest.raises(RecipeError, match="give only data.window_s"):
        _recipe(**{"data.window": 24, "data.window_s": 1})
    with pytest.raises(RecipeError, match="data.window: deprecated"):
        _recipe(data={"window": 24})
    with pytest.raises(RecipeError, match="data.window_s / data.min_window_s: 0.001 s / 1 s are under one step"):
        _recipe(**{"data.window_s": 0.001})


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"optim.lrr": "1"}, "optim.lr, optim.betas"),  # unknown key: lists the allowed keys
        ({"schedule.decay": "step"}, "schedule.decay: 'step' is not allowed; choose one of cosine, linear, constant"),
        ({"precision": "fp16"}, "choose one of auto, fp32, bf16"),
        ({"optim.lr": "fast"}, "optim.lr: expected float"),
        ({"steps": "1.5"}, "steps: expected int"),
        ({"optim.betas": "0.9"}, "optim.betas: expected 2"),
        ({"optim.lr": "-1"}, "optim.lr: must be > 0"),
        ({"data.micro_batch": "16", "data.global_batch": "8"}, "data.global_batch (8) must be >= data.micro_batch"),
        ({"tasks.text2music_motion": 0, "tasks.music2motion": 0, "tasks.motion2music": 0}, "tasks: proportions"),
        ({"data.shards": None}, "data.shards: recipe stage2_joint needs a shard directory"),
    ],
)
def test_recipe_errors_name_the_key_and_allowed_values(overrides, fragment):
    with pytest.raises(RecipeError) as info:
        _recipe(**overrides)
    assert fragment in str(info.value)


def test_unknown_recipe_and_missing_raw_data():
    with pytest.raises(RecipeError, match="choose one of motion_vqvae, stage1_motion, stage2_joint, caption"):
        build_recipe("stage3", {"out": "x"})
    with pytest.raises(RecipeError, match="data.aist / data.humanml3d"):
        build_recipe("motion_vqvae", {"out": "x"})


def test_global_batch_is_split_over_ranks_and_accumulation():
    recipe = _recipe(**{"data.global_batch": 64, "data.micro_batch": 8})
    assert global_batch_split(recipe, 1) == 8 and global_batch_split(recipe, 4) == 2
    with pytest.raises(RecipeError, match=r"multiple of data.micro_batch \(8\) x world size \(3\)"):
        global_batch_split(recipe, 3)


# -- engine config and schedule ---------------------------------------------------------------------------------------


def test_ds_config_takes_batch_optimizer_and_precision_from_the_recipe(tmp_path):
    recipe = _recipe(**{"data.global_batch": 32, "data.micro_batch": 4, "ds_config": "zero3", "optim.lr": 3e-4})
    config = build_ds_config(recipe, world_size=2, device=torch.device("cpu"))
    assert config["zero_optimization"]["stage"] == 3
    assert (
        config["train_batch_size"],
        config["train_micro_batch_size_per_gpu"],
        config["gradient_accumulation_steps"],
    ) == (32, 4, 4)
    assert config["optimizer"]["params"]["lr"] == 3e-4 and config["optimizer"]["params"]["betas"] == [0.9, 0.95]
    assert config["bf16"] == {"enabled": False} and config["gradient_clipping"] == 1.0
    clash = tmp_path / "bad.json"
    clash.write_text(json.dumps({"train_batch_size": 16, "zero_optimization": {"stage": 1}}))
    with pytest.raises(RecipeError, match="sets \\['train_batch_size'\\]"):
        build_ds_config(_recipe(ds_config=str(clash)), 1, torch.device("cpu"))
    with pytest.raises(RecipeError, match="zero1, zero2, zero3"):
        build_ds_config(_recipe(ds_config="zero9"), 1, torch.device("cpu"))


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    recipe = _recipe(**{"steps": 100, "schedule.warmup_steps": 10, "schedule.min_lr_ratio": 0.1})
    factor = lr_lambda(recipe)
    warmup = [factor(s) for s in range(10)]
    assert all(a < b for a, b in zip(warmup, warmup[1:])) and warmup[-1] < 1.0
    assert factor(10) == pytest.approx(1.0) and factor(100) == pytest.approx(0.1)
    decay = [factor(s) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))


def test_task_mixture_becomes_per_sample_stream_weights():
    task = torch.tensor([TASKS.index("text2music_motion"), TASKS.index("music2motion"), TASKS.index("motion2music")])
    music, motion = task_loss_weights(task)
    assert music.tolist() == [1.0, 0.0, 1.0] and motion.tolist() == [1.0, 1.0, 0.0]


# -- launcher environment -------------------------------------------------------------------------------------------


def test_torchrun_environment_wins():
    env = detect(
        {
            "RANK": "3",
            "WORLD_SIZE": "8",
            "LOCAL_RANK": "1",
            "MASTER_ADDR": "n1",
            "MASTER_PORT": "1234",
            "SLURM_PROCID": "0",
            "SLURM_NTASKS": "1",
        }
    )
    assert (env.rank, env.world_size, env.local_rank, env.master_addr, env.master_port, env.launcher) == (
        3,
        8,
        1,
        "n1",
        1234,
        "torchrun",
    )


def test_slurm_environment_is_translated():
    env = detect(
        {
            "SLURM_PROCID": "5",
            "SLURM_NTASKS": "8",
            "SLURM_LOCALID": "1",
            "SLURM_JOB_ID": "123456",
            "SLURM_JOB_NODELIST": "gpu[007-008]",
        }
    )
    assert (env.rank, env.world_size, env.local_rank, env.master_addr, env.launcher) == (5, 8, 1, "gpu007", "slurm")
    assert env.master_port == 29500 + 123456 % 10000
    assert env.exports()["RANK"] == "5" and env.exports()["MASTER_ADDR"] == "gpu007"
    assert detect({}).world_size == 1 and detect({}).launcher == "single"
    with pytest.raises(ValueError, match="RANK='x'"):
        detect({"RANK": "x", "WORLD_SIZE": "2"})


@pytest.mark.parametrize(
    "nodelist, host",
    [("node1", "node1"), ("gpu[003-005,009]", "gpu003"), ("a[12],b[1-2]", "a12"), ("cn-01,cn-02", "cn-01")],
)
def test_first_slurm_host(nodelist, host):
    assert first_slurm_host(nodelist) == host


# -- freeze plans (the real tiny LM) ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm():
    from unimumo.models.configuration_unimumo import UniMuMoConfig
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    torch.manual_seed(0)
    return UniMuMoForConditionalGeneration(UniMuMoConfig.preset("tiny"))


@pytest.mark.parametrize(
    "stage, trained",
    [("stage1_motion", {"motion"}), ("caption", {"captioning"}), ("stage2_joint", {"music", "motion", "shared"})],
)
def test_freeze_plans(tiny_lm, stage, trained):
    rows = apply_freeze_plan(tiny_lm, STAGES[stage])
    for name, param in tiny_lm.named_parameters():
        assert param.requires_grad == (tiny_lm.parameter_group(name) in trained), name
    assert {r.group for r in rows if r.trainable} == trained
    groups = optimizer_groups(tiny_lm, weight_decay=0.1)
    handed = {id(p) for g in groups for p in g["params"]}
    assert handed == {id(p) for p in tiny_lm.parameters() if p.requires_grad}
    table = trainable_table(rows)
    assert "TRAIN" in table and "frozen" in table and "trainable" in table.splitlines()[-1]
    if stage == "stage1_motion":  # motion embeddings, FFN experts, their norms and heads
        names = [n for n, p in tiny_lm.named_parameters() if p.requires_grad]
        assert any("embed" in n for n in names) and any("head" in n for n in names)
        assert any("fc" in n or "ffn" in n for n in names) and any("norm" in n for n in names)


# -- the stage registry -----------------------------------------------------------------------------------------------


def probe_stage_recipe() -> Recipe:
    recipe = Recipe(name="probe_stage")
    recipe.model.preset = "tiny"
    recipe.optim.lr = 3e-3
    return recipe


@pytest.fixture
def probe_stage():
    """A stage that exists only in this test: registered here, removed afterwards."""
    from unimumo.train.data import SHARDS
    from unimumo.train.model_factory import build_unimumo
    from unimumo.train.objectives import LMObjective

    stage = register(
        Stage(
            name="probe_stage",
            recipe=probe_stage_recipe,
            trained_groups=frozenset({"music"}),
            data=SHARDS,
            model=build_unimumo,
            objective=LMObjective,
            presets=("tiny",),
            streams=("music",),
        )
    )
    yield stage
    del STAGES[stage.name]


def test_a_registered_stage_is_buildable_printable_and_trainable(probe_stage, tiny_lm, capsys):
    from unimumo.cli import submit
    from unimumo.cli import train as cli

    recipe = build_recipe("probe_stage", {"out": "/tmp/run", "data.shards": "/tmp/shards"})
    assert recipe.name == "probe_stage" and recipe.optim.lr == 3e-3
    with pytest.raises(RecipeError, match="model.preset: 'small' is not allowed for probe_stage; choose one of tiny"):
        build_recipe("probe_stage", {"out": "/tmp/run", "data.shards": "/tmp/shards", "model.preset": "small"})
    with pytest.raises(RecipeError, match="data.shards: recipe probe_stage needs a shard directory"):
        build_recipe("probe_stage", {"out": "/tmp/run"})

    assert cli.main(["--recipe", "probe_stage", "--print-recipe", "--set", "steps=7"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["name"] == "probe_stage" and printed["optim"]["lr"] == 3e-3 and printed["steps"] == 7
    assert submit.build_parser().parse_args(["--recipe", "probe_stage", "--out", "x"]).recipe == "probe_stage"

    rows = apply_freeze_plan(tiny_lm, probe_stage)
    assert {r.group for r in rows if r.trainable} == {"music"}
    objective = probe_stage.objective(probe_stage, recipe, torch.device("cpu"))
    codes, text = torch.zeros(2, 4, 5, dtype=torch.long), torch.ones(2, 3, dtype=torch.long)
    batch = {
        "music_codes": codes,
        "motion_codes": codes,
        "music_text_ids": text,
        "music_text_mask": text,
        "motion_text_ids": text,
        "motion_text_mask": text,
    }
    assert set(objective.inputs(batch, 0)) == {"music_codes", "music_text_ids", "music_text_mask"}
    assert objective.term_names == ("loss", "loss/music") and objective.tokens(batch) == 10


def test_the_registry_rejects_duplicates_and_misnamed_recipes(probe_stage):
    with pytest.raises(ValueError, match="registered already"):
        register(probe_stage)
    with pytest.raises(ValueError, match="returns a recipe named 'probe_stage'"):
        register(Stage(**{**probe_stage.__dict__, "name": "other_stage"}))
    with pytest.raises(ValueError, match="data 'tars' is not a data builder"):
        Stage(**{**probe_stage.__dict__, "data": "tars"})
    assert "other_stage" not in STAGES


def test_only_the_stage_registry_compares_stage_names():
    """What a stage does is read from its Stage; no module but train/stages.py tests or keys on a stage's name."""
    from unimumo.cli.eval import COMMANDS

    src = Path(__file__).resolve().parents[2] / "src" / "unimumo"
    found = []
    for path in sorted(src.rglob("*.py")):
        if path == src / "train" / "stages.py":
            continue
        names = set(STAGES)
        if path.is_relative_to(src / "eval") or path == src / "cli" / "eval.py":
            names -= set(COMMANDS)  # the eval side names its own commands ("caption" is one), not stages
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
            elif isinstance(node, ast.Dict):
                operands = [key for key in node.keys if key is not None]
            elif isinstance(node, ast.MatchValue):
                operands = [node.value]
            else:
                continue
            for operand in operands:
                elements = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
                hits = sorted(e.value for e in elements if isinstance(e, ast.Constant) and e.value in names)
                if hits:
                    found.append(f"{path.relative_to(src)}:{node.lineno} {hits}")
    assert not found, "stage names compared outside train/stages.py (read a Stage attribute instead):\n" + "\n".join(
        found
    )


# -- checkpoint pointers and rotation ---------------------------------------------------------------------------------


def _fake_checkpoint(root, step, complete=True):
    path = root / ckpt.tag_for(step)
    path.mkdir(parents=True)
    (path / "shard.pt").write_bytes(b"x")
    if complete:
        (path / ckpt.META).write_text("{}")
    return path


def test_latest_pointer_and_rotation_keep_the_newest_complete(tmp_path):
    root = tmp_path / "checkpoints"
    for step in (2, 4, 6, 8):
        _fake_checkpoint(root, step)
    _fake_checkpoint(root, 10, complete=False)  # a crash while writing step 10
    assert ckpt.latest_tag(root) == "global_step8"  # found by scanning: no pointer is needed
    (root / ckpt.LATEST).write_text("global_step12\n")  # a pointer at nothing complete is not trusted
    assert ckpt.latest_tag(root) == "global_step8"
    removed = ckpt.rotate(root, keep=2)  # an incomplete directory is left alone (this call did not write it)
    assert sorted(p.name for p in removed) == ["global_step2", "global_step4"]
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["global_step10", "global_step6", "global_step8"]
    assert ckpt.resolve(root) == (root, "global_step8")
    assert ckpt.resolve(tmp_path) == (root, "global_step8")  # a run directory works too
    assert ckpt.resolve(root / "global_step6") == (root, "global_step6")
    assert ckpt.rotate(root, keep=1, spare=6) == []  # the spared step (the last one that trained) stays
    assert [p.name for p in ckpt.rotate(root, keep=1, newest=6)] == []  # nothing newer than `newest` is touched
    assert [p.name for p in ckpt.rotate(root, keep=1)] == ["global_step6"]


def test_rng_capture_restores_every_generator():
    import random

    import numpy as np

    state = ckpt.capture_rng()
    first = (random.random(), np.random.rand(), torch.rand(3))
    ckpt.restore_rng(state)
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == again[0] and first[1] == again[1] and torch.equal(first[2], again[2])


# -- signals and the command line -------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGTERM])
def test_stop_signals_set_the_flag_and_handlers_are_restored(signum):
    before = signal.getsignal(signum)
    with StopRequest() as stop:
        assert not stop.any_rank(torch.device("cpu"))
        os.kill(os.getpid(), signum)
        assert stop.any_rank(torch.device("cpu")) and stop.signum == signum
    assert signal.getsignal(signum) == before


def test_cli_help_and_recipe_errors():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([PY, "-m", "unimumo.cli.train", "--help"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "--set KEY=VALUE" in out.stdout and "--resume" in out.stdout
    out = subprocess.run(
        [
            PY,
            "-m",
            "unimumo.cli.train",
            "--recipe",
            "stage1_motion",
            "--out",
            "x",
            "--shards",
            "y",
            "--set",
            "optim.lr=abc",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 2 and "optim.lr: expected float" in out.stderr
    out = subprocess.run(
        [PY, "-m", "unimumo.cli.train", "--recipe", "caption", "--print-recipe", "--set", "optim.lr=2e-4"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0 and json.loads(out.stdout)["optim"]["lr"] == 2e-4
    out = subprocess.run(
        [PY, "-m", "unimumo.cli.export_cmd", "/nonexistent", "/tmp/x"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 2 and "no complete checkpoint" in out.stderr


def test_missing_input_directories_are_named_not_traced(tmp_path, tiny_shards):
    missing, corrupt, no_train = tmp_path / "missing", tmp_path / "corrupt", tmp_path / "no_train"
    corrupt.mkdir()
    (corrupt / "manifest.json").write_text('{"format": "unimumo-shards/1", "shards": [')
    no_train.mkdir()
    (no_train / "manifest.json").write_text(
        json.dumps(
            {
                "format": "unimumo-shards/1",
                "tokenizers": {},
                "splits": {},
                "shards": [{"name": "val-000000.tar", "split": "val", "count": 3}],
            }
        )
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    base = [
        PY,
        "-m",
        "unimumo.cli.train",
        "--recipe",
        "stage1_motion",
        "--out",
        str(tmp_path / "run"),
        "--set",
        "init.random=true",
    ]
    for extra, fragment in (
        (["--shards", str(missing)], f"{missing}/manifest.json: shard manifest not found"),
        (["--shards", str(corrupt)], f"shard manifest error: {corrupt}/manifest.json: not valid JSON"),
        (
            ["--shards", str(no_train)],
            f"{no_train}/manifest.json: no shards for split 'train' (splits present: ['val'])",
        ),
        (
            ["--shards", str(tiny_shards), "--text-model", str(missing)],
            f"text_model: {missing} is not a local directory",
        ),
    ):
        out = subprocess.run(base + extra, capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 2, out.stderr[-2000:]
        assert fragment in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]


def test_metrics_lines_torn_by_a_kill_sort_after_every_checkpoint():
    from unimumo.train.trainer import _logged_step

    assert _logged_step(json.dumps({"step": 7, "loss": 1.0})) == 7
    assert _logged_step('{"step": 8, "lo') == float("inf") and _logged_step("") == float("inf")


def test_a_non_editable_install_ships_the_named_ds_configs(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    target = tmp_path / "site"
    pip = subprocess.run(
        [PY, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(repo)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    probe = "from unimumo.train.engine import resolve_ds_config; print(resolve_ds_config('zero3'))"
    out = subprocess.run(
        [PY, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(target), OMP_NUM_THREADS="1"),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    shipped = Path(out.stdout.strip())
    assert shipped == target / "unimumo" / "ds_configs" / "zero3.json"
    assert json.loads(shipped.read_text()) == json.loads((repo / "ds_configs" / "zero3.json").read_text())
