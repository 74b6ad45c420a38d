"""Music and motion captioning on the shards: generated captions next to the references, BLEU and ROUGE-L.

`model.caption(music_codes=...)` / `model.caption(motion_codes=...)` (beam search) captions the
first `--seconds` of each test sample; ids are decoded with the shards' sentencepiece model.
The reference is the sample's music.txt / motion.txt. Writes captions.md (a side-by-side table),
captions.jsonl and the metric table (BLEU-1, BLEU-4, ROUGE-L per modality).

The shards' captions are templates filled from metadata, the very sentences the caption stage trains on: the
`music` / `motion` columns (every sample) are a training-set check, not a captioning benchmark (that is
`music-caption` / `motion-caption`). The `music_held_out` / `motion_held_out` columns score only the samples whose
reference caption is none of the training split's captions (split "train" of the same shards): captions the model
did not train on (empty when there are none, or no train split).
"""

from __future__ import annotations

import json

import numpy as np
import torch

from unimumo.eval.assets import load_text_tokenizer
from unimumo.eval.chunks import run_chunks
from unimumo.eval.config import ShardCaptionConfig
from unimumo.eval.generation import EvalSession
from unimumo.eval.report import markdown_cell, write_report
from unimumo.eval.samples import read_split_captions
from unimumo.eval.text_metrics import corpus_bleu, rouge_l
from unimumo.utils.io import atomic_write_text

TASK = "caption"
TRAIN_SPLIT = "train"  # the split the caption stage trains on
TRAINING_SET_CHECK = (
    "music / motion: every sample's template caption, the sentences the caption stage trains on: a training-set "
    "check, not a captioning benchmark (unimumo-eval music-caption / motion-caption are the published ones); "
    "*_held_out: only the samples whose reference is none of the train split's captions"
)


@torch.no_grad()
def generate_captions(session: EvalSession, model, tokenizer, modality: str) -> list[str]:
    args, samples = session.args, session.samples
    device = next(model.parameters()).device

    def compute(chunk: slice, _seed: int) -> dict[str, np.ndarray]:  # beam search: nothing is sampled
        codes = torch.from_numpy(np.stack([getattr(s, f"{modality}_codes") for s in samples[chunk]])).to(device)
        ids = model.caption(**{f"{modality}_codes": codes}, num_beams=args.num_beams, max_length=args.max_length)
        return {"caption": np.array([tokenizer.decode(row.tolist()).strip() for row in ids.cpu()])}

    captions = run_chunks(
        [s.key for s in samples], args.batch_size, session.cache_dir / modality, compute, 0, f"{modality} captioning"
    )
    return [str(text) for text in captions["caption"]]


def run(args: ShardCaptionConfig) -> dict:
    session = EvalSession.open(args, TASK)
    model, tokenizer = session.model(), load_text_tokenizer(args.shards, args.text_tokenizer)
    modalities = ("music", "motion") if args.modality == "both" else (args.modality,)
    trained_on = read_split_captions(args.shards, TRAIN_SPLIT)
    table, rows, held_out_counts = {}, [], {}
    for modality in modalities:
        captions = generate_captions(session, model, tokenizer, modality)
        references = [getattr(s, f"{modality}_text") for s in session.samples]
        table[modality] = _scores(captions, references)
        held_out = [(c, r) for c, r in zip(captions, references) if trained_on and r not in trained_on[modality]]
        table[f"{modality}_held_out"] = _scores(*zip(*held_out)) if held_out else dict.fromkeys(table[modality])
        held_out_counts[f"{modality}_held_out"] = len(held_out)
        rows += [
            {"key": s.key, "modality": modality, "generated": c, "reference": r}
            for s, c, r in zip(session.samples, captions, references)
        ]
    side_by_side = ["| key | modality | generated | reference |", "|---|---|---|---|"]
    side_by_side += [
        f"| {r['key']} | {r['modality']} | {markdown_cell(r['generated'])} | {markdown_cell(r['reference'])} |"
        for r in rows
    ]
    atomic_write_text(
        session.out / "captions.md", "# Generated vs reference captions\n\n" + "\n".join(side_by_side) + "\n"
    )
    atomic_write_text(session.out / "captions.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    write_report(
        session.out,
        TASK,
        table,
        session.info(
            num_beams=args.num_beams,
            max_length=args.max_length,
            columns=TRAINING_SET_CHECK,
            held_out_samples=held_out_counts,
            train_split=TRAIN_SPLIT if trained_on else f"none ({TRAIN_SPLIT!r} not in the manifest): nothing held out",
        ),
        extra_markdown=f"{TRAINING_SET_CHECK}.\n\nGenerated and reference captions side by side: captions.md",
    )
    return table


def _scores(captions: list[str], references: list[str]) -> dict[str, float]:
    return {
        "BLEU-1": corpus_bleu(list(captions), list(references), max_n=1),
        "BLEU-4": corpus_bleu(list(captions), list(references), max_n=4),
        "ROUGE-L": rouge_l(list(captions), list(references)),
    }
