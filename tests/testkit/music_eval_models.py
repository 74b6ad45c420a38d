"""The music-quality golden tests' fixed clip pairs: generated clips (32 kHz) and reference clips (16 kHz), one pair
per name, cut from the real drum loops in tests/assets/beats/ (16-bit PCM WAV, so every reader sees the same samples).

The random-weight VGGish and PANNs Cnn14 checkpoints they are scored with: `unimumo.eval.random_eval_models`.
"""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

BEATS = Path(__file__).resolve().parents[1] / "assets" / "beats"
# name: (loop, start s, duration s) of the generated clip (samples written at 32 kHz) and of the reference (16 kHz)
CLIP_PAIRS = {
    "clip_a": (("loop_garzul.flac", 0.0, 3.0), ("loop_compus.flac", 0.0, 2.5)),
    "clip_b": (("loop_compus.flac", 2.0, 3.0), ("loop_garzul.flac", 3.0, 3.0)),
    "clip_c": (("loop_breakbeat.flac", 0.0, 1.9), ("loop_breakbeat.flac", 0.0, 1.9)),
    "clip_d": (("loop_industrial.flac", 0.0, 0.88), ("loop_garzul.flac", 5.0, 1.5)),
}


def write_clip_pairs(root: Path) -> tuple[Path, Path]:
    """root/generated/<name>.wav (32 kHz) and root/reference/<name>.wav (16 kHz) for each of CLIP_PAIRS."""
    out = {"generated": root / "generated", "reference": root / "reference"}
    for folder in out.values():
        folder.mkdir(parents=True, exist_ok=True)
    for name, pair in CLIP_PAIRS.items():
        for (loop, start, seconds), side, sr in zip(pair, ("generated", "reference"), (32000, 16000)):
            samples, loop_sr = sf.read(BEATS / loop, dtype="int16")
            first = int(round(start * loop_sr))
            # the loop's 16 kHz samples, written as they are: at 32 kHz they play twice as fast
            sf.write(
                out[side] / f"{name}.wav", samples[first : first + int(round(seconds * loop_sr))], sr, subtype="PCM_16"
            )
    return out["generated"], out["reference"]
