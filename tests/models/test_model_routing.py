"""Modality-routed FFN experts and parameter groups."""

from __future__ import annotations

import torch

from testkit.model_fixtures import build_model, random_codes, random_text

B, T = 2, 8


def _scramble(module: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator))


def test_motion_expert_does_not_touch_music_when_motion_absent(t5_dir):
    model = build_model(t5_dir)
    music = random_codes(B, T, 0)
    ids, mask = random_text(B, 5, 1)
    before = model(music_codes=music, music_text_ids=ids, music_text_mask=mask).music_logits
    for layer in model.model.layers:
        _scramble(layer.motion_ffn, seed=2)
    after = model(music_codes=music, music_text_ids=ids, music_text_mask=mask).music_logits
    assert torch.equal(before, after)  # bitwise: identical arithmetic (same inputs; the motion expert gets no token)
    # ... while with both streams present, music attends to motion tokens that went through the motion expert
    motion = random_codes(B, T, 3)
    joint = model(music_codes=music, motion_codes=motion).music_logits
    for layer in model.model.layers:
        _scramble(layer.motion_ffn, seed=4)
    assert not torch.allclose(joint, model(music_codes=music, motion_codes=motion).music_logits)


def test_music_expert_does_not_touch_motion_when_music_absent(t5_dir):
    model = build_model(t5_dir)
    motion = random_codes(B, T, 5)
    before = model(motion_codes=motion).motion_logits
    for layer in model.model.layers:
        _scramble(layer.music_ffn, seed=6)
    _scramble(model.model.music_embed_tokens, seed=7)
    _scramble(model.music_lm_heads, seed=8)
    assert torch.equal(before, model(motion_codes=motion).motion_logits)  # bitwise: identical arithmetic (no music)


def test_layers_without_experts_share_one_ffn(t5_dir):
    model = build_model(t5_dir, expert_layers=[1])
    assert not hasattr(model.model.layers[0], "music_ffn") and hasattr(model.model.layers[0], "ffn")
    assert hasattr(model.model.layers[1], "motion_ffn")
    music = random_codes(B, T, 9)
    before = model(music_codes=music).music_logits
    _scramble(model.model.layers[0].ffn, seed=10)
    assert not torch.allclose(before, model(music_codes=music).music_logits)


def test_parameter_groups_match_the_stage_plans(t5_dir):
    model = build_model(t5_dir, expert_layers=[1])
    groups = {name: model.parameter_group(name) for name, _ in model.named_parameters()}
    motion = {n for n, g in groups.items() if g == "motion"}
    expected_motion = {
        n
        for n, _ in model.named_parameters()
        if n.startswith(("model.motion_embed_tokens.", "motion_lm_heads.", "model.layers.1.motion_ffn."))
    }
    assert motion == expected_motion  # stage 1: embeddings, FFN experts with their norms, heads
    assert any(n.endswith("motion_ffn.layer_norm.weight") for n in motion)
    captioning = {n for n, g in groups.items() if g == "captioning"}
    assert captioning == {
        n
        for n in groups
        if n.startswith(("captioning_", "model.layers.0.captioning_self_attn", "model.layers.1.captioning_self_attn"))
    }
    assert {n for n, g in groups.items() if g == "text"} == {n for n in groups if n.startswith("text_encoder.")}
    shared = {n for n, g in groups.items() if g == "shared"}
    assert "condition_projection.weight" in shared and "model.layers.0.ffn.fc1.weight" in shared
    assert "model.layers.0.self_attn.q_proj.weight" in shared and "model.layer_norm.weight" in shared
    assert model.parameter_group("module.model.layers.1.music_ffn.fc1.weight") == "music"  # DeepSpeed names
    assert not any(p.requires_grad for p in model.text_encoder.parameters())  # frozen
    try:
        model.parameter_group("model.nonexistent.weight")
    except KeyError as error:
        assert "not a parameter" in str(error)
    else:
        raise AssertionError("unknown parameter names must raise")
