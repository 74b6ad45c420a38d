"""The LM stages and a generation benchmark on shards built with the music-codebook motion tokenizer
(model.codebook=music): stage 1 from MusicGen, stage 2 from stage 1's export, music -> motion decoding each motion
with its pair's music; the shards' manifest records the tokenizer's variant, the exports record the tokenizer they
learnt, and a later stage refuses shards of another one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import EncodecModel

from testkit.training_runs import TINY_RECIPE, train_one_process
from unimumo.models.motion_tokenizer import MotionTokenizer
from unimumo.models.tokenizer_record import recorded_tokenizer, write_tokenizer_record
from unimumo.train.recipes import RecipeError
from unimumo.train.stages import build_recipe

SPLIT = "test"  # one split built: the stages train on it and the benchmark reads it


@pytest.fixture(scope="module")
def music_shards(synthetic_corpus, tmp_path_factory):
    """(shard directory of the corpus's test split, its motion tokenizer directory): a tiny random tokenizer in the
    code space of the corpus's codec, with a strong music path so that the pair's music changes its codes."""
    from unimumo.cli.shards import main
    from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv

    root = tmp_path_factory.mktemp("music_codebook_shards")
    tokenizer = MotionTokenizer.from_random(
        seed=0, music_codec=EncodecModel.from_pretrained(synthetic_corpus / "models" / "encodec")
    )
    with torch.no_grad():
        tokenizer.model.pre_mix.convs[-1].weight.mul_(50.0)
        tokenizer.model.post_mix.convs[-1].weight.mul_(50.0)
    MotionTokenizer(tokenizer.model).save_pretrained(root / "music_vqvae")
    argv = build_argv(synthetic_corpus, root / "shards", SPLIT, *TINY_SHARDS_ARGS)
    argv[argv.index("--motion-tokenizer") + 1] = str(root / "music_vqvae")
    assert main(argv) == 0
    return root / "shards", root / "music_vqvae"


def test_stages_and_music2motion_run_on_music_codebook_shards(synthetic_corpus, music_shards, tmp_path, monkeypatch):
    from unimumo.cli.eval import main as eval_main

    shards, tokenizer_dir = music_shards
    recorded = json.loads((shards / "manifest.json").read_text())["tokenizers"]["motion_tokenizer"]
    tokenizer = MotionTokenizer.from_pretrained(tokenizer_dir)
    assert recorded["codebook"] == "music" and recorded["fingerprint"] == tokenizer.fingerprint
    settings = {
        **TINY_RECIPE,
        "steps": 2,
        "data.split": SPLIT,
        "data.global_batch": 2,
        "data.shards": str(shards),
        "text_model": str(synthetic_corpus / "models" / "t5"),
    }
    stage1 = tmp_path / "stage1"
    musicgen = synthetic_corpus / "models" / "musicgen"
    lines = train_one_process("stage1_motion", stage1, settings, "--init-from", str(musicgen))
    assert [line["step"] for line in lines] == [1, 2] and all(np.isfinite(line["loss/motion"]) for line in lines)
    assert recorded_tokenizer(stage1 / "export", "motion_tokenizer") == recorded  # what stage 2 is checked against

    stage2 = tmp_path / "stage2"
    lines = train_one_process("stage2_joint", stage2, settings, "--init-from", str(stage1 / "export"))
    assert [line["step"] for line in lines] == [1, 2] and all(np.isfinite(line["loss"]) for line in lines)
    assert recorded_tokenizer(stage2 / "export", "motion_tokenizer") == recorded

    # music -> motion: every motion (generated and reference) is decoded with its pair's music codes
    calls = []
    decode = MotionTokenizer.decode

    def spy(self, codes, fps=20.0, music_codes=None):
        calls.append((np.shape(codes), None if music_codes is None else np.shape(music_codes)))
        return decode(self, codes, fps, music_codes)

    monkeypatch.setattr(MotionTokenizer, "decode", spy)
    argv = ["music2motion", "--model", str(stage2 / "export"), "--shards", str(shards), "--split", SPLIT]
    argv += ["--out", str(tmp_path / "m2m"), "--num-samples", "2", "--seconds", "1", "--batch-size", "2"]
    assert eval_main(argv + ["--device", "cpu", "--render", "0", "--motion-fps", "20"]) == 0
    report = json.loads((tmp_path / "m2m" / "metrics.json").read_text())
    assert report["task"] == "music2motion" and np.isfinite(report["metrics"]["generated"]["FID_k"])
    assert calls and all(music == codes for codes, music in calls), calls


def test_a_later_stage_refuses_shards_of_another_motion_tokenizer(music_shards, tmp_path):
    """An export that learnt the music-codebook tokenizer's codes, then shards of another (independent) tokenizer:
    refused at start-up, naming both; the same shards pass."""
    shards, tokenizer_dir = music_shards
    fingerprint = MotionTokenizer.from_pretrained(tokenizer_dir).fingerprint
    export = tmp_path / "export"
    export.mkdir()
    (export / "config.json").write_text(json.dumps({"model_type": "unimumo"}))
    manifest = json.loads((shards / "manifest.json").read_text())
    write_tokenizer_record(export, manifest["tokenizers"])  # as unimumo-export writes it
    other = tmp_path / "other_shards"
    other.mkdir()
    manifest["tokenizers"]["motion_tokenizer"].update(fingerprint="0" * 64, codebook="independent")
    (other / "manifest.json").write_text(json.dumps(manifest))
    base = {"out": str(tmp_path / "run"), "init_from": str(export)}
    assert build_recipe("stage2_joint", {**base, "data.shards": str(shards)}).init_from == str(export)
    refusal = (
        rf"init_from: .* learnt the motion codes of motion tokenizer {fingerprint[:12]} \(music codebook, .*\), "
        r"but data.shards .* motion tokenizer 000000000000 \(independent codebook, .*\)"
    )
    for stage in ("stage1_motion", "stage2_joint", "caption"):
        with pytest.raises(RecipeError, match=refusal):
            build_recipe(stage, {**base, "data.shards": str(other)})
