"""Streaming loader: real WebDataset tars read through real DataLoader workers.

Most shards are written here with webdataset.TarWriter and the builder's own `encode_sample`;
their codes encode their time index (music[k, t] = t + 7k, motion[k, t] = t + 11k + 1000), so a
batch row shows exactly where it was cropped in both streams. The `tiny_shards` tests read shards
made by `unimumo-shards build` from the synthetic corpus. The last tests pin the fast tar and .npy
readers the loader uses to `tarfile` and `np.load`.
"""

from __future__ import annotations

import io
import json
import random
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import webdataset as wds

from unimumo.constants import NUM_CODEBOOKS
from unimumo.loader.dataloader import ShardSkippedWarning, build_loader
from unimumo.loader.windows import Window
from unimumo.shards.format import decode_sample, encode_sample, load_npy, npy_bytes
from unimumo.shards.manifest import FORMAT, MANIFEST_NAME
from unimumo.shards.tar_reader import TarFormatError, iter_tar_members
from unimumo.tasks import TASKS

MOTION_BASE = 1000


def make_sample(key: str, length: int, rng: random.Random) -> dict:
    """A sample in the builder's own format (shards.format.encode_sample) whose codes encode time."""
    t = np.arange(length)
    k = np.arange(NUM_CODEBOOKS)[:, None]
    return encode_sample(
        key,
        music_codes=t + 7 * k,
        motion_codes=t + 11 * k + MOTION_BASE,
        music_text=f"music caption {key}",
        motion_text=f"motion caption {key}",
        music_ids=[rng.randint(3, 200) for _ in range(rng.randint(2, 12))] + [1],
        motion_ids=[rng.randint(3, 200) for _ in range(rng.randint(2, 12))] + [1],
        meta={"track_id": key, "fps": 50},
    )


def write_manifest(root: Path, entries: list[dict]) -> None:
    (root / MANIFEST_NAME).write_text(json.dumps({"format": FORMAT, "tokenizers": {}, "shards": entries, "splits": {}}))


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
    write_manifest(root, entries)
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
    batch = next(iter(build_loader(root, "train", 5, window=Window(10, 10), max_text_len=8, num_workers=0)))
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
    for batch in build_loader(root, "train", 4, window=Window(window, window), num_workers=2, epochs=2):
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
        loader = build_loader(root, "train", 3, window=Window(10, 10), rank=rank, world_size=2, num_workers=2, epochs=1)
        rank_keys = all_keys(collect(loader))
        assert len(rank_keys) == len(set(rank_keys)), f"rank {rank}: two workers delivered the same sample"
        seen.append(set(rank_keys))
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(written)


def test_finite_epochs_deliver_every_sample_once_per_epoch(shards):
    root, written = shards
    batches = collect(build_loader(root, "train", 7, window=Window(10, 10), num_workers=2, epochs=2))
    keys = all_keys(batches)
    assert sorted(keys) == sorted(list(written) * 2)
    assert sum(len(b["keys"]) < 7 for b in batches) <= 2, "only each worker's last batch may be partial"
    first_epoch_order = keys[: len(written)]
    assert first_epoch_order != sorted(first_epoch_order), "samples should be shuffled"


def test_same_settings_give_the_same_batches_and_a_new_seed_changes_them(shards):
    root, _ = shards
    settings = dict(
        window=Window(10, 10), num_workers=2, shuffle_buffer=16, task_mixture={"music2motion": 1, "motion2music": 1}
    )
    first = collect(build_loader(root, "train", 4, seed=3, **settings), 12)
    assert_same_batches(first, collect(build_loader(root, "train", 4, seed=3, **settings), 12))
    other = collect(build_loader(root, "train", 4, seed=4, **settings), 12)
    assert all_keys(other) != all_keys(first)


