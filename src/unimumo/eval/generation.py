"""What every generation benchmark shares: reading samples, cached batched generation, decoding.

`EvalSession` opens a run: the output directory, the deterministic test samples and the model.
`generate_streams` runs `model.generate(task, ...)` chunk by chunk through `run_chunks`
(resumable, chunk i seeded with seed + i) and returns the generated codes of every sample.
`decode_motions` / `decode_music` turn codes back into joints / waveforms; `ground_truth` stacks
the samples' own codes and `decode_music_with_beats` also tracks the beats of the music.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from unimumo.eval.assets import load_model, load_motion_tokenizer, load_music_codec
from unimumo.eval.chunks import check_settings, run_chunks
from unimumo.eval.config import GenerationSettings, ShardEvalConfig
from unimumo.eval.samples import EvalSample, batch_inputs, read_eval_samples
from unimumo.rhythm import music_beats
from unimumo.tasks import task_named

MAX_TEXT_TOKENS = 64  # text ids fed per stream, as training's data.max_text_len (a config may set max_text_tokens)
# the options that change generated results: a cache made with other values is not reused
RESULT_SETTINGS = (
    "model",
    "shards",
    "split",
    "seconds",
    "guidance_scale",
    "batch_size",
    "seed",
    "temperature",
    "top_k",
    "top_p",
    "num_beams",
    "max_length",
    "motion_text",
)

# what a benchmark on its own inputs (not the shards) records of its config for its cache (`EvalSession.on_inputs`)
GENERATION_SETTINGS = ("seconds", "guidance_scale", "batch_size", "seed", "temperature", "top_k", "top_p")


def safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key)


@dataclass
class EvalSession:
    args: ShardEvalConfig | GenerationSettings  # the benchmark's validated config
    task: str
    out: Path
    samples: list[EvalSample]
    skipped_short: int

    @classmethod
    def open(cls, args: ShardEvalConfig, task: str) -> EvalSession:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        samples, skipped = read_eval_samples(args.shards, args.split, args.num_samples, args.seconds)
        settings = {name: getattr(args, name) for name in RESULT_SETTINGS if hasattr(args, name)}
        settings["model"] = str(Path(args.model).resolve())
        settings["shards"] = str(Path(args.shards).resolve())
        check_settings(out / "cache" / task, dict(settings, task=task))
        return cls(args=args, task=task, out=out, samples=samples, skipped_short=skipped)

    @classmethod
    def on_inputs(
        cls,
        config: GenerationSettings,
        task: str,
        samples: list[EvalSample],
        inputs: str,
        names: tuple[str, ...] = (),
        paths: dict[str, str] | None = None,
        **recorded,
    ) -> EvalSession:
        """A session on a published benchmark's own `inputs` (a label): its cache records GENERATION_SETTINGS and
        the config's fields `names`, the model's and `paths`' resolved paths and the `recorded` values (e.g. a
        codec fingerprint), and refuses a cache made with other ones."""
        out = Path(config.out)
        out.mkdir(parents=True, exist_ok=True)
        settings = {name: getattr(config, name) for name in (*GENERATION_SETTINGS, *names)}
        resolved = {name: str(Path(path).resolve()) for name, path in {"model": config.model, **(paths or {})}.items()}
        check_settings(out / "cache" / task, dict(settings, **resolved, task=task, inputs=inputs, **recorded))
        return cls(args=config, task=task, out=out, samples=samples, skipped_short=0)

    @property
    def cache_dir(self) -> Path:
        return self.out / "cache" / self.task

    def info(self, **extra) -> dict:
        """The run description that goes into metrics.json / metrics.md."""
        args = self.args
        info = {
            "benchmark": f"the shards' {args.split} split: not a published benchmark (the published ones run on their "
            "own inputs: unimumo-eval paper, music-caption, motion-caption, text2music --musiccaps)",
            "model": str(args.model),
            "shards": str(args.shards),
            "split": args.split,
            "num_samples": len(self.samples),
            "num_samples_requested": args.num_samples,
            "samples_skipped_too_short": self.skipped_short,
            "seconds": args.seconds,
            "batch_size": args.batch_size,
        }
        if hasattr(args, "seed"):
            info["seed"] = args.seed
        return {**info, **extra}

    def model(self):
        return load_model(self.args.model, self.args.device)

    def motion_tokenizer(self):
        return load_motion_tokenizer(self.args.shards, self.args.motion_tokenizer, self.args.device)

    def music_codec(self):
        return load_music_codec(self.args.shards, self.args.music_codec)

    def render_dir(self, index: int) -> Path:
        return self.out / "renders" / f"{index:04d}_{safe_name(self.samples[index].key)}"


@torch.no_grad()
def generate_streams(session: EvalSession, model) -> dict[str, np.ndarray]:
    """Generated codes {stream: int64 [num_samples, 4, T]} for the session's task (cached, resumable)."""
    args, task, samples = session.args, session.task, session.samples
    num_steps = samples[0].music_codes.shape[1]
    generated = tuple(f"{stream}_codes" for stream in task_named(task).generated)
    device = next(model.parameters()).device

    def compute(chunk: slice, seed: int) -> dict[str, np.ndarray]:
        batch = batch_inputs(samples[chunk], getattr(args, "max_text_tokens", MAX_TEXT_TOKENS))
        inputs = {
            name: batch[name].to(device)
            for name in ("music_text_ids", "music_text_mask", "motion_text_ids", "motion_text_mask")
        }
        for stream in ("music_codes", "motion_codes"):
            if stream not in generated:
                inputs[stream] = batch[stream].to(device)
        result = model.generate(
            task,
            **inputs,
            num_steps=num_steps,
            guidance_scale=args.guidance_scale,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            seed=seed,
        )
        return {stream: result[stream][..., :num_steps].cpu().numpy().astype(np.int16) for stream in generated}

    keys = [s.key for s in samples]
    codes = run_chunks(keys, args.batch_size, session.cache_dir, compute, args.seed, f"{task} generation")
    return {name: array.astype(np.int64) for name, array in codes.items()}


