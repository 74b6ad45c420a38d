"""Streaming loader: real WebDataset tars read through real DataLoader workers.

Shards are written here with webdataset.TarWriter in the documented sample format. Codes encode
their own time index (music[k, t] = t + 7k, motion[k, t] = t + 11k + 1000), so a batch row shows
exactly where it was cropped in both streams.
"""
from __future__ import annotations

import io
import json
import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import webdataset as wds

from unimumo.constants import NUM_CODEBOOKS, TASKS
from unimumo.data.loader import ShardSkippedWarning, build_loader

MOTION_BASE = 1000


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def make_sample(key: str, length: int, rng: random.Random) -> dict:
    t = np.arange(length)
    k = np.arange(NUM_CODEBOOKS)[:, None]
    text = [np.array([rng.randint(3, 200) for _ in range(rng.randint(2, 12))] + [1], dtype=np.int32) for _ in range(2)]
    return {
        "__key__": key,
        "music.codes.npy": _npy((t + 7 * k).astype(np.int16)),
        "motion.codes.npy": _npy((t + 11 * k + MOTION_BASE).astype(np.int16)),
        "music.txt": f"music caption {key}".encode(),
        "motion.txt": f"motion caption {key}".encode(),
        "music.ids.npy": _npy(text[0]),
        "motion.ids.npy": _npy(text[1]),
        "json": json.dumps({"track_id": key, "fps": 50}).encode(),
    }


