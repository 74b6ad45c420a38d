"""Captions: caption files (--music-captions, --motion-captions), and templates where a file has no entry: music
captions from Music4All metadata, motion captions in the authors' wording (hanyangclarence/UniMuMo,
unimumo/data/music_motion_text_dataset_captioning.py): "The motion is that {desc}." around a description,
"The style of the dance is {genre}." and its variants for a dance genre, "This is a {feeling} dance." for a
DanceDB feeling.

A caption file is untrusted input: CSV with a header row naming the columns `id` and `caption`, or JSON lines
(`.jsonl`) of {"id": ..., "caption": ...} objects, or (`.json`) one object {id: caption or [captions]} as the
authors' music4all_captions_gpt.json. Several rows of one id give it several captions (one is drawn per
pair). A bad row is a CaptionFileError naming the file and line; nothing in a file is executed.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from unimumo.errors import UniMuMoError

COLUMNS = ("id", "caption")  # the columns (CSV) or keys (JSON lines) of a caption file

KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

AIST_GENRES = {
    "gBR": "break",
    "gPO": "pop",
    "gLO": "lock",
    "gMH": "middle hip-hop",
    "gLH": "LA style hip-hop",
    "gHO": "house",
    "gWA": "waack",
    "gKR": "krump",
    "gJS": "street jazz",
    "gJB": "ballet jazz",
}


@dataclass(frozen=True)
class MusicTemplate:
    """One caption wording: an opening with and without the genre, then a phrase per known field, in order."""

    with_genre: str
    without_genre: str
    tempo: str
    key: str
    mood: str
    tags: str


# A field the metadata lacks is left out of the caption, never filled with a default or a guess.
MUSIC_TEMPLATES = (
    MusicTemplate(
        "This is a {genre} song",
        "This is a song",
        "with a tempo of {tempo} bpm",
        "in the key of {key}",
        "that sounds {mood}",
        "tagged {tags}",
    ),
    MusicTemplate("A {genre} track", "A track", "at {tempo} bpm", "in {key}", "{mood} in feel", "tagged {tags}"),
    MusicTemplate(
        "{genre} music",
        "Music",
        "around {tempo} beats per minute",
        "in {key}",
        "feeling {mood}",
        "with the tags {tags}",
    ),
)

MOTION_TEMPLATES = (  # the authors' genre sentences (AIST++)
    "The genre of the dance is {genre}.",
    "The style of the dance is {genre}.",
    "This is a {genre} style dance.",
)
DESCRIPTION_TEMPLATES = ("The motion is that {desc}.", "The dance is that {desc}.")  # the authors', around a text
FEELING_TEMPLATES = ("This is a {feeling} dance.", "The dance is {feeling}.")  # the authors', DanceDB feelings
MAX_CAPTION_CHARS = 2000
MOTION_TEMPLATES_WITHOUT_GENRE = ("A person is dancing.", "Someone dances.", "The dancer moves to the music.")


def energy_word(energy: float) -> str:
    if energy >= 0.7:
        return "energetic"
    if energy >= 0.4:
        return "lively"
    return "calm"


def key_name(key: int | None) -> str | None:
    """Spotify pitch class (0 = C ... 11 = B) to a key name; None when unknown (None, -1 or out of range)."""
    return KEY_NAMES[key] if key is not None and 0 <= key < len(KEY_NAMES) else None


def music_caption(
    *, genre: str, tempo: float | None, key: int | None, energy: float | None, tags: list[str], template: MusicTemplate
) -> str:
    """A caption from what is known about a track: empty or None fields are left out of the sentence."""
    key_text = key_name(key)
    phrases = [
        template.tempo.format(tempo=int(round(tempo))) if tempo else None,
        template.key.format(key=key_text) if key_text else None,
        template.mood.format(mood=energy_word(energy)) if energy is not None else None,
        template.tags.format(tags=", ".join(tags[:3])) if tags else None,
    ]
    opening = template.with_genre.format(genre=genre) if genre else template.without_genre
    text = ", ".join([opening + (" " + phrases[0] if phrases[0] else "")] + [p for p in phrases[1:] if p])
    return text[0].upper() + text[1:] + "."


def motion_caption(genre: str | None, rng: random.Random, feeling: str | None = None) -> str:
    """A dance caption naming the genre (or else the feeling) when it is known."""
    if genre:
        return rng.choice(MOTION_TEMPLATES).format(genre=genre)
    if feeling:
        return rng.choice(FEELING_TEMPLATES).format(feeling=feeling)
    return rng.choice(MOTION_TEMPLATES_WITHOUT_GENRE)


def described_motion(description: str, rng: random.Random) -> str:
    """A motion description (a HumanML3D text, a caption file's entry) in the authors' sentence: "The motion is
    that a person walks forward." (its trailing full stop and a leading capital of an ordinary word dropped)."""
    desc = description.strip().rstrip(".").strip()
    if desc[:1].isupper() and not desc[1:2].isupper():
        desc = desc[0].lower() + desc[1:]
    return rng.choice(DESCRIPTION_TEMPLATES).format(desc=desc)


class CaptionFileError(UniMuMoError, ValueError):
    """A caption file is missing, of an unknown kind, or has a bad row (the message names file and line)."""

    kind = "caption file error"


def _caption(value, where: str) -> str:
    if not isinstance(value, str):
        raise CaptionFileError(f"{where}: caption must be a string, got {type(value).__name__}")
    text = " ".join(value.split())
    if not text or len(text) > MAX_CAPTION_CHARS:
        raise CaptionFileError(f"{where}: caption is empty or longer than {MAX_CAPTION_CHARS} characters")
    return text


def _rows(path: Path, text: str):
    """(where, id, caption) of each row of a caption file's text."""
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines(keepends=True))
        missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise CaptionFileError(
                f"{path}: line 1: missing columns {missing} (found {reader.fieldnames}); a CSV "
                "caption file starts with the header id,caption"
            )
        for row in reader:
            if None in row or None in row.values():  # extra cells are listed under None, missing ones are None
                cells = sum(value is not None for key, value in row.items() if key is not None) + len(row.get(None, []))
                raise CaptionFileError(
                    f"{path}: line {reader.line_num}: {cells} cells, header has {len(reader.fieldnames)}"
                )
            yield f"{path}: line {reader.line_num}", row["id"], row["caption"]
    elif path.suffix.lower() == ".jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise CaptionFileError(f"{path}: line {number}: not JSON ({error.msg})") from None
            if not isinstance(row, dict) or not all(column in row for column in COLUMNS):
                raise CaptionFileError(f'{path}: line {number}: expected an object with "id" and "caption"')
            yield f"{path}: line {number}", row["id"], row["caption"]
    elif path.suffix.lower() == ".json":
        try:
            mapping = json.loads(text)
        except json.JSONDecodeError as error:
            raise CaptionFileError(f"{path}: line {error.lineno}: not JSON ({error.msg})") from None
        if not isinstance(mapping, dict):
            raise CaptionFileError(f"{path}: expected one object {{id: caption or [captions]}}")
        for item_id, value in mapping.items():
            for caption in value if isinstance(value, list) else [value]:
                yield f"{path}: id {item_id!r}", item_id, caption
    else:
        raise CaptionFileError(
            f"{path}: unknown caption file kind {path.suffix!r}; expected .csv (id,caption), "
            '.jsonl ({"id", "caption"} per line) or .json ({id: [captions]})'
        )


