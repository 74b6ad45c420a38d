"""UniMuMo LM forward: shapes, delay pattern, block-causal mask (by perturbation), losses and their weights."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model_fixtures import (assert_equal_up_to_rounding, build_model, random_codes, random_text, rounding_tolerance,
                            tiny_config)
from unimumo.constants import NUM_CODEBOOKS, SPECIAL_TOKEN_ID
from unimumo.models.configuration_unimumo import UniMuMoConfig
from unimumo.models.delay_pattern import codes_from_delayed, delay_codes, undelay, valid_codebooks

B, T = 3, 10


def test_delay_pattern_round_trip_and_layout():
    codes = random_codes(2, 6, seed=0)
    delayed = delay_codes(codes, SPECIAL_TOKEN_ID)
    assert delayed.shape == (2, NUM_CODEBOOKS, 6 + NUM_CODEBOOKS)
    assert (delayed[:, :, 0] == SPECIAL_TOKEN_ID).all()  # start token
    for k in range(NUM_CODEBOOKS):
        assert torch.equal(delayed[:, k, k + 1 : k + 7], codes[:, k])
        assert (delayed[:, k, : k + 1] == SPECIAL_TOKEN_ID).all()
        assert (delayed[:, k, k + 7 :] == SPECIAL_TOKEN_ID).all()
    assert torch.equal(codes_from_delayed(delayed, 6), codes)
    # undelay reads code (k, t) at input position t + k, i.e. the position whose next slot holds it
    positions = torch.arange(6 + NUM_CODEBOOKS - 1).expand(2, NUM_CODEBOOKS, -1)
    assert torch.equal(undelay(positions, 6)[0, 2], torch.arange(2, 8))
    # at input position s codebook k is predicted iff its next slot holds a real code
    for s in range(6 + NUM_CODEBOOKS - 1):
        expected = delayed[0, :, s + 1] != SPECIAL_TOKEN_ID
        assert torch.equal(valid_codebooks(s, NUM_CODEBOOKS, 6), expected)


def test_forward_shapes_and_total_loss(session_model):
    music, motion = random_codes(B, T, 1), random_codes(B, T, 2)
    ids, mask = random_text(B, 7, 3)
    out = session_model(music_codes=music, motion_codes=motion, music_text_ids=ids, music_text_mask=mask,
                        motion_text_ids=ids, motion_text_mask=mask)
    config = session_model.config
    assert out.music_logits.shape == (B, NUM_CODEBOOKS, T, config.codebook_size)
    assert out.motion_logits.shape == (B, NUM_CODEBOOKS, T, config.codebook_size)
    expected = config.music_loss_weight * out.music_loss + config.motion_loss_weight * out.motion_loss
    torch.testing.assert_close(out.loss, expected)
    # the loss is the mean per-code cross-entropy of the undelayed logits: delay padding never enters it
    manual = F.cross_entropy(out.music_logits.flatten(0, 2), music.flatten())
    torch.testing.assert_close(out.music_loss, manual)


def test_absent_stream_gives_no_logits_or_loss(session_model):
    out = session_model(motion_codes=random_codes(B, T, 4))
    assert out.music_logits is None and out.music_loss is None
    torch.testing.assert_close(out.loss, session_model.config.motion_loss_weight * out.motion_loss)


def test_per_sample_loss_weights_select_samples(session_model):
    music, motion = random_codes(B, T, 5), random_codes(B, T, 6)
    weights = torch.tensor([1.0, 0.0, 0.0])
    out = session_model(music_codes=music, motion_codes=motion, music_loss_weight=weights)
    per_sample = F.cross_entropy(out.music_logits.flatten(0, 2), music.flatten(), reduction="none")
    torch.testing.assert_close(out.music_loss, per_sample.view(B, -1)[0].mean())
    zero = session_model(music_codes=music, motion_codes=motion, music_loss_weight=torch.zeros(B))
    assert zero.music_loss.item() == 0.0
    torch.testing.assert_close(zero.loss, session_model.config.motion_loss_weight * zero.motion_loss)


def _perturbed(codes: torch.Tensor, frame: int) -> torch.Tensor:
    changed = codes.clone()
    changed[:, :, frame] = (changed[:, :, frame] + 1 + torch.arange(NUM_CODEBOOKS)) % 2048
    return changed


@pytest.mark.parametrize("perturbed_stream", ["music", "motion"])
def test_future_tokens_never_influence_past_logits(session_model, perturbed_stream):
    """Perturb one frame of one stream: a logit read at delayed position p changes iff p >= the first changed
    input position (frame + 1), in both streams."""
    frame = 4
    codes = {"music": random_codes(B, T, 7), "motion": random_codes(B, T, 8)}
    ids, mask = random_text(B, 5, 9)
    text = dict(music_text_ids=ids, music_text_mask=mask, motion_text_ids=ids, motion_text_mask=mask)
    base = session_model(music_codes=codes["music"], motion_codes=codes["motion"], **text)
    codes[perturbed_stream] = _perturbed(codes[perturbed_stream], frame)
    changed = session_model(music_codes=codes["music"], motion_codes=codes["motion"], **text)
    # delayed position at which code (k, t) is predicted
    position = torch.arange(T)[None, :] + torch.arange(NUM_CODEBOOKS)[:, None]
    for stream in ("music", "motion"):
        difference = (base[f"{stream}_logits"] - changed[f"{stream}_logits"]).abs().amax(dim=(0, 3))  # [K, T]
        past = position <= frame
        # bitwise: identical arithmetic (same shapes; changed tokens enter only as masked keys, weighted exactly 0)
        assert difference[past].max() == 0.0, f"{stream} logits at positions <= {frame} changed"
        assert (difference[~past] > 1e-6).all(), f"{stream} logits after the perturbation did not all change"


def test_conditions_are_routed_per_modality(t5_dir):
    """With one block there is no path from the motion caption to music tokens except music's own
    cross-attention, which must not see motion text."""
    model = build_model(t5_dir, num_hidden_layers=1)
    music, motion = random_codes(B, T, 10), random_codes(B, T, 11)
    ids_a, mask_a = random_text(B, 6, 12)
    ids_b, mask_b = random_text(B, 4, 13)
    base = model(music_codes=music, motion_codes=motion, music_text_ids=ids_a, music_text_mask=mask_a,
                 motion_text_ids=ids_a, motion_text_mask=mask_a)
    other_motion_text = model(music_codes=music, motion_codes=motion, music_text_ids=ids_a, music_text_mask=mask_a,
                              motion_text_ids=ids_b, motion_text_mask=mask_b)
    # another text length changes the cross-attention key length, hence the summation order: equal up to rounding
    assert_equal_up_to_rounding(other_motion_text.music_logits, base.music_logits)
    # its own text moves a stream's logits far beyond that tolerance, as a leaked text would
    moved = (base.motion_logits - other_motion_text.motion_logits).abs().max()
    assert moved > 10 * rounding_tolerance(base.motion_logits)
    other_music_text = model(music_codes=music, motion_codes=motion, music_text_ids=ids_b, music_text_mask=mask_b,
                             motion_text_ids=ids_a, motion_text_mask=mask_a)
    assert_equal_up_to_rounding(other_music_text.motion_logits, base.motion_logits)
    moved = (base.music_logits - other_music_text.music_logits).abs().max()
    assert moved > 10 * rounding_tolerance(base.music_logits)


def test_text_padding_is_ignored(session_model):
    music = random_codes(2, T, 14)
    ids, mask = random_text(2, 6, 15)
    ids[:, -1], mask[:, -1] = 0, 0
    padded = ids.clone()
    padded[:, -1] = 77  # garbage under the mask
    a = session_model(music_codes=music, music_text_ids=ids, music_text_mask=mask)
    b = session_model(music_codes=music, music_text_ids=padded, music_text_mask=mask)
    torch.testing.assert_close(a.music_logits, b.music_logits)


def test_condition_dropout_drops_text_in_training_only(t5_dir):
    music = random_codes(B, T, 16)
    ids, mask = random_text(B, 6, 17)
    model = build_model(t5_dir, condition_dropout=1.0)
    with_text = dict(music_codes=music, music_text_ids=ids, music_text_mask=mask)
    unconditional = model(music_codes=music).music_logits
    conditional = model(**with_text).music_logits
    assert not torch.allclose(conditional, unconditional)
    model.train()  # dropout=0 in the tiny config, so only the condition dropout is random
    torch.testing.assert_close(model(**with_text).music_logits, unconditional)
    model.config.condition_dropout = 0.0
    torch.testing.assert_close(model(**with_text).music_logits, conditional)


def test_positions_restart_for_the_motion_block(t5_dir, musicgen_dir):
    """From MusicGen, motion parts are copies of music parts: equal codes and text must give equal logits in
    both blocks, which holds only if the motion block's positions restart at 0."""
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    model = UniMuMoForConditionalGeneration.from_musicgen(musicgen_dir, text_model_dir=t5_dir,
                                                          allow_random=("condition_projection.*",)).eval()
    codes = random_codes(B, T, 18)
    ids, mask = random_text(B, 5, 19)
    out = model(music_codes=codes, motion_codes=codes, music_text_ids=ids, music_text_mask=mask,
                motion_text_ids=ids, motion_text_mask=mask)
    torch.testing.assert_close(out.music_logits, out.motion_logits, rtol=1e-5, atol=1e-5)


