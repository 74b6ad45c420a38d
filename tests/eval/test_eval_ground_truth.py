"""The dance benchmarks' ground truth (real AIST++ motion or the reconstruction), protocol check and music beats."""

import argparse
import json
import pickle

import numpy as np
import pytest

from unimumo.data.sources import aist
from unimumo.eval.assets import shards_beat_tracker
from unimumo.eval.dance_benchmark import (
    aist_ground_truth,
    benchmark_beat_tracker,
    benchmark_protocol,
    ground_truth_kind,
    music_beat_times,
    scored_ground_truth,
)
from unimumo.eval.dance_metrics import dance_metrics
from unimumo.eval.protocols import get_protocol
from unimumo.motion.resample import resample_motion
from unimumo.motion.synthetic_dance import synthetic_smpl_dance
from unimumo.rhythm import BeatTracker, track_beats
from unimumo.shards.manifest import FORMAT, MANIFEST_NAME

SCALING = 93.0
LENGTHS = {
    "gBR_sBM_cAll_d04_mBR0_ch01": 1300,
    "gPO_sBM_cAll_d10_mPO1_ch02": 240,
    "gJS_sBM_cAll_d01_mJS2_ch03": 300,
    "gHO_sBM_cAll_d02_mHO3_ch04": 200,
}


@pytest.fixture(scope="module")
def aist_root(tmp_path_factory):
    """An AIST++ root: four 60 fps sequences, test split = the first three, the third one on the ignore list."""
    root = tmp_path_factory.mktemp("aist")
    (root / "motions").mkdir()
    (root / "splits").mkdir()
    for index, (name, length) in enumerate(LENGTHS.items()):
        poses, trans = synthetic_smpl_dance(length, aist.FPS, 100.0 + 10 * index, seed=index)
        with open(root / "motions" / f"{name}.pkl", "wb") as handle:
            pickle.dump(
                {"smpl_poses": poses, "smpl_trans": trans * SCALING, "smpl_scaling": np.array([SCALING])}, handle
            )
    names = list(LENGTHS)
    (root / "splits" / "crossmodal_test.txt").write_text("\n".join(names[:4]) + "\n")
    (root / "splits" / "crossmodal_val.txt").write_text(names[3] + "\n")
    (root / "ignore_list.txt").write_text(names[2] + "\n")
    return root


def used_names():
    names = list(LENGTHS)
    return [names[0], names[1], names[3]]


@pytest.mark.parametrize("protocol", ["unimumo", "bailando"])
def test_aist_ground_truth_is_the_readers_joints(aist_root, protocol):
    chosen = get_protocol(protocol)
    joints, info = aist_ground_truth(aist_root, "test", chosen, aist.FPS)
    clips = [aist.read_clip(aist_root / "motions" / f"{name}.pkl") for name in used_names()]
    assert [j.shape for j in joints] == [(len(c.joints), chosen.num_joints, 3) for c in clips]
    for sequence, clip in zip(joints, clips):
        assert sequence.dtype == np.float32
        np.testing.assert_array_equal(sequence[:, :22], clip.joints)  # the 22 HumanML3D joints are SMPL's first 22
    assert info["ground_truth"] == "aist" and info["ground_truth_split"] == "test"
    assert info["ground_truth_sequences"] == 3 and info["ground_truth_frames"] == 1300 + 240 + 200
    # unimumo (My_Eval) cuts the ground truth to 1200 frames for FID/Div; Bailando uses whole sequences
    assert info["ground_truth_feature_frames"] == (1200 + 240 + 200 if protocol == "unimumo" else 1300 + 240 + 200)
    assert "crossmodal_test" in info["ground_truth_set"] and "ground_truth_note" not in info


def test_aist_ground_truth_is_resampled_to_the_benchmark_rate(aist_root):
    joints, info = aist_ground_truth(aist_root, "test", get_protocol("unimumo"), 20.0)
    clip = aist.read_clip(aist_root / "motions" / f"{used_names()[0]}.pkl")
    np.testing.assert_array_equal(joints[0], resample_motion(clip.joints, aist.FPS, 20.0))
    assert info["ground_truth_frames"] == 433 + 80 + 67 and "resampled to 20 fps" in info["ground_truth_set"]


def test_aist_ground_truth_errors_name_the_problem(aist_root, tmp_path):
    unimumo = get_protocol("unimumo")
    with pytest.raises(FileNotFoundError, match="crossmodal_train.txt: missing AIST\\+\\+ list file"):
        aist_ground_truth(aist_root, "train", unimumo, 60.0)
    with pytest.raises(ValueError, match="crossmodal_val.txt: 1 usable sequence"):
        aist_ground_truth(aist_root, "val", unimumo, 60.0)
    with pytest.raises(ValueError, match="has no split 'dev'.*unknown split"):
        aist_ground_truth(aist_root, "dev", unimumo, 60.0)
    with pytest.raises(FileNotFoundError, match="motions: missing; --aist must be the AIST\\+\\+ root"):
        aist_ground_truth(tmp_path, "test", unimumo, 60.0)


