"""VGGish as the published FAD builds it: log-mel examples and the VGG network, without its last ReLU and PCA.

Facts from harritaylor/torchvggish@f3f90969ce8fb77a05d984b892ddf662e8466377 (vggish.py, vggish_input.py,
mel_features.py, vggish_params.py) and from haoheliu/audioldm_eval@a93d8d8 metrics/fad.py, which loads
`torch.hub.load("harritaylor/torchvggish", "vggish")` and sets `postprocess = False` (no PCA, no 8-bit
quantisation) and drops the last module of `embeddings` (the final ReLU: `use_activation=False`).

Front end (numpy, float64 as upstream), on 16 kHz mono audio: frames of 400 samples every 160 (no padding, an
incomplete last frame dropped), periodic Hann window, |rfft| with 512 points, an HTK-mel matrix of 64 bands over
125-7500 Hz (bin 0 zeroed), log(mel + 0.01); then examples of 96 frames every 96 frames (0.96 s each, an
incomplete last example dropped). Network: conv3x3(1->64) ReLU pool, conv(64->128) ReLU pool, conv(128->256)
ReLU, conv(256->256) ReLU pool, conv(256->512) ReLU, conv(512->512) ReLU pool (2x2 max pools), the
[512, 6 (time), 4 (mel)] map flattened in (time, mel, channel) order as TensorFlow did, then Linear 12288->4096, ReLU,
Linear 4096->4096, ReLU, Linear 4096->128. Parameter names are torchvggish's (`features.{0,3,6,8,11,13}`,
`embeddings.{0,2,4}`), so its published state dict `vggish-10086976.pth` loads as it is.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16000
EMBEDDING_SIZE = 128
EXAMPLE_FRAMES = 96  # 10 ms frames per example (0.96 s), examples do not overlap
MEL_BANDS = 64
_WINDOW = 400  # 25 ms
_HOP = 160  # 10 ms
_FFT = 512  # the power of two >= the window
_MEL_LOW_HZ, _MEL_HIGH_HZ = 125.0, 7500.0
_LOG_OFFSET = 0.01
_CONV_WIDTHS = (64, "pool", 128, "pool", 256, 256, "pool", 512, 512, "pool")


def _frames(data: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Successive windows of `length` rows every `hop` rows; an incomplete last window is dropped."""
    count = 1 + (len(data) - length) // hop
    if count < 1:
        return np.zeros((0, length) + data.shape[1:], dtype=data.dtype)
    return np.stack([data[i * hop : i * hop + length] for i in range(count)])


def _hz_to_htk_mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_matrix(num_bins: int) -> np.ndarray:
    """[num_bins, 64]: triangular HTK-mel bands with edges equally spaced in mel over 125-7500 Hz."""
    bins_mel = _hz_to_htk_mel(np.linspace(0.0, SAMPLE_RATE / 2, num_bins))
    edges = np.linspace(_hz_to_htk_mel(_MEL_LOW_HZ), _hz_to_htk_mel(_MEL_HIGH_HZ), MEL_BANDS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


def log_mel_examples(audio_16k: np.ndarray) -> np.ndarray:
    """Mono 16 kHz audio -> VGGish input examples [n, 96, 64] float32 (n = whole 0.96 s examples)."""
    audio = np.asarray(audio_16k, dtype=np.float64)
    if audio.ndim != 1:
        raise ValueError(f"VGGish takes mono audio (one dimension), got shape {audio.shape}")
    frames = _frames(audio, _WINDOW, _HOP)
    window = 0.5 - 0.5 * np.cos(2 * np.pi / _WINDOW * np.arange(_WINDOW))  # periodic Hann
    spectrum = np.abs(np.fft.rfft(frames * window, _FFT))
    log_mel = np.log(spectrum @ _mel_matrix(spectrum.shape[1]) + _LOG_OFFSET)
    return _frames(log_mel, EXAMPLE_FRAMES, EXAMPLE_FRAMES).astype(np.float32)


def _conv_stack() -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 1
    for width in _CONV_WIDTHS:
        if width == "pool":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = width
    return nn.Sequential(*layers)


class VGGish(nn.Module):
    """Log-mel examples [n, 1, 96, 64] -> embeddings [n, 128] (the last linear layer's output, no ReLU)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _conv_stack()
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 4 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, EMBEDDING_SIZE),
        )

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        x = self.features(examples)  # [n, 512, 6 (time), 4 (mel)]
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # (time, mel, channel) order, as TensorFlow's
        return self.embeddings(x)
