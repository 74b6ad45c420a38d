"""UniMuMo LM: one MusicGen-style decoder over a music block and a motion block, conditioned on frozen T5 text.

Layout: music codes and motion codes [B, K, T] each get the delay pattern and their own embedding tables; the two
delayed streams are laid side by side (music block, then motion block), positions restart for motion, and the block-
causal mask lets a token of time step t see the tokens of time steps <= t of both streams. A `code_mask` [B, T] marks
the real frames of padded samples (padding at the end): padded codes enter as the delay filler and get no loss, and
padded positions are seen by no valid query (block-causal order; the bidirectional caption pass masks them as keys;
see delay_pattern for which delayed positions are valid), so a padded sample's real logits are those it has alone.
Every block shares self- and cross-attention; the FFN is a fixed, modality-routed expert pair (music / motion, each
with its own norm) in `config.expert_layers`. Music tokens cross-attend to the music caption only, motion tokens to
the motion caption. For captioning, each block swaps in `captioning_self_attn` (bidirectional over the captioned
stream alone) and the hidden states go through `captioning_projection` into a T5 decoder.

Parameter names carry their group (see `parameter_group`): `music_*`, `motion_*`, `captioning_*`, `text_encoder`,
everything else is shared.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    PreTrainedModel,
    T5Config,
    T5EncoderModel,
    T5ForConditionalGeneration,
)
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput

from unimumo.models.configuration_unimumo import UniMuMoConfig, caption_decoder_config_for
from unimumo.models.delay_pattern import delay_codes, undelay, valid_positions
from unimumo.models.generation_unimumo import UniMuMoGenerationMixin
from unimumo.models.kv_cache import UniMuMoKVCache
from unimumo.models.musicgen_import import MusicGenParts, check_covered, config_kwargs_from_musicgen
from unimumo.models.zero3 import gathered_parameters

MODALITIES = ("music", "motion")


@dataclass
class UniMuMoOutput(ModelOutput):
    """`loss` is the weighted total; per-modality losses are unweighted by the config (but sample-weighted)."""

    loss: torch.FloatTensor | None = None
    music_loss: torch.FloatTensor | None = None
    motion_loss: torch.FloatTensor | None = None
    caption_loss: torch.FloatTensor | None = None
    music_logits: torch.FloatTensor | None = None  # [B, K, T, V]: logits of code (k, t)
    motion_logits: torch.FloatTensor | None = None  # (logits of padded codes, see code_mask, are meaningless)
    caption_logits: torch.FloatTensor | None = None  # [B, L, text vocab]


@dataclass
class TextCondition:
    """Projected text states of one modality; rows without text hold one zero key, which attends to nothing."""

    states: torch.Tensor  # [B, L, D]
    mask: torch.Tensor  # [B, L] bool


def sinusoidal_positions(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """MusicGen's sinusoidal embedding (cos half, then sin half) of integer positions [N] -> float32 [N, dim]."""
    half = dim // 2
    frequencies = torch.exp(torch.arange(half, device=positions.device).float() * -(math.log(10000) / (half - 1)))
    angles = positions.float()[:, None] * frequencies[None, :]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


