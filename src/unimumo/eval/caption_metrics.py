"""Caption metrics exactly as the two published captioning evaluations compute them.

* `musicqa_scores` - music captioning on MusicQA, as Cralence/My_Eval `eval_music_caption.py` (MUSICQA_UPSTREAM;
  the same code as MU-LLaMA's evaluation). Per caption pair, averaged: nltk `sentence_bleu([ref], cand)` (BLEU,
  weights 1/4 each) and with weights (0, 0, 0, 1) (BLEU-4), both given the *raw strings*, so nltk counts character
  n-grams: `bleu` / `bleu4` reproduce that (the published figures); `bleu_words` / `bleu4_words` are the same call
  on `wordpunct_tokenize` tokens. METEOR: nltk `meteor_score([ref_tokens], cand_tokens)` on `wordpunct_tokenize`
  tokens, with WordNet read from a local directory. ROUGE-L recall: rouge_score `RougeScorer(['rougeL'],
  use_stemmer=True).score(ref, cand)`. BERTScore recall: `bert_score.score(cands, refs)` (upstream `lang="en"`:
  roberta-large, layer 17, no idf, no baseline rescaling), here from a local model directory.
* `humanml3d_scores` - motion captioning on HumanML3D, as hanyangclarence/TM2T `final_evaluations_m2t.py`
  (HUMANML3D_UPSTREAM): NLGEval's overlap metrics, i.e. pycocoevalcap's Bleu (corpus level, "closest" reference
  length), Rouge (LCS F-measure, beta 1.2) and Cider (CIDEr-D: tf-idf n-gram vectors, clipped, Gaussian length
  penalty sigma 6, times 10) on whitespace tokens of the stripped strings, reimplemented below; BERTScore F1 with
  `rescale_with_baseline=True, idf=True` over every reference of a motion.

Nothing is downloaded: the BERTScore model, its baseline file and WordNet are local paths, and a missing one is a
`CaptionMetricError` naming what and where.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from unimumo.errors import UniMuMoError
from unimumo.utils.log import get_logger

log = get_logger(__name__)

MUSICQA_UPSTREAM = "Cralence/My_Eval@ce5b01d57d56ecd12c79947fbe40d1266b9f3803 eval_music_caption.py"
HUMANML3D_UPSTREAM = (
    "hanyangclarence/TM2T@8e8929994a8aaa115ad66928d1ea1a5909d15fcd final_evaluations_m2t.py "
    "(NLGEval -> pycocoevalcap Bleu, Rouge, Cider; bert_score)"
)
ROBERTA_LARGE_LAYERS = 17  # bert_score's layer for roberta-large, the model lang="en" picks upstream

# The WordNet 3.0 lexicographer files, numbered as in lexnames(5WN). nltk's reader needs the `lexnames` file, which
# Debian's wordnet-base package leaves out of /usr/share/wordnet; it is supplied from here when absent.
_LEXNAMES = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}  # lexnames' third column
_WORDNET_FILES = (
    "index.noun",
    "data.noun",
    "index.verb",
    "data.verb",
    "index.adj",
    "data.adj",
    "index.adv",
    "data.adv",
    "noun.exc",
    "verb.exc",
    "adj.exc",
    "adv.exc",
)


class CaptionMetricError(UniMuMoError):
    kind = "caption metric error"


# ---------------------------------------------------------------- local resources


def wordnet_dict_dir(path: str | Path) -> Path:
    """The WordNet 3.0 dict directory under `path`: an nltk_data directory (corpora/wordnet/), a corpora/
    directory, or a dict directory itself (Debian's wordnet-base: /usr/share/wordnet)."""
    root = Path(path)
    for candidate in (root / "corpora" / "wordnet", root / "wordnet", root):
        if (candidate / "data.noun").is_file():
            missing = [name for name in _WORDNET_FILES if not (candidate / name).is_file()]
            if missing:
                raise CaptionMetricError(f"WordNet directory {candidate} lacks {', '.join(missing)}")
            return candidate
    raise CaptionMetricError(
        f"no WordNet 3.0 data under {root} (looked for data.noun in {root}/corpora/wordnet, {root}/wordnet and "
        f"{root}); install Debian's wordnet-base (/usr/share/wordnet) or give an nltk_data directory holding "
        "corpora/wordnet"
    )


def load_wordnet(path: str | Path):
    """nltk's WordNet reader over a local dict directory (see `wordnet_dict_dir`); nothing is downloaded."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    directory = wordnet_dict_dir(path)
    if str(directory) not in nltk.data.path:  # nltk reads only below its data paths: the user named this one
        nltk.data.path.append(str(directory))

    class _LocalWordNet(WordNetCorpusReader):
        def open(self, file):
            if file == "lexnames" and not (directory / "lexnames").is_file():
                return io.StringIO(
                    "".join(f"{i:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}\n" for i, name in enumerate(_LEXNAMES))
                )
            return super().open(file)

        def map_wn(self, version="wordnet"):  # the data is WordNet 3.0 itself: no version mapping (OMW only)
            return None

    return _LocalWordNet(str(directory), None)


def bert_model_dir(path: str | Path) -> Path:
    directory = Path(path)
    if not (directory / "config.json").is_file():
        raise CaptionMetricError(
            f"BERTScore model directory {directory} has no config.json (give a local "
            "transformers model directory, e.g. roberta-large saved with save_pretrained)"
        )
    return directory


def bertscore(
    candidates: Sequence[str],
    references: Sequence,
    model_dir: str | Path,
    num_layers: int,
    *,
    idf: bool = False,
    baseline: str | Path | None = None,
    batch_size: int = 64,
    device: str = "cpu",
):
    """bert_score's (P, R, F1) tensors from a local model; `baseline` (a bert_score .tsv) rescales them."""
    from bert_score import score

    directory = bert_model_dir(model_dir)
    if baseline is not None and not Path(baseline).is_file():
        raise CaptionMetricError(f"BERTScore baseline file {baseline} does not exist")
    return score(
        list(candidates),
        [r if isinstance(r, str) else list(r) for r in references],
        model_type=str(directory),
        num_layers=num_layers,
        idf=idf,
        batch_size=batch_size,
        device=device,
        rescale_with_baseline=baseline is not None,
        baseline_path=None if baseline is None else str(baseline),
        lang="en",
    )


# ---------------------------------------------------------------- MusicQA (My_Eval)


def musicqa_scores(
    references: Sequence[str],
    candidates: Sequence[str],
    *,
    bert_model: str | Path | None,
    nltk_data: str | Path | None,
    bert_layers: int = ROBERTA_LARGE_LAYERS,
    device: str = "cpu",
) -> dict[str, float | None]:
    """My_Eval's music-caption metrics, each the mean over caption pairs (BERTScore: mean recall).

    A metric whose local resource is not given (`bert_model`, `nltk_data`) is None, logged with the reason.
    """
    import warnings

    from nltk.tokenize import wordpunct_tokenize
    from nltk.translate.bleu_score import sentence_bleu
    from nltk.translate.meteor_score import meteor_score
    from rouge_score import rouge_scorer

    if len(references) != len(candidates) or not references:
        raise CaptionMetricError(
            f"need as many candidates as references, and at least one: got "
            f"{len(candidates)} candidates, {len(references)} references"
        )
    wordnet = None if nltk_data is None else load_wordnet(nltk_data)
    rouge = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    sums = Counter()
    with warnings.catch_warnings():  # nltk warns on every pair without a matching 4-gram (the score is then ~0)
        warnings.simplefilter("ignore", UserWarning)
        for ref, cand in zip(references, candidates):
            ref_tokens, cand_tokens = wordpunct_tokenize(ref), wordpunct_tokenize(cand)
            sums["bleu"] += sentence_bleu([ref], cand)  # strings: character n-grams, as published
            sums["bleu4"] += sentence_bleu([ref], cand, weights=(0.0, 0.0, 0.0, 1.0))
            sums["bleu_words"] += sentence_bleu([ref_tokens], cand_tokens)
            sums["bleu4_words"] += sentence_bleu([ref_tokens], cand_tokens, weights=(0.0, 0.0, 0.0, 1.0))
            sums["rouge_l_recall"] += rouge.score(ref, cand)["rougeL"].recall
            if wordnet is not None:
                sums["meteor"] += meteor_score([ref_tokens], cand_tokens, wordnet=wordnet)
    n = len(references)
    result: dict[str, float | None] = {
        key: float(sums[key] / n) for key in ("bleu", "bleu4", "bleu_words", "bleu4_words", "rouge_l_recall")
    }
    result["meteor"] = None if wordnet is None else float(sums["meteor"] / n)
    if wordnet is None:
        log.warning("METEOR not computed: no --nltk-data (a WordNet 3.0 directory) was given")
    if bert_model is None:
        result["bertscore_recall"] = None
        log.warning("BERTScore not computed: no --bert-model directory was given")
    else:
        _, recall, _ = bertscore(candidates, references, bert_model, bert_layers, device=device)
        result["bertscore_recall"] = float(recall.mean().item())
    return result


# ---------------------------------------------------------------- HumanML3D (TM2T / NLGEval / pycocoevalcap)


def _ngram_counts(tokens: list[str], max_n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for n in range(1, max_n + 1) for i in range(len(tokens) - n + 1))


def coco_bleu(references: Sequence[Sequence[str]], candidates: Sequence[str], max_n: int = 4) -> list[float]:
    """pycocoevalcap's corpus BLEU-1..max_n: clipped n-gram matches and candidate n-grams summed over the corpus,
    reference length the closest to each candidate's (the shorter on a tie), precision (matches + 1e-15) /
    (n-grams + 1e-9), brevity penalty exp(1 - r/c) on the corpus lengths (c, r with the same offsets)."""
    tiny, small = 1e-15, 1e-9
    correct, guess = [0] * max_n, [0] * max_n
    test_len = ref_len = 0
    for refs, cand in zip(references, candidates):
        cand_tokens = cand.split()
        ref_tokens = [r.split() for r in refs]
        max_counts: Counter = Counter()
        for tokens in ref_tokens:
            max_counts |= _ngram_counts(tokens, max_n)
        counts = _ngram_counts(cand_tokens, max_n)
        test_len += len(cand_tokens)
        ref_len += min((abs(len(t) - len(cand_tokens)), len(t)) for t in ref_tokens)[1]
        for k in range(max_n):
            guess[k] += max(len(cand_tokens) - k, 0)
        for ngram, count in counts.items():
            correct[len(ngram) - 1] += min(count, max_counts[ngram])
    scores, product = [], 1.0
    ratio = (test_len + tiny) / (ref_len + small)
    for k in range(max_n):
        product *= (correct[k] + tiny) / (guess[k] + small)
        score = product ** (1.0 / (k + 1))
        scores.append(score * math.exp(1 - 1 / ratio) if ratio < 1 else score)
    return scores


def _lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def coco_rouge_l(references: Sequence[Sequence[str]], candidates: Sequence[str], beta: float = 1.2) -> float:
    """pycocoevalcap's ROUGE-L: per candidate, the best LCS precision and the best LCS recall over its references
    (tokens split on spaces), F = (1 + b^2) P R / (R + b^2 P), b = 1.2; the mean over candidates."""
    total = 0.0
    for refs, cand in zip(references, candidates):
        cand_tokens = cand.split(" ")
        precision = recall = 0.0
        for ref in refs:
            ref_tokens = ref.split(" ")
            lcs = _lcs(ref_tokens, cand_tokens)
            precision, recall = max(precision, lcs / len(cand_tokens)), max(recall, lcs / len(ref_tokens))
        if precision and recall:
            total += (1 + beta**2) * precision * recall / (recall + beta**2 * precision)
    return total / len(candidates)


def coco_cider(
    references: Sequence[Sequence[str]], candidates: Sequence[str], max_n: int = 4, sigma: float = 6.0
) -> float:
    """pycocoevalcap's Cider (CIDEr-D): document frequency of each n-gram = the number of items whose references
    hold it; a sentence's vector per n holds term frequency x (log(items) - log(max(1, df))); per reference the
    similarity per n is sum(min(v_cand, v_ref) * v_ref) / (|v_cand| |v_ref|) times exp(-(d^2) / (2 sigma^2)), d the
    difference of the two sentences' bigram counts; the item's score is the mean over n and references, x 10; the
    result the mean over items."""
    cand_counts = [_ngram_counts(c.split(), max_n) for c in candidates]
    ref_counts = [[_ngram_counts(r.split(), max_n) for r in refs] for refs in references]
    df: Counter = Counter()
    for refs in ref_counts:
        df.update({ngram for counts in refs for ngram in counts})
    log_items = math.log(float(len(ref_counts)))

    def vector(counts: Counter):
        vec: list[dict] = [{} for _ in range(max_n)]
        norm, bigrams = [0.0] * max_n, 0
        for ngram, tf in counts.items():
            n = len(ngram) - 1
            vec[n][ngram] = tf * (log_items - math.log(max(1.0, df[ngram])))
            norm[n] += vec[n][ngram] ** 2
            bigrams += tf if n == 1 else 0
        return vec, [math.sqrt(x) for x in norm], bigrams

    total = 0.0
    for cand, refs in zip(cand_counts, ref_counts):
        vec_c, norm_c, len_c = vector(cand)
        item = 0.0
        for ref in refs:
            vec_r, norm_r, len_r = vector(ref)
            penalty = math.exp(-((len_c - len_r) ** 2) / (2 * sigma**2))
            for n in range(max_n):
                value = sum(min(v, vec_r[n].get(g, 0.0)) * vec_r[n].get(g, 0.0) for g, v in vec_c[n].items())
                if norm_c[n] != 0 and norm_r[n] != 0:
                    value /= norm_c[n] * norm_r[n]
                item += value * penalty
        total += item / max_n / len(refs) * 10.0
    return total / len(candidates)


def strip_motion_caption(text: str) -> str:
    """The authors' post-processing of a generated motion caption (test_motion2text_pad.py): the prefixes
    "The motion is that" / "The dance is that" removed wherever they occur, stripped, `str.capitalize`d."""
    return text.replace("The motion is that", "").replace("The dance is that", "").strip().capitalize()


def humanml3d_scores(
    references: Sequence[Sequence[str]],
    candidates: Sequence[str],
    *,
    bert_model: str | Path | None,
    bert_layers: int = ROBERTA_LARGE_LAYERS,
    bert_baseline: str | Path | None = None,
    device: str = "cpu",
) -> dict[str, float | None]:
    """TM2T's NLG metrics: references holds every reference caption of each candidate's motion. NLGEval strips
    each string first."""
    if len(references) != len(candidates) or not references or any(not refs for refs in references):
        raise CaptionMetricError(
            f"need as many candidates as reference lists (each non-empty): got "
            f"{len(candidates)} candidates, {len(references)} reference lists"
        )
    refs = [[r.strip() for r in item] for item in references]
    cands = [c.strip() for c in candidates]
    bleu = coco_bleu(refs, cands)
    result: dict[str, float | None] = {f"bleu_{k + 1}": bleu[k] for k in range(4)}
    result["rouge_l"] = coco_rouge_l(refs, cands)
    result["cider"] = coco_cider(refs, cands)
    if bert_model is None:
        result["bertscore_f1"] = None
        log.warning("BERTScore not computed: no --bert-model directory was given")
    else:
        baseline = bert_baseline if bert_baseline is not None else default_bertscore_baseline()
        _, _, f1 = bertscore(
            candidates, references, bert_model, bert_layers, idf=True, baseline=baseline, device=device
        )
        result["bertscore_f1"] = float(f1.mean().item())
    return result


def default_bertscore_baseline() -> Path:
    """The rescaling baseline bert_score ships for roberta-large (layer 17), the model TM2T's lang="en" picks."""
    import bert_score

    path = Path(bert_score.__file__).parent / "rescale_baseline" / "en" / "roberta-large.tsv"
    if not path.is_file():
        raise CaptionMetricError(f"bert_score's baseline file {path} is missing; give --bert-baseline")
    return path
