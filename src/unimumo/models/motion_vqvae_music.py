"""Motion VQ-VAE in the music code space: the published UniMuMo motion tokenizer (`codebook="music"`).

The authors' design (hanyangclarence/UniMuMo, unimumo/models/motion_vqvae.py): the music codec's SEANet
encoder and residual quantiser are taken from the EnCodec checkpoint and frozen. Motion goes through a
convolutional encoder to the codec's latent width at the code rate, is concatenated with the music encoder's
features of the paired music, mixed by a small convolution stack (widths x `mix_multiplier`) whose output is
added to the motion latents, and quantised by the frozen RVQ: motion code k at level l is music code k at
level l, the same vector. The decoder sees the quantised motion plus a second mixing stack over it and the
quantised music features. Loss: masked MSE on normalised features + `commitment_weight` (0.02) x commitment.

Here the motion encoder and decoder are the independent VQ-VAE's (`MotionEncoder` / `MotionDecoder`: features
at `frame_rate`, stride-2 stages to 50 Hz) with `code_dim` = the codec's latent width. Music is a mono waveform
at the codec's sampling rate, `music_hop` samples per code step; music shorter than the motion is padded with
silence, longer music is cut. No music (motion encoded alone, dance -> music) means silence, as the authors'
`encode_motion` does; decoding without music codes uses the quantised features of silence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import EncodecConfig
from transformers.models.encodec.modeling_encodec import EncodecConv1d, EncodecEncoder

from unimumo.models.configuration_motion_vqvae import MotionVQVAEConfig, MusicCodebookMotionVQVAEConfig
from unimumo.models.motion_vqvae import MotionDecoder, MotionEncoder, MotionVQVAE, MotionVQVAEOutput
from unimumo.motion.reconstruction_error import feature_mpjpe_mm

__all__ = ["MusicCodebookMotionVQVAE", "MusicMixer", "motion_vqvae_class", "saved_config"]

MUSIC_CODEC_GROUP = "music_codec"  # frozen: the codec's SEANet encoder (its codebooks are buffers)


class MusicMixer(nn.Module):
    """[music; motion] (2D channels) -> D: 1x1, ELU, k3 (x mult), ELU, k3, ELU, 1x1; masked like the encoder."""

    def __init__(self, width: int, multiplier: int):
        super().__init__()
        joint = 2 * width
        self.convs = nn.ModuleList(
            [
                nn.Conv1d(joint, joint, 1),
                nn.Conv1d(joint, joint * multiplier, 3, padding=1),
                nn.Conv1d(joint * multiplier, joint, 3, padding=1),
                nn.Conv1d(joint, width, 1),
            ]
        )

    def forward(self, music: torch.Tensor, motion: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.cat((music, motion), dim=1) * mask
        for index, conv in enumerate(self.convs):
            x = conv(x) * mask
            if index < len(self.convs) - 1:
                x = F.elu(x)
        return x


class MusicCodebookMotionVQVAE(MotionVQVAE):
    """HumanML3D features (+ the paired music) <-> codes of the music codec's frozen codebooks.

    Shares `MotionVQVAE`'s normalisation, masks and tokenizer API (`encode`, `decode`, `forward`), each with the
    pair's music: a waveform [B,S] (`music`) to encode, music codes [B,K,T] (`music_codes`) to decode.
    """

    config_class = MusicCodebookMotionVQVAEConfig

    def __init__(self, config: MotionVQVAEConfig):
        if config.codebook != "music":
            raise ValueError(f"MusicCodebookMotionVQVAE needs codebook='music', config has {config.codebook!r}")
        if not isinstance(config, MusicCodebookMotionVQVAEConfig):  # held (and saved) as the variant's config class
            config = MusicCodebookMotionVQVAEConfig.from_dict(
                {k: v for k, v in config.to_dict().items() if k != "model_type"}
            )
        super(MotionVQVAE, self).__init__(config)  # MotionVQVAE's own quantiser (EMA codebooks) is not built
        codec = EncodecConfig(**{k: v for k, v in config.music_codec_config.items() if k != "model_type"})
        self.encoder = MotionEncoder(config)
        self.decoder = MotionDecoder(config)
        self.music_encoder = EncodecEncoder(codec).requires_grad_(False)
        self.register_buffer("codebooks", torch.zeros(config.num_codebooks, config.codebook_size, config.code_dim))
        self.pre_mix = MusicMixer(config.code_dim, config.mix_multiplier)
        self.post_mix = MusicMixer(config.code_dim, config.mix_multiplier)
        self.register_buffer("feature_mean", torch.zeros(config.feature_dim))
        self.register_buffer("feature_std", torch.ones(config.feature_dim))
        self.post_init()

    @classmethod
    def from_music_codec(cls, config: MotionVQVAEConfig, codec_model) -> MusicCodebookMotionVQVAE:
        """A fresh model whose music encoder and codebooks are `codec_model`'s (a transformers EncodecModel),
        copied bit for bit; `config` gets the codec's config and latent width."""
        codec_config = codec_model.config.to_dict()
        config = MusicCodebookMotionVQVAEConfig(
            **{
                **{k: v for k, v in config.to_dict().items() if k != "model_type"},
                "codebook": "music",
                "music_codec_config": codec_config,
                "code_dim": codec_model.config.codebook_dim,
            }
        )
        model = cls(config)
        layers = codec_model.quantizer.layers
        if len(layers) < config.num_codebooks:
            raise ValueError(
                f"the music codec has {len(layers)} quantiser levels, the motion tokenizer needs {config.num_codebooks}"
            )
        with torch.no_grad():
            model.music_encoder.load_state_dict(codec_model.encoder.state_dict())
            for level in range(config.num_codebooks):
                model.codebooks[level].copy_(layers[level].codebook.embed)
        return model

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, EncodecConv1d):  # its padding arithmetic lives in non-persistent buffers
            kernel = (module.conv.kernel_size[0] - 1) * module.conv.dilation[0] + 1
            module.stride.fill_(module.conv.stride[0])
            module.kernel_size.fill_(kernel)
            module.padding_total.fill_(kernel - module.conv.stride[0])

    def parameter_group(self, name: str) -> str:
        """`music_codec` (frozen) for the codec's encoder, `motion` for everything the VQ-VAE trains."""
        return MUSIC_CODEC_GROUP if name.startswith("music_encoder.") else "motion"

    def train(self, mode: bool = True):
        super().train(mode)
        self.music_encoder.eval()  # frozen
        return self

    # -- the frozen music side ---------------------------------------------------------------
    def _quantize(self, latents: torch.Tensor, mask: torch.Tensor | None = None):
        """Latents [B,D,T] -> (straight-through quantised [B,D,T], codes [B,K,T], commitment loss over the steps
        `mask` [B,1,T] keeps): the nearest codebook row of each level's residual, as EnCodec's RVQ."""
        residual = latents.transpose(1, 2)
        weight = (torch.ones_like(residual[..., :1]) if mask is None else mask.transpose(1, 2)).to(residual.dtype)
        count = (weight.sum() * residual.shape[-1]).clamp(min=1.0)
        quantized = torch.zeros_like(residual)
        codes, commit = [], latents.new_zeros(())
        for codebook in self.codebooks:
            # EnCodec's own arithmetic (flattened steps, the transposed codebook, max of the negated distance), so
            # the codes equal the codec's bit for bit on any CPU, not only up to near-ties
            flat, embed = residual.reshape(-1, residual.shape[-1]), codebook.t()
            negated = -(flat.pow(2).sum(1, keepdim=True) - 2 * flat @ embed + embed.pow(2).sum(0, keepdim=True))
            index = negated.max(dim=-1).indices.reshape(residual.shape[:-1])
            chosen = codebook[index]
            commit = commit + ((residual - chosen.detach()).pow(2) * weight).sum() / count
            residual = residual - chosen.detach()
            quantized = quantized + chosen
            codes.append(index)
        quantized = latents.transpose(1, 2) + (quantized - latents.transpose(1, 2)).detach()
        return quantized.transpose(1, 2), torch.stack(codes, dim=1), commit

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [B,K,T] -> the sum of their codebook rows [B,D,T]."""
        return sum(self.codebooks[level][codes[:, level]] for level in range(codes.shape[1])).transpose(1, 2)

    @torch.no_grad()
    def music_features(self, music: torch.Tensor | None, batch: int, steps: int) -> torch.Tensor:
        """The music encoder's latents [B,D,steps] of waveforms [B,S] (None: silence), cut or padded with silence
        to `steps` code steps."""
        samples = steps * self.config.music_hop
        if music is None:
            music = self.codebooks.new_zeros(batch, samples)
        music = F.pad(music.to(self.codebooks.dtype), (0, max(0, samples - music.shape[-1])))[..., :samples]
        return self.music_encoder(music[:, None])[..., :steps]

    def quantized_music(self, music_codes: torch.Tensor | None, batch: int, steps: int) -> torch.Tensor:
        """Quantised music features [B,D,steps] of music codes [B,K,T] (None: those of silence)."""
        if music_codes is None:
            return self._quantize(self.music_features(None, batch, steps))[0]
        music_codes = F.pad(music_codes, (0, max(0, steps - music_codes.shape[-1])))[..., :steps]
        return self.lookup(music_codes)

    # -- encoder / decoder ---------------------------------------------------------------------
    def _latents(self, features, mask, music):
        padded, masks = self._pad_and_masks(features, mask)
        motion = self.encoder(padded.transpose(1, 2), masks)
        batch, _, steps = motion.shape
        music_latents = self.music_features(music, batch, steps) * masks[-1]
        return motion + self.pre_mix(music_latents, motion, masks[-1]), music_latents, masks

    def _decode(self, quantized, music_quantized, masks):
        mixed = (quantized + self.post_mix(music_quantized, quantized, masks[-1])) * masks[-1]
        return self.decoder(mixed, masks).transpose(1, 2)

    @torch.no_grad()
    def encode(
        self, features: torch.Tensor, mask: torch.Tensor | None = None, music: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Normalised features [B,N,C] (+ waveforms [B,S]; None: silence) -> codes [B,K,T] (0 where masked out)."""
        latents, _, masks = self._latents(features, mask, music)
        _, codes, _ = self._quantize(latents)
        return codes * masks[-1].long()

    @torch.no_grad()
    def decode(
        self, codes: torch.Tensor, mask: torch.Tensor | None = None, music_codes: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Codes [B,K,T] (+ the pair's music codes [B,K,T]; None: silence) -> normalised features
        [B,T*frames_per_code,C]; `mask` [B,T] marks valid steps."""
        batch, _, steps = codes.shape
        masks = self._code_masks(codes, mask)
        music = self.quantized_music(music_codes, batch, steps) * masks[-1]
        return self._decode(self.lookup(codes) * masks[-1], music, masks)

    # -- training --------------------------------------------------------------------------------
    def forward(
        self, features: torch.Tensor, mask: torch.Tensor | None = None, music: torch.Tensor | None = None
    ) -> MotionVQVAEOutput:
        """Reconstruct normalised features [B,N,C] given the paired music waveforms [B,S] (None: silence)."""
        length = features.shape[1]
        latents, music_latents, masks = self._latents(features, mask, music)
        quantized, codes, commit = self._quantize(latents * masks[-1], masks[-1])
        music_quantized = self._quantize(music_latents)[0].detach() * masks[-1]
        reconstruction = self._decode(quantized * masks[-1], music_quantized, masks)[:, :length]
        frame_mask = masks[0].squeeze(1)[:, :length].unsqueeze(-1)
        squared_error = (reconstruction - features).pow(2) * frame_mask
        recon_loss = squared_error.sum() / (frame_mask.sum() * self.config.feature_dim).clamp(min=1.0)
        loss = recon_loss + self.config.commitment_weight * commit
        with torch.no_grad():
            mpjpe = feature_mpjpe_mm(
                self.denormalize(reconstruction), self.denormalize(features), frame_mask.squeeze(-1) > 0
            )
            valid = masks[-1].squeeze(1).bool()
            perplexity = codes.new_zeros((), dtype=torch.float32)
            for level in range(codes.shape[1]):
                usage = torch.bincount(codes[:, level][valid], minlength=self.config.codebook_size).float()
                probs = usage / usage.sum().clamp(min=1.0)
                perplexity = perplexity + torch.exp(-(probs * torch.log(probs.clamp(min=1e-10))).sum())
        return MotionVQVAEOutput(
            loss=loss,
            recon_loss=recon_loss,
            commit_loss=commit,
            perplexity=perplexity / codes.shape[1],
            dead_codes=torch.zeros((), dtype=torch.long, device=codes.device),  # frozen codebooks: never restarted
            mpjpe_mm=mpjpe,
            reconstruction=reconstruction,
            codes=codes * masks[-1].long(),
        )


def motion_vqvae_class(config: MotionVQVAEConfig) -> type[MotionVQVAE]:
    """The model class of a motion VQ-VAE config: `MotionVQVAE` (independent) or `MusicCodebookMotionVQVAE`."""
    return MusicCodebookMotionVQVAE if config.codebook == "music" else MotionVQVAE


def saved_config(path) -> MotionVQVAEConfig:
    """The motion VQ-VAE config saved in directory `path`, as its variant's class (AutoConfig, by model_type);
    ValueError naming the file when it describes another model."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    if not isinstance(config, MotionVQVAEConfig):
        raise ValueError(
            f"{path}/config.json: describes a {config.model_type!r} model, not a motion tokenizer "
            f"({MotionVQVAEConfig.model_type} or {MusicCodebookMotionVQVAEConfig.model_type})"
        )
    return config