@pytest.mark.parametrize("epochs", [None, 2])
@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("interrupt_after", [1, 5, 18])
def test_resume_continues_with_exactly_the_next_batch(shards, num_workers, interrupt_after, epochs):
    root, written = shards
    settings = dict(window=Window(10, 10), num_workers=num_workers, shuffle_buffer=8, seed=11, epochs=epochs)
    total = 24 if epochs is None else None  # 24 batches of 5 > 2 epochs of ~65 samples; finite: all of them
    reference = collect(build_loader(root, "train", 5, **settings), total)

    interrupted = build_loader(root, "train", 5, **settings)
    head = collect(interrupted, interrupt_after)
    state = interrupted.state_dict()
    assert json.loads(json.dumps(state)) == state, "the state must be plain data (JSON / torch.save)"
    state = torch.load(_roundtrip(state), weights_only=False)

    resumed = build_loader(root, "train", 5, **settings)
    resumed.load_state_dict(state)
    tail = collect(resumed, None if total is None else total - interrupt_after)
    assert_same_batches(head + tail, reference)
    assert resumed.stats["batches_seen"] == len(reference)
    assert resumed.stats["samples_seen"] == len(all_keys(reference))


def _roundtrip(state: dict) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer


def test_breaking_out_and_iterating_again_continues_the_sequence(shards):
    root, _ = shards
    reference = collect(build_loader(root, "train", 4, window=Window(10, 10), num_workers=2), 10)
    loader = build_loader(root, "train", 4, window=Window(10, 10), num_workers=2)
    assert_same_batches(collect(loader, 3) + collect(loader, 7), reference)


def test_a_finished_finite_loader_starts_again_from_its_first_batch(shards):
    root, _ = shards
    loader = build_loader(root, "train", 6, window=Window(10, 10), num_workers=2, epochs=1)
    assert_same_batches(collect(loader), collect(loader))


def test_resume_refuses_changed_settings(shards):
    root, _ = shards
    state = build_loader(root, "train", 4, window=Window(10, 10), num_workers=2).state_dict()
    with pytest.raises(ValueError, match="num_workers: saved 2, now 1"):
        build_loader(root, "train", 4, window=Window(10, 10), num_workers=1).load_state_dict(state)
    with pytest.raises(ValueError, match="window: saved {'steps': 10, 'min_steps': 10}, now {'steps': 12"):
        build_loader(root, "train", 4, window=Window(12, 10), num_workers=2).load_state_dict(state)


def test_a_state_of_format_1_resumes_exactly(shards):
    """Format 1 saved the window as two numbers of code steps (config window, min_window)."""
    root, _ = shards
    reference = collect(build_loader(root, "train", 4, window=Window(10, 8), num_workers=2), 6)
    loader = build_loader(root, "train", 4, window=Window(10, 8), num_workers=2)
    head = collect(loader, 2)
    state = loader.state_dict()
    config = {name: value for name, value in state["config"].items() if name != "window"}
    old = {**state, "format": 1, "config": {**config, "window": 10, "min_window": 8}}
    resumed = build_loader(root, "train", 4, window=Window(10, 8), num_workers=2)
    resumed.load_state_dict(old)
    assert_same_batches(head + collect(resumed, 4), reference)


def break_shards(root: Path) -> None:
    """Shard 1 missing, shard 2 random bytes, shard 3 cut after its first record and filled with garbage."""
    (root / "train-000001.tar").unlink()
    (root / "train-000002.tar").write_bytes(random.Random(0).randbytes(5000))
    tar3 = (root / "train-000003.tar").read_bytes()
    (root / "train-000003.tar").write_bytes(tar3[:700] + b"\x00garbage" * 100)


