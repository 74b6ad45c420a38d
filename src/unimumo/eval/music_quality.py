"""FAD and KL as the published text-to-music table computes them: 16 kHz audio, VGGish, PANNs Cnn14, formulas.

The protocol is Cralence/My_Eval@ce5b01d57d56ecd12c79947fbe40d1266b9f3803 `eval_music.py`: audioldm_eval's
`EvaluationHelper(16000, device).main(generated_dir, reference_dir)`. What it computes (audioldm_eval@a93d8d8,
main from 2024-01-07 to 2024-04-29; the reader, FAD, KL and Cnn14 are the same from 2d5aad5, 2023-06-25, until
0c4e144, 2024-09-28, made MERT the default KL backbone):
* every file read as `torchaudio.load` does (float samples), its first channel, minus its mean, resampled to
  16 kHz, zero-padded to at least 2 s (`datasets/load_mel.py` `WaveDataset`), for VGGish and Cnn14 alike;
* FAD: VGGish embeddings (no PCA, no last ReLU; `vggish.py`) of every 0.96 s example of every clip, one
  Gaussian per set (mean, `np.cov`), the Frechet distance between the generated and the reference set
  (`metrics/fad.py`; the formula of pytorch-fid, fadtk and frechet_audio_distance). The sets are not paired:
  eval_music.py copies the generated files whose name is in the reference directory and scores them against every
  file of that directory;
* KL: Cnn14 logits of each generated clip and its reference clip (paired by file name; `panns.py`),
  KL(reference || generated) summed over the 527 classes, of softmax distributions (`kl_softmax`) and of the
  per-class sigmoids (`kl_sigmoid`, the p log p/q terms only), with 1e-6 added to the generated side, averaged
  over the pairs (`metrics/kl.py`).

Which 32 kHz -> 16 kHz path made the published numbers (`LOADERS`, `to_16k(..., loader=)`): `eval_music.py`
(first committed 2024-02-14) imports `audioldm_eval`. The copy of it inside My_Eval, whose `WaveDataset`
decimates 32 kHz by two and then also resamples 32k->16k (the if / if / elif of audioldm_eval 0.0.2), was renamed
`audio_eval` on 2024-01-05 (commit 9fcdd3b); what is left at `audioldm_eval/` is `__pycache__` only, no package, so
the import finds the installed one. That installed one is audioldm_eval's GitHub main (README: `pip install
git+https://github.com/haoheliu/audioldm_eval`), not a PyPI release: from 2024-02-29 on `eval_music.py` deletes
`<reference dir>_fad_feature_cache.npy` and `<reference dir>classifier_logits_feature_cache.pkl` before each
run, cache files that only main writes (since 2023-06-25; PyPI 0.0.1-0.0.3 and My_Eval's copy write none). Main
resamples with `torchaudio.functional.resample` (its defaults) for both metrics (commit 48873a9 "fix bug on
resample" commented the decimation out). So `"resample"` is the default; the other two are labelled variants:
* `"decimate+resample"`: My_Eval's `audio_eval` / audioldm_eval 0.0.2 `WaveDataset` (the KL reader there):
  32 kHz taken at every second sample and then resampled 32k->16k again (the slip: the clip ends up at a
  quarter of its samples, played twice as fast), 48 kHz taken at every third sample, other rates resampled;
* `"decimate"`: My_Eval's `audio_eval` / audioldm_eval 0.0.2 FAD reader (`metrics/fad.py` `load_audio_task`,
  what the issue calls "32 kHz audio taken at every second sample"): the mean of the channels, 32 kHz taken at
  every second sample, no mean removal, no padding (16 and 32 kHz only: it resampled other rates with resampy).
My_Eval's own copy therefore scored FAD with `"decimate"` and KL with `"decimate+resample"`. PyPI's 0.0.3 (FAD
resampled with resampy) is not reproduced.

Evaluation models load from local files in their projects' published formats with `torch.load(weights_only=True)`
and strict key and shape checks (`load_vggish`, `load_panns`); nothing is downloaded.
"""

from __future__ import annotations

import math
import pickle
import re
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from scipy import linalg
from torch import nn

