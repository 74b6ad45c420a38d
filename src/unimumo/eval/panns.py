"""PANNs Cnn14 at 16 kHz, the AudioSet tagger whose outputs the published KL compares.

Facts from qiuqiangkong/audioset_tagging_cnn@d2f4b8c18eab44737fcc0de1248ae21eb43f6aa4 pytorch/models.py
(`Cnn14_16k`, `ConvBlock`) with torchlibrosa 0.1.0 (`Spectrogram`, `STFT`, `LogmelFilterBank`), and from
haoheliu/audioldm_eval@a93d8d8 feature_extractors/panns/models.py, whose `Cnn14(sample_rate=16000,
window_size=512, hop_size=160, mel_bins=64, fmin=50, fmax=8000, classes_num=527)` loads the published
`Cnn14_16k_mAP=0.438.pth` (`torch.save({"model": state_dict, ...})`) and returns `logits` (the AudioSet layer's
output before the sigmoid, which the KL takes), `2048` (the embedding) and `clipwise_output`.

Front end: the waveform reflect-padded by 256 on both sides, a 512-point DFT every 160 samples as two 1-D
convolutions (`spectrogram_extractor.stft.conv_real` / `conv_imag`: the real and imaginary DFT rows 0..256 times
a periodic Hann window), power = real^2 + imag^2, times `logmel_extractor.melW` [257, 64] (librosa's Slaney mel
filters over 50-8000 Hz), 10*log10(max(x, 1e-10)). These matrices are parameters of the checkpoint and are used
as loaded, as upstream does. Then BatchNorm over the 64 mel bands (`bn0`), six ConvBlocks (two conv3x3 without
bias, each followed by BatchNorm and ReLU; 2x2 average pooling, 1x1 after the last) of 64..2048 channels, the mean
over mel bins, max + mean over time, `fc1` + ReLU (the embedding) and `fc_audioset`. Evaluation mode only: the
dropout and SpecAugment of training are not part of this module.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 16000
WINDOW = 512
HOP = 160
MEL_BINS = 64
FMIN, FMAX = 50, 8000
CLASSES = 527  # AudioSet
EMBEDDING_SIZE = 2048
_WIDTHS = (64, 128, 256, 512, 1024, 2048)


def front_end_state() -> dict[str, torch.Tensor]:
    """The front end's published matrices, as torchlibrosa builds them (keys as in the checkpoint).

    STFT kernels [257, 1, 512]: rows 0..256 of the DFT matrix exp(-2 pi i n k / 512) times a periodic Hann window,
    real and imaginary parts; `melW` [257, 64]: librosa's Slaney mel filters over 50-8000 Hz, transposed.
    """
    import librosa  # imported when needed: it takes seconds

    window = librosa.filters.get_window("hann", WINDOW, fftbins=True)
    n = np.arange(WINDOW)
    dft = (np.exp(-2j * np.pi * np.outer(n, n[: WINDOW // 2 + 1]) / WINDOW) * window[:, None]).T[:, None, :]
    mel = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=WINDOW, n_mels=MEL_BINS, fmin=FMIN, fmax=FMAX).T
    return {
        "spectrogram_extractor.stft.conv_real.weight": torch.from_numpy(np.real(dft).astype(np.float32)),
        "spectrogram_extractor.stft.conv_imag.weight": torch.from_numpy(np.imag(dft).astype(np.float32)),
        "logmel_extractor.melW": torch.from_numpy(mel.astype(np.float32)),
    }


class _STFT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv_real = nn.Conv1d(1, WINDOW // 2 + 1, WINDOW, stride=HOP, bias=False)
        self.conv_imag = nn.Conv1d(1, WINDOW // 2 + 1, WINDOW, stride=HOP, bias=False)


class _Spectrogram(nn.Module):
    """Power spectrogram [batch, 1, frames, 257] of waveforms [batch, samples]."""

    def __init__(self) -> None:
        super().__init__()
        self.stft = _STFT()

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = F.pad(waveform[:, None, :], (WINDOW // 2, WINDOW // 2), mode="reflect")
        real = self.stft.conv_real(x)[:, None].transpose(2, 3)
        imag = self.stft.conv_imag(x)[:, None].transpose(2, 3)
        return real**2 + imag**2


class _LogMel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.melW = nn.Parameter(torch.empty(WINDOW // 2 + 1, MEL_BINS))

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        return 10.0 * torch.log10(torch.clamp(power @ self.melW, min=1e-10))  # ref 1.0, no top_db


class ConvBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, kernel_size=pool)


class Cnn14(nn.Module):
    """16 kHz waveforms [batch, samples] -> {"logits": [batch, 527], "embedding": [batch, 2048]}.

    Every weight, the front end's matrices included, comes from a checkpoint (`music_quality.load_panns`);
    `front_end_state()` gives the front end's published values.
    """

    def __init__(self) -> None:
        super().__init__()
        self.spectrogram_extractor = _Spectrogram()
        self.logmel_extractor = _LogMel()
        self.bn0 = nn.BatchNorm2d(MEL_BINS)
        widths = (1,) + _WIDTHS
        for i in range(len(_WIDTHS)):
            setattr(self, f"conv_block{i + 1}", ConvBlock(widths[i], widths[i + 1]))
        self.fc1 = nn.Linear(EMBEDDING_SIZE, EMBEDDING_SIZE)
        self.fc_audioset = nn.Linear(EMBEDDING_SIZE, CLASSES)

    def forward(self, waveform: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.logmel_extractor(self.spectrogram_extractor(waveform))  # [batch, 1, frames, 64]
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        for i in range(len(_WIDTHS)):
            x = getattr(self, f"conv_block{i + 1}")(x, pool=1 if i == len(_WIDTHS) - 1 else 2)
        x = x.mean(dim=3)
        x = x.max(dim=2).values + x.mean(dim=2)
        embedding = F.relu(self.fc1(x))
        return {"logits": self.fc_audioset(embedding), "embedding": embedding}
