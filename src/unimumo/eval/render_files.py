"""`unimumo-eval render`: renderings of any motion (and music) file, e.g. outputs of a generation script.

Motion comes as joint positions (`--joints X.npy`, [N,22,3]) or motion codes (`--motion-codes X.npy`,
[4,T], decoded with `--motion-tokenizer`); music, optionally, as a wav (`--wav`) or music codes
(`--music-codes`, decoded with `--music-codec`). Writes motion.npy, motion.bvh, dance.gif (music
beats marked), speed_beats.png, music.wav when music was given, and metrics.json/.md with the
motion's BAS (against the music's librosa beats) and PFC.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from unimumo.eval.metric_functions import physical_foot_contact
from unimumo.eval.render import render_motion, write_wav
from unimumo.eval.report import write_report
from unimumo.motion.skeleton import validate_joints
from unimumo.rhythm import beat_alignment_score, motion_beats, music_beats

TASK = "render"


def add_render_options(parser: argparse.ArgumentParser) -> None:
    motion = parser.add_mutually_exclusive_group(required=True)
    motion.add_argument("--joints", help="joint positions .npy [N,22,3] (metres, y up)")
    motion.add_argument("--motion-codes", help="motion codes .npy [4,T] (needs --motion-tokenizer)")
    music = parser.add_mutually_exclusive_group()
    music.add_argument("--wav", help="music as a wav file")
    music.add_argument("--music-codes", help="music codes .npy [4,T] (needs --music-codec)")
    parser.add_argument(
        "--fps", type=float, default=20.0, help="frame rate of --joints, or to decode --motion-codes at (default: 20)"
    )
    parser.add_argument("--motion-tokenizer", help="motion tokenizer directory for --motion-codes")
    parser.add_argument("--music-codec", help="EnCodec directory for --music-codes")
    parser.add_argument("--title", default="", help="title shown on the GIF and the plot")
    parser.add_argument("--out", required=True, help="output directory")


def _load_npy(path: str, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read {what} ({error})") from error


def _motion(args: argparse.Namespace) -> np.ndarray:
    if args.joints:
        return _load_npy(args.joints, "joint positions")
    if not args.motion_tokenizer:
        raise ValueError("--motion-codes needs --motion-tokenizer")
    from unimumo.models.motion_tokenizer import MotionTokenizer

    codes = _load_npy(args.motion_codes, "motion codes")
    return MotionTokenizer.from_pretrained(args.motion_tokenizer).decode_joints(codes, fps=args.fps)


def _music(args: argparse.Namespace) -> tuple[np.ndarray, int] | None:
    if args.wav:
        try:
            wav, rate = sf.read(args.wav, dtype="float32", always_2d=True)
        except (OSError, RuntimeError) as error:
            raise ValueError(f"{args.wav}: cannot read audio ({error})") from error
        return wav.mean(axis=1), rate
    if args.music_codes:
        if not args.music_codec:
            raise ValueError("--music-codes needs --music-codec")
        from unimumo.models.music_codec import MusicCodec

        codec = MusicCodec.from_pretrained(args.music_codec)
        return codec.decode(_load_npy(args.music_codes, "music codes")), codec.sampling_rate
    return None


def run(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    joints = validate_joints(_motion(args), source=args.joints or args.motion_codes)
    music = _music(args)
    beats = np.zeros(0)
    if music is not None:
        write_wav(out / "music.wav", *music)
        beats = music_beats(*music)
    render_motion(out, joints, args.fps, beats, args.title)
    table = {
        "motion": {
            "BAS": beat_alignment_score(beats, motion_beats(joints, args.fps)) if len(beats) else None,
            "PFC": physical_foot_contact(joints, args.fps),
        }
    }
    write_report(
        out,
        TASK,
        table,
        {
            "motion": args.joints or args.motion_codes,
            "music": args.wav or args.music_codes,
            "fps": args.fps,
            "music_beats": len(beats),
        },
    )
    return table
