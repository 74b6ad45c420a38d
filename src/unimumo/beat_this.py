"""Beat This! (Foscarin, Schlüter and Widmer, ISMIR 2024; CPJKU/beat_this, MIT licence): its network, log-mel input
and minimal post-processing, for `--beat-tracker beat_this --beat-checkpoint FILE` with weights the user has.

Written here from the published code (PyPI beat-this 1.1.0 = CPJKU/beat_this @ 9d787b9) because the package needs
torchaudio, whose compiled extension must match the installed torch build exactly (torchaudio 2.11.1 does not load
with torch 2.13). The arithmetic is the package's (tests/test_beat_this.py holds golden frame logits computed with
it): audio at 22050 Hz; log(1 + 1000 x mel magnitude), 128 slaney mel bands of 30 Hz - 11 kHz, a 1024-sample Hann
window every 441 samples (50 frames/s), magnitudes over sqrt(1024); the network in chunks of 1500 frames
that overlap by 2 x 6 border frames (the first chunk's prediction kept); beats at the frames whose logit is positive
and the maximum within +-3 frames, adjacent ones merged into their mean.

Checkpoints are the published PyTorch Lightning files (`final0.ckpt`, ...): {"state_dict": {"model.<key>": tensor},
"hyper_parameters": {...}}, read with `torch.load(weights_only=True)` (no code in them runs). Nothing is downloaded.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unimumo.errors import UniMuMoError

SAMPLING_RATE = 22050
N_FFT = 1024
HOP = 441
FPS = 50  # frames per second of the network's input and output
N_MELS = 128
F_MIN, F_MAX = 30.0, 11000.0
LOG_MULTIPLIER = 1000.0
CHUNK_FRAMES = 1500  # the network sees at most this many frames at once
BORDER_FRAMES = 6  # frames at each chunk edge whose prediction is not used
PEAK_FRAMES = 7  # a beat is the maximum of its +-3 frames (+-60 ms)


class BeatCheckpointError(UniMuMoError, ValueError):
    """A --beat-checkpoint that is missing or is not a Beat This! checkpoint."""

    kind = "beat checkpoint error"


def log_mel(wav: np.ndarray, sampling_rate: int) -> torch.Tensor:
    """The network's input [T, 128] of a mono waveform: Beat This!'s LogMelSpect at 22050 Hz."""
    import librosa
    import soxr  # installed with librosa

    wav = np.asarray(wav, dtype=np.float64)
    if sampling_rate != SAMPLING_RATE:  # as the package resamples
        wav = soxr.resample(wav, in_rate=sampling_rate, out_rate=SAMPLING_RATE)
    signal = torch.tensor(wav, dtype=torch.float32)
    window = torch.hann_window(N_FFT)
    magnitude = torch.stft(
        signal, N_FFT, HOP, window=window, center=True, pad_mode="reflect", normalized=True, return_complex=True
    ).abs()
    mel = torch.from_numpy(
        librosa.filters.mel(sr=SAMPLING_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=F_MIN, fmax=F_MAX, htk=False, norm=None)
    ).float()
    return torch.log1p(LOG_MULTIPLIER * (mel @ magnitude)).T


class RMSNorm(nn.Module):
    def __init__(self, size: int):
        super().__init__()
        self.scale = size**0.5
        self.gamma = nn.Parameter(torch.ones(size))

    def forward(self, x):
        return F.normalize(x, dim=-1) * self.scale * self.gamma


class Rotary(nn.Module):
    """Rotary position embedding (rotary-embedding-torch's RotaryEmbedding, 'lang' frequencies, pairs interleaved)."""

    def __init__(self, dim: int):
        super().__init__()
        self.freqs = nn.Parameter(1.0 / 10000 ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim), False)

    def forward(self, x):  # [..., n, d]
        angles = torch.arange(x.shape[-2], dtype=x.dtype)[:, None] * self.freqs
        angles = angles.repeat_interleave(2, dim=-1)
        pairs = x.unflatten(-1, (-1, 2))
        rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
        return x * angles.cos() + rotated * angles.sin()


def feed_forward(dim: int, mult: int) -> nn.Sequential:
    # the published layer indices (0, 1, 4): its dropout (training only) at 3
    return nn.Sequential(RMSNorm(dim), nn.Linear(dim, dim * mult), nn.GELU(), nn.Identity(), nn.Linear(dim * mult, dim))


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        self.net = feed_forward(dim, mult)

    def forward(self, x):
        return self.net(x)


