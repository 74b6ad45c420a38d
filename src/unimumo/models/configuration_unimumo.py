"""UniMuMoConfig: the shape, loss weights and text components of the unified music-motion-text LM."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from transformers import PretrainedConfig, T5Config

from unimumo.constants import CODEBOOK_SIZE, NUM_CODEBOOKS, SPECIAL_TOKEN_ID

# A T5 small enough for unit tests; the text vocabulary matches the synthetic corpus's sentencepiece model.
_TINY_T5 = dict(
    vocab_size=1000,
    d_model=32,
    d_kv=8,
    d_ff=64,
    num_layers=2,
    num_decoder_layers=2,
    num_heads=4,
    relative_attention_num_buckets=8,
    relative_attention_max_distance=32,
    decoder_start_token_id=0,
    pad_token_id=0,
    eos_token_id=1,
)
# The t5-base shape MusicGen-small conditions on.
_T5_BASE = dict(
    vocab_size=32128,
    d_model=768,
    d_kv=64,
    d_ff=3072,
    num_layers=12,
    num_decoder_layers=12,
    num_heads=12,
    decoder_start_token_id=0,
    pad_token_id=0,
    eos_token_id=1,
)

_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        ffn_dim=128,
        max_position_embeddings=1024,
        text_encoder_config=_TINY_T5,
        caption_decoder_config=_TINY_T5,
    ),
    "small": dict(  # MusicGen-small
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        ffn_dim=4096,
        max_position_embeddings=2048,
        text_encoder_config=_T5_BASE,
        caption_decoder_config=_T5_BASE,
    ),
}


# The decoder shape: what a checkpoint (MusicGen or UniMuMo export) fixes and a preset must agree with.
SHAPE_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "ffn_dim")


def _t5_dict(config: dict | PretrainedConfig) -> dict:
    """A plain, JSON-serialisable T5 config dict (validated by building a T5Config)."""
    if isinstance(config, PretrainedConfig):
        config = config.to_dict()
    return T5Config(**config).to_dict()


def caption_decoder_config_for(text_encoder_config: dict | PretrainedConfig) -> dict:
    """The T5 (encoder-decoder) config of a caption decoder that shares the text encoder's vocabulary and shape."""
    values = _t5_dict(text_encoder_config)
    values.update(is_encoder_decoder=True, is_decoder=False, use_cache=True, architectures=None)
    return _t5_dict(values)


class UniMuMoConfig(PretrainedConfig):
    r"""Configuration of [`UniMuMoForConditionalGeneration`].

    Args:
        hidden_size, num_hidden_layers, num_attention_heads, ffn_dim: decoder shape (MusicGen naming).
        max_position_embeddings: longest delayed stream (time steps + codebooks) the positions are meant for.
        num_codebooks, codebook_size, special_token_id: code layout of both streams (4 x 2048, filler 2048).
        expert_layers: indices of the blocks that hold a music and a motion FFN expert; `None` means every block.
            The other blocks have one FFN shared by both modalities.
        text_encoder_config: T5 config (dict) of the frozen text encoder.
        caption_decoder_config: T5 config (dict) of the caption decoder (a `T5ForConditionalGeneration` decoder).
        music_loss_weight, motion_loss_weight: weights of the per-modality losses in the total loss. The trainer
            writes them from its recipe (loss.music_weight / loss.motion_weight) when it builds the model, so an
            export's forward loss weighs the streams as its training did.
        condition_dropout: probability, per sample and per modality, of dropping the text condition in training
            (classifier-free guidance).
    """

    model_type: ClassVar[str] = "unimumo"

    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    ffn_dim: int = 4096
    max_position_embeddings: int = 2048
    activation_function: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    initializer_range: float = 0.02
    num_codebooks: int = NUM_CODEBOOKS
    codebook_size: int = CODEBOOK_SIZE
    special_token_id: int = SPECIAL_TOKEN_ID
    expert_layers: list[int] | None = None
    text_encoder_config: dict | None = None
    caption_decoder_config: dict | None = None
    music_loss_weight: float = 0.85
    motion_loss_weight: float = 0.15
    condition_dropout: float = 0.1
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        self.text_encoder_config = _t5_dict(self.text_encoder_config or _TINY_T5)
        self.caption_decoder_config = _t5_dict(
            self.caption_decoder_config or caption_decoder_config_for(self.text_encoder_config)
        )
        if self.expert_layers is None:
            self.expert_layers = list(range(self.num_hidden_layers))
        self.expert_layers = sorted({int(i) for i in self.expert_layers})
        super().__post_init__(**kwargs)
        self._validate()

    def _validate(self) -> None:
        problems = []
        if self.hidden_size % self.num_attention_heads:
            problems.append(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if (self.hidden_size // self.num_attention_heads) % 2:
            problems.append("the head dimension must be even")
        if self.hidden_size % 2:
            problems.append("hidden_size must be even (sinusoidal positions)")
        if self.special_token_id != self.codebook_size:
            problems.append(
                f"special_token_id ({self.special_token_id}) must equal codebook_size "
                f"({self.codebook_size}): embedding tables hold codebook_size + 1 rows"
            )
        bad = [i for i in self.expert_layers if not 0 <= i < self.num_hidden_layers]
        if bad:
            problems.append(f"expert_layers {bad} are outside 0..{self.num_hidden_layers - 1}")
        for name in ("music_loss_weight", "motion_loss_weight"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        if not 0.0 <= self.condition_dropout <= 1.0:
            problems.append(f"condition_dropout must be in [0, 1], got {self.condition_dropout}")
        text_vocab, caption_vocab = self.text_encoder_config["vocab_size"], self.caption_decoder_config["vocab_size"]
        if text_vocab != caption_vocab:
            problems.append(
                f"the caption decoder's vocabulary ({caption_vocab}) must be the text encoder's "
                f"({text_vocab}): both read and write one T5 tokenizer's ids"
            )
        if min(self.num_hidden_layers, self.num_codebooks, self.ffn_dim) < 1:
            problems.append("num_hidden_layers, num_codebooks and ffn_dim must be >= 1")
        if problems:
            raise ValueError("Invalid UniMuMoConfig: " + "; ".join(problems))

    @property
    def text_hidden_size(self) -> int:
        return self.text_encoder_config["d_model"]

    @property
    def caption_hidden_size(self) -> int:
        return self.caption_decoder_config["d_model"]

    @property
    def shape(self) -> dict[str, int]:
        """The decoder shape (SHAPE_KEYS)."""
        return {key: getattr(self, key) for key in SHAPE_KEYS}

    @classmethod
    def preset(cls, name: str, **overrides) -> UniMuMoConfig:
        """`tiny` (unit tests) or `small` (MusicGen-small shape with a t5-base text encoder), plus overrides."""
        if name not in _PRESETS:
            raise ValueError(f"Unknown UniMuMoConfig preset {name!r}; choose one of {sorted(_PRESETS)}")
        values = copy.deepcopy(_PRESETS[name])
        values.update(overrides)
        return cls(**values)
