"""An export records the tokenizers its shards were built with, and the published benchmarks find them there: a real
`unimumo-train` run (one process, ZeRO-0 on the CPU, the tiny LM) on the tiny shards, its export, then
`unimumo-eval music2motion --aist --aist-music` with neither --shards nor a tokenizer option."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from testkit.training_runs import TINY_RECIPE, train_one_process
from unimumo.cli.eval import main
from unimumo.models.tokenizer_record import TOKENIZERS_FILE, read_tokenizer_record
from unimumo.shards.manifest import Manifest


@pytest.fixture(scope="module")
def trained_export(synthetic_corpus, tiny_shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("stage2") / "run"
    settings = {
        **TINY_RECIPE,
        "steps": 1,
        "data.global_batch": 2,
        "data.shards": str(tiny_shards),
        "text_model": str(synthetic_corpus / "models" / "t5"),
        "log.tensorboard": "false",
    }
    train_one_process("stage2_joint", out, settings)
    return out / "export"


def test_the_export_records_the_tokenizers_of_its_shards(trained_export, tiny_shards):
    recorded = read_tokenizer_record(trained_export)
    assert recorded == Manifest.load(tiny_shards).tokenizers  # paths and fingerprints, as the manifest has them
    assert set(recorded) == {"music_codec", "motion_tokenizer", "text_tokenizer"}
    assert all(len(entry["fingerprint"]) == 64 for entry in recorded.values())


def test_the_published_benchmark_finds_the_tokenizers_in_the_export(trained_export, synthetic_corpus, tmp_path, capsys):
    from testkit.aist_layout import write_aist_layout

    root, music, _ = write_aist_layout(synthetic_corpus, tmp_path / "aist_plusplus_final", num_test=2)
    out = tmp_path / "m2m"
    argv = ["music2motion", "--model", str(trained_export), "--aist", str(root), "--aist-music", str(music)]
    argv += ["--out", str(out), "--device", "cpu", "--seconds", "1", "--motion-fps", "20", "--render", "0"]
    argv += ["--batch-size", "64"]
    assert main(argv) == 0  # no --shards, no tokenizer option
    report = json.loads((out / "metrics.json").read_text())
    assert report["info"]["num_slices"] == len(report["inputs"]) > 0
    capsys.readouterr()
    paper = ["paper", "--model", str(trained_export), "--aist", str(root), "--aist-music", str(music)]
    assert main(paper + ["--out", str(tmp_path / "paper"), "--print-config"]) == 0

    record_file = trained_export / TOKENIZERS_FILE
    original = record_file.read_text()
    record = json.loads(original)
    try:
        # a tokenizer changed since training: refused, naming the record and the option that overrides it
        record["tokenizers"]["music_codec"]["fingerprint"] = "0" * 64
        record_file.write_text(json.dumps(record))
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"{record_file}: tokenizers.music_codec:" in err and "has changed since it was recorded" in err
        assert "--music-codec PATH" in err
        # the option overrides the record (the generation is cached from the first run)
        codec = synthetic_corpus / "models" / "encodec"
        assert main(argv + ["--music-codec", str(codec)]) == 0
        # a recorded tokenizer that is gone
        record["tokenizers"]["music_codec"]["path"] = str(tmp_path / "moved_encodec")
        record_file.write_text(json.dumps(record))
        assert main(argv) == 2
        assert f"{tmp_path / 'moved_encodec'} not found (moved or deleted?)" in capsys.readouterr().err
        # an export that records none: the config names the options to give, before anything runs
        record_file.unlink()
        assert main(paper + ["--out", str(tmp_path / "paper"), "--print-config"]) == 2
        err = capsys.readouterr().err
        assert "without --shards the tokenizers must be given or recorded by the export" in err
        assert "--music-codec, --motion-tokenizer, --text-tokenizer" in err
    finally:
        record_file.write_text(original)


def test_the_shards_manifest_still_wins_over_the_export(trained_export, tiny_shards, tmp_path):
    from unimumo.eval.assets import tokenizer_path

    moved = tmp_path / "export"
    shutil.copytree(trained_export, moved)
    record = json.loads((moved / TOKENIZERS_FILE).read_text())
    record["tokenizers"]["text_tokenizer"]["path"] = str(tmp_path / "elsewhere.model")
    (moved / TOKENIZERS_FILE).write_text(json.dumps(record))
    manifest = Path(Manifest.load(tiny_shards).tokenizers["text_tokenizer"]["path"])
    assert tokenizer_path(tiny_shards, "text_tokenizer", None, moved) == manifest  # --shards before the export
    assert tokenizer_path(None, "text_tokenizer", manifest, moved) == manifest  # a given path before both
    with pytest.raises(ValueError, match="elsewhere.model not found"):
        tokenizer_path(None, "text_tokenizer", None, moved)
    (moved / TOKENIZERS_FILE).write_text('{"tokenizers": {"text_tokenizer": {"path": 3}}}')
    with pytest.raises(ValueError, match=rf"{TOKENIZERS_FILE}: tokenizers.text_tokenizer must hold a 'path'"):
        tokenizer_path(None, "text_tokenizer", None, moved)


def test_musiccaps_finds_the_tokenizers_in_the_export(trained_export, tmp_path):
    """text2music --musiccaps (what `paper --musiccaps` runs) with neither --shards nor a tokenizer option: the
    config accepts the export's record, so the run must load the tokenizers from it too."""
    from test_eval_musiccaps import CSV, write_musiccaps_audio

    from unimumo.eval.random_eval_models import write_laion_checkpoint, write_roberta_dir

    out = tmp_path / "musiccaps"
    argv = ["text2music", "--model", str(trained_export), "--musiccaps", str(CSV), "--out", str(out)]
    argv += ["--musiccaps-audio", str(write_musiccaps_audio(tmp_path / "audio")), "--motion-prompt", "none"]
    argv += ["--metrics", "clap", "--clap", str(write_laion_checkpoint(tmp_path / "630k-audioset-best.pt"))]
    argv += ["--clap-text-model", str(write_roberta_dir(tmp_path / "roberta-base")), "--seconds", "1"]
    assert main(argv + ["--render", "0", "--device", "cpu", "--batch-size", "3"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["info"]["num_clips"] == 3 and -1.0 <= report["metrics"]["generated"]["clap"] <= 1.0
