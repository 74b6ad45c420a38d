"""Text -> music + dance (`generate(task="text2music_motion")`): the two streams generated together.

The music and dance captions of each test sample condition the generation. Metrics: the dance
metrics of the generated motion against the ground truth (FID_k, FID_m, Div_k, Div_m, PFC) and
the BAS between each generated dance and the beats librosa finds in the music generated with it
(ground-truth column: the ground-truth dance against the builder's beats of its music).
Renders: music.wav and the dance of both the generated and the ground-truth pair.
"""
from __future__ import annotations

import argparse

from unimumo.eval.dance_metrics import dance_metrics
from unimumo.eval.generation import (EvalSession, decode_generated_music, decode_motions, decode_music,
                                     generate_streams, ground_truth)
from unimumo.eval.render import render_motion, write_wav
from unimumo.eval.report import write_report

TASK = "text2music_motion"


def run(args: argparse.Namespace) -> dict:
    session = EvalSession.open(args, TASK)
    samples = session.samples
    codes = generate_streams(session, session.model())
    codec, tokenizer = session.music_codec(), session.motion_tokenizer()
    generated_music, generated_beats = decode_generated_music(codec, codes["music_codes"])
    generated = decode_motions(tokenizer, codes["motion_codes"], args.motion_fps, "generated")
    reference = decode_motions(tokenizer, ground_truth(samples, "motion_codes"), args.motion_fps, "reference")
    reference_beats = [s.music_beats for s in samples]
    table = dance_metrics(generated, reference, generated_beats, args.motion_fps,
                          ground_truth_music_beats=reference_beats, protocol=args.protocol)

    shown = min(args.render, len(samples))
    if shown:
        reference_music = decode_music(codec, ground_truth(samples[:shown], "music_codes"), "ground-truth")
        for index in range(shown):
            pairs = {
                "generated": (generated_music[index], generated[index], generated_beats[index]),
                "ground_truth": (reference_music[index], reference[index], reference_beats[index]),
            }
            for name, (wav, joints, beats) in pairs.items():
                directory = session.render_dir(index) / name
                write_wav(directory / "music.wav", wav, codec.sampling_rate)
                render_motion(directory, joints, args.motion_fps, beats, f"{samples[index].key} ({name})")
    write_report(session.out, TASK, table, session.info(guidance_scale=args.guidance_scale, motion_fps=args.motion_fps,
                                                        protocol=args.protocol))
    return table
