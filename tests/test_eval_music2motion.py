"""End to end: `unimumo-eval music2motion` on a tiny random UniMuMo and the tiny shards."""
import json
import math

import pytest

from unimumo.eval.cli import main


@pytest.fixture(scope="module")
def tiny_model(synthetic_corpus, tmp_path_factory):
    """A tiny random UniMuMo exported in HF format (T5 parts from the corpus's tiny T5)."""
    import torch

    from unimumo.models.configuration_unimumo import UniMuMoConfig
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    torch.manual_seed(0)
    config = UniMuMoConfig.preset("tiny", num_hidden_layers=1)
    model = UniMuMoForConditionalGeneration.from_components(config, text_model_dir=str(synthetic_corpus / "models" / "t5"))
    out = tmp_path_factory.mktemp("tiny_unimumo") / "export"
    model.save_pretrained(out)
    return out


def run_music2motion(model, shards, out, *extra):
    argv = ["music2motion", "--model", str(model), "--shards", str(shards), "--out", str(out),
            "--num-samples", "3", "--seconds", "2", "--batch-size", "2", "--render", "1", "--device", "cpu",
            "--motion-fps", "20", *extra]
    assert main(argv) == 0


def test_music2motion_end_to_end_writes_every_output(tiny_model, tiny_shards, tmp_path):
    out = tmp_path / "m2m"
    run_music2motion(tiny_model, tiny_shards, out)
    report = json.loads((out / "metrics.json").read_text())
    assert report["task"] == "music2motion" and report["info"]["num_samples"] == 3
    generated, truth = report["metrics"]["generated"], report["metrics"]["ground_truth"]
    for name in ("FID_k", "FID_m", "Div_k", "Div_m", "BAS", "PFC"):
        assert math.isfinite(generated[name]), name
    assert truth["FID_k"] == 0.0 and math.isfinite(truth["BAS"])
    assert "| FID_k |" in (out / "metrics.md").read_text()
    renders = sorted((out / "renders").iterdir())
    assert len(renders) == 1
    assert (renders[0] / "music.wav").stat().st_size > 44
    for name in ("generated", "ground_truth"):
        files = sorted(p.name for p in (renders[0] / name).iterdir())
        assert files == ["dance.gif", "motion.bvh", "motion.npy", "speed_beats.png"]
    chunks = sorted((out / "cache" / "music2motion").glob("chunk_*.npz"))
    assert [c.name for c in chunks] == ["chunk_00000.npz", "chunk_00001.npz"]

    # resume: completed chunks are reused (not rewritten) and the metrics are identical
    stamps = {c: c.stat().st_mtime_ns for c in chunks}
    chunks[1].unlink()  # as if interrupted before the second batch finished
    run_music2motion(tiny_model, tiny_shards, out)
    assert chunks[0].stat().st_mtime_ns == stamps[chunks[0]]
    assert json.loads((out / "metrics.json").read_text())["metrics"] == report["metrics"]

    # a fresh directory with the same seed reproduces the run; other settings are refused on resume
    again = tmp_path / "again"
    run_music2motion(tiny_model, tiny_shards, again)
    assert json.loads((again / "metrics.json").read_text())["metrics"] == report["metrics"]
    assert main(["music2motion", "--model", str(tiny_model), "--shards", str(tiny_shards), "--out", str(out),
                 "--num-samples", "3", "--seconds", "2", "--batch-size", "2", "--seed", "7", "--device", "cpu"]) == 2
