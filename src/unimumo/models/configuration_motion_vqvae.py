"""Configuration of the motion VQ-VAE: the independent motion tokenizer, or (`codebook="music"`) the published
variant that quantises motion with the frozen codebooks of the music codec (models/motion_vqvae_music.py)."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from transformers import PretrainedConfig

from unimumo.constants import CODE_RATE, CODEBOOK_SIZE, MOTION_FEATURE_DIM, NUM_CODEBOOKS

CODEBOOKS = ("independent", "music")  # model.codebook in the motion_vqvae recipe

_PRESETS: dict[str, dict[str, Any]] = {
    # Reference size (T2M-GPT-like width) with the UniMuMo 4 x 2048 residual codebook.
    "base": dict(hidden_size=512, code_dim=512, num_res_blocks=3, downsample_layers=1),
    # Tests and demos: a small network that keeps the real 4 x 2048 code space.
    "tiny": dict(hidden_size=32, code_dim=16, num_res_blocks=2, downsample_layers=1),
}


class MotionVQVAEConfig(PretrainedConfig):
    r"""Configuration of [`MotionVQVAE`].

    The encoder sees features at `frame_rate` = `code_rate` * 2**`downsample_layers` Hz and emits
    one code vector per 2**`downsample_layers` frames, i.e. `code_rate` codes per second.

    Args:
        feature_dim: width of a motion feature frame (HumanML3D: 263).
        hidden_size: channels of the convolutional encoder/decoder.
        code_dim: dimension of a codebook entry.
        num_codebooks, codebook_size: residual quantiser levels and entries per level.
        num_res_blocks: dilated residual blocks per resolution (dilation grows by `dilation_growth`).
        downsample_layers: stride-2 stages between the input rate and the code rate.
        code_rate: codes per second (50, aligned 1:1 with the music codec).
        commitment_weight: weight of the commitment loss in `loss`.
        ema_decay: decay of the EMA codebook statistics.
        dead_code_threshold: a code whose EMA usage (vectors per step) falls below this is restarted
            from a random encoder output of the current batch.
        codebook: `independent` (its own EMA codebooks, `MotionVQVAE`) or `music` (the frozen residual codebooks
            and SEANet encoder of the music codec, `MusicCodebookMotionVQVAE`: motion code k means music code k).
        music_codec_config: with `codebook="music"`, the `EncodecConfig` (as a dict) of that codec; its latent
            width is `code_dim`.
        mix_multiplier: with `codebook="music"`, the width multiplier of the convolution stacks that mix the music
            features into the motion latents before the quantiser and after it (the authors' 4).
    """

    model_type: ClassVar[str] = "unimumo_motion_vqvae"

    feature_dim: int = MOTION_FEATURE_DIM
    hidden_size: int = 512
    code_dim: int = 512
    num_codebooks: int = NUM_CODEBOOKS
    codebook_size: int = CODEBOOK_SIZE
    num_res_blocks: int = 3
    dilation_growth: int = 3
    downsample_layers: int = 1
    code_rate: int = CODE_RATE
    commitment_weight: float = 0.02
    ema_decay: float = 0.99
    dead_code_threshold: float = 1.0
    codebook: str = "independent"
    music_codec_config: dict | None = None
    mix_multiplier: int = 4

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self._validate()

    def _validate(self) -> None:
        problems = []
        for name in (
            "feature_dim",
            "hidden_size",
            "code_dim",
            "num_codebooks",
            "codebook_size",
            "num_res_blocks",
            "dilation_growth",
            "code_rate",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.downsample_layers, int) or self.downsample_layers < 0:
            problems.append(f"downsample_layers must be a non-negative integer, got {self.downsample_layers!r}")
        if not 0.0 < float(self.ema_decay) < 1.0:
            problems.append(f"ema_decay must be in (0, 1), got {self.ema_decay!r}")
        if float(self.commitment_weight) < 0 or float(self.dead_code_threshold) < 0:
            problems.append(
                "commitment_weight and dead_code_threshold must be >= 0, got "
                f"{self.commitment_weight!r} and {self.dead_code_threshold!r}"
            )
        problems += self._music_codebook_problems()
        if problems:
            raise ValueError("invalid MotionVQVAEConfig: " + "; ".join(problems))

    def _music_codebook_problems(self) -> list[str]:
        if self.codebook not in CODEBOOKS:
            return [f"codebook must be one of {', '.join(CODEBOOKS)}, got {self.codebook!r}"]
        if self.codebook == "independent":
            return []
        if not isinstance(self.mix_multiplier, int) or isinstance(self.mix_multiplier, bool) or self.mix_multiplier < 1:
            return [f"mix_multiplier must be a positive integer, got {self.mix_multiplier!r}"]
        codec = self.music_codec_config
        if not isinstance(codec, dict):
            return ["codebook='music' needs music_codec_config (the music codec's EncodecConfig as a dict)"]
        width = codec.get("codebook_dim") or codec.get("hidden_size")
        problems = []
        if width != self.code_dim or codec.get("hidden_size", width) != width:
            problems.append(
                f"code_dim {self.code_dim} must be the music codec's latent width (codebook_dim "
                f"{codec.get('codebook_dim')}, hidden_size {codec.get('hidden_size')})"
            )
        if codec.get("codebook_size") != self.codebook_size:
            problems.append(
                f"codebook_size {self.codebook_size} must be the music codec's ({codec.get('codebook_size')})"
            )
        if codec.get("audio_channels", 1) != 1 or codec.get("normalize", False):
            problems.append("the music codec must be mono and unnormalised (audio_channels 1, normalize false)")
        return problems

    @property
    def music_hop(self) -> int:
        """Waveform samples of the music codec per code step (`codebook="music"`)."""
        return int(self.music_codec_config["sampling_rate"]) // self.code_rate

    @property
    def frames_per_code(self) -> int:
        return 2**self.downsample_layers

    @property
    def frame_rate(self) -> int:
        """Rate (Hz) of the feature frames the network sees."""
        return self.code_rate * self.frames_per_code

    @classmethod
    def preset(cls, name: str, **overrides) -> MotionVQVAEConfig:
        """`base` (the reference size) or `tiny` (tests and demos), plus overrides; with `codebook="music"` a
        `MusicCodebookMotionVQVAEConfig`."""
        if name not in _PRESETS:
            raise ValueError(f"unknown MotionVQVAEConfig preset {name!r}; choose one of {sorted(_PRESETS)}")
        values = copy.deepcopy(_PRESETS[name])
        values.update(overrides)
        return config_class(values.get("codebook", cls.codebook))(**values)


class MusicCodebookMotionVQVAEConfig(MotionVQVAEConfig):
    r"""[`MotionVQVAEConfig`] of the music-codebook variant (`codebook="music"`, `MusicCodebookMotionVQVAE`).

    The same fields; its own `model_type`, so that a saved one loads through `AutoConfig` / `AutoModel` as that
    variant (`register_auto_classes`).
    """

    model_type: ClassVar[str] = "unimumo_motion_vqvae_music"

    codebook: str = "music"

    def _music_codebook_problems(self) -> list[str]:
        if self.codebook != "music":
            return [f"codebook must be 'music' in the music-codebook variant's config, got {self.codebook!r}"]
        return super()._music_codebook_problems()


def config_class(codebook: str) -> type[MotionVQVAEConfig]:
    """The config class of a `codebook` value: `MusicCodebookMotionVQVAEConfig` for "music", else
    `MotionVQVAEConfig` (which refuses an unknown value)."""
    return MusicCodebookMotionVQVAEConfig if codebook == "music" else MotionVQVAEConfig
