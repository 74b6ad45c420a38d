"""The published captioning benchmarks: inputs read as the authors read them, their decoding and their metrics.

`unimumo-eval music-caption --musicqa FILE --musicqa-audio DIR` (`MusicCaptionConfig`): MusicQA's "Describe the
audio" items (`unimumo.eval.musicqa`), each clip's codes captioned with beam search 4 and up to 256 tokens (the
settings of the authors' `generate_text`), scored with `caption_metrics.musicqa_scores`. Writes gen_captions.json and
gt_captions.json (the upstream scorer's inputs: audio name -> caption), captions.md, metrics.json and metrics.md with
the published numbers in a column of their own. Captioning is cached per clip in OUT/cache/, so an interrupted run
resumes.

`unimumo-eval motion-caption --humanml3d DIR` (`MotionCaptionConfig`): HumanML3D test motions as the authors feed
them (`unimumo.eval.humanml3d_captions`), captioned with the same decoding, the prefixes stripped, scored on TM2T's
entries with `caption_metrics.humanml3d_scores` (BLEU-1..4, ROUGE-L, CIDEr, BERTScore F1). With --t2m-evaluator,
--glove and --spacy-model, R-precision top 1-3 and the matching score with the HumanML3D text-motion evaluator
(`unimumo.eval.t2m_evaluator`), of the model's captions and of the ground truth's (suffix `_ground_truth`), the
entries shuffled with --r-precision-seed, batches of 32; without them those rows are empty.

`unimumo-eval score-captions --references JSON --candidates JSON --protocol musicqa|humanml3d` (`ScoreCaptionsConfig`)
scores any system's captions (JSON objects id -> caption; references id -> caption, or a list for humanml3d, made 3 as
TM2T does) with the same metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from unimumo.eval.caption_metrics import HUMANML3D_UPSTREAM, MUSICQA_UPSTREAM, ROBERTA_LARGE_LAYERS
from unimumo.eval.config import tokenizer_problems
from unimumo.eval.humanml3d_captions import ENTRIES_UPSTREAM, MOTION_INPUTS_UPSTREAM
from unimumo.eval.musicqa import MAX_SECONDS, MUSICQA_INPUTS_UPSTREAM
from unimumo.eval.report import markdown_cell
from unimumo.utils.log import get_logger

log = get_logger(__name__)

# (value, source): the UniMuMo paper's music-captioning table gives BLEU; the other figures are the authors' log
PUBLISHED_MUSICQA = {
    "bleu": (0.261, "UniMuMo paper, music captioning on MusicQA"),
    "bleu4": (0.146, "UniMuMo authors' evaluation log"),
    "meteor": (0.291, "UniMuMo authors' evaluation log"),
    "rouge_l_recall": (0.369, "UniMuMo authors' evaluation log"),
    "bertscore_recall": (0.892, "UniMuMo authors' evaluation log"),
}

# the evaluator metrics of the UniMuMo paper's motion-captioning table (HumanML3D)
PUBLISHED_HUMANML3D = {
    "r_precision_top1": (0.520, "UniMuMo paper, motion captioning on HumanML3D"),
    "r_precision_top3": (0.806, "UniMuMo paper, motion captioning on HumanML3D"),
    "matching_score": (3.062, "UniMuMo authors' evaluation log (the model's captions)"),
    "matching_score_ground_truth": (
        2.958,
        "UniMuMo paper's MM-Dist; the authors' log gives it as the ground-truth captions' matching score",
    ),
}
NO_EVALUATOR = (
    "R-precision and the matching score not computed: give --t2m-evaluator (T2M's checkpoints/t2m), --glove "
    "(T2M's glove/) and --spacy-model (an en_core_web_sm directory)"
)


def _problems_of_captioning(config) -> list[str]:
    problems = [
        f"{name} must be > 0, got {getattr(config, name)!r}"
        for name in ("num_beams", "max_length", "bert_layers")
        if not getattr(config, name) > 0
    ]
    if config.num_samples is not None and config.num_samples < 1:
        problems.append(f"num_samples must be >= 1, got {config.num_samples}")
    return problems


@dataclass(frozen=True)
class MusicCaptionConfig:
    """`unimumo-eval music-caption`: music captioning on MU-LLaMA's MusicQA evaluation set."""

    model: str = ""
    out: str = ""
    musicqa: str = ""  # EvalMusicQA.txt
    musicqa_audio: str = ""  # the directory holding each item's audio_name
    shards: str | None = None  # only to find the tokenizers its manifest records
    music_codec: str | None = None
    text_tokenizer: str | None = None
    bert_model: str | None = None  # local BERTScore model directory (upstream: roberta-large)
    bert_layers: int = ROBERTA_LARGE_LAYERS
    nltk_data: str | None = None  # WordNet 3.0 for METEOR (an nltk_data directory or /usr/share/wordnet)
    num_beams: int = 4
    max_length: int = 256
    max_seconds: int = MAX_SECONDS
    num_samples: int | None = None  # the first N items (all by default)
    device: str = "cpu"

    def problems(self) -> list[str]:
        problems = [
            f"{name} is required" for name in ("model", "out", "musicqa", "musicqa_audio") if not getattr(self, name)
        ]
        problems += tokenizer_problems(self, ("music_codec", "text_tokenizer"))
        if not self.max_seconds > 0:
            problems.append(f"max_seconds must be > 0, got {self.max_seconds}")
        return problems + _problems_of_captioning(self)


