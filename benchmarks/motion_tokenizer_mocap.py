"""Reconstruction error (MPJPE, mm) of both motion tokenizers on real motion capture, with and without the music.

Data (benchmarks/mocap_data.py says where it comes from, its licence and the joint mapping): the 15 DeepMimic
humanoid clips of the pybullet 3.2.7 wheel (36 s of retargeted mocap, among them two dances), converted to the 22
SMPL joints and to HumanML3D features at 60 fps. Held out (never trained on): HELD_OUT below; the others train.
Music: the four real CC0 drum loops of tests/assets/beats (Sonic Pi's samples, tests/assets/beats/README.md),
resampled to 32 kHz and tiled; a training window is paired with a random loop at a random offset, a held-out clip
with loop (index mod 4) from its start.

Both tokenizers train the same way, side by side: the `tiny` preset (or --preset), AdamW (lr --lr, no weight
decay), --steps steps of --batch windows of --window-s seconds cut from the training clips at the network's rate,
normalised with the training clips' statistics; each model's own forward (the one `unimumo-train --recipe
motion_vqvae` runs). The music-codebook one quantises with the frozen codebooks of a music codec; no pretrained
EnCodec can be had here, so by default it is a random-weight one with seeded codebooks: the project's tiny EnCodec
(`--codec tiny`, `tiny_random_encodec`, 4 x 2048 codes of 16 dims) or EnCodec 32 kHz's architecture (`--codec
encodec_32khz`, `seeded_random_encodec(encodec_32khz_config())`, 128 dims, slower); `--codec DIR` takes a real
EncodecModel directory instead. A random codec's music features are those of a random encoder, so its figures say
how this network uses such features, not what EnCodec 32 kHz's trained ones would give.

Evaluation goes through `MotionTokenizer` as the shard builder and the benchmarks use it: each held-out clip is
encoded at its own 60 fps (whole clip) and decoded back, and MPJPE (unimumo.motion.reconstruction_error,
feature_mpjpe_mm: joints recovered from the features, global and root-relative) is taken over every frame. The
music-codebook tokenizer is measured with the pair's music (encode with its waveform, decode with its EnCodec codes)
and with silence (encode without music, decode without music codes: what dance -> music sees). Before training, and
on the training clips themselves, are reported too, and how much the frozen music encoder's features move with the
music at all (`music_feature_response`: mean |features(music) - features(silence)| / std). The pairs are random
(the clips have no music of their own): the music says nothing about the motion, so "music" vs "silence" measures
what taking the music input away does to a network trained with it present (--silence-fraction F pairs that share
of the training windows with silence instead).

    pip download pybullet==3.2.7 --no-deps -d /tmp/pb && unzip -q /tmp/pb/pybullet-*.whl 'pybullet_data/*' -d /tmp/pb
    python benchmarks/motion_tokenizer_mocap.py --motions /tmp/pb/pybullet_data/data/motions [--steps 600]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import soundfile  # noqa: E402
import torch  # noqa: E402
from scipy.signal import resample_poly  # noqa: E402
from transformers import EncodecModel  # noqa: E402

from mocap_data import read_clips  # noqa: E402
from unimumo.models.configuration_motion_vqvae import MotionVQVAEConfig  # noqa: E402
from unimumo.models.motion_tokenizer import MotionTokenizer  # noqa: E402
from unimumo.models.motion_vqvae import MotionVQVAE  # noqa: E402
from unimumo.models.motion_vqvae_music import MusicCodebookMotionVQVAE  # noqa: E402
from unimumo.models.music_codec import (  # noqa: E402
    encodec_32khz_config,
    seeded_random_encodec,
    tiny_random_encodec,
)
from unimumo.motion.humanml3d_features import joints_to_features  # noqa: E402
from unimumo.motion.reconstruction_error import feature_mpjpe_mm  # noqa: E402
from unimumo.motion.resample import resample_features  # noqa: E402
from unimumo.motion.stats import compute_feature_stats  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HELD_OUT = ("humanoid3d_dance_b", "humanoid3d_spinkick", "humanoid3d_walk", "humanoid3d_punch")
FPS = 60.0
SAMPLING_RATE = 32000


def read_music(directory: Path) -> list[np.ndarray]:
    """The loops of `directory` (*.flac, sorted), mono at 32 kHz."""
    loops = []
    for path in sorted(directory.glob("*.flac")):
        wav, rate = soundfile.read(path, dtype="float32", always_2d=True)
        loops.append(resample_poly(wav.mean(axis=1), SAMPLING_RATE, rate).astype(np.float32))
    if not loops:
        raise FileNotFoundError(f"{directory}: no .flac music")
    return loops


def music_span(loop: np.ndarray, start: int, samples: int) -> np.ndarray:
    """`samples` samples of `loop` tiled, from sample `start`."""
    reps = (start + samples) // len(loop) + 1
    return np.tile(loop, reps)[start : start + samples]


def build(kind: str, preset: str, codec, seed: int, stats) -> MotionVQVAE:
    torch.manual_seed(seed)
    config = MotionVQVAEConfig.preset(preset)
    model = MotionVQVAE(config) if kind == "independent" else MusicCodebookMotionVQVAE.from_music_codec(config, codec)
    model.set_feature_stats(*stats)
    return model


def train(model, clips, loops, args) -> list[float]:
    """AdamW on random windows (+ random music spans for the music-codebook model); the recon losses."""
    rng = np.random.default_rng(args.seed)
    rate = model.config.frame_rate
    frames = int(round(args.window_s * rate)) // model.config.frames_per_code * model.config.frames_per_code
    resampled = [resample_features(clip, FPS, rate, None, "train clip") for clip in clips]
    resampled = [clip for clip in resampled if len(clip) >= frames]
    weights = np.array([len(clip) - frames + 1 for clip in resampled], dtype=np.float64)
    hop = model.config.music_hop // model.config.frames_per_code if model.config.codebook == "music" else 0
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(args.steps):
        picks = rng.choice(len(resampled), size=args.batch, p=weights / weights.sum())
        windows = []
        for pick in picks:
            start = rng.integers(0, len(resampled[pick]) - frames + 1)
            windows.append(resampled[pick][start : start + frames])
        features = model.normalize(torch.from_numpy(np.stack(windows)).float())
        inputs = {"features": features}
        if hop:
            spans = [
                music_span(loops[k], int(rng.integers(0, len(loops[k]))), frames * hop)
                * (rng.random() >= args.silence_fraction)  # silence for this share of the windows
                for k in rng.integers(0, len(loops), size=args.batch)
            ]
            inputs["music"] = torch.from_numpy(np.stack(spans).astype(np.float32))
        output = model(**inputs)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append(float(output.recon_loss.detach()))
    return losses


def music_codes(codec, wav: np.ndarray, steps: int) -> np.ndarray:
    with torch.no_grad():
        codes = codec.encode(torch.from_numpy(wav)[None, None], bandwidth=codec.config.target_bandwidths[0])
    return codes.audio_codes[0, 0, :, :steps].numpy()


def music_response(model, loops) -> float:
    """How much the frozen music encoder's features move with the music: mean |features(loop) - features(silence)|
    over the std of features(loop), 1 s of each loop."""
    steps = model.config.code_rate
    wavs = torch.from_numpy(np.stack([music_span(loop, 0, steps * model.config.music_hop) for loop in loops]))
    music, silence = model.music_features(wavs, len(loops), steps), model.music_features(None, len(loops), steps)
    return round(float((music - silence).abs().mean() / music.std()), 4)


def evaluate(model, clips, loops, codec) -> dict:
    """Held-out MPJPE (global and root-relative, mm, all frames of all clips) per music condition."""
    tokenizer = MotionTokenizer(model)
    conditions = ("music", "silence") if tokenizer.needs_music else ("none",)
    errors = {condition: {"global": [], "root_relative": [], "frames": []} for condition in conditions}
    for index, clip in enumerate(clips):
        steps = tokenizer.num_codes(len(clip), FPS)
        for condition in conditions:
            wav, decode_music = None, {}
            if condition == "music":
                wav = music_span(loops[index % len(loops)], 0, steps * model.config.music_hop)
                decode_music = {"music_codes": music_codes(codec, wav, steps)}
            codes = tokenizer.encode(clip, FPS, music=wav)
            decoded = tokenizer.decode(codes, FPS, **decode_music)
            count = min(len(decoded), len(clip))
            truth, recon = torch.from_numpy(clip[:count]), torch.from_numpy(decoded[:count])
            errors[condition]["global"].append(float(feature_mpjpe_mm(recon, truth)) * count)
            errors[condition]["root_relative"].append(float(feature_mpjpe_mm(recon, truth, root_relative=True)) * count)
            errors[condition]["frames"].append(count)
    table = {}
    for condition, sums in errors.items():
        frames = sum(sums["frames"])
        table[condition] = {key: round(sum(sums[key]) / frames, 1) for key in ("global", "root_relative")}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--motions", help="pybullet_data/data/motions (default: the installed pybullet's)")
    parser.add_argument("--music", default=str(REPO / "tests" / "assets" / "beats"), help="directory of .flac music")
    parser.add_argument("--preset", default="tiny", choices=("tiny", "base"))
    parser.add_argument(
        "--codec",
        default="tiny",
        help="the music codec: tiny (tiny_random_encodec), encodec_32khz (its shape, random: seeded_random_encodec) "
        "or a transformers EncodecModel directory (e.g. a local copy of facebook/encodec_32khz)",
    )
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--window-s", type=float, default=0.64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--silence-fraction", type=float, default=0.0, help="share of the training windows paired with silence"
    )
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    if args.codec not in ("tiny", "encodec_32khz") and not Path(args.codec).is_dir():  # a hub name would download
        parser.error(f"--codec {args.codec}: not tiny, encodec_32khz or a local EncodecModel directory")
    torch.set_num_threads(1)

    clips = read_clips(args.motions, FPS)
    features = {clip.name: joints_to_features(clip.joints, fps=FPS) for clip in clips}
    held_out = [name for name in HELD_OUT if name in features]
    trained_on = [name for name in features if name not in held_out]
    loops = read_music(Path(args.music))
    if args.codec in ("tiny", "encodec_32khz"):
        codec = tiny_random_encodec(0) if args.codec == "tiny" else seeded_random_encodec(encodec_32khz_config(), 0)
    else:
        codec = EncodecModel.from_pretrained(args.codec).eval()
    train_clips = [features[name] for name in trained_on]
    test_clips = [features[name] for name in held_out]
    stats = compute_feature_stats(train_clips)
    results = {
        "data": {
            "train_clips": trained_on,
            "held_out_clips": held_out,
            "train_seconds": round(sum(len(c) for c in train_clips) / FPS, 2),
            "held_out_seconds": round(sum(len(c) for c in test_clips) / FPS, 2),
            "music": [p.name for p in sorted(Path(args.music).glob("*.flac"))],
        },
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)},
    }
    for kind in ("independent", "music"):
        model = build(kind, args.preset, codec, args.seed, stats)
        before = evaluate(model.eval(), test_clips, loops, codec)
        start = time.perf_counter()
        losses = train(model, train_clips, loops, args)
        seconds = time.perf_counter() - start
        after = evaluate(model.eval(), test_clips, loops, codec)
        results[kind] = {
            "untrained_mpjpe_mm": before,
            "mpjpe_mm": after,
            "train_clips_mpjpe_mm": evaluate(model, train_clips, loops, codec),
            "recon_loss_first_last_10": [round(float(np.mean(losses[:10])), 4), round(float(np.mean(losses[-10:])), 4)],
            "train_seconds": round(seconds, 1),
        }
        if kind == "music":
            results[kind]["music_feature_response"] = music_response(model, loops)
        print(kind, json.dumps(results[kind]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