def decode_motions(
    tokenizer, codes: np.ndarray, fps: float, name: str, batch_size: int = 32, music_codes: np.ndarray | None = None
) -> list[np.ndarray]:
    """Joint positions [N,22,3] of every motion code sequence in `codes` [B,4,T], decoded in batches; a tokenizer
    in the music code space (`needs_music`) decodes each with its pair's `music_codes` [B,4,T] (None: silence)."""
    joints = []
    music = {} if music_codes is None or not tokenizer.needs_music else {"music_codes": music_codes}
    with tqdm(total=len(codes), desc=f"decode {name} motion", unit="motion") as progress:
        for start in range(0, len(codes), batch_size):
            batch = {key: value[start : start + batch_size] for key, value in music.items()}
            joints.extend(tokenizer.decode_joints(codes[start : start + batch_size], fps=fps, **batch))
            progress.update(len(codes[start : start + batch_size]))
    return joints


def decode_music(codec, codes: np.ndarray, name: str) -> list[np.ndarray]:
    """Waveforms of every music code sequence in `codes` [B,4,T]."""
    return [codec.decode(c) for c in tqdm(codes, desc=f"decode {name} music", unit="clip")]


def decode_music_with_beats(codec, codes: np.ndarray, name: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Waveforms of music codes [B,4,T] and the beat times (s) librosa tracks in each."""
    wavs = decode_music(codec, codes, name)
    return wavs, [music_beats(wav, codec.sampling_rate) for wav in wavs]


def ground_truth(samples: list[EvalSample], stream: str) -> np.ndarray:
    """The samples' own codes of `stream` ("music_codes" | "motion_codes"), stacked [B,4,T]."""
    return np.stack([getattr(sample, stream) for sample in samples])
