"""Captioning: swappable bidirectional attention over the captioned stream, T5 decoder loss and beam search."""

from __future__ import annotations

import pytest
import torch

from testkit.model_fixtures import build_model, random_codes, random_text

B, T = 2, 8


def _scramble(module: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.2)


def test_caption_attention_is_bidirectional_within_the_modality(session_model):
    codes = random_codes(B, T, 0)
    later = codes.clone()
    later[:, :, -1] = (later[:, :, -1] + 1) % 2048
    with torch.no_grad():
        a = session_model.caption_states("music", codes)
        b = session_model.caption_states("music", later)
    assert a.shape == (B, T + 3, session_model.config.caption_hidden_size)
    assert (a[:, 0] - b[:, 0]).abs().max() > 1e-6  # the first position sees the last frame


@pytest.mark.parametrize("modality,other", [("music", "motion"), ("motion", "music")])
def test_caption_mode_is_blind_to_the_other_modality(session_model, modality, other):
    codes = random_codes(B, T, 1)
    labels, labels_mask = random_text(B, 5, 2)
    caption_logits = []
    for seed in (3, 4):
        out = session_model(
            **{f"{modality}_codes": codes, f"{other}_codes": random_codes(B, T, seed)},
            caption_modality=modality,
            caption_labels=labels,
            caption_labels_mask=labels_mask,
        )
        caption_logits.append(out.caption_logits)
        assert out.music_logits is None and out.motion_logits is None
    # bitwise: identical arithmetic (caption mode never feeds the other stream to the model)
    assert torch.equal(caption_logits[0], caption_logits[1])


def test_caption_mode_uses_the_captioning_attention(t5_dir):
    model = build_model(t5_dir)
    codes = random_codes(B, T, 5)
    with torch.no_grad():
        before = model.caption_states("motion", codes)
        lm_before = model(motion_codes=codes).motion_logits
        for layer in model.model.layers:
            _scramble(layer.self_attn, seed=6)
        # bitwise: identical arithmetic (caption mode never runs the scrambled causal self_attn)
        assert torch.equal(before, model.caption_states("motion", codes))
        for layer in model.model.layers:
            _scramble(layer.captioning_self_attn, seed=7)
        assert not torch.allclose(before, model.caption_states("motion", codes))
        assert not torch.allclose(lm_before, model(motion_codes=codes).motion_logits)


def test_caption_loss_masks_padding(session_model):
    codes = random_codes(B, T, 8)
    labels, mask = random_text(B, 6, 9)
    garbage = labels.masked_fill(mask == 0, 123)
    a = session_model(music_codes=codes, caption_modality="music", caption_labels=labels, caption_labels_mask=mask)
    b = session_model(music_codes=codes, caption_modality="music", caption_labels=garbage, caption_labels_mask=mask)
    assert a.loss.item() != 0 and torch.equal(a.loss, a.caption_loss)
    torch.testing.assert_close(a.caption_loss, b.caption_loss)  # masked labels neither scored nor fed back
    unmasked = session_model(music_codes=codes, caption_modality="music", caption_labels=garbage)
    assert not torch.allclose(unmasked.caption_loss, a.caption_loss)


def test_caption_training_then_beam_search_recovers_the_caption(t5_dir):
    """Train only the caption group on one (motion, caption) pair; caption() must then write that caption."""
    model = build_model(t5_dir)
    codes = random_codes(1, T, 10)
    labels = torch.tensor([[17, 42, 99, 7, 1]])
    trainable = [p for n, p in model.named_parameters() if model.parameter_group(n) == "captioning"]
    for name, param in model.named_parameters():
        param.requires_grad_(model.parameter_group(name) == "captioning")
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    optimizer = torch.optim.AdamW(trainable, lr=3e-3)
    model.train()
    for _ in range(150):
        loss = model(motion_codes=codes, caption_modality="motion", caption_labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        assert model(motion_codes=codes, caption_modality="motion", caption_labels=labels).loss.item() < 0.2
    caption = model.caption(motion_codes=codes, num_beams=3, max_length=8)
    assert caption[0, : labels.shape[1]].tolist() == labels[0].tolist()
    assert all(torch.equal(p, frozen_before[n]) for n, p in model.named_parameters() if n in frozen_before)


def test_caption_validates_arguments(session_model):
    with pytest.raises(ValueError, match="exactly one"):
        session_model.caption(music_codes=random_codes(1, 4, 0), motion_codes=random_codes(1, 4, 0))
    with pytest.raises(ValueError, match="caption_labels"):
        session_model(music_codes=random_codes(1, 4, 0), caption_modality="music")
    with pytest.raises(ValueError, match="caption_modality must be"):
        session_model(music_codes=random_codes(1, 4, 0), caption_modality="text", caption_labels=torch.ones(1, 2))
