"""Shared session fixtures: a synthetic corpus in the real on-disk formats and tiny shards built from it.

Used by every test suite (data, trainer, evaluation, Slurm, end-to-end). Imports happen inside the
fixtures so that a module under construction elsewhere never breaks collection of unrelated tests.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def synthetic_corpus(tmp_path_factory):
    """Path of a synthetic corpus: music4all/, aist/, humanml3d/, models/{encodec,t5,motion_vqvae,
    text_tokenizer.model} and corpus.json (ground truth of every track and motion)."""
    from unimumo.data.synthetic_corpus import write_synthetic_corpus

    return write_synthetic_corpus(tmp_path_factory.mktemp("synthetic_corpus"))


@pytest.fixture(scope="session")
def tiny_shards(synthetic_corpus, tmp_path_factory):
    """Path of one shard directory (manifest.json, failures.jsonl, {train,val,test}-000000.tar ...) built
    from `synthetic_corpus` with 2 pairs per track and ~30 kB shards (about one track per shard, so
    train has several shards to split across ranks and workers)."""
    from unimumo.cli.shards import main
    from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv

    out = tmp_path_factory.mktemp("tiny_shards") / "synthetic"
    for split in ("train", "val", "test"):
        code = main(build_argv(synthetic_corpus, out, split, *TINY_SHARDS_ARGS))
        assert code == 0, f"unimumo-shards build --split {split} exited with {code}"
    return out
