"""Music4All reader: tab-separated metadata, split files, `music4all_ignore.txt`, `audios/<id>.mp3|.wav`.

Layout (the real file names and columns):
    ROOT/audios/<id>.mp3            (or .wav)
    ROOT/id_information.csv         id  artist  song  album_name
    ROOT/id_metadata.csv            id  spotify_id  popularity  release  danceability  energy  key  mode
                                    valence  tempo  duration_ms
    ROOT/id_tags.csv                id  tags          (comma-separated)
    ROOT/id_genres.csv              id  genres        (comma-separated)
    ROOT/music4all_ignore.txt       one id per line, never used
    ROOT/splits/{train,val,test}.txt  one id per line

A file that cannot be read is an error naming it. One bad split line (not UTF-8, not an id), metadata row
(not UTF-8) or metadata cell (a number that is not one) leaves that track out with a skip record (reason
"bad_list_line" / "bad_metadata", see `list_tracks`), unless no track of the split is left.
"""

from __future__ import annotations

import csv
import errno
import math
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import librosa
import numpy as np

from unimumo.data.sources.lists import SourceListError, read_names, report
from unimumo.errors import UniMuMoError

AUDIO_EXTENSIONS = (".mp3", ".wav")
SPLITS = ("train", "val", "test")
REQUIRED_COLUMNS = {
    "id_information.csv": ("id", "artist", "song", "album_name"),
    "id_metadata.csv": ("id", "energy", "key", "tempo"),
    "id_tags.csv": ("id", "tags"),
    "id_genres.csv": ("id", "genres"),
}


@dataclass
class TrackInfo:
    id: str
    audio_path: Path
    tags: list[str] = field(default_factory=list)
    genre: str = ""
    energy: float | None = None  # None: not in the metadata (captions then leave it out)
    tempo: float | None = None
    key: int | None = None  # Spotify pitch class 0..11
    name: str = ""
    album: str = ""


class Music4AllFormatError(UniMuMoError, ValueError):
    """A Music4All metadata or split file is missing or malformed (the message names the file)."""

    kind = "Music4All format error"


def _has_undecodable(row: dict) -> bool:
    """A cell read with surrogateescape that held bytes that are not UTF-8."""
    return any(isinstance(v, str) and any("\udc80" <= c <= "\udcff" for c in v) for v in row.values())


def read_table(path: Path, required: tuple[str, ...]) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """A tab-separated file with a header row -> ({id: row}, {id: why its row is unusable}); Music4AllFormatError
    naming the file when it cannot be read as a whole."""
    if not os.path.lexists(path):
        raise Music4AllFormatError(f"{path}: missing Music4All metadata file")
    rows, bad = {}, {}
    try:
        with open(path, newline="", encoding="utf-8", errors="surrogateescape") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            missing = [column for column in required if column not in (reader.fieldnames or [])]
            if missing:
                raise Music4AllFormatError(
                    f"{path}: missing columns {missing} (found {reader.fieldnames}); is it tab-separated?"
                )
            for row in reader:
                if _has_undecodable(row):
                    bad[row["id"]] = f"{path}: line {reader.line_num}: not UTF-8"
                else:
                    rows[row["id"]] = row
    except (OSError, csv.Error) as error:
        raise Music4AllFormatError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from None
    return rows, bad


def read_id_lines(path: Path) -> tuple[list[str], list[dict]]:
    """(ids, skip records of the bad lines) of an id list file; Music4AllFormatError when missing or unreadable."""
    if not os.path.lexists(path):
        raise Music4AllFormatError(f"{path}: missing id list")
    try:
        return read_names(path)
    except SourceListError as error:
        raise Music4AllFormatError(str(error)) from None


def read_id_list(path: Path) -> list[str]:
    return read_id_lines(path)[0]


def audio_path(root: Path, track_id: str) -> Path:
    for extension in AUDIO_EXTENSIONS:
        candidate = root / "audios" / f"{track_id}{extension}"
        if os.path.lexists(candidate):  # a broken or looping link is this track's file too (load_audio says so)
            return candidate
    return root / "audios" / f"{track_id}{AUDIO_EXTENSIONS[0]}"


def _float(value: str | None, path: Path, track_id: str) -> float | None:
    """A metadata number; None when the cell is empty or not finite (Music4All writes "nan" for unknown)."""
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except ValueError as error:
        raise Music4AllFormatError(f"{path}: id {track_id}: not a number: {value!r}") from error
    return number if math.isfinite(number) else None


