"""`unimumo-eval motion-caption`: HumanML3D test motions fed as the authors feed them, TM2T's scored entries,
NLGEval's metrics, and the text-motion evaluator's R-precision and matching score (of the model's and the ground
truth's captions) when its pieces are given, beside the published numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from testkit.caption_fixtures import build_tiny_roberta
from unimumo.cli.eval import main
from unimumo.eval.caption_metrics import humanml3d_scores
from unimumo.eval.humanml3d_captions import HumanML3DCaptionError, model_input, read_caption_entries
from unimumo.eval.random_eval_models import TINY_T2M as TINY
from unimumo.eval.random_eval_models import write_glove, write_spacy_tagger, write_t2m_evaluator
from unimumo.eval.t2m_evaluator import MATCHING_REPORTED, Matching, T2MEvaluator, WordVectors, load_spacy


def _line(caption: str, start: str = "0.0", end: str = "0.0") -> str:
    tokens = " ".join(f"{w}/NOUN" for w in caption.split())
    return f"{caption}#{tokens}#{start}#{end}"


def write_humanml3d(root: Path) -> Path:
    """A HumanML3D root in the released layout: new_joint_vecs/<id>.npy [N,263] at 20 fps, texts/<id>.txt, test.txt."""
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    rng = np.random.default_rng(0)
    motions = {  # id -> (frames, caption lines)
        "000001": (
            120,
            [
                _line("a person walks forward"),
                _line("someone walks ahead"),
                _line("a man walks"),
                _line("a person walk slowly"),
                _line("the person kicks", "1.0", "3.5"),
            ],
        ),
        "000002": (
            60,
            [_line("a person jumps twice"), _line("the person hops"), _line("a short piece", "0.0", "1.5")],
        ),  # segment of 30 frames: left out
        "000003": (250, [_line("too long to score")]),  # 250 frames: left out, as upstream
        "000004": (80, [_line("a man waves", "0.5", "3.0"), _line("a man waves again", "0.5", "3.0")]),
    }
    for motion_id, (frames, lines) in motions.items():
        np.save(
            root / "new_joint_vecs" / f"{motion_id}.npy", 0.1 * rng.standard_normal((frames, 263)).astype(np.float32)
        )
        (root / "texts" / f"{motion_id}.txt").write_text("\n".join(lines) + "\n")
    (root / "test.txt").write_text("000001\n000002\n000003\n000004\n000009\n")  # 000009 has no features
    return root


def test_entries_as_tm2t(tmp_path):
    ids, entries = read_caption_entries(write_humanml3d(tmp_path / "h"))
    assert ids == ["000001", "000002", "000003", "000004"]
    got = [(e.name, e.motion_id, e.references) for e in entries]
    assert got == [
        ("000001_1.000000_3.500000", "000001", ("the person kicks",) * 3),
        ("000001", "000001", ("a person walks forward", "someone walks ahead", "a man walks")),  # the first 3
        ("000002", "000002", ("a person jumps twice", "the person hops", "a person jumps twice")),  # 2 -> 3
        # a repeated segment: listed per line, with the last caption (upstream's dict and name list)
        ("000004_0.500000_3.000000", "000004", ("a man waves again",) * 3),
        ("000004_0.500000_3.000000", "000004", ("a man waves again",) * 3),
    ]


def test_model_input_is_600_frames_at_60_fps():
    features = np.arange(2 * 263, dtype=np.float32).reshape(2, 263)
    x = model_input(features)
    expected = torch.nn.functional.interpolate(torch.from_numpy(features).T[None], scale_factor=3, mode="linear")[
        0
    ].T.numpy()
    assert x.shape == (600, 263)
    np.testing.assert_array_equal(x[:6], expected)
    assert not x[6:].any()
    assert model_input(np.ones((300, 263), np.float32)).shape == (600, 263)  # 15 s: cut to the first 10


def test_bad_caption_line_is_named(tmp_path):
    root = write_humanml3d(tmp_path / "h")
    (root / "texts" / "000002.txt").write_text("no tags here\n")
    with pytest.raises(HumanML3DCaptionError, match="000002.txt: line 1"):
        read_caption_entries(root)


def test_motion_caption_end_to_end(tiny_model, synthetic_corpus, tmp_path, capsys):
    root = write_humanml3d(tmp_path / "h")
    bert = build_tiny_roberta(tmp_path / "bert")
    out = tmp_path / "out"
    argv = [
        "motion-caption",
        "--model",
        str(tiny_model),
        "--humanml3d",
        str(root),
        "--motion-tokenizer",
        str(synthetic_corpus / "models" / "motion_vqvae"),
        "--text-tokenizer",
        str(synthetic_corpus / "models" / "text_tokenizer.model"),
        "--out",
        str(out),
        "--max-length",
        "8",
        "--num-beams",
        "2",
        "--seconds",
        "2",
        "--device",
        "cpu",
        "--bert-model",
        str(bert),
        "--bert-layers",
        "2",
    ]
    assert main(argv) == 0
    generated = json.loads((out / "gen_captions.json").read_text())
    references = json.loads((out / "gt_captions.json").read_text())
    assert list(generated) == ["000001", "000002", "000004"]
    assert all("The motion is that" not in c for c in generated.values())
    report = json.loads((out / "metrics.json").read_text())
    ours = report["metrics"]["this_model"]
    _, entries = read_caption_entries(root)
    expected = humanml3d_scores(
        [list(e.references) for e in entries], [generated[e.motion_id] for e in entries], bert_model=bert, bert_layers=2
    )
    assert {k: ours[k] for k in expected} == pytest.approx(expected)
    assert ours["bertscore_f1"] is not None and ours["r_precision_top1"] is None
    assert report["metrics"]["published"]["r_precision_top3"] == 0.806
    assert report["info"]["num_entries"] == 5 and len(references) == 4  # a repeated segment: one key, two entries
    assert "not computed: give --t2m-evaluator" in (out / "metrics.md").read_text()

    # the same run with the text-motion evaluator (tiny, batches of 3): the captions come from the cache
    pytest.importorskip("spacy")
    pieces = {
        "--t2m-evaluator": write_t2m_evaluator(tmp_path / "t2m", TINY),
        "--glove": write_glove(tmp_path / "glove", dim=TINY.word_size),
        "--spacy-model": write_spacy_tagger(tmp_path / "spacy"),
    }
    assert main([*argv, "--t2m-evaluator", str(pieces["--t2m-evaluator"])]) != 0  # the three together or none
    assert "need --t2m-evaluator, --glove, --spacy-model together: missing --glove" in capsys.readouterr().err
    argv += [str(x) for option, path in pieces.items() for x in (option, path)] + ["--r-precision-batch-size", "3"]
    assert main(argv) == 0
    ours = json.loads((out / "metrics.json").read_text())["metrics"]["this_model"]
    matching = Matching(
        T2MEvaluator.from_dir(pieces["--t2m-evaluator"]),
        WordVectors.from_dir(pieces["--glove"]),
        load_spacy(pieces["--spacy-model"]),
    )
    expected = matching.scores(root, entries, generated, seed=0, batch_size=3)  # 5 entries: 1 batch, 2 left out
    assert set(expected) == set(MATCHING_REPORTED) and None not in expected.values()
    assert {k: ours[k] for k in expected} == pytest.approx(expected)
    assert all(0 <= ours[f"r_precision_top{k}"] <= 1 for k in (1, 2, 3)) and ours["matching_score_ground_truth"] > 0
    assert ours["r_precision_top3_ground_truth"] == 1.0  # a batch of 3: the own caption is always among the 3 nearest


def test_paper_section_shows_the_ground_truth_and_the_published_row():
    from unimumo.eval.published_captions import MotionCaptionConfig, motion_caption_section

    ours = {"r_precision_top1": 0.25, "r_precision_top2": 0.5, "r_precision_top3": 0.75, "matching_score": 3.5}
    ours |= {f"{k}_ground_truth": v / 2 for k, v in ours.items()} | {"bleu_1": 0.125, "bertscore_f1": None}
    lines = motion_caption_section(MotionCaptionConfig(model="m", out="o", humanml3d="h"), {"this_model": ours})
    assert "| this run | 0.250 | 0.500 | 0.750 | 3.500 | 0.125 | - | - | - | - |" in lines
    assert "| HumanML3D captions (ground truth) | 0.125 | 0.250 | 0.375 | 1.750 | - | - | - | - | - |" in lines
    assert "| UniMuMo (published) | 0.520 | n/a | 0.806 | 2.958 | n/a | n/a | n/a | n/a | n/a |" in lines
    assert any("not computed: give --t2m-evaluator" in line for line in lines)


def test_paper_runs_the_captioning_benchmarks_whose_inputs_it_names():
    from unimumo.eval.config import EvalConfigError, PaperConfig, validate
    from unimumo.eval.published_captions import paper_caption_configs

    paper = PaperConfig(model="m", out="o", aist="a", aist_music="am", shards="s", humanml3d="h", bert_model="b")
    music, motion = paper_caption_configs(paper, Path("o"))
    assert music is None  # no --musicqa: that table is left out
    assert (motion.humanml3d, motion.bert_model, motion.shards, motion.out) == ("h", "b", "s", "o/motion_caption")
    assert (motion.num_beams, motion.max_length, motion.seconds, motion.t2m_evaluator) == (4, 256, 10.0, None)
    validate(motion)
    music, _ = paper_caption_configs(PaperConfig(model="m", out="o", aist="a", aist_music="am", musicqa="q"), Path("o"))
    with pytest.raises(EvalConfigError, match="musicqa_audio is required"):  # checked before anything runs
        validate(music)
