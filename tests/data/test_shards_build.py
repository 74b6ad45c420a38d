"""`unimumo-shards build` on the synthetic corpus: real tars, ignore lists, failures, skips, determinism."""

import json
from dataclasses import replace

import numpy as np
import pytest

from unimumo.cli.shards import EXIT_FAILURES, EXIT_USAGE, main
from unimumo.constants import CODEBOOK_SIZE, NUM_CODEBOOKS
from unimumo.data import shard_builder
from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv
from unimumo.models.text_tokenizer import TextTokenizer
from unimumo.shards.format import decode_sample
from unimumo.shards.manifest import FORMAT
from unimumo.shards.tar_reader import read_shard
from unimumo.shards.writer import records_dir


def all_samples(shards, split=None):
    manifest = json.loads((shards / "manifest.json").read_text())
    for entry in manifest["shards"]:
        if split is None or entry["split"] == split:
            for raw in read_shard(str(shards / entry["name"])):
                yield entry["split"], raw["__key__"], decode_sample(raw)


def truth(corpus):
    return json.loads((corpus / "corpus.json").read_text())


def test_manifest_counts_match_the_tars(tiny_shards):
    manifest = json.loads((tiny_shards / "manifest.json").read_text())
    assert {e["split"] for e in manifest["shards"]} == {"train", "val", "test"}
    assert sum(e["split"] == "train" for e in manifest["shards"]) >= 4  # small shards roll over
    for entry in manifest["shards"]:
        assert (tiny_shards / entry["name"]).stat().st_size == entry["bytes"]
        assert entry["count"] == sum(1 for _ in read_shard(str(tiny_shards / entry["name"])))
        assert entry["count"] > 0
    assert manifest["format"] == FORMAT == "unimumo-shards/2"
    for name in ("music_codec", "motion_tokenizer", "text_tokenizer"):
        assert len(manifest["tokenizers"][name]["fingerprint"]) == 64
    assert manifest["splits"]["train"]["build_args"]["pairs_per_track"] == 2
    assert manifest["splits"]["train"]["build_args"]["beat_tracker"] == "steady"  # the default, recorded


def test_samples_hold_aligned_codes_captions_and_beats(tiny_shards, synthetic_corpus):
    tokenizer = TextTokenizer(synthetic_corpus / "models" / "text_tokenizer.model")
    good = {t["id"]: t for t in truth(synthetic_corpus)["music4all"] if t["kind"] == "good"}
    per_track = {}
    for split, _key, sample in all_samples(tiny_shards):
        music, motion = sample["music.codes.npy"], sample["motion.codes.npy"]
        assert music.dtype == np.int16 and music.shape == motion.shape and music.shape[0] == NUM_CODEBOOKS
        assert music.shape[1] >= 500  # a full 10 s training window
        assert 0 <= min(music.min(), motion.min()) and max(music.max(), motion.max()) < CODEBOOK_SIZE
        meta = sample["json"]
        assert good[meta["track_id"]]["split"] == split
        assert abs(meta["tempo"] - good[meta["track_id"]]["bpm"]) < 0.05 * meta["tempo"]
        beats = np.array(meta["beats"])
        assert np.all(np.diff(beats) > 0) and beats[-1] < music.shape[1] / 50
        assert meta["beat_alignment"]["after_warp"] > meta["beat_alignment"]["before_warp"]
        assert sample["music.ids.npy"].dtype == np.int32
        assert tokenizer.decode(sample["music.ids.npy"]) == sample["music.txt"]
        assert tokenizer.decode(sample["motion.ids.npy"]) == sample["motion.txt"]
        if meta["source"] == "aist":
            assert sample["motion.txt"].lower().find(meta["motion_genre"].split()[0].lower()) >= 0
        per_track.setdefault(meta["track_id"], []).append(meta["motion_id"])
    assert set(per_track) == set(good)  # every good track, in its own split
    assert all(len(motions) == 2 and len(set(motions)) == 2 for motions in per_track.values())


