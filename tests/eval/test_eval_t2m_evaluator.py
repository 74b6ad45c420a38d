"""The HumanML3D text-motion evaluator: R-precision and matching score golden against TM2T's own scoring code, the
published checkpoint and GloVe formats read safely, the caption tokens as upstream, one clear error per missing
piece."""

from __future__ import annotations

import argparse
import pickle
import sys

import numpy as np
import pytest
import torch

from testkit.t2m_fixtures import write_humanml3d_with_tokens
from unimumo.eval.humanml3d_captions import read_caption_entries
from unimumo.eval.random_eval_models import TINY_T2M as TINY
from unimumo.eval.random_eval_models import (
    write_glove,
    write_random_t2m_evaluator,
    write_spacy_tagger,
    write_t2m_evaluator,
)
from unimumo.eval.t2m_evaluator import (
    CHECKPOINT,
    META,
    POS_CLASSES,
    T2MEvaluator,
    T2MEvaluatorError,
    WordVectors,
    caption_tokens,
    load_spacy,
    score_entries,
)

pytest.importorskip("spacy")

# hanyangclarence/TM2T@8e8929994a8aaa115ad66928d1ea1a5909d15fcd, final_evaluations_m2t.py evaluate_matching_score on
# these fixtures (write_t2m_evaluator() at the published sizes, write_glove(), write_spacy_tagger(),
# write_humanml3d_with_tokens() and its generated captions), run outside the repository on 2026-12-06 with
# torch 2.13.0+cpu / numpy 2 / spaCy 3.8.18: the TM2T tree at that commit in /tmp/h23/TM2T, a driver that builds the
# upstream Motion2TextEvalDataset (gt loader: batch 32, drop_last, collate_fn) and get_text_loader(...,
# gen_result_path=gen.json) (spacy.load('en_core_web_sm') pointed at the fixture pipeline, loaders unshuffled so the
# order is the dataset's; nlgeval stubbed, np.float aliased for common/quaternion.py), sets eval_wrapper =
# EvaluatorModelWrapper(get_opt(Comp_v6_KLD005/opt.txt)) and calls evaluate_matching_score:
#   cd /tmp/h23/run && python /tmp/h23/golden_driver.py /tmp/h23/inputs
GOLDEN = {
    "this_model": {"r_precision": [0.015625, 0.046875, 0.09375], "matching_score": 23.34756851196289},
    "ground_truth": {"r_precision": [0.03125, 0.046875, 0.078125], "matching_score": 23.330066680908203},
}
# upstream's tokens (M2TNMTGeneratedDataset.t_tokens_list) of the first two generated captions
GOLDEN_TOKENS = [
    ["Legs/NOUN", "around/ADP", "up/ADP", "woman/NOUN", "and/CCONJ", "hand/NOUN", "walk/VERB", "dance/VERB",
     "woman/NOUN", "around/ADP", "turn/VERB"],
    ["Quicklybob/", "run/VERB", "with/ADP", "wave/VERB", "man/NOUN", "arm/NOUN", "times/"],
]  # fmt: skip


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    base = tmp_path_factory.mktemp("t2m")
    root, generated = write_humanml3d_with_tokens(base / "humanml3d")
    return {
        "t2m": write_t2m_evaluator(base / "t2m"),
        "glove": write_glove(base / "glove"),
        "spacy": write_spacy_tagger(base / "spacy"),
        "humanml3d": root,
        "generated": generated,
        "base": base,
    }


def test_golden_against_tm2t(published):
    _, entries = read_caption_entries(published["humanml3d"])
    assert len(entries) == 67  # two batches of 32 scored, 3 left out as upstream's drop_last
    evaluator = T2MEvaluator.from_dir(published["t2m"])
    assert evaluator.config.motion_hidden == 1024 and evaluator.config.word_size == 300
    nlp = load_spacy(published["spacy"])
    tokens = {key: caption_tokens(nlp, caption) for key, caption in published["generated"].items()}
    assert [tokens[key] for key in list(tokens)[:2]] == GOLDEN_TOKENS
    vectors = WordVectors.from_dir(published["glove"])
    scores = score_entries(evaluator, vectors, published["humanml3d"], entries, tokens, list(range(len(entries))))
    for column, golden in GOLDEN.items():
        got = scores[column]
        assert [got[f"r_precision_top{k}"] for k in (1, 2, 3)] == golden["r_precision"], column
        assert got["matching_score"] == pytest.approx(golden["matching_score"], rel=1e-5), column
    # another order gives other batches: the score depends on it (upstream shuffles; the caller fixes the order)
    shuffled = score_entries(evaluator, vectors, published["humanml3d"], entries, tokens, list(range(66, -1, -1)))
    assert shuffled["ground_truth"]["matching_score"] != pytest.approx(GOLDEN["ground_truth"]["matching_score"])