def test_bailando_is_refused_for_generated_motion():
    with pytest.raises(
        ValueError, match="needs 24 SMPL joints .* decoded by the motion tokenizer to 22 joints.*use --protocol unimumo"
    ):
        benchmark_protocol("bailando")
    assert [benchmark_protocol(name).name for name in ("unimumo", "edge", "corrected")] == [
        "unimumo",
        "edge",
        "corrected",
    ]


def test_ground_truth_default_follows_aist():
    def kind(ground_truth=None, aist_dir=None):
        return ground_truth_kind(argparse.Namespace(ground_truth=ground_truth, aist=aist_dir))

    assert kind() == "reconstruction" and kind(aist_dir="AIST") == "aist" and kind("aist", "AIST") == "aist"
    with pytest.raises(ValueError, match="--ground-truth aist needs --aist DIR"):
        kind("aist")
    with pytest.raises(ValueError, match="--aist AIST is only read with --ground-truth aist"):
        kind("reconstruction", "AIST")


def test_ground_truth_without_music_has_no_bas(aist_root):
    unimumo = get_protocol("unimumo")
    real = aist_ground_truth(aist_root, "test", unimumo, aist.FPS)
    generated = [j[:300] for j in real[0]]
    beats = [np.arange(0.5, 5.0, 0.6)] * len(generated)
    truth, truth_beats, info = scored_ground_truth(real, generated, beats, "test", unimumo)
    assert truth is real[0] and truth_beats == [None] * 3 and info["ground_truth"] == "aist"
    table = dance_metrics(generated, truth, beats, aist.FPS, truth_beats)
    assert "BAS" not in table["ground_truth"] and "BAS_nan" not in table["ground_truth"]
    assert np.isfinite(table["generated"]["BAS"]) and np.isfinite(table["ground_truth"]["PFC"])
    with pytest.raises(ValueError, match="ground_truth_music_beats: give beats for every sequence"):
        dance_metrics(generated, truth, beats, aist.FPS, [None, beats[0], None])

    truth, truth_beats, info = scored_ground_truth(None, generated, beats, "test", unimumo)
    assert truth is generated and truth_beats is beats and info["ground_truth"] == "reconstruction"
    assert info["ground_truth_frames"] == 300 + 240 + 200 and "not comparable" in info["ground_truth_note"]


def test_music_beats_follow_the_protocol():
    import librosa

    from unimumo.rhythm import onset_beat_frames

    sampling_rate = 22050
    clicks = librosa.clicks(times=np.arange(0.3, 6.0, 0.5), sr=sampling_rate, length=6 * sampling_rate)
    published, extractor = music_beat_times([clicks], sampling_rate, get_protocol("unimumo"))
    assert extractor.startswith("Bailando onset beats")
    np.testing.assert_array_equal(published[0], onset_beat_frames(clicks, sampling_rate) / 60.0)
    corrected, extractor = music_beat_times([clicks], sampling_rate, get_protocol("corrected"), BeatTracker("steady"))
    assert extractor.startswith("the shard builder's beat tracker (steady)")
    np.testing.assert_array_equal(corrected[0], track_beats(clicks, sampling_rate, "steady").beats)
    assert np.abs(corrected[0][:, None] - np.arange(0.3, 6.0, 0.5)).min(axis=1).max() < 0.03  # on the clicks
    other, extractor = music_beat_times([clicks], sampling_rate, get_protocol("corrected"), BeatTracker("librosa"))
    assert extractor.startswith("the shard builder's beat tracker (librosa)")
    np.testing.assert_array_equal(other[0], track_beats(clicks, sampling_rate, "librosa").beats)
    with pytest.raises(ValueError, match="corrected tracks music beats as the shard builder did"):
        music_beat_times([clicks], sampling_rate, get_protocol("corrected"))


def _manifest(directory, trackers, checkpoint=None, digest=None):
    """A shard directory whose manifest records `trackers` {split: beat tracker or None}, each split with the Beat
    This! `checkpoint` path and its sha256 `digest` (when given)."""
    splits = {
        split: {
            "build_args": {} if tracker is None else {"beat_tracker": tracker, "beat_checkpoint": checkpoint},
            **({} if digest is None else {"beat_checkpoint_sha256": digest}),
        }
        for split, tracker in trackers.items()
    }
    directory.mkdir()
    (directory / MANIFEST_NAME).write_text(
        json.dumps({"format": FORMAT, "tokenizers": {}, "shards": [], "splits": splits})
    )
    return directory