from unimumo.errors import UniMuMoError
from unimumo.eval.panns import Cnn14
from unimumo.eval.vggish import EMBEDDING_SIZE, VGGish, log_mel_examples

__all__ = [
    "DEFAULT_LOADER",
    "LOADERS",
    "MusicQualityError",
    "SAMPLE_RATE",
    "frechet_distance",
    "kl_divergences",
    "load_panns",
    "load_vggish",
    "panns_outputs",
    "read_audio",
    "sinc_resample",
    "to_16k",
    "vggish_embeddings",
]

SAMPLE_RATE = 16000
MIN_SAMPLES = 32000  # audioldm_eval pads every clip to at least 2 s at 16 kHz
KL_EPS = 1e-6


class MusicQualityError(UniMuMoError):
    kind = "music quality error"


# ------------------------------------------------------------------------------------------------------ audio


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """An audio file as `torchaudio.load` gives it: float32 samples [channels, samples] and the sample rate."""
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as error:
        raise MusicQualityError(f"{path}: cannot read the audio ({error})") from None
    if data.shape[0] == 0:
        raise MusicQualityError(f"{path}: the audio holds no samples")
    return np.ascontiguousarray(data.T), int(sr)


def sinc_resample(audio: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """`torchaudio.functional.resample` with its defaults (Hann-windowed sinc, 6 zero crossings, rolloff 0.99).

    The same arithmetic in the input's dtype: a polyphase kernel per output phase over the rates divided by their
    gcd, a strided convolution of the zero-padded signal, ceil(new * len / orig) samples kept.
    """
    if orig_sr == new_sr:
        return audio
    gcd = math.gcd(orig_sr, new_sr)
    orig, new = orig_sr // gcd, new_sr // gcd
    zero_crossings, rolloff = 6, 0.99
    base = min(orig, new) * rolloff
    width = math.ceil(zero_crossings * orig / base)
    dtype = audio.dtype
    idx = torch.arange(-width, width + orig, dtype=dtype)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=dtype)[:, None, None] / new + idx
    t = (t * base).clamp(-zero_crossings, zero_crossings)
    window = torch.cos(t * math.pi / zero_crossings / 2) ** 2
    t = t * math.pi
    kernels = torch.where(t == 0, torch.tensor(1.0, dtype=dtype), t.sin() / t) * (window * (base / orig))
    flat = audio.reshape(-1, audio.shape[-1])
    padded = nn.functional.pad(flat, (width, width + orig))
    out = nn.functional.conv1d(padded[:, None], kernels, stride=orig).transpose(1, 2).reshape(flat.shape[0], -1)
    out = out[:, : math.ceil(new * audio.shape[-1] / orig)]
    return out.reshape(audio.shape[:-1] + out.shape[-1:])


def _audioldm_reader(to_rate: Callable[[torch.Tensor, int], torch.Tensor]) -> Callable[[np.ndarray, int], torch.Tensor]:
    """audioldm_eval's `WaveDataset.read_from_file`: first channel, minus its mean, `to_rate`, padded to 2 s."""

    def read(audio: np.ndarray, sr: int) -> torch.Tensor:
        clip = torch.from_numpy(np.ascontiguousarray(audio[:1]))
        clip = to_rate(clip - clip.mean(), sr)
        return nn.functional.pad(clip, (0, max(0, MIN_SAMPLES - clip.shape[-1])))[0]

    return read


def _resample(clip: torch.Tensor, sr: int) -> torch.Tensor:
    return sinc_resample(clip, sr, SAMPLE_RATE)


def _decimate_then_resample(clip: torch.Tensor, sr: int) -> torch.Tensor:
    """The if / if / elif of audioldm_eval 0.0.2: for 32 kHz the `elif` still sees the file's rate."""
    if sr == 32000:
        return _resample(clip[..., ::2], sr)
    if sr == 48000:
        return clip[..., ::3]
    return _resample(clip, sr)


