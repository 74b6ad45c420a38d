"""Tiny stage-1 training runs launched through Slurm, and the checks that compare them.

`stage1_reference` is the uninterrupted run that preempted runs (sbatch and submitit) must reproduce;
it is computed once per pytest session and shared through the session's base temp directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from slurm.jobs import CPU_ALLOCATION, assert_completed, clean_env, sbatch, wait_for_job
from testkit.training_runs import TINY_RECIPE

STEPS = 40
# A tiny recipe: 2 ranks x micro batch 2, 24-step windows, a checkpoint only at the end (or on a signal).
TINY_OVERRIDES = {**TINY_RECIPE, "steps": STEPS, "data.global_batch": 4, "checkpoint.every": 1000}


def job_env(shards: Path, corpus: Path, out: Path, overrides: dict, **extra: str) -> dict[str, str]:
    """Environment for slurm/*.sh: UNIMUMO_* settings of a tiny run (stage 1 from the corpus's tiny MusicGen)."""
    return clean_env(
        UNIMUMO_SHARDS=str(shards),
        UNIMUMO_TEXT_MODEL=str(corpus / "models" / "t5"),
        UNIMUMO_MUSICGEN=str(corpus / "models" / "musicgen"),
        UNIMUMO_OUT=str(out),
        UNIMUMO_OVERRIDES=" ".join(f"{k}={v}" for k, v in overrides.items()),
        **extra,
    )


def submit_stage(script: str, env: dict[str, str], log: Path) -> str:
    return sbatch(*CPU_ALLOCATION, "--time=20", f"--output={log}", script, env=env)


def stage1_reference(base: Path, shards: Path, corpus: Path) -> Path:
    """Run directory of an uninterrupted `sbatch slurm/stage1_motion.sh` (built on first use)."""
    out, log = base / "stage1_reference", base / "stage1_reference.log"
    if not (out / "export" / "config.json").is_file():
        job = submit_stage("slurm/stage1_motion.sh", job_env(shards, corpus, out, TINY_OVERRIDES), log)
        assert_completed(job, wait_for_job(job, log), log)
    return out


def losses(out: Path) -> dict[int, float]:
    """step -> logged loss (metrics.jsonl)."""
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {line["step"]: line["loss"] for line in lines}


def export_weights(out: Path) -> dict[str, torch.Tensor]:
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    return UniMuMoForConditionalGeneration.from_pretrained(out / "export").state_dict()


def assert_same_run(out: Path, reference: Path) -> None:
    """Same loss at every step and bit-identical exported weights."""
    got_losses, expected_losses = losses(out), losses(reference)
    differing = {
        step: (got_losses.get(step), loss) for step, loss in expected_losses.items() if got_losses.get(step) != loss
    }
    assert got_losses.keys() == expected_losses.keys() and not differing, (
        f"losses differ from the uninterrupted run at steps {sorted(differing)[:10]} "
        f"(preempted, uninterrupted): {list(differing.values())[:3]}"
    )
    got, expected = export_weights(out), export_weights(reference)
    assert got.keys() == expected.keys()
    different = [name for name in expected if not torch.equal(got[name], expected[name])]
    assert not different, f"final weights differ from the uninterrupted run: {different[:5]}"
