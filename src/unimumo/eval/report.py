"""metrics.json and metrics.md of an evaluation run (a metric x column table plus the run's settings)."""

from __future__ import annotations

import math
from pathlib import Path

from unimumo.utils.io import atomic_write_json, atomic_write_text

Table = dict[str, dict[str, float | int | None]]  # column ("generated", "ground_truth", ...) -> metric -> value


def _check_finite(table: Table) -> None:
    for column, values in table.items():
        for metric, value in values.items():
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ValueError(f"metric {metric} ({column}) is {value!r}; refusing to report a non-finite number")


def markdown_cell(text: str) -> str:
    """`text` as one cell of a markdown table row (pipes escaped, newlines folded)."""
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    columns = list(table)
    metrics = list(dict.fromkeys(m for values in table.values() for m in values))
    lines = ["| metric | " + " | ".join(c.replace("_", " ") for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for metric in metrics:
        cells = []
        for column in columns:
            value = table[column].get(metric)
            cells.append("-" if value is None else str(value) if isinstance(value, int) else f"{value:.4f}")
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(
    out: Path, task: str, table: Table, info: dict, extra_markdown: str = "", inputs: list[dict] | None = None
) -> None:
    """Write out/metrics.json ({task, metrics, info} and `inputs`, one entry per scored input, when given) and
    out/metrics.md (a table and the settings)."""
    _check_finite(table)
    report = {"task": task, "metrics": table, "info": info}
    if inputs is not None:
        report["inputs"] = inputs
    atomic_write_json(Path(out) / "metrics.json", report)
    settings = "\n".join(f"- {key}: {value}" for key, value in info.items())
    text = f"# {task} evaluation\n\n{markdown_table(table)}\n\n## Settings\n\n{settings}\n"
    atomic_write_text(Path(out) / "metrics.md", text + (f"\n{extra_markdown}\n" if extra_markdown else ""))
