"""Recipe values that cannot work are refused at start-up with one line naming the key (issue 25, finding 5):
non-finite numbers, model.config keys the model's config does not have or sizes below 1, and a window longer
than the model's positions (asked of the model config, not found at the first forward pass)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from unimumo.train.recipes import RecipeError
from unimumo.train.stages import build_recipe

REPO = Path(__file__).resolve().parents[2]
LM = {"out": "/tmp/run", "data.shards": "/tmp/shards", "model.preset": "tiny"}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"optim.lr": "inf"}, "optim.lr: must be a finite number, got inf"),
        ({"optim.lr": "nan"}, "optim.lr: must be a finite number, got nan"),
        ({"optim.betas": "0.9,nan"}, "optim.betas[1]: must be a finite number, got nan"),
        ({"model.config.dropout": "NaN"}, "model.config.dropout: must be a finite number, got nan"),
        ({"model.config.num_layers": -3}, "model.config.num_layers: not a UniMuMoConfig key (its keys: "),
        ({"model.config.num_hidden_layers": -3}, "model.config.num_hidden_layers: must be an integer >= 1, got -3"),
        ({"model.config.hidden_size": 0}, "model.config.hidden_size: must be an integer >= 1, got 0"),
        (
            {"model.config.num_attention_heads": 5},
            "model.config: Invalid UniMuMoConfig: hidden_size (64) must be a multiple of num_attention_heads (5)",
        ),
        (
            {"data.window_s": 2000},
            "data.window_s: 100000 code steps (+ 3 of codebook delay = 100003 positions) exceed "
            "the model's max_position_embeddings (1024); shorten data.window_s",
        ),
    ],
)
def test_values_that_cannot_train_are_refused_naming_the_key(overrides, message):
    with pytest.raises(RecipeError) as raised:
        build_recipe("stage2_joint", {**LM, **overrides})
    assert str(raised.value).startswith(message), str(raised.value)


def test_the_window_limit_follows_the_model_config():
    build_recipe("stage2_joint", {**LM, "data.window_s": 20.42})  # 1021 steps + 3 = 1024 positions: fits
    with pytest.raises(RecipeError, match="1025 positions"):
        build_recipe("stage2_joint", {**LM, "data.window_s": 20.44})
    build_recipe("stage2_joint", {**LM, "data.window_s": 30, "model.config.max_position_embeddings": 1600})


def test_the_motion_vqvae_config_is_asked_too():
    base = {"out": "/tmp/run", "data.aist": "/tmp/aist"}
    build_recipe("motion_vqvae", {**base, "model.config.downsample_layers": 0})  # 0 is valid there
    with pytest.raises(RecipeError, match="model.config.bogus: not a MotionVQVAEConfig key"):
        build_recipe("motion_vqvae", {**base, "model.config.bogus": 1})
    with pytest.raises(RecipeError, match="num_res_blocks must be a positive integer, got 0"):
        build_recipe("motion_vqvae", {**base, "model.config.num_res_blocks": 0})


def test_unimumo_train_says_it_in_one_line(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "unimumo.cli.train",
            "--recipe",
            "stage2_joint",
            "--out",
            str(tmp_path / "run"),
            "--shards",
            str(tmp_path),
            "--set",
            "model.preset=tiny",
            "--set",
            "optim.lr=inf",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        done.stderr.strip().splitlines()[-1]
        == "unimumo-train: recipe error: optim.lr: must be a finite number, got inf"
    )