def test_ignore_lists_are_honoured_and_skips_counted(tiny_shards, synthetic_corpus):
    corpus = truth(synthetic_corpus)
    ignored_track = {t["id"] for t in corpus["music4all"] if t["kind"] in ("ignored", "short_beats")}
    ignored_motion = {m["id"] for m in corpus["aist"] if m["kind"] == "ignored"}
    for _, _, sample in all_samples(tiny_shards):
        assert sample["json"]["track_id"] not in ignored_track
        assert sample["json"]["motion_id"] not in ignored_motion
    skipped = json.loads((tiny_shards / "manifest.json").read_text())["splits"]["train"]["skipped"]
    assert skipped == {"ignored_tracks": 1, "ignored_motions": 1, "short_beats": 1}
    listed = [json.loads(line) for line in (tiny_shards / "skipped.jsonl").read_text().splitlines()]
    by_id = {(r["split"], r["id"]): r for r in listed}
    assert len(by_id) == len(listed) == sum(skipped.values())  # one line per skipped input
    short = next(t for t in corpus["music4all"] if t["kind"] == "short_beats")
    assert by_id[("train", short["id"])]["reason"] == "short_beats"
    assert "under the 10 s minimum" in by_id[("train", short["id"])]["detail"]
    assert {by_id[("train", i)]["reason"] for i in ignored_track - {short["id"]} | ignored_motion} == {"ignored"}


def test_broken_inputs_are_recorded_not_fatal(tiny_shards, synthetic_corpus):
    broken = {
        item["path"]: item["kind"]
        for group in ("music4all", "aist", "humanml3d")
        for item in truth(synthetic_corpus)[group]
        if item["kind"] in ("truncated", "empty", "nan", "wrong_width")
    }
    failures = [json.loads(line) for line in (tiny_shards / "failures.jsonl").read_text().splitlines()]
    assert {f["file"] for f in failures} == set(broken)
    for failure in failures:
        assert failure["split"] == "train" and failure["file"] in failure["reason"]
    summary = json.loads((tiny_shards / "manifest.json").read_text())["splits"]["train"]
    assert summary["failures"] == len(broken) and summary["samples"] > 0


def test_exit_code_when_failures_exceed_the_limit_and_existing_output_is_protected(synthetic_corpus, tmp_path, capsys):
    out = tmp_path / "strict"
    args = build_argv(synthetic_corpus, out, "train", *TINY_SHARDS_ARGS)
    strict = (
        args[: args.index("--max-failure-fraction")] + ["--max-failure-fraction", "0.1"] + args[args.index("0.5") + 1 :]
    )
    assert main(strict) == EXIT_FAILURES
    assert "failures.jsonl" in capsys.readouterr().err
    assert json.loads((out / "manifest.json").read_text())["splits"]["train"]["samples"] > 0  # shards still written
    assert main(strict) == EXIT_USAGE  # no silent overwrite
    assert "--resume" in capsys.readouterr().err
    assert main(strict + ["--seed", "7", "--resume"]) == EXIT_USAGE  # resume with other arguments is refused
    assert "different" in capsys.readouterr().err
    assert json.loads((records_dir(out, "train") / "plan.json").read_text())["args"]["beat_tracker"] == "steady"


@pytest.mark.parametrize("plan", ["cpu", "device"])
def test_two_workers_build_byte_identical_shards(synthetic_corpus, tiny_shards, tmp_path, monkeypatch, plan):
    """Both stage plans: the CPU one (two calls per chunk in the workers) and, on the CPU here, the --device one
    (per-track calls in the workers, the batched passes in this process while the workers go on)."""
    if plan == "device":
        cpu_stages = shard_builder.stages
        monkeypatch.setattr(shard_builder, "stages", lambda config: cpu_stages(replace(config, device="cuda")))
    out = tmp_path / "parallel"
    assert main(build_argv(synthetic_corpus, out, "train", *TINY_SHARDS_ARGS, "--workers", "2")) == 0
    ours = json.loads((out / "manifest.json").read_text())["shards"]
    reference = [e for e in json.loads((tiny_shards / "manifest.json").read_text())["shards"] if e["split"] == "train"]
    assert [(e["name"], e["sha256"]) for e in ours] == [(e["name"], e["sha256"]) for e in reference]


def test_bad_arguments_give_a_clear_error(synthetic_corpus, tmp_path, capsys):
    args = build_argv(synthetic_corpus, tmp_path / "x", "train")
    args[args.index("--music-codec") + 1] = str(tmp_path / "nowhere")
    assert main(args) == EXIT_USAGE
    assert "nowhere" in capsys.readouterr().err


def test_cli_help_explains_every_command(capsys):
    for command in ("synth", "build", "merge", "verify", "inspect"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "usage: unimumo-shards " + command in capsys.readouterr().out


def test_build_accepts_the_deprecated_motion_codec_name(synthetic_corpus, tmp_path, capsys):
    from unimumo.cli.shards import build_parser

    args = build_argv(synthetic_corpus, tmp_path / "x", "train")
    args[args.index("--motion-tokenizer")] = "--motion-codec"
    parsed = build_parser().parse_args(args)
    assert parsed.motion_tokenizer == synthetic_corpus / "models" / "motion_vqvae"
    assert "--motion-codec is deprecated and will be removed; use --motion-tokenizer" in capsys.readouterr().err