@dataclass(frozen=True)
class MotionCaptionConfig:
    """`unimumo-eval motion-caption`: motion captioning on the HumanML3D test set."""

    model: str = ""
    out: str = ""
    humanml3d: str = ""  # root: new_joint_vecs/, texts/, SPLIT.txt
    split: str = "test"
    shards: str | None = None  # only to find the tokenizers its manifest records
    motion_tokenizer: str | None = None
    text_tokenizer: str | None = None
    bert_model: str | None = None  # local BERTScore model directory (upstream: roberta-large)
    bert_layers: int = ROBERTA_LARGE_LAYERS
    bert_baseline: str | None = None  # bert_score rescaling baseline (default: the package's en/roberta-large.tsv)
    num_beams: int = 4
    max_length: int = 256
    seconds: float = 10.0  # 600 frames at 60 fps
    num_samples: int | None = None  # the first N motions (all by default)
    device: str = "cpu"
    t2m_evaluator: str | None = None  # T2M's checkpoints/t2m (text_mot_match/, Comp_v6_KLD005/meta/)
    glove: str | None = None  # T2M's glove/ (our_vab_data.npy, our_vab_words.pkl, our_vab_idx.pkl)
    spacy_model: str | None = None  # a spaCy pipeline directory (upstream: en_core_web_sm)
    r_precision_batch_size: int = 32
    r_precision_seed: int = 0  # the entries' shuffle (upstream: an unseeded loader)

    def problems(self) -> list[str]:
        problems = [f"{name} is required" for name in ("model", "out", "humanml3d") if not getattr(self, name)]
        problems += tokenizer_problems(self, ("motion_tokenizer", "text_tokenizer"))
        if not self.seconds > 0:
            problems.append(f"seconds must be > 0, got {self.seconds}")
        from unimumo.eval.t2m_evaluator import matching_problems

        return problems + matching_problems(self) + _problems_of_captioning(self)


CAPTION_PROTOCOLS = ("musicqa", "humanml3d")


