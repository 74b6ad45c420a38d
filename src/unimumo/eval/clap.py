"""CLAP score as published: LAION-CLAP's audio-text cosine, from a local laion_clap checkpoint.

The protocol is Cralence/My_Eval's `eval_clap.py` (commit ce5b01d): `laion_clap.CLAP_Module(enable_fusion=False)`
(HTSAT-tiny audio branch, roberta-base text branch) with the `630k-audioset-best.pt` checkpoint; each generated clip
is loaded with `get_audio_embedding_from_filelist` (librosa at 48 kHz, an int16 round trip, `rand_trunc` /
`repeatpad` to 480000 samples), its MusicCaps caption alone with `get_text_embedding` (roberta's tokenizer, padded and
truncated to 77 tokens); the score is the mean over clips of the cosine of the two L2-normalised embeddings.

The model is transformers' `ClapModel` (the port of laion's HTSAT + roberta) filled from laion's own `.pt` file: the
key renaming follows transformers' `convert_clap_original_pytorch_to_hf.py` (qkv split into query/key/value,
`norm1/2` -> `layernorm_before/after`, `bn0` -> `batch_norm`, `mlp.fc1/2` -> `intermediate/output.dense`,
`*_projection.0/2` -> `linear1/2`), and every key is accounted for: loaded, used by the spectrogram front end (the
checkpoint's own STFT kernels and mel filterbank, applied as laion's torchlibrosa layers apply them), checked
(HTSAT's derived Swin buffers must equal those the model computes) or named as unused by the embeddings (the AudioSet
tagging head, the training-only `*_transform` MLPs). The audio branch's widths, depths and heads are read from the
checkpoint; its geometry and audio settings are HTSAT-tiny's (`HTSAT-tiny.json`). roberta's config and tokenizer come
from a local directory. Nothing is downloaded; the checkpoint is read with `torch.load(weights_only=True)`.
Golden test against laion_clap 1.1.7 run on the same checkpoint: tests/eval/test_eval_clap.py.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from unimumo.errors import UniMuMoError
from unimumo.utils.log import get_logger

logger = get_logger(__name__)

SAMPLE_RATE = 48000
CLIP_SAMPLES = 480000  # laion's max_len: 10 s at 48 kHz
TEXT_MAX_TOKENS = 77  # laion's tokenizer: padding="max_length", truncation=True, max_length=77
# HTSAT-tiny's audio_cfg and geometry (laion's HTSAT-tiny.json and create_htsat_model)
HOP_SIZE = 480
SPEC_SIZE = 256
PATCH = 4
AMIN = 1e-10  # torchlibrosa's power_to_db floor (ref 1.0, no top_db)
INT16_SCALE = 32767.0

_FRONT_END = {
    "real": "audio_branch.spectrogram_extractor.stft.conv_real.weight",
    "imag": "audio_branch.spectrogram_extractor.stft.conv_imag.weight",
    "mel": "audio_branch.logmel_extractor.melW",
}
# Keys the embeddings do not use: the AudioSet tagging head, the training-only MLPs after the projections, and the
# position ids old transformers saved (laion drops them too).
_UNUSED = re.compile(
    r"^(audio_branch\.(tscam_conv|head)\.|(audio|text)_transform\.|text_branch\.embeddings\.position_ids$)"
)
_DERIVED = re.compile(r"\.(attn\.relative_position_index|attn_mask)$")
_RENAMES = (
    (r"^text_branch\.", "text_model."),
    (r"^(text|audio)_projection\.0\.", r"\1_projection.linear1."),
    (r"^(text|audio)_projection\.2\.", r"\1_projection.linear2."),
    (r"^audio_branch\.bn0\.", "audio_model.audio_encoder.batch_norm."),
    (r"^audio_branch\.", "audio_model.audio_encoder."),
    (r"\.norm1\.", ".layernorm_before."),
    (r"\.norm2\.", ".layernorm_after."),
    (r"\.attn\.relative_position_bias_table$", ".attention.self.relative_position_bias_table"),
    (r"\.attn\.proj\.", ".attention.output.dense."),
    (r"\.mlp\.fc1\.", ".intermediate.dense."),
    (r"\.mlp\.fc2\.", ".output.dense."),
)
_QKV = re.compile(r"\.attn\.qkv\.(weight|bias)$")
_ROBERTA_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "max_position_embeddings",
    "type_vocab_size",
    "layer_norm_eps",
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
)


class ClapError(UniMuMoError):
    """A CLAP checkpoint, text-model directory or input that cannot be used."""

    kind = "clap error"


# ---------------------------------------------------------------- audio as laion feeds it


def quantize_int16(waveform: np.ndarray) -> np.ndarray:
    """laion's int16 round trip (`int16_to_float32(float32_to_int16(x))`): clip to [-1, 1], scale by 32767,
    truncate to int16, scale back. Apply it once: a second round trip can move samples by one step."""
    clipped = np.clip(np.asarray(waveform, dtype=np.float32), -1.0, 1.0)
    return ((clipped * np.float32(INT16_SCALE)).astype(np.int16) / INT16_SCALE).astype(np.float32)


def load_audio(path: str | Path) -> np.ndarray:
    """A file as `get_audio_embedding_from_filelist` reads it: librosa, mono, resampled to 48 kHz (soxr_hq, librosa's
    default), then the int16 round trip."""
    import librosa

    if not Path(path).is_file():
        raise ClapError(f"{path}: audio file not found")
    try:
        waveform, _ = librosa.load(str(path), sr=SAMPLE_RATE, mono=True, res_type="soxr_hq")
    except Exception as error:  # librosa/soundfile/audioread raise many types for an unreadable file
        raise ClapError(f"{path}: cannot read audio ({error})") from error
    if waveform.size == 0:
        raise ClapError(f"{path}: no audio samples")
    return quantize_int16(waveform)


def fit_clip(waveform: np.ndarray, crop_seed: int = 0) -> np.ndarray:
    """One clip at laion's input length (`get_audio_features` with `rand_trunc` / `repeatpad`): a shorter clip is
    tiled whole as often as it fits and zero-padded; a longer one is cut at a random offset. laion draws that offset
    with numpy's global `np.random.randint(0, overflow + 1)`; here it is the first such draw of
    `np.random.RandomState(crop_seed)`, i.e. what laion draws after `np.random.seed(crop_seed)`, so a clip's
    embedding does not depend on the clips scored before it."""
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1 or waveform.size == 0:
        raise ClapError(f"CLAP takes mono audio as a non-empty 1-d array, got shape {waveform.shape}")
    if waveform.size > CLIP_SAMPLES:
        offset = np.random.RandomState(crop_seed).randint(0, waveform.size - CLIP_SAMPLES + 1)
        return waveform[offset : offset + CLIP_SAMPLES]
    tiled = np.tile(waveform, CLIP_SAMPLES // waveform.size)
    return np.pad(tiled, (0, CLIP_SAMPLES - tiled.size))


class _LogMel(torch.nn.Module):
    """HTSAT's (non-fusion) spectrogram front end with the checkpoint's kernels, as torchlibrosa computes it: reflect
    padding by n_fft/2, the STFT as two strided convolutions, power, the mel matrix, 10*log10(max(mel, 1e-10))."""

    def __init__(self, real: torch.Tensor, imag: torch.Tensor, mel: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("real", real)
        self.register_buffer("imag", imag)
        self.register_buffer("mel", mel)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:  # [B, samples] -> [B, 1, frames, mel bins]
        n_fft = self.real.shape[-1]
        padded = F.pad(waveforms[:, None, :], (n_fft // 2, n_fft // 2), mode="reflect")
        real = F.conv1d(padded, self.real, stride=HOP_SIZE)[:, None].transpose(2, 3)
        imag = F.conv1d(padded, self.imag, stride=HOP_SIZE)[:, None].transpose(2, 3)
        power = real**2 + imag**2
        return 10.0 * torch.log10(torch.clamp(torch.matmul(power, self.mel), min=AMIN))


# ---------------------------------------------------------------- the scorer


class ClapScorer:
    """LAION-CLAP's audio and text embeddings (L2-normalised, [N, 512])."""

    def __init__(self, model, front_end: _LogMel, tokenizer, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.front_end = front_end.to(self.device)
        self.tokenizer = tokenizer

    @torch.no_grad()
    def audio_embeddings(self, waveforms: Sequence[np.ndarray], batch_size: int = 8, crop_seed: int = 0) -> np.ndarray:
        """Embeddings of mono 48 kHz clips as laion's model receives them (read files with `load_audio`; pass audio
        held in memory through `quantize_int16` once, as laion does), each fitted to 10 s by `fit_clip`."""
        if len(waveforms) == 0:
            raise ClapError("no audio to embed")
        out = []
        for start in range(0, len(waveforms), batch_size):
            clips = np.stack([fit_clip(w, crop_seed) for w in waveforms[start : start + batch_size]])
            features = self.front_end(torch.from_numpy(clips).to(self.device))
            pooled = self.model.audio_model(input_features=features).pooler_output
            out.append(F.normalize(self.model.audio_projection(pooled), dim=-1).cpu())
        return torch.cat(out).numpy()

    @torch.no_grad()
    def text_embeddings(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embeddings of captions, tokenized as laion does (77 tokens, padded and truncated)."""
        if len(texts) == 0:
            raise ClapError("no text to embed")
        out = []
        for start in range(0, len(texts), batch_size):
            tokens = self.tokenizer(
                list(texts[start : start + batch_size]),
                padding="max_length",
                truncation=True,
                max_length=TEXT_MAX_TOKENS,
                return_tensors="pt",
            )
            pooled = self.model.text_model(
                input_ids=tokens["input_ids"].to(self.device), attention_mask=tokens["attention_mask"].to(self.device)
            ).pooler_output
            out.append(F.normalize(self.model.text_projection(pooled), dim=-1).cpu())
        return torch.cat(out).numpy()


def clap_score(audio_emb: np.ndarray, text_emb: np.ndarray) -> float:
    """The mean over pairs of the cosine of audio embedding i and text embedding i (My_Eval's CLAP score)."""
    audio_emb, text_emb = np.asarray(audio_emb, dtype=np.float64), np.asarray(text_emb, dtype=np.float64)
    if audio_emb.ndim != 2 or audio_emb.shape != text_emb.shape or len(audio_emb) == 0:
        raise ClapError(f"CLAP score needs paired [N, D] embeddings, got {audio_emb.shape} and {text_emb.shape}")
    audio_emb = audio_emb / np.linalg.norm(audio_emb, axis=1, keepdims=True)
    text_emb = text_emb / np.linalg.norm(text_emb, axis=1, keepdims=True)
    return float(np.mean(np.sum(audio_emb * text_emb, axis=1)))


# ---------------------------------------------------------------- loading


def _numpy_scalar_globals() -> list:
    """numpy scalars (laion's training saves some beside the weights, as LAION-CLAP checkpoints loaded elsewhere with
    weights_only show), under numpy 1's module name and numpy 2's: rebuilt from a dtype and raw bytes, no code runs."""
    scalar = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar
    dtypes = [
        getattr(np.dtypes, name)
        for name in ("Float64DType", "Float32DType", "Int64DType", "Int32DType", "BoolDType")
        if hasattr(np, "dtypes")
    ]
    return [(scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar"), np.dtype, *dtypes]


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """laion's checkpoint: {'state_dict': {...}, ...} or a bare state dict, keys with or without DDP's `module.`."""
    if not path.is_file():
        raise ClapError(f"{path}: CLAP checkpoint not found (laion_clap's 630k-audioset-best.pt)")
    try:
        with torch.serialization.safe_globals(_numpy_scalar_globals()):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError... for a damaged file
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        raise ClapError(f"{path}: not a readable torch checkpoint of tensors ({reason})") from error
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ClapError(f"{path}: not a laion_clap checkpoint (expected a dict of tensors under 'state_dict')")
    return {key.removeprefix("module."): value for key, value in state.items()}


def _hf_key(key: str) -> str:
    for pattern, replacement in _RENAMES:
        key = re.sub(pattern, replacement, key)
    return key


def _audio_config(state: dict[str, torch.Tensor], path: Path) -> dict:
    """The HTSAT widths, depths and heads the checkpoint holds; the rest is HTSAT-tiny's geometry."""
    required = [
        "audio_branch.patch_embed.proj.weight",
        "audio_branch.bn0.weight",
        "audio_projection.0.weight",
        *_FRONT_END.values(),
    ]
    if any(
        key.startswith(
            (
                "audio_branch.patch_embed.mel_conv2d.",
                "audio_branch.fusion_model.",
                "audio_branch.patch_embed.fusion_model.",
            )
        )
        for key in state
    ):
        raise ClapError(
            f"{path}: a feature-fusion CLAP checkpoint (enable_fusion=True); the published CLAP score uses "
            "the non-fusion 630k-audioset-best.pt"
        )
    missing = [key for key in required if key not in state]
    if missing:
        raise ClapError(f"{path}: not a laion_clap HTSAT checkpoint (enable_fusion=False): lacks {', '.join(missing)}")
    tables = {}
    for key, value in state.items():
        match = re.fullmatch(r"audio_branch\.layers\.(\d+)\.blocks\.(\d+)\.attn\.relative_position_bias_table", key)
        if match:
            tables[int(match[1]), int(match[2])] = value
    stages = sorted({stage for stage, _ in tables})
    if not stages or stages != list(range(len(stages))):
        raise ClapError(f"{path}: the HTSAT layers are missing or not numbered 0..N-1 (audio_branch.layers.*)")
    window = (math.isqrt(tables[0, 0].shape[0]) + 1) // 2
    return {
        "patch_embeds_hidden_size": state["audio_branch.patch_embed.proj.weight"].shape[0],
        "patch_size": PATCH,
        "patch_stride": [PATCH, PATCH],
        "spec_size": SPEC_SIZE,
        "window_size": window,
        "num_mel_bins": state["audio_branch.bn0.weight"].shape[0],
        "depths": [1 + max(block for s, block in tables if s == stage) for stage in stages],
        "num_attention_heads": [tables[stage, 0].shape[1] for stage in stages],
        "hidden_size": state["audio_projection.0.weight"].shape[1],
        "enable_fusion": False,
    }


def _text_config(text_model_dir: Path) -> dict:
    config_path = text_model_dir / "config.json"
    if not config_path.is_file():
        raise ClapError(f"{text_model_dir}: no config.json (give roberta-base's directory as the CLAP text model)")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as error:
        raise ClapError(f"{config_path}: unreadable ({error})") from error
    if config.get("model_type") != "roberta":
        raise ClapError(f"{config_path}: model_type is {config.get('model_type')!r}; CLAP's text branch is roberta")
    missing = [field for field in _ROBERTA_FIELDS if field not in config]
    if missing:
        raise ClapError(f"{config_path}: lacks {', '.join(missing)}")
    return {field: config[field] for field in _ROBERTA_FIELDS}


def _check_derived(model, key: str, value: torch.Tensor, path: Path) -> None:
    """HTSAT's derived Swin buffers must be the ones this geometry computes (else the checkpoint is another shape)."""
    match = re.fullmatch(r"audio_branch\.layers\.(\d+)\.blocks\.(\d+)\.(attn\.relative_position_index|attn_mask)", key)
    layers = model.audio_model.audio_encoder.layers
    stage, index = (int(match[1]), int(match[2])) if match else (len(layers), 0)
    if stage >= len(layers) or index >= len(layers[stage].blocks):
        raise ClapError(f"{path}: unexpected key {key} (not part of laion's HTSAT + roberta CLAP)")
    block = layers[stage].blocks[index]
    if match[3] == "attn_mask":
        block.set_shift_and_window_size(block.input_resolution)
        expected = block.get_attn_mask(*block.input_resolution, dtype=value.dtype, device=value.device)
    else:
        expected = block.attention.self.relative_position_index
    if expected is None or expected.shape != value.shape or not torch.equal(expected.to(value.dtype), value):
        raise ClapError(f"{path}: {key} does not match HTSAT's geometry (spectrogram {SPEC_SIZE}, patch {PATCH})")


def load_clap(checkpoint: str | Path, text_model_dir: str | Path, device: str | torch.device = "cpu") -> ClapScorer:
    """LAION-CLAP from laion_clap's `.pt` checkpoint (HTSAT, enable_fusion=False) and roberta's directory (its
    config.json and tokenizer files)."""
    from transformers import AutoTokenizer, ClapConfig, ClapModel

    path, text_model_dir = Path(checkpoint), Path(text_model_dir)
    state = _read_state_dict(path)
    config = ClapConfig(
        audio_config=_audio_config(state, path),
        text_config=_text_config(text_model_dir),
        projection_dim=state["audio_projection.0.weight"].shape[0],
    )
    model = ClapModel(config).eval()
    target = model.state_dict()
    loaded: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if _UNUSED.match(key) or key in _FRONT_END.values():
            continue
        if _DERIVED.search(key):
            _check_derived(model, key, value, path)
            continue
        name = _hf_key(key)
        if _QKV.search(key):
            parts = dict(zip(("query", "key", "value"), value.chunk(3, dim=0)))
            pieces = {_QKV.sub(rf".attention.self.{part}.\1", name): tensor for part, tensor in parts.items()}
        else:
            pieces = {name: value}
        for name, tensor in pieces.items():
            if name not in target:
                raise ClapError(f"{path}: unexpected key {key} (not part of laion's HTSAT + roberta CLAP)")
            if tensor.shape != target[name].shape:
                raise ClapError(
                    f"{path}: {key} has shape {tuple(tensor.shape)}, the model built from the checkpoint and "
                    f"{text_model_dir / 'config.json'} expects {tuple(target[name].shape)}"
                )
            loaded[name] = tensor
    computed = re.compile(r"(relative_position_index|embeddings\.position_ids|embeddings\.token_type_ids)$")
    missing = sorted(name for name in target if name not in loaded and not computed.search(name))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ClapError(f"{path}: the checkpoint lacks weights for {shown}")
    model.load_state_dict({**target, **loaded}, strict=True)
    front_end = _LogMel(*(state[_FRONT_END[name]].float() for name in ("real", "imag", "mel")))
    if front_end.mel.shape != (front_end.real.shape[0], config.audio_config.num_mel_bins):
        raise ClapError(
            f"{path}: {_FRONT_END['mel']} has shape {tuple(front_end.mel.shape)}, expected "
            f"({front_end.real.shape[0]}, {config.audio_config.num_mel_bins})"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(text_model_dir)
    except (OSError, ValueError, TypeError) as error:
        raise ClapError(f"{text_model_dir}: cannot load roberta's tokenizer ({error})") from error
    logger.info("CLAP: %s (HTSAT depths %s), text model %s", path, config.audio_config.depths, text_model_dir)
    return ClapScorer(model, front_end, tokenizer, device)
