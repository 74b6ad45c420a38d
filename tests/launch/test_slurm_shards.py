"""slurm/build_shards.sh on the real local cluster: a 3-task array builds 3 slices, a dependent job merges them."""

import json

import pytest
from test_shards_slices import split_content

from slurm.jobs import CPU_ALLOCATION, assert_completed, clean_env, sbatch, slurm_cluster, wait_for_job  # noqa: F401
from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv

pytestmark = pytest.mark.slurm


@pytest.mark.slow  # three array tasks (one build each) and a merge job: ~40 s on 2 busy cores
def test_array_build_and_merge_equal_the_whole_build(slurm_cluster, synthetic_corpus, tiny_shards, tmp_path):
    out = tmp_path / "shards"
    argv = build_argv(synthetic_corpus, "unused", "train", *TINY_SHARDS_ARGS)[1:]
    for option in ("--out", "--split"):  # the script adds these
        del argv[argv.index(option) : argv.index(option) + 2]
    # the corpus's broken tracks all fall in the last slice: lift the per-slice failure limit so every task completes
    argv += ["--max-failure-fraction", "1"]
    env = clean_env(UNIMUMO_SHARDS=str(out), UNIMUMO_SPLITS="train", UNIMUMO_BUILD_WORKERS="1")
    allocation = [flag for flag in CPU_ALLOCATION if not flag.startswith("--ntasks")] + ["--ntasks-per-node=1"]
    array = sbatch(
        *allocation, "--array=0-2", f"--output={tmp_path}/build-%a.log", "slurm/build_shards.sh", *argv, env=env
    )
    merge = sbatch(
        *allocation,
        f"--dependency=afterok:{array}",
        f"--output={tmp_path}/merge.log",
        "slurm/build_shards.sh",
        "merge",
        env=env,
    )
    for task in range(3):
        log = tmp_path / f"build-{task}.log"
        text = assert_completed(f"{array}_{task}", wait_for_job(f"{array}_{task}", log, timeout_s=300), log)
        assert f"slice {task}/3 of train on" in text and "[cpu]" in text and f"slice {task}/3 finished" in text, text
        assert (out / "slices" / f"{task}-of-3" / "manifest.json").is_file(), text
    text = assert_completed(merge, wait_for_job(merge, tmp_path / "merge.log", timeout_s=120), tmp_path / "merge.log")
    assert "merged train:" in text, text

    assert split_content(out, "train") == split_content(tiny_shards, "train")
    merged = json.loads((out / "manifest.json").read_text())["splits"]["train"]
    whole = json.loads((tiny_shards / "manifest.json").read_text())["splits"]["train"]
    assert {k for k in whole if merged[k] != whole[k]} == {"shards", "build_args", "max_failure_fraction"}
    assert merged["build_args"]["slices"] == 3


def test_a_non_array_submission_is_refused(slurm_cluster, tmp_path):
    log = tmp_path / "job.log"
    allocation = [flag for flag in CPU_ALLOCATION if not flag.startswith("--ntasks")] + ["--ntasks-per-node=1"]
    job = sbatch(*allocation, f"--output={log}", "slurm/build_shards.sh", env=clean_env(UNIMUMO_SHARDS=str(tmp_path)))
    fields = wait_for_job(job, log, timeout_s=60)
    assert fields["JobState"] == "FAILED" and "submit as a job array, one task per slice" in log.read_text()
