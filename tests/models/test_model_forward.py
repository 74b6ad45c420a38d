"""UniMuMo LM forward: shapes, delay pattern, block-causal mask (by perturbation), losses and their weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from testkit.model_fixtures import (
    assert_equal_up_to_rounding,
    build_model,
    random_codes,
    random_text,
    rounding_tolerance,
    tiny_config,
)
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
    out = session_model(
        music_codes=music,
        motion_codes=motion,
        music_text_ids=ids,
        music_text_mask=mask,
        motion_text_ids=ids,
        motion_text_mask=mask,
    )
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
    base = model(
        music_codes=music,
        motion_codes=motion,
        music_text_ids=ids_a,
        music_text_mask=mask_a,
        motion_text_ids=ids_a,
        motion_text_mask=mask_a,
    )
    other_motion_text = model(
        music_codes=music,
        motion_codes=motion,
        music_text_ids=ids_a,
        music_text_mask=mask_a,
        motion_text_ids=ids_b,
        motion_text_mask=mask_b,
    )
    # another text length changes the cross-attention key length, hence the summation order: equal up to rounding
    assert_equal_up_to_rounding(other_motion_text.music_logits, base.music_logits)
    # its own text moves a stream's logits far beyond that tolerance, as a leaked text would
    moved = (base.motion_logits - other_motion_text.motion_logits).abs().max()
    assert moved > 10 * rounding_tolerance(base.motion_logits)
    other_music_text = model(
        music_codes=music,
        motion_codes=motion,
        music_text_ids=ids_b,
        music_text_mask=mask_b,
        motion_text_ids=ids_a,
        motion_text_mask=mask_a,
    )
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

    model = UniMuMoForConditionalGeneration.from_musicgen(
        musicgen_dir, text_model_dir=t5_dir, allow_random=("condition_projection.*",)
    ).eval()
    codes = random_codes(B, T, 18)
    ids, mask = random_text(B, 5, 19)
    out = model(
        music_codes=codes,
        motion_codes=codes,
        music_text_ids=ids,
        music_text_mask=mask,
        motion_text_ids=ids,
        motion_text_mask=mask,
    )
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
    assert (small.hidden_size, small.num_hidden_layers, small.num_attention_heads, small.ffn_dim) == (
        1024,
        24,
        16,
        4096,
    )
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


# --- padded samples (code_mask) ------------------------------------------------------------------------------------

LENGTHS = (T, 6, 2)  # real frames per row of a padded batch; the rest of each row is padding


def _padded_batch(seed: int) -> tuple[dict, torch.Tensor]:
    """Forward inputs of a padded batch (padding codes random, so that a leak would show) and its code mask."""
    ids, mask = random_text(B, 5, seed)
    inputs = {
        "music_codes": random_codes(B, T, seed + 1),
        "motion_codes": random_codes(B, T, seed + 2),
        "music_text_ids": ids,
        "music_text_mask": mask,
        "motion_text_ids": ids,
        "motion_text_mask": mask,
    }
    return inputs, torch.arange(T)[None, :] < torch.tensor(LENGTHS)[:, None]


def _alone(inputs: dict, row: int) -> dict:
    """Row `row` of a padded batch as a batch of one, cut to its real frames."""
    length = LENGTHS[row]
    return {
        name: value[row : row + 1, ..., :length] if name.endswith("codes") else value[row : row + 1]
        for name, value in inputs.items()
    }


def test_valid_positions_are_those_that_predict_a_real_code():
    from unimumo.models.delay_pattern import valid_positions

    mask = torch.arange(T)[None, :] < torch.tensor(LENGTHS)[:, None]
    valid = valid_positions(mask, NUM_CODEBOOKS)
    assert valid.shape == (B, T + NUM_CODEBOOKS - 1)
    for row, length in enumerate(LENGTHS):
        # position s predicts codes (k, s - k): valid iff one of them is a real frame, i.e. s < length + K - 1
        expected = [any(0 <= s - k < length for k in range(NUM_CODEBOOKS)) for s in range(T + NUM_CODEBOOKS - 1)]
        assert valid[row].tolist() == expected
        assert sum(expected) == length + NUM_CODEBOOKS - 1  # the positions the unpadded sequence has


def test_a_padded_sample_gives_its_unpadded_logits_and_loss(session_model):
    inputs, code_mask = _padded_batch(30)
    out = session_model(**inputs, code_mask=code_mask)
    alone = [session_model(**_alone(inputs, row)) for row in range(B)]
    for row, length in enumerate(LENGTHS):
        # another sequence length reorders float sums: equal up to rounding (ROUNDING_ULPS of float32)
        assert_equal_up_to_rounding(out.music_logits[row, :, :length], alone[row].music_logits[0])
        assert_equal_up_to_rounding(out.motion_logits[row, :, :length], alone[row].motion_logits[0])
    # each sample's loss is its mean over its real codes; the batch loss averages samples, whatever their length
    for name in ("music_loss", "motion_loss", "loss"):
        assert_equal_up_to_rounding(getattr(out, name), torch.stack([getattr(a, name) for a in alone]).mean())
    # padding values never matter: same shapes and kernels, masked terms are exact zeros -> bitwise equal
    changed = {
        **inputs,
        "music_codes": inputs["music_codes"].masked_fill(~code_mask[:, None], 5),
        "motion_codes": inputs["motion_codes"].masked_fill(~code_mask[:, None], 7),
    }
    again = session_model(**changed, code_mask=code_mask)
    assert torch.equal(again.loss, out.loss)
    for row, length in enumerate(LENGTHS):
        assert torch.equal(again.music_logits[row, :, :length], out.music_logits[row, :, :length])


def test_an_all_true_code_mask_is_no_mask(session_model):
    inputs, _ = _padded_batch(31)
    out = session_model(**inputs)
    masked = session_model(**inputs, code_mask=torch.ones(B, T, dtype=torch.bool))
    assert torch.equal(masked.loss, out.loss) and torch.equal(masked.music_logits, out.music_logits)


def test_a_padded_sample_gives_its_unpadded_caption(session_model):
    """The caption pass is bidirectional: padded positions are masked as keys and as the decoder's encoder states."""
    inputs, code_mask = _padded_batch(32)
    labels, labels_mask = random_text(B, 6, 33)
    out = session_model(
        motion_codes=inputs["motion_codes"],
        caption_modality="motion",
        caption_labels=labels,
        caption_labels_mask=labels_mask,
        code_mask=code_mask,
    )
    for row, length in enumerate(LENGTHS):
        alone = session_model(
            motion_codes=inputs["motion_codes"][row : row + 1, :, :length],
            caption_modality="motion",
            caption_labels=labels[row : row + 1],
            caption_labels_mask=labels_mask[row : row + 1],
        )
        assert_equal_up_to_rounding(out.caption_logits[row], alone.caption_logits[0])


def test_code_mask_validation(session_model):
    codes = random_codes(2, 5, 0)
    with pytest.raises(ValueError, match=r"code_mask must be \[B, T\]"):
        session_model(music_codes=codes, code_mask=torch.ones(2, 4, dtype=torch.bool))
    holes = torch.tensor([[True, False, True, True, True], [True] * 5])
    with pytest.raises(ValueError, match="non-empty prefix"):
        session_model(music_codes=codes, code_mask=holes)
    with pytest.raises(ValueError, match="non-empty prefix"):
        session_model(music_codes=codes, code_mask=torch.tensor([[False] * 5, [True] * 5]))
