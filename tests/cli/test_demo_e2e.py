"""End to end: `unimumo-demo` from an empty directory (stage 1 from the corpus's tiny MusicGen, then stage 2 and the
caption stage) to music->motion and captioning metrics, a wav and a dance GIF, `unimumo-eval paper` on its
AIST++-layout set (paper_tables.md, a defined BAS), then resumed."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

DEMO_ARGS = [
    "--vqvae-steps",
    "20",
    "--stage1-steps",
    "6",
    "--stage2-steps",
    "6",
    "--caption-steps",
    "4",
    "--eval-samples",
    "4",
]


def run_demo(work_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "unimumo.cli.demo", "--work-dir", str(work_dir), *DEMO_ARGS],
        capture_output=True,
        text=True,
        env=env,
        timeout=1500,
    )


def test_demo_runs_the_whole_pipeline_and_resumes(tmp_path):
    work = tmp_path / "demo"
    first = run_demo(work)
    assert first.returncode == 0, f"demo failed:\n{first.stdout[-4000:]}\n{first.stderr[-4000:]}"

    manifest = json.loads((work / "shards/demo/manifest.json").read_text())
    assert set(manifest["splits"]) == {"train", "val", "test"}
    for stage in ("motion_vqvae", "stage1_motion", "stage2_joint", "caption"):
        run = work / "runs" / stage
        assert (run / "export" / "config.json").exists(), stage
        assert (run / "checkpoints" / "latest").exists(), stage
        assert (run / "best" / "unimumo_best.json").is_file(), stage  # validated on the held-out split
        lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        assert lines and all(math.isfinite(line["loss"]) for line in lines if "loss" in line), stage
    assert list((work / "runs" / "stage2_joint" / "tensorboard").rglob("events.out.tfevents.*"))

    evaluation = work / "eval" / "music2motion"
    metrics = json.loads((evaluation / "metrics.json").read_text())
    generated = metrics["metrics"]["generated"]
    for name in ("FID_k", "FID_m", "Div_k", "Div_m"):
        assert isinstance(generated[name], float) and math.isfinite(generated[name]), (name, generated[name])
    for name in ("BAS", "PFC"):  # undefined per sequence (no beat, still root) is counted, never a silent 0
        assert generated[f"{name}_nan"] <= metrics["info"]["num_samples"], (name, generated)
        if generated[f"{name}_nan"] < metrics["info"]["num_samples"]:
            assert isinstance(generated[name], float) and math.isfinite(generated[name]), (name, generated[name])
        else:
            assert generated[name] is None, (name, generated[name])
    assert list(evaluation.rglob("*.wav")) and list(evaluation.rglob("*.gif"))
    assert (evaluation / "metrics.md").exists()
    summary = (work / "SUMMARY.txt").read_text()
    assert str(evaluation / "metrics.md") in summary
    assert "held-out loss by step" in summary and " mm)" in summary  # the validation curves (VQ-VAE: MPJPE)
    captions = work / "eval" / "caption"
    table = json.loads((captions / "metrics.json").read_text())["metrics"]
    assert set(table) == {"music", "motion", "music_held_out", "motion_held_out"}  # *_held_out: unseen references
    for column, row in table.items():
        assert all(row[name] is None or 0 <= row[name] <= 1 for name in ("BLEU-1", "BLEU-4", "ROUGE-L")), column
    assert str(captions / "metrics.md") in summary and "ROUGE-L" in first.stdout
    # the published captioning benchmarks on the synthetic corpus in their formats, printed labelled
    for command in ("music-caption", "motion-caption"):
        assert (work / "eval" / command / "metrics.json").is_file() and f"# {command} evaluation" in first.stdout
    assert first.stdout.count("tiny random-weight models on the synthetic corpus") == 2
    # motion-caption's R-precision and matching score from a tiny random-weight T2M evaluator (spaCy: unimumo[eval])
    matching = json.loads((work / "eval" / "motion-caption" / "metrics.json").read_text())["metrics"]["this_model"]
    if importlib.util.find_spec("spacy"):
        for name in ("r_precision_top1", "r_precision_top2", "r_precision_top3", "matching_score"):
            assert isinstance(matching[name], float) and math.isfinite(matching[name]), (name, matching)
        assert "tiny RANDOM-weight T2M text-motion evaluator" in first.stdout
    else:
        assert "R-precision and matching score not computed: spaCy is not installed" in first.stdout
    # text -> music on a MusicCaps-format set, FAD / KL / CLAP from random evaluation models, printed labelled as such
    quality = json.loads((work / "eval" / "musiccaps" / "metrics.json").read_text())["metrics"]["generated"]
    assert all(math.isfinite(quality[name]) for name in ("fad", "kl_softmax", "kl_sigmoid", "clap")), quality
    assert "RANDOM-weight VGGish and PANNs" in first.stdout and "# text2music-musiccaps evaluation" in first.stdout
    assert "tiny RANDOM-weight LAION-CLAP" in first.stdout

    # the published benchmarks on the demo's AIST++-layout set: the music beats come from the real music, so BAS is
    # defined; the tokenizers come from the export's record (no --shards, no tokenizer option)
    assert (work / "runs" / "stage2_joint" / "export" / "unimumo_tokenizers.json").is_file()
    paper = json.loads((work / "eval" / "paper" / "music2motion" / "metrics.json").read_text())
    dance = paper["metrics"]["generated"]
    assert dance["BAS_nan"] < len(paper["inputs"]) == paper["info"]["num_slices"] > 0, dance
    assert isinstance(dance["BAS"], float) and math.isfinite(dance["BAS"]), dance
    tables = (work / "paper_tables.md").read_text()
    for row in ("## Music -> dance", "## Dance -> music", "| this run |", "| UniMuMo (published, as quoted) |"):
        assert row in tables, row
    assert f"| {dance['BAS']:.4f} |" in tables
    assert str(work / "paper_tables.md") in summary and "## Music -> dance" in first.stdout

    second = run_demo(work)  # every step is complete: nothing is recomputed
    assert second.returncode == 0, second.stderr[-4000:]
    assert second.stderr.count("already done, skipping") >= 9, second.stderr  # the demo's log
