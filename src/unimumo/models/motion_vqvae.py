"""Motion VQ-VAE: the independent motion tokenizer (HumanML3D features <-> 4 x 2048 codes at 50 Hz).

A 1-D convolutional encoder with dilated residual blocks maps normalised feature frames at
`config.frame_rate` to one latent vector per code step; a residual vector quantiser with EMA
codebooks turns each latent into `num_codebooks` code ids; a mirrored decoder maps the quantised
latents back to feature frames. The model takes no music input.

Ragged batches: `mask` marks valid frames; every convolution sees zeros outside the valid
frames, exactly like the zero padding of a clip encoded on its own, so a clip gets the same
codes alone or in a batch. The feature mean/std used for normalisation are buffers of the model,
so they are saved, loaded and fingerprinted with the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from unimumo.models.configuration_motion_vqvae import MotionVQVAEConfig
from unimumo.models.motion_quantizer import ResidualVectorQuantizer
from unimumo.motion.reconstruction_error import feature_mpjpe_mm

__all__ = ["MotionVQVAEConfig", "MotionVQVAE", "MotionVQVAEOutput"]


@dataclass
class MotionVQVAEOutput(ModelOutput):
    loss: torch.Tensor | None = None  # recon_loss + commitment_weight * commit_loss
    recon_loss: torch.Tensor | None = None  # masked MSE on normalised features
    commit_loss: torch.Tensor | None = None
    perplexity: torch.Tensor | None = None  # mean over levels of exp(entropy of code usage in the batch)
    dead_codes: torch.Tensor | None = None  # training: codes (all levels) restarted this step for low EMA usage
    mpjpe_mm: torch.Tensor | None = None  # joints recovered from reconstruction vs input, mm (no gradient)
    reconstruction: torch.Tensor | None = None  # [B,N,feature_dim] normalised
    codes: torch.Tensor | None = None  # [B,K,T] long, T = ceil(N / frames_per_code)


class MotionResBlock(nn.Module):
    """Pre-activation residual block: ReLU, dilated kernel-3 conv, ReLU, 1x1 conv, plus the input."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.dilated = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.pointwise = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.dilated(F.relu(x) * mask)
        return x + self.pointwise(F.relu(hidden))


class MotionResStack(nn.Module):
    """Residual blocks with dilations 1, g, g^2, ... (reversed in the decoder)."""

    def __init__(self, channels: int, depth: int, growth: int, reverse: bool = False):
        super().__init__()
        dilations = [growth**i for i in range(depth)]
        self.blocks = nn.ModuleList(MotionResBlock(channels, d) for d in (dilations[::-1] if reverse else dilations))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return x


class MotionEncoder(nn.Module):
    def __init__(self, config: MotionVQVAEConfig):
        super().__init__()
        width = config.hidden_size
        self.conv_in = nn.Conv1d(config.feature_dim, width, 3, padding=1)
        self.downsamples = nn.ModuleList(
            nn.Conv1d(width, width, 4, stride=2, padding=1) for _ in range(config.downsample_layers)
        )
        self.stacks = nn.ModuleList(
            MotionResStack(width, config.num_res_blocks, config.dilation_growth)
            for _ in range(config.downsample_layers + 1)
        )
        self.conv_out = nn.Conv1d(width, config.code_dim, 3, padding=1)

    def forward(self, x: torch.Tensor, masks: list[torch.Tensor]) -> torch.Tensor:
        """x [B,C,L] and masks per resolution ([B,1,L], [B,1,L/2], ...) -> latents [B,D,L/2^d]."""
        x = F.relu(self.conv_in(x * masks[0]))
        x = self.stacks[0](x, masks[0])
        for level, (down, stack) in enumerate(zip(self.downsamples, self.stacks[1:]), start=1):
            x = stack(down(x * masks[level - 1]), masks[level])
        return self.conv_out(F.relu(x) * masks[-1])


