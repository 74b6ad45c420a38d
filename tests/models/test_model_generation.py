"""Generation: tasks, KV cache == full recompute (teacher-forced logits up to rounding, greedy codes identical),
classifier-free guidance against a forward()-based reference."""

from __future__ import annotations

import pytest
import torch

from testkit.model_fixtures import assert_equal_up_to_rounding, random_codes, random_text
from unimumo.constants import CODEBOOK_SIZE, NUM_CODEBOOKS, SPECIAL_TOKEN_ID
from unimumo.models.delay_pattern import codes_from_delayed, delay_codes, valid_codebooks
from unimumo.models.generation_unimumo import sample_next_tokens
from unimumo.tasks import TASKS

B, STEPS = 2, 7


def _inputs(task):
    music_ids, music_mask = random_text(B, 6, 0)
    motion_ids, motion_mask = random_text(B, 4, 1)
    kwargs = dict(
        music_text_ids=music_ids, music_text_mask=music_mask, motion_text_ids=motion_ids, motion_text_mask=motion_mask
    )
    if task == "music2motion":
        kwargs["music_codes"] = random_codes(B, STEPS + 3, 2)
    if task == "motion2music":
        kwargs["motion_codes"] = random_codes(B, STEPS + 3, 3)
    return kwargs


@pytest.mark.parametrize("task", TASKS)
def test_cached_equals_uncached(session_model, task):
    # greedy: the two paths' logits differ by rounding (test below), which can move a sampled draw whose uniform
    # falls next to a CDF boundary, but an argmax only at a near-exact tie
    kwargs = dict(_inputs(task), num_steps=STEPS, guidance_scale=3.0, temperature=0.0)
    cached = session_model.generate(task, use_cache=True, **kwargs)
    uncached = session_model.generate(task, use_cache=False, **kwargs)
    for key in ("music_codes", "motion_codes"):
        assert cached[key].shape == (B, NUM_CODEBOOKS, STEPS)
        assert torch.equal(cached[key], uncached[key]), key
        assert cached[key].min() >= 0 and cached[key].max() < CODEBOOK_SIZE
    given = {"music2motion": "music_codes", "motion2music": "motion_codes"}.get(task)
    if given:
        assert torch.equal(cached[given], kwargs[given][..., :STEPS])


def test_cached_logits_equal_recomputed_teacher_forced(session_model):
    """Cached decoding (one position at a time) and the full forward pass on the same codes: equal up to rounding
    (same operations on other shapes) at every position of both streams."""
    text = _inputs("text2music_motion")
    music, motion = random_codes(B, 40, 5), random_codes(B, 40, 6)
    cached = session_model.incremental_logits(music, motion, **text)
    recomputed = session_model(music_codes=music, motion_codes=motion, **text)
    for key in ("music_logits", "motion_logits"):
        assert_equal_up_to_rounding(cached[key], recomputed[key])


def test_generation_is_seeded(session_model):
    kwargs = dict(_inputs("text2music_motion"), num_steps=STEPS, top_k=0)
    a = session_model.generate("text2music_motion", seed=3, **kwargs)
    b = session_model.generate("text2music_motion", seed=3, **kwargs)
    c = session_model.generate("text2music_motion", seed=4, **kwargs)
    assert torch.equal(a["music_codes"], b["music_codes"]) and torch.equal(a["motion_codes"], b["motion_codes"])
    assert not torch.equal(a["music_codes"], c["music_codes"])


