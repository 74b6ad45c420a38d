"""`unimumo-shards build --beat-tracker beat_this --beat-checkpoint FILE` on the synthetic corpus with a tiny
random-weight Beat This! network in the published checkpoint format (its beats are random: the plumbing is what is
tested), and the start-up checks of the pair."""

import json

import numpy as np
import pytest

from testkit.beat_this_checkpoint import save_tiny_beat_this
from unimumo.beat_this import beat_this_beats
from unimumo.cli.shards import EXIT_USAGE, main
from unimumo.data.sources.music4all import load_audio
from unimumo.data.synthetic_corpus import SAMPLING_RATE, TINY_SHARDS_ARGS, build_argv
from unimumo.eval.assets import shards_beat_tracker
from unimumo.rhythm import BeatTracker
from unimumo.shards.format import decode_sample
from unimumo.shards.tar_reader import read_shard
from unimumo.utils.fingerprint import fingerprint_file


def test_the_builder_pairs_on_the_beats_of_the_beat_this_network(synthetic_corpus, tmp_path):
    checkpoint = save_tiny_beat_this(tmp_path / "tiny.ckpt")
    out = tmp_path / "shards"
    argv = build_argv(synthetic_corpus, out, "train", *TINY_SHARDS_ARGS)
    assert main(argv + ["--beat-tracker", "beat_this", "--beat-checkpoint", str(checkpoint)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    args = manifest["splits"]["train"]["build_args"]
    assert (args["beat_tracker"], args["beat_checkpoint"]) == ("beat_this", str(checkpoint))
    assert manifest["splits"]["train"]["beat_checkpoint_sha256"] == fingerprint_file(checkpoint)
    assert shards_beat_tracker(out, "train") == BeatTracker("beat_this", checkpoint.resolve())  # evaluation finds them
    tracks = json.loads((synthetic_corpus / "corpus.json").read_text())["music4all"]
    paths = {track["id"]: track["path"] for track in tracks}
    checked = 0
    for entry in manifest["shards"]:
        for raw in read_shard(str(out / entry["name"])):
            meta = decode_sample(raw)["json"]
            assert meta["beat_phase"] is None  # a steady-tracker field
            network = beat_this_beats(load_audio(paths[meta["track_id"]], SAMPLING_RATE), SAMPLING_RATE, checkpoint)[0]
            window = np.array(meta["beats"]) + meta["offsets"]["music_start_s"]
            assert np.abs(window[:, None] - network[None]).min(axis=1).max() < 1e-3  # each one of the network's
            checked += 1
    assert checked > 0
    resume = argv + ["--beat-tracker", "beat_this", "--beat-checkpoint", str(checkpoint), "--resume"]
    assert main(resume) == 0  # the same weights: a finished build resumes to itself
    save_tiny_beat_this(checkpoint, beat_bias=1.0)  # other weights under the same name: no resume
    assert main(resume) == EXIT_USAGE


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--beat-tracker", "beat_this"], "needs the weights file"),
        (["--beat-checkpoint", "x.ckpt"], "goes only with the beat_this tracker"),
        (["--beat-tracker", "beat_this", "--beat-checkpoint", "{garbage}"], "not a readable PyTorch checkpoint"),
    ],
)
def test_a_bad_tracker_and_checkpoint_pair_is_refused_at_start_up(synthetic_corpus, tmp_path, capsys, extra, message):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"\x00" * 64)
    extra = [value.format(garbage=garbage) for value in extra]
    assert main(build_argv(synthetic_corpus, tmp_path / "out", "train", *TINY_SHARDS_ARGS) + extra) == EXIT_USAGE
    error = capsys.readouterr().err
    assert message in error and "--beat-tracker" in error
    assert not (tmp_path / "out").exists()


def test_the_manifest_counts_the_steady_trackers_phase_choices(tiny_shards):
    """Each sample records the steady tracker's phase choice; the manifest counts them and inspect shows them."""
    from unimumo.shards.inspection import summary_lines

    summary = json.loads((tiny_shards / "manifest.json").read_text())["splits"]["train"]
    phases = []
    for entry in json.loads((tiny_shards / "manifest.json").read_text())["shards"]:
        if entry["split"] == "train":
            for raw in read_shard(str(tiny_shards / entry["name"])):
                phase = decode_sample(raw)["json"]["beat_phase"]
                assert set(phase) == {"shifted", "evidence", "confidence"} and 0 <= phase["confidence"] <= 1
                phases.append("shifted" if phase["shifted"] else "kept")
    assert summary["pairing"]["beat_phase"] == {name: phases.count(name) for name in set(phases)}
    shifted = phases.count("shifted")
    line = f"beats moved half a beat (beat phase) in {shifted / len(phases):.1%} ({shifted})"
    assert line in [text.strip() for text in summary_lines(tiny_shards)]
