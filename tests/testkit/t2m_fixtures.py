"""HumanML3D fixtures for the text-motion evaluator: a HumanML3D root with `word/POS` tokens and segment lines, and
generated captions for it, in the vocabulary of the random evaluator pieces (the evaluator directory, GloVe files and
spaCy pipeline themselves: `unimumo.eval.random_eval_models`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from unimumo.eval.random_eval_models import LEXICON


def _tokens(caption: str) -> str:
    """HumanML3D's tokens of a caption: lemma/POS, words outside the lexicon tagged PROPN."""
    out = []
    for word in caption.lower().replace(",", "").split():
        pos, lemma = LEXICON.get(word, ("PROPN", word))
        out.append(f"{lemma if pos in ('NOUN', 'VERB') else word}/{pos}")
    return " ".join(out)


def _caption(number: int) -> str:
    """A fixed caption per number; some are longer than 20 tokens (cut by the evaluator)."""
    words = list(LEXICON)
    length = 4 + (number * 7) % 11 + (14 if number % 9 == 4 else 0)
    return " ".join(words[(number * 13 + 5 * i + i * i) % len(words)] for i in range(length))


def write_humanml3d_with_tokens(root: Path, num_motions: int = 23) -> tuple[Path, dict[str, str]]:
    """A HumanML3D root (new_joint_vecs/, texts/, test.txt) whose motions give about 70 evaluator entries
    (whole motions with one caption, segments, repeated and too-short segments, motions of 196-199 and >= 200 frames
    left out or cut), and the generated captions (motion id -> caption, with hyphens, digits and punctuation)."""
    (root / "new_joint_vecs").mkdir(parents=True, exist_ok=True)
    (root / "texts").mkdir(exist_ok=True)
    ids, generated, number = [], {}, 0
    for m in range(num_motions):
        motion_id = f"{m:06d}" if m % 5 else f"M{m:06d}"
        frames = [45, 198, 120, 80, 160, 196, 240, 64, 150, 110, 187, 90, 130, 175][m % 14]
        t = np.arange(frames)[:, None]
        features = np.sin(t * (0.05 + 0.01 * m) + np.arange(263) * 0.7) * (1 + 0.1 * m) + 0.02 * np.cos(t * 0.31)
        np.save(root / "new_joint_vecs" / f"{motion_id}.npy", features.astype(np.float32))
        lines = [f"{_caption(number)}#{_tokens(_caption(number))}#0.0#0.0"]
        number += 1
        for s in range(m % 7):
            start, end = 0.2 * s, 0.2 * s + 2.0 + 0.35 * (s % 3)
            if s == 3:
                start, end = 0.5, 1.5  # 20 frames: left out
            caption = _caption(number)
            number += 1
            lines.append(f"{caption}#{_tokens(caption)}#{start}#{end}")
            if s == 5:
                lines.append(f"{caption} again#{_tokens(caption + ' again')}#{start}#{end}")  # a repeated segment
        (root / "texts" / f"{motion_id}.txt").write_text("\n".join(lines) + "\n")
        ids.append(motion_id)
        generated[motion_id] = _caption(100 + m).capitalize().replace(" ", "-", m % 2) + (", 2 times." if m % 3 else "")
    (root / "test.txt").write_text("\n".join(ids) + "\n")
    return root, generated


def write_generated(path: Path, generated: dict[str, str]) -> Path:
    path.write_text(json.dumps(generated, indent=1))
    return path
