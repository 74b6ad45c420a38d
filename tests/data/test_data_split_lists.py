"""Split files and ignore lists as files: --split-file SOURCE=FILE replaces a corpus's split, --ignore-list
[SOURCE=]FILE leaves ids out with skip records naming the list."""

from __future__ import annotations

import json

import pytest

from unimumo.cli.shards import EXIT_USAGE, main
from unimumo.data.split_lists import LIST_SOURCES, parse_list_files
from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv
from unimumo.shards.format import decode_sample
from unimumo.shards.tar_reader import read_shard


def test_list_options_parse_per_source_or_for_every_source():
    assert parse_list_files(["aist=a.txt", "music4all=m.txt", "aist=b.txt"], "--split-file", every_source=False) == {
        "aist": ["b.txt"],
        "music4all": ["m.txt"],
    }  # a later split file of a source replaces the earlier
    lists = parse_list_files(["ignore_list.txt", "music4all=music4all_ignore.txt"], "--ignore-list", every_source=True)
    assert lists == {
        **{source: ["ignore_list.txt"] for source in LIST_SOURCES},
        "music4all": ["ignore_list.txt", "music4all_ignore.txt"],
    }
    for item in ("train.txt", "mocap=x.txt", "aist="):
        with pytest.raises(ValueError, match=rf"--split-file {item!r}: expected SOURCE=FILE"):
            parse_list_files([item], "--split-file", every_source=False)


def test_a_build_uses_the_given_split_and_ignore_lists(synthetic_corpus, tmp_path):
    truth = json.loads((synthetic_corpus / "corpus.json").read_text())
    good = [t["id"] for t in truth["music4all"] if t["kind"] == "good"]
    val_track = next(t["id"] for t in truth["music4all"] if t["kind"] == "good" and t["split"] == "val")
    train_tracks = [t["id"] for t in truth["music4all"] if t["kind"] == "good" and t["split"] == "train"]
    chosen = [val_track, *train_tracks[:3]]  # a split of the user's: a val track moves into train
    split_file = tmp_path / "music4all_train.txt"
    split_file.write_text("".join(f"{t}\n" for t in chosen))
    aist = [m["id"] for m in truth["aist"] if m["kind"] == "good" and m["split"] == "train"]
    motion_split = tmp_path / "aist_train.txt"
    motion_split.write_text("".join(f"{m}\n" for m in aist[:3]))
    ignore = tmp_path / "ignore_list.txt"
    ignore.write_text(f"{chosen[1]}\n{aist[0]}\n../not/a/name\n")
    out = tmp_path / "listed"
    assert (
        main(
            build_argv(
                synthetic_corpus,
                out,
                "train",
                *TINY_SHARDS_ARGS,
                "--split-file",
                f"music4all={split_file}",
                "--split-file",
                f"aist={motion_split}",
                "--ignore-list",
                str(ignore),
            )
        )
        == 0
    )
    samples = [decode_sample(raw)["json"] for url in sorted(out.glob("train-*.tar")) for raw in read_shard(str(url))]
    assert {s["track_id"] for s in samples} == {chosen[0], *chosen[2:]} and set(good) >= set(chosen)
    assert {s["motion_id"] for s in samples if s["source"] == "aist"} <= set(aist[1:3])
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    by_id = {s["id"]: s for s in skipped}
    for item in (chosen[1], aist[0]):
        assert by_id[item]["reason"] == "ignored" and by_id[item]["file"] == str(ignore)
    bad = [s for s in skipped if s["reason"] == "bad_list_line"]
    assert len(bad) == 1 and bad[0]["file"] == str(ignore) and "line 3" in bad[0]["detail"]
    args = json.loads((out / "manifest.json").read_text())["splits"]["train"]["build_args"]
    assert args["split_files"] == {"music4all": str(split_file), "aist": str(motion_split)}
    assert args["ignore_lists"]["aist"] == [str(ignore)]


def test_a_missing_list_file_is_a_usage_error(synthetic_corpus, tmp_path, capsys):
    assert (
        main(build_argv(synthetic_corpus, tmp_path / "x", "train", "--split-file", f"aist={tmp_path / 'none.txt'}"))
        == EXIT_USAGE
    )
    assert f"--split-file aist={tmp_path / 'none.txt'}: file not found" in capsys.readouterr().err
