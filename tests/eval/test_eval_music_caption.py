"""`unimumo-eval music-caption`: MusicQA read as the authors read it, captioned by a tiny random UniMuMo, scored
with My_Eval's metrics, the published numbers beside them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from unimumo.cli.eval import main
from unimumo.eval.caption_metrics import musicqa_scores
from unimumo.eval.musicqa import MusicQAError, read_clip, read_musicqa

WORDNET = Path("/usr/share/wordnet") if Path("/usr/share/wordnet/data.noun").is_file() else None


def _item(name, question, answer):
    return {
        "audio_name": name,
        "conversation": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}],
    }


def write_musicqa(root: Path) -> tuple[Path, Path]:
    """EvalMusicQA.txt in MU-LLaMA's format and its audio directory (44.1 kHz stereo wav and mono flac)."""
    audio = root / "audios"
    audio.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, seconds, channels in (("a.wav", 2.7, 2), ("b.flac", 1.2, 1), ("short.wav", 0.5, 1)):
        sf.write(audio / name, 0.1 * rng.standard_normal((int(44100 * seconds), channels)), 44100)
    items = [
        _item("a.wav", "Describe the audio", "Describe the audio: A calm piano piece with soft strings."),
        _item("a.wav", "What is the genre of the audio?", "Classical."),
        _item("b.flac", "Describe the audio", "What is the audio about?"),  # an answer that is a question: left out
        _item("b.flac", "Describe the audio", "An energetic rock song with loud drums."),
        _item("short.wav", "Describe the audio", "A short jingle."),
        _item("missing.wav", "Is it fast?", "Yes."),
    ]
    path = root / "EvalMusicQA.txt"
    path.write_text(json.dumps(items, indent=2))
    return path, audio


def test_read_musicqa_keeps_the_authors_items(tmp_path):
    path, audio = write_musicqa(tmp_path)
    items = read_musicqa(path)
    assert [(i.audio_name, i.reference) for i in items] == [
        ("a.wav", "Describe the audio: A calm piano piece with soft strings."),  # stored unstripped, as upstream
        ("b.flac", "An energetic rock song with loud drums."),
        ("short.wav", "A short jingle."),
    ]
    assert read_clip(audio, "a.wav", 32000).shape == (64000,)  # 2.7 s -> its first 2 whole seconds at 32 kHz
    assert read_clip(audio, "short.wav", 32000) is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("{}", "JSON list"),
        ('[{"audio_name": "x"}]', "item 0"),
        ("not json", "not a MusicQA file"),
        (json.dumps([_item("x", "Why?", "No.")]), "no item asks"),
    ],
)
def test_bad_musicqa_files_are_named(tmp_path, text, message):
    path = tmp_path / "EvalMusicQA.txt"
    path.write_text(text)
    with pytest.raises(MusicQAError, match=message):
        read_musicqa(path)


def test_music_caption_end_to_end(tiny_model, synthetic_corpus, tmp_path, capsys):
    musicqa, audio = write_musicqa(tmp_path / "musicqa")
    out = tmp_path / "out"
    argv = [
        "music-caption",
        "--model",
        str(tiny_model),
        "--musicqa",
        str(musicqa),
        "--musicqa-audio",
        str(audio),
        "--music-codec",
        str(synthetic_corpus / "models" / "encodec"),
        "--text-tokenizer",
        str(synthetic_corpus / "models" / "text_tokenizer.model"),
        "--out",
        str(out),
        "--max-length",
        "8",
        "--device",
        "cpu",
    ]
    if WORDNET is not None:
        argv += ["--nltk-data", str(WORDNET)]
    assert main(argv + ["--num-beams", "2"]) == 0
    generated = json.loads((out / "gen_captions.json").read_text())
    references = json.loads((out / "gt_captions.json").read_text())
    assert list(generated) == list(references) == ["a.wav", "b.flac"]  # short.wav (< 1 s) left out
    assert references["b.flac"] == "An energetic rock song with loud drums."
    report = json.loads((out / "metrics.json").read_text())
    ours, published = report["metrics"]["this_model"], report["metrics"]["published"]
    assert published == {
        "bleu": 0.261,
        "bleu4": 0.146,
        "meteor": 0.291,
        "rouge_l_recall": 0.369,
        "bertscore_recall": 0.892,
    }
    expected = musicqa_scores(list(references.values()), list(generated.values()), bert_model=None, nltk_data=WORDNET)
    assert ours == pytest.approx(expected)
    assert ours["bertscore_recall"] is None and "bertscore_recall" in report["info"]["unavailable"]
    assert report["info"]["num_items"] == 3 and report["info"]["num_scored"] == 2
    assert "authors' evaluation log" in (out / "metrics.md").read_text()
    # a rerun reuses the cached captions; other decoding settings in the same --out are refused
    assert main(argv + ["--num-beams", "2"]) == 0
    assert json.loads((out / "gen_captions.json").read_text()) == generated
    assert main(argv + ["--num-beams", "3"]) == 2
    assert "different settings" in capsys.readouterr().err


def test_music_caption_needs_its_tokenizers(tiny_model, tmp_path, capsys):
    musicqa, audio = write_musicqa(tmp_path / "musicqa")
    code = main(
        [
            "music-caption",
            "--model",
            str(tiny_model),
            "--musicqa",
            str(musicqa),
            "--musicqa-audio",
            str(audio),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code != 0
    assert "--music-codec, --text-tokenizer" in capsys.readouterr().err


def test_paper_section_puts_the_published_row_beside_ours():
    from unimumo.eval.published_captions import MusicCaptionConfig, music_caption_section

    ours = {"bleu": 0.5, "bleu4": 0.25, "meteor": None, "rouge_l_recall": 0.125, "bertscore_recall": 0.75}
    lines = music_caption_section(
        MusicCaptionConfig(model="m", out="o", musicqa="q", musicqa_audio="a"), {"this_model": ours}
    )
    assert "| this run | 0.500 | 0.250 | - | 0.125 | 0.750 |" in lines
    assert "| UniMuMo (published) | 0.261 | 0.146 | 0.291 | 0.369 | 0.892 |" in lines
