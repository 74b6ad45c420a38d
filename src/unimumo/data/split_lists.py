"""Split files and ignore lists given as files: `--split-file SOURCE=FILE` and `--ignore-list [SOURCE=]FILE`.

A split file lists the ids of this build's split for one corpus (one id a line, read by sources/lists.py), in
place of the corpus's own (Music4All ROOT/splits/{split}.txt, AIST++ ROOT/splits/crossmodal_{split}.txt,
HumanML3D ROOT/{split}.txt, DanceDB ROOT/dancedb_{split}.txt). An ignore list's ids are never used, on top
of the corpus's own ignore list; without SOURCE= it applies to every corpus. Ignored inputs are skip records
(reason "ignored", naming the list), bad lines skip records "bad_list_line".

The authors' files (hanyangclarence/UniMuMo, in the repository; see its README's data layout):
    data/music/music4all_{train,val,test}.txt   their Music4All split     --split-file music4all=...
    data/music/music4all_ignore.txt             Music4All tracks not used --ignore-list music4all=...
    data/motion/aist_{train,val,test}.txt       their AIST++ split        --split-file aist=...
    data/motion/humanml3d_{train,val,test}.txt  their HumanML3D split     --split-file humanml3d=...
    data/motion/dancedb_{train,val,test}.txt    their DanceDB split       --split-file dancedb=...
    data/motion/ignore_list.txt                 motions of all three corpora not used   --ignore-list ...
Their AIST++ split is not AIST++'s crossmodal one (which the builder reads by default): pass their
aist_{split}.txt to train on what they trained on. Their music captions are data/music/
music4all_captions_{gpt,mullama}.json (--music-captions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from unimumo.data.sources import lists

LIST_SOURCES = ("music4all", "aist", "humanml3d", "dancedb")


def parse_list_files(items: list[str], option: str, every_source: bool) -> dict[str, list[str]]:
    """{source: [files]} of SOURCE=FILE items (repeatable; a later split file of a source replaces an earlier
    one); with `every_source`, a plain FILE applies to every source. ValueError naming the item otherwise."""
    files: dict[str, list[str]] = {}
    for item in items:
        source, sep, path = item.partition("=")
        if sep and source in LIST_SOURCES and path:
            sources = [source]
        elif every_source and not (sep and source in LIST_SOURCES):
            sources, path = list(LIST_SOURCES), item
        else:
            raise ValueError(f"{option} {item!r}: expected SOURCE=FILE with SOURCE one of {list(LIST_SOURCES)}")
        for name in sources:
            files[name] = files.get(name, []) + [path] if every_source else [path]
    return files


def check_list_files(files: dict[str, list[str]], option: str) -> list[str]:
    """Problems (one line each) with the files of parse_list_files: unknown sources, missing files."""
    problems = [f"{option}: unknown source {source!r}" for source in files if source not in LIST_SOURCES]
    return problems + [
        f"{option} {source}={path}: file not found"
        for source, paths in files.items()
        for path in paths
        if not Path(path).is_file()
    ]


def read_ignore_lists(ignore_lists: dict[str, list[str]], skipped: list[dict]) -> dict[str, dict[str, Path]]:
    """{source: {id: the list naming it}} of the --ignore-list files (each read once); skip records of their bad
    lines go to `skipped`."""
    read: dict[str, list[str]] = {}
    for path in dict.fromkeys(p for paths in ignore_lists.values() for p in paths):
        read[path], bad = lists.read_names(path)
        skipped += bad
    return {
        source: {name: Path(path) for path in reversed(paths) for name in read[path]}
        for source, paths in ignore_lists.items()
    }


def without_ignored(
    items: Iterable, source_of: Callable, ignored: dict[str, dict[str, Path]] | None
) -> tuple[list, dict[str, Path]]:
    """(the items whose id `ignored` (read_ignore_lists) does not list for their source, {id: list file} of those
    left out)."""
    kept, dropped = [], {}
    for item in items:
        listed = (ignored or {}).get(source_of(item), {}).get(item.id)
        if listed is None:
            kept.append(item)
        else:
            dropped[item.id] = listed
    return kept, dropped
