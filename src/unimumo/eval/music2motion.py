"""The music -> motion benchmark on the shards' test split, scored with a published metric protocol.

For each of the first `--num-samples` test samples (first `--seconds` of music), the LM generates
motion codes with `generate(task="music2motion")`, its motion stream conditioned on `--motion-text`:
`genre` (default, as the UniMuMo authors' test script: "The style of the dance is <genre>."; empty for a
sample without a genre, counted in the report), `caption`
(the sample's ground-truth motion caption) or `none` (empty text). Generated codes are decoded to joints
by the motion tokenizer. `--ground-truth` (`unimumo.eval.dance_benchmark`): the AIST++ motion of the
evaluated split (`aist`, as the published tables, the default with `--aist DIR`) or the tokenizer's
reconstruction of the samples' codes (`reconstruction`, labelled not comparable). `--protocol` picks the
metric definitions (`unimumo.eval.protocols`; `bailando` is refused: it needs 24 joints); with a published
protocol the music beats are Bailando's onset beats of the codec-decoded ground-truth music, with
`corrected` those of the beat tracker the shards' manifest records.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from unimumo.eval.assets import load_text_tokenizer
from unimumo.eval.config import ShardMusic2MotionConfig
from unimumo.eval.dance_benchmark import (
    benchmark_beat_tracker,
    benchmark_protocol,
    ground_truth_music_beats,
    open_ground_truth,
    protocol_info,
    scored_ground_truth,
)
from unimumo.eval.dance_metrics import dance_metrics
from unimumo.eval.generation import EvalSession, decode_motions, decode_music, generate_streams, ground_truth
from unimumo.eval.render import render_motion, write_wav
from unimumo.eval.report import write_report
from unimumo.eval.samples import EvalSample

TASK = "music2motion"
MOTION_TEXTS = ("genre", "caption", "none")
DEFAULT_MOTION_TEXT = "genre"
GENRE_TEMPLATE = "The style of the dance is {genre}."


def motion_text(sample: EvalSample, mode: str) -> str:
    """The text the motion stream is conditioned on for `mode` in MOTION_TEXTS."""
    if mode == "caption":
        return sample.motion_text
    if mode == "none":
        return ""
    if mode != "genre":
        raise ValueError(f"--motion-text must be one of {', '.join(MOTION_TEXTS)}, got {mode!r}")
    genre = sample.meta.get("motion_genre")
    return GENRE_TEMPLATE.format(genre=genre) if genre else ""  # a HumanML3D dance has no genre: no text


def conditioned(samples: list[EvalSample], mode: str, tokenizer) -> list[EvalSample]:
    """The samples with their motion text (and its token ids) replaced by the `mode` text."""
    if mode == "caption":
        return samples
    result = []
    for sample in samples:
        text = motion_text(sample, mode)
        result.append(
            dataclasses.replace(sample, motion_text=text, motion_ids=np.asarray(tokenizer.encode(text), dtype=np.int64))
        )
    return result


def run(args: ShardMusic2MotionConfig) -> dict:
    protocol = benchmark_protocol(args.protocol)
    real = open_ground_truth(args, protocol)
    beat_tracker = benchmark_beat_tracker(protocol, args.shards, args.split, args.beat_checkpoint)
    session = EvalSession.open(args, TASK)
    if args.motion_text != "caption":
        text_tokenizer = load_text_tokenizer(args.shards, args.text_tokenizer)
        session.samples = conditioned(session.samples, args.motion_text, text_tokenizer)
    codes = generate_streams(session, session.model())
    tokenizer = session.motion_tokenizer()
    music_codes = ground_truth(session.samples, "music_codes")  # the pairs' music (music-codebook tokenizers)
    generated = decode_motions(tokenizer, codes["motion_codes"], args.motion_fps, "generated", music_codes=music_codes)
    reference = decode_motions(
        tokenizer, ground_truth(session.samples, "motion_codes"), args.motion_fps, "reference", music_codes=music_codes
    )
    codec = session.music_codec()
    beats, beat_source = ground_truth_music_beats(session.samples, codec, protocol, beat_tracker)
    truth, truth_beats, truth_info = scored_ground_truth(real, reference, beats, args.split, protocol)
    table = dance_metrics(generated, truth, beats, args.motion_fps, truth_beats, protocol=protocol.name)

    shown = min(args.render, len(session.samples))
    if shown:
        music = decode_music(codec, ground_truth(session.samples[:shown], "music_codes"), "ground-truth")
        for index in range(shown):
            write_wav(session.render_dir(index) / "music.wav", music[index], codec.sampling_rate)
            for name, joints in (("generated", generated[index]), ("ground_truth", reference[index])):
                render_motion(
                    session.render_dir(index) / name,
                    joints,
                    args.motion_fps,
                    beats[index],
                    f"{session.samples[index].key} ({name})",
                )
    info = session.info(
        guidance_scale=args.guidance_scale,
        motion_fps=args.motion_fps,
        **protocol_info(protocol),
        **truth_info,
        motion_text=args.motion_text,
        music_beats=beat_source,
    )
    if args.motion_text == "genre":
        info["motion_text_without_genre"] = sum(not s.meta.get("motion_genre") for s in session.samples)
    write_report(session.out, TASK, table, info)
    return table