class MotionDecoder(nn.Module):
    def __init__(self, config: MotionVQVAEConfig):
        super().__init__()
        width = config.hidden_size
        self.conv_in = nn.Conv1d(config.code_dim, width, 3, padding=1)
        self.stacks = nn.ModuleList(
            MotionResStack(width, config.num_res_blocks, config.dilation_growth, reverse=True)
            for _ in range(config.downsample_layers + 1)
        )
        self.upsamples = nn.ModuleList(nn.Conv1d(width, width, 3, padding=1) for _ in range(config.downsample_layers))
        self.conv_mid = nn.Conv1d(width, width, 3, padding=1)
        self.conv_out = nn.Conv1d(width, config.feature_dim, 3, padding=1)

    def forward(self, z: torch.Tensor, masks: list[torch.Tensor]) -> torch.Tensor:
        """Quantised latents [B,D,T] -> features [B,C,T*2^d]; masks as in the encoder (finest first)."""
        level = len(masks) - 1
        x = F.relu(self.conv_in(z * masks[level]))
        x = self.stacks[0](x, masks[level])
        for up, stack in zip(self.upsamples, self.stacks[1:]):
            level -= 1
            x = up(F.interpolate(x, scale_factor=2, mode="nearest") * masks[level])
            x = stack(x, masks[level])
        x = F.relu(self.conv_mid(x * masks[0]))
        return self.conv_out(x * masks[0])


class MotionVQVAEPreTrainedModel(PreTrainedModel):
    config_class = MotionVQVAEConfig
    base_model_prefix = "motion_vqvae"
    main_input_name = "features"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv1d):
            nn.init.kaiming_uniform_(module.weight, a=5**0.5)  # the PyTorch default, made explicit
            fan_in = module.in_channels * module.kernel_size[0] // module.groups
            nn.init.uniform_(module.bias, -(fan_in**-0.5), fan_in**-0.5)
        elif isinstance(module, ResidualVectorQuantizer):
            module.reset_codebooks()
        elif isinstance(module, MotionVQVAE):
            module.feature_mean.zero_()
            module.feature_std.fill_(1.0)


