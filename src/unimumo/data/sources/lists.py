"""The corpora's one-name-per-line files (split lists, ignore lists), read line by line.

A line that is not UTF-8 or not a plain name (letters, digits, `_.-`; no path) is left out and returned as a
skip record {id, file, reason: "bad_list_line", detail} for skipped.jsonl; the other lines are read. A file
that cannot be read at all is a SourceListError naming it.
"""

from __future__ import annotations

import re
from pathlib import Path

from unimumo.errors import UniMuMoError
from unimumo.utils.log import get_logger

logger = get_logger(__name__)

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


class SourceListError(UniMuMoError, ValueError):
    """A list file of a corpus cannot be read (the message names it and the cause)."""

    kind = "input list error"


def bad_line(path: Path, number: int, detail: str) -> dict:
    return {
        "id": f"{path.name}:{number}",
        "file": str(path),
        "reason": "bad_list_line",
        "detail": f"line {number}: {detail}",
    }


def read_names(path: str | Path) -> tuple[list[str], list[dict]]:
    """(names in file order, skip records of the lines left out) of an existing list file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SourceListError(f"{path}: cannot read ({error.strerror or error})") from None
    names, skipped = [], []
    for number, line in enumerate(raw.splitlines(), 1):
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError as error:
            skipped.append(
                bad_line(path, number, f"not UTF-8 (byte {line[error.start]:#04x} at column {error.start + 1})")
            )
            continue
        if not text:
            continue
        if not NAME.fullmatch(text):
            skipped.append(bad_line(path, number, f"{text[:60]!r} is not a plain name"))
            continue
        names.append(text)
    return names, skipped


def report(records: list[dict], skipped: list[dict] | None) -> None:
    """Hand skip records to the caller's list, or log each as a warning when it keeps none."""
    if skipped is not None:
        skipped.extend(records)
        return
    for record in records:
        logger.warning("left out %s (%s): %s", record["id"], record["reason"], record["detail"])