def pitch_class(key: float | None) -> int | None:
    """Spotify's key column: 0 (C) .. 11 (B); -1 (no key detected) or anything else is unknown (None)."""
    return int(key) if key is not None and key == int(key) and 0 <= key <= 11 else None


def list_tracks(
    root: str | Path, split: str, skipped: list[dict] | None = None, split_path: str | Path | None = None
) -> list[TrackInfo]:
    """Tracks of `split` in split-file order (`split_path`, default ROOT/splits/{split}.txt), with ids from
    `music4all_ignore.txt` removed.

    A bad split line, metadata row or cell leaves its track out: its skip record {id, file, reason, detail}
    goes to `skipped` (logged as a warning when no list is given). Music4AllFormatError when a file cannot
    be read, or when bad lines and rows leave no track.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    root = Path(root)
    tables, bad_rows = {}, {}
    for name, columns in REQUIRED_COLUMNS.items():
        tables[name], bad = read_table(root / name, columns)
        for track_id, detail in bad.items():
            bad_rows.setdefault(track_id, (root / name, detail))
    ignore_path = root / "music4all_ignore.txt"
    ignored, records = read_id_lines(ignore_path) if os.path.lexists(ignore_path) else ([], [])
    ignored = set(ignored)
    metadata_path = root / "id_metadata.csv"
    split_path = Path(split_path) if split_path is not None else root / "splits" / f"{split}.txt"
    ids, bad_lines = read_id_lines(split_path)
    records += bad_lines
    tracks = []
    for track_id in ids:
        if track_id in ignored:
            continue
        if track_id in bad_rows:
            records.append(
                {
                    "id": track_id,
                    "file": str(bad_rows[track_id][0]),
                    "reason": "bad_metadata",
                    "detail": bad_rows[track_id][1],
                }
            )
            continue
        info = tables["id_information.csv"].get(track_id, {})
        meta = tables["id_metadata.csv"].get(track_id, {})
        tags = tables["id_tags.csv"].get(track_id, {}).get("tags", "")
        genres = tables["id_genres.csv"].get(track_id, {}).get("genres", "")
        try:
            energy, tempo, key = (
                _float(meta.get(column), metadata_path, track_id) for column in ("energy", "tempo", "key")
            )
        except Music4AllFormatError as error:
            records.append({"id": track_id, "file": str(metadata_path), "reason": "bad_metadata", "detail": str(error)})
            continue
        tracks.append(
            TrackInfo(
                id=track_id,
                audio_path=audio_path(root, track_id),
                tags=[tag.strip() for tag in tags.split(",") if tag.strip()],
                genre=next((g.strip() for g in genres.split(",") if g.strip()), ""),
                energy=energy,
                tempo=tempo or None,  # Spotify writes 0 for unknown
                key=pitch_class(key),
                name=info.get("song", ""),
                album=info.get("album_name", ""),
            )
        )
    if records and not tracks:
        raise Music4AllFormatError(
            f"{split_path}: no usable track in split {split!r}: {len(records)} left out, e.g. {records[0]['detail']}"
        )
    report(records, skipped)
    return tracks


def load_audio(path: str | Path, sampling_rate: int, min_seconds: float = 1.0) -> np.ndarray:
    """Decode, downmix to mono and resample; raises ValueError naming the file if it is unreadable or too short."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise FileNotFoundError(f"{path}: broken symbolic link (to {os.readlink(path)})") from None
        raise FileNotFoundError(f"{path}: audio file not found") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ValueError(f"{path}: symbolic link loop (too many levels of symbolic links)") from None
        raise ValueError(f"{path}: cannot read ({error.strerror or error})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{path}: not a regular file")
    if info.st_size == 0:
        raise ValueError(f"{path}: empty audio file")
    try:
        with warnings.catch_warnings():  # librosa warns before falling back to audioread; errors still raise
            warnings.simplefilter("ignore", (UserWarning, FutureWarning))
            wav, _ = librosa.load(path, sr=sampling_rate, mono=True)
    except Exception as error:  # decoders raise many types (soundfile, audioread, EOFError)
        raise ValueError(f"{path}: cannot decode audio ({type(error).__name__}: {error})") from error
    if wav.size < min_seconds * sampling_rate:
        raise ValueError(f"{path}: only {wav.size / sampling_rate:.2f} s of audio decoded (truncated?)")
    if not np.all(np.isfinite(wav)):
        raise ValueError(f"{path}: decoded audio contains NaN/inf")
    return wav.astype(np.float32)
