"""Caption metrics: corpus BLEU (Papineni et al., ACL 2002) and ROUGE-L (Lin, ACL 2004 workshop).

* BLEU-N: geometric mean of the clipped ("modified") n-gram precisions for n = 1..N, pooled over
  the corpus, times the brevity penalty exp(1 - r/c) when the candidate length c is below the
  effective reference length r (closest reference length per sentence). No smoothing: a corpus
  with no matching 4-gram scores 0, as in the original definition.
* ROUGE-L: F-measure of the longest common subsequence, with P = LCS/|candidate|,
  R = LCS/|reference| and F = (1 + beta^2) P R / (R + beta^2 P), beta = 1; best over references,
  averaged over sentences.

Text is lower-cased and split into alphanumeric words.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9']+")


def tokenize(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _as_reference_lists(candidates: Sequence[str], references: Sequence) -> list[list[str]]:
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} candidates but {len(references)} reference entries")
    if not candidates:
        raise ValueError("no captions to score")
    lists = [[refs] if isinstance(refs, str) else list(refs) for refs in references]
    if any(not refs for refs in lists):
        raise ValueError("every candidate needs at least one reference")
    return lists


def corpus_bleu(candidates: Sequence[str], references: Sequence[str | Sequence[str]], max_n: int = 4) -> float:
    """Corpus BLEU-`max_n` in [0, 1]; `references[i]` is one reference string or a list of them."""
    reference_lists = _as_reference_lists(candidates, references)
    matches, totals = [0] * max_n, [0] * max_n
    candidate_length = reference_length = 0
    for candidate, refs in zip(candidates, reference_lists):
        hypothesis = tokenize(candidate)
        tokenized = [tokenize(ref) for ref in refs]
        candidate_length += len(hypothesis)
        reference_length += min((abs(len(ref) - len(hypothesis)), len(ref)) for ref in tokenized)[1]
        for n in range(1, max_n + 1):
            counts = _ngrams(hypothesis, n)
            best = Counter()
            for ref in tokenized:
                best |= _ngrams(ref, n)
            matches[n - 1] += sum(min(count, best[gram]) for gram, count in counts.items())
            totals[n - 1] += max(len(hypothesis) - n + 1, 0)
    if candidate_length == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = min(0.0, 1.0 - reference_length / candidate_length)
    return math.exp(log_precision + brevity)


def _lcs_length(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(candidates: Sequence[str], references: Sequence[str | Sequence[str]], beta: float = 1.0) -> float:
    """Mean sentence ROUGE-L F-measure in [0, 1], best over each candidate's references."""
    reference_lists = _as_reference_lists(candidates, references)
    scores = []
    for candidate, refs in zip(candidates, reference_lists):
        hypothesis, best = tokenize(candidate), 0.0
        for ref in map(tokenize, refs):
            lcs = _lcs_length(hypothesis, ref)
            if lcs:
                precision, recall = lcs / len(hypothesis), lcs / len(ref)
                best = max(best, (1 + beta**2) * precision * recall / (recall + beta**2 * precision))
        scores.append(best)
    return sum(scores) / len(scores)
