"""Save/load round trip, T5 components from a local dir, gradient checkpointing and bf16."""

from __future__ import annotations

import torch
from transformers import T5ForConditionalGeneration

from testkit.model_fixtures import build_model, random_codes, random_text, tiny_config
from unimumo.models.configuration_unimumo import UniMuMoConfig
from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

B, T = 2, 8


def _batch(seed: int = 0):
    music_ids, music_mask = random_text(B, 6, seed)
    motion_ids, motion_mask = random_text(B, 4, seed + 1)
    return dict(
        music_codes=random_codes(B, T, seed + 2),
        motion_codes=random_codes(B, T, seed + 3),
        music_text_ids=music_ids,
        music_text_mask=music_mask,
        motion_text_ids=motion_ids,
        motion_text_mask=motion_mask,
    )


def test_save_load_round_trip(t5_dir, tmp_path):
    model = build_model(t5_dir, expert_layers=[0])
    model.save_pretrained(tmp_path)
    loaded = UniMuMoForConditionalGeneration.from_pretrained(tmp_path).eval()  # offline: no T5 dir needed
    without_path = [{k: v for k, v in m.config.to_dict().items() if k != "_name_or_path"} for m in (model, loaded)]
    assert without_path[0] == without_path[1]
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[k], restored[k]) for k in original)
    batch = _batch()
    with torch.no_grad():
        assert torch.equal(model(**batch).music_logits, loaded(**batch).music_logits)
        assert torch.equal(
            model.caption(music_codes=batch["music_codes"], max_length=6),
            loaded.caption(music_codes=batch["music_codes"], max_length=6),
        )
    # the caption decoder keeps T5's tied embedding / output head; the text encoder is its own copy
    decoder = loaded.captioning_decoder
    assert decoder.lm_head.weight is decoder.shared.weight
    assert loaded.text_encoder.shared.weight.data_ptr() != decoder.shared.weight.data_ptr()
    assert not any(p.requires_grad for p in loaded.text_encoder.parameters())


def test_text_components_come_from_the_t5_dir(session_model, t5_dir):
    t5 = T5ForConditionalGeneration.from_pretrained(t5_dir).eval()
    assert session_model.config.text_encoder_config["vocab_size"] == t5.config.vocab_size
    ids, mask = random_text(B, 6, 4)
    with torch.no_grad():
        expected = t5.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        produced = session_model.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        torch.testing.assert_close(produced, expected)
        states = torch.randn(B, 5, t5.config.d_model)
        labels = ids.masked_fill(mask == 0, -100)
        torch.testing.assert_close(
            session_model.captioning_decoder(encoder_outputs=(states,), labels=labels).logits,
            t5(encoder_outputs=(states,), labels=labels).logits,
        )


def test_random_text_components_without_a_dir():
    config = tiny_config()
    model = UniMuMoForConditionalGeneration.from_components(config)
    assert model.text_encoder.config.d_model == config.text_encoder_config["d_model"]
    assert model.captioning_projection.out_features == config.caption_decoder_config["d_model"]


def test_gradient_checkpointing_gives_the_same_gradients(t5_dir):
    batch = _batch(5)
    grads = []
    for checkpointing in (False, True):
        model = build_model(t5_dir, seed=3)
        if checkpointing:
            model.gradient_checkpointing_enable()
            assert all(layer.gradient_checkpointing for layer in model.model.layers)
        model.train()
        model(**batch).loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 0
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-5, atol=1e-7)


def test_every_trainable_parameter_gets_a_gradient_in_joint_training(t5_dir):
    model = build_model(t5_dir).train()
    model(**_batch(6)).loss.backward()
    missing = [
        n
        for n, p in model.named_parameters()
        if p.grad is None and model.parameter_group(n) in ("music", "motion", "shared")
    ]
    assert missing == []


def test_bf16_forward_and_generation(t5_dir):
    model = build_model(t5_dir)
    batch = _batch(7)
    with torch.no_grad():
        reference = model(**batch)
        model.to(torch.bfloat16)
        half = model(**batch)
        assert half.music_logits.dtype == torch.bfloat16
        assert torch.isfinite(half.loss) and abs(half.loss.item() - reference.loss.item()) < 0.05
        generated = model.generate("text2music_motion", music_text_ids=batch["music_text_ids"], num_steps=4)
    assert generated["music_codes"].shape == (B, 4, 4)


def test_preset_small_is_musicgen_small_shaped():
    config = UniMuMoConfig.preset("small")
    with torch.device("meta"):  # shapes only
        model = UniMuMoForConditionalGeneration(config)
    assert len(model.model.layers) == 24 and model.text_encoder.config.d_model == 768
    block = sum(p.numel() for p in model.model.layers[0].parameters())
    # shared self/cross attention (+ caption copy) 3 * 4 * d^2, two FFN experts 2 * 2 * d * ffn, norms
    d, ffn = 1024, 4096
    assert block == 3 * 4 * d * d + 2 * (2 * d * ffn + 2 * d) + 2 * 2 * d
