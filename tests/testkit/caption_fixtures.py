"""Caption-test helpers: a tiny random-weight RoBERTa for BERTScore, saved with save_pretrained."""

from __future__ import annotations

import json
from pathlib import Path


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (what a byte-level BPE vocabulary is written in)."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, extra = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return dict(zip(bs, map(chr, cs)))


def build_tiny_roberta(out: Path) -> Path:
    """A 2-layer random-weight RoBERTa (seed 0) with a byte-level vocabulary and no merges, via save_pretrained."""
    import torch
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

    out.mkdir(parents=True, exist_ok=True)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for ch in _bytes_to_unicode().values():
        vocab.setdefault(ch, len(vocab))
    (out / "vocab.json").write_text(json.dumps(vocab))
    (out / "merges.txt").write_text("#version: 0.2\n")
    RobertaTokenizer(str(out / "vocab.json"), str(out / "merges.txt"), model_max_length=256).save_pretrained(out)
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=300,
    )
    RobertaModel(config).save_pretrained(out)
    return out
