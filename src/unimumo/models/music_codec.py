"""MusicCodec: a frozen `transformers.EncodecModel` loaded from a local directory (waveform <-> codes [4, T]).

`encode_batch` runs clips of equal length through the network together (Music4All clips are all 30 s).
Clips of different lengths go in separate batches rather than zero-padded ones: the 32 kHz EnCodec's
convolutions are non-causal with reflect padding, so padding would change the codes of a clip's last
frames. Codes are an argmin over codebook distances, so a batched clip's codes equal its one-at-a-time
codes except where two codebook entries are exactly (to float rounding) equidistant: batching only
changes the float summation order of the convolutions.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def encodec_32khz_config() -> EncodecConfig:
    """The architecture of facebook/encodec_32khz (MusicGen's codec), from its config.json: for benchmarks
    with random weights in the production shape (~59M parameters, encoder ~half)."""
    return EncodecConfig(
        sampling_rate=32000,
        audio_channels=1,
        target_bandwidths=[2.2],
        upsampling_ratios=[8, 5, 4, 4],
        codebook_size=CODEBOOK_SIZE,
        codebook_dim=128,
        hidden_size=128,
        num_filters=64,
        num_residual_layers=1,
        num_lstm_layers=2,
        kernel_size=7,
        last_kernel_size=7,
        residual_kernel_size=3,
        dilation_growth_rate=2,
        compress=2,
        norm_type="weight_norm",
        pad_mode="reflect",
        use_causal_conv=False,
        use_conv_shortcut=False,
        normalize=False,
        chunk_length_s=None,
        overlap=None,
        trim_right_ratio=1.0,
    )


def tiny_random_encodec(seed: int = 0, sampling_rate: int = 32000) -> EncodecModel:
    """A random-weight EncodecModel from `tiny_encodec_config` whose codebooks are usable.

    Fresh EnCodec codebooks are all zeros (they are learnt by k-means at the first training step), which
    would map every frame to code 0. Here each residual level is initialised like k-means++ seeding:
    entries are latent (residual) frames of a probe signal - noise and tones over a 40 dB range of
    levels - plus a little jitter, so different audio gives different codes at every level.
    """
    return seeded_random_encodec(tiny_encodec_config(sampling_rate), seed)


def seeded_random_encodec(config: EncodecConfig, seed: int = 0) -> EncodecModel:
    """A random-weight EncodecModel of `config` with codebooks seeded as `tiny_random_encodec` describes (e.g.
    `encodec_32khz_config()`: the production shape, whose random encoder responds to its input far more than the
    tiny one's)."""
    sampling_rate = int(config.sampling_rate)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = EncodecModel(config).eval()
    seconds = torch.arange(sampling_rate) / sampling_rate
    probe = torch.cat(
        [
            gain
            * (torch.randn(sampling_rate, generator=generator) + torch.sin(2 * torch.pi * 55 * 2 ** (i / 2) * seconds))
            for i, gain in enumerate(torch.logspace(-2, 0, 8).tolist())
        ]
    )
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
            raise ValueError(
                f"{source}: MusicCodec needs a mono EnCodec, config has audio_channels={config.audio_channels}"
            )
        if config.num_quantizers < NUM_CODEBOOKS or config.codebook_size != CODEBOOK_SIZE:
            raise ValueError(
                f"{source}: EnCodec must give {NUM_CODEBOOKS} codebooks x {CODEBOOK_SIZE}; config gives "
                f"{config.num_quantizers} quantizers x {config.codebook_size}"
            )
        if config.chunk_length is not None:
            raise ValueError(
                f"{source}: MusicCodec needs an unchunked EnCodec (chunk_length_s null, like "
                f"facebook/encodec_32khz), config has chunk_length_s={config.chunk_length_s}"
            )
        self._fingerprint: str | None = None

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> MusicCodec:
        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise FileNotFoundError(f"{directory}: not an EncodecModel directory (no config.json)")
        return cls(EncodecModel.from_pretrained(directory), source=str(directory))

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = fingerprint_state(self.model.config.to_diff_dict(), self.model.state_dict())
        return self._fingerprint

    def to(self, device: str | torch.device) -> MusicCodec:
        self.model.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, wav: np.ndarray) -> np.ndarray:
        """Codes [4, T] of one mono waveform [S]."""
        return self.encode_batch([wav])[0]

    @torch.no_grad()
    def encode_batch(self, wavs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Codes [4, T_i] of each mono waveform [S_i]; equal-length clips share one forward pass."""
        clips = [np.asarray(wav, dtype=np.float32) for wav in wavs]
        by_length: dict[int, list[int]] = {}
        for index, clip in enumerate(clips):
            if clip.ndim != 1 or clip.size == 0:
                raise ValueError(
                    f"MusicCodec.encode expects non-empty mono waveforms [S], clip {index} has shape {clip.shape}"
                )
            by_length.setdefault(clip.size, []).append(index)
        codes: list[np.ndarray | None] = [None] * len(clips)
        for indices in by_length.values():
            x = torch.from_numpy(np.stack([clips[i] for i in indices]))[:, None].to(self.device)
            batch = self.model.encode(x, bandwidth=self.bandwidth).audio_codes  # [chunks=1, B, nq, T]
            batch = batch[0, :, :NUM_CODEBOOKS].cpu().numpy()
            for row, index in enumerate(indices):
                codes[index] = batch[row].astype(np.int64)
        return codes

    @torch.no_grad()
    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = torch.as_tensor(np.asarray(codes, dtype=np.int64))
        if codes.ndim != 2 or codes.shape[0] != NUM_CODEBOOKS:
            raise ValueError(f"MusicCodec.decode expects codes [{NUM_CODEBOOKS}, T], got {tuple(codes.shape)}")
        audio = self.model.decode(codes[None, None], [None]).audio_values
        return audio.reshape(-1).numpy().astype(np.float32)