def _fad_reader_0_0_2(audio: np.ndarray, sr: int) -> torch.Tensor:
    """audioldm_eval 0.0.2's FAD reader (`metrics/fad.py` `load_audio_task`): the channels' mean, 32 kHz at every
    second sample, no mean removal, no padding; it resampled other rates with resampy, which is not reproduced."""
    if sr not in (SAMPLE_RATE, 32000):
        raise MusicQualityError(
            f"loader 'decimate' reads 16 kHz and 32 kHz audio only (upstream resampled {sr} Hz with resampy)"
        )
    mono = torch.from_numpy(np.asarray(audio, dtype=np.float64).mean(axis=0).astype(np.float32))
    return mono[::2] if sr == 32000 else mono


LOADERS: dict[str, Callable[[np.ndarray, int], torch.Tensor]] = {
    "resample": _audioldm_reader(_resample),  # audioldm_eval main, as eval_music.py ran it: the published numbers
    "decimate+resample": _audioldm_reader(_decimate_then_resample),  # My_Eval audio_eval / 0.0.2 WaveDataset (KL)
    "decimate": _fad_reader_0_0_2,  # My_Eval audio_eval / 0.0.2 FAD reader
}
DEFAULT_LOADER = "resample"


def to_16k(audio: np.ndarray, sr: int, loader: str = DEFAULT_LOADER) -> np.ndarray:
    """Audio [samples] or [channels, samples] at `sr` -> the 16 kHz mono float32 clip the evaluation models see,
    as the reader `loader` (`LOADERS`, module docstring) makes it."""
    if loader not in LOADERS:
        raise MusicQualityError(f"unknown audio loader {loader!r}; choose one of {', '.join(LOADERS)}")
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[None]
    if samples.ndim != 2 or samples.shape[1] == 0:
        raise MusicQualityError(f"audio must be [samples] or [channels, samples] with samples, got {samples.shape}")
    return LOADERS[loader](samples, int(sr)).numpy()


# ------------------------------------------------------------------------------------------------ checkpoints


_RECONSTRUCT = (np._core if hasattr(np, "_core") else np.core).multiarray._reconstruct
_NUMPY_GLOBALS = [  # numpy arrays as numpy 1.x and 2.x pickle them
    (_RECONSTRUCT, "numpy.core.multiarray._reconstruct"),
    (_RECONSTRUCT, "numpy._core.multiarray._reconstruct"),
    np.ndarray,
    np.dtype,
    *{type(np.dtype(t)) for t in (np.int64, np.int32, np.uint32, np.float64, np.float32, np.bool_)},
]


def _read_checkpoint(path: str | Path, what: str) -> object:
    """A torch file read with weights_only=True; numpy arrays are admitted (PANNs checkpoints hold a sampler's)."""
    path = Path(path)
    if not path.is_file():
        raise MusicQualityError(f"{path}: no such {what} file")
    try:
        with torch.serialization.safe_globals(_NUMPY_GLOBALS):
            # mapped, not copied, where the file is torch's zip format (older files are the legacy format)
            return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as error:  # any failure to unpickle is a bad file, named with its cause
        raise MusicQualityError(f"{path}: not a readable {what} ({_load_failure(error)})") from None


def _load_failure(error: Exception) -> str:
    text = str(error)
    refused = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if refused:
        return f"it holds {refused.group(1)}, which weights-only loading refuses: not weights"
    if isinstance(error, pickle.UnpicklingError):
        return "its contents cannot be read as tensors"
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def _load_strict(model: nn.Module, state: object, path: str | Path, what: str) -> nn.Module:
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MusicQualityError(f"{path}: not a {what} state dict (a dict of tensors)")
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise MusicQualityError(
            f"{path}: not a {what} checkpoint: missing keys {_few(missing)}, unexpected keys {_few(unexpected)}"
        )
    bad = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if state[k].shape != v.shape
    ]
    if bad:
        raise MusicQualityError(f"{path}: {what} weights of the wrong shape: {_few(bad)}")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, assign=True)
    return model.eval().requires_grad_(False)


def _few(names: list[str], limit: int = 5) -> str:
    if not names:
        return "none"
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def load_vggish(path: str | Path) -> VGGish:
    """torchvggish's published weights (`vggish-10086976.pth`: the VGG state dict, no PCA) -> VGGish, eval mode."""
    with torch.device("meta"):  # no initialisation: every weight comes from the file
        model = VGGish()
    return _load_strict(model, _read_checkpoint(path, "VGGish checkpoint"), path, "VGGish")