def test_missing_and_corrupt_shards_are_skipped_counted_and_warned(tmp_path):
    root = tmp_path / "shards"
    written = write_shards(root, [[20] * 6] * 5)
    break_shards(root)

    loader = build_loader(root, "train", 2, window=Window(10, 10), num_workers=2, epochs=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keys = all_keys(collect(loader))
    messages = [str(w.message) for w in caught if issubclass(w.category, ShardSkippedWarning)]
    intact = {key for key in written if key.startswith(("train00", "train04"))}
    assert intact <= set(keys) <= set(written)
    assert not any(key.startswith(("train01", "train02", "train03")) for key in keys)
    assert loader.stats["missing_shards_skipped"] == 1
    assert loader.stats["corrupt_shards_skipped"] == 2
    for name in ("train-000001.tar", "train-000002.tar", "train-000003.tar"):
        assert any(name in message for message in messages), name


def test_resume_over_broken_shards_counts_each_skip_once(tmp_path):
    root = tmp_path / "shards"
    write_shards(root, [[20] * 6] * 5)
    break_shards(root)
    settings = dict(window=Window(10, 10), num_workers=2, shuffle_buffer=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference_loader = build_loader(root, "train", 2, **settings)
        reference = collect(reference_loader, 30)
        interrupted = build_loader(root, "train", 2, **settings)
        head = collect(interrupted, 13)
        resumed = build_loader(root, "train", 2, **settings)
        resumed.load_state_dict(interrupted.state_dict())
        tail = collect(resumed, 17)
    assert_same_batches(head + tail, reference)
    assert resumed.stats == reference_loader.stats
    assert reference_loader.stats["corrupt_shards_skipped"] >= 2 * 2  # two broken shards, more than 2 epochs


def test_corrupt_and_short_samples_are_skipped_and_counted(tmp_path):
    root = tmp_path / "shards"
    rng = random.Random(0)
    good = [make_sample(f"good{i}", 30, rng) for i in range(6)]
    broken_npy = {**make_sample("badnpy", 30, rng), "music.codes.npy": b"not an array"}
    out_of_range = {**make_sample("badrange", 30, rng), "motion.codes.npy": npy_bytes(np.full((4, 30), 5000, np.int16))}
    no_ids = {k: v for k, v in make_sample("noids", 30, rng).items() if k != "motion.ids.npy"}
    short = make_sample("short", 5, rng)
    root.mkdir()
    with wds.TarWriter(str(root / "train-000000.tar")) as writer:
        for sample in [good[0], broken_npy, good[1], out_of_range, good[2], no_ids, short, *good[3:]]:
            writer.write(sample)
    write_manifest(root, [{"name": "train-000000.tar", "split": "train", "count": 10}])

    loader = build_loader(root, "train", 4, window=Window(40, 10), epochs=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keys = all_keys(collect(loader))
    messages = " ".join(str(w.message) for w in caught if issubclass(w.category, ShardSkippedWarning))
    assert all(name in messages for name in ("badnpy", "badrange", "noids", "shorter than min_window=10"))
    assert sorted(keys) == sorted(f"good{i}" for i in range(6))  # 30 frames: under the window, kept and padded
    assert loader.stats["corrupt_samples_skipped"] == 3
    assert loader.stats["short_samples_dropped"] == 1
    assert loader.stats["code_steps"] == 6 * 40 and loader.stats["padded_fraction"] == 10 / 40


def test_short_samples_are_kept_whole_padded_and_masked(tmp_path):
    root = tmp_path / "shards"
    lengths = [[3, 4, 9, 12, 20, 25], [5, 8, 30, 2, 15]]
    written = write_shards(root, lengths)
    window, minimum = 12, 4
    loader = build_loader(root, "train", 3, window=Window(window, minimum), num_workers=2, epochs=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = collect(loader)
    kept = sorted(
        key for key, sample in written.items() if np.load(io.BytesIO(sample["music.codes.npy"])).shape[1] >= minimum
    )
    assert sorted(all_keys(batches)) == sorted(kept * 2)  # everything from the minimum up, once per epoch
    assert loader.stats["short_samples_dropped"] == 2 * 2  # the 3- and 2-frame samples, each epoch
    assert "shorter than min_window=4" in " ".join(str(w.message) for w in caught)
    padded = real = 0
    for batch in batches:
        assert batch["code_mask"].shape == (len(batch["keys"]), window) and batch["code_mask"].dtype == torch.bool
        for row, key in enumerate(batch["keys"]):
            frames = np.load(io.BytesIO(written[key]["music.codes.npy"])).shape[1]
            valid = min(frames, window)
            assert batch["code_mask"][row].tolist() == [True] * valid + [False] * (window - valid)
            music, motion = batch["music_codes"][row], batch["motion_codes"][row]
            start = int(music[0, 0])  # codes encode their time index (make_sample)
            assert (start == 0) if frames <= window else (0 <= start <= frames - window)
            expected_time = torch.arange(start, start + valid)
            for k in range(NUM_CODEBOOKS):
                assert torch.equal(music[k, :valid], expected_time + 7 * k)
                assert torch.equal(motion[k, :valid], expected_time + 11 * k + MOTION_BASE)
            assert music[:, valid:].eq(0).all() and motion[:, valid:].eq(0).all()
            padded, real = padded + window - valid, real + valid
    assert loader.stats["code_steps"] == padded + real and loader.stats["padded_code_steps"] == padded
    assert loader.stats["padded_fraction"] == pytest.approx(padded / (padded + real)) and padded > 0
    # min_window above the window means the window: nothing that fills a window is ever dropped
    assert build_loader(root, "train", 3, window=Window(4, 50)).stats["padded_fraction"] == 0.0
    with pytest.raises(ValueError, match="min_steps=0"):
        build_loader(root, "train", 3, window=Window(12, 0))


@pytest.mark.filterwarnings("ignore:.*dropping samples shorter than min_window")
def test_resume_with_padded_samples_continues_with_exactly_the_next_batch(shards):
    root, _ = shards  # samples of 12 to 40 frames: a 30-frame window pads many of them
    settings = dict(window=Window(30, 20), num_workers=2, shuffle_buffer=8, seed=4)
    reference_loader = build_loader(root, "train", 4, **settings)
    reference = collect(reference_loader, 14)
    loader = build_loader(root, "train", 4, **settings)
    head = collect(loader, 5)
    resumed = build_loader(root, "train", 4, **settings)
    resumed.load_state_dict(torch.load(_roundtrip(loader.state_dict()), weights_only=False))
    assert_same_batches(head + collect(resumed, 9), reference)
    assert resumed.stats == reference_loader.stats and 0 < resumed.stats["padded_fraction"] < 1
    assert resumed.stats["short_samples_dropped"] > 0


def test_task_tags_follow_the_mixture(shards):
    root, _ = shards
    mixture = {"text2music_motion": 0.0, "music2motion": 3.0, "motion2music": 1.0}
    loader = build_loader(root, "train", 8, window=Window(10, 10), task_mixture=mixture)
    tasks = torch.cat([b["task"] for b in collect(loader, 40)])
    counts = torch.bincount(tasks, minlength=len(TASKS)).tolist()
    assert counts[TASKS.index("text2music_motion")] == 0
    share = counts[TASKS.index("music2motion")] / len(tasks)
    assert 0.68 < share < 0.82
    with pytest.raises(ValueError, match="unknown tasks"):
        build_loader(root, "train", 8, window=Window(500, 50), task_mixture={"dance2poetry": 1.0})


def test_clear_errors_for_bad_arguments(shards, tmp_path):
    root, _ = shards
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        build_loader(tmp_path / "nowhere", "train", 2, window=Window(500, 50))
    with pytest.raises(ValueError, match="no shards for split 'val'"):
        build_loader(root, "val", 2, window=Window(500, 50))
    with pytest.raises(ValueError, match="fewer than world_size=8"):
        build_loader(root, "train", 2, window=Window(500, 50), rank=0, world_size=8)


def test_only_short_samples_raise_instead_of_looping_forever(tmp_path):
    root = tmp_path / "shards"
    write_shards(root, [[5, 6], [7]])
    with pytest.raises(RuntimeError, match="no readable samples of at least min_window=10"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            next(iter(build_loader(root, "train", 2, window=Window(10, 10), num_workers=2)))


def stored_samples(shard_dir: Path, split: str) -> dict[str, dict]:
    """Every sample of a split as written by the shard builder, read straight from the tars."""
    urls = sorted(str(path) for path in shard_dir.glob(f"{split}-*.tar"))
    return {s["__key__"]: decode_sample(s) for s in wds.WebDataset(urls, shardshuffle=False)}


def test_builder_shards_are_covered_once_across_ranks_and_workers(tiny_shards):
    stored = stored_samples(tiny_shards, "train")
    manifest = json.loads((tiny_shards / MANIFEST_NAME).read_text())
    assert len(stored) == sum(entry["count"] for entry in manifest["shards"] if entry["split"] == "train")
    keys = []
    for rank in range(2):
        loader = build_loader(
            tiny_shards, "train", 2, window=Window(100, 50), rank=rank, world_size=2, num_workers=2, epochs=1
        )
        keys += all_keys(collect(loader))
        assert loader.stats["corrupt_shards_skipped"] == loader.stats["corrupt_samples_skipped"] == 0
    assert sorted(keys) == sorted(stored)


def test_builder_shards_give_aligned_crops_of_the_stored_codes(tiny_shards):
    stored = stored_samples(tiny_shards, "train")
    window = 100
    for batch in build_loader(tiny_shards, "train", 3, window=Window(window, 50), num_workers=2, epochs=1):
        for row, key in enumerate(batch["keys"]):
            music = stored[key]["music.codes.npy"].astype(np.int64)
            motion = stored[key]["motion.codes.npy"].astype(np.int64)
            starts = [
                start
                for start in range(music.shape[1] - window + 1)
                if np.array_equal(music[:, start : start + window], batch["music_codes"][row].numpy())
                and np.array_equal(motion[:, start : start + window], batch["motion_codes"][row].numpy())
            ]
            assert starts, f"{key}: batch row is not an aligned crop of the stored music and motion codes"
            ids = stored[key]["music.ids.npy"][:64]
            assert batch["music_text_ids"][row, : len(ids)].tolist() == ids.tolist()
            assert int(batch["music_text_mask"][row].sum()) == len(ids)


# --- the fast readers the loader uses: they must agree with tarfile and np.load -------------------


@pytest.mark.parametrize("tar_format", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_tar_members_agree_with_tarfile(tmp_path, tar_format):
    path = tmp_path / "members.tar"
    names = ["a.music.codes.npy", "a.json", "dir/" + "x" * 120 + ".txt", "b" * 90 + "/" + "c" * 90 + ".txt", "ü.txt"]
    if tar_format == tarfile.USTAR_FORMAT:
        names = names[:2] + names[3:4]  # ustar has no long names beyond prefix/name or non-ascii
    with tarfile.open(path, "w", format=tar_format) as archive:
        for index, name in enumerate(names):
            data = random.Random(index).randbytes(index * 700)
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1.5 if tar_format == tarfile.PAX_FORMAT else 1
            archive.addfile(info, io.BytesIO(data))
        directory = tarfile.TarInfo("some_dir")
        directory.type = tarfile.DIRTYPE
        archive.addfile(directory)
    with tarfile.open(path) as archive:
        expected = [(m.name, archive.extractfile(m).read()) for m in archive.getmembers() if m.isreg()]
    with open(path, "rb") as stream:
        members = [(m["fname"], m["data"]) for m in iter_tar_members(stream, str(path))]
    assert members == expected and len(members) == len(names)


def test_tar_members_reject_corruption_naming_the_shard(tmp_path):
    path = tmp_path / "train-000000.tar"
    write_shards(tmp_path, [[20, 20]])
    original = path.read_bytes()
    data = bytearray(original)
    data[1024 + 200 : 1024 + 512] = random.Random(0).randbytes(312)  # garbage over the second header's magic
    path.write_bytes(bytes(data))
    with open(path, "rb") as stream, pytest.raises(TarFormatError, match="train-000000.tar at byte 1024: not a ustar"):
        list(iter_tar_members(stream, str(path)))
    bad_pax = bytearray(original)
    bad_pax[512:518] = b"0 x=1\n"  # the first member's pax record claims length 0 (must not loop forever)
    path.write_bytes(bytes(bad_pax))
    with open(path, "rb") as stream, pytest.raises(TarFormatError, match="at byte 0: malformed pax header"):
        list(iter_tar_members(stream, str(path)))
    with tarfile.open(fileobj=io.BytesIO(original)) as archive:
        last_member_start = archive.getmembers()[-1].offset
    for cut in (1024 + 512 + 10, last_member_start):  # inside a file's data; at a member boundary
        path.write_bytes(original[:cut])
        with open(path, "rb") as stream, pytest.raises(TarFormatError, match="unexpected end of file"):
            list(iter_tar_members(stream, str(path)))


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int16).reshape(3, 4),
        np.asfortranarray(np.arange(12, dtype=np.int64).reshape(3, 4)),
        np.array([], dtype=np.int32),
        np.arange(5, dtype=">i4"),
    ],
)
def test_load_npy_agrees_with_numpy(array):
    loaded = load_npy(npy_bytes(array))
    assert loaded.dtype == array.dtype and np.array_equal(loaded, array)
    with pytest.raises(ValueError, match="truncated"):
        load_npy(npy_bytes(array)[:-1] if array.size else npy_bytes(array) + b"x")
    with pytest.raises(ValueError, match="bad magic"):
        load_npy(b"PK\x03\x04 not npy")


def test_more_workers_than_shards_warns_and_still_delivers_everything(tmp_path):
    root = tmp_path / "shards"
    written = write_shards(root, [[20] * 5])
    with pytest.warns(ShardSkippedWarning, match="rank 0 has 1 shards of split 'train' for 2 workers"):
        loader = build_loader(root, "train", 2, window=Window(10, 10), num_workers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keys = all_keys(collect(loader, 10))  # infinite: the idle worker ends, the other keeps cycling
    assert sorted(keys) == sorted(list(written) * 4)


def _consume_per_rank(root, world, counts, **settings) -> tuple[list[str], list[dict]]:
    """Each rank of a `world`-rank run takes counts[rank] batches -> (keys seen, every rank's state)."""
    keys, states = [], []
    for rank in range(world):
        loader = build_loader(root, "train", 3, rank=rank, world_size=world, **settings)
        keys += all_keys(collect(loader, counts[rank]))
        states.append(json.loads(json.dumps(loader.state_dict())))
    return keys, states


@pytest.mark.parametrize("old_world,old_workers,new_world,new_workers", [(2, 2, 1, 0), (1, 0, 3, 2), (3, 0, 2, 1)])
def test_resharding_continues_each_epoch_exactly_once(shards, old_world, old_workers, new_world, new_workers):
    """Another world size / worker count: the interrupted epoch is finished with every sample exactly once."""
    root, written = shards
    settings = dict(window=Window(10, 10), shuffle_buffer=8, seed=5, epochs=1)
    head, states = _consume_per_rank(root, old_world, [2, 4, 1][:old_world], num_workers=old_workers, **settings)
    tail = []
    for rank in range(new_world):
        loader = build_loader(root, "train", 3, rank=rank, world_size=new_world, num_workers=new_workers, **settings)
        loader.load_elastic_state(states)
        tail += all_keys(collect(loader))
    assert len(head) == len(set(head)) and len(tail) == len(set(tail))
    assert not set(head) & set(tail), "a sample was seen twice in one epoch"
    assert set(head) | set(tail) == set(written), "a sample of the epoch was skipped"


def test_resharding_twice_with_an_exact_resume_in_between_keeps_exactly_once(shards):
    """2 ranks -> 3 ranks (interrupted inside the remainder pass, resumed exactly) -> 1 rank, infinite loader:
    epoch 0 still delivers every sample once before epoch 1 begins."""
    root, written = shards
    settings = dict(window=Window(10, 10), shuffle_buffer=8, seed=5, epochs=None, num_workers=0)
    head, states = _consume_per_rank(root, 2, [3, 2], **settings)
    middle, middle_states = [], []
    for rank in range(3):
        loader = build_loader(root, "train", 3, rank=rank, world_size=3, **settings)
        loader.load_elastic_state(states)
        middle += all_keys(collect(loader, 1))
        resumed = build_loader(root, "train", 3, rank=rank, world_size=3, **settings)
        resumed.load_state_dict(json.loads(json.dumps(loader.state_dict())))
        batch = collect(loader, 1)
        assert_same_batches(collect(resumed, 1), batch)
        middle += all_keys(batch)
        middle_states.append(json.loads(json.dumps(loader.state_dict())))
    final = build_loader(root, "train", 3, **settings)
    final.load_elastic_state(middle_states)
    remaining = len(written) - len(head) - len(middle)
    tail = all_keys(collect(final, remaining // 3 + 1))[:remaining]
    assert sorted(head + middle + tail) == sorted(written), "epoch 0 was not delivered exactly once"
    with pytest.raises(ValueError, match="all 2 ranks"):
        build_loader(root, "train", 3, **settings).load_elastic_state(states[:1] * 2)
