"""Caption templates: music captions from Music4All metadata, motion captions from dance genre."""
from __future__ import annotations

import random

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

MUSIC_TEMPLATES = (
    "This is a {genre} song with a tempo of {tempo} bpm in the key of {key}. It sounds {mood} and {tags}.",
    "A {mood} {genre} track at {tempo} bpm, {key}, tagged {tags}.",
    "{genre} music, {tags}, {mood}, around {tempo} beats per minute in {key}.",
)

MOTION_TEMPLATES = (
    "The style of the dance is {genre}.",
    "A person is dancing {genre}.",
    "Someone performs a {genre} dance.",
    "The dancer moves in a {genre} style.",
)


def energy_word(energy: float) -> str:
    if energy >= 0.7:
        return "energetic"
    if energy >= 0.4:
        return "lively"
    return "calm"


def key_name(key: int | str) -> str:
    """Spotify pitch class (0 = C ... 11 = B, -1 unknown) to a readable key."""
    try:
        index = int(key)
    except (TypeError, ValueError):
        return str(key)
    return f"{KEY_NAMES[index]}" if 0 <= index < len(KEY_NAMES) else "an unknown key"


def music_caption(*, genre: str, tempo: float, key: int | str, energy: float, tags: list[str], template: str) -> str:
    """Fill one of MUSIC_TEMPLATES from track metadata."""
    tag_text = ", ".join(tags[:3]) if tags else "untagged"
    return template.format(
        genre=genre or "unknown genre", tempo=int(round(tempo)), key=key_name(key), mood=energy_word(energy), tags=tag_text
    )


def motion_caption(genre: str | None, rng: random.Random) -> str:
    return rng.choice(MOTION_TEMPLATES).format(genre=genre or "free")


def all_caption_variants(genres: list[str]) -> list[str]:
    """Every motion template filled with every genre: sentencepiece training text covering motion captions."""
    return [template.format(genre=genre) for genre in genres for template in MOTION_TEMPLATES]
