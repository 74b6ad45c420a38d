"""Dance -> music (`generate(task="motion2music")`): does the generated music follow the dance's rhythm?

The dance of each test sample (its motion codes) conditions the generation. The music is decoded
with the music codec and its beats tracked with librosa; the dance's kinematic beats come from
the decoded ground-truth motion. Metrics per sample, averaged: beat coverage and beat hit
(D2M-GAN definition, 1-second bins) and BAS (music beats against the dance beats). The
ground-truth column scores the sample's real music (decoded by the codec, beats from librosa) the same way.
Samples whose dance has no kinematic beat in the window cannot be scored and are counted.
"""

from __future__ import annotations

import numpy as np

from unimumo.eval.config import ShardGenerationConfig
from unimumo.eval.generation import EvalSession, decode_motions, decode_music_with_beats, generate_streams, ground_truth
from unimumo.eval.render import render_motion, write_wav
from unimumo.eval.report import write_report
from unimumo.rhythm import beat_alignment_score, beat_coverage_and_hit, motion_beats

TASK = "motion2music"


def rhythm_metrics(music: list[np.ndarray], dance: list[np.ndarray], seconds: float) -> dict[str, float | None]:
    """Mean beat coverage, beat hit and BAS of music beat lists against dance beat lists."""
    coverage, hit, bas = [], [], []
    for music_times, dance_times in zip(music, dance):
        if len(dance_times) == 0:
            continue
        c, h = beat_coverage_and_hit(music_times, dance_times, seconds)
        coverage.append(c)
        hit.append(h)
        if len(music_times):
            bas.append(beat_alignment_score(music_times, dance_times))
    return {
        name: (float(np.mean(values)) if values else None)
        for name, values in (("beat_coverage", coverage), ("beat_hit", hit), ("BAS", bas))
    }


def run(args: ShardGenerationConfig) -> dict:
    session = EvalSession.open(args, TASK)
    samples = session.samples
    codes = generate_streams(session, session.model())
    codec, tokenizer = session.music_codec(), session.motion_tokenizer()
    generated_music, generated_beats = decode_music_with_beats(codec, codes["music_codes"], "generated")
    reference_music, reference_beats = decode_music_with_beats(
        codec, ground_truth(samples, "music_codes"), "ground-truth"
    )
    dances = decode_motions(
        tokenizer,
        ground_truth(samples, "motion_codes"),
        args.motion_fps,
        "conditioning",
        music_codes=ground_truth(samples, "music_codes"),
    )
    # the whole window (no 1200-frame benchmark cap): beat bins must span the same --seconds as the music's
    dance_beats = [motion_beats(joints, args.motion_fps) for joints in dances]
    table = {
        "generated": rhythm_metrics(generated_beats, dance_beats, args.seconds),
        "ground_truth": rhythm_metrics(reference_beats, dance_beats, args.seconds),
    }

    shown = min(args.render, len(samples))
    if shown:
        for index in range(shown):
            directory = session.render_dir(index)
            write_wav(directory / "generated_music.wav", generated_music[index], codec.sampling_rate)
            write_wav(directory / "ground_truth_music.wav", reference_music[index], codec.sampling_rate)
            render_motion(
                directory / "dance",
                dances[index],
                args.motion_fps,
                generated_beats[index],
                f"{samples[index].key} (generated music beats)",
            )
    unscored = sum(len(beats) == 0 for beats in dance_beats)
    write_report(
        session.out,
        TASK,
        table,
        session.info(
            guidance_scale=args.guidance_scale, motion_fps=args.motion_fps, samples_without_dance_beats=unscored
        ),
    )
    return table