@dataclass(frozen=True)
class ScoreCaptionsConfig:
    """`unimumo-eval score-captions`: any system's captions scored with a published protocol's metrics."""

    references: str = ""
    candidates: str = ""
    protocol: str = ""
    out: str = ""
    bert_model: str | None = None
    bert_layers: int = ROBERTA_LARGE_LAYERS
    bert_baseline: str | None = None
    nltk_data: str | None = None
    device: str = "cpu"

    def problems(self) -> list[str]:
        problems = [f"{name} is required" for name in ("references", "candidates", "out") if not getattr(self, name)]
        if self.protocol not in CAPTION_PROTOCOLS:
            problems.append(f"protocol must be one of {', '.join(CAPTION_PROTOCOLS)}, got {self.protocol!r}")
        if not self.bert_layers > 0:
            problems.append(f"bert_layers must be > 0, got {self.bert_layers}")
        return problems


def _read_captions(path: str, role: str, lists: bool) -> dict[str, str | list[str]]:
    from unimumo.eval.caption_metrics import CaptionMetricError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise CaptionMetricError(f"{path}: cannot read the {role} ({error.strerror or error})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CaptionMetricError(f"{path}: the {role} are not JSON: {error}") from None
    if not isinstance(data, dict) or not data:
        raise CaptionMetricError(f"{path}: the {role} must be a non-empty JSON object id -> caption")
    for key, value in data.items():
        ok = isinstance(value, str) or (
            lists and isinstance(value, list) and value and all(isinstance(v, str) for v in value)
        )
        if not ok:
            kind = "a caption or a non-empty list of captions" if lists else "a caption (string)"
            raise CaptionMetricError(f"{path}: {role} {key!r} must be {kind}, got {type(value).__name__}")
    return data


def run_score_captions(config: ScoreCaptionsConfig) -> dict:
    from unimumo.eval.caption_metrics import CaptionMetricError, humanml3d_scores, musicqa_scores
    from unimumo.eval.humanml3d_captions import three_references
    from unimumo.eval.report import write_report

    humanml3d = config.protocol == "humanml3d"
    references = _read_captions(config.references, "references", lists=humanml3d)
    candidates = _read_captions(config.candidates, "candidates", lists=False)
    missing = [key for key in references if key not in candidates]
    if missing:
        raise CaptionMetricError(
            f"{config.candidates}: no candidate for {len(missing)} reference id(s), e.g. "
            f"{', '.join(map(repr, missing[:3]))}"
        )
    ids = list(references)
    if humanml3d:
        refs = [list(three_references([r] if isinstance(r, str) else r)) for r in references.values()]
        scores = humanml3d_scores(
            refs,
            [candidates[i] for i in ids],
            bert_model=config.bert_model,
            bert_layers=config.bert_layers,
            bert_baseline=config.bert_baseline,
            device=config.device,
        )
    else:
        scores = musicqa_scores(
            list(references.values()),
            [candidates[i] for i in ids],
            bert_model=config.bert_model,
            nltk_data=config.nltk_data,
            bert_layers=config.bert_layers,
            device=config.device,
        )
    table = {"scored": scores}
    info = {
        "protocol": config.protocol,
        "metrics": HUMANML3D_UPSTREAM if humanml3d else MUSICQA_UPSTREAM,
        "references": config.references,
        "candidates": config.candidates,
        "num_scored": len(ids),
        "candidates_without_reference": len(set(candidates) - set(references)),
        "bert_model": config.bert_model,
        "bert_layers": config.bert_layers,
        "unavailable": [m for m, v in scores.items() if v is None],
    }
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    write_report(out, "score-captions", table, info)
    return table


def caption_each(
    model, tokenizer, modality: str, keys: list[str], codes_of, cache_dir: Path, num_beams: int, max_length: int
) -> list[str]:
    """The caption of each key (`codes_of(index)` -> int64 codes [4, T] or None to skip), one clip per model call
    (clips differ in length), cached per clip; a skipped clip's caption is None."""
    import numpy as np
    import torch

    from unimumo.eval.chunks import run_chunks

    device = next(model.parameters()).device

    @torch.no_grad()
    def compute(chunk: slice, _seed: int) -> dict[str, np.ndarray]:  # beam search: nothing is sampled
        codes = codes_of(chunk.start)
        if codes is None:
            return {"caption": np.array([""]), "captioned": np.array([False])}
        ids = model.caption(
            **{f"{modality}_codes": torch.from_numpy(codes[None]).to(device)},
            num_beams=num_beams,
            max_length=max_length,
        )
        return {"caption": np.array([tokenizer.decode(ids[0].tolist()).strip()]), "captioned": np.array([True])}

    result = run_chunks(keys, 1, cache_dir, compute, 0, f"{modality} captioning")
    return [str(c) if ok else None for c, ok in zip(result["caption"], result["captioned"])]


def write_side_by_side(out: Path, rows: list[tuple[str, str, str]]) -> None:
    from unimumo.utils.io import atomic_write_text

    lines = ["| id | generated | reference |", "|---|---|---|"]
    lines += [f"| {markdown_cell(key)} | {markdown_cell(gen)} | {markdown_cell(ref)} |" for key, gen, ref in rows]
    atomic_write_text(out / "captions.md", "# Generated vs reference captions\n\n" + "\n".join(lines) + "\n")


def published_column(published: dict[str, tuple[float, str]]) -> tuple[dict[str, float], str]:
    """The published numbers as a table column, and the markdown naming each one's source."""
    sources = "\n".join(f"- {metric}: {value} ({source})" for metric, (value, source) in published.items())
    return {metric: value for metric, (value, _) in published.items()}, "Published numbers:\n\n" + sources


def run_music_caption(config: MusicCaptionConfig) -> dict:
    from unimumo.eval.assets import load_model, load_music_codec, load_text_tokenizer
    from unimumo.eval.caption_metrics import musicqa_scores
    from unimumo.eval.chunks import check_settings
    from unimumo.eval.musicqa import read_clip, read_musicqa
    from unimumo.eval.report import write_report
    from unimumo.utils.io import atomic_write_json

    items = read_musicqa(config.musicqa)[: config.num_samples]
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    codec = load_music_codec(config.shards, config.music_codec, config.model).to(config.device)
    tokenizer = load_text_tokenizer(config.shards, config.text_tokenizer, config.model)
    model = load_model(config.model, config.device)
    cache_dir = out / "cache" / "music-caption"
    check_settings(
        cache_dir,
        {
            "model": str(Path(config.model).resolve()),
            "musicqa": str(Path(config.musicqa).resolve()),
            "musicqa_audio": str(Path(config.musicqa_audio).resolve()),
            "num_beams": config.num_beams,
            "max_length": config.max_length,
            "max_seconds": config.max_seconds,
            "music_codec": codec.source,
        },
    )

    def codes_of(index: int):
        wav = read_clip(config.musicqa_audio, items[index].audio_name, codec.sampling_rate, config.max_seconds)
        return None if wav is None else codec.encode(wav)

    captions = caption_each(
        model,
        tokenizer,
        "music",
        [i.audio_name for i in items],
        codes_of,
        cache_dir,
        config.num_beams,
        config.max_length,
    )
    scored = [(item, caption) for item, caption in zip(items, captions) if caption is not None]
    if len(scored) < len(items):
        log.warning("%d MusicQA clip(s) shorter than 1 s left out", len(items) - len(scored))
    if not scored:
        raise ValueError(f"{config.musicqa_audio}: every MusicQA clip is shorter than 1 s; nothing to caption")
    atomic_write_json(out / "gen_captions.json", {item.audio_name: caption for item, caption in scored})
    atomic_write_json(out / "gt_captions.json", {item.audio_name: item.reference for item, _ in scored})
    write_side_by_side(out, [(item.audio_name, caption, item.reference) for item, caption in scored])
    ours = musicqa_scores(
        [item.reference for item, _ in scored],
        [caption for _, caption in scored],
        bert_model=config.bert_model,
        nltk_data=config.nltk_data,
        bert_layers=config.bert_layers,
        device=config.device,
    )
    published, sources = published_column(PUBLISHED_MUSICQA)
    table = {"this_model": ours, "published": published}
    info = {
        "inputs": MUSICQA_INPUTS_UPSTREAM,
        "metrics": MUSICQA_UPSTREAM,
        "musicqa": config.musicqa,
        "musicqa_audio": config.musicqa_audio,
        "num_items": len(items),
        "num_scored": len(scored),
        "max_seconds": config.max_seconds,
        "sampling_rate": codec.sampling_rate,
        "num_beams": config.num_beams,
        "max_length": config.max_length,
        "bert_model": config.bert_model,
        "bert_layers": config.bert_layers,
        "nltk_data": config.nltk_data,
        "bleu": "bleu and bleu4 are nltk sentence_bleu on the raw strings (character n-grams), as published; "
        "bleu_words and bleu4_words the same on wordpunct tokens",
        "unavailable": [m for m, v in ours.items() if v is None],
    }
    write_report(
        out,
        "music-caption",
        table,
        info,
        extra_markdown=sources + "\n\nGenerated and reference captions side by side: captions.md",
    )
    return table


def run_motion_caption(config: MotionCaptionConfig) -> dict:
    import numpy as np

    from unimumo.eval.assets import load_model, load_motion_tokenizer, load_text_tokenizer
    from unimumo.eval.caption_metrics import humanml3d_scores, strip_motion_caption
    from unimumo.eval.chunks import check_settings
    from unimumo.eval.humanml3d_captions import MODEL_FPS, model_input, read_caption_entries
    from unimumo.eval.report import write_report
    from unimumo.eval.t2m_evaluator import (
        EVALUATOR_UPSTREAM,
        MATCHING_REPORTED,
        MATCHING_UPSTREAM,
        TEXT_UPSTREAM,
        Matching,
    )
    from unimumo.utils.io import atomic_write_json

    matching = Matching.load(config)  # before captioning: a missing evaluator piece stops the run at once
    ids, entries = read_caption_entries(config.humanml3d, config.split)
    needed = list(dict.fromkeys(e.motion_id for e in entries))[: config.num_samples]
    entries = [e for e in entries if e.motion_id in set(needed)]
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    motion_tokenizer = load_motion_tokenizer(config.shards, config.motion_tokenizer, config.device, config.model)
    tokenizer = load_text_tokenizer(config.shards, config.text_tokenizer, config.model)
    model = load_model(config.model, config.device)
    cache_dir = out / "cache" / "motion-caption"
    check_settings(
        cache_dir,
        {
            "model": str(Path(config.model).resolve()),
            "humanml3d": str(Path(config.humanml3d).resolve()),
            "split": config.split,
            "num_beams": config.num_beams,
            "max_length": config.max_length,
            "seconds": config.seconds,
            "motion_tokenizer": motion_tokenizer.fingerprint,
        },
    )

    def codes_of(index: int):
        features = np.load(Path(config.humanml3d) / "new_joint_vecs" / f"{needed[index]}.npy", allow_pickle=False)
        return motion_tokenizer.encode(model_input(features, config.seconds), fps=MODEL_FPS)

    raw = caption_each(model, tokenizer, "motion", needed, codes_of, cache_dir, config.num_beams, config.max_length)
    generated = {motion_id: strip_motion_caption(text) for motion_id, text in zip(needed, raw)}
    atomic_write_json(out / "gen_captions.json", generated)
    atomic_write_json(out / "gt_captions.json", {e.name: list(e.references) for e in entries})
    write_side_by_side(out, [(e.name, generated[e.motion_id], " / ".join(e.references)) for e in entries])
    ours = humanml3d_scores(
        [list(e.references) for e in entries],
        [generated[e.motion_id] for e in entries],
        bert_model=config.bert_model,
        bert_layers=config.bert_layers,
        bert_baseline=config.bert_baseline,
        device=config.device,
    )
    if matching is None:
        ours.update(dict.fromkeys(MATCHING_REPORTED))
    else:
        ours.update(
            matching.scores(
                config.humanml3d, entries, generated, config.r_precision_seed, config.r_precision_batch_size
            )
        )
    published, sources = published_column(PUBLISHED_HUMANML3D)
    table = {"this_model": ours, "published": published}
    info = {
        "inputs": MOTION_INPUTS_UPSTREAM,
        "entries": ENTRIES_UPSTREAM,
        "metrics": HUMANML3D_UPSTREAM,
        "humanml3d": config.humanml3d,
        "split": config.split,
        "num_motions_listed": len(ids),
        "num_motions_captioned": len(needed),
        "num_entries": len(entries),
        "seconds": config.seconds,
        "fps": MODEL_FPS,
        "num_beams": config.num_beams,
        "max_length": config.max_length,
        "bert_model": config.bert_model,
        "bert_layers": config.bert_layers,
        "unavailable": [m for m, v in ours.items() if v is None],
        "r_precision": NO_EVALUATOR
        if matching is None
        else f"evaluator {EVALUATOR_UPSTREAM}; tokens {TEXT_UPSTREAM}; scoring {MATCHING_UPSTREAM}; "
        f"t2m_evaluator {config.t2m_evaluator}, glove {config.glove}, spacy_model {config.spacy_model}, "
        f"batches of {config.r_precision_batch_size} (an incomplete last one left out), entries shuffled with seed "
        f"{config.r_precision_seed}",
    }
    note = ""
    if matching is None:
        note = f"\n\n{NO_EVALUATOR}."
    elif ours["matching_score"] is None:
        note = f"\n\nR-precision and the matching score not computed: {len(entries)} entries, fewer than one batch."
        log.warning(note.strip())
    write_report(
        out,
        "motion-caption",
        table,
        info,
        extra_markdown=f"{sources}{note}\n\nGenerated and reference captions side by side: captions.md",
    )
    return table


PAPER_UNKNOWN = "n/a"  # a published number this project does not record
# (column, metric, published key) of each captioning section of `unimumo-eval paper`
MUSIC_CAPTION_COLUMNS = (
    ("BLEU", "bleu"),
    ("BLEU-4", "bleu4"),
    ("METEOR", "meteor"),
    ("ROUGE-L", "rouge_l_recall"),
    ("BERTScore", "bertscore_recall"),
)
MOTION_CAPTION_COLUMNS = (
    ("R@1", "r_precision_top1"),
    ("R@2", "r_precision_top2"),
    ("R@3", "r_precision_top3"),
    ("MM-Dist", "matching_score"),
    ("BLEU-1", "bleu_1"),
    ("BLEU-4", "bleu_4"),
    ("ROUGE-L", "rouge_l"),
    ("CIDEr", "cider"),
    ("BERTScore", "bertscore_f1"),
)


def _row(name: str, values: dict, columns: tuple, missing: str = "-") -> str:
    cells = [missing if values.get(metric) is None else f"{values[metric]:.3f}" for _, metric in columns]
    return f"| {name} | " + " | ".join(cells) + " |"


def _header(columns: tuple) -> list[str]:
    return ["| system | " + " | ".join(c for c, _ in columns) + " |", "|---" * (len(columns) + 1) + "|"]


def music_caption_section(config: MusicCaptionConfig, table: dict) -> list[str]:
    """The music-captioning section of `unimumo-eval paper`'s paper_tables.md."""
    published = {metric: value for metric, (value, _) in PUBLISHED_MUSICQA.items()}
    return [
        "## Music -> text (MusicQA)",
        "",
        *_header(MUSIC_CAPTION_COLUMNS),
        _row("this run", table["this_model"], MUSIC_CAPTION_COLUMNS),
        _row("UniMuMo (published)", published, MUSIC_CAPTION_COLUMNS, PAPER_UNKNOWN),
        "",
        *(f"- {metric}: {value} ({source})" for metric, (value, source) in PUBLISHED_MUSICQA.items()),
        "- BLEU and BLEU-4 on characters, as published (nltk on raw strings); the word-level figures in the details",
        f"- settings: beam {config.num_beams}, up to {config.max_length} tokens, the first min({config.max_seconds}, "
        "whole seconds) of each clip",
        f"- inputs: {MUSICQA_INPUTS_UPSTREAM}",
        f"- metrics: {MUSICQA_UPSTREAM}",
        f"- details: {Path(config.out) / 'metrics.md'}",
    ]


def motion_caption_section(config: MotionCaptionConfig, table: dict) -> list[str]:
    """The motion-captioning section of `unimumo-eval paper`'s paper_tables.md: the model's captions, the ground
    truth's (the evaluator's reference point) and the published row."""
    ours = table["this_model"]
    truth = {metric: ours.get(f"{metric}_ground_truth") for _, metric in MOTION_CAPTION_COLUMNS}
    paper = {key: value for key, (value, _) in PUBLISHED_HUMANML3D.items()}
    published = {  # the paper's MM-Dist is the log's ground-truth value
        "r_precision_top1": paper["r_precision_top1"],
        "r_precision_top3": paper["r_precision_top3"],
        "matching_score": paper["matching_score_ground_truth"],
    }
    return [
        "## Motion -> text (HumanML3D test set)",
        "",
        *_header(MOTION_CAPTION_COLUMNS),
        _row("this run", ours, MOTION_CAPTION_COLUMNS),
        _row("HumanML3D captions (ground truth)", truth, MOTION_CAPTION_COLUMNS),
        _row("UniMuMo (published)", published, MOTION_CAPTION_COLUMNS, PAPER_UNKNOWN),
        "",
        "- published: R@1, R@3 and MM-Dist from the UniMuMo paper; its MM-Dist 2.958 is the ground-truth captions' "
        "matching score in the authors' evaluation log, where the model's is 3.062",
        "- R-precision and MM-Dist: "
        + (
            f"the text-motion evaluator {config.t2m_evaluator}, batches of {config.r_precision_batch_size}, "
            f"seed {config.r_precision_seed}"
            if config.t2m_evaluator
            else NO_EVALUATOR
        ),
        f"- settings: beam {config.num_beams}, up to {config.max_length} tokens, {config.seconds:g} s at 60 fps",
        f"- inputs: {MOTION_INPUTS_UPSTREAM}; entries {ENTRIES_UPSTREAM}",
        f"- metrics: {HUMANML3D_UPSTREAM}",
        f"- details: {Path(config.out) / 'metrics.md'}",
    ]


def paper_caption_configs(config, out: Path) -> tuple[MusicCaptionConfig | None, MotionCaptionConfig | None]:
    """The captioning benchmarks of `unimumo-eval paper` (config: a PaperConfig) whose inputs it names (--musicqa,
    --humanml3d), with the authors' settings (the configs' defaults), writing under `out`."""
    shared = {name: getattr(config, name) for name in ("model", "device", "shards", "text_tokenizer", "bert_model")}
    music = None
    if config.musicqa:
        music = MusicCaptionConfig(
            **shared,
            musicqa=config.musicqa,
            musicqa_audio=config.musicqa_audio or "",
            music_codec=config.music_codec,
            nltk_data=config.nltk_data,
            out=str(out / "music_caption"),
        )
    motion = None
    if config.humanml3d:
        motion = MotionCaptionConfig(
            **shared,
            humanml3d=config.humanml3d,
            motion_tokenizer=config.motion_tokenizer,
            t2m_evaluator=config.t2m_evaluator,
            glove=config.glove,
            spacy_model=config.spacy_model,
            out=str(out / "motion_caption"),
        )
    return music, motion