def load_panns(path: str | Path) -> Cnn14:
    """PANNs' published `Cnn14_16k_mAP=0.438.pth` (`{"model": state_dict, ...}`) -> Cnn14 at 16 kHz, eval mode."""
    checkpoint = _read_checkpoint(path, "PANNs Cnn14 checkpoint")
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise MusicQualityError(f"{path}: no 'model' entry (PANNs checkpoints are saved as {{'model': state_dict}})")
    with torch.device("meta"):
        model = Cnn14()
    return _load_strict(model, checkpoint["model"], path, "PANNs Cnn14 (16 kHz)")


# ---------------------------------------------------------------------------------------------- model outputs


@torch.no_grad()
def vggish_embeddings(model: VGGish, audio_16k: np.ndarray) -> np.ndarray:
    """One 16 kHz clip (`to_16k`) -> VGGish embeddings [n_examples, 128] float32, one per whole 0.96 s (none for a
    shorter clip: upstream's VGG fails on it and the clip is left out of the set)."""
    examples = torch.from_numpy(log_mel_examples(audio_16k))[:, None]
    if len(examples) == 0:
        return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
    device = next(model.parameters()).device
    return model(examples.to(device)).cpu().numpy()


@torch.no_grad()
def panns_outputs(model: Cnn14, audio_16k: np.ndarray) -> dict[str, np.ndarray]:
    """One 16 kHz clip (`to_16k`) -> {"logits": [527], "embedding": [2048]} float32, the clip as one batch row."""
    device = next(model.parameters()).device
    out = model(torch.as_tensor(np.asarray(audio_16k, dtype=np.float32))[None].to(device))
    return {name: value[0].cpu().numpy() for name, value in out.items()}


# --------------------------------------------------------------------------------------------------- formulas


def frechet_distance(emb_a: np.ndarray, emb_b: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to two embedding sets [N, D] and [M, D] (N, M >= 2).

    |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr(sqrt(S_a S_b)), S the `np.cov` covariance; if the product's square
    root is not finite, eps is added to both diagonals; a small imaginary part of the root is dropped.
    """
    a, b = (np.asarray(e, dtype=np.float64) for e in (emb_a, emb_b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise MusicQualityError(
            f"Frechet distance needs two embedding sets [N, D] with the same D and N >= 2, got {a.shape}, {b.shape}"
        )
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    sigma_a, sigma_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = linalg.sqrtm(sigma_a @ sigma_b)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(sigma_a)) * eps
        covmean = linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise MusicQualityError(f"Frechet distance: imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(covmean))


def _kl_terms(generated: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """sum over classes of ref * (log ref - log(gen + eps)), 0 where ref is 0 (torch's kl_div)."""
    return nn.functional.kl_div((generated + KL_EPS).log(), reference, reduction="none").sum(dim=-1)


def kl_divergences(
    gen_outputs: Sequence[dict[str, np.ndarray]], ref_outputs: Sequence[dict[str, np.ndarray]]
) -> dict[str, float]:
    """Mean over pairs (generated i, reference i) of KL(reference || generated) of Cnn14's class distributions.

    `kl_softmax`: softmax over the logits; `kl_sigmoid`: the per-class sigmoids, summed as they are.
    """
    if len(gen_outputs) != len(ref_outputs) or not gen_outputs:
        raise MusicQualityError(
            f"KL needs paired clips: {len(gen_outputs)} generated and {len(ref_outputs)} reference outputs"
        )
    gen = torch.from_numpy(np.stack([np.asarray(o["logits"], dtype=np.float32) for o in gen_outputs]))
    ref = torch.from_numpy(np.stack([np.asarray(o["logits"], dtype=np.float32) for o in ref_outputs]))
    if gen.shape != ref.shape:
        raise MusicQualityError(f"KL: generated logits {tuple(gen.shape)} and reference {tuple(ref.shape)} differ")
    softmax = _kl_terms(gen.softmax(dim=1), ref.softmax(dim=1))
    sigmoid = _kl_terms(gen.sigmoid(), ref.sigmoid())
    return {"kl_softmax": float(softmax.mean()), "kl_sigmoid": float(sigmoid.mean())}