def test_the_corrected_protocol_takes_the_beat_tracker_the_manifest_records(tmp_path):
    corrected, published = get_protocol("corrected"), get_protocol("unimumo")
    shards = _manifest(tmp_path / "shards", {"train": "librosa", "test": "librosa"})
    assert benchmark_beat_tracker(corrected, shards, "test") == BeatTracker("librosa")
    assert benchmark_beat_tracker(corrected, shards, None) == BeatTracker("librosa")  # every split agrees
    assert benchmark_beat_tracker(published, shards, "test") is None  # Bailando's onset beats need none
    assert benchmark_beat_tracker(corrected, None, None) == BeatTracker("steady")  # no shards: the builder's default
    with pytest.raises(ValueError, match="--beat-checkpoint goes only with shards built with beat_this"):
        benchmark_beat_tracker(corrected, shards, "test", tmp_path / "weights.ckpt")
    old = _manifest(tmp_path / "old", {"test": None})
    assert benchmark_beat_tracker(published, old, "test") is None  # only `corrected` reads the record
    with pytest.raises(ValueError, match=r"old/manifest.json: records no splits.test.build_args.beat_tracker"):
        benchmark_beat_tracker(corrected, old, "test")
    mixed = _manifest(tmp_path / "mixed", {"train": "steady", "test": "librosa"})
    with pytest.raises(ValueError, match=r"splits.\*.build_args.beat_tracker: the splits were built with different"):
        shards_beat_tracker(mixed, None)
    unknown = _manifest(tmp_path / "unknown", {"test": "madmom"})
    with pytest.raises(ValueError, match="splits.test.build_args.beat_tracker: beat tracker must be one of"):
        shards_beat_tracker(unknown, "test")


def test_beat_this_shards_are_evaluated_with_their_own_weights(tmp_path):
    """A beat_this build's weights: the recorded file, or --beat-checkpoint where they moved; either must hold the
    content the build recorded (sha256). The option is refused wherever it would be ignored."""
    from testkit.beat_this_checkpoint import save_tiny_beat_this
    from unimumo.utils.fingerprint import fingerprint_file

    corrected, published = get_protocol("corrected"), get_protocol("unimumo")
    weights = save_tiny_beat_this(tmp_path / "tiny.ckpt").resolve()
    digest = fingerprint_file(weights)
    shards = _manifest(tmp_path / "shards", {"test": "beat_this"}, checkpoint=str(weights), digest=digest)
    assert benchmark_beat_tracker(corrected, shards, "test") == BeatTracker("beat_this", weights)
    moved = weights.rename(tmp_path / "moved.ckpt")
    with pytest.raises(ValueError, match=r"tiny.ckpt are not here \(relative paths are read from .*--beat-checkpoint"):
        benchmark_beat_tracker(corrected, shards, "test")
    assert benchmark_beat_tracker(corrected, shards, "test", moved) == BeatTracker("beat_this", moved)
    with pytest.raises(ValueError, match=r"gone.ckpt: --beat-checkpoint: no such file"):
        benchmark_beat_tracker(corrected, shards, "test", tmp_path / "gone.ckpt")
    other = save_tiny_beat_this(tmp_path / "other.ckpt", beat_bias=1.0)
    with pytest.raises(ValueError, match=r"other.ckpt: not the Beat This! weights the shards were built with"):
        benchmark_beat_tracker(corrected, shards, "test", other)
    for protocol, where in ((published, shards), (corrected, None)):  # the option would be ignored: refused
        with pytest.raises(ValueError, match="--beat-checkpoint is used only with --protocol corrected on --shards"):
            benchmark_beat_tracker(protocol, where, "test", moved)
    unrecorded = _manifest(tmp_path / "unrecorded", {"test": "beat_this"}, checkpoint=str(moved))
    with pytest.raises(ValueError, match=r"records no splits.test.beat_checkpoint_sha256 .* rebuild the shards"):
        benchmark_beat_tracker(corrected, unrecorded, "test", moved)
    sampling_rate = 22050
    clicks = np.zeros(4 * sampling_rate, np.float32)
    clicks[:: sampling_rate // 2] = 1.0
    beats, extractor = music_beat_times([clicks], sampling_rate, corrected, BeatTracker("beat_this", moved))
    assert extractor.startswith("the shard builder's beat tracker (beat_this, weights ")
    np.testing.assert_array_equal(beats[0], track_beats(clicks, sampling_rate, "beat_this", moved).beats)
