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
    assert clip.genre in {
        "break",
        "pop",
        "lock",
        "middle hip-hop",
        "LA style hip-hop",
        "house",
        "waack",
        "krump",
        "street jazz",
        "ballet jazz",
    }


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


# -- bad lines, cells and files (issue 25, finding 5) ------------------------------------------------------------


def test_a_bad_metadata_cell_or_split_line_leaves_only_its_track_out_and_records_it(tmp_path):
    root = _metadata_only_root(tmp_path, "abc\t0.3\tC#\t120\ndef\t0.5\t4\t100\nghi\t0.2\t1\t90\n")
    (root / "splits" / "train.txt").write_bytes(b"abc\ndef\nbad\xff\xfeid\n../../etc/passwd\nghi\n")
    with open(root / "id_information.csv", "ab") as handle:
        handle.write(b"ghi\tartist\tsong \xe9\talbum\n")  # latin-1, not UTF-8
    skipped = []
    tracks = music4all.list_tracks(root, "train", skipped=skipped)
    assert [t.id for t in tracks] == ["def"]
    by_id = {s["id"]: s for s in skipped}
    assert by_id["abc"] == {
        "id": "abc",
        "file": str(root / "id_metadata.csv"),
        "reason": "bad_metadata",
        "detail": f"{root / 'id_metadata.csv'}: id abc: not a number: 'C#'",
    }
    assert (
        by_id["ghi"]["reason"] == "bad_metadata"
        and by_id["ghi"]["detail"] == f"{root / 'id_information.csv'}: line 2: not UTF-8"
    )
    split_file = str(root / "splits" / "train.txt")
    assert by_id["train.txt:3"] == {
        "id": "train.txt:3",
        "file": split_file,
        "reason": "bad_list_line",
        "detail": "line 3: not UTF-8 (byte 0xff at column 4)",
    }
    assert by_id["train.txt:4"]["detail"] == "line 4: '../../etc/passwd' is not a plain name"
    assert len(skipped) == 4


def test_nothing_usable_left_or_an_unreadable_file_is_an_error_naming_the_file(tmp_path):
    root = _metadata_only_root(tmp_path / "none", "")
    (root / "splits" / "train.txt").write_bytes(b"\xff\n")
    with pytest.raises(
        music4all.Music4AllFormatError,
        match=r"train.txt: no usable track in split 'train': 1 left "
        r"out, e.g. line 1: not UTF-8",
    ):
        music4all.list_tracks(root, "train")
    root = _metadata_only_root(tmp_path / "dir", "")
    (root / "id_tags.csv").unlink()
    (root / "id_tags.csv").mkdir()
    with pytest.raises(music4all.Music4AllFormatError, match=r"id_tags.csv: cannot read \(Is a directory\)"):
        music4all.list_tracks(root, "train")
    root = _metadata_only_root(tmp_path / "loop", "")
    (root / "id_genres.csv").unlink()
    (root / "id_genres.csv").symlink_to(root / "id_genres.csv")
    with pytest.raises(
        music4all.Music4AllFormatError,
        match=r"id_genres.csv: cannot read \(Too many levels of "
        r"symbolic links\)",
    ):
        music4all.list_tracks(root, "train")


def test_a_symlink_loop_is_reported_as_one_under_its_own_name(tmp_path):
    audios = tmp_path / "audios"
    audios.mkdir()
    (audios / "abc.wav").symlink_to(audios / "abc.wav")
    (audios / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    assert music4all.audio_path(tmp_path, "abc") == audios / "abc.wav"
    with pytest.raises(ValueError, match=r"abc.wav: symbolic link loop"):
        music4all.load_audio(music4all.audio_path(tmp_path, "abc"), 16000)
    with pytest.raises(FileNotFoundError, match=rf"gone.wav: broken symbolic link \(to {tmp_path / 'nowhere.wav'}\)"):
        music4all.load_audio(music4all.audio_path(tmp_path, "gone"), 16000)


def test_bad_motion_list_lines_are_recorded(synthetic_corpus, tmp_path):
    import shutil

    root = shutil.copytree(synthetic_corpus / "humanml3d", tmp_path / "humanml3d")
    ids = (root / "val.txt").read_bytes()
    (root / "val.txt").write_bytes(b"\xc3\x28\n" + ids)
    skipped = []
    clips = humanml3d.list_clips(root, "val", skipped=skipped)
    assert [p.stem for p in clips] == ids.decode().split()
    assert skipped == [
        {
            "id": "val.txt:1",
            "file": str(root / "val.txt"),
            "reason": "bad_list_line",
            "detail": "line 1: not UTF-8 (byte 0xc3 at column 1)",
        }
    ]


@pytest.mark.slow  # one build of the train split (~20 s)
def test_a_build_skips_and_records_a_bad_cell_and_line_and_stays_verifiable(synthetic_corpus, tmp_path, capsys):
    import shutil

    from unimumo.cli.shards import main
    from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv
    from unimumo.shards.manifest import Manifest, read_skipped
    from unimumo.shards.tar_reader import read_shard

    corpus = tmp_path / "corpus"
    shutil.copytree(synthetic_corpus, corpus, symlinks=True)
    m4a = corpus / "music4all"
    first = (m4a / "splits" / "train.txt").read_text().split()[0]
    table = (m4a / "id_metadata.csv").read_text().splitlines()
    columns = table[0].split("\t")
    for number, line in enumerate(table):
        if line.startswith(first + "\t"):
            cells = line.split("\t")
            cells[columns.index("tempo")] = "fast"
            table[number] = "\t".join(cells)
    (m4a / "id_metadata.csv").write_text("\n".join(table) + "\n")
    with open(m4a / "splits" / "train.txt", "ab") as handle:
        handle.write(b"caf\xe9\n")
    out = tmp_path / "shards"
    assert main(build_argv(corpus, out, "train", *TINY_SHARDS_ARGS)) == 0
    records = {s["id"]: s for s in read_skipped(out)}
    assert records[first]["reason"] == "bad_metadata" and "not a number: 'fast'" in records[first]["detail"]
    assert (
        records["train.txt:" + str(len((m4a / "splits" / "train.txt").read_bytes().splitlines()))]["reason"]
        == "bad_list_line"
    )
    summary = Manifest.load(out).splits["train"]["skipped"]
    assert summary["bad_metadata"] == 1 and summary["bad_list_line"] == 1
    keys = [raw["__key__"] for path in Manifest.load(out).split_paths("train") for raw in read_shard(path)]
    assert keys and not [key for key in keys if key.startswith(first)]  # the track was left out, the rest built
    assert main(["verify", str(out), "--skip-tokenizers", "--no-progress"]) == 0, capsys.readouterr().out
