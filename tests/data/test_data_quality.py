"""What the builder stores about real inputs: tracked beats and tempo, honest captions, safe AIST++ reading,
and motion code counts that depend on a clip's duration only."""

import pickle
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from unimumo.data.build_config import BuildConfig
from unimumo.data.build_worker import scan_motion
from unimumo.data.captions import MUSIC_TEMPLATES, motion_caption, music_caption
from unimumo.data.pairing import MotionEntry, MusicTrack
from unimumo.data.sources import aist
from unimumo.data.sources.music4all import TrackInfo
from unimumo.data.synthetic_corpus import SAMPLING_RATE, beat_audio
from unimumo.models.motion_tokenizer import MotionTokenizer
from unimumo.motion.humanml3d_features import MotionFormatError, joints_to_features
from unimumo.motion.skeleton import smpl_to_joints22
from unimumo.motion.synthetic_dance import synthetic_smpl_dance
from unimumo.rhythm import BEAT_TRACKERS, BeatTrack, beats_tempo, require_beat_tracker, track_beats

AUDIO_TRACKERS = [tracker for tracker in BEAT_TRACKERS if tracker != "beat_this"]  # beat_this: tests/test_beat_this.py


def require(tracker: str) -> None:
    if tracker == "essentia":
        pytest.importorskip("essentia", reason='essentia is optional (AGPL-3.0): pip install "unimumo[beats]"')


@pytest.mark.parametrize("tracker", AUDIO_TRACKERS)
def test_track_beats_are_untrimmed_with_tempo_from_the_beat_intervals(tracker):
    require(tracker)
    wav = beat_audio(123.0, 12.0, key=3, rng=np.random.default_rng(0))
    rhythm = track_beats(wav, SAMPLING_RATE, tracker)
    assert rhythm.tempo == pytest.approx(123.0, rel=0.01)  # not a 3750/k-quantised estimate
    spans = rhythm.beats[4:] - rhythm.beats[:-4]  # the tempo comes from the beats: median span of 4 beats
    assert rhythm.tempo == beats_tempo(rhythm.beats) == 60.0 * 4 / np.median(spans)
    assert rhythm.beats[0] < 1.0 and rhythm.beats[-1] > 11.0  # no edge trimming
    assert rhythm.confident
    assert (rhythm.agreement is None) == (tracker != "essentia")  # only essentia measures its trackers' agreement
    np.testing.assert_array_equal(track_beats(wav, SAMPLING_RATE, tracker).beats, rhythm.beats)  # deterministic


@pytest.mark.parametrize("tracker", AUDIO_TRACKERS)
def test_an_irregular_beat_is_not_confident(tracker):
    require(tracker)
    noise = np.random.default_rng(1).standard_normal(12 * SAMPLING_RATE).astype(np.float32) * 0.1
    assert not track_beats(noise, SAMPLING_RATE, tracker).confident
    with pytest.raises(ValueError, match="mono waveform"):
        track_beats(np.zeros((2, 10)), SAMPLING_RATE, tracker)


def test_an_unknown_or_missing_beat_tracker_is_refused_at_start_up(monkeypatch):
    with pytest.raises(ValueError, match="beat tracker must be one of"):
        require_beat_tracker("madmom")
    monkeypatch.setitem(sys.modules, "essentia", None)  # as if not installed: `import essentia` raises ImportError
    monkeypatch.setitem(sys.modules, "essentia.standard", None)
    with pytest.raises(ValueError, match=r'pip install "unimumo\[beats\]".*AGPL-3.0'):
        require_beat_tracker("essentia")
    with pytest.raises(ValueError, match=r"--beat-tracker: .*AGPL-3.0"):
        BuildConfig(
            music4all=Path("m"),
            aist=None,
            music_codec=Path("c"),
            motion_tokenizer=Path("t"),
            text_tokenizer=Path("s"),
            out=Path("o"),
            split="train",
            beat_tracker="essentia",
        ).validate()


