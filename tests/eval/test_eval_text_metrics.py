"""BLEU and ROUGE-L against the worked examples of their papers and hand counts."""

import math

import pytest

from unimumo.eval.text_metrics import corpus_bleu, rouge_l, tokenize


def test_tokenize():
    assert tokenize("The style of the dance is Hip-Hop.") == ["the", "style", "of", "the", "dance", "is", "hip", "hop"]


def test_bleu_identical_is_one_and_disjoint_is_zero():
    assert corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(1.0)
    assert corpus_bleu(["a b c d"], ["e f g h"]) == 0.0


def test_bleu_modified_unigram_precision_from_the_paper():
    # Papineni et al.: "the the the the the the the" vs references -> clipped unigram precision 2/7
    refs = [["the cat is on the mat", "there is a cat on the mat"]]
    assert corpus_bleu(["the the the the the the the"], refs, max_n=1) == pytest.approx(2 / 7)


def test_bleu_brevity_penalty_by_hand():
    # candidate 4 words, reference 6 words, all 1..2-grams match: BP = exp(1 - 6/4)
    assert corpus_bleu(["the cat sat on"], ["the cat sat on the mat"], max_n=2) == pytest.approx(math.exp(-0.5))


def test_rouge_l_example_from_lin_2004():
    # LCS("police kill the gunman", "police killed the gunman") = 3 -> P = R = F = 3/4
    assert rouge_l(["police kill the gunman"], ["police killed the gunman"]) == pytest.approx(0.75)
    # best reference wins; averaged over sentences
    assert rouge_l(["a b", "x y"], [["a c", "a b"], "z"]) == pytest.approx(0.5)


def test_mismatched_inputs_raise():
    with pytest.raises(ValueError, match="2 candidates but 1"):
        corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="at least one reference"):
        rouge_l(["a"], [[]])
