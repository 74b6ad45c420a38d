"""Caption templates: music captions from Music4All metadata, motion captions from dance genre."""
from __future__ import annotations

import random
from dataclasses import dataclass

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
    MusicTemplate("This is a {genre} song", "This is a song", "with a tempo of {tempo} bpm", "in the key of {key}",
                  "that sounds {mood}", "tagged {tags}"),
    MusicTemplate("A {genre} track", "A track", "at {tempo} bpm", "in {key}", "{mood} in feel", "tagged {tags}"),
    MusicTemplate("{genre} music", "Music", "around {tempo} beats per minute", "in {key}", "feeling {mood}",
                  "with the tags {tags}"),
)

MOTION_TEMPLATES = (
    "The style of the dance is {genre}.",
    "A person is dancing {genre}.",
    "Someone performs a {genre} dance.",
    "The dancer moves in a {genre} style.",
)
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


def music_caption(*, genre: str, tempo: float | None, key: int | None, energy: float | None, tags: list[str],
                  template: MusicTemplate) -> str:
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


def motion_caption(genre: str | None, rng: random.Random) -> str:
    """A dance caption naming the genre when it is known."""
    return rng.choice(MOTION_TEMPLATES).format(genre=genre) if genre else rng.choice(MOTION_TEMPLATES_WITHOUT_GENRE)


def all_caption_variants(genres: list[str]) -> list[str]:
    """Every motion caption (each template with each genre, and those without a genre): sentencepiece training
    text covering motion captions."""
    return [template.format(genre=genre) for genre in genres for template in MOTION_TEMPLATES] + \
        list(MOTION_TEMPLATES_WITHOUT_GENRE)
