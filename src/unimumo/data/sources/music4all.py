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
"""
from __future__ import annotations

from unimumo.errors import UniMuMoError

import csv
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import librosa
import numpy as np

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


def read_table(path: Path, required: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """A tab-separated file with a header row -> {id: row}."""
    if not path.is_file():
        raise Music4AllFormatError(f"{path}: missing Music4All metadata file")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [column for column in required if column not in (reader.fieldnames or [])]
        if missing:
            raise Music4AllFormatError(f"{path}: missing columns {missing} (found {reader.fieldnames}); is it tab-separated?")
        return {row["id"]: row for row in reader}


def read_id_list(path: Path) -> list[str]:
    if not path.is_file():
        raise Music4AllFormatError(f"{path}: missing id list")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_ignore_list(root: str | Path) -> set[str]:
    path = Path(root) / "music4all_ignore.txt"
    return set(read_id_list(path)) if path.is_file() else set()


def audio_path(root: Path, track_id: str) -> Path:
    for extension in AUDIO_EXTENSIONS:
        candidate = root / "audios" / f"{track_id}{extension}"
        if candidate.exists():
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


def list_tracks(root: str | Path, split: str) -> list[TrackInfo]:
    """Tracks of `split` in split-file order, with ids from `music4all_ignore.txt` removed."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    root = Path(root)
    tables = {name: read_table(root / name, columns) for name, columns in REQUIRED_COLUMNS.items()}
    ignored = read_ignore_list(root)
    metadata_path = root / "id_metadata.csv"
    tracks = []
    for track_id in read_id_list(root / "splits" / f"{split}.txt"):
        if track_id in ignored:
            continue
        info = tables["id_information.csv"].get(track_id, {})
        meta = tables["id_metadata.csv"].get(track_id, {})
        tags = tables["id_tags.csv"].get(track_id, {}).get("tags", "")
        genres = tables["id_genres.csv"].get(track_id, {}).get("genres", "")
        tracks.append(
            TrackInfo(
                id=track_id,
                audio_path=audio_path(root, track_id),
                tags=[tag.strip() for tag in tags.split(",") if tag.strip()],
                genre=next((g.strip() for g in genres.split(",") if g.strip()), ""),
                energy=_float(meta.get("energy"), metadata_path, track_id),
                tempo=_float(meta.get("tempo"), metadata_path, track_id) or None,  # Spotify writes 0 for unknown
                key=pitch_class(_float(meta.get("key"), metadata_path, track_id)),
                name=info.get("song", ""),
                album=info.get("album_name", ""),
            )
        )
    return tracks


def load_audio(path: str | Path, sampling_rate: int, min_seconds: float = 1.0) -> np.ndarray:
    """Decode, downmix to mono and resample; raises ValueError naming the file if it is unreadable or too short."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: audio file not found")
    if path.stat().st_size == 0:
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
