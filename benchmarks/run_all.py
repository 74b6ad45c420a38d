"""Run every benchmark in benchmarks/ and write one table of ratios against their targets.

Each benchmark script prints, as its last JSON line,
``{"benchmark": name, "ratio": x, "target": y, "unit": "...", "detail": {...}}``; the unit says
which way the target points ("x faster" targets are minima, "x of ..." memory/overhead targets
are maxima, given by ``"higher_is_better"`` in the line, default true). A line with ``"target_applies": false``
was measured on hardware the target is not for (mfu.py on a CPU): its status says so instead of comparing.

    python benchmarks/run_all.py [--quick] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from unimumo.utils.io import atomic_write_json, atomic_write_text  # noqa: E402

# Scripts here that are not ratio benchmarks (they need data that is not in the repository).
NOT_RATIOS = {
    "beats.py": "beat-tracker F-measure and tempo accuracy on a local annotated set (--data DIR)",
    "beat_data.py": "builds that annotated set (`beats.py --prepare DIR`), not a benchmark",
}


def discover() -> list[Path]:
    return sorted(
        p
        for p in HERE.glob("*.py")
        if p.name != Path(__file__).name and not p.name.startswith("_") and p.name not in NOT_RATIOS
    )


def last_json_line(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and '"benchmark"' in line:
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def run_one(script: Path, quick: bool, timeout: int) -> dict:
    cmd = [sys.executable, str(script)] + (["--quick"] if quick else [])
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"benchmark": script.stem, "status": f"timed out after {timeout}s", "command": " ".join(cmd[1:])}
    row = last_json_line(proc.stdout) or {"benchmark": script.stem}
    row["command"] = "python " + " ".join(
        str(Path(c).relative_to(HERE.parent)) if c == str(script) else c for c in cmd[1:]
    )
    row["seconds"] = round(time.perf_counter() - started, 1)
    row["status"] = status_of(row, proc.returncode, proc.stderr)
    return row


def status_of(row: dict, returncode: int, stderr: str) -> str:
    """The table's status column for one benchmark's JSON line (also used by scripts/gpu_check.sh)."""
    if returncode != 0 or "ratio" not in row:
        return f"failed (exit {returncode}): {stderr.strip().splitlines()[-1:] or ''}"
    if not row.get("target_applies", True):
        return "measured (target is for other hardware)"
    higher = row.get("higher_is_better", True)
    return "meets target" if (row["ratio"] >= row["target"]) == higher else "below target"


def markdown_table(rows: list[dict]) -> str:
    lines = ["| benchmark | ratio | target | unit | status | command |", "|---|---|---|---|---|---|"]
    for row in rows:
        ratio = f"{row['ratio']:.2f}" if isinstance(row.get("ratio"), (int, float)) else "-"
        target = row.get("target", "-")
        comparator = "≥" if row.get("higher_is_better", True) else "≤"
        target_text = f"{comparator} {target}" if target != "-" else "-"
        lines.append(
            f"| {row['benchmark']} | {ratio} | {target_text} | {row.get('unit', '')} | {row['status']} | "
            f"`{row['command']}` |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark (small sizes)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where results.md / results.json go")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per benchmark")
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names (file stems) to run")
    args = parser.parse_args(argv)

    scripts = [s for s in discover() if args.only is None or s.stem in args.only]
    if not scripts:
        parser.error(f"no benchmark matched {args.only} in {HERE}")
    rows = []
    for script in scripts:
        print(f"[run_all] {script.name} ...", flush=True)
        rows.append(run_one(script, args.quick, args.timeout))
        print(f"[run_all] {script.name}: {rows[-1]['status']} ratio={rows[-1].get('ratio')}", flush=True)
    table = markdown_table(rows)
    atomic_write_text(args.out / "results.md", table)
    atomic_write_json(args.out / "results.json", rows)
    print(table)
    return 0 if all(not r["status"].startswith(("failed", "timed out")) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
