"""The paper benchmarks' own inputs: EDGE's slicing of AIST++ test music and the authors' prompts.

Golden slice counts: `python /tmp/golden_slices/run.py` (a script kept outside the project) imports
`write_slice_inputs` from this file, writes the music and dances, cuts each music to its dance as
hanyangclarence/My_Project @ aeac11f `preprocessing/pair_music_motion.py` does (librosa.load at 32 kHz,
wave[:int(frames / 60 * 32000)], soundfile.write) and runs `slice_aistpp(motion_dir, music_dir)` of
`preprocessing/slice_edge_test.py` at that commit (EDGE's `slice_aistpp`, Stanford-TML/EDGE @ 17c3428
`data/slice.py`, on .npy dances), counting the slices it writes per sequence. librosa 0.11.0, soundfile 0.14.0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from unimumo.data.synthetic_corpus import d2m_segment_line as d2m_line
from unimumo.data.synthetic_corpus import tokenizer_args
from unimumo.eval.aist_inputs import genre_prompt, read_edge_slices, sequence_slices
from unimumo.eval.beats_metrics import load_music

SLICE_CASES = (  # sequence, dance frames at 60 fps, music seconds, music sampling rate
    ("gBR_sBM_cAll_d04_mBR0_ch01", 1200, 30.0, 48000),
    ("gJB_sBM_cAll_d09_mJB5_ch02", 721, 9.75, 32000),
    ("gKR_sBM_cAll_d28_mKR2_ch02", 299, 12.0, 32000),
    ("gLH_sBM_cAll_d17_mLH4_ch02", 330, 6.0, 44100),
    ("gLO_sBM_cAll_d13_mLO2_ch02", 391, 8.0, 22050),
    ("gMH_sBM_cAll_d22_mMH3_ch02", 1001, 16.2, 32000),
)
GOLDEN_SLICES = {
    "gBR_sBM_cAll_d04_mBR0_ch01": 31,
    "gJB_sBM_cAll_d09_mJB5_ch02": 10,
    "gKR_sBM_cAll_d28_mKR2_ch02": 0,
    "gLH_sBM_cAll_d17_mLH4_ch02": 2,
    "gLO_sBM_cAll_d13_mLO2_ch02": 4,
    "gMH_sBM_cAll_d22_mMH3_ch02": 23,
}


def write_slice_inputs(directory: Path) -> tuple[Path, Path]:
    """directory/music/<music id>.wav (a seeded click track at its rate) and directory/motions/<sequence>.npy
    ([frames, 22, 3] zeros: the slicer only counts frames) for every SLICE_CASES entry."""
    music, motions = Path(directory) / "music", Path(directory) / "motions"
    music.mkdir(parents=True, exist_ok=True)
    motions.mkdir(parents=True, exist_ok=True)
    for index, (sequence, frames, seconds, rate) in enumerate(SLICE_CASES):
        rng = np.random.default_rng(index)
        wav = rng.normal(0.0, 0.01, int(seconds * rate))
        wav[:: rate // 2] = 0.8
        sf.write(music / f"{sequence.split('_')[4]}.wav", wav.astype(np.float32), rate, subtype="PCM_16")
        np.save(motions / f"{sequence}.npy", np.zeros((frames, 22, 3), np.float32))
    return music, motions


def test_edge_slice_counts_match_upstream(tmp_path):
    music, _ = write_slice_inputs(tmp_path)
    for sequence, frames, _, _ in SLICE_CASES:
        wav = load_music(music / f"{sequence.split('_')[4]}.wav", 32000)
        slices = sequence_slices(sequence, frames, wav)
        assert len(slices) == GOLDEN_SLICES[sequence], sequence
        for number, piece in enumerate(slices):
            assert piece.index == number and piece.start_s == 0.5 * number and piece.sequence == sequence
            start = 16000 * number
            np.testing.assert_array_equal(piece.wav, wav[start : start + 160000])


def test_authors_prompt_from_the_sequence_name():
    assert genre_prompt("gBR_sBM_cAll_d04_mBR0_ch01") == "The style of the dance is break."
    assert genre_prompt("gLH_sBM_cAll_d17_mLH4_ch02") == "The style of the dance is la style hip-hop."
    assert genre_prompt("gJB_sFM_cAll_d09_mJB5_ch02") == "The style of the dance is ballet jazz."
    with pytest.raises(ValueError, match="xYZ_sBM: not an AIST.. sequence name"):
        genre_prompt("xYZ_sBM")


@pytest.fixture(scope="module")
def aist_layout(synthetic_corpus, tmp_path_factory):
    from testkit.aist_layout import write_aist_layout

    return write_aist_layout(synthetic_corpus, tmp_path_factory.mktemp("aist") / "aist_plusplus_final")


def aist_argv(command: str, model, aist_layout, corpus: Path, out: Path) -> list[str]:
    """`unimumo-eval COMMAND` on the AIST++-layout fixture with the synthetic corpus' tokenizers, on the CPU."""
    root, music, _ = aist_layout
    return [command, "--model", str(model), "--aist", str(root), "--aist-music", str(music)] + [
        *tokenizer_args(corpus),
        "--out",
        str(out),
        "--device",
        "cpu",
    ]


