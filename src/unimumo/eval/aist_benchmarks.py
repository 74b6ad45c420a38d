"""The published dance benchmarks on their own inputs: AIST++ test music in EDGE's slices, D2M-GAN's segments.

`run_music2motion_aist(config)`: every EDGE slice of the AIST++ test music (`unimumo.eval.aist_inputs`) is
encoded by the music codec and conditions `generate(task="music2motion")` with an empty music text and the
authors' genre prompt, with the authors' settings by default (guidance 3.0, top-k 250, temperature 1.0,
seed 42, 5 s). The generated motion, decoded to joints, is scored against the AIST++ test motion by
`unimumo.eval.scoring.score_dance_joints`, the function `unimumo-eval score-dance` scores any system's
joints with; music beats for BAS come from the protocol's extractor on each slice's real music.
`metrics.json` lists every slice under `inputs`.

`run_motion2music_aist(config)`: every 2 s segment of D2M-GAN's AIST++ test list (`read_d2m_segments`): the
dance's HumanML3D features, encoded by the motion tokenizer, condition `generate(task="motion2music")` with
empty texts (the authors' dance-to-music test); the generated music and the sequence's real music over the same
window are written as wavs and scored by `unimumo.eval.scoring.score_music_files` (what `unimumo-eval
score-music` runs): Beats Coverage / Hit of the generated against the real music, BAS of each against the dance.
The report shows the published numbers beside ours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unimumo.constants import CODE_RATE
from unimumo.data.sources.aist import genre_of
from unimumo.eval.aist_inputs import (
    MOTION_FPS,
    SEGMENTS_UPSTREAM,
    SLICE_SAMPLING_RATE,
    SLICER_UPSTREAM,
    DanceSegment,
    MusicSlice,
    read_d2m_segments,
    read_edge_slices,
)
from unimumo.eval.assets import load_model, load_motion_tokenizer, load_music_codec, load_text_tokenizer
from unimumo.eval.config import AistMotion2MusicConfig, AistMusic2MotionConfig
from unimumo.eval.dance_benchmark import aist_ground_truth, benchmark_beat_tracker, benchmark_protocol, music_beat_times
from unimumo.eval.generation import EvalSession, decode_motions, decode_music, generate_streams, safe_name
from unimumo.eval.render import render_motion, write_wav
from unimumo.eval.report import Table, write_report
from unimumo.eval.samples import EvalSample
from unimumo.eval.scoring import score_dance_joints, score_music_files
from unimumo.eval.system_outputs import EvalInputError
from unimumo.utils.log import get_logger

logger = get_logger(__name__)

TASK = "music2motion"
BENCHMARK = "AIST++ test music in EDGE's 5 s slices (0.5 s stride), the UniMuMo authors' music-to-dance test"
D2M_TASK = "motion2music"
D2M_BENCHMARK = "D2M-GAN's 2 s AIST++ test segments, the UniMuMo authors' dance-to-music test"
# Beats Coverage / Beats Hit (%) of the UniMuMo paper's dance-to-music table
PUBLISHED_D2M = {
    "UniMuMo": (93.0, 88.4),
    "CDCD": (93.9, 90.7),
    "D2M-GAN": (88.2, 84.7),
    "CMT": (85.5, 83.5),
    "Dance2Music": (83.5, 82.4),
    "Foley": (74.1, 69.4),
}
PUBLISHED_D2M_SOURCE = (
    "UniMuMo (Yang et al. 2024) dance-to-music table on D2M-GAN's AIST++ segments, from a "
    "third-party copy of the table (not checked against the paper); UniMuMo's 93.0 / 88.4 also as ZeyuLing/Motius "
    "@ 1a2bd7f docs/model_zoo/unimumo.md quotes the paper (a machine-written summary of the paper gives D2M-GAN "
    "87.4 / 81.7 instead)"
)


def slice_samples(slices: list[MusicSlice], codec, text_tokenizer, num_steps: int) -> list[EvalSample]:
    """One evaluation sample per slice: its music codes (first `num_steps`), an empty music text, its prompt."""
    import librosa

    wavs = [
        piece.wav
        if codec.sampling_rate == SLICE_SAMPLING_RATE
        else librosa.resample(piece.wav, orig_sr=SLICE_SAMPLING_RATE, target_sr=codec.sampling_rate)
        for piece in slices
    ]
    empty = np.asarray(text_tokenizer.encode(""), dtype=np.int64)
    samples = []
    for piece, codes in zip(slices, codec.encode_batch(wavs)):
        if codes.shape[1] < num_steps:
            raise EvalInputError(
                f"{piece.sequence} slice {piece.index}: {codes.shape[1]} music code steps, "
                f"fewer than the {num_steps} to generate"
            )
        samples.append(
            EvalSample(
                key=f"{piece.sequence}_slice{piece.index}",
                music_codes=codes[:, :num_steps].astype(np.int64),
                motion_codes=np.zeros((codes.shape[0], num_steps), dtype=np.int64),
                music_text="",
                motion_text=piece.prompt,
                music_ids=empty,
                motion_ids=np.asarray(text_tokenizer.encode(piece.prompt), dtype=np.int64),
                meta={"motion_genre": genre_of(piece.sequence)},
            )
        )
    return samples


def run_music2motion_aist(config: AistMusic2MotionConfig) -> Table:
    protocol = benchmark_protocol(config.protocol)
    ground_truth = aist_ground_truth(config.aist, config.split, protocol, config.motion_fps)
    # the tracker the --shards build used
    beat_tracker = benchmark_beat_tracker(protocol, config.shards, None, config.beat_checkpoint)
    slices = read_edge_slices(config.aist, config.aist_music, config.split)
    logger.info(
        "%d EDGE slices of %d AIST++ %s sequences", len(slices), len({s.sequence for s in slices}), config.split
    )
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    codec = load_music_codec(config.shards, config.music_codec, config.model)
    text_tokenizer = load_text_tokenizer(config.shards, config.text_tokenizer, config.model)
    samples = slice_samples(slices, codec, text_tokenizer, int(round(config.seconds * CODE_RATE)))
    session = EvalSession.on_inputs(
        config,
        TASK,
        samples,
        "aist-edge-slices",
        names=("split",),
        paths={"aist": config.aist, "aist_music": config.aist_music},
    )
    codes = generate_streams(session, load_model(config.model, config.device))
    tokenizer = load_motion_tokenizer(config.shards, config.motion_tokenizer, config.device, config.model)
    generated = decode_motions(
        tokenizer,
        codes["motion_codes"],
        config.motion_fps,
        "generated",
        music_codes=np.stack([sample.music_codes for sample in samples]),
    )
    music = [piece.wav[: int(config.seconds * SLICE_SAMPLING_RATE)] for piece in slices]
    beats, beat_source = music_beat_times(music, SLICE_SAMPLING_RATE, protocol, beat_tracker)
    table, info = score_dance_joints(generated, beats, config.motion_fps, ground_truth, protocol)

    for index in range(min(config.render, len(slices))):
        directory = out / "renders" / f"{index:04d}_{safe_name(samples[index].key)}"
        write_wav(directory / "music.wav", music[index], SLICE_SAMPLING_RATE)
        render_motion(
            directory / "generated",
            generated[index],
            config.motion_fps,
            beats[index],
            f"{samples[index].key} (generated)",
        )
    info = {
        "benchmark": BENCHMARK,
        "slicer": SLICER_UPSTREAM,
        "model": config.model,
        "aist": config.aist,
        "aist_music": config.aist_music,
        "split": config.split,
        "num_slices": len(slices),
        "num_sequences": len({s.sequence for s in slices}),
        "seconds": config.seconds,
        "guidance_scale": config.guidance_scale,
        "top_k": config.top_k,
        "top_p": config.top_p,
        "temperature": config.temperature,
        "seed": config.seed,
        "batch_size": config.batch_size,
        "motion_fps": config.motion_fps,
        "music_text": "",
        "motion_text": "the authors' genre prompt",
        "music_beats": f"{beat_source} of each slice's AIST++ music",
        **info,
    }
    write_report(out, TASK, table, info, inputs=[piece.entry() for piece in slices])
    return table


def segment_samples(segments: list[DanceSegment], motion_tokenizer, text_tokenizer, num_steps: int) -> list[EvalSample]:
    """One evaluation sample per segment: its motion codes (first `num_steps`) and empty texts."""
    empty = np.asarray(text_tokenizer.encode(""), dtype=np.int64)
    codes = motion_tokenizer.encode([segment.features for segment in segments], fps=MOTION_FPS)
    samples = []
    for index, (segment, motion) in enumerate(zip(segments, codes)):
        if motion.shape[1] < num_steps:
            raise EvalInputError(f"{segment.line}: {motion.shape[1]} motion code steps, fewer than {num_steps}")
        samples.append(
            EvalSample(
                key=f"{index:03d}_{segment.sequence}_seg{segment.segment}",
                music_codes=np.zeros((motion.shape[0], num_steps), dtype=np.int64),
                motion_codes=motion[:, :num_steps].astype(np.int64),
                music_text="",
                motion_text="",
                music_ids=empty,
                motion_ids=empty,
                meta={"motion_genre": genre_of(segment.sequence)},
            )
        )
    return samples


def published_markdown(table: Table) -> str:
    ours = table["generated"]
    lines = [
        "## Published (Beats Coverage / Beats Hit, %)",
        "",
        f"Source: {PUBLISHED_D2M_SOURCE}.",
        "",
        "| system | Beats Coverage | Beats Hit |",
        "|---|---|---|",
        f"| this run | {100 * ours['beats_coverage']:.1f} | {100 * ours['beats_hit']:.1f} |",
    ]
    lines += [f"| {name} (published) | {coverage:.1f} | {hit:.1f} |" for name, (coverage, hit) in PUBLISHED_D2M.items()]
    return "\n".join(lines)


def run_motion2music_aist(config: AistMotion2MusicConfig) -> Table:
    segments = read_d2m_segments(config.segments, config.aist, config.aist_music, config.seconds)
    logger.info("%d D2M-GAN segments of %d AIST++ sequences", len(segments), len({s.sequence for s in segments}))
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    codec = load_music_codec(config.shards, config.music_codec, config.model)
    motion_tokenizer = load_motion_tokenizer(config.shards, config.motion_tokenizer, config.device, config.model)
    samples = segment_samples(
        segments,
        motion_tokenizer,
        load_text_tokenizer(config.shards, config.text_tokenizer, config.model),
        int(round(config.seconds * CODE_RATE)),
    )
    session = EvalSession.on_inputs(
        config, D2M_TASK, samples, "d2m-gan-segments", paths={"aist": config.aist, "segments": config.segments}
    )
    codes = generate_streams(session, load_model(config.model, config.device))
    pairs = []
    for sample, segment, wav in zip(samples, segments, decode_music(codec, codes["music_codes"], "generated")):
        name = f"{sample.key}.wav"
        reference, generated = out / "music" / "reference" / name, out / "music" / "generated" / name
        write_wav(reference, segment.music, SLICE_SAMPLING_RATE)
        write_wav(generated, wav, codec.sampling_rate)
        pairs.append((reference, generated))
    table, info, scored = score_music_files(pairs, [segment.joints for segment in segments], MOTION_FPS)
    inputs = [{**segment.entry(), **entry} for segment, entry in zip(segments, scored)]
    info = {
        "benchmark": D2M_BENCHMARK,
        "segments_list": SEGMENTS_UPSTREAM,
        "model": config.model,
        "aist": config.aist,
        "aist_music": config.aist_music,
        "segments": config.segments,
        "num_segments": len(segments),
        "seconds": config.seconds,
        "guidance_scale": config.guidance_scale,
        "top_k": config.top_k,
        "top_p": config.top_p,
        "temperature": config.temperature,
        "seed": config.seed,
        "batch_size": config.batch_size,
        "texts": "empty",
        "published": PUBLISHED_D2M_SOURCE,
        **info,
    }
    write_report(out, D2M_TASK, table, info, published_markdown(table), inputs=inputs)
    return table
