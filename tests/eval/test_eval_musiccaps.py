"""MusicCaps inputs as the UniMuMo authors read them, the per-clip cache, and the text2music-musiccaps config.

Golden prompts: the prompt-drawing lines of hanyangclarence/UniMuMo@c4792e351ca73682d2dda7a883f0c2cde301c832
`test_model/test_musiccaps.py` (HumanML3D text reading, `random.uniform(0, 1) < aist_prob`, `random.choice` over its
nine genres or the captions, caption + ' <separation> ' + description), run as a script outside the project
(`/tmp/musiccaps_golden/run.py CSV_DIR TEXTS_DIR PROB`, Python 3.11.7, pandas 3.1.1) after `random.seed(42)` (what
`seed_everything(42)` does to `random`), on tests/assets/musiccaps/musiccaps-public.csv and the HumanML3D texts
`HUMANML3D_TEXTS` below; `os.listdir` was replaced by `sorted(os.listdir)` there for a reproducible order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unimumo.data.synthetic_corpus import tokenizer_args
from unimumo.eval.clip_cache import ClipCache, checkpoint_fingerprint
from unimumo.eval.musiccaps import (
    MusicCapsError,
    humanml3d_captions,
    musiccaps_clips,
    read_musiccaps,
    split_prompt,
)

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CSV = ASSETS / "musiccaps" / "musiccaps-public.csv"
BEATS = ASSETS / "beats"
HUMANML3D_TEXTS = {
    "000001.txt": "a person walks forward slowly.#a/DET person/NOUN#0.0#0.0\n"
    "someone jumps up and down twice#someone/NOUN#0.0#0.0\n",
    "000002.txt": "a figure waves both arms.#x#0.0#0.0\n",
    "000003.txt": "the person kicks with the left leg.#x#0.0#0.0\nhe crouches then stands#x#0#0\n",
    "000004.txt": "a man spins around.#a/DET#0.0#0.0\n",
}
CAPTIONS = (
    "A mechanical industrial beat with metallic hits, played at a steady tempo.",
    "A lively breakbeat with funky drums and a crisp snare; the recording is dry.",
    'Fast energetic percussion loop, "compus" style, with layered hand drums.',
    "An electronic groove with a four-on-the-floor kick and bright hi-hats.",
    "Soft ambient pads drift slowly under a quiet piano melody.",
)
GOLDEN_MOTION = {  # aist_prob -> the motion description of each row, as upstream draws them with seed 42
    0.8: (
        "The style of the dance is break.",
        "The style of the dance is middle hip-hop.",
        "The style of the dance is pop.",
        "The style of the dance is ballet jazz.",
        "The style of the dance is krump.",
    ),
    0.5: (
        "a person walks forward slowly",
        "someone jumps up and down twice",
        "The style of the dance is pop.",
        "he crouches then stands",
        "The style of the dance is krump.",
    ),
}
# the reference clip of each of the first three rows: a real drum loop (the last two rows have none)
REFERENCE_LOOPS = {
    "-b3aV9xQ2eA": "loop_industrial.flac",
    "Zq0_7lLmT4k": "loop_breakbeat.flac",
    "Kd9-X2wPq_o": "loop_compus.flac",
}


def write_humanml3d_texts(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in HUMANML3D_TEXTS.items():
        (directory / name).write_text(text)
    return directory


def write_musiccaps_audio(directory: Path, seconds: float = 2.0) -> Path:
    """directory/<ytid>.wav: each real loop tiled to `seconds` at its 16 kHz (MusicCaps clips are named by ytid)."""
    import soundfile as sf

    directory.mkdir(parents=True, exist_ok=True)
    for ytid, loop in REFERENCE_LOOPS.items():
        samples, rate = sf.read(BEATS / loop, dtype="int16")
        tiled = np.tile(samples, int(np.ceil(seconds * rate / len(samples))))[: int(seconds * rate)]
        sf.write(directory / f"{ytid}.wav", tiled, rate, subtype="PCM_16")
    return directory


@pytest.mark.parametrize("aist_prob", sorted(GOLDEN_MOTION))
def test_prompts_match_the_authors_script(tmp_path, aist_prob):
    texts = write_humanml3d_texts(tmp_path / "texts")
    clips = musiccaps_clips(CSV, BEATS, 42, "authors", aist_prob, texts)
    assert [clip.row.caption for clip in clips] == list(CAPTIONS)
    assert [clip.prompt for clip in clips] == [
        f"{caption} <separation> {motion}" for caption, motion in zip(CAPTIONS, GOLDEN_MOTION[aist_prob])
    ]
    assert [split_prompt(clip.prompt) for clip in clips] == list(zip(CAPTIONS, GOLDEN_MOTION[aist_prob]))


def test_text_only_prompts_and_skipped_rows(tmp_path):
    audio = write_musiccaps_audio(tmp_path / "audio")
    clips = musiccaps_clips(CSV, audio, 42, "none")
    assert [split_prompt(clip.prompt) for clip in clips] == [(caption, "") for caption in CAPTIONS]
    assert [clip.reference.name if clip.reference else None for clip in clips] == [
        f"{ytid}.wav" for ytid in REFERENCE_LOOPS
    ] + [None, None]
    skipped = clips[-1].entry()
    assert skipped["ytid"] == "Tm8uUu3Vv1c" and skipped["reason"].startswith("no reference audio Tm8uUu3Vv1c.*")
    assert "reason" not in clips[0].entry()
    # the genre-only draw needs no HumanML3D texts; one that draws a caption does
    genre_only = musiccaps_clips(CSV, audio, 42, "authors", 1.0)
    assert genre_only[0].prompt.endswith("<separation> The style of the dance is break.")
    with pytest.raises(MusicCapsError, match="--humanml3d-texts"):
        musiccaps_clips(CSV, audio, 42, "authors", 0.5)


def test_humanml3d_captions_as_upstream_reads_them(tmp_path):
    texts = write_humanml3d_texts(tmp_path / "texts")
    assert humanml3d_captions(texts) == [
        "a person walks forward slowly",
        "someone jumps up and down twice",
        "a figure waves both arms",
        "the person kicks with the left leg",
        "he crouches then stands",
        "a man spins around",
    ]
    assert humanml3d_captions(texts, files=1) == ["a person walks forward slowly", "someone jumps up and down twice"]


def test_bad_musiccaps_inputs_are_clear_errors(tmp_path):
    with pytest.raises(MusicCapsError, match="nowhere.csv: MusicCaps CSV not found"):
        read_musiccaps(tmp_path / "nowhere.csv")
    no_caption = tmp_path / "no_caption.csv"
    no_caption.write_text("ytid,start_s,end_s,aspect_list\nabc,0,10,x\n")
    with pytest.raises(MusicCapsError, match=r"no_caption.csv: no column caption \(a MusicCaps CSV has"):
        read_musiccaps(no_caption)
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("ytid,start_s,end_s,caption\nabc,0,10,one\nabd,0,10,two\nabc,0,10,three\n")
    with pytest.raises(MusicCapsError, match="repeated.csv:4: ytid abc repeats line 2"):
        read_musiccaps(repeated)
    bad_time = tmp_path / "bad_time.csv"
    bad_time.write_text("ytid,start_s,end_s,caption\nabc,zero,10,one\n")
    with pytest.raises(MusicCapsError, match="bad_time.csv:2: start_s / end_s are not numbers"):
        read_musiccaps(bad_time)
    with pytest.raises(MusicCapsError, match="MusicCaps audio directory not found"):
        musiccaps_clips(CSV, tmp_path / "no_audio", 42, "none")


def test_clip_cache_recomputes_nothing_it_has(tmp_path):
    calls = []

    def compute(indices):
        calls.append(list(indices))
        return [{"embedding": np.full(3, float(i))} for i in indices]

    items = [("a", "digest-a"), ("b/../c", "digest-b"), ("d", "digest-d")]
    cache = ClipCache(tmp_path, "vggish_generated", "f" * 64, "resample")
    first = cache.fetch_many(items, compute, batch_size=2)
    assert calls == [[0, 1], [2]] and cache.summary() == {"reused": 0, "computed": 3}
    again = ClipCache(tmp_path, "vggish_generated", "f" * 64, "resample")
    second = again.fetch_many(items + [("e", "digest-e")], compute, batch_size=2)
    assert calls[2:] == [[3]] and again.summary() == {"reused": 3, "computed": 1}
    for one, other in zip(first, second):
        np.testing.assert_array_equal(one["embedding"], other["embedding"])
    # another input content, model or loader variant is another entry; a damaged entry is recomputed
    changed = ClipCache(tmp_path, "vggish_generated", "f" * 64, "resample")
    changed.fetch_many([("a", "digest-a2")], compute)
    other_model = ClipCache(tmp_path, "vggish_generated", "e" * 64, "resample")
    other_model.fetch_many([("d", "digest-d")], compute)
    other_variant = ClipCache(tmp_path, "vggish_generated", "f" * 64, "decimate")
    other_variant.fetch_many([("d", "digest-d")], compute)
    assert calls[3:] == [[0], [0], [0]]
    cache.path("d").write_bytes(b"not a zip")
    damaged = ClipCache(tmp_path, "vggish_generated", "f" * 64, "resample")
    damaged.fetch_many([("d", "digest-d")], compute)
    assert damaged.summary() == {"reused": 0, "computed": 1}
    assert len({cache.path(clip) for clip, _ in items}) == 3  # unsafe ids get distinct, safe file names


def test_checkpoint_fingerprint_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    import unimumo.eval.clip_cache as clip_cache

    checkpoint = tmp_path / "model.pth"
    checkpoint.write_bytes(b"weights")
    hashed = []
    real = clip_cache.fingerprint_file
    monkeypatch.setattr(clip_cache, "fingerprint_file", lambda path: hashed.append(path) or real(path))
    first = checkpoint_fingerprint(checkpoint, tmp_path / "cache")
    assert checkpoint_fingerprint(checkpoint, tmp_path / "cache") == first and len(hashed) == 1
    checkpoint.write_bytes(b"other weights")
    assert checkpoint_fingerprint(checkpoint, tmp_path / "cache") != first and len(hashed) == 2


def test_musiccaps_config_is_validated_before_anything_runs():
    from unimumo.eval.config import MusicCapsConfig, ScoreMusicConfig

    given = dict(model="m", out="o", musiccaps="c.csv", musiccaps_audio="a", shards="s")
    config = MusicCapsConfig(**given, vggish="v", panns="p", clap="c", clap_text_model="t", humanml3d_texts="h")
    assert config.problems() == []
    assert (config.seconds, config.guidance_scale, config.top_k, config.temperature, config.seed) == (
        10.0,
        3.0,
        250,
        1.0,
        42,
    )
    problems = MusicCapsConfig(**given, metrics="fad,clap,is", aist_prob=0.5).problems()
    assert "unknown metric 'is' in metrics (choose from fad, kl, clap)" in problems
    assert "metric fad needs --vggish" in problems and "metric clap needs --clap-text-model" in problems
    assert any("give --humanml3d-texts DIR" in problem for problem in problems)
    assert MusicCapsConfig(**given, metrics="kl", panns="p", motion_prompt="none").problems() == []
    assert ScoreMusicConfig("g", "r", "o").problems() == []  # beats only, as before
    assert ScoreMusicConfig("g", "r", "o", metrics="clap", clap="c", clap_text_model="t").problems() == [
        "metric clap needs --captions CSV (the text of each generated file, by name stem)"
    ]


@pytest.fixture(scope="module")
def evaluation_models(tmp_path_factory):
    """Random-weight VGGish, PANNs Cnn14 and LAION-CLAP in their projects' published file formats."""
    from unimumo.eval.random_eval_models import (
        write_laion_checkpoint,
        write_panns_checkpoint,
        write_roberta_dir,
        write_vggish_checkpoint,
    )

    root = tmp_path_factory.mktemp("evaluation_models")
    return {
        "--vggish": str(write_vggish_checkpoint(root / "vggish-10086976.pth")),
        "--panns": str(write_panns_checkpoint(root / "Cnn14_16k_mAP=0.438.pth")),
        "--clap": str(write_laion_checkpoint(root / "630k-audioset-best.pt")),
        "--clap-text-model": str(write_roberta_dir(root / "roberta-base")),
    }


