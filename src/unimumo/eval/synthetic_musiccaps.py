"""The demo's text -> music inputs: a MusicCaps-format set made from the synthetic corpus.

`write_musiccaps_set` writes musiccaps-public.csv (MusicCaps' columns; ytid = the track id, caption = its tempo
caption) and each track's first seconds as a 16-bit wav named by ytid (the reference clips). The random evaluation
models it is scored with: `unimumo.eval.random_eval_models`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from unimumo.data.captions import MUSIC_TEMPLATES, music_caption
from unimumo.eval.beats_metrics import load_music
from unimumo.eval.musiccaps import REQUIRED_COLUMNS
from unimumo.eval.render import write_wav
from unimumo.utils.io import atomic_write_text

SAMPLING_RATE = 32000
CLIP_SECONDS = 10.0  # MusicCaps clips are 10 s


def write_musiccaps_set(
    corpus: str | Path, directory: Path, count: int, seconds: float = CLIP_SECONDS
) -> tuple[Path, Path]:
    """(directory/musiccaps-public.csv, directory/audio) for the corpus's first `count` good Music4All tracks, each
    reference clip its first `seconds`."""
    corpus = Path(corpus)
    tracks = [item for item in json.loads((corpus / "corpus.json").read_text())["music4all"] if item["kind"] == "good"]
    audio = directory / "audio"
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow([*REQUIRED_COLUMNS, "aspect_list"])
    for item in tracks[:count]:
        caption = music_caption(
            genre="", tempo=item["bpm"], key=None, energy=None, tags=[], template=MUSIC_TEMPLATES[1]
        )
        writer.writerow([item["id"], 0, seconds, caption, "[]"])
        wav = load_music(corpus / "music4all" / "audios" / Path(item["path"]).name, SAMPLING_RATE)
        write_wav(audio / f"{item['id']}.wav", wav[: int(seconds * SAMPLING_RATE)], SAMPLING_RATE)
    atomic_write_text(directory / "musiccaps-public.csv", rows.getvalue())
    return directory / "musiccaps-public.csv", audio
