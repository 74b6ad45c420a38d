"""Caption files: --music-captions / --motion-captions (CSV, JSON lines, the authors' JSON) give the captions of the
ids they list, templates the rest (counted in the manifest), and a bad row is an error naming file and line."""

from __future__ import annotations

import json
import random

import pytest

from unimumo.cli.shards import EXIT_USAGE, main
from unimumo.data.captions import (
    DESCRIPTION_TEMPLATES,
    MOTION_TEMPLATES,
    CaptionFileError,
    described_motion,
    motion_caption,
    read_caption_file,
)
from unimumo.data.synthetic_corpus import TINY_SHARDS_ARGS, build_argv
from unimumo.shards.format import decode_sample
from unimumo.shards.tar_reader import read_shard


def test_the_three_formats_give_every_caption_of_an_id(tmp_path):
    csv_file = tmp_path / "music.csv"
    csv_file.write_text('id,caption\nabc,"A bright pop song, with handclaps."\nxyz,Calm piano.\nabc,  Upbeat   pop. \n')
    assert read_caption_file(csv_file) == {
        "abc": ("A bright pop song, with handclaps.", "Upbeat pop."),
        "xyz": ("Calm piano.",),
    }
    lines = tmp_path / "motion.jsonl"
    lines.write_text('{"id": "m1", "caption": "a person spins"}\n\n{"id": "m1", "caption": "someone turns"}\n')
    assert read_caption_file(lines) == {"m1": ("a person spins", "someone turns")}
    authors = tmp_path / "music4all_captions_gpt.json"  # the authors' file: {id: [captions]}
    authors.write_text(json.dumps({"abc": ["One.", "Two."], "xyz": "Three."}))
    assert read_caption_file(authors) == {"abc": ("One.", "Two."), "xyz": ("Three.",)}


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("a.csv", "track,text\nabc,x\n", r"a.csv: line 1: missing columns \['id', 'caption'\]"),
        ("b.csv", "id,caption\nabc,fine\nxyz,\n", r"b.csv: line 3: caption is empty"),
        ("c.csv", "id,caption\nabc,one,two\n", r"c.csv: line 2: 3 cells, header has 2"),
        ("d.csv", "id,caption\n,orphan\n", r"d.csv: line 2: id must be a non-empty string"),
        ("e.jsonl", '{"id": "a", "caption": "x"}\n{"id": "b", "caption": "y"\n', r"e.jsonl: line 2: not JSON"),
        ("f.jsonl", '{"id": 7, "caption": "x"}\n', r"f.jsonl: line 1: id must be a non-empty string, got 7"),
        ("g.jsonl", '["a", "x"]\n', r'g.jsonl: line 1: expected an object with "id" and "caption"'),
        ("h.jsonl", '{"id": "a", "caption": ["x"]}\n', r"h.jsonl: line 1: caption must be a string, got list"),
        ("i.json", '{"a": [1]}', r"i.json: id 'a': caption must be a string, got int"),
        ("j.txt", "a caption\n", r"j.txt: unknown caption file kind '.txt'"),
        ("k.csv", "id,caption\nabc," + "x" * 3000 + "\n", r"k.csv: line 2: caption is empty or longer than 2000"),
    ],
)
def test_a_bad_row_names_the_file_and_line(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(CaptionFileError, match=message):
        read_caption_file(tmp_path / name)


def test_motion_texts_use_the_authors_sentences():
    rng = random.Random(0)
    assert described_motion("A person walks forward.", rng) in [
        t.format(desc="a person walks forward") for t in DESCRIPTION_TEMPLATES
    ]
    assert described_motion("DJ spins records", rng).endswith("that DJ spins records.")  # an acronym keeps its case
    assert (
        "The style of the dance is {genre}." in MOTION_TEMPLATES
        and "The motion is that {desc}." in DESCRIPTION_TEMPLATES
    )
    assert motion_caption(None, rng, feeling="happy") in ("This is a happy dance.", "The dance is happy.")


def test_a_build_takes_captions_from_files_and_counts_the_templates(synthetic_corpus, tmp_path):
    truth = json.loads((synthetic_corpus / "corpus.json").read_text())
    tracks = [t["id"] for t in truth["music4all"] if t["kind"] == "good" and t["split"] == "train"]
    aist = [m["id"] for m in truth["aist"] if m["kind"] == "good" and m["split"] == "train"]
    with_music = tracks[: len(tracks) // 2]
    music_file = tmp_path / "music.csv"
    music_file.write_text(
        "id,caption\n" + "".join(f'{t},"A file caption of {t}, take {n}."\n' for t in with_music for n in (1, 2))
    )
    motion_file = tmp_path / "motion.jsonl"
    motion_file.write_text("".join(json.dumps({"id": m, "caption": f"the dancer {m} kicks high"}) + "\n" for m in aist))
    out = tmp_path / "captioned"
    assert (
        main(
            build_argv(
                synthetic_corpus,
                out,
                "train",
                *TINY_SHARDS_ARGS,
                "--music-captions",
                str(music_file),
                "--motion-captions",
                str(motion_file),
            )
        )
        == 0
    )
    samples = [decode_sample(raw) for url in sorted(out.glob("train-*.tar")) for raw in read_shard(str(url))]
    origins = {"music": {}, "motion": {}}
    for sample in samples:
        meta = sample["json"]
        for stream in origins:
            origin = meta["caption_origins"][stream]
            origins[stream][origin] = origins[stream].get(origin, 0) + 1
        if meta["track_id"] in with_music:
            assert meta["caption_origins"]["music"] == "file"
            assert sample["music.txt"] in (f"A file caption of {meta['track_id']}, take {n}." for n in (1, 2))
        else:
            assert meta["caption_origins"]["music"] == "template" and "file caption" not in sample["music.txt"]
        if meta["source"] == "aist":
            assert meta["caption_origins"]["motion"] == "file"
            assert sample["motion.txt"] in [
                t.format(desc=f"the dancer {meta['motion_id']} kicks high") for t in DESCRIPTION_TEMPLATES
            ]
        else:  # HumanML3D keeps its own texts, in the authors' sentence
            assert meta["caption_origins"]["motion"] == "corpus"
            assert sample["motion.txt"].startswith(("The motion is that ", "The dance is that "))
    assert origins["music"].get("file") and origins["music"].get("template")
    counts = json.loads((out / "manifest.json").read_text())["splits"]["train"]["pairing"]
    assert counts["music_captions"] == origins["music"] and counts["motion_captions"] == origins["motion"]


def test_a_bad_caption_file_stops_the_build_before_anything_is_written(synthetic_corpus, tmp_path, capsys):
    bad = tmp_path / "music.csv"
    bad.write_text("id,caption\nabc,fine\nabc\n")
    out = tmp_path / "x"
    assert main(build_argv(synthetic_corpus, out, "train", "--music-captions", str(bad))) == EXIT_USAGE
    assert f"{bad}: line 3: 1 cells, header has 2" in capsys.readouterr().err
    assert not list(out.glob("*.tar"))
    assert (
        main(build_argv(synthetic_corpus, out, "train", "--motion-captions", str(tmp_path / "none.csv"))) == EXIT_USAGE
    )
    assert "--motion-captions" in capsys.readouterr().err
