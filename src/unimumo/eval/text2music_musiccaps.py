"""Text -> music on MusicCaps as published: `unimumo-eval text2music --musiccaps CSV --musiccaps-audio DIR`.

Every MusicCaps row with reference audio (`unimumo.eval.musiccaps`: the authors' prompt, the caption and a drawn
motion description) conditions `generate(task="text2music_motion")` with the authors' settings (10 s, guidance 3.0,
top-k 250, temperature 1.0, seed 42; chunk i seeded seed + i, cached per chunk). The music is written to
OUT/music/generated/<ytid>.wav (32 kHz) and scored against the reference clip of the same ytid with FAD, KL and
CLAP (`unimumo.eval.quality_scoring`, each clip's model outputs cached in OUT/cache/quality, so an interrupted or
extended run recomputes nothing). With --aist, the motion stream is scored with the dance metrics of the music ->
dance benchmark (FID_k, FID_m, Div_k, Div_m against the AIST++ --split motion, BAS against the generated music's
beats, PFC). Rows without reference audio are skipped, each with its ytid and reason in OUT/skipped.jsonl.
The report shows the published numbers beside ours.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from unimumo.constants import CODE_RATE, NUM_CODEBOOKS
from unimumo.eval.assets import load_model, load_motion_tokenizer, load_music_codec, load_text_tokenizer
from unimumo.eval.beats_metrics import load_music
from unimumo.eval.clip_cache import text_digest
from unimumo.eval.config import MusicCapsConfig, quality_metrics
from unimumo.eval.dance_benchmark import aist_ground_truth, benchmark_beat_tracker, benchmark_protocol, music_beat_times
from unimumo.eval.generation import EvalSession, decode_motions, decode_music, generate_streams, safe_name
from unimumo.eval.musiccaps import (
    MUSICCAPS_UPSTREAM,
    QUALITY_UPSTREAM,
    SAMPLING_RATE,
    MusicCapsError,
    musiccaps_clips,
    split_prompt,
)
from unimumo.eval.quality_scoring import QualityClip, QualityModels, check_models, score_quality
from unimumo.eval.render import render_motion, write_wav
from unimumo.eval.report import Table, write_report
from unimumo.eval.samples import EvalSample
from unimumo.eval.scoring import score_dance_joints
from unimumo.utils.io import atomic_write_json, atomic_write_text
from unimumo.utils.log import get_logger

logger = get_logger(__name__)

TASK = "text2music_motion"
REPORT = "text2music-musiccaps"
BENCHMARK = "MusicCaps (every row with reference audio), the UniMuMo authors' text-to-music test"
# text -> music on MusicCaps: (value, source)
PUBLISHED_MUSICCAPS = {
    "UniMuMo": {
        "fad": (5.93, "UniMuMo paper's text-to-music table, from a third-party copy (not checked against the paper)"),
        "kl_softmax": (1.93, "the UniMuMo authors' evaluation log (about)"),
        "clap": (0.27, "the UniMuMo authors' evaluation log (about)"),
    },
    "MusicGen fine-tuned on the authors' data": {
        "fad": (5.81, "UniMuMo paper's text-to-music table, from a third-party copy (not checked against the paper)")
    },
    "AudioLDM 2": {
        "fad": (7.05, "UniMuMo paper's text-to-music table, from a third-party copy (not checked against the paper)")
    },
}
QUALITY_COLUMNS = ("fad", "kl_softmax", "kl_sigmoid", "clap")


def clip_samples(clips, text_tokenizer, num_steps: int) -> list[EvalSample]:
    """One evaluation sample per clip: zero codes of `num_steps` steps, the prompt's two texts; its key the ytid and
    the prompt's digest, so a cached generation chunk is reused only for the same prompts."""
    samples = []
    for clip in clips:
        music_text, motion_text = split_prompt(clip.prompt)
        zeros = np.zeros((NUM_CODEBOOKS, num_steps), dtype=np.int64)
        samples.append(
            EvalSample(
                key=f"{clip.row.ytid}-{text_digest(clip.prompt)[:12]}",
                music_codes=zeros,
                motion_codes=zeros.copy(),
                music_text=music_text,
                motion_text=motion_text,
                music_ids=np.asarray(text_tokenizer.encode(music_text), dtype=np.int64),
                motion_ids=np.asarray(text_tokenizer.encode(motion_text), dtype=np.int64),
            )
        )
    return samples