class Attention(nn.Module):
    """Gated multi-head self-attention with rotary positions (the package's roformer.Attention)."""

    def __init__(self, dim: int, heads: int, dim_head: int, rotary_embed: Rotary):
        super().__init__()
        self.heads = heads
        self.rotary_embed = rotary_embed
        self.norm = RMSNorm(dim)
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.to_gates = nn.Linear(dim, heads)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim, bias=False))

    def forward(self, x):  # [b, n, dim]
        x = self.norm(x)
        q, k, v = self.to_qkv(x).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)  # each [b, h, n, d]
        out = F.scaled_dot_product_attention(self.rotary_embed(q), self.rotary_embed(k), v)
        out = out * self.to_gates(x).transpose(1, 2)[..., None].sigmoid()
        return self.to_out(out.transpose(1, 2).flatten(2))


class PartialFTTransformer(nn.Module):
    """Attention and feed-forward across frequencies, then across time, of a [b, c, f, t] feature map."""

    def __init__(self, dim: int, dim_head: int, rotary_embed: Rotary):
        super().__init__()
        heads = dim // dim_head
        self.attnF = Attention(dim, heads, dim_head, rotary_embed)
        self.ffF = FeedForward(dim)
        self.attnT = Attention(dim, heads, dim_head, rotary_embed)
        self.ffT = FeedForward(dim)

    def forward(self, x):
        b, c, f, t = x.shape
        x = x.permute(0, 3, 2, 1).reshape(b * t, f, c)
        x = x + self.attnF(x)
        x = x + self.ffF(x)
        x = x.reshape(b, t, f, c).permute(0, 2, 1, 3).reshape(b * f, t, c)
        x = x + self.attnT(x)
        x = x + self.ffT(x)
        return x.reshape(b, f, t, c).permute(0, 3, 1, 2)


class Stem(nn.Module):
    def __init__(self, spect_dim: int, stem_dim: int):
        super().__init__()
        self.bn1d = nn.BatchNorm1d(spect_dim)
        self.conv2d = nn.Conv2d(1, stem_dim, kernel_size=(4, 3), stride=(4, 1), padding=(0, 1), bias=False)
        self.bn2d = nn.BatchNorm2d(stem_dim)

    def forward(self, x):  # [b, t, f] -> [b, c, f / 4, t]
        return F.gelu(self.bn2d(self.conv2d(self.bn1d(x.transpose(1, 2))[:, None])))


class FrontendBlock(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, dim_head: int, rotary_embed: Rotary | None):
        super().__init__()
        self.partial = PartialFTTransformer(in_dim, dim_head, rotary_embed) if rotary_embed else nn.Identity()
        self.conv2d = nn.Conv2d(in_dim, out_dim, kernel_size=(2, 3), stride=(2, 1), padding=(0, 1), bias=False)
        self.norm = nn.BatchNorm2d(out_dim)

    def forward(self, x):
        return F.gelu(self.norm(self.conv2d(self.partial(x))))


