"""Resumable chunked work (seeds, reuse, settings guard) and the metrics report."""

import json

import numpy as np
import pytest

from unimumo.eval.chunks import check_settings, run_chunks
from unimumo.eval.report import markdown_table, write_report


def recorder(calls):
    def compute(chunk, seed):
        calls.append((chunk.start, chunk.stop, seed))
        return {"value": np.arange(chunk.start, chunk.stop) * 10 + seed}

    return compute


def test_chunks_are_seeded_by_index_and_reused(tmp_path):
    keys = [f"k{i}" for i in range(5)]
    calls = []
    first = run_chunks(keys, 2, tmp_path, recorder(calls), seed=100, description="test")
    assert calls == [(0, 2, 100), (2, 4, 101), (4, 5, 102)]
    np.testing.assert_array_equal(first["value"], [100, 110, 121, 131, 142])
    (tmp_path / "chunk_00001.npz").unlink()  # interrupted run: only this chunk is redone
    calls.clear()
    again = run_chunks(keys, 2, tmp_path, recorder(calls), seed=100, description="test")
    assert calls == [(2, 4, 101)]
    np.testing.assert_array_equal(again["value"], first["value"])
    calls.clear()
    run_chunks(["x"] + keys[1:], 2, tmp_path, recorder(calls), seed=100, description="test")
    assert calls == [(0, 2, 100)]  # a chunk whose samples changed is recomputed


def test_compute_must_return_one_row_per_sample(tmp_path):
    with pytest.raises(ValueError, match="'value' has 1 rows for 2 samples"):
        run_chunks(["a", "b"], 2, tmp_path, lambda chunk, seed: {"value": np.zeros(1)}, 0, "test")


def test_settings_guard(tmp_path):
    check_settings(tmp_path, {"seed": 0, "guidance_scale": 4.0})
    check_settings(tmp_path, {"seed": 0, "guidance_scale": 4.0})
    with pytest.raises(ValueError, match=r"different settings \(guidance_scale\)"):
        check_settings(tmp_path, {"seed": 0, "guidance_scale": 3.0})


def test_report_files(tmp_path):
    table = {"generated": {"FID_k": 17.4, "BAS": None}, "ground_truth": {"FID_k": 0.0, "BAS": 0.25}}
    write_report(tmp_path, "music2motion", table, {"num_samples": 300})
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data == {"task": "music2motion", "metrics": table, "info": {"num_samples": 300}}
    text = (tmp_path / "metrics.md").read_text()
    assert "| FID_k | 17.4000 | 0.0000 |" in text and "| BAS | - | 0.2500 |" in text
    assert markdown_table(table).splitlines()[0] == "| metric | generated | ground truth |"


def test_report_refuses_non_finite_numbers(tmp_path):
    with pytest.raises(ValueError, match="FID_k \\(generated\\) is nan"):
        write_report(tmp_path, "music2motion", {"generated": {"FID_k": float("nan")}}, {})
    assert not (tmp_path / "metrics.json").exists()
