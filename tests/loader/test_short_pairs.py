"""Short pairs train: a real `unimumo-train` run (one process, ZeRO-0 on the CPU, tiny LM) on shards built by
`unimumo-shards build` whose every sample is shorter than the window trains on all of them, padded and masked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from testkit.training_runs import train_one_process
from unimumo.constants import CODE_RATE
from unimumo.shards.format import sample_frames
from unimumo.shards.manifest import MANIFEST_NAME
from unimumo.shards.tar_reader import read_shard

REPO = Path(__file__).resolve().parents[2]
MICRO_BATCH = 4


def test_a_build_of_clips_shorter_than_the_window_trains_on_all_of_them(synthetic_corpus, tiny_shards, tmp_path):
    frames = [sample_frames(raw) for url in sorted(tiny_shards.glob("train-*.tar")) for raw in read_shard(str(url))]
    count = sum(
        e["count"] for e in json.loads((tiny_shards / MANIFEST_NAME).read_text())["shards"] if e["split"] == "train"
    )
    assert len(frames) == count
    window = max(frames) + 20  # code steps: every sample is shorter than the window (and longer than data.min_window_s)
    steps = -(-count // MICRO_BATCH)  # one stream, full batches: the first `count` samples are the whole epoch
    settings = {
        "steps": steps,
        "seed": 0,
        "model.preset": "tiny",
        "data.shards": str(tiny_shards),
        "text_model": str(synthetic_corpus / "models" / "t5"),
        "data.window_s": window / CODE_RATE,
        "data.micro_batch": MICRO_BATCH,
        "data.global_batch": MICRO_BATCH,
        "data.num_workers": 0,
        "data.shuffle_buffer": 8,
        "schedule.warmup_steps": 1,
        "log.every": 1,
        "log.progress_bar": "false",
        "log.tensorboard": "false",
        "checkpoint.every": 10_000,
    }
    lines = train_one_process("stage2_joint", tmp_path / "run", settings)
    last = lines[-1]
    assert last["data/short_samples_dropped"] == 0 and last["data/corrupt_samples_skipped"] == 0
    assert last["data/samples_seen"] >= count  # so every sample of the build was trained on
    assert last["data/padded_fraction"] > 0 and all(np.isfinite(line["loss"]) for line in lines)
    if last["data/samples_seen"] == count:  # exactly one epoch: the padding is known
        padded = sum(window - f for f in frames)
        assert last["data/padded_fraction"] == pytest.approx(padded / (count * window))