def read_caption_file(path: str | Path) -> dict[str, tuple[str, ...]]:
    """{id: captions in file order} of a caption file (see the module docstring); CaptionFileError on a bad row."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CaptionFileError(f"{path}: cannot read caption file ({type(error).__name__}: {error})") from None
    captions: dict[str, list[str]] = {}
    for where, item_id, caption in _rows(path, text):
        if not isinstance(item_id, str) or not item_id.strip():
            raise CaptionFileError(f"{where}: id must be a non-empty string, got {item_id!r}")
        captions.setdefault(item_id.strip(), []).append(_caption(caption, where))
    return {item_id: tuple(texts) for item_id, texts in captions.items()}


@dataclass(frozen=True)
class CaptionFiles:
    """The captions read from --music-captions (by Music4All id) and --motion-captions (by motion id)."""

    music: dict[str, tuple[str, ...]] = field(default_factory=dict)
    motion: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def read(cls, music: str | Path | None, motion: str | Path | None) -> CaptionFiles:
        return cls(music=read_caption_file(music) if music else {}, motion=read_caption_file(motion) if motion else {})


def all_caption_variants(genres: list[str], descriptions: list[str] = ()) -> list[str]:
    """Every motion caption (each template with each genre, each description, and those without a genre):
    sentencepiece training text covering motion captions."""
    return (
        [template.format(genre=genre) for genre in genres for template in MOTION_TEMPLATES]
        + [template.format(desc=desc) for desc in descriptions for template in DESCRIPTION_TEMPLATES]
        + list(MOTION_TEMPLATES_WITHOUT_GENRE)
    )
