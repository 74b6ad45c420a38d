"""Where training starts: `--init-from` a MusicGen directory or an export, refusals that name the problem,
the paper-size defaults, and the caption stage's captioning attention taken from the trained causal one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from testkit.training_runs import TINY_RECIPE, set_args
from unimumo.train.recipes import RecipeError, default_num_workers
from unimumo.train.stages import STAGES, build_recipe

REPO = Path(__file__).resolve().parents[2]
# a single-process CPU run of the tiny model: a few steps, no loader workers
TINY = [
    *set_args({**TINY_RECIPE, "data.global_batch": 2, "schedule.warmup_steps": 1, "optim.lr": 1e-3}),
    "--ds-config",
    "cpu_zero0",
]


def train(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu")
    return subprocess.run(
        [sys.executable, "-m", "unimumo.cli.train", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def stage1(synthetic_corpus, tiny_shards, tmp_path_factory) -> Path:
    """Run directory of 3 stage-1 steps from the corpus's tiny MusicGen."""
    out = tmp_path_factory.mktemp("init") / "stage1"
    done = train(
        "--recipe",
        "stage1_motion",
        "--out",
        str(out),
        "--shards",
        str(tiny_shards),
        "--init-from",
        str(synthetic_corpus / "models" / "musicgen"),
        "--text-model",
        str(synthetic_corpus / "models" / "t5"),
        "--set",
        "steps=3",
        *TINY,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_paper_size_defaults():
    recipe = build_recipe("stage2_joint", {"out": "x", "data.shards": "y"})
    assert recipe.model.preset == "small" and recipe.data.num_workers > 0
    assert default_num_workers({"SLURM_CPUS_PER_TASK": "8"}) == 7 and default_num_workers({}) >= 1
    done = train("--recipe", "stage1_motion", "--print-recipe")
    printed = json.loads(done.stdout)
    assert printed["model"]["preset"] == "small" and printed["data"]["num_workers"] > 0
    from unimumo.models.configuration_unimumo import UniMuMoConfig

    small = UniMuMoConfig.preset("small")
    assert small.shape == {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "ffn_dim": 4096}
    assert small.text_encoder_config["d_model"] == 768 and small.text_encoder_config["num_layers"] == 12


def test_stage1_refuses_random_weights_unless_asked():
    with pytest.raises(RecipeError, match="init_from: stage1_motion .* trains nothing useful.*init.random=true"):
        build_recipe("stage1_motion", {"out": "x", "data.shards": "y"})
    assert build_recipe("stage1_motion", {"out": "x", "data.shards": "y", "init.random": "true"}).init.random
    with_start = build_recipe("stage1_motion", {"out": "x", "data.shards": "y", "init_from": "/m"})
    assert with_start.model.preset is None  # the checkpoint's shape
    allowed = build_recipe("caption", {"out": "x", "data.shards": "y", "init.allow_random": "a.*, b.*"})
    assert allowed.init.allow_random == ("a.*", "b.*")


def test_stage1_from_musicgen_keeps_every_non_motion_weight_bit_for_bit(stage1, synthetic_corpus):
    from transformers import MusicgenForConditionalGeneration, T5ForConditionalGeneration

    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration
    from unimumo.models.musicgen_import import unimumo_names

    exported = UniMuMoForConditionalGeneration.from_pretrained(stage1 / "export")
    state = exported.state_dict()
    musicgen = MusicgenForConditionalGeneration.from_pretrained(synthetic_corpus / "models" / "musicgen")
    t5 = T5ForConditionalGeneration.from_pretrained(synthetic_corpus / "models" / "t5")
    expected = {}
    for name, tensor in musicgen.decoder.state_dict().items():
        for target in unimumo_names(name, exported.config.expert_layers):
            expected[target] = tensor
    expected.update({f"condition_projection.{k}": v for k, v in musicgen.enc_to_dec_proj.state_dict().items()})
    expected.update(
        {f"text_encoder.{k}": v for k, v in t5.state_dict().items() if k == "shared.weight" or k.startswith("encoder.")}
    )
    expected.update({f"captioning_decoder.{k}": v for k, v in t5.state_dict().items() if not k.startswith("encoder.")})
    motion = {n for n in expected if exported.parameter_group(n) == "motion"}
    assert motion and all(
        not torch.equal(state[n], expected[n]) for n in motion if n.endswith("weight") and "layer_norm" not in n
    ), "stage 1 did not train the motion weights"
    kept = [n for n in expected if n not in motion]
    assert len(kept) > 50
    changed = [n for n in kept if not torch.equal(state[n], expected[n])]
    assert not changed, f"non-motion weights differ from MusicGen / T5: {changed[:5]}"


def test_init_refusals_name_the_problem(synthetic_corpus, tiny_shards, tmp_path):
    musicgen, t5 = synthetic_corpus / "models" / "musicgen", synthetic_corpus / "models" / "t5"
    broken = tmp_path / "musicgen"
    shutil.copytree(musicgen, broken)
    from safetensors.torch import load_file, save_file

    state = load_file(broken / "model.safetensors")
    del state["decoder.model.decoder.layers.1.fc1.weight"]
    save_file(state, broken / "model.safetensors", metadata={"format": "pt"})
    base = ["--recipe", "stage1_motion", "--out", str(tmp_path / "run"), "--shards", str(tiny_shards), *TINY]
    for extra, fragment in (
        (
            ["--init-from", str(broken), "--text-model", str(t5)],
            f"{broken}: the MusicGen checkpoint lacks weights (or holds them in another shape): "
            "decoder.model.decoder.layers.1.fc1.weight",
        ),
        (["--init-from", str(musicgen)], "captioning_decoder.decoder.block.0.layer.0.SelfAttention.k.weight"),
        (
            ["--init-from", str(musicgen), "--text-model", str(t5), "--set", "model.preset=small"],
            "model.preset: preset 'small' has the shape",
        ),
        ([], "init_from: stage1_motion freezes"),
    ):
        done = train(*base, *extra)
        assert done.returncode == 2 and fragment in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]


def test_caption_stage_starts_from_the_trained_causal_attention(stage1, tiny_shards, tmp_path):
    """After stage 2 the causal self-attention has trained and the exported captioning copy has not: the caption
    stage's model (step 0) holds the trained causal weights in its captioning attention, bit for bit."""
    out = tmp_path / "stage2"
    done = train(
        "--recipe",
        "stage2_joint",
        "--out",
        str(out),
        "--shards",
        str(tiny_shards),
        "--init-from",
        str(stage1 / "export"),
        "--set",
        "steps=1",
        *TINY,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    export = UniMuMoForConditionalGeneration.from_pretrained(out / "export")
    pairs = lambda m: [
        (a, b)
        for layer in m.model.layers  # noqa: E731
        for a, b in zip(layer.self_attn.parameters(), layer.captioning_self_attn.parameters())
    ]
    assert not all(torch.equal(a, b) for a, b in pairs(export)), "stage 2 did not move the causal attention"
    recipe = build_recipe(
        "caption", {"out": str(tmp_path / "caption"), "data.shards": str(tiny_shards), "init_from": str(out / "export")}
    )
    model = STAGES["caption"].model(recipe, None)
    assert all(torch.equal(a, b) for a, b in pairs(model))
    trained = dict(export.named_parameters())
    assert all(torch.equal(p, trained[n]) for n, p in model.named_parameters() if "captioning_self_attn" not in n)
