"""The music -> motion benchmark (UniMuMo / Bailando protocol on the shards' test split).

For each of the first `--num-samples` test samples (first `--seconds` of music), the LM generates
motion codes with `generate(task="music2motion")`; generated and ground-truth codes are decoded
to joints with the same motion tokenizer, so the ground truth is the tokenizer's reconstruction
(what the shards hold). Metrics: FID_k, FID_m, Div_k, Div_m, BAS (against the music beats the
shard builder recorded) and PFC, for the generated set and, as reference, for the ground truth.
"""
from __future__ import annotations

import argparse

from unimumo.eval.dance_metrics import dance_metrics
from unimumo.eval.generation import EvalSession, decode_motions, decode_music, generate_streams, ground_truth
from unimumo.eval.render import render_motion, write_wav
from unimumo.eval.report import write_report

TASK = "music2motion"


def run(args: argparse.Namespace) -> dict:
    session = EvalSession.open(args, TASK)
    codes = generate_streams(session, session.model())
    tokenizer = session.motion_tokenizer()
    generated = decode_motions(tokenizer, codes["motion_codes"], args.motion_fps, "generated")
    reference = decode_motions(tokenizer, ground_truth(session.samples, "motion_codes"), args.motion_fps, "reference")
    beats = [s.music_beats for s in session.samples]
    table = dance_metrics(generated, reference, beats, args.motion_fps)

    shown = min(args.render, len(session.samples))
    if shown:
        codec = session.music_codec()
        music = decode_music(codec, ground_truth(session.samples[:shown], "music_codes"), "ground-truth")
        for index in range(shown):
            write_wav(session.render_dir(index) / "music.wav", music[index], codec.sampling_rate)
            for name, joints in (("generated", generated[index]), ("ground_truth", reference[index])):
                render_motion(session.render_dir(index) / name, joints, args.motion_fps, beats[index],
                              f"{session.samples[index].key} ({name})")
    write_report(session.out, TASK, table, session.info(guidance_scale=args.guidance_scale, motion_fps=args.motion_fps))
    return table
