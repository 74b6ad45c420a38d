"""Caption-test helpers: a tiny random-weight RoBERTa for BERTScore, saved with save_pretrained."""

from __future__ import annotations

import json
from pathlib import Path

from unimumo.eval.random_eval_models import bytes_to_unicode


def build_tiny_roberta(out: Path) -> Path:
    """A 2-layer random-weight RoBERTa (seed 0) with a byte-level vocabulary and no merges, via save_pretrained."""
    import torch
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

    out.mkdir(parents=True, exist_ok=True)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for ch in bytes_to_unicode().values():
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
