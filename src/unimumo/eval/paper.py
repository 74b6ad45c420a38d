"""`unimumo-eval paper`: the UniMuMo paper's dance tables on their own inputs, and `paper_tables.md`.

Runs every published benchmark whose inputs are given, each with the authors' settings (the config defaults):
music -> dance on EDGE's slices of the AIST++ test music (`music2motion-aist`, in OUT/music2motion/) and,
given D2M-GAN's segment list, dance -> music (`motion2music-aist`, in OUT/motion2music/). OUT/paper_tables.md
shows our numbers, the published ones beside them with their source (a cell we have no published number
for is marked), the settings and the upstream code of each metric.
"""

from __future__ import annotations

from pathlib import Path

from unimumo.eval.aist_benchmarks import (
    PUBLISHED_D2M,
    PUBLISHED_D2M_SOURCE,
    run_motion2music_aist,
    run_music2motion_aist,
)
from unimumo.eval.aist_inputs import SEGMENTS_UPSTREAM, SLICER_UPSTREAM
from unimumo.eval.beats_metrics import BAS_UPSTREAM, BEATS_UPSTREAM
from unimumo.eval.config import (
    AistMotion2MusicConfig,
    AistMusic2MotionConfig,
    PaperConfig,
    paper_musiccaps,
    validate,
)
from unimumo.eval.protocols import get_protocol
from unimumo.eval.published_captions import (
    motion_caption_section,
    music_caption_section,
    paper_caption_configs,
    run_motion_caption,
    run_music_caption,
)
from unimumo.eval.report import Table
from unimumo.eval.text2music_musiccaps import MUSICCAPS_NOT_RUN, musiccaps_section, run_text2music_musiccaps
from unimumo.utils.io import atomic_write_text

DANCE_COLUMNS = ("FID_k", "FID_m", "Div_k", "Div_m", "BAS", "PFC")
UNKNOWN = "n/a"  # a published number this project does not record
# The music-to-dance cells of the UniMuMo paper's table (Yang et al., arXiv 2410.04534, AAAI 2025: Dist_k, Dist_g
# and BAS on AIST++; PFC left out by the authors) that this project could source, each with its source; every other
# cell is UNKNOWN. The paper's own table could not be read here (PDF / HTML not reachable), so each value is a
# third party's quotation of it, at the precision quoted.
PUBLISHED_M2M: dict[str, tuple[dict[str, float], str]] = {
    "UniMuMo": (
        {"BAS": 0.24},
        "ZeyuLing/Motius @ 1a2bd7f docs/model_zoo/unimumo.md ('the paper reports BeatAlign 0.24'); "
        "also a machine-written summary of the AAAI paper",
    ),
    "EDGE": (
        {},
        "not shown: only a machine-written summary of the AAAI paper quotes it ('Beat Align 0.24, slightly below "
        "EDGE (0.27)'), unverified",
    ),
    "Bailando": ({}, "no source: the one summary found quotes both 0.22 and 0.26 for its BAS"),
}
M2M_PUBLISHED_NOTE = (
    f"published: a cell without a source is {UNKNOWN} (copy it from the UniMuMo paper's music-to-dance table to "
    "compare); the paper's Dist_k / Dist_g are Div_k / Div_m here"
)


def _cell(value, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}" if percent else f"{value:.4f}"


def _shared(config: PaperConfig) -> dict:
    return {
        name: getattr(config, name)
        for name in (
            "model",
            "aist",
            "aist_music",
            "device",
            "batch_size",
            "shards",
            "music_codec",
            "motion_tokenizer",
            "text_tokenizer",
        )
    }


def music2motion_section(config: AistMusic2MotionConfig, table: Table) -> list[str]:
    protocol = get_protocol(config.protocol)
    rows = [("this run", table["generated"]), ("AIST++ test motion (ground truth)", table["ground_truth"])]
    lines = [
        "## Music -> dance (AIST++ test music in EDGE's 5 s slices)",
        "",
        "| system | " + " | ".join(DANCE_COLUMNS) + " |",
        "|---" * (len(DANCE_COLUMNS) + 1) + "|",
    ]
    lines += [f"| {name} | " + " | ".join(_cell(values.get(c)) for c in DANCE_COLUMNS) + " |" for name, values in rows]
    lines += [
        f"| {name} (published, as quoted) | "
        + " | ".join(f"{cells[c]:g}" if c in cells else UNKNOWN for c in DANCE_COLUMNS)
        + " |"
        for name, (cells, _) in PUBLISHED_M2M.items()
    ]
    lines += [
        "",
        f"- {M2M_PUBLISHED_NOTE}",
        *(f"  - {name}: {source}" for name, (_, source) in PUBLISHED_M2M.items()),
        f"- settings: guidance {config.guidance_scale:g}, top-k {config.top_k}, temperature "
        f"{config.temperature:g}, seed {config.seed}, {config.seconds:g} s, empty music text, the authors' "
        "genre prompt",
        f"- inputs: {SLICER_UPSTREAM}",
        f"- metrics: protocol {protocol.name} ({protocol.upstream}); BAS_nan / PFC_nan: "
        f"{table['generated'].get('BAS_nan', '-')} / {table['generated'].get('PFC_nan', '-')} slices undefined",
        f"- details: {Path(config.out) / 'metrics.md'}",
    ]
    return lines


