"""Caption metrics against the published evaluations' reference packages, on fixed caption pairs.

Golden values: the upstream formulas run outside this repository with this project's .venv (nltk 3.10.4,
rouge-score 0.1.2, bert-score 0.3.13, pycocoevalcap 1.2), on the captions below:
* MusicQA: the calls of Cralence/My_Eval@ce5b01d57d56ecd12c79947fbe40d1266b9f3803 eval_music_caption.py
  `evaluate()` (sentence_bleu on the raw strings, meteor_score on wordpunct_tokenize tokens with WordNet 3.0 from
  Debian's wordnet-base + wordnet-sense-index in an nltk_data layout, RougeScorer(['rougeL'], use_stemmer=True)
  recall, bert_score recall), BERTScore from `tiny_roberta` below with num_layers=2;
* HumanML3D: what hanyangclarence/TM2T@8e8929994a8aaa115ad66928d1ea1a5909d15fcd final_evaluations_m2t.py's
  NLGEval computes: pycocoevalcap Bleu(4), Rouge(), Cider() on {i: [stripped refs]} / {i: [stripped cand]}, and
  bert_score F1 with idf=True, rescale_with_baseline=True (bert_score's en/roberta-large.tsv), num_layers=2.
Command: `.venv/bin/python /tmp/cap23/golden.py` (the script held exactly the calls listed above).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from testkit.caption_fixtures import build_tiny_roberta
from unimumo.eval.caption_metrics import (
    CaptionMetricError,
    coco_bleu,
    humanml3d_scores,
    load_wordnet,
    musicqa_scores,
    strip_motion_caption,
)

MUSIC_REFS = [
    "The music is a calm piano piece with soft strings, slow tempo and a melancholic mood.",
    "An energetic rock song featuring distorted electric guitars, loud drums and a male vocalist.",
    "This is a jazz tune with a walking bass line, brushed drums and a saxophone solo.",
]
MUSIC_CANDS = [
    "A calm piano piece with soft strings and a sad mood.",
    "An energetic rock song featuring electric guitars and loud drums.",
    "A jazz piece featuring saxophone, bass and drums played at a relaxed tempo.",
]
MUSIC_GOLDEN = {
    "bleu": 0.5233285003930136,
    "bleu4": 0.43840452260246215,
    "meteor": 0.5187873618358784,
    "rouge_l_recall": 0.5267857142857143,
    "bertscore_recall": 0.797755241394043,
    "bleu_words": 0.20430451791064677,
    "bleu4_words": 0.12028699710198276,
}

MOTION_REFS = [
    [
        "a person walks forward and then turns around.",
        "a man walks forward, turns and walks back.",
        "someone takes a few steps forward then turns back.",
    ],
    ["a person jumps up and down twice.", "the person hops in place two times."],
    [
        "a man raises his right arm and waves.",
        "a person waves with the right hand.",
        "someone lifts an arm and waves hello.",
    ],
]
MOTION_CANDS = [
    "a person walks forward and turns around.",
    "a person jumps in place twice.",
    "a person waves his left hand.",
]
MOTION_GOLDEN = {
    "bleu_1": 0.808995472610823,
    "bleu_2": 0.6570927081150266,
    "bleu_3": 0.5214776641473358,
    "bleu_4": 0.39449461500684424,
    "rouge_l": 0.7120588561870274,
    "cider": 1.9998791753684682,
    "bertscore_f1": 0.5863762497901917,
}

WORDNET = next((p for p in (Path("/usr/share/wordnet"),) if (p / "data.noun").is_file()), None)


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory) -> Path:
    return build_tiny_roberta(tmp_path_factory.mktemp("bert") / "tiny_roberta")


@pytest.mark.skipif(WORDNET is None, reason="WordNet 3.0 not installed (Debian: apt-get install wordnet-base)")
def test_musicqa_scores_match_my_eval(tiny_roberta):
    got = musicqa_scores(MUSIC_REFS, MUSIC_CANDS, bert_model=tiny_roberta, nltk_data=WORDNET, bert_layers=2)
    assert got == pytest.approx(MUSIC_GOLDEN, rel=1e-6)
    # the published BLEU is on characters: the word-level figure beside it is a different (lower) number
    assert got["bleu_words"] < got["bleu"]


def test_musicqa_without_resources_leaves_those_metrics_out():
    got = musicqa_scores(MUSIC_REFS, MUSIC_CANDS, bert_model=None, nltk_data=None)
    assert got["meteor"] is None and got["bertscore_recall"] is None
    assert got["bleu"] == pytest.approx(MUSIC_GOLDEN["bleu"], rel=1e-9)
    assert got["rouge_l_recall"] == pytest.approx(MUSIC_GOLDEN["rouge_l_recall"], rel=1e-9)


def test_humanml3d_scores_match_nlgeval(tiny_roberta):
    got = humanml3d_scores(MOTION_REFS, MOTION_CANDS, bert_model=tiny_roberta, bert_layers=2)
    assert got == pytest.approx(MOTION_GOLDEN, rel=1e-6)


def test_coco_bleu_brevity_and_no_match():
    # a candidate shorter than its reference pays the brevity penalty; no shared word scores ~0
    (short,) = [coco_bleu([["a b c d e f"]], ["a b c"], max_n=1)[0]]
    assert short == pytest.approx(3 / 3 * 2.718281828 ** (1 - 6 / 3), rel=1e-6)
    assert coco_bleu([["x y z"]], ["a b c"])[0] < 1e-9


def test_strip_motion_caption():
    assert strip_motion_caption(" The motion is that a person walks.") == "A person walks."
    assert strip_motion_caption("The dance is that the dancer SPINS") == "The dancer spins"


def test_missing_resources_are_named(tmp_path):
    with pytest.raises(CaptionMetricError, match=str(tmp_path)):
        load_wordnet(tmp_path)
    with pytest.raises(CaptionMetricError, match="config.json"):
        musicqa_scores(MUSIC_REFS, MUSIC_CANDS, bert_model=tmp_path, nltk_data=None)
    with pytest.raises(CaptionMetricError, match="as many candidates"):
        humanml3d_scores(MOTION_REFS, MOTION_CANDS[:2], bert_model=None)


def test_wordnet_in_nltk_layout_without_lexnames(tmp_path):
    if WORDNET is None:
        pytest.skip("WordNet 3.0 not installed (Debian: apt-get install wordnet-base)")
    target = tmp_path / "corpora" / "wordnet"
    target.mkdir(parents=True)
    for f in WORDNET.iterdir():
        if f.is_file() and f.name != "lexnames":
            shutil.copy(f, target / f.name)  # nltk refuses a symlink that leaves its root
    wordnet = load_wordnet(tmp_path)
    assert "birdsong" in {name for s in wordnet.synsets("song") for name in s.lemma_names()}
    assert wordnet.synsets("dog")[0].lexname() == "noun.animal"


def test_score_captions_command_reproduces_the_golden_values(tiny_roberta, tmp_path):
    from unimumo.cli.eval import main

    refs, cands = tmp_path / "refs.json", tmp_path / "cands.json"
    refs.write_text(json.dumps({f"m{i}": r if len(r) > 1 else r[0] for i, r in enumerate(MOTION_REFS)}))
    cands.write_text(json.dumps({f"m{i}": c for i, c in enumerate(MOTION_CANDS)} | {"extra": "unscored"}))
    out = tmp_path / "motion"
    assert (
        main(
            [
                "score-captions",
                "--references",
                str(refs),
                "--candidates",
                str(cands),
                "--protocol",
                "humanml3d",
                "--bert-model",
                str(tiny_roberta),
                "--bert-layers",
                "2",
                "--out",
                str(out),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    report = json.loads((out / "metrics.json").read_text())
    # MOTION_REFS has 3, 2 and 3 references: TM2T makes the second 3 (its first repeated), as the golden run did not,
    # so only the metrics that a repeated reference leaves unchanged are compared here (CIDEr averages over the
    # references, BERTScore's idf counts them)
    got = report["metrics"]["scored"]
    for key in ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l"):
        assert got[key] == pytest.approx(MOTION_GOLDEN[key], rel=1e-6), key
    assert got["cider"] != pytest.approx(MOTION_GOLDEN["cider"]) and got["bertscore_f1"] is not None
    assert report["info"]["candidates_without_reference"] == 1

    refs.write_text(json.dumps(dict(zip("abc", MUSIC_REFS))))
    cands.write_text(json.dumps(dict(zip("abc", MUSIC_CANDS))))
    argv = [
        "score-captions",
        "--references",
        str(refs),
        "--candidates",
        str(cands),
        "--protocol",
        "musicqa",
        "--out",
        str(tmp_path / "music"),
        "--device",
        "cpu",
    ]
    assert main(argv + (["--nltk-data", str(WORDNET)] if WORDNET else [])) == 0
    got = json.loads((tmp_path / "music" / "metrics.json").read_text())["metrics"]["scored"]
    assert got["bleu"] == pytest.approx(MUSIC_GOLDEN["bleu"]) and got["bertscore_recall"] is None
    if WORDNET:
        assert got["meteor"] == pytest.approx(MUSIC_GOLDEN["meteor"])


def test_score_captions_names_a_missing_candidate(tmp_path, capsys):
    from unimumo.cli.eval import main

    (tmp_path / "r.json").write_text(json.dumps({"a": "x y", "b": "y z"}))
    (tmp_path / "c.json").write_text(json.dumps({"a": "x y"}))
    assert (
        main(
            [
                "score-captions",
                "--references",
                str(tmp_path / "r.json"),
                "--candidates",
                str(tmp_path / "c.json"),
                "--protocol",
                "musicqa",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        != 0
    )
    assert "no candidate for 1 reference id(s), e.g. 'b'" in capsys.readouterr().err
