"""Source weights: --source-weight NAME=W and the authors' recipe draw dance motions more often; the manifest records
the weights and the realised share per source, which `unimumo-shards inspect` shows."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from unimumo.cli.shards import EXIT_USAGE, main
from unimumo.data.pairing import SOURCE_RECIPES, MotionEntry, choose_motions, parse_source_weights, pool_cum_weights
from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv
from unimumo.shards.format import decode_sample
from unimumo.shards.tar_reader import read_shard


def test_weights_parse_over_a_recipe_and_bad_items_are_named():
    assert parse_source_weights([]) == {}
    assert parse_source_weights([], "unimumo") == {"aist": 30.0, "dancedb": 30.0, "humanml3d": 1.0}
    assert parse_source_weights(["aist=30", "dancedb=12.5", "aist=3"]) == {"aist": 3.0, "dancedb": 12.5}
    assert parse_source_weights(["humanml3d=2"], "unimumo")["humanml3d"] == 2.0
    for item, message in (
        ("aist", "expected NAME=W"),
        ("aist=x", "expected NAME=W"),
        ("mocap=3", "mocap"),
        ("aist=0", "number > 0"),
        ("aist=nan", "number > 0"),
        ("aist=-1", "number > 0"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_source_weights([item])
    with pytest.raises(ValueError, match="--source-recipe 'paper'"):
        parse_source_weights([], "paper")


def pool(aist: int, humanml3d: int) -> list[MotionEntry]:
    return [MotionEntry(f"a{i}", "aist", f"a{i}.pkl") for i in range(aist)] + [
        MotionEntry(f"h{i}", "humanml3d", f"h{i}.npy") for i in range(humanml3d)
    ]


def test_weighted_draws_follow_the_recipe_without_repeats_per_track():
    motions = pool(aist=40, humanml3d=1200)  # HumanML3D outnumbers AIST++ 30 to 1, as in the real corpora
    weights = pool_cum_weights(motions, SOURCE_RECIPES["unimumo"])
    assert pool_cum_weights(motions, {}) is None and pool_cum_weights(motions, {"aist": 2, "humanml3d": 2}) is None
    drawn = Counter()
    for track in range(2000):
        chosen = choose_motions(motions, 5, random.Random(track), weights)
        assert len(set(chosen)) == 5  # no motion twice for one track while the pool allows
        drawn.update(entry.source for entry in chosen)
    share = drawn["aist"] / sum(drawn.values())
    assert share == pytest.approx(40 * 30 / (40 * 30 + 1200), abs=0.03)  # about half, as in the paper
    uniform = Counter(e.source for t in range(2000) for e in choose_motions(motions, 5, random.Random(t)))
    assert uniform["aist"] / sum(uniform.values()) < 0.05
    small = pool(aist=2, humanml3d=1)  # fewer motions than pairs: all of them, then repeats
    chosen = choose_motions(small, 5, random.Random(0), pool_cum_weights(small, {"aist": 30}))
    assert set(chosen) == set(small) and len(chosen) == 5


def sources(out) -> Counter:
    return Counter(
        decode_sample(raw)["json"]["source"] for url in sorted(out.glob("train-*.tar")) for raw in read_shard(str(url))
    )


def test_a_weighted_build_records_the_weights_and_the_realised_shares(synthetic_corpus, tiny_shards, tmp_path, capsys):
    out = tmp_path / "weighted"
    assert main(build_argv(synthetic_corpus, out, "train", *TINY_SHARDS_ARGS, "--source-weight", "humanml3d=30")) == 0
    capsys.readouterr()
    summary = json.loads((out / "manifest.json").read_text())["splits"]["train"]
    assert summary["build_args"]["source_weights"] == {"humanml3d": 30.0}
    realised = sources(out)
    assert summary["pairing"]["sources"] == dict(realised) and sum(realised.values()) == summary["samples"]
    uniform = json.loads((tiny_shards / "manifest.json").read_text())["splits"]["train"]["pairing"]["sources"]
    assert uniform == dict(sources(tiny_shards))
    share = realised["humanml3d"] / summary["samples"]
    assert share > 0.6 and share > uniform.get("humanml3d", 0) / sum(uniform.values()) + 0.2
    assert main(["inspect", str(out), "--samples", "0"]) == 0
    shown = capsys.readouterr().out
    assert f"humanml3d {share:.1%} ({realised['humanml3d']}, weight 30)" in shown
    assert f"aist {realised['aist'] / summary['samples']:.1%} ({realised['aist']}, weight 1)" in shown


def test_bad_source_weights_are_usage_errors(synthetic_corpus, tmp_path, capsys):
    assert main(build_argv(synthetic_corpus, tmp_path / "x", "train", "--source-weight", "aist=lots")) == EXIT_USAGE
    assert "--source-weight 'aist=lots': expected NAME=W" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
