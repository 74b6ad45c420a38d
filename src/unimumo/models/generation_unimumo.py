"""Generation for the UniMuMo LM: the three tasks with classifier-free guidance, top-k / top-p / temperature
sampling (seeded), incremental decoding with a key/value cache, and beam-search captioning.

Music and motion are generated in parallel, one time step of the delayed streams per step; a stream given as a
condition (music in music2motion, motion in motion2music) is fed from its codes instead of being sampled. The
unconditional branch of classifier-free guidance drops both text conditions.
"""

from __future__ import annotations

import torch
from transformers.modeling_outputs import BaseModelOutput

from unimumo.models.delay_pattern import codes_from_delayed, delay_codes, undelay, valid_codebooks
from unimumo.models.kv_cache import UniMuMoKVCache
from unimumo.models.zero3 import needs_synced_generation
from unimumo.tasks import task_named


def sample_next_tokens(
    logits: torch.Tensor, generator: torch.Generator, temperature: float = 1.0, top_k: int = 0, top_p: float = 0.0
) -> torch.Tensor:
    """Sample ids from logits [..., V]. temperature <= 0 is greedy; top_k <= 0 and top_p <= 0 disable the filters."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if 0 < top_k < logits.shape[-1]:
        kth_best = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth_best, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p > 0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        outside_nucleus = sorted_probs.cumsum(dim=-1) - sorted_probs > top_p  # the most likely id always stays
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs.masked_fill(outside_nucleus, 0.0))
    # inverse-CDF sampling: one uniform per row (cheaper than torch.multinomial for many small rows)
    cdf = probs.cumsum(dim=-1)
    uniform = torch.rand((*cdf.shape[:-1], 1), generator=generator, device=cdf.device, dtype=cdf.dtype)
    return torch.searchsorted(cdf, uniform * cdf[..., -1:], right=True).squeeze(-1).clamp_(max=cdf.shape[-1] - 1)


def _with_null(condition):
    """Stack a condition [B, L, D] with its dropped version (zero states, one valid zero key) along the batch."""
    null_mask = torch.zeros_like(condition.mask)
    null_mask[:, 0] = True
    return type(condition)(
        torch.cat([condition.states, torch.zeros_like(condition.states)]), torch.cat([condition.mask, null_mask])
    )


class UniMuMoGenerationMixin:
    """`generate` and `caption` for `UniMuMoForConditionalGeneration`."""

    @torch.no_grad()
    def generate(
        self,
        task: str,
        *,
        music_codes=None,
        motion_codes=None,
        music_text_ids=None,
        music_text_mask=None,
        motion_text_ids=None,
        motion_text_mask=None,
        num_steps: int,
        guidance_scale: float = 4.0,
        temperature: float = 1.0,
        top_k: int = 250,
        top_p: float = 0.0,
        seed: int = 0,
        use_cache: bool = True,
        batch_size: int | None = None,
    ) -> dict[str, torch.Tensor]:
        """Generate `num_steps` time steps. Returns {"music_codes": [B,K,T], "motion_codes": [B,K,T]} (a given stream
        is returned as its first `num_steps` codes). `batch_size` is only needed when no codes or text are given."""
        spec = task_named(task)
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        generated = spec.generated
        given = {"music": music_codes, "motion": motion_codes}
        for modality, codes in given.items():
            if modality in generated and codes is not None:
                raise ValueError(f"task {task} generates {modality}; {modality}_codes (a prompt) is not supported")
            if modality in spec.given and (codes is None or codes.shape[-1] < num_steps):
                raise ValueError(f"task {task} needs {modality}_codes with at least {num_steps} time steps")
        candidates = [x.shape[0] for x in (music_codes, motion_codes, music_text_ids, motion_text_ids) if x is not None]
        batch_size = batch_size if batch_size is not None else (candidates[0] if candidates else None)
        if batch_size is None:
            raise ValueError("cannot infer the batch size: pass text ids, codes or batch_size")

        was_training = self.training
        self.eval()
        try:
            return self._generate(
                generated,
                given,
                (music_text_ids, music_text_mask),
                (motion_text_ids, motion_text_mask),
                batch_size,
                num_steps,
                guidance_scale,
                dict(temperature=temperature, top_k=top_k, top_p=top_p),
                seed,
                use_cache,
            )
        finally:
            self.train(was_training)

    def _generate(
        self,
        generated,
        given,
        music_text,
        motion_text,
        batch_size,
        num_steps,
        guidance_scale,
        sampling,
        seed,
        use_cache,
    ):
        config = self.config
        special, num_codebooks = config.special_token_id, config.num_codebooks
        device = self.device
        guided = guidance_scale != 1.0
        heads = {"music": self.music_lm_heads, "motion": self.motion_lm_heads}

        delayed = {}
        for modality in ("music", "motion"):
            if modality in generated:
                delayed[modality] = torch.full(
                    (batch_size, num_codebooks, num_steps + num_codebooks), special, dtype=torch.long, device=device
                )
            else:
                delayed[modality] = delay_codes(given[modality][..., :num_steps].to(device), special)
        conditions = {
            m: self.encode_text(*(x.to(device) if x is not None else None for x in text), batch_size)
            for m, text in (("music", music_text), ("motion", motion_text))
        }
        if guided:
            conditions = {m: _with_null(c) for m, c in conditions.items()}

        num_positions = num_steps + num_codebooks - 1
        cache = UniMuMoKVCache(capacity=2 * num_positions) if use_cache else None
        generator = torch.Generator(device=device).manual_seed(seed)
        for position in range(num_positions):
            window = slice(position, position + 1) if use_cache else slice(0, position + 1)
            inputs = {m: d[..., window] for m, d in delayed.items()}
            if guided:
                inputs = {m: torch.cat([x, x]) for m, x in inputs.items()}
            music_hidden, motion_hidden = self.model(
                inputs["music"], inputs["motion"], conditions["music"], conditions["motion"], cache=cache
            )
            hidden = {"music": music_hidden, "motion": motion_hidden}
            logits = []
            for modality in generated:
                stream_logits = self._logits(hidden[modality][:, -1:], heads[modality])[:, :, 0]  # [B', K, V]
                if guided:
                    conditional, unconditional = stream_logits.chunk(2)
                    stream_logits = unconditional + guidance_scale * (conditional - unconditional)
                logits.append(stream_logits)
            tokens = sample_next_tokens(torch.cat(logits, dim=1), generator, **sampling)
            valid = valid_codebooks(position, num_codebooks, num_steps, device=device)
            for i, modality in enumerate(generated):
                stream_tokens = tokens[:, i * num_codebooks : (i + 1) * num_codebooks]
                delayed[modality][:, :, position + 1] = torch.where(valid, stream_tokens, special)
        return {f"{m}_codes": codes_from_delayed(d, num_steps) for m, d in delayed.items()}

    @torch.no_grad()
    def incremental_logits(
        self,
        music_codes,
        motion_codes,
        music_text_ids=None,
        music_text_mask=None,
        motion_text_ids=None,
        motion_text_mask=None,
    ) -> dict[str, torch.Tensor]:
        """Teacher-forced logits computed as `generate` computes them: one delayed position at a time through the
        KV cache. Returns {"music_logits", "motion_logits"} [B, K, T, V], forward()'s (eval mode) up to rounding."""
        batch_size, num_frames = self._check_codes(music_codes, motion_codes)
        was_training = self.training
        self.eval()
        try:
            delayed = [delay_codes(c, self.config.special_token_id)[..., :-1] for c in (music_codes, motion_codes)]
            conditions = [
                self.encode_text(music_text_ids, music_text_mask, batch_size),
                self.encode_text(motion_text_ids, motion_text_mask, batch_size),
            ]
            cache = UniMuMoKVCache(capacity=2 * delayed[0].shape[-1])
            steps = [
                self.model(*(d[..., s : s + 1] for d in delayed), *conditions, cache=cache)
                for s in range(delayed[0].shape[-1])
            ]
        finally:
            self.train(was_training)
        return {
            f"{m}_logits": undelay(self._logits(torch.cat([step[i] for step in steps], dim=1), heads), num_frames)
            for i, (m, heads) in enumerate((("music", self.music_lm_heads), ("motion", self.motion_lm_heads)))
        }

    @torch.no_grad()
    def caption(self, music_codes=None, motion_codes=None, num_beams: int = 4, max_length: int = 32) -> torch.Tensor:
        """Beam-search caption ids [B, L] (decoder start token removed; eos then pad ids at the end) of one stream."""
        if (music_codes is None) == (motion_codes is None):
            raise ValueError("caption() takes exactly one of music_codes / motion_codes")
        modality, codes = ("music", music_codes) if music_codes is not None else ("motion", motion_codes)
        was_training = self.training
        self.eval()
        try:
            states = self.caption_states(modality, codes.to(self.device))
            ids = self.captioning_decoder.generate(
                encoder_outputs=BaseModelOutput(last_hidden_state=states),
                attention_mask=torch.ones(states.shape[:2], dtype=torch.long, device=states.device),
                num_beams=num_beams,
                max_length=max_length,
                do_sample=False,
                synced_gpus=needs_synced_generation(self.captioning_decoder),
            )
        finally:
            self.train(was_training)
        return ids[:, 1:]
