"""Initialisation from MusicGen: with motion absent the music logits equal transformers' MusicgenForCausalLM; every
weight comes from a checkpoint or is allowed to start random by name."""

from __future__ import annotations

import pytest
import torch
from transformers import MusicgenForCausalLM

from testkit.model_fixtures import random_codes, random_text
from unimumo.constants import NUM_CODEBOOKS, SPECIAL_TOKEN_ID
from unimumo.models.delay_pattern import delay_codes, undelay
from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration
from unimumo.models.musicgen_import import UncoveredWeightsError

B, T = 2, 12
NO_PROJECTION = ("condition_projection.*",)  # a decoder-only MusicGen has no text projection


@pytest.fixture(scope="module")
def models(musicgen_dir, t5_dir):
    reference = MusicgenForCausalLM.from_pretrained(musicgen_dir).eval()
    model = UniMuMoForConditionalGeneration.from_musicgen(
        musicgen_dir, text_model_dir=t5_dir, allow_random=NO_PROJECTION
    ).eval()
    return reference, model


def _musicgen_logits(reference, codes, encoder_hidden_states=None, encoder_attention_mask=None):
    """MusicGen logits on the same delayed input, read per code like UniMuMo's (code (k, t) at position t + k)."""
    inputs = delay_codes(codes, SPECIAL_TOKEN_ID)[..., :-1]
    with torch.no_grad():
        logits = reference(
            input_ids=inputs.reshape(B * NUM_CODEBOOKS, -1),
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask,
        ).logits
    return undelay(logits.view(B, NUM_CODEBOOKS, *logits.shape[1:]), T)


def test_music_logits_equal_musicgen_with_text(models):
    """MusicGen's decoder cross-attends to the projected text states; give it exactly UniMuMo's."""
    reference, model = models
    codes = random_codes(B, T, 0)
    ids, mask = random_text(B, 6, 1)
    condition = model.encode_text(ids, mask, B)
    expected = _musicgen_logits(reference, codes, condition.states, mask)
    with torch.no_grad():
        out = model(music_codes=codes, music_text_ids=ids, music_text_mask=mask)
    torch.testing.assert_close(out.music_logits, expected, rtol=1e-5, atol=1e-5)


def test_music_logits_equal_musicgen_without_text(models):
    reference, model = models
    codes = random_codes(B, T, 2)
    with torch.no_grad():
        out = model(music_codes=codes)
    torch.testing.assert_close(out.music_logits, _musicgen_logits(reference, codes), rtol=1e-5, atol=1e-5)


def test_motion_and_captioning_parts_start_as_copies(models):
    _, model = models
    params = dict(model.named_parameters())
    for name, param in params.items():
        if ".music_" in f".{name}":
            twin = name.replace("music_", "motion_")
            assert torch.equal(param, params[twin]), twin
    for layer in model.model.layers:
        for a, b in zip(layer.self_attn.parameters(), layer.captioning_self_attn.parameters()):
            assert torch.equal(a, b)


def test_shape_mismatch_is_rejected(musicgen_dir, t5_dir):
    from testkit.model_fixtures import tiny_config

    model = UniMuMoForConditionalGeneration(tiny_config(num_hidden_layers=3))
    with pytest.raises(ValueError, match="different shape"):
        model.load_musicgen_weights(musicgen_dir)
    with pytest.raises(ValueError, match="not a MusicGen"):
        model.load_musicgen_weights(t5_dir)


def test_full_musicgen_checkpoint_end_to_end(full_musicgen_dir):
    """From a whole MusicGen dir (its T5 encoder and text projection included): UniMuMo's music logits from text
    ids equal MusicgenForConditionalGeneration's on the same text and delayed codes."""
    from transformers import MusicgenForConditionalGeneration

    reference = MusicgenForConditionalGeneration.from_pretrained(full_musicgen_dir).eval()
    model = UniMuMoForConditionalGeneration.from_musicgen(
        full_musicgen_dir, allow_random=("captioning_decoder.*",)
    ).eval()
    codes = random_codes(B, T, 3)
    ids, mask = random_text(B, 7, 4)
    inputs = delay_codes(codes, SPECIAL_TOKEN_ID)[..., :-1]
    with torch.no_grad():
        logits = reference(
            input_ids=ids, attention_mask=mask, decoder_input_ids=inputs.reshape(B * NUM_CODEBOOKS, -1)
        ).logits
        out = model(music_codes=codes, music_text_ids=ids, music_text_mask=mask)
    expected = undelay(logits.view(B, NUM_CODEBOOKS, *logits.shape[1:]), T)
    torch.testing.assert_close(out.music_logits, expected, rtol=1e-5, atol=1e-5)


def test_weights_nothing_fills_are_refused_by_name(musicgen_dir, full_musicgen_dir, t5_dir):
    with pytest.raises(UncoveredWeightsError, match=r"condition_projection.bias, condition_projection.weight\."):
        UniMuMoForConditionalGeneration.from_musicgen(musicgen_dir, text_model_dir=t5_dir)
    with pytest.raises(UncoveredWeightsError, match=r"captioning_decoder\.decoder\.block\.0\.layer\.0\.SelfAttention"):
        UniMuMoForConditionalGeneration.from_musicgen(full_musicgen_dir)
    with pytest.raises(ValueError, match="decoder-only MusicGen .* has no text encoder"):
        UniMuMoForConditionalGeneration.from_musicgen(musicgen_dir)


def test_a_musicgen_dir_missing_a_weight_is_refused_naming_it(full_musicgen_dir, t5_dir, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    broken = tmp_path / "musicgen"
    shutil.copytree(full_musicgen_dir, broken)
    state = load_file(broken / "model.safetensors")
    del state["decoder.model.decoder.layers.1.fc1.weight"]
    save_file(state, broken / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(
        UncoveredWeightsError, match=r"lacks weights .*: decoder\.model\.decoder\.layers\.1\.fc1\.weight$"
    ):
        UniMuMoForConditionalGeneration.from_musicgen(str(broken), text_model_dir=t5_dir)


def test_caption_decoder_shares_the_musicgen_text_encoder_vocabulary(full_musicgen_dir):
    """Without a T5 directory the caption decoder takes MusicGen's text encoder shape (not the tiny default)."""
    model = UniMuMoForConditionalGeneration.from_musicgen(full_musicgen_dir, allow_random=("captioning_decoder.*",))
    text, caption = model.config.text_encoder_config, model.config.caption_decoder_config
    assert (caption["vocab_size"], caption["d_model"]) == (text["vocab_size"], text["d_model"])
    assert model.captioning_decoder.shared.weight.shape == model.text_encoder.shared.weight.shape