def motion2music_section(config: AistMotion2MusicConfig, table: Table) -> list[str]:
    ours = table["generated"]
    lines = [
        "## Dance -> music (D2M-GAN's 2 s AIST++ test segments)",
        "",
        "| system | Beats Coverage (%) | Beats Hit (%) | BAS |",
        "|---|---|---|---|",
        f"| this run | {_cell(ours['beats_coverage'], True)} | {_cell(ours['beats_hit'], True)} | "
        f"{_cell(ours.get('BAS'))} |",
    ]
    lines += [
        f"| {name} (published) | {coverage:.1f} | {hit:.1f} | {UNKNOWN} |"
        for name, (coverage, hit) in PUBLISHED_D2M.items()
    ]
    lines += [
        "",
        f"- published: {PUBLISHED_D2M_SOURCE}",
        f"- settings: guidance {config.guidance_scale:g}, top-k {config.top_k}, temperature "
        f"{config.temperature:g}, seed {config.seed}, {config.seconds:g} s, empty texts",
        f"- inputs: {SEGMENTS_UPSTREAM}",
        f"- metrics: Beats Coverage / Hit {BEATS_UPSTREAM}; BAS {BAS_UPSTREAM}",
        f"- details: {Path(config.out) / 'metrics.md'}",
    ]
    return lines


def run_paper(config: PaperConfig) -> Table:
    """Run the benchmarks whose inputs `config` gives; write OUT/paper_tables.md; the tables, prefixed by task."""
    out = Path(config.out)
    music_caption, motion_caption = paper_caption_configs(config, out)
    for caption_config in (music_caption, motion_caption):
        if caption_config is not None:
            validate(caption_config)  # before anything runs
    m2m = AistMusic2MotionConfig(**_shared(config), render=config.render, out=str(out / "music2motion"))
    validate(m2m)
    tables = {"music2motion": run_music2motion_aist(m2m)}
    sections = music2motion_section(m2m, tables["music2motion"])
    if config.segments:
        d2m = AistMotion2MusicConfig(**_shared(config), segments=config.segments, out=str(out / "motion2music"))
        validate(d2m)
        tables["motion2music"] = run_motion2music_aist(d2m)
        sections += [""] + motion2music_section(d2m, tables["motion2music"])
    else:
        sections += ["", "## Dance -> music", "", "not run: give --segments (D2M-GAN's aist_motion_test_segment.txt)"]
    if config.musiccaps:
        t2m = paper_musiccaps(config, str(out / "text2music"))
        validate(t2m)
        tables["text2music"] = run_text2music_musiccaps(t2m)
        sections += [""] + musiccaps_section(t2m, tables["text2music"])
    else:
        sections += ["", "## Text -> music", "", f"not run: {MUSICCAPS_NOT_RUN}"]
    for name, caption_config, run, section, needs in (
        ("music_caption", music_caption, run_music_caption, music_caption_section, "--musicqa and --musicqa-audio"),
        ("motion_caption", motion_caption, run_motion_caption, motion_caption_section, "--humanml3d"),
    ):
        if caption_config is not None:
            tables[name] = run(caption_config)
            sections += [""] + section(caption_config, tables[name])
        else:
            title = "Music -> text (MusicQA)" if name == "music_caption" else "Motion -> text (HumanML3D)"
            sections += ["", f"## {title}", "", f"not run: give {needs}"]
    text = "\n".join(
        [
            f"# UniMuMo paper tables: {config.model}",
            "",
            "Each benchmark on its published inputs with the authors' settings (`unimumo-eval paper`).",
            "",
            *sections,
            "",
        ]
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "paper_tables.md", text)
    return {f"{task} {column}": values for task, table in tables.items() for column, values in table.items()}