def test_captions_leave_out_what_the_metadata_does_not_know():
    for template in MUSIC_TEMPLATES:
        bare = music_caption(genre="", tempo=None, key=None, energy=None, tags=[], template=template)
        assert bare in ("This is a song.", "A track.", "Music."), bare
        full = music_caption(genre="rock", tempo=121.6, key=7, energy=0.8, tags=["guitar", "loud"], template=template)
        for word in ("rock", "122", "G", "energetic", "guitar, loud"):
            assert word in full or word.capitalize() in full, (word, full)
        for default in ("unknown", "lively", "untagged", "an unknown key"):
            assert default not in bare + full
    assert motion_caption(None, random.Random(0)) in (
        "A person is dancing.",
        "Someone dances.",
        "The dancer moves to the music.",
    )


def test_caption_tempo_is_the_metadata_s_or_a_confident_tracked_one():
    info = TrackInfo(id="t", audio_path=Path("t.wav"))
    sure = BeatTrack(beats=np.arange(20) * 0.5, tempo=120.0, confident=True)
    unsure = BeatTrack(beats=np.arange(20) * 0.5, tempo=120.0, confident=False)
    assert MusicTrack(info, np.zeros((4, 1)), sure, 10.0).caption_tempo == 120.0
    assert MusicTrack(info, np.zeros((4, 1)), unsure, 10.0).caption_tempo is None
    info.tempo = 99.0
    assert MusicTrack(info, np.zeros((4, 1)), unsure, 10.0).caption_tempo == 99.0


class WritesMarker:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # what a crafted pickle would run on load
        return (Path.write_text, (self.marker, "executed"))


def test_a_crafted_aist_pickle_is_refused_not_executed(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "motions" / "gBR_sBM_cAll_d04_mBR0_ch01.pkl"
    path.parent.mkdir()
    path.write_bytes(
        pickle.dumps(
            {
                "smpl_poses": np.zeros((4, 72)),
                "smpl_trans": np.zeros((4, 3)),
                "smpl_scaling": np.ones(1),
                "payload": WritesMarker(marker),
            }
        )
    )
    with pytest.raises(MotionFormatError, match=f"{path}: cannot read AIST.*refusing global pathlib"):
        aist.read_smpl(path)
    entry, failure = scan_motion(MotionEntry(id=path.stem, source="aist", path=str(path)))
    assert failure["file"] == str(path) and failure["stage"] == "motion" and "refusing global" in failure["reason"]
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_real_aist_pickles_load_with_the_restricted_unpickler(tmp_path, protocol):
    poses, trans = synthetic_smpl_dance(30, 60.0, 110.0, 0)
    path = tmp_path / "gPO_sBM_cAll_d10_mPO0_ch01.pkl"
    path.write_bytes(
        pickle.dumps(
            {"smpl_poses": poses, "smpl_trans": trans, "smpl_scaling": np.array([1.0]), "smpl_loss": np.float64(0.5)},
            protocol=protocol,
        )
    )
    read_poses, read_trans, scaling = aist.read_smpl(path)
    np.testing.assert_array_equal(read_poses, poses)
    np.testing.assert_array_equal(read_trans, trans)
    assert scaling == 1.0


def test_one_clip_gives_the_same_code_count_at_20_30_and_60_fps():
    tokenizer = MotionTokenizer.from_random(seed=0)
    seconds = 4.0
    counts = []
    for fps in (20.0, 30.0, 60.0):
        poses, trans = synthetic_smpl_dance(int(seconds * fps) + 1, fps, 110.0, 0)  # spans exactly 4 s
        features = joints_to_features(smpl_to_joints22(poses, trans), fps=fps)
        assert len(features) == seconds * fps
        counts.append(tokenizer.encode(features, fps=fps).shape[1])
    assert counts == [seconds * 50] * 3
