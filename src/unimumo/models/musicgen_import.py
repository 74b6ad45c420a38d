"""Import of a local transformers MusicGen checkpoint into UniMuMo parameter names.

A decoder-only dir (`MusicgenForCausalLM`, model_type "musicgen_decoder") gives the decoder; a full dir
(`MusicgenForConditionalGeneration`, "musicgen") also gives its T5 text encoder and text projection. Music
embeddings, heads, attention, cross-attention and FFNs are copied; the motion embeddings, heads and FFN experts
and each block's captioning attention start as copies of the music / causal ones.

The mapping leaves only `FRESH_BY_DESIGN` random: UniMuMo's own captioning projection, which no MusicGen or T5
checkpoint has. Everything else must come from a checkpoint (the T5 caption decoder from a T5 directory) or be
allowed to start random explicitly (`check_covered`, --allow-random-init).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

import torch
from torch import nn
from transformers import (
    MusicgenConfig,
    MusicgenDecoderConfig,
    MusicgenForCausalLM,
    MusicgenForConditionalGeneration,
    PretrainedConfig,
)

from unimumo.errors import UniMuMoError
from unimumo.models.configuration_unimumo import UniMuMoConfig

# weights no pretrained checkpoint has: the projection of UniMuMo states into the caption decoder
FRESH_BY_DESIGN = ("captioning_projection.*",)


class UncoveredWeightsError(UniMuMoError, ValueError):
    """Weights that neither the checkpoint(s) nor the documented mapping fill, and that may not start random."""

    kind = "initialisation error"


def check_covered(names: Iterable[str], filled: Iterable[str], allow_random: Sequence[str], source: str) -> None:
    """Raise UncoveredWeightsError naming every weight of `names` not in `filled` that matches neither
    FRESH_BY_DESIGN nor a pattern of `allow_random` (fnmatch)."""
    filled = set(filled)
    patterns = (*FRESH_BY_DESIGN, *allow_random)
    uncovered = sorted(n for n in names if n not in filled and not any(fnmatchcase(n, p) for p in patterns))
    if uncovered:
        shown = ", ".join(uncovered[:12]) + (f" ... ({len(uncovered)} in all)" if len(uncovered) > 12 else "")
        raise UncoveredWeightsError(
            f"{source}: these weights would start random (neither the checkpoint nor the mapping fills them): "
            f"{shown}. Give the missing checkpoint (e.g. a T5 directory for the text encoder and caption decoder) "
            "or allow them to start random on purpose with a pattern (--allow-random-init 'captioning_decoder.*')"
        )


def config_kwargs_from_musicgen(decoder_config: MusicgenDecoderConfig) -> dict:
    """UniMuMoConfig fields that reproduce a MusicGen decoder's shape."""
    return dict(
        hidden_size=decoder_config.hidden_size,
        num_hidden_layers=decoder_config.num_hidden_layers,
        num_attention_heads=decoder_config.num_attention_heads,
        ffn_dim=decoder_config.ffn_dim,
        max_position_embeddings=decoder_config.max_position_embeddings,
        activation_function=decoder_config.activation_function,
        dropout=decoder_config.dropout,
        attention_dropout=decoder_config.attention_dropout,
        activation_dropout=decoder_config.activation_dropout,
        num_codebooks=decoder_config.num_codebooks,
        codebook_size=decoder_config.vocab_size,
        special_token_id=decoder_config.vocab_size,
    )