def write_generated_music(directory: Path, clips, samples: list[EvalSample], codes: np.ndarray, codec) -> list[Path]:
    """DIR/<ytid>.wav of every sample's generated music; a wav already written for the same prompt (DIR/prompts.json)
    is kept, so a rerun decodes only new or changed clips."""
    paths = [directory / f"{safe_name(clip.row.ytid)}.wav" for clip in clips]
    record = directory / "prompts.json"
    written = json.loads(record.read_text()) if record.is_file() else {}
    todo = [
        index
        for index, (clip, path) in enumerate(zip(clips, paths))
        if not path.is_file() or written.get(clip.row.ytid) != clip.prompt
    ]
    for index, wav in zip(todo, decode_music(codec, codes[todo], "generated") if todo else []):
        write_wav(paths[index], wav, codec.sampling_rate)
        written[clips[index].row.ytid] = clips[index].prompt
    if todo:
        atomic_write_json(record, written)
    return paths


def _cell(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def published_markdown(values: dict) -> str:
    """Our music-quality numbers beside the published ones, each with its source."""
    lines = [
        "## Published (text -> music on MusicCaps)",
        "",
        "| system | FAD (VGGish) | KL (softmax) | KL (sigmoid) | CLAP |",
        "|---|---|---|---|---|",
        "| this run | " + " | ".join(_cell(values.get(name)) for name in QUALITY_COLUMNS) + " |",
    ]
    sources = []
    for system, cells in PUBLISHED_MUSICCAPS.items():
        lines.append(
            f"| {system} (published) | "
            + " | ".join(f"{cells[name][0]:g}" if name in cells else "n/a" for name in QUALITY_COLUMNS)
            + " |"
        )
        sources += [f"- {system}, {name}: {source}" for name, (_, source) in cells.items()]
    return "\n".join(lines + ["", "Sources:", *sources])


MUSICCAPS_NOT_RUN = (
    "give --musiccaps CSV --musiccaps-audio DIR --vggish FILE --panns FILE --clap FILE --clap-text-model DIR "
    "--humanml3d-texts DIR (MusicCaps and the evaluation models)"
)


def musiccaps_section(config: MusicCapsConfig, table: Table) -> list[str]:
    """The text-to-music section of `unimumo-eval paper`'s paper_tables.md."""
    return [
        "## Text -> music (MusicCaps)",
        "",
        *published_markdown(table["generated"]).splitlines()[2:],
        "",
        f"- settings: guidance {config.guidance_scale:g}, top-k {config.top_k}, temperature {config.temperature:g}, "
        f"seed {config.seed}, {config.seconds:g} s, motion prompt {config.motion_prompt}",
        f"- inputs: {MUSICCAPS_UPSTREAM}",
        f"- metrics: {QUALITY_UPSTREAM}; other audio loaders and per-clip scores in the details",
        f"- details: {Path(config.out) / 'metrics.md'}",
    ]


def run_text2music_musiccaps(config: MusicCapsConfig) -> Table:
    metrics = quality_metrics(config.metrics)
    check_models(metrics, QualityModels.of(config))
    protocol = benchmark_protocol(config.protocol)
    ground_truth = aist_ground_truth(config.aist, config.split, protocol, config.motion_fps) if config.aist else None
    beat_tracker = benchmark_beat_tracker(protocol, config.shards, None, config.beat_checkpoint)
    clips = musiccaps_clips(
        config.musiccaps,
        config.musiccaps_audio,
        config.seed,
        config.motion_prompt,
        config.aist_prob,
        config.humanml3d_texts,
    )
    scored = [clip for clip in clips if clip.skipped is None]
    skipped = [clip.entry() for clip in clips if clip.skipped is not None]
    for entry in skipped:
        logger.warning("MusicCaps %s skipped: %s", entry["ytid"], entry["reason"])
    if not scored:
        raise MusicCapsError(f"{config.musiccaps_audio}: no MusicCaps row has its reference audio (named by ytid)")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "skipped.jsonl", "".join(json.dumps(entry) + "\n" for entry in skipped))
    logger.info("%d MusicCaps clips to generate, %d skipped (OUT/skipped.jsonl)", len(scored), len(skipped))

    codec = load_music_codec(config.shards, config.music_codec, config.model)
    num_steps = int(round(config.seconds * CODE_RATE))
    samples = clip_samples(scored, load_text_tokenizer(config.shards, config.text_tokenizer, config.model), num_steps)
    # the codec decodes the wavs: generated clips made with another codec are not reused
    session = EvalSession.on_inputs(
        config,
        TASK,
        samples,
        "musiccaps",
        names=("motion_prompt", "aist_prob", "max_text_tokens"),
        music_codec=codec.fingerprint,
    )
    codes = generate_streams(session, load_model(config.model, config.device))
    paths = write_generated_music(out / "music" / "generated", scored, samples, codes["music_codes"], codec)

    quality_clips = [
        QualityClip(clip.row.ytid, path, clip.reference, clip.row.caption) for clip, path in zip(scored, paths)
    ]
    values, quality_info, per_clip = score_quality(
        quality_clips, metrics, QualityModels.of(config), out / "cache" / "quality"
    )
    table: Table = {"generated": dict(values)}
    info = {
        "benchmark": BENCHMARK,
        "inputs_upstream": MUSICCAPS_UPSTREAM,
        "metrics_upstream": QUALITY_UPSTREAM,
        "model": config.model,
        "musiccaps": config.musiccaps,
        "musiccaps_audio": config.musiccaps_audio,
        "num_clips": len(scored),
        "num_skipped": len(skipped),
        "skipped": f"{out / 'skipped.jsonl'} (ytid and reason of each)",
        "seconds": config.seconds,
        "sampling_rate": codec.sampling_rate,
        "guidance_scale": config.guidance_scale,
        "top_k": config.top_k,
        "top_p": config.top_p,
        "temperature": config.temperature,
        "seed": config.seed,
        "batch_size": config.batch_size,
        "motion_prompt": config.motion_prompt,
        "aist_prob": config.aist_prob if config.motion_prompt == "authors" else None,
        "humanml3d_texts": config.humanml3d_texts,
        "evaluation_models": {name: getattr(config, name) for name in ("vggish", "panns", "clap", "clap_text_model")},
        **quality_info,
    }
    if codec.sampling_rate != SAMPLING_RATE:
        logger.warning("the music codec writes %d Hz, the authors' music is %d Hz", codec.sampling_rate, SAMPLING_RATE)

    shown = min(config.render, len(samples))
    if ground_truth is not None or shown:
        tokenizer = load_motion_tokenizer(config.shards, config.motion_tokenizer, config.device, config.model)
        count = len(samples) if ground_truth is not None else shown
        motion = decode_motions(
            tokenizer,
            codes["motion_codes"][:count],
            config.motion_fps,
            "generated",
            music_codes=codes["music_codes"][:count],
        )
        beats, beat_source = [], ""
        for path in paths[:count]:  # one clip at a time: 10 s clips of all MusicCaps would not fit in memory
            wav = load_music(path, codec.sampling_rate)
            found, beat_source = music_beat_times([wav], codec.sampling_rate, protocol, beat_tracker)
            beats += found
        if ground_truth is not None:
            dance, dance_info = score_dance_joints(motion, beats, config.motion_fps, ground_truth, protocol)
            table["generated"].update(dance["generated"])
            table["ground_truth"] = dance["ground_truth"]
            info.update(dance_info, music_beats=f"{beat_source} of the generated music", aist=config.aist)
        for index in range(shown):
            directory = out / "renders" / f"{index:04d}_{safe_name(scored[index].row.ytid)}"
            write_wav(directory / "music.wav", load_music(paths[index], codec.sampling_rate), codec.sampling_rate)
            render_motion(directory, motion[index], config.motion_fps, beats[index], scored[index].row.ytid)
    if ground_truth is None:
        info["dance_metrics"] = "not measured: give --aist DIR (the AIST++ motion the dance metrics compare with)"
    inputs = [{**clip.entry(), **entry} for clip, entry in zip(scored, per_clip)]
    write_report(out, REPORT, table, info, published_markdown(values), inputs=inputs)
    return table