def write_shards(root: Path, lengths: list[list[int]], split: str = "train", seed: int = 0) -> dict[str, dict]:
    """Shards `{split}-{i:06d}.tar` with lengths[i] samples + manifest.json; returns {key: sample} written."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    written, entries = {}, []
    for shard_index, shard_lengths in enumerate(lengths):
        name = f"{split}-{shard_index:06d}.tar"
        with wds.TarWriter(str(root / name)) as writer:
            for sample_index, length in enumerate(shard_lengths):
                sample = make_sample(f"{split}{shard_index:02d}_{sample_index:03d}", length, rng)
                writer.write(sample)
                written[sample["__key__"]] = sample
        entries.append({"name": name, "split": split, "count": len(shard_lengths)})
    (root / "manifest.json").write_text(json.dumps({"shards": entries}))
    return written


@pytest.fixture
def shards(tmp_path) -> tuple[Path, dict]:
    rng = random.Random(1)
    lengths = [[rng.randint(12, 40) for _ in range(rng.randint(9, 13))] for _ in range(6)]
    return tmp_path / "shards", write_shards(tmp_path / "shards", lengths)


def collect(loader, max_batches: int | None = None) -> list[dict]:
    batches = []
    for batch in loader:
        batches.append(batch)
        if max_batches is not None and len(batches) == max_batches:
            break
    return batches


def all_keys(batches: list[dict]) -> list[str]:
    return [key for batch in batches for key in batch["keys"]]


def assert_same_batches(first: list[dict], second: list[dict]) -> None:
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert a["keys"] == b["keys"]
        for name in a:
            if name != "keys":
                assert torch.equal(a[name], b[name]), name


def test_batches_follow_the_contract(shards):
    root, written = shards
    batch = next(iter(build_loader(root, "train", 5, window=10, max_text_len=8, num_workers=0)))
    assert batch["music_codes"].shape == batch["motion_codes"].shape == (5, NUM_CODEBOOKS, 10)
    for name in ("music_text_ids", "music_text_mask", "motion_text_ids", "motion_text_mask"):
        assert batch[name].shape == (5, 8) and batch[name].dtype == torch.long
    assert batch["music_codes"].dtype == torch.long and batch["task"].dtype == torch.long
    for row, key in enumerate(batch["keys"]):
        for modality in ("music", "motion"):
            ids = np.load(io.BytesIO(written[key][f"{modality}.ids.npy"]))[:8]
            mask = batch[f"{modality}_text_mask"][row]
            assert mask.tolist() == [1] * len(ids) + [0] * (8 - len(ids))
            assert batch[f"{modality}_text_ids"][row, : len(ids)].tolist() == ids.tolist()
            assert batch[f"{modality}_text_ids"][row, len(ids) :].eq(0).all()
    assert (batch["task"] == TASKS.index("text2music_motion")).all()


def test_music_and_motion_are_cropped_at_the_same_offset(shards):
    root, written = shards
    window = 10
    starts = []
    for batch in build_loader(root, "train", 4, window=window, num_workers=2, epochs=2):
        for row, key in enumerate(batch["keys"]):
            music, motion = batch["music_codes"][row], batch["motion_codes"][row]
            start = int(music[0, 0])
            expected_time = torch.arange(start, start + window)
            length = np.load(io.BytesIO(written[key]["music.codes.npy"])).shape[1]
            assert 0 <= start <= length - window
            for k in range(NUM_CODEBOOKS):
                assert torch.equal(music[k], expected_time + 7 * k)
                assert torch.equal(motion[k], expected_time + 11 * k + MOTION_BASE)
            starts.append(start)
    assert len(set(starts)) > 5, "crop offsets should vary between samples and epochs"


def test_ranks_and_workers_see_disjoint_data_with_full_coverage(shards):
    root, written = shards
    seen = []
    for rank in range(2):
        loader = build_loader(root, "train", 3, window=10, rank=rank, world_size=2, num_workers=2, epochs=1)
        rank_keys = all_keys(collect(loader))
        assert len(rank_keys) == len(set(rank_keys)), f"rank {rank}: two workers delivered the same sample"
        seen.append(set(rank_keys))
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(written)


def test_finite_epochs_deliver_every_sample_once_per_epoch(shards):
    root, written = shards
    batches = collect(build_loader(root, "train", 7, window=10, num_workers=2, epochs=2))
    keys = all_keys(batches)
    assert sorted(keys) == sorted(list(written) * 2)
    assert sum(len(b["keys"]) < 7 for b in batches) <= 2, "only each worker's last batch may be partial"
    first_epoch_order = keys[: len(written)]
    assert first_epoch_order != sorted(first_epoch_order), "samples should be shuffled"


def test_same_settings_give_the_same_batches_and_a_new_seed_changes_them(shards):
    root, _ = shards
    settings = dict(window=10, num_workers=2, shuffle_buffer=16, task_mixture={"music2motion": 1, "motion2music": 1})
    first = collect(build_loader(root, "train", 4, seed=3, **settings), 12)
    assert_same_batches(first, collect(build_loader(root, "train", 4, seed=3, **settings), 12))
    other = collect(build_loader(root, "train", 4, seed=4, **settings), 12)
    assert all_keys(other) != all_keys(first)


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("interrupt_after", [1, 5, 18])
def test_resume_continues_with_exactly_the_next_batch(shards, num_workers, interrupt_after):
    root, written = shards
    settings = dict(window=10, num_workers=num_workers, shuffle_buffer=8, seed=11)
    total = 24  # 24 batches of 5 > 2 epochs of ~65 samples: resume points fall in later epochs too
    reference = collect(build_loader(root, "train", 5, **settings), total)

    interrupted = build_loader(root, "train", 5, **settings)
    head = collect(interrupted, interrupt_after)
    state = torch.load(_roundtrip(interrupted.state_dict()), weights_only=False)

    resumed = build_loader(root, "train", 5, **settings)
    resumed.load_state_dict(state)
    tail = collect(resumed, total - interrupt_after)
    assert_same_batches(head + tail, reference)
    assert resumed.stats["batches_seen"] == total
    assert resumed.stats["samples_seen"] == 5 * total


def _roundtrip(state: dict) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer


def test_breaking_out_and_iterating_again_continues_the_sequence(shards):
    root, _ = shards
    reference = collect(build_loader(root, "train", 4, window=10, num_workers=2), 10)
    loader = build_loader(root, "train", 4, window=10, num_workers=2)
    assert_same_batches(collect(loader, 3) + collect(loader, 7), reference)


def test_resume_refuses_changed_settings(shards):
    root, _ = shards
    state = build_loader(root, "train", 4, window=10, num_workers=2).state_dict()
    with pytest.raises(ValueError, match="num_workers: saved 2, now 1"):
        build_loader(root, "train", 4, window=10, num_workers=1).load_state_dict(state)


def test_missing_and_corrupt_shards_are_skipped_counted_and_warned(tmp_path):
    root = tmp_path / "shards"
    written = write_shards(root, [[20] * 6, [20] * 6, [20] * 6, [20] * 6])
    lost = {key for key in written if key.startswith(("train01", "train02", "train03"))}
    (root / "train-000001.tar").unlink()
    (root / "train-000002.tar").write_bytes(random.Random(0).randbytes(5000))
    tar3 = (root / "train-000003.tar").read_bytes()
    (root / "train-000003.tar").write_bytes(tar3[:700] + b"\x00garbage" * 100)

    loader = build_loader(root, "train", 2, window=10, num_workers=2, epochs=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keys = all_keys(collect(loader))
    messages = [str(w.message) for w in caught if issubclass(w.category, ShardSkippedWarning)]
    assert set(keys) <= set(written) - (lost - {k for k in keys if k.startswith("train03")})
    assert set(written) - lost <= set(keys)
    assert loader.stats["missing_shards_skipped"] == 1
    assert loader.stats["corrupt_shards_skipped"] == 2
    assert any("train-000001.tar" in m for m in messages)
    assert any("train-000002.tar" in m for m in messages)
    assert any("train-000003.tar" in m for m in messages)


def test_corrupt_and_short_samples_are_skipped_and_counted(tmp_path):
    root = tmp_path / "shards"
    rng = random.Random(0)
    good = [make_sample(f"good{i}", 30, rng) for i in range(6)]
    broken_npy = {**make_sample("badnpy", 30, rng), "music.codes.npy": b"not an array"}
    out_of_range = {**make_sample("badrange", 30, rng), "motion.codes.npy": _npy(np.full((4, 30), 5000, np.int16))}
    no_ids = {k: v for k, v in make_sample("noids", 30, rng).items() if k != "motion.ids.npy"}
    short = make_sample("short", 5, rng)
    root.mkdir()
    with wds.TarWriter(str(root / "train-000000.tar")) as writer:
        for sample in [good[0], broken_npy, good[1], out_of_range, good[2], no_ids, short, *good[3:]]:
            writer.write(sample)
    (root / "manifest.json").write_text(json.dumps({"shards": [{"name": "train-000000.tar", "split": "train", "count": 10}]}))

    loader = build_loader(root, "train", 4, window=10, epochs=1)
    with pytest.warns(ShardSkippedWarning, match="badnpy"):
        keys = all_keys(collect(loader))
    assert sorted(keys) == sorted(f"good{i}" for i in range(6))
    assert loader.stats["corrupt_samples_skipped"] == 3
    assert loader.stats["short_samples_dropped"] == 1


def test_task_tags_follow_the_mixture(shards):
    root, _ = shards
    mixture = {"text2music_motion": 0.0, "music2motion": 3.0, "motion2music": 1.0}
    tasks = torch.cat([b["task"] for b in collect(build_loader(root, "train", 8, window=10, task_mixture=mixture), 40)])
    counts = torch.bincount(tasks, minlength=len(TASKS)).tolist()
    assert counts[TASKS.index("text2music_motion")] == 0
    share = counts[TASKS.index("music2motion")] / len(tasks)
    assert 0.68 < share < 0.82
    with pytest.raises(ValueError, match="unknown tasks"):
        build_loader(root, "train", 8, task_mixture={"dance2poetry": 1.0})


def test_clear_errors_for_bad_arguments(shards, tmp_path):
    root, _ = shards
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        build_loader(tmp_path / "nowhere", "train", 2)
    with pytest.raises(ValueError, match="no shards for split 'val'"):
        build_loader(root, "val", 2)
    with pytest.raises(ValueError, match="fewer than world_size=8"):
        build_loader(root, "train", 2, rank=0, world_size=8)


def test_only_short_samples_raise_instead_of_looping_forever(tmp_path):
    root = tmp_path / "shards"
    write_shards(root, [[5, 6], [7]])
    with pytest.raises(RuntimeError, match="no readable samples of at least window=10"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            next(iter(build_loader(root, "train", 2, window=10, num_workers=2)))