def test_input_validation(session_model):
    with pytest.raises(ValueError, match="music_codes and/or motion_codes"):
        session_model()
    with pytest.raises(ValueError, match="same shape"):
        session_model(music_codes=random_codes(1, 5, 0), motion_codes=random_codes(1, 6, 0))
    with pytest.raises(ValueError, match=r"\[B, 4, T\]"):
        session_model(music_codes=torch.zeros(1, 3, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        session_model(music_codes=random_codes(1, session_model.config.max_position_embeddings, 0))
    with pytest.raises(ValueError, match="shape \\[B\\]"):
        session_model(music_codes=random_codes(2, 5, 0), music_loss_weight=torch.ones(3))


def test_config_validation_and_presets():
    with pytest.raises(ValueError, match="multiple of num_attention_heads"):
        tiny_config(num_attention_heads=5)
    with pytest.raises(ValueError, match="expert_layers"):
        tiny_config(expert_layers=[7])
    with pytest.raises(ValueError, match="Unknown UniMuMoConfig preset"):
        UniMuMoConfig.preset("huge")
    small = UniMuMoConfig.preset("small")
    assert (small.hidden_size, small.num_hidden_layers, small.num_attention_heads, small.ffn_dim) == (1024, 24, 16,
                                                                                                      4096)
    assert small.expert_layers == list(range(24))


def test_empty_caption_rows_act_as_no_text(session_model):
    """A row whose text mask is all zero attends to nothing (no NaN from an all-masked softmax)."""
    music = random_codes(2, T, 20)
    ids, mask = random_text(2, 5, 21)
    mask[1] = 0
    with_text = session_model(music_codes=music, music_text_ids=ids, music_text_mask=mask).music_logits
    without = session_model(music_codes=music).music_logits
    assert torch.isfinite(with_text).all()
    torch.testing.assert_close(with_text[1], without[1])
    assert not torch.allclose(with_text[0], without[0])
