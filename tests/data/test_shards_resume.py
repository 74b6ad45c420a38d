"""Kill a real build process mid-way, resume it, and get exactly the shards of an uninterrupted build."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv


@pytest.mark.slow  # two subprocess builds (imports + numba compile each): ~30-45 s on 2 busy cores
def test_killed_build_resumes_to_identical_shards(synthetic_corpus, tiny_shards, tmp_path):
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "unimumo.cli.shards",
        *build_argv(synthetic_corpus, out, "train", *TINY_SHARDS_ARGS),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first_record = out / ".build" / "train" / "000000.json"
    deadline = time.monotonic() + 120
    while not first_record.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "build finished before it could be killed: " + process.stderr.read().decode()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    reference = [e for e in json.loads((tiny_shards / "manifest.json").read_text())["shards"] if e["split"] == "train"]
    finished = sorted((out / ".build" / "train").glob("0*.json"))
    assert 1 <= len(finished) < len(reference)  # really interrupted mid-way
    assert not (out / "manifest.json").exists()

    resumed = subprocess.run(command + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["resumed_from_track"] > 0
    ours = json.loads((out / "manifest.json").read_text())["shards"]
    assert [(e["name"], e["count"], e["sha256"]) for e in ours] == [
        (e["name"], e["count"], e["sha256"]) for e in reference
    ]
    assert sorted(p.name for p in out.glob("train-*.tar")) == [e["name"] for e in reference]
    assert not list(out.glob(".*.tmp"))
    reference_failures = [
        line for line in (tiny_shards / "failures.jsonl").read_text().splitlines() if '"train"' in line
    ]
    assert (out / "failures.jsonl").read_text().splitlines() == reference_failures


def test_a_damaged_shard_record_is_named(tmp_path):
    from unimumo.shards.writer import read_records, records_dir

    record = records_dir(tmp_path, "train") / "000000.json"
    record.parent.mkdir(parents=True)
    record.write_text('{"name": "train-000000.tar", "spl')
    with pytest.raises(ValueError, match="000000.json: unreadable shard record"):
        read_records(tmp_path, "train")
