"""scripts/gpu_check.sh, the prepared GPU check, runs end to end (on the CPU here) and prints its one table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_and_prints_one_table(tmp_path):
    env = {**os.environ, "DEVICE": "cpu", "STEPS": "1", "QUICK": "1", "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", "scripts/gpu_check.sh", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads((tmp_path / "results.json").read_text())
    assert [row["benchmark"] for row in rows] == [
        "mfu",
        "generation_kv_cache",
        "motion_tokenizer_batched_encode",
        "shard_build_codec",
    ]
    assert all(isinstance(row["ratio"], (int, float)) and row["ratio"] > 0 for row in rows)
    assert "tokens/s" in rows[0]["unit"] and rows[0]["detail"]["steps_measured"] == 1
    table = done.stdout[done.stdout.index("| benchmark |") :]
    assert len(table.strip().splitlines()) == 2 + len(rows)