@dataclass
class MusicGenParts:
    """The pieces of a local MusicGen checkpoint that UniMuMo reuses."""

    decoder: MusicgenForCausalLM
    text_encoder: nn.Module | None = None  # only in a full MusicGen dir
    enc_to_dec_proj: nn.Linear | None = None  # absent when the text width already equals the decoder width

    @staticmethod
    def _model_type(path: str) -> str:
        model_type = PretrainedConfig.get_config_dict(path)[0].get("model_type")
        if model_type not in ("musicgen", "musicgen_decoder"):
            raise ValueError(f"{path} holds a {model_type!r} model, not a MusicGen (musicgen / musicgen_decoder) one")
        return model_type

    @classmethod
    def has_text_encoder(cls, path: str) -> bool:
        """A full MusicGen dir (with a text encoder) rather than a decoder-only one."""
        return cls._model_type(path) == "musicgen"

    @classmethod
    def decoder_config(cls, path: str) -> MusicgenDecoderConfig:
        if cls._model_type(path) == "musicgen":
            return MusicgenConfig.from_pretrained(path).decoder
        return MusicgenDecoderConfig.from_pretrained(path)

    @classmethod
    def load(cls, path: str) -> MusicGenParts:
        """The parts of the MusicGen checkpoint at `path`; raises UncoveredWeightsError naming any weight of them
        the checkpoint lacks (transformers would initialise it randomly)."""
        full = cls._model_type(path) == "musicgen"
        model_class = MusicgenForConditionalGeneration if full else MusicgenForCausalLM
        model, info = model_class.from_pretrained(path, output_loading_info=True)
        problems = [*info.get("missing_keys", ()), *(str(key) for key in info.get("mismatched_keys", ()))]
        problems = sorted(key for key in problems if not key.startswith("audio_encoder."))  # EnCodec is not used
        if problems:
            raise UncoveredWeightsError(
                f"{path}: the MusicGen checkpoint lacks weights (or holds them in another shape): {', '.join(problems)}"
            )
        if full:
            return cls(model.decoder, model.text_encoder, getattr(model, "enc_to_dec_proj", None))
        return cls(model)

    def text_projection(self) -> dict[str, torch.Tensor]:
        """State of UniMuMo's condition projection equivalent to MusicGen's (identity when it has none)."""
        if self.enc_to_dec_proj is not None:
            return self.enc_to_dec_proj.state_dict()
        width = self.decoder.config.hidden_size
        return {"weight": torch.eye(width), "bias": torch.zeros(width)}

    def unimumo_state_dict(self, config: UniMuMoConfig, with_text: bool) -> dict[str, torch.Tensor]:
        """UniMuMo-named tensors (text encoder included only if `with_text` and this is a full MusicGen)."""
        decoder_config = self.decoder.config
        if decoder_config.scale_embedding or decoder_config.audio_channels != 1:
            raise ValueError("only mono MusicGen checkpoints without embedding scaling are supported")
        mine = (
            config.num_codebooks,
            config.codebook_size,
            config.hidden_size,
            config.num_hidden_layers,
            config.ffn_dim,
        )
        theirs = (
            decoder_config.num_codebooks,
            decoder_config.vocab_size,
            decoder_config.hidden_size,
            decoder_config.num_hidden_layers,
            decoder_config.ffn_dim,
        )
        if mine != theirs:
            raise ValueError(
                f"MusicGen (codebooks, vocab, width, layers, ffn) {theirs} has a different shape than "
                f"this UniMuMo config {mine}"
            )
        state = {}
        for name, tensor in self.decoder.state_dict().items():
            for target in unimumo_names(name, config.expert_layers):
                state[target] = tensor
        if self.text_encoder is not None:
            if self.text_encoder.config.d_model != config.text_hidden_size:
                raise ValueError("MusicGen's text encoder width does not match this model's text encoder")
            state.update({f"condition_projection.{k}": v for k, v in self.text_projection().items()})
            if with_text:
                state.update({f"text_encoder.{k}": v for k, v in self.text_encoder.state_dict().items()})
        return state


def unimumo_names(name: str, expert_layers: list[int]) -> list[str]:
    """UniMuMo parameter names that start as a copy of MusicgenForCausalLM parameter `name`."""
    if name.startswith("lm_heads."):
        return [f"music_{name}", f"motion_{name}"]
    name = name.removeprefix("model.decoder.")
    if name.startswith("embed_tokens."):
        return [f"model.music_{name}", f"model.motion_{name}"]
    if name.startswith("layer_norm."):
        return [f"model.{name}"]
    if not name.startswith("layers."):
        raise ValueError(f"unexpected MusicGen parameter {name!r}")
    _, index, rest = name.split(".", 2)
    prefix = f"model.layers.{index}."
    if rest.startswith("self_attn."):
        return [prefix + rest, prefix + "captioning_" + rest]
    if rest.startswith(("self_attn_layer_norm.", "encoder_attn.", "encoder_attn_layer_norm.")):
        return [prefix + rest]
    module, leaf = rest.split(".", 1)
    ffn_module = {"fc1": "fc1", "fc2": "fc2", "final_layer_norm": "layer_norm"}[module]
    experts = ("music_ffn", "motion_ffn") if int(index) in expert_layers else ("ffn",)
    return [f"{prefix}{expert}.{ffn_module}.{leaf}" for expert in experts]