def _reference_generation(
    model, task, num_steps, guidance_scale, seed, top_k, top_p, music_codes=None, motion_codes=None, **text
):
    """Independent decoding loop built on forward(): at each step re-run the teacher-forced model on the codes
    known so far (unknown codes are 0 and, by causality, cannot matter) and combine conditional and unconditional
    (no text) logits."""
    generated = {"text2music_motion": ("music", "motion"), "music2motion": ("motion",), "motion2music": ("music",)}[
        task
    ]
    given = {"music": music_codes, "motion": motion_codes}
    delayed = {
        m: delay_codes(given[m][..., :num_steps], SPECIAL_TOKEN_ID)
        if m not in generated
        else torch.full((B, NUM_CODEBOOKS, num_steps + NUM_CODEBOOKS), SPECIAL_TOKEN_ID)
        for m in given
    }
    generator = torch.Generator().manual_seed(seed)
    for position in range(num_steps + NUM_CODEBOOKS - 1):
        codes = {m: codes_from_delayed(d, num_steps).clamp(max=CODEBOOK_SIZE - 1) for m, d in delayed.items()}
        with torch.no_grad():
            conditional = model(music_codes=codes["music"], motion_codes=codes["motion"], **text)
            unconditional = model(music_codes=codes["music"], motion_codes=codes["motion"])
        step_logits = []
        for modality in generated:
            logits = torch.zeros(B, NUM_CODEBOOKS, CODEBOOK_SIZE)
            for k in range(NUM_CODEBOOKS):
                t = position - k
                if 0 <= t < num_steps:
                    cond = conditional[f"{modality}_logits"][:, k, t]
                    uncond = unconditional[f"{modality}_logits"][:, k, t]
                    logits[:, k] = cond if guidance_scale == 1.0 else uncond + guidance_scale * (cond - uncond)
            step_logits.append(logits)
        tokens = sample_next_tokens(torch.cat(step_logits, dim=1), generator, top_k=top_k, top_p=top_p)
        valid = valid_codebooks(position, NUM_CODEBOOKS, num_steps)
        for i, modality in enumerate(generated):
            block = tokens[:, i * NUM_CODEBOOKS : (i + 1) * NUM_CODEBOOKS]
            delayed[modality][:, :, position + 1] = torch.where(valid, block, SPECIAL_TOKEN_ID)
    return {f"{m}_codes": codes_from_delayed(d, num_steps) for m, d in delayed.items()}


@pytest.mark.parametrize(
    "task,guidance_scale",
    [("text2music_motion", 1.0), ("text2music_motion", 3.0), ("music2motion", 1.0), ("motion2music", 2.5)],
)
def test_generation_matches_forward_reference(session_model, task, guidance_scale):
    """Scale 1 is plain conditional sampling; other scales mix conditional and unconditional logits."""
    inputs = _inputs(task)
    kwargs = dict(num_steps=5, guidance_scale=guidance_scale, seed=5, top_k=1, top_p=0.0)  # greedy
    expected = _reference_generation(session_model, task, **kwargs, **inputs)
    produced = session_model.generate(task, **kwargs, **inputs)
    for key in ("music_codes", "motion_codes"):
        assert torch.equal(produced[key], expected[key]), key  # greedy, as in test_cached_equals_uncached


def test_guidance_changes_samples(session_model):
    kwargs = dict(_inputs("text2music_motion"), num_steps=STEPS, temperature=0.0)  # greedy: sensitive to logits
    plain = session_model.generate("text2music_motion", guidance_scale=1.0, **kwargs)
    guided = session_model.generate("text2music_motion", guidance_scale=6.0, **kwargs)
    assert not torch.equal(plain["music_codes"], guided["music_codes"])


def test_sampling_filters():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]]).repeat(200, 1)
    generator = torch.Generator().manual_seed(0)
    assert (sample_next_tokens(logits, generator, top_k=1) == 1).all()
    assert (sample_next_tokens(logits, generator, temperature=0.0) == 1).all()
    assert set(sample_next_tokens(logits, generator, top_k=2).tolist()) == {1, 3}
    # nucleus: p(1) = 0.64, p(3) = 0.24 -> top_p 0.7 keeps exactly {1, 3}
    assert set(sample_next_tokens(logits, generator, top_p=0.7).tolist()) == {1, 3}
    assert (sample_next_tokens(logits, generator, top_p=0.5) == 1).all()


def test_generate_validates_arguments(session_model):
    with pytest.raises(ValueError, match="unknown task"):
        session_model.generate("music2text", num_steps=3, batch_size=1)
    with pytest.raises(ValueError, match="needs music_codes"):
        session_model.generate("music2motion", num_steps=3, batch_size=1)
    with pytest.raises(ValueError, match="not supported"):
        session_model.generate(
            "music2motion", num_steps=3, music_codes=random_codes(1, 3, 0), motion_codes=random_codes(1, 3, 0)
        )
    with pytest.raises(ValueError, match="batch size"):
        session_model.generate("text2music_motion", num_steps=3)
    unconditional = session_model.generate("text2music_motion", num_steps=3, batch_size=2, guidance_scale=1.0)
    assert unconditional["music_codes"].shape == (2, NUM_CODEBOOKS, 3)


def test_sampling_follows_the_distribution():
    probs = torch.tensor([0.1, 0.0, 0.6, 0.3])
    generator = torch.Generator().manual_seed(1)
    draws = sample_next_tokens(probs.log().expand(40000, 4), generator)
    frequencies = torch.bincount(draws, minlength=4).float() / draws.numel()
    assert frequencies[1] == 0.0
    torch.testing.assert_close(frequencies, probs, atol=0.01, rtol=0.0)
