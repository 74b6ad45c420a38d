"""Evaluation samples: whole shard samples, deterministic first-N-seconds windows, clear errors."""

import json

import numpy as np
import pytest
import webdataset as wds

from unimumo.eval.samples import batch_inputs, read_eval_samples
from unimumo.shards.format import encode_sample


def write_shards(directory, lengths):
    """One test shard with samples of the given lengths (codes = time index, so windows are recognisable)."""
    directory.mkdir(parents=True, exist_ok=True)
    with wds.TarWriter(str(directory / "test-000000.tar")) as sink:
        for index, length in enumerate(lengths):
            codes = np.tile(np.arange(length) % 2048, (4, 1))
            sink.write(
                encode_sample(
                    f"track{index}",
                    music_codes=codes,
                    motion_codes=codes + 1,
                    music_text=f"music {index}",
                    motion_text=f"dance {index}",
                    music_ids=[5, 6, 1],
                    motion_ids=[7, 1],
                    meta={},
                )
            )
    manifest = {
        "format": "unimumo-shards/1",
        "tokenizers": {},
        "shards": [{"name": "test-000000.tar", "split": "test", "count": len(lengths)}],
        "splits": {},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def test_first_seconds_window_and_short_samples_skipped(tmp_path):
    shards = write_shards(tmp_path / "s", [120, 40, 100, 150])
    samples, too_short = read_eval_samples(shards, "test", num_samples=2, seconds=2.0)
    assert [s.key for s in samples] == ["track0", "track2"] and too_short == 1
    np.testing.assert_array_equal(samples[0].music_codes[0], np.arange(100))  # the first 2 s = 100 codes
    np.testing.assert_array_equal(samples[1].motion_codes[0], np.arange(100) + 1)
    assert samples[0].music_text == "music 0" and samples[0].motion_text == "dance 0"
    batch = batch_inputs(samples)
    assert batch["music_codes"].shape == (2, 4, 100)
    assert batch["music_text_ids"][0, :3].tolist() == [5, 6, 1] and batch["music_text_mask"][0].sum() == 3


def test_split_shorter_than_requested_returns_what_exists(tmp_path):
    samples, _ = read_eval_samples(write_shards(tmp_path / "s", [120, 130]), "test", num_samples=5, seconds=2.0)
    assert len(samples) == 2


def test_errors_name_the_file(tmp_path):
    shards = write_shards(tmp_path / "s", [40])
    with pytest.raises(ValueError, match="has no sample of at least 2.0 s"):
        read_eval_samples(shards, "test", num_samples=1, seconds=2.0)
    with pytest.raises(ValueError, match="no shards for split 'val'"):
        read_eval_samples(shards, "val", num_samples=1, seconds=2.0)
    (shards / "test-000000.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ValueError, match="test-000000.tar: unreadable shard"):
        read_eval_samples(shards, "test", num_samples=1, seconds=0.2)
    (shards / "test-000000.tar").unlink()
    with pytest.raises(FileNotFoundError, match="test-000000.tar: shard listed in the manifest is missing"):
        read_eval_samples(shards, "test", num_samples=1, seconds=0.2)
