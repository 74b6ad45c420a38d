"""Text -> music + dance (`generate(task="text2music_motion")`): the two streams generated together.

The music and dance captions of each test sample condition the generation. Metrics: the dance
metrics of the generated motion against the ground truth (FID_k, FID_m, Div_k, Div_m, PFC; the
`--ground-truth` set and `--protocol` as for music2motion, `unimumo.eval.dance_benchmark`) and the BAS
between each generated dance and the beats of the music generated with it. Music beats come from the
protocol's extractor, on both the generated and the ground-truth music (decoded by the codec): Bailando's
onset beats for a published protocol, for `corrected` the beat tracker the shards' manifest records. The
ground-truth column's BAS pairs the reconstructed ground-truth dance with its music (none with AIST++ motion,
which comes without music).
Renders: music.wav and the dance of both the generated and the ground-truth pair.
Not a published benchmark (the shards' own test split); the published text -> music benchmark is MusicCaps
(`unimumo.eval.text2music_musiccaps`, `unimumo-eval text2music --musiccaps CSV`).
"""

from __future__ import annotations

from unimumo.eval.config import ShardDanceConfig
from unimumo.eval.dance_benchmark import (
    benchmark_beat_tracker,
    benchmark_protocol,
    ground_truth_music_beats,
    music_beat_times,
    open_ground_truth,
    protocol_info,
    scored_ground_truth,
)
from unimumo.eval.dance_metrics import dance_metrics
from unimumo.eval.generation import EvalSession, decode_motions, decode_music, generate_streams, ground_truth
from unimumo.eval.render import render_motion, write_wav
from unimumo.eval.report import write_report

TASK = "text2music_motion"
NOT_PUBLISHED = (
    "the shards' test split (Music4All captions): not a published benchmark; `text2music --musiccaps` runs the "
    "published text-to-music one (MusicCaps, FAD / KL / CLAP)"
)


def run(args: ShardDanceConfig) -> dict:
    protocol = benchmark_protocol(args.protocol)
    real = open_ground_truth(args, protocol)
    beat_tracker = benchmark_beat_tracker(protocol, args.shards, args.split, args.beat_checkpoint)
    session = EvalSession.open(args, TASK)
    samples = session.samples
    codes = generate_streams(session, session.model())
    codec, tokenizer = session.music_codec(), session.motion_tokenizer()
    generated_music = decode_music(codec, codes["music_codes"], "generated")
    generated_beats, extractor = music_beat_times(generated_music, codec.sampling_rate, protocol, beat_tracker)
    generated = decode_motions(
        tokenizer, codes["motion_codes"], args.motion_fps, "generated", music_codes=codes["music_codes"]
    )
    reference = decode_motions(
        tokenizer,
        ground_truth(samples, "motion_codes"),
        args.motion_fps,
        "reference",
        music_codes=ground_truth(samples, "music_codes"),
    )
    reference_beats, reference_beat_source = ground_truth_music_beats(samples, codec, protocol, beat_tracker)
    truth, truth_beats, truth_info = scored_ground_truth(real, reference, reference_beats, args.split, protocol)
    table = dance_metrics(generated, truth, generated_beats, args.motion_fps, truth_beats, protocol=protocol.name)

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
    info = session.info(
        benchmark=NOT_PUBLISHED,
        guidance_scale=args.guidance_scale,
        motion_fps=args.motion_fps,
        **protocol_info(protocol),
        **truth_info,
        music_beats=f"{extractor} of the generated music",
        ground_truth_music_beats=reference_beat_source,
    )
    write_report(session.out, TASK, table, info)
    return table
