"""MusicCodec: a frozen `transformers.EncodecModel` loaded from a local directory (waveform <-> codes [4, T])."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import EncodecConfig, EncodecModel

from unimumo.constants import CODE_RATE, CODEBOOK_SIZE, NUM_CODEBOOKS
from unimumo.utils.fingerprint import fingerprint_state


def tiny_encodec_config(sampling_rate: int = 32000) -> EncodecConfig:
    """A few-thousand-parameter EnCodec with the production code layout: 50 frames/s, 4 x 2048 codes.

    Frame rate = sampling_rate / prod(upsampling_ratios) = 32000 / 640 = 50; the single target bandwidth
    2.2 kbps = 4 codebooks x 11 bits x 50 frames/s, so exactly 4 quantizers are used.
    """
    bandwidth = NUM_CODEBOOKS * np.log2(CODEBOOK_SIZE) * CODE_RATE / 1000.0
    return EncodecConfig(
        sampling_rate=sampling_rate,
        target_bandwidths=[float(bandwidth)],
        upsampling_ratios=[8, 5, 4, 4],
        codebook_size=CODEBOOK_SIZE,
        codebook_dim=16,
        hidden_size=16,
        num_filters=4,
        num_lstm_layers=1,
        normalize=False,
    )


def tiny_random_encodec(seed: int = 0, sampling_rate: int = 32000) -> EncodecModel:
    """A random-weight EncodecModel from `tiny_encodec_config` whose codebooks are usable.

    Fresh EnCodec codebooks are all zeros (they are learnt by k-means at the first training step), which
    would map every frame to code 0. Here each residual level is initialised like k-means++ seeding:
    entries are latent (residual) frames of a probe signal - noise and tones over a 40 dB range of
    levels - plus a little jitter, so different audio gives different codes at every level.
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = EncodecModel(tiny_encodec_config(sampling_rate)).eval()
    seconds = torch.arange(sampling_rate) / sampling_rate
    probe = torch.cat([
        gain * (torch.randn(sampling_rate, generator=generator) + torch.sin(2 * torch.pi * 55 * 2 ** (i / 2) * seconds))
        for i, gain in enumerate(torch.logspace(-2, 0, 8).tolist())
    ])
    with torch.no_grad():
        residual = model.encoder(probe[None, None])[0].T  # [frames, dim]
        for layer in model.quantizer.layers:
            codebook = layer.codebook
            picks = torch.randint(len(residual), (codebook.embed.shape[0],), generator=generator)
            jitter = torch.randn(codebook.embed.shape, generator=generator) * 0.05 * residual.std()
            codebook.embed.copy_(residual[picks] + jitter)
            codebook.embed_avg.copy_(codebook.embed)
            codebook.cluster_size.fill_(1.0)
            residual = residual - codebook.embed[torch.cdist(residual, codebook.embed).argmin(dim=1)]
    return model


class MusicCodec:
    """Frozen EnCodec wrapper. `encode` maps a mono waveform to int64 codes [4, T]; `decode` inverts it."""

    def __init__(self, model: EncodecModel, source: str = "<memory>"):
        self.model = model.eval().requires_grad_(False)
        self.source = source
        config = model.config
        self.sampling_rate = int(config.sampling_rate)
        self.frame_rate = int(config.frame_rate)
        self.bandwidth = float(max(config.target_bandwidths))
        if config.audio_channels != 1:
            raise ValueError(f"{source}: MusicCodec needs a mono EnCodec, config has audio_channels={config.audio_channels}")
        if config.num_quantizers < NUM_CODEBOOKS or config.codebook_size != CODEBOOK_SIZE:
            raise ValueError(
                f"{source}: EnCodec must give {NUM_CODEBOOKS} codebooks x {CODEBOOK_SIZE}; config gives "
                f"{config.num_quantizers} quantizers x {config.codebook_size}"
            )
        self._fingerprint: str | None = None

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "MusicCodec":
        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise FileNotFoundError(f"{directory}: not an EncodecModel directory (no config.json)")
        return cls(EncodecModel.from_pretrained(directory), source=str(directory))

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = fingerprint_state(self.model.config.to_diff_dict(), self.model.state_dict())
        return self._fingerprint

    @torch.no_grad()
    def encode(self, wav: np.ndarray) -> np.ndarray:
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim != 1 or wav.size == 0:
            raise ValueError(f"MusicCodec.encode expects a non-empty mono waveform [S], got shape {wav.shape}")
        x = torch.from_numpy(wav)[None, None]
        codes = self.model.encode(x, bandwidth=self.bandwidth).audio_codes  # [chunks=1, B=1, nq, T]
        return codes.reshape(-1, codes.shape[-1])[:NUM_CODEBOOKS].numpy().astype(np.int64)

    @torch.no_grad()
    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = torch.as_tensor(np.asarray(codes, dtype=np.int64))
        if codes.ndim != 2 or codes.shape[0] != NUM_CODEBOOKS:
            raise ValueError(f"MusicCodec.decode expects codes [{NUM_CODEBOOKS}, T], got {tuple(codes.shape)}")
        audio = self.model.decode(codes[None, None], [None]).audio_values
        return audio.reshape(-1).numpy().astype(np.float32)