def test_read_edge_slices_on_an_aist_layout(aist_layout):
    from testkit.aist_layout import MUSIC_SECONDS

    root, music, names = aist_layout
    slices = read_edge_slices(root, music)
    sequences = sorted(names)  # the ignored sequence of the split file is left out
    assert sorted({s.sequence for s in slices}) == sequences
    for sequence in sequences:  # 16 s dances; the music is cut to the dance, or shorter
        seconds = min(16.0, MUSIC_SECONDS[int(sequence.split("_")[4][-1])])
        expected = int((int(seconds * 32000) - 160000) // 16000) + 1
        assert sum(s.sequence == sequence for s in slices) == expected, sequence
    assert slices[0].entry() == {
        "sequence": sequences[0],
        "music_id": sequences[0].split("_")[4],
        "slice": 0,
        "start_s": 0.0,
        "prompt": genre_prompt(sequences[0]),
    }


def test_read_edge_slices_errors_name_the_input(aist_layout, tmp_path):
    root, music, names = aist_layout
    with pytest.raises(ValueError, match="AIST.. music directory is missing"):
        read_edge_slices(root, tmp_path / "nowhere")
    partial = tmp_path / "partial"
    partial.mkdir()
    first = sorted(names)[0].split("_")[4]  # sequences are read in sorted order
    with pytest.raises(ValueError, match=rf"no music {first}\.wav or {first}\.mp3"):
        read_edge_slices(root, partial)


def test_music2motion_on_the_published_inputs(tiny_model, aist_layout, synthetic_corpus, tmp_path, capsys):
    import json
    import math

    from unimumo.cli.eval import main

    root, music, names = aist_layout
    out = tmp_path / "m2m_aist"
    argv = aist_argv("music2motion", tiny_model, aist_layout, synthetic_corpus, out)
    assert main(argv + ["--print-config"]) == 0  # the authors' settings by default, no --shards needed
    config = json.loads(capsys.readouterr().out)
    assert config["config"] == "AistMusic2MotionConfig" and config["shards"] is None
    assert (config["guidance_scale"], config["top_k"], config["temperature"], config["seed"], config["seconds"]) == (
        3.0,
        250,
        1.0,
        42,
        5.0,
    )

    assert main(argv + ["--seconds", "2", "--motion-fps", "20", "--batch-size", "32", "--render", "1"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    slices = read_edge_slices(root, music)
    assert report["inputs"] == [piece.entry() for piece in slices]
    assert len(report["inputs"]) == report["info"]["num_slices"] == 71
    assert {entry["sequence"] for entry in report["inputs"]} == set(names)
    info = report["info"]
    assert info["guidance_scale"] == 3.0 and info["seed"] == 42 and info["seconds"] == 2.0
    assert info["ground_truth"] == "aist" and info["ground_truth_sequences"] == 4
    assert info["slicer"].startswith("Stanford-TML/EDGE@17c3428")
    generated = report["metrics"]["generated"]
    for name in ("FID_k", "FID_m", "Div_k", "Div_m", "PFC"):
        assert math.isfinite(generated[name]), name
    assert generated["BAS_nan"] < 71  # the slices' real music has beats
    assert sorted(p.name for p in (out / "renders").iterdir()) == [f"0000_{slices[0].sequence}_slice0"]

    # resuming with other settings is refused; bad configs are refused before anything runs
    assert main(argv + ["--seconds", "2", "--motion-fps", "20", "--batch-size", "32", "--seed", "1"]) == 2
    assert "different settings (seed)" in capsys.readouterr().err
    assert main(argv[:7] + ["--out", str(tmp_path / "x"), "--seconds", "6"]) == 2
    err = capsys.readouterr().err
    assert "seconds must be <= 5" in err and "--music-codec, --motion-tokenizer, --text-tokenizer" in err


def test_d2m_gan_segment_names_map_to_aist_sequences():
    from unimumo.eval.aist_inputs import segment_sequence

    # the first lines of L-YeZhu/D2M-GAN @ 5dc5bbf dataset/aist_motion_test_segment.txt
    assert segment_sequence("./aistplus/motion_s2/test/gPO_sBM_c01_d11_mPO1_ch02_seg1.npy", "list") == (
        "gPO_sBM_cAll_d11_mPO1_ch02",
        1,
    )
    assert segment_sequence("./aistplus/motion_s2/test/gMH_sBM_c01_d24_mMH3_ch02_seg3.npy", "list") == (
        "gMH_sBM_cAll_d24_mMH3_ch02",
        3,
    )
    with pytest.raises(ValueError, match="list: 'gPO_sBM_c01_seg1.npy' is not a D2M-GAN segment name"):
        segment_sequence("gPO_sBM_c01_seg1.npy", "list")


def test_motion2music_on_the_published_inputs(tiny_model, aist_layout, synthetic_corpus, tmp_path, capsys):
    import json

    from testkit.aist_layout import MUSIC_SECONDS
    from unimumo.cli.eval import main
    from unimumo.data.sources.aist import read_clip

    root, music, names = aist_layout
    chosen = [
        (name, segment)
        for name in names
        for segment in (1, 4)
        if 2.0 * segment <= MUSIC_SECONDS[int(name.split("_")[4][-1])]
    ]
    segments = tmp_path / "aist_motion_test_segment.txt"
    segments.write_text("".join(d2m_line(name, segment) + "\n" for name, segment in chosen))
    out = tmp_path / "d2m"
    argv = aist_argv("motion2music", tiny_model, aist_layout, synthetic_corpus, out) + ["--segments", str(segments)]
    assert main(argv + ["--print-config"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert (config["config"], config["seconds"], config["guidance_scale"], config["seed"]) == (
        "AistMotion2MusicConfig",
        2.0,
        3.0,
        42,
    )
    assert main(argv) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert [(entry["sequence"], entry["segment"]) for entry in report["inputs"]] == chosen
    assert report["inputs"][0]["segment_file"] == d2m_line(*chosen[0])
    generated = report["metrics"]["generated"]
    assert generated["beats_pairs"] == len(chosen) and generated["beats_length_mismatch"] == 0
    assert 0.0 <= generated["beats_hit"] <= 1.0 and generated["beats_coverage"] >= generated["beats_hit"]
    # the reference is the real music of the sequence over the segment's 2 s, the dance the segment's frames
    name, segment = chosen[-1]
    key = f"{len(chosen) - 1:03d}_{name}_seg{segment}"
    reference, rate = sf.read(out / "music" / "reference" / f"{key}.wav")
    full = load_music(music / f"{name.split('_')[4]}.wav", 32000)
    np.testing.assert_allclose(reference, full[(segment - 1) * 64000 : segment * 64000], atol=1 / 32767 + 1e-6)
    from unimumo.eval.beats_metrics import music_dance_bas

    dance = read_clip(root / "motions" / f"{name}.pkl").joints[(segment - 1) * 120 : segment * 120]
    for column in ("generated", "reference"):
        expected = music_dance_bas(out / "music" / column / f"{key}.wav", dance, 60.0)
        recorded = report["inputs"][-1][f"BAS_{column}"]
        assert recorded is None if np.isnan(expected) else recorded == pytest.approx(expected), column
    assert report["inputs"][-1]["BAS_reference"] is not None  # the real music has beats
    # score-music on the files the benchmark wrote gives the same Beats Coverage / Hit
    rescored = tmp_path / "rescored"
    assert (
        main(
            [
                "score-music",
                "--generated",
                str(out / "music" / "generated"),
                "--reference",
                str(out / "music" / "reference"),
                "--out",
                str(rescored),
            ]
        )
        == 0
    )
    again = json.loads((rescored / "metrics.json").read_text())["metrics"]["generated"]
    assert (again["beats_coverage"], again["beats_hit"]) == (generated["beats_coverage"], generated["beats_hit"])
    text = (out / "metrics.md").read_text()
    assert "| UniMuMo (published) | 93.0 | 88.4 |" in text and "| this run |" in text

    # a segment past the end of its music is refused, naming the list line
    short = next(name for name in names if MUSIC_SECONDS[int(name.split("_")[4][-1])] < 10.0)
    segments.write_text(d2m_line(short, 5) + "\n")
    bad = aist_argv("motion2music", tiny_model, aist_layout, synthetic_corpus, tmp_path / "bad")
    bad += ["--segments", str(segments)]
    assert main(bad) == 2
    assert f"{segments}:1: segment 5" in capsys.readouterr().err


@pytest.mark.slow
def test_paper_runs_every_benchmark_given_and_writes_the_tables(
    tiny_model,
    aist_layout,
    synthetic_corpus,
    tmp_path,
    capsys,
):
    import json

    from unimumo.cli.eval import main

    root, music, names = aist_layout
    segments = tmp_path / "segments.txt"
    segments.write_text("".join(d2m_line(name, 1) + "\n" for name in names))
    out = tmp_path / "paper"
    argv = aist_argv("paper", tiny_model, aist_layout, synthetic_corpus, out) + ["--batch-size", "32"]
    assert main(argv + ["--segments", str(segments)]) == 0
    assert f"wrote {out}/paper_tables.md" in capsys.readouterr().out
    m2m = json.loads((out / "music2motion" / "metrics.json").read_text())
    d2m = json.loads((out / "motion2music" / "metrics.json").read_text())
    assert len(m2m["inputs"]) == 71 and m2m["info"]["seconds"] == 5.0 and m2m["info"]["seed"] == 42
    assert len(d2m["inputs"]) == len(names) and d2m["info"]["seconds"] == 2.0
    tables = (out / "paper_tables.md").read_text()
    coverage = 100 * d2m["metrics"]["generated"]["beats_coverage"]
    assert f"| this run | {coverage:.1f} |" in tables
    assert (
        "| UniMuMo (published) | 93.0 | 88.4 | n/a |" in tables and "| UniMuMo (published, as quoted) | n/a |" in tables
    )
    assert f"| this run | {m2m['metrics']['generated']['FID_k']:.4f} |" in tables
    for upstream in (
        "Cralence/My_Eval@ce5b01d",
        "Stanford-TML/EDGE@17c3428",
        "L-YeZhu/D2M-GAN@5dc5bbf",
        "hanyangclarence/My_Project@fb07319",
    ):
        assert upstream in tables, upstream
    assert main(argv[:7] + ["--out", str(out), "--print-config"]) == 2  # neither tokenizers nor --shards
    assert "without --shards the tokenizers must be given" in capsys.readouterr().err


def test_every_command_line_option_reaches_the_config():
    """A shard benchmark's runner takes its config: an option argparse knows but the config lacks would be lost."""
    import dataclasses

    from unimumo.cli.eval import build_parser
    from unimumo.eval.benchmarks import BENCHMARKS
    from unimumo.eval.config import SHARD_CONFIGS

    commands = build_parser()._subparsers._group_actions[0].choices
    published_route = {"aist_music", "segments", "aist", "text_tokenizer"}  # read by the published-inputs configs
    published_route |= {field.name for field in dataclasses.fields(BENCHMARKS["text2music-musiccaps"].config)}
    for command, config in SHARD_CONFIGS.items():
        options = {action.dest for action in commands[command]._actions} - {"help", "print_config", "log_level"}
        fields = {field.name for field in dataclasses.fields(config)}
        assert options - fields <= published_route, command
        assert not fields - options, command
    for name in ("score-music", "score-dance", "paper"):
        options = {action.dest for action in commands[name]._actions} - {"help", "print_config", "log_level"}
        assert options == {field.name for field in dataclasses.fields(BENCHMARKS[name].config)}, name


def test_the_paper_table_shows_each_sourced_published_cell_with_its_source():
    from unimumo.eval.config import AistMusic2MotionConfig
    from unimumo.eval.paper import PUBLISHED_M2M, music2motion_section

    config = AistMusic2MotionConfig(model="m", out="o", aist="a", aist_music="b")
    text = "\n".join(music2motion_section(config, {"generated": {"BAS": 0.2, "BAS_nan": 1}, "ground_truth": {}}))
    assert "| this run | - | - | - | - | 0.2000 | - |" in text
    assert "| UniMuMo (published, as quoted) | n/a | n/a | n/a | n/a | 0.24 | n/a |" in text  # the paper's BAS
    assert "| EDGE (published, as quoted) | n/a | n/a | n/a | n/a | n/a | n/a |" in text  # one unverified quote
    assert "| Bailando (published, as quoted) | n/a | n/a | n/a | n/a | n/a | n/a |" in text  # no agreeing source
    for name, (_, source) in PUBLISHED_M2M.items():
        assert f"  - {name}: {source}" in text
