"""The published music-to-dance benchmark on its own inputs: AIST++ test music in EDGE's slices.

`run_music2motion_aist(config)`: every EDGE slice of the AIST++ test music (`unimumo.eval.aist_inputs`) is
encoded by the music codec and conditions `generate(task="music2motion")` with an empty music text and the
authors' genre prompt, with the authors' settings by default (guidance 3.0, top-k 250, temperature 1.0,
seed 42, 5 s). The generated motion, decoded to joints, is scored against the AIST++ test motion by
`unimumo.eval.scoring.score_dance_joints`, the function `unimumo-eval score-dance` scores any system's
joints with; music beats for BAS come from the protocol's extractor on each slice's real music.
`metrics.json` lists every slice under `inputs`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from unimumo.constants import CODE_RATE
from unimumo.data.sources.aist import genre_of
from unimumo.eval.aist_inputs import SLICE_SAMPLING_RATE, SLICER_UPSTREAM, MusicSlice, read_edge_slices
from unimumo.eval.assets import load_model, load_motion_tokenizer, load_music_codec, load_text_tokenizer
from unimumo.eval.chunks import check_settings
from unimumo.eval.config import AistMusic2MotionConfig
from unimumo.eval.dance_benchmark import aist_ground_truth, benchmark_beat_tracker, benchmark_protocol, music_beat_times
from unimumo.eval.generation import EvalSession, decode_motions, generate_streams, safe_name
from unimumo.eval.render import render_motion, write_wav
from unimumo.eval.report import Table, write_report
from unimumo.eval.samples import EvalSample
from unimumo.eval.scoring import score_dance_joints
from unimumo.eval.system_outputs import EvalInputError
from unimumo.utils.log import get_logger

logger = get_logger(__name__)

TASK = "music2motion"
BENCHMARK = "AIST++ test music in EDGE's 5 s slices (0.5 s stride), the UniMuMo authors' music-to-dance test"


def slice_samples(slices: list[MusicSlice], codec, text_tokenizer, num_steps: int) -> list[EvalSample]:
    """One evaluation sample per slice: its music codes (first `num_steps`), an empty music text, its prompt."""
    import librosa

    wavs = [piece.wav if codec.sampling_rate == SLICE_SAMPLING_RATE else
            librosa.resample(piece.wav, orig_sr=SLICE_SAMPLING_RATE, target_sr=codec.sampling_rate)
            for piece in slices]
    empty = np.asarray(text_tokenizer.encode(""), dtype=np.int64)
    samples = []
    for piece, codes in zip(slices, codec.encode_batch(wavs)):
        if codes.shape[1] < num_steps:
            raise EvalInputError(f"{piece.sequence} slice {piece.index}: {codes.shape[1]} music code steps, "
                                 f"fewer than the {num_steps} to generate")
        samples.append(EvalSample(
            key=f"{piece.sequence}_slice{piece.index}", music_codes=codes[:, :num_steps].astype(np.int64),
            motion_codes=np.zeros((codes.shape[0], num_steps), dtype=np.int64), music_text="",
            motion_text=piece.prompt, music_ids=empty,
            motion_ids=np.asarray(text_tokenizer.encode(piece.prompt), dtype=np.int64),
            meta={"motion_genre": genre_of(piece.sequence)}))
    return samples


def run_music2motion_aist(config: AistMusic2MotionConfig) -> Table:
    protocol = benchmark_protocol(config.protocol)
    ground_truth = aist_ground_truth(config.aist, config.split, protocol, config.motion_fps)
    beat_tracker = benchmark_beat_tracker(protocol, config.shards, None)  # the tracker the --shards build used
    slices = read_edge_slices(config.aist, config.aist_music, config.split)
    logger.info("%d EDGE slices of %d AIST++ %s sequences", len(slices), len({s.sequence for s in slices}),
                config.split)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    codec = load_music_codec(config.shards, config.music_codec)
    text_tokenizer = load_text_tokenizer(config.shards, config.text_tokenizer)
    samples = slice_samples(slices, codec, text_tokenizer, int(round(config.seconds * CODE_RATE)))
    settings = {name: getattr(config, name) for name in ("split", "seconds", "guidance_scale", "batch_size", "seed",
                                                         "temperature", "top_k", "top_p")}
    settings.update(model=str(Path(config.model).resolve()), aist=str(Path(config.aist).resolve()),
                    aist_music=str(Path(config.aist_music).resolve()), task=TASK, inputs="aist-edge-slices")
    check_settings(out / "cache" / TASK, settings)
    session = EvalSession(args=config, task=TASK, out=out, samples=samples, skipped_short=0)
    codes = generate_streams(session, load_model(config.model, config.device))
    tokenizer = load_motion_tokenizer(config.shards, config.motion_tokenizer, config.device)
    generated = decode_motions(tokenizer, codes["motion_codes"], config.motion_fps, "generated")
    music = [piece.wav[: int(config.seconds * SLICE_SAMPLING_RATE)] for piece in slices]
    beats, beat_source = music_beat_times(music, SLICE_SAMPLING_RATE, protocol, beat_tracker)
    table, info = score_dance_joints(generated, beats, config.motion_fps, ground_truth, protocol)

    for index in range(min(config.render, len(slices))):
        directory = out / "renders" / f"{index:04d}_{safe_name(samples[index].key)}"
        write_wav(directory / "music.wav", music[index], SLICE_SAMPLING_RATE)
        render_motion(directory / "generated", generated[index], config.motion_fps, beats[index],
                      f"{samples[index].key} (generated)")
    info = {"benchmark": BENCHMARK, "slicer": SLICER_UPSTREAM, "model": config.model, "aist": config.aist,
            "aist_music": config.aist_music, "split": config.split, "num_slices": len(slices),
            "num_sequences": len({s.sequence for s in slices}), "seconds": config.seconds,
            "guidance_scale": config.guidance_scale, "top_k": config.top_k, "top_p": config.top_p,
            "temperature": config.temperature, "seed": config.seed, "batch_size": config.batch_size,
            "motion_fps": config.motion_fps, "music_text": "", "motion_text": "the authors' genre prompt",
            "music_beats": f"{beat_source} of each slice's AIST++ music", **info}
    write_report(out, TASK, table, info, inputs=[piece.entry() for piece in slices])
    return table
