"""Text-motion evaluator fixtures in T2M's published formats, with fixed weights (numpy PCG64 generators seeded by
name, so the upstream golden run and the tests see the same numbers on any machine):
`checkpoints/t2m/text_mot_match/model/finest.tar` and `Comp_v6_KLD005/meta/{mean,std}.npy`, `glove/our_vab_*`, a
rule-based spaCy pipeline directory, and a HumanML3D root with `word/POS` tokens and segment lines plus generated
captions for it."""

from __future__ import annotations

import json
import pickle
import zlib
from pathlib import Path

import numpy as np
import torch

from unimumo.eval.t2m_evaluator import CHECKPOINT, META, T2MEvaluator, T2MEvaluatorConfig

TINY = T2MEvaluatorConfig(
    movement_hidden=16, movement_latent=8, word_size=12, text_hidden=16, motion_hidden=16, embedding_size=8
)

# word -> (POS for the rule-based tagger, lemma): the captions' vocabulary
LEXICON = {
    "a": ("DET", "a"), "the": ("DET", "the"), "person": ("NOUN", "person"), "man": ("NOUN", "man"),
    "woman": ("NOUN", "woman"), "walks": ("VERB", "walk"), "walking": ("VERB", "walk"), "runs": ("VERB", "run"),
    "jumps": ("VERB", "jump"), "kicks": ("VERB", "kick"), "turns": ("VERB", "turn"), "left": ("VERB", "leave"),
    "right": ("ADJ", "right"), "forward": ("ADV", "forward"), "slowly": ("ADV", "slowly"), "then": ("ADV", "then"),
    "and": ("CCONJ", "and"), "with": ("ADP", "with"), "his": ("PRON", "his"), "arms": ("NOUN", "arm"),
    "legs": ("NOUN", "leg"), "foot": ("NOUN", "foot"), "circle": ("NOUN", "circle"), "twice": ("ADV", "twice"),
    "dances": ("VERB", "dance"), "spins": ("VERB", "spin"), "around": ("ADP", "around"), "to": ("ADP", "to"),
    "stumbles": ("VERB", "stumble"), "waves": ("VERB", "wave"), "hand": ("NOUN", "hand"), "in": ("ADP", "in"),
    "zigzag": ("NOUN", "zigzag"), "quickly": ("ADV", "quickly"), "up": ("ADP", "up"), "sits": ("VERB", "sit"),
    "chair": ("NOUN", "chair"), "on": ("ADP", "on"), "steps": ("NOUN", "step"), "bob": ("PROPN", "bob"),
}  # fmt: skip
GLOVE_WORDS = ["sos", "eos", "unk", *sorted({lemma for _, lemma in LEXICON.values()} - {"zigzag", "bob", "wave"})]


def _values(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform values from a PCG64 generator seeded by the name, scaled like a fan-in initialisation; as T2M's
    init_weight, the biases of the linear and convolution layers 0 and LayerNorm the identity."""
    if name.endswith(".bias") and "gru" not in name:
        return torch.zeros(shape)
    if name.endswith("output_net.1.weight"):
        return torch.ones(shape)
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 4
    values = np.random.default_rng(zlib.crc32(name.encode())).uniform(-1.0, 1.0, shape) * np.sqrt(3.0 / fan_in)
    return torch.from_numpy(values.astype(np.float32))


def write_t2m_evaluator(root: Path, config: T2MEvaluatorConfig = T2MEvaluatorConfig()) -> Path:
    """T2M's checkpoints/t2m layout: the three encoders' state dicts, Adam state dicts, epoch and iter in
    text_mot_match/model/finest.tar; the evaluator's motion mean/std in Comp_v6_KLD005/meta/."""
    model = T2MEvaluator(config, np.zeros(config.pose_size), np.ones(config.pose_size))
    state = {}
    for part in ("movement_encoder", "text_encoder", "motion_encoder"):
        module = getattr(model, part)
        state[part] = {name: _values(f"{part}.{name}", tuple(p.shape)) for name, p in module.state_dict().items()}
    for part in ("text_encoder", "motion_encoder"):
        state[f"opt_{part}"] = torch.optim.Adam(getattr(model, part).parameters(), lr=1e-4).state_dict()
    state.update(epoch=7, iter=1234)
    (root / CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, root / CHECKPOINT)
    (root / META).mkdir(parents=True, exist_ok=True)
    index = np.arange(config.pose_size)
    np.save(root / META / "mean.npy", (0.05 * np.sin(index * 0.3)).astype(np.float32))
    np.save(root / META / "std.npy", (0.5 + 0.25 * np.cos(index * 0.11) ** 2).astype(np.float32))
    return root


def write_glove(root: Path, dim: int = 300) -> Path:
    """our_vab_data.npy [words, dim], our_vab_words.pkl (list), our_vab_idx.pkl (word -> row), pickle protocol 3
    as T2M's files."""
    root.mkdir(parents=True, exist_ok=True)
    vectors = np.random.default_rng(300).uniform(-0.5, 0.5, (len(GLOVE_WORDS), dim))
    np.save(root / "our_vab_data.npy", vectors.astype(np.float32))
    (root / "our_vab_words.pkl").write_bytes(pickle.dumps(GLOVE_WORDS, protocol=3))
    (root / "our_vab_idx.pkl").write_bytes(pickle.dumps({w: i for i, w in enumerate(GLOVE_WORDS)}, protocol=3))
    return root


def write_spacy_tagger(root: Path) -> Path:
    """A blank English spaCy pipeline whose attribute ruler tags LEXICON's words (others get no POS) and whose
    lookup lemmatizer lemmatises them, saved with to_disk."""
    import spacy
    from spacy.lookups import Lookups

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("attribute_ruler")
    for word, (pos, _) in LEXICON.items():
        ruler.add([[{"LOWER": word}]], {"POS": pos})
    lookups = Lookups()
    lookups.add_table("lemma_lookup", {word: lemma for word, (_, lemma) in LEXICON.items()})
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"}).initialize(lookups=lookups)
    nlp.to_disk(root)
    return root


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