class MotionVQVAE(MotionVQVAEPreTrainedModel):
    def __init__(self, config: MotionVQVAEConfig):
        if config.codebook != "independent":  # e.g. AutoModel.from_pretrained on a music-codebook tokenizer
            raise ValueError(
                f"MotionVQVAE is the independent motion tokenizer; a config with codebook="
                f"{config.codebook!r} is a MusicCodebookMotionVQVAE (unimumo.models.motion_vqvae_music; "
                "load a tokenizer directory with MotionTokenizer.from_pretrained)"
            )
        super().__init__(config)
        self.encoder = MotionEncoder(config)
        self.quantizer = ResidualVectorQuantizer(
            config.num_codebooks, config.codebook_size, config.code_dim, config.ema_decay, config.dead_code_threshold
        )
        self.decoder = MotionDecoder(config)
        self.register_buffer("feature_mean", torch.zeros(config.feature_dim))
        self.register_buffer("feature_std", torch.ones(config.feature_dim))
        self.post_init()

    # -- normalisation -------------------------------------------------------------------
    @torch.no_grad()
    def set_feature_stats(self, mean, std) -> None:
        """Store the training-set feature mean/std (see unimumo.motion.stats.compute_feature_stats)."""
        mean, std = torch.as_tensor(np.asarray(mean)), torch.as_tensor(np.asarray(std))
        width = self.config.feature_dim
        if mean.shape != (width,) or std.shape != (width,):
            raise ValueError(
                f"feature mean/std must both have shape [{width}], got {list(mean.shape)} and {list(std.shape)}"
            )
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all() and (std > 0).all()):
            raise ValueError("feature mean/std must be finite and std strictly positive")
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std)

    def normalize(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.feature_mean) / self.feature_std

    def denormalize(self, features: torch.Tensor) -> torch.Tensor:
        return features * self.feature_std + self.feature_mean

    # -- masks -----------------------------------------------------------------------------
    def _pad_and_masks(self, features: torch.Tensor, mask: torch.Tensor | None):
        """Pad time to a multiple of frames_per_code; masks [B,1,L] at every resolution, finest first."""
        batch, length, width = features.shape
        if width != self.config.feature_dim:
            raise ValueError(
                f"MotionVQVAE expects features [B,N,{self.config.feature_dim}], got {list(features.shape)}"
            )
        if mask is None:
            mask = torch.ones(batch, length, dtype=torch.bool, device=features.device)
        if mask.shape != (batch, length):
            raise ValueError(f"mask must have shape [{batch},{length}] to match features, got {list(mask.shape)}")
        step = self.config.frames_per_code
        padded = -(-length // step) * step
        features = F.pad(features, (0, 0, 0, padded - length))
        mask = F.pad(mask.bool(), (0, padded - length))
        masks = [mask.unsqueeze(1).to(features.dtype)]
        for _ in range(self.config.downsample_layers):
            masks.append(masks[-1][..., ::2])
        return features, masks

    # -- tokenizer API ---------------------------------------------------------------------
    def _quantize(self, latents: torch.Tensor, code_mask: torch.Tensor):
        """Latents [B,D,T] -> quantiser output over the valid steps and the quantised grid [B,D,T]."""
        flat = latents.transpose(1, 2)  # [B,T,D]
        valid = code_mask.squeeze(1).bool()
        output = self.quantizer(flat[valid])
        grid = flat.new_zeros(flat.shape)
        grid[valid] = output.quantized
        codes = torch.zeros(*valid.shape, self.config.num_codebooks, dtype=torch.long, device=flat.device)
        codes[valid] = output.codes.t()
        return output, grid.transpose(1, 2), codes.transpose(1, 2)

    @torch.no_grad()
    def encode_latents(self, features: torch.Tensor, mask: torch.Tensor | None = None):
        """Normalised features [B,N,C] -> (encoder latents [B,T,D], valid steps [B,T] bool), T =
        ceil(N/frames_per_code)."""
        features, masks = self._pad_and_masks(features, mask)
        latents = self.encoder(features.transpose(1, 2), masks).transpose(1, 2)
        return latents, masks[-1].squeeze(1).bool()

    @torch.no_grad()
    def encode(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised features [B,N,C] -> codes [B,K,ceil(N/frames_per_code)] (0 where masked out)."""
        latents, valid = self.encode_latents(features, mask)
        codes = torch.zeros(*valid.shape, self.config.num_codebooks, dtype=torch.long, device=latents.device)
        codes[valid] = self.quantizer.encode(latents[valid]).t()
        return codes.transpose(1, 2)

    @torch.no_grad()
    def _code_masks(self, codes: torch.Tensor, mask: torch.Tensor | None) -> list[torch.Tensor]:
        """The per-resolution masks of decoding codes [B,K,T] whose valid steps `mask` [B,T] marks (None: all)."""
        batch, levels, steps = codes.shape
        if levels != self.config.num_codebooks:
            raise ValueError(f"expected codes [B,{self.config.num_codebooks},T], got {list(codes.shape)}")
        if mask is None:
            mask = torch.ones(batch, steps, dtype=torch.bool, device=codes.device)
        frame_mask = mask.bool().repeat_interleave(self.config.frames_per_code, dim=1)
        dummy = torch.zeros(batch, frame_mask.shape[1], self.config.feature_dim, device=codes.device)
        return self._pad_and_masks(dummy, frame_mask)[1]

    def decode(self, codes: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Codes [B,K,T] -> normalised features [B,T*frames_per_code,C]; `mask` [B,T] marks valid steps."""
        batch, levels, steps = codes.shape
        masks = self._code_masks(codes, mask)
        latents = self.quantizer.lookup(codes.permute(1, 0, 2).reshape(levels, -1)).reshape(batch, steps, -1)
        return self.decoder(latents.transpose(1, 2) * masks[-1], masks).transpose(1, 2)

    # -- training --------------------------------------------------------------------------
    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> MotionVQVAEOutput:
        """Reconstruct normalised features [B,N,C]; in training mode the codebooks are EMA-updated."""
        length = features.shape[1]
        padded, masks = self._pad_and_masks(features, mask)
        latents = self.encoder(padded.transpose(1, 2), masks)
        quantizer_output, quantized, codes = self._quantize(latents, masks[-1])
        reconstruction = self.decoder(quantized, masks).transpose(1, 2)[:, :length]
        frame_mask = masks[0].squeeze(1)[:, :length].unsqueeze(-1)
        squared_error = (reconstruction - features).pow(2) * frame_mask
        recon_loss = squared_error.sum() / (frame_mask.sum() * self.config.feature_dim).clamp(min=1.0)
        loss = recon_loss + self.config.commitment_weight * quantizer_output.commit_loss
        with torch.no_grad():  # each window's joints start at its own origin; padding comes last
            mpjpe = feature_mpjpe_mm(
                self.denormalize(reconstruction), self.denormalize(features), frame_mask.squeeze(-1) > 0
            )
        return MotionVQVAEOutput(
            loss=loss,
            recon_loss=recon_loss,
            commit_loss=quantizer_output.commit_loss,
            perplexity=quantizer_output.perplexity,
            dead_codes=quantizer_output.dead_codes,
            mpjpe_mm=mpjpe,
            reconstruction=reconstruction,
            codes=codes,
        )