def config_values(printed: dict) -> dict:
    """The fields of a `--print-config` output."""
    return {name: value for name, value in printed.items() if name != "config"}


def _mtimes(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): p.stat().st_mtime_ns for p in directory.rglob("*") if p.is_file()}


def test_text2music_on_musiccaps_end_to_end(tiny_model, synthetic_corpus, evaluation_models, tmp_path, capsys):
    import json
    import math

    from unimumo.cli.eval import main

    audio = write_musiccaps_audio(tmp_path / "musiccaps_audio")
    out = tmp_path / "musiccaps"
    argv = ["text2music", "--model", str(tiny_model), "--musiccaps", str(CSV), "--musiccaps-audio", str(audio)]
    argv += [*tokenizer_args(synthetic_corpus), "--device", "cpu", "--out", str(out)]
    argv += [item for pair in evaluation_models.items() for item in pair]
    argv += ["--humanml3d-texts", str(write_humanml3d_texts(tmp_path / "texts"))]
    assert main(argv + ["--print-config"]) == 0  # the authors' settings by default
    config = json.loads(capsys.readouterr().out)
    assert config["config"] == "MusicCapsConfig" and config["metrics"] == "fad,kl,clap"
    assert (config["seconds"], config["guidance_scale"], config["top_k"], config["seed"]) == (10.0, 3.0, 250, 42)
    run = argv + ["--seconds", "1", "--render", "1", "--batch-size", "3"]
    assert main(run) == 0
    report = json.loads((out / "metrics.json").read_text())
    generated = report["metrics"]["generated"]
    for name in ("fad", "kl_softmax", "kl_sigmoid", "clap", "fad_decimate", "kl_softmax_decimate_resample", "fad_clap"):
        assert math.isfinite(generated[name]), name
    assert -1.0 <= generated["clap"] <= 1.0 and generated["fad"] >= 0.0
    assert [entry["ytid"] for entry in report["inputs"]] == list(REFERENCE_LOOPS)
    assert report["inputs"][1]["prompt"] == f"{CAPTIONS[1]} <separation> The style of the dance is middle hip-hop."
    assert all(math.isfinite(entry["clap"]) and math.isfinite(entry["kl_softmax"]) for entry in report["inputs"])
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert [entry["ytid"] for entry in skipped] == ["Ew5rR1yNn8s", "Tm8uUu3Vv1c"]
    assert all(entry["reason"].startswith(f"no reference audio {entry['ytid']}.*") for entry in skipped)
    assert report["info"]["num_skipped"] == 2 and "not measured" in report["info"]["dance_metrics"]
    assert report["info"]["inputs_upstream"].startswith("hanyangclarence/UniMuMo@c4792e3")
    assert all(summary["computed"] == 3 for summary in report["info"]["cache"].values()), report["info"]["cache"]
    wavs = sorted(p.name for p in (out / "music" / "generated").glob("*.wav"))
    assert wavs == sorted(f"{ytid}.wav" for ytid in REFERENCE_LOOPS)
    tables = (out / "metrics.md").read_text()
    assert "| UniMuMo (published) | 5.93 | 1.93 | n/a | 0.27 |" in tables and "third-party copy" in tables
    assert [p.name for p in (out / "renders").iterdir()] == ["0000_-b3aV9xQ2eA"]

    # the paper's text-to-music section: ours beside the published cells, with their sources
    from unimumo.eval.config import MusicCapsConfig
    from unimumo.eval.text2music_musiccaps import musiccaps_section

    section = "\n".join(musiccaps_section(MusicCapsConfig(**config_values(config)), report["metrics"]))
    assert f"| this run | {generated['fad']:.4f} | {generated['kl_softmax']:.4f} |" in section
    assert "| AudioLDM 2 (published) | 7.05 | n/a | n/a | n/a |" in section
    assert "MusicGen fine-tuned on the authors' data, fad: UniMuMo paper's" in section

    # a second run recomputes nothing: no evaluation-model call, no new generation, no file rewritten
    before = _mtimes(out / "cache") | {f"music/{k}": v for k, v in _mtimes(out / "music").items()}
    assert main(run) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert all(summary["computed"] == 0 for summary in again["info"]["cache"].values()), again["info"]["cache"]
    assert again["metrics"] == report["metrics"]
    after = _mtimes(out / "cache") | {f"music/{k}": v for k, v in _mtimes(out / "music").items()}
    assert after == before

    # score-music scores the same files the same way (pairs by name stem; the captions from the CSV)
    scored = tmp_path / "score_music"
    argv = ["score-music", "--generated", str(out / "music" / "generated"), "--reference", str(audio)]
    argv += ["--metrics", "fad,clap", "--captions", str(CSV), "--out", str(scored)]  # kl: the same path, slower
    assert main(argv + [item for pair in evaluation_models.items() for item in pair]) == 0
    music = json.loads((scored / "metrics.json").read_text())
    assert "kl_softmax" not in music["metrics"]["generated"]
    for name in ("fad", "fad_decimate", "clap"):  # float32 model outputs, recomputed
        assert music["metrics"]["generated"][name] == pytest.approx(generated[name], rel=1e-6), name
    assert {"beats_coverage", "beats_hit"} <= set(music["metrics"]["generated"])
    assert music["info"]["skipped"] == []

    # bad inputs are clear errors: a config problem before anything runs, a missing checkpoint by name
    base = ["text2music", "--model", str(tiny_model), "--musiccaps", str(CSV), "--musiccaps-audio", str(audio)]
    assert main(base + ["--out", str(tmp_path / "x"), "--shards", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "metric fad needs --vggish" in err and "--humanml3d-texts" in err
    missing = dict(evaluation_models, **{"--panns": str(tmp_path / "nowhere.pth")})
    run = run[: run.index("--out")] + ["--out", str(tmp_path / "y")] + run[run.index("--out") + 2 :]
    run[run.index("--panns") + 1] = missing["--panns"]
    assert main(run) == 2
    assert "nowhere.pth: evaluation checkpoint not found (--panns)" in capsys.readouterr().err


def test_paper_takes_the_musiccaps_table_and_refuses_it_incomplete(tiny_model, tmp_path, capsys):
    import json

    from unimumo.cli.eval import main

    argv = ["paper", "--model", str(tiny_model), "--aist", str(tmp_path), "--aist-music", str(tmp_path)]
    argv += ["--shards", str(tmp_path), "--out", str(tmp_path / "paper"), "--print-config"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["musiccaps"] is None  # no text-to-music table unless given
    assert main(argv + ["--musiccaps", str(CSV), "--musiccaps-audio", str(tmp_path), "--vggish", "v"]) == 2
    err = capsys.readouterr().err
    assert "text2music: metric kl needs --panns" in err and "text2music: metric clap needs --clap" in err
    # --render N reaches the text-to-music run too
    from unimumo.eval.config import PaperConfig, paper_musiccaps

    paper = PaperConfig(model="m", out="o", aist="a", aist_music="am", musiccaps=str(CSV), render=1)
    assert paper_musiccaps(paper, "o/text2music").render == 1


def test_musiccaps_motion_stream_dance_metrics_with_aist(tiny_model, synthetic_corpus, evaluation_models, tmp_path):
    """With --aist the motion generated with the music is scored as the music -> dance benchmark scores it."""
    import json
    import math

    from testkit.aist_layout import write_aist_layout
    from unimumo.cli.eval import main

    root, _, names = write_aist_layout(synthetic_corpus, tmp_path / "aist_plusplus_final")
    out = tmp_path / "musiccaps_dance"
    argv = ["text2music", "--model", str(tiny_model), "--musiccaps", str(CSV), "--out", str(out)]
    argv += ["--musiccaps-audio", str(write_musiccaps_audio(tmp_path / "audio")), "--motion-prompt", "none"]
    argv += [*tokenizer_args(synthetic_corpus), "--device", "cpu", "--aist", str(root)]
    argv += ["--metrics", "clap", "--clap", evaluation_models["--clap"]]
    argv += ["--clap-text-model", evaluation_models["--clap-text-model"], "--seconds", "2", "--render", "0"]
    assert main(argv) == 0
    report = json.loads((out / "metrics.json").read_text())
    generated = report["metrics"]["generated"]
    assert set(generated) >= {"clap", "FID_k", "FID_m", "Div_k", "Div_m", "BAS", "PFC"} and "fad" not in generated
    for name in ("clap", "FID_k", "FID_m", "Div_k", "Div_m", "PFC"):
        assert math.isfinite(generated[name]), name
    assert report["info"]["ground_truth"] == "aist" and report["info"]["ground_truth_sequences"] == len(names)
    assert report["info"]["motion_prompt"] == "none" and report["inputs"][0]["prompt"].endswith("<separation> ")