class Frontend(nn.Module):
    def __init__(self, spect_dim, stem_dim, transformer_dim, head_dim, rotary_embed):
        super().__init__()
        self.stem = Stem(spect_dim, stem_dim)
        dims = [stem_dim * 2**index for index in range(4)]
        self.blocks = nn.Sequential(*(FrontendBlock(a, b, head_dim, rotary_embed) for a, b in zip(dims, dims[1:])))
        self.linear = nn.Linear(dims[-1] * (spect_dim // 32), transformer_dim)

    def forward(self, x):
        x = self.blocks(self.stem(x))  # [b, c, f, t]
        return self.linear(x.permute(0, 3, 1, 2).flatten(2))


class Transformer(nn.Module):
    def __init__(self, dim: int, depth: int, head_dim: int, ff_mult: int, rotary_embed: Rotary):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([Attention(dim, dim // head_dim, head_dim, rotary_embed), FeedForward(dim, ff_mult)])
            for _ in range(depth)
        )
        self.norm = RMSNorm(dim)

    def forward(self, x):
        for attention, feed in self.layers:
            x = attention(x) + x
            x = feed(x) + x
        return self.norm(x)


class Head(nn.Module):
    def __init__(self, dim: int, sum_head: bool):
        super().__init__()
        self.sum_head = sum_head
        self.beat_downbeat_lin = nn.Linear(dim, 2)

    def forward(self, x):
        beat, downbeat = self.beat_downbeat_lin(x).unbind(-1)
        return (beat + downbeat if self.sum_head else beat), downbeat


class BeatThis(nn.Module):
    """The Beat This! network: log-mel frames [b, t, 128] -> beat and downbeat logits [b, t] (state-dict keys as
    published)."""

    def __init__(
        self,
        spect_dim: int = 128,
        transformer_dim: int = 512,
        ff_mult: int = 4,
        n_layers: int = 6,
        head_dim: int = 32,
        stem_dim: int = 32,
        dropout: dict | None = None,  # training only
        sum_head: bool = True,
        partial_transformers: bool = True,
    ):
        super().__init__()
        rotary_embed = Rotary(head_dim)
        self.frontend = Frontend(
            spect_dim, stem_dim, transformer_dim, head_dim, rotary_embed if partial_transformers else None
        )
        self.transformer_blocks = Transformer(transformer_dim, n_layers, head_dim, ff_mult, rotary_embed)
        self.task_heads = Head(transformer_dim, sum_head)

    def forward(self, x):
        return self.task_heads(self.transformer_blocks(self.frontend(x)))


def load_beat_this(checkpoint: str | Path) -> BeatThis:
    """The network of a published Beat This! checkpoint file, in eval mode (cached: one load per process and
    version of the file)."""
    path = Path(checkpoint)
    if not path.is_file():
        raise BeatCheckpointError(f"--beat-checkpoint {path}: file not found")
    stat = path.stat()
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)
def _load(checkpoint: str, mtime_ns: int, size: int) -> BeatThis:
    path = Path(checkpoint)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a torn file, a pickle holding code, not a torch file at all
        raise BeatCheckpointError(f"--beat-checkpoint {path}: not a readable PyTorch checkpoint ({error})") from error
    if not isinstance(saved, dict) or not isinstance(saved.get("state_dict"), dict):
        raise BeatCheckpointError(f"--beat-checkpoint {path}: no 'state_dict' (not a Beat This! checkpoint)")
    names = set(inspect.signature(BeatThis).parameters)
    state = {key.removeprefix("model.").replace("_orig_mod.", ""): value for key, value in saved["state_dict"].items()}
    try:
        hparams = saved.get("hyper_parameters") or {}
        model = BeatThis(**{key: value for key, value in dict(hparams).items() if key in names})
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, ZeroDivisionError) as error:
        first = str(error).splitlines()[0:2]
        raise BeatCheckpointError(
            f"--beat-checkpoint {path}: weights do not fit the Beat This! network of its hyper_parameters "
            f"({' '.join(first)})"
        ) from error
    return model.requires_grad_(False).eval()


def beat_logits(model: BeatThis, spect: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame-wise beat and downbeat logits [T] of a log-mel spectrogram [T, 128], chunk by chunk as published."""
    total = len(spect)
    step = CHUNK_FRAMES - 2 * BORDER_FRAMES
    starts = np.arange(-BORDER_FRAMES, total - BORDER_FRAMES, step)
    if total > step:
        starts[-1] = total - (CHUNK_FRAMES - BORDER_FRAMES)
    beat, downbeat = torch.full((total,), -1000.0), torch.full((total,), -1000.0)
    with torch.inference_mode():
        for start in starts[::-1]:  # earlier chunks overwrite later ones
            left, right = max(0, -start), max(0, min(BORDER_FRAMES, start + CHUNK_FRAMES - total))
            chunk = F.pad(spect[max(start, 0) : start + CHUNK_FRAMES], (0, 0, left, right))
            chunk_beat, chunk_downbeat = (logits[0, BORDER_FRAMES:-BORDER_FRAMES] for logits in model(chunk[None]))
            end = start + BORDER_FRAMES + chunk_beat.numel()
            beat[start + BORDER_FRAMES : end] = chunk_beat
            downbeat[start + BORDER_FRAMES : end] = chunk_downbeat
    return beat, downbeat


def logit_peaks(logits: torch.Tensor) -> np.ndarray:
    """Beat times (s) of frame logits: positive local maxima within +-3 frames; a peak at most one frame after the
    mean of the group before it joins that group (the group's time is its mean), as published."""
    peaks = (logits == F.max_pool1d(logits[None], PEAK_FRAMES, 1, PEAK_FRAMES // 2)[0]) & (logits > 0)
    times, mean, count = [], None, 0
    for frame in torch.nonzero(peaks)[:, 0].tolist():
        if mean is not None and frame - mean <= 1:
            count += 1
            mean += (frame - mean) / count
        else:
            times += [] if mean is None else [mean]
            mean, count = float(frame), 1
    times += [] if mean is None else [mean]
    return np.array(times, dtype=np.float64) / FPS


def frames_to_beats(beat: torch.Tensor, downbeat: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(beat times, downbeat times) in seconds from frame logits [T]: the peaks of each, every downbeat then moved
    to its nearest beat (the package's "minimal" post-processing)."""
    beats, downbeats = logit_peaks(beat), logit_peaks(downbeat)
    if beats.size:
        downbeats = np.unique(beats[np.abs(beats[None] - downbeats[:, None]).argmin(axis=1)])
    return beats, downbeats


def beat_this_beats(wav: np.ndarray, sampling_rate: int, checkpoint: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(beat times, downbeat times) in seconds of a mono waveform by the Beat This! network in `checkpoint`."""
    return frames_to_beats(*beat_logits(load_beat_this(checkpoint), log_mel(wav, sampling_rate)))