def test_words_as_t2m(published):
    vectors = WordVectors.from_dir(published["glove"])
    other = POS_CLASSES.index("OTHER")
    words, pos, length = vectors.caption(["walk/VERB", "zigzag/NOUN", "man/NOUN", "right/ADJ", "a/PROPN"] * 5)
    assert words.shape == (22, 300) and pos.shape == (22, 15) and length == 22  # 25 tokens: cut to 20, + sos/eos
    assert pos[1].argmax() == POS_CLASSES.index("Act_VIP")  # a VIP word takes its list's class
    np.testing.assert_array_equal(words[2], vectors.vectors[vectors.index["unk"]])  # not in the vocabulary: unk
    assert pos[2].argmax() == other
    assert pos[3].argmax() == POS_CLASSES.index("NOUN") and pos[4].argmax() == POS_CLASSES.index("Loc_VIP")
    assert pos[5].argmax() == other  # PROPN is not one of the 15 classes
    _, pos, length = vectors.caption(["man/NOUN"])
    assert length == 3 and pos[3:].argmax(axis=1).tolist() == [other] * 19  # padded with unk/OTHER


def test_checkpoint_with_objects_is_refused(published, tmp_path):
    root = tmp_path / "t2m"
    write_t2m_evaluator(root, TINY)
    state = torch.load(root / CHECKPOINT, weights_only=True)
    torch.save({**state, "opt": argparse.Namespace(lr=1e-4)}, root / CHECKPOINT)  # an object, not plain data
    with pytest.raises(T2MEvaluatorError, match="finest.tar: not a checkpoint of tensors and plain values"):
        T2MEvaluator.from_dir(root)
    torch.save({"text_encoder": state["text_encoder"]}, root / CHECKPOINT)
    with pytest.raises(T2MEvaluatorError, match="no state dict under movement_encoder, motion_encoder"):
        T2MEvaluator.from_dir(root)


def test_glove_pickle_with_a_global_is_refused(published, tmp_path):
    glove = write_glove(tmp_path / "glove", dim=12)
    (glove / "our_vab_idx.pkl").write_bytes(pickle.dumps({"unk": np.int64(2)}))  # numpy scalar: a global
    with pytest.raises(T2MEvaluatorError, match="our_vab_idx.pkl: not a plain pickle of words .*numpy"):
        WordVectors.from_dir(glove)


def test_stats_and_vectors_that_are_not_numeric_arrays_are_named(tmp_path):
    root = write_t2m_evaluator(tmp_path / "t2m", TINY)
    np.save(root / META / "std.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)  # needs unpickling
    with pytest.raises(T2MEvaluatorError, match=r"std.npy: the evaluator's motion std, not a numeric .npy array"):
        T2MEvaluator.from_dir(root)
    glove = write_glove(tmp_path / "glove", dim=12)
    (glove / "our_vab_data.npy").write_bytes(b"not an array")
    with pytest.raises(T2MEvaluatorError, match=r"our_vab_data.npy: the GloVe vectors, not a numeric .npy array"):
        WordVectors.from_dir(glove)


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        (CHECKPOINT, "finest.tar: the text-motion evaluator checkpoint not found"),
        (META / "std.npy", "std.npy: the evaluator's motion std not found"),
        ("glove/our_vab_words.pkl", "our_vab_words.pkl: the GloVe words not found .--glove"),
        ("spacy/config.cfg", "spacy: not a spaCy pipeline directory"),
    ],
)
def test_missing_pieces_are_named(tmp_path, remove, message):
    root = write_t2m_evaluator(tmp_path / "t2m", TINY)
    write_glove(tmp_path / "glove", dim=12)
    write_spacy_tagger(tmp_path / "spacy")
    path = (tmp_path / "t2m" / remove) if not str(remove).startswith(("glove", "spacy")) else tmp_path / remove
    path.unlink()
    with pytest.raises(T2MEvaluatorError, match=message):
        T2MEvaluator.from_dir(root)
        WordVectors.from_dir(tmp_path / "glove")
        load_spacy(tmp_path / "spacy")


def test_tiny_evaluator_sizes_come_from_the_weights(tmp_path):
    evaluator = T2MEvaluator.from_dir(write_t2m_evaluator(tmp_path / "t2m", TINY))
    assert evaluator.config == TINY
    motion, length = evaluator.motion_input(np.ones((250, 263), np.float32))
    assert motion.shape == (196, 263) and length == 196  # cut to 196 frames
    np.testing.assert_allclose(motion[0], (1 - evaluator.mean) / evaluator.std, rtol=1e-6)


def test_random_evaluator_pieces_load_and_name_a_missing_spacy(tmp_path, monkeypatch):
    pieces = write_random_t2m_evaluator(tmp_path / "pieces")
    written = [path.stat().st_mtime_ns for path in sorted((tmp_path / "pieces").rglob("*"))]
    assert write_random_t2m_evaluator(tmp_path / "pieces") == pieces  # existing files are kept
    assert [path.stat().st_mtime_ns for path in sorted((tmp_path / "pieces").rglob("*"))] == written
    assert T2MEvaluator.from_dir(pieces["t2m_evaluator"]).config == TINY
    assert WordVectors.from_dir(pieces["glove"]).vectors.shape[1] == TINY.word_size
    assert caption_tokens(load_spacy(pieces["spacy_model"]), "a man walks") == ["a/DET", "man/NOUN", "walk/VERB"]
    monkeypatch.setitem(sys.modules, "spacy", None)  # import spacy raises ImportError
    with pytest.raises(T2MEvaluatorError, match=r"spaCy is not installed: pip install 'unimumo\[eval\]'"):
        write_random_t2m_evaluator(tmp_path / "without_spacy")
    assert not (tmp_path / "without_spacy").exists()  # refused before anything is written
