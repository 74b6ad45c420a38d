"""MotionTokenizer: the frozen motion VQ-VAE as the shard builder and the evaluation use it.

It takes raw HumanML3D features at their own frame rate (AIST++ 60 fps, HumanML3D 20 fps, ...),
resamples them to the network's rate, normalises them with the stored statistics and returns
int64 codes [4,T] at 50 codes/s with T = round(N / fps * 50); decoding goes the other way.
The fingerprint (sha256 of the config, the weights, the codebooks and the feature statistics)
is written next to the weights and checked on load.

A tokenizer in the music code space (`config.codebook == "music"`, `MusicCodebookMotionVQVAE`; `needs_music`)
encodes a clip together with its pair's music, a mono waveform at the codec's sampling rate starting with the
clip (`encode(..., music=[wav, ...])`), and decodes codes together with the pair's music codes
(`decode(..., music_codes=...)`). Where a clip has no music (None, or no `music` at all: motion given alone, as
in dance -> music) the network sees silence, as the authors' `encode_motion` does; shorter music is padded
with silence. The independent tokenizer takes no music.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from unimumo.models.configuration_motion_vqvae import MotionVQVAEConfig
from unimumo.models.motion_vqvae import MotionVQVAE
from unimumo.models.motion_vqvae_music import MusicCodebookMotionVQVAE, motion_vqvae_class, saved_config
from unimumo.motion.humanml3d_features import (
    MotionFormatError,
    features_to_joints,
    joints_to_features,
    validate_features,
)
from unimumo.motion.resample import resample_features
from unimumo.motion.skeleton import smpl_to_joints22
from unimumo.motion.stats import compute_feature_stats
from unimumo.motion.synthetic_dance import synthetic_smpl_dance
from unimumo.utils.fingerprint import fingerprint_state
from unimumo.utils.io import atomic_directory, atomic_write_json

TOKENIZER_FILE = "motion_tokenizer.json"
TRAINING_ONLY_BUFFERS = ("quantizer.cluster_size", "quantizer.embed_sum")  # EMA state; never changes codes
# config fields of the music-codebook variant, fingerprinted only when it is one (independent fingerprints unchanged)
VARIANT_FIELDS = ("codebook", "music_codec_config", "mix_multiplier")


class MotionTokenizer:
    """Frozen motion VQ-VAE with numpy in, numpy out. Not thread-safe; one per process.

    The fingerprint is computed once, from the model as it is when the tokenizer is built.
    """

    def __init__(self, model: MotionVQVAE, batch_size: int = 32):
        self.model = model.eval()
        self.config: MotionVQVAEConfig = model.config
        self.batch_size = batch_size
        self.fingerprint = self.compute_fingerprint(model)

    # -- construction / persistence --------------------------------------------------------
    @staticmethod
    def compute_fingerprint(model: MotionVQVAE) -> str:
        names = [
            name
            for name in MotionVQVAEConfig.__annotations__  # its own fields
            if model.config.codebook != "independent" or name not in VARIANT_FIELDS
        ]
        config = {name: getattr(model.config, name) for name in names}
        state = {k: v for k, v in model.state_dict().items() if k not in TRAINING_ONLY_BUFFERS}
        return fingerprint_state(config, state)

    @classmethod
    def from_random(cls, seed: int = 0, preset: str = "tiny", music_codec=None, **config_overrides) -> MotionTokenizer:
        """A random-weight tokenizer (same seed and config -> same weights, statistics and fingerprint); with
        `music_codec` (a transformers EncodecModel) one in that codec's code space (`codebook="music"`)."""
        config = MotionVQVAEConfig.preset(preset, **config_overrides)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = (
                MotionVQVAE(config)
                if music_codec is None
                else MusicCodebookMotionVQVAE.from_music_codec(config, music_codec)
            )
        # Statistics of synthetic dances, so that real-scale features reach the network normalised.
        clips = [
            joints_to_features(smpl_to_joints22(*synthetic_smpl_dance(121, 20.0, bpm, seed + i)))
            for i, bpm in enumerate((90.0, 120.0, 150.0))
        ]
        model.set_feature_stats(*compute_feature_stats(clips))
        return cls(model)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> MotionTokenizer:
        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path}: not a motion tokenizer directory (no config.json)")
        model = motion_vqvae_class(saved_config(path)).from_pretrained(path).to(device)
        tokenizer = cls(model)
        record = path / TOKENIZER_FILE
        if record.is_file():
            stored = json.loads(record.read_text()).get("fingerprint")
            if stored != tokenizer.fingerprint:
                raise ValueError(
                    f"{record}: stored fingerprint {stored} does not match the loaded weights "
                    f"({tokenizer.fingerprint}); the directory is corrupt or was modified"
                )
        return tokenizer

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write config, weights and fingerprint to `path`, replacing it atomically."""
        with atomic_directory(path) as staging:
            self.model.save_pretrained(staging)
            atomic_write_json(
                staging / TOKENIZER_FILE, {"fingerprint": self.fingerprint, "code_rate": self.config.code_rate}
            )

    def to(self, device: str | torch.device) -> MotionTokenizer:
        self.model.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return self.model.feature_mean.device

    @property
    def needs_music(self) -> bool:
        """Whether codes are in the music code space and so encoded and decoded with the pair's music."""
        return self.config.codebook == "music"

    @property
    def music_sampling_rate(self) -> int | None:
        """The waveform rate `encode(..., music=...)` expects (the music codec's), None without music."""
        return int(self.config.music_codec_config["sampling_rate"]) if self.needs_music else None

    # -- features <-> network input --------------------------------------------------------
    def num_codes(self, num_frames: int, fps: float) -> int:
        """Code steps of a clip: round(num_frames / fps * code_rate)."""
        return int(round(num_frames / fps * self.config.code_rate))

    def check_clip(self, clip: np.ndarray, fps: float, source: str = "motion clip") -> tuple[np.ndarray, int]:
        """(clip as float32 [N,263], its code steps) if `encode` accepts it, else MotionFormatError naming `source`."""
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        clip = validate_features(clip, source)
        steps = self.num_codes(len(clip), fps)
        if steps < 1:
            raise MotionFormatError(
                f"{source}: clip too short: {len(clip)} frames at {fps} fps give no code "
                f"at {self.config.code_rate} codes/s"
            )
        return clip, steps

    def prepare(self, clips: Sequence[np.ndarray], fps: float, sources: Sequence[str] | None = None):
        """Validate (`check_clip`), resample to the network rate and normalise clips [N_i,263].

        Returns (features [B,L,263] float tensor, mask [B,L] bool) on the model's device, where clip i
        fills num_codes(N_i, fps) * frames_per_code frames.
        """
        sources = sources or [f"motion clip {i}" for i in range(len(clips))]
        resampled = []
        for clip, source in zip(clips, sources):
            clip, steps = self.check_clip(clip, fps, source)
            frames = steps * self.config.frames_per_code
            resampled.append(resample_features(clip, fps, self.config.frame_rate, frames, source))
        length = max(len(r) for r in resampled)
        batch = np.zeros((len(resampled), length, self.config.feature_dim), dtype=np.float32)
        mask = np.zeros((len(resampled), length), dtype=bool)
        for row, clip in enumerate(resampled):
            batch[row, : len(clip)], mask[row, : len(clip)] = clip, True
        features, mask = torch.from_numpy(batch).to(self.device), torch.from_numpy(mask).to(self.device)
        return self.model.normalize(features) * mask.unsqueeze(-1), mask

    def _music_batch(self, music: list, steps: list[int]) -> torch.Tensor | None:
        """Waveforms (None: silence) cut or padded with silence to their clip's code steps, as [B,S]."""
        if not self.needs_music:
            if any(wav is not None for wav in music):
                raise ValueError(
                    "this motion tokenizer is independent of music (codebook 'independent'); encode without music"
                )
            return None
        hop = self.config.music_hop
        batch = np.zeros((len(music), max(steps) * hop), dtype=np.float32)
        for row, (wav, count) in enumerate(zip(music, steps)):
            if wav is not None:
                wav = np.asarray(wav, dtype=np.float32)
                if wav.ndim != 1:
                    raise ValueError(f"music of motion clip {row}: expected a mono waveform [S], got {list(wav.shape)}")
                piece = wav[: count * hop]
                batch[row, : len(piece)] = piece
        return torch.from_numpy(batch).to(self.device)

    # -- public API --------------------------------------------------------------------------
    def encode(self, features, fps: float, progress: bool = False, music=None):
        """Codes at 50 Hz of features [N,263] -> [4,T]; a list of clips -> list; [B,N,263] -> [B,4,T] (int64).

        `music` (music-codebook tokenizers, `needs_music`): the pair's waveform per clip, at
        `music_sampling_rate`, starting with the clip (one waveform for one clip, else a list; None: silence)."""
        if isinstance(features, torch.Tensor):
            features = features.detach().cpu().numpy()
        if isinstance(features, np.ndarray) and features.ndim == 2:
            return self.encode([features], fps, music=None if music is None else [music])[0]
        if isinstance(features, np.ndarray) and features.ndim == 3:
            return np.stack(self.encode(list(features), fps, progress, music))
        if not isinstance(features, (list, tuple)):
            raise MotionFormatError(
                f"encode expects features [N,263], [B,N,263] or a list of [N,263], got {type(features).__name__}"
                + (f" of shape {list(features.shape)}" if hasattr(features, "shape") else "")
            )
        clips = [np.asarray(c.detach().cpu() if isinstance(c, torch.Tensor) else c) for c in features]
        music = [None] * len(clips) if music is None else list(music)
        if len(music) != len(clips):
            raise ValueError(f"encode: {len(music)} music waveforms for {len(clips)} motion clips")
        order = sorted(range(len(clips)), key=lambda i: -len(clips[i]))  # similar lengths share a batch
        codes: list[np.ndarray | None] = [None] * len(clips)
        starts = range(0, len(order), self.batch_size)
        for start in tqdm(starts, desc="encoding motion", disable=not progress, unit="batch"):
            chunk = order[start : start + self.batch_size]
            inputs, mask = self.prepare([clips[i] for i in chunk], fps, [f"motion clip {i}" for i in chunk])
            waves = self._music_batch([music[i] for i in chunk], [self.num_codes(len(clips[i]), fps) for i in chunk])
            batch_codes = (
                (self.model.encode(inputs, mask, waves) if self.needs_music else self.model.encode(inputs, mask))
                .cpu()
                .numpy()
            )
            for row, index in enumerate(chunk):
                codes[index] = batch_codes[row, :, : self.num_codes(len(clips[index]), fps)].astype(np.int64)
        return codes

    def _check_codes(self, codes) -> np.ndarray:
        codes = np.asarray(codes.detach().cpu() if isinstance(codes, torch.Tensor) else codes)
        expected = self.config.num_codebooks
        if codes.ndim not in (2, 3) or codes.shape[-2] != expected or codes.shape[-1] < 1:
            raise ValueError(
                f"expected motion codes [{expected},T] or [B,{expected},T] with T >= 1, got {list(codes.shape)}"
            )
        if not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"motion codes must be integers, got dtype {codes.dtype}")
        if codes.min() < 0 or codes.max() >= self.config.codebook_size:
            raise ValueError(
                f"motion codes must lie in [0, {self.config.codebook_size}), got range [{codes.min()}, {codes.max()}]"
            )
        return codes.astype(np.int64)

    @torch.no_grad()
    def decode(self, codes, fps: float = 20.0, music_codes=None) -> np.ndarray:
        """Denormalised features at `fps` of codes [4,T] -> [N,263] or [B,4,T] -> [B,N,263], N = round(T / 50 * fps).

        `music_codes` (music-codebook tokenizers): the pair's music codes, shaped as `codes` (None: silence)."""
        codes = self._check_codes(codes)
        if music_codes is not None:
            if not self.needs_music:
                raise ValueError("this motion tokenizer is independent of music; decode without music codes")
            music_codes = self._check_codes(music_codes)
            if music_codes.ndim != codes.ndim or music_codes.shape[:-1] != codes.shape[:-1]:
                raise ValueError(f"music codes {list(music_codes.shape)} do not match motion codes {list(codes.shape)}")
        if codes.ndim == 2:
            return self.decode(codes[None], fps, None if music_codes is None else music_codes[None])[0]
        tensor = torch.from_numpy(codes).to(self.device)
        if self.needs_music:
            music = None if music_codes is None else torch.from_numpy(music_codes).to(self.device)
            normalised = self.model.decode(tensor, music_codes=music)
        else:
            normalised = self.model.decode(tensor)
        features = self.model.denormalize(normalised).float().cpu().numpy()
        frames = int(round(codes.shape[-1] / self.config.code_rate * fps))
        return np.stack([resample_features(f, self.config.frame_rate, fps, frames, "decoded motion") for f in features])

    def decode_joints(self, codes, fps: float = 20.0, music_codes=None) -> np.ndarray:
        """Joint positions [N,22,3] (or [B,N,22,3]) of decoded codes, via features_to_joints."""
        return features_to_joints(self.decode(codes, fps, music_codes))
