"""Raw readers: Music4All metadata and ignore list, AIST++ and HumanML3D files, with clear errors."""
import numpy as np
import pytest

from unimumo.data.sources import aist, humanml3d, music4all
from unimumo.motion.humanml3d_features import MotionFormatError


def test_music4all_list_tracks_applies_ignore_list_and_parses_metadata(synthetic_corpus):
    root = synthetic_corpus / "music4all"
    ignored = set((root / "music4all_ignore.txt").read_text().split())
    train = music4all.list_tracks(root, "train")
    listed = (root / "splits" / "train.txt").read_text().split()
    assert [t.id for t in train] == [i for i in listed if i not in ignored]
    assert ignored <= set(listed)
    track = train[0]
    assert track.audio_path.is_file() and track.tempo > 80 and 0 <= track.key < 12 and track.tags and track.genre


def _metadata_only_root(root, metadata_rows: str):
    """A Music4All root with one train id, abc, and empty tables except `metadata_rows` of id_metadata.csv."""
    (root / "splits").mkdir(parents=True)
    (root / "splits" / "train.txt").write_text("abc\n")
    for name, columns in music4all.REQUIRED_COLUMNS.items():
        (root / name).write_text("\t".join(columns) + "\n")
    (root / "id_metadata.csv").write_text("id\tenergy\tkey\ttempo\n" + metadata_rows)
    return root


def test_music4all_reports_the_bad_file(tmp_path):
    _metadata_only_root(tmp_path, "")
    (tmp_path / "id_metadata.csv").write_text("id,energy,key,tempo\nabc,0.5,1,120\n")  # commas, not tabs
    with pytest.raises(music4all.Music4AllFormatError, match="id_metadata.csv: missing columns"):
        music4all.list_tracks(tmp_path, "train")


def test_music4all_unknown_metadata_values_are_none_and_garbage_is_named(tmp_path):
    (track,) = music4all.list_tracks(_metadata_only_root(tmp_path / "nan", "abc\tnan\tnan\t\n"), "train")
    assert (track.energy, track.key, track.tempo) == (None, None, None)
    (track,) = music4all.list_tracks(_metadata_only_root(tmp_path / "none", "abc\t0.5\t-1\t0\n"), "train")
    assert (track.key, track.tempo) == (None, None)  # Spotify's "no key detected" and "no tempo"
    (track,) = music4all.list_tracks(_metadata_only_root(tmp_path / "ok", "abc\t0.25\t7\t121.5\n"), "train")
    assert (track.energy, track.key, track.tempo) == (0.25, 7, 121.5)
    garbage = _metadata_only_root(tmp_path / "bad", "abc\t0.3\tC#\t120\n")
    with pytest.raises(music4all.Music4AllFormatError, match=r"id_metadata.csv: id abc: not a number: 'C#'"):
        music4all.list_tracks(garbage, "train")


def test_load_audio_resamples_to_mono_and_rejects_broken_files(synthetic_corpus, tmp_path):
    track = music4all.list_tracks(synthetic_corpus / "music4all", "val")[0]
    wav = music4all.load_audio(track.audio_path, 16000)
    assert wav.ndim == 1 and wav.dtype == np.float32 and 11 * 16000 < wav.size < 15 * 16000
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(b"\x00\x01not audio at all" * 10)
    with pytest.raises(ValueError, match="garbage.mp3"):
        music4all.load_audio(garbage, 16000)


def test_aist_reader_gives_features_joints_and_genre(synthetic_corpus):
    paths = aist.list_sequences(synthetic_corpus / "aist", "train")
    ignored = set((synthetic_corpus / "aist" / "ignore_list.txt").read_text().split())
    assert paths and not {p.stem for p in paths} & ignored
    good = next(p for p in paths if "_ch" in p.stem and aist.genre_of(p.stem))
    clip = aist.read_clip(good)
    assert clip.fps == 60 and clip.features.shape == (len(clip.joints) - 1, 263) and clip.joints.shape[1:] == (22, 3)
    assert clip.genre in {"break", "pop", "lock", "middle hip-hop", "LA style hip-hop", "house", "waack", "krump",
                          "street jazz", "ballet jazz"}


def test_aist_reader_rejects_missing_keys(tmp_path):
    import pickle

    path = tmp_path / "gBR_sBM_cAll_d04_mBR0_ch01.pkl"
    path.write_bytes(pickle.dumps({"smpl_poses": np.zeros((10, 72))}))
    with pytest.raises(MotionFormatError, match=r"gBR_sBM_cAll_d04_mBR0_ch01.pkl: missing keys"):
        aist.read_clip(path)


def test_humanml3d_reader_gives_features_and_captions(synthetic_corpus):
    clip = humanml3d.read_clip(humanml3d.list_clips(synthetic_corpus / "humanml3d", "val")[0])
    assert clip.fps == 20 and clip.features.shape[1] == 263 and clip.captions
    assert all("#" not in caption for caption in clip.captions)