def per_sample_ce(logits: torch.Tensor, codes: torch.Tensor, code_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of logits [B, K, T, V] against codes [B, K, T], averaged per sample over its real codes
    (K x its number of real frames in `code_mask` [B, T]; all codes without a mask) -> float32 [B]."""
    per_code = F.cross_entropy(logits.float().flatten(0, 2), codes.flatten(), reduction="none").view(codes.shape[0], -1)
    if code_mask is None:
        return per_code.mean(dim=1)
    real = code_mask[:, None, :].expand(codes.shape).reshape(codes.shape[0], -1)
    return torch.where(real, per_code, 0.0).sum(dim=1) / real.sum(dim=1)


# ----------------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------------


class UniMuMoAttention(nn.Module):
    """Multi-head attention (MusicGen projections, no bias) on `F.scaled_dot_product_attention`."""

    def __init__(self, config: UniMuMoConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx  # its slot in the KV cache
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.dropout = config.attention_dropout
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=False)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:2], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, hidden_states, key_value_states=None, attn_mask=None, cache: UniMuMoKVCache | None = None):
        query = self._heads(self.q_proj(hidden_states))
        if key_value_states is None:
            key, value = self._heads(self.k_proj(hidden_states)), self._heads(self.v_proj(hidden_states))
            if cache is not None:
                key, value = cache.update_self_attention(self.layer_idx, key, value)
        else:
            cached = cache.cross_attention(self.layer_idx) if cache is not None else None
            if cached is None:
                key, value = self._heads(self.k_proj(key_value_states)), self._heads(self.v_proj(key_value_states))
                if cache is not None:
                    cache.set_cross_attention(self.layer_idx, key, value)
            else:
                key, value = cached
        out = F.scaled_dot_product_attention(
            query, key, value, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(out.transpose(1, 2).reshape(*hidden_states.shape[:2], -1))


class UniMuMoFeedForward(nn.Module):
    """Pre-norm feed-forward expert with its own norm: x + fc2(act(fc1(norm(x))))."""

    def __init__(self, config: UniMuMoConfig):
        super().__init__()
        self.layer_norm = nn.LayerNorm(config.hidden_size)
        self.fc1 = nn.Linear(config.hidden_size, config.ffn_dim, bias=False)
        self.fc2 = nn.Linear(config.ffn_dim, config.hidden_size, bias=False)
        self.activation_fn = ACT2FN[config.activation_function]
        self.activation_dropout = config.activation_dropout
        self.dropout = config.dropout

    def forward(self, hidden_states):
        out = self.activation_fn(self.fc1(self.layer_norm(hidden_states)))
        out = F.dropout(out, p=self.activation_dropout, training=self.training)
        out = F.dropout(self.fc2(out), p=self.dropout, training=self.training)
        return hidden_states + out


class UniMuMoDecoderLayer(GradientCheckpointingLayer):
    """Shared self/cross-attention, then the FFN: a music and a motion expert, or one shared FFN."""

    def __init__(self, config: UniMuMoConfig, layer_idx: int):
        super().__init__()
        self.dropout = config.dropout
        self.self_attn_layer_norm = nn.LayerNorm(config.hidden_size)
        self.self_attn = UniMuMoAttention(config, layer_idx)
        self.captioning_self_attn = UniMuMoAttention(config, layer_idx)  # never cached
        self.encoder_attn_layer_norm = nn.LayerNorm(config.hidden_size)
        self.encoder_attn = UniMuMoAttention(config, layer_idx)
        self.has_experts = layer_idx in config.expert_layers
        if self.has_experts:
            self.music_ffn = UniMuMoFeedForward(config)
            self.motion_ffn = UniMuMoFeedForward(config)
        else:
            self.ffn = UniMuMoFeedForward(config)

    def forward(
        self,
        hidden_states,
        self_attn_mask=None,
        encoder_hidden_states=None,
        encoder_attn_mask=None,
        num_music_tokens: int = 0,
        cache: UniMuMoKVCache | None = None,
        caption_mode: bool = False,
    ):
        attention = self.captioning_self_attn if caption_mode else self.self_attn
        attended = attention(
            self.self_attn_layer_norm(hidden_states), attn_mask=self_attn_mask, cache=None if caption_mode else cache
        )
        hidden_states = hidden_states + F.dropout(attended, p=self.dropout, training=self.training)
        if encoder_hidden_states is not None:
            attended = self.encoder_attn(
                self.encoder_attn_layer_norm(hidden_states),
                encoder_hidden_states,
                attn_mask=encoder_attn_mask,
                cache=cache,
            )
            hidden_states = hidden_states + F.dropout(attended, p=self.dropout, training=self.training)
        if not self.has_experts:
            return self.ffn(hidden_states)
        # Fixed routing: the first `num_music_tokens` tokens are music. Both experts always run (an empty slice costs
        # nothing) so every parameter takes part in the graph, as DeepSpeed's gradient hooks expect.
        music = self.music_ffn(hidden_states[:, :num_music_tokens])
        motion = self.motion_ffn(hidden_states[:, num_music_tokens:])
        return torch.cat([music, motion], dim=1)


class UniMuMoCaptionDecoder(T5ForConditionalGeneration):
    """`T5ForConditionalGeneration` without its encoder: the UniMuMo hidden states are its encoder outputs."""

    _tied_weights_keys = {"decoder.embed_tokens.weight": "shared.weight", "lm_head.weight": "shared.weight"}

    def __init__(self, config: T5Config):
        super().__init__(config)
        del self.encoder

    def get_encoder(self):
        raise NotImplementedError("UniMuMoCaptionDecoder has no encoder; pass `encoder_outputs`.")


# ----------------------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------------------


class UniMuMoPreTrainedModel(PreTrainedModel):
    config_class = UniMuMoConfig
    config: UniMuMoConfig
    base_model_prefix = "model"
    main_input_name = "music_codes"
    supports_gradient_checkpointing = True
    _no_split_modules = ["UniMuMoDecoderLayer"]

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            init.normal_(module.weight, mean=0.0, std=std)
            if getattr(module, "bias", None) is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)


class UniMuMoModel(UniMuMoPreTrainedModel):
    """The decoder: per-modality code embeddings, sinusoidal positions, the blocks and the final norm."""

    def __init__(self, config: UniMuMoConfig):
        super().__init__(config)
        rows = config.codebook_size + 1
        self.music_embed_tokens = nn.ModuleList(
            [nn.Embedding(rows, config.hidden_size) for _ in range(config.num_codebooks)]
        )
        self.motion_embed_tokens = nn.ModuleList(
            [nn.Embedding(rows, config.hidden_size) for _ in range(config.num_codebooks)]
        )
        self.layers = nn.ModuleList([UniMuMoDecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        self.layer_norm = nn.LayerNorm(config.hidden_size)
        self.post_init()

    def _embed(self, input_ids: torch.Tensor, tables: nn.ModuleList, start: int) -> torch.Tensor:
        embeds = sum(table(input_ids[:, k]) for k, table in enumerate(tables))
        positions = torch.arange(start, start + input_ids.shape[-1], device=input_ids.device)
        return embeds + sinusoidal_positions(positions, self.config.hidden_size).to(embeds.dtype)

    @staticmethod
    def _cross_attention_inputs(conditions: list[TextCondition | None], query_modality: torch.Tensor):
        """Concatenate the present streams' text states; each query sees only its own modality's text."""
        present = [(i, c) for i, c in enumerate(conditions) if c is not None]
        if not present:
            return None, None
        states = torch.cat([c.states for _, c in present], dim=1)
        key_valid = torch.cat([c.mask for _, c in present], dim=1)
        key_modality = torch.cat([torch.full((c.states.shape[1],), i, device=states.device) for i, c in present])
        routing = query_modality[:, None] == key_modality[None, :]
        return states, routing[None, None] & key_valid[:, None, None, :]

    def forward(
        self,
        music_input_ids=None,
        motion_input_ids=None,
        music_condition: TextCondition | None = None,
        motion_condition: TextCondition | None = None,
        cache: UniMuMoKVCache | None = None,
        caption_mode: bool = False,
        key_valid: torch.Tensor | None = None,
    ):
        """Delayed inputs [B, K, S] per stream (None = absent) -> final hidden states (music [B,S,D], motion [B,S,D]).

        In caption mode the captioning attention is used, bidirectionally, and no text is attended to. `key_valid`
        [B, S] (both streams share it; not with a cache) leaves the invalid positions out as attention keys.
        """
        streams = [(0, music_input_ids, self.music_embed_tokens), (1, motion_input_ids, self.motion_embed_tokens)]
        streams = [(i, ids, tables) for i, ids, tables in streams if ids is not None]
        if not streams:
            raise ValueError("UniMuMoModel needs at least one of music_input_ids / motion_input_ids")
        start = cache.num_steps if cache is not None else 0
        num_steps = streams[0][1].shape[-1]
        if start + num_steps > self.config.max_position_embeddings:
            raise ValueError(
                f"{start + num_steps} delayed positions exceed max_position_embeddings "
                f"({self.config.max_position_embeddings}); raise it in the config"
            )
        hidden = torch.cat([self._embed(ids, tables, start) for _, ids, tables in streams], dim=1)
        hidden = F.dropout(hidden, p=self.config.dropout, training=self.training)
        device = hidden.device
        times = torch.arange(start, start + num_steps, device=device).repeat(len(streams))
        query_modality = torch.cat([torch.full((num_steps,), i, device=device) for i, _, _ in streams])
        num_music_tokens = num_steps if streams[0][0] == 0 else 0

        self_attn_mask = None
        if not caption_mode and num_steps > 1:
            key_times = times if cache is None else torch.cat([cache.key_times.to(device), times])
            self_attn_mask = key_times[None, :] <= times[:, None]
        if key_valid is not None:
            if cache is not None:
                raise ValueError("key_valid (padded samples) is not supported with a KV cache")
            keys = key_valid.repeat(1, len(streams))[:, None, None, :]
            self_attn_mask = keys if self_attn_mask is None else self_attn_mask & keys
        encoder_states, encoder_mask = (
            (None, None)
            if caption_mode
            else self._cross_attention_inputs(
                [
                    music_condition if music_input_ids is not None else None,
                    motion_condition if motion_input_ids is not None else None,
                ],
                query_modality,
            )
        )

        for layer in self.layers:
            hidden = layer(
                hidden,
                self_attn_mask,
                encoder_states,
                encoder_mask,
                num_music_tokens=num_music_tokens,
                cache=cache,
                caption_mode=caption_mode,
            )
        hidden = self.layer_norm(hidden)
        if cache is not None:
            cache.commit(times, num_steps)
        music_hidden = hidden[:, :num_steps] if music_input_ids is not None else None
        motion_hidden = hidden[:, num_music_tokens:] if motion_input_ids is not None else None
        return music_hidden, motion_hidden


class UniMuMoForConditionalGeneration(UniMuMoGenerationMixin, UniMuMoPreTrainedModel):
    """Text encoder + condition projection + decoder + per-modality heads + captioning head."""

    def __init__(self, config: UniMuMoConfig):
        super().__init__(config)
        self.text_encoder = T5EncoderModel(T5Config(**config.text_encoder_config))
        self.text_encoder.requires_grad_(False).eval()
        self.condition_projection = nn.Linear(config.text_hidden_size, config.hidden_size)
        self.model = UniMuMoModel(config)
        self.music_lm_heads = nn.ModuleList(
            [nn.Linear(config.hidden_size, config.codebook_size, bias=False) for _ in range(config.num_codebooks)]
        )
        self.motion_lm_heads = nn.ModuleList(
            [nn.Linear(config.hidden_size, config.codebook_size, bias=False) for _ in range(config.num_codebooks)]
        )
        self.captioning_projection = nn.Linear(config.hidden_size, config.caption_hidden_size)
        self.captioning_decoder = UniMuMoCaptionDecoder(T5Config(**config.caption_decoder_config))
        self.post_init()
        self.init_captioning_attention()

    # -- construction ------------------------------------------------------------------------------------------

    def init_captioning_attention(self) -> None:
        """Copy each block's causal self-attention into its captioning attention (how the captioning attention
        starts: at construction, and when the caption stage starts from a trained model)."""
        for layer in self.model.layers:
            params = [*layer.self_attn.parameters(), *layer.captioning_self_attn.parameters()]
            with gathered_parameters(params), torch.no_grad():
                for source, target in zip(layer.self_attn.parameters(), layer.captioning_self_attn.parameters()):
                    target.copy_(source)

    @classmethod
    def from_pretrained(cls, *args, **kwargs) -> UniMuMoForConditionalGeneration:
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded  # output_loading_info=True gives a tuple
        model.text_encoder.requires_grad_(False)  # loading materialises fresh parameters
        return loaded

    @classmethod
    def from_components(
        cls, config: UniMuMoConfig, text_model_dir: str | None = None, musicgen_dir: str | None = None
    ) -> UniMuMoForConditionalGeneration:
        """Build a model whose T5 encoder and caption decoder come from a local `T5ForConditionalGeneration` dir
        (else random from the config) and whose decoder comes from a local MusicGen dir (else random).

        A full MusicGen dir (`MusicgenForConditionalGeneration`) also supplies its text encoder and text
        projection, unless `text_model_dir` is given; the caption decoder then gets the text encoder's T5 shape
        and vocabulary."""
        return cls._build_from_components(config, text_model_dir, musicgen_dir)[0]

    @classmethod
    def _build_from_components(
        cls, config, text_model_dir, musicgen_dir
    ) -> tuple[UniMuMoForConditionalGeneration, set[str]]:
        """`from_components`, plus the names of the weights the directories filled."""
        config = copy.deepcopy(config)
        t5 = T5ForConditionalGeneration.from_pretrained(text_model_dir) if text_model_dir is not None else None
        musicgen = MusicGenParts.load(musicgen_dir) if musicgen_dir is not None else None
        if t5 is not None:
            config.text_encoder_config = t5.config.to_dict()
            config.caption_decoder_config = t5.config.to_dict()
        elif musicgen is not None and musicgen.text_encoder is not None:
            config.text_encoder_config = musicgen.text_encoder.config.to_dict()
            config.caption_decoder_config = caption_decoder_config_for(config.text_encoder_config)
        model = cls(config)
        filled: set[str] = set()
        with gathered_parameters(model.parameters()):
            if t5 is not None:
                state = t5.state_dict()
                encoder = {k: v.clone() for k, v in state.items() if k == "shared.weight" or k.startswith("encoder.")}
                decoder = {k: v for k, v in state.items() if not k.startswith("encoder.")}
                model.text_encoder.load_state_dict(encoder)
                model.captioning_decoder.load_state_dict(decoder)
                filled |= {f"text_encoder.{k}" for k in encoder} | {f"captioning_decoder.{k}" for k in decoder}
            if musicgen is not None:
                filled |= model._load_musicgen(musicgen, with_text=t5 is None)
        return model, filled

    @classmethod
    def from_musicgen(
        cls, path: str, text_model_dir: str | None = None, allow_random: Sequence[str] = (), **config_overrides
    ) -> UniMuMoForConditionalGeneration:
        """A UniMuMo LM with MusicGen's decoder shape and weights; motion parts start as copies of the music ones.

        Every weight must come from `path`, from `text_model_dir` (T5 encoder and caption decoder) or from the
        mapping of unimumo.models.musicgen_import (which names the few that start fresh by design); the others
        must match a pattern (fnmatch, e.g. "captioning_decoder.*") of `allow_random`, else UncoveredWeightsError
        names them. A decoder-only MusicGen dir has no text encoder, so it needs `text_model_dir`."""
        if text_model_dir is None and not MusicGenParts.has_text_encoder(path):
            raise ValueError(
                f"{path} is a decoder-only MusicGen (MusicgenForCausalLM): it has no text encoder; "
                "give a local T5ForConditionalGeneration directory (text_model_dir, --text-model)"
            )
        shape = config_kwargs_from_musicgen(MusicGenParts.decoder_config(path))
        shape.update(config_overrides)
        model, filled = cls._build_from_components(UniMuMoConfig(**shape), text_model_dir, path)
        check_covered(model.state_dict().keys(), filled, allow_random, source=path)
        return model

    def load_musicgen_weights(self, path: str) -> None:
        """Copy a MusicGen decoder into the music parts and, as copies, the motion parts and the captioning
        attention (plus the text projection of a full MusicGen dir, whose text encoder must match this one's)."""
        with gathered_parameters(self.parameters()):
            self._load_musicgen(MusicGenParts.load(path), with_text=False)

    def _load_musicgen(self, parts: MusicGenParts, with_text: bool) -> set[str]:
        """Load the MusicGen weights; returns the names it filled."""
        state = parts.unimumo_state_dict(self.config, with_text=with_text)
        missing, unexpected = self.load_state_dict(state, strict=False)
        if unexpected:
            raise ValueError(f"MusicGen weights without a UniMuMo counterpart: {unexpected}")
        untouched = [
            k
            for k in missing
            if self.parameter_group(k) not in ("text", "captioning") and not k.startswith("condition_projection.")
        ]
        if untouched:
            raise ValueError(f"UniMuMo decoder weights not covered by the MusicGen checkpoint: {untouched}")
        return set(state)

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None, **kwargs):
        """Activation checkpointing of every block (non-reentrant by default)."""
        self._activation_checkpointing_enable(gradient_checkpointing_kwargs, **kwargs)

    def train(self, mode: bool = True):
        super().train(mode)
        self.text_encoder.eval()  # frozen: no dropout
        return self

    # -- parameter groups ----------------------------------------------------------------------------------------

    @cached_property
    def _parameter_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.named_parameters(remove_duplicate=False))

    def parameter_group(self, param_name: str) -> str:
        """Group of a parameter name (as from named_parameters, optionally with a `module.` prefix):
        music | motion | shared | captioning | text."""
        name = param_name
        while name.startswith(("module.", "_orig_mod.")):
            name = name.split(".", 1)[1]
        if name not in self._parameter_names:
            raise KeyError(f"{param_name!r} is not a parameter of {type(self).__name__}")
        parts = name.split(".")
        if any(p.startswith("captioning_") for p in parts):
            return "captioning"
        if parts[0] == "text_encoder":
            return "text"
        for part in parts:
            for modality in MODALITIES:
                if part.startswith(modality + "_"):
                    return modality
        return "shared"

    # -- conditioning ----------------------------------------------------------------------------------------------

    def encode_text(self, text_ids, text_mask, batch_size: int, drop_probability: float = 0.0) -> TextCondition:
        """Frozen T5 + projection. Missing text (or a dropped condition) becomes one zero key that attends to
        nothing: keys/values of a zero state are zero, so cross-attention adds exactly 0 (no projection biases)."""
        if text_ids is None:
            states = torch.zeros(batch_size, 1, self.config.hidden_size, device=self.device, dtype=self.dtype)
            mask = torch.zeros(batch_size, 1, dtype=torch.bool, device=self.device)
        else:
            if text_ids.shape[0] != batch_size:
                raise ValueError(f"text ids have batch size {text_ids.shape[0]}, codes have {batch_size}")
            mask = torch.ones_like(text_ids, dtype=torch.bool) if text_mask is None else text_mask.bool()
            with torch.no_grad():
                text_states = self.text_encoder(input_ids=text_ids, attention_mask=mask.long()).last_hidden_state
            states = self.condition_projection(text_states)
        if drop_probability > 0:
            keep = torch.rand(batch_size, device=mask.device) >= drop_probability
            mask = mask & keep[:, None]
        states = states * mask[..., None].to(states.dtype)
        mask = mask.clone()
        mask[:, 0] |= ~mask.any(dim=1)
        return TextCondition(states, mask)

    # -- heads and losses --------------------------------------------------------------------------------------

    @staticmethod
    def _logits(hidden: torch.Tensor, heads: nn.ModuleList) -> torch.Tensor:
        """[B, S, D] -> [B, K, S, V]."""
        return torch.stack([head(hidden) for head in heads], dim=1)

    @staticmethod
    def _stream_loss(
        logits: torch.Tensor, codes: torch.Tensor, sample_weight: torch.Tensor | None, code_mask: torch.Tensor | None
    ):
        """Per-codebook CE averaged per sample over its real codes (`per_sample_ce`; delay padding is not among the
        undelayed logits, padded frames are not counted), then over samples, each sample counting once whatever its
        length (weighted: sum(w * ce) / sum(w); all-zero weights give a zero loss that keeps the graph)."""
        per_sample = per_sample_ce(logits, codes, code_mask)
        if sample_weight is None:
            return per_sample.mean()
        if sample_weight.shape != per_sample.shape:
            raise ValueError(
                f"loss weights must have shape [B]={list(per_sample.shape)}, got {list(sample_weight.shape)}"
            )
        weight = sample_weight.to(per_sample)
        return (per_sample * weight).sum() / weight.sum().clamp_min(1e-8)

    def _check_codes(self, music_codes, motion_codes) -> tuple[int, int]:
        shapes = {m: c.shape for m, c in zip(MODALITIES, (music_codes, motion_codes)) if c is not None}
        if not shapes:
            raise ValueError("pass music_codes and/or motion_codes")
        for modality, shape in shapes.items():
            if len(shape) != 3 or shape[1] != self.config.num_codebooks:
                raise ValueError(f"{modality}_codes must be [B, {self.config.num_codebooks}, T], got {list(shape)}")
        if len({tuple(s) for s in shapes.values()}) > 1:
            raise ValueError(f"music and motion codes must have the same shape, got {shapes}")
        shape = next(iter(shapes.values()))
        return shape[0], shape[2]

    @staticmethod
    def _code_mask(code_mask, batch_size: int, num_frames: int) -> torch.Tensor | None:
        """The checked bool code mask, or None when every frame is real (then nothing is masked: the same kernels
        and arithmetic as without a mask)."""
        if code_mask is None:
            return None
        if tuple(code_mask.shape) != (batch_size, num_frames):
            raise ValueError(f"code_mask must be [B, T]={[batch_size, num_frames]}, got {list(code_mask.shape)}")
        code_mask = code_mask.bool()
        if bool(code_mask.all()):
            return None
        if not bool(code_mask[:, 0].all()) or bool((code_mask[:, 1:] & ~code_mask[:, :-1]).any()):
            raise ValueError("code_mask must mark a non-empty prefix of every row (real frames first, then padding)")
        return code_mask

    def _delayed_inputs(self, codes: torch.Tensor, code_mask: torch.Tensor | None) -> torch.Tensor:
        """Codes [B, K, T] -> delayed [B, K, T + K] with padded frames as the special token (delay padding)."""
        special = self.config.special_token_id
        if code_mask is not None:
            codes = codes.masked_fill(~code_mask[:, None, :], special)
        return delay_codes(codes, special)

    # -- forward -------------------------------------------------------------------------------------------------

    def forward(
        self,
        music_codes=None,
        motion_codes=None,
        music_text_ids=None,
        music_text_mask=None,
        motion_text_ids=None,
        motion_text_mask=None,
        music_loss_weight=None,
        motion_loss_weight=None,
        caption_modality=None,
        caption_labels=None,
        caption_labels_mask=None,
        code_mask=None,
    ) -> UniMuMoOutput:
        """Teacher-forced LM over the given streams (None = absent), or, with `caption_modality`, the caption loss
        of that stream's codes against `caption_labels` (the LM losses are then not computed).

        `code_mask` [B, T] (True = real frame, real frames first; None = all real) marks padded samples: their
        padded frames have no loss and are attended to by nothing."""
        if caption_modality is not None:
            return self._caption_forward(
                caption_modality, music_codes, motion_codes, caption_labels, caption_labels_mask, code_mask
            )
        batch_size, num_frames = self._check_codes(music_codes, motion_codes)
        code_mask = self._code_mask(code_mask, batch_size, num_frames)
        drop = self.config.condition_dropout if self.training else 0.0
        inputs, conditions = {}, {}
        for modality, codes, ids, mask in (
            ("music", music_codes, music_text_ids, music_text_mask),
            ("motion", motion_codes, motion_text_ids, motion_text_mask),
        ):
            if codes is not None:
                inputs[modality] = self._delayed_inputs(codes, code_mask)[..., :-1]
                conditions[modality] = self.encode_text(ids, mask, batch_size, drop)
        # Padded positions come after every valid one (delay_pattern.valid_positions), so the block-causal mask
        # already keeps them from every valid query: no key mask is needed here (unlike the bidirectional caption pass).
        music_hidden, motion_hidden = self.model(
            inputs.get("music"), inputs.get("motion"), conditions.get("music"), conditions.get("motion")
        )

        output = UniMuMoOutput()
        loss = 0.0
        for modality, hidden, heads, codes, weight, config_weight in (
            ("music", music_hidden, self.music_lm_heads, music_codes, music_loss_weight, self.config.music_loss_weight),
            (
                "motion",
                motion_hidden,
                self.motion_lm_heads,
                motion_codes,
                motion_loss_weight,
                self.config.motion_loss_weight,
            ),
        ):
            if hidden is None:
                continue
            logits = undelay(self._logits(hidden, heads), num_frames)
            stream_loss = self._stream_loss(logits, codes, weight, code_mask)
            output[f"{modality}_logits"] = logits
            output[f"{modality}_loss"] = stream_loss
            loss = loss + config_weight * stream_loss
        output["loss"] = loss
        return output

    # -- captioning --------------------------------------------------------------------------------------------------

    def caption_states(self, modality: str, codes: torch.Tensor) -> torch.Tensor:
        """Codes [B, K, T] of one modality -> caption decoder inputs [B, T + K - 1, d_t5] (caption-mode pass)."""
        return self._caption_pass(modality, codes, None)[0]

    def _caption_pass(
        self, modality: str, codes: torch.Tensor, code_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`caption_states` of padded codes, and the validity of the states [B, T + K - 1] (None = all valid);
        padded positions are no attention keys of the pass either."""
        if modality not in MODALITIES:
            raise ValueError(f"caption_modality must be one of {MODALITIES}, got {modality!r}")
        if codes is None:
            raise ValueError(f"captioning {modality} needs {modality}_codes")
        batch_size, num_frames = self._check_codes(codes, None)
        code_mask = self._code_mask(code_mask, batch_size, num_frames)
        valid = None if code_mask is None else valid_positions(code_mask, self.config.num_codebooks)
        streams = {f"{modality}_input_ids": self._delayed_inputs(codes, code_mask)[..., 1:]}
        music_hidden, motion_hidden = self.model(**streams, caption_mode=True, key_valid=valid)
        return self.captioning_projection(music_hidden if modality == "music" else motion_hidden), valid

    def _caption_forward(self, modality, music_codes, motion_codes, labels, labels_mask, code_mask) -> UniMuMoOutput:
        if labels is None:
            raise ValueError("caption mode needs caption_labels")
        states, valid = self._caption_pass(modality, music_codes if modality == "music" else motion_codes, code_mask)
        if labels_mask is not None:
            labels = labels.masked_fill(~labels_mask.bool(), -100)
        out = self.captioning_decoder(
            encoder_outputs=(states,), labels=labels, attention_mask=None if valid is None else valid.long()
        )
        return UniMuMoOutput(loss=out.loss, caption_loss=out.loss, caption_logits=out.logits)
