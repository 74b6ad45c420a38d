"""MU-LLaMA's MusicQA evaluation set as the UniMuMo authors read it for music captioning.

Upstream: hanyangclarence/UniMuMo@a75ddac791ff6806b5bd511d1ce887a1980e20d5 test_model/test_music2text_mullama.py
(MUSICQA_INPUTS_UPSTREAM). `EvalMusicQA.txt` is a JSON list of items `{"audio_name": "<file in the audio
directory>", "conversation": [{"from": "human", "value": <question>}, {"from": "gpt", "value": <answer>}]}`. Kept:
the items whose question is exactly "Describe the audio", except those whose answer is itself one of the questions
"Describe the audio", "What is the audio about?", "What is the genre of the audio?". The reference is the answer as
written: upstream computes the answer without a leading "Describe the audio: " but stores the unstripped one, and
the published scores are on the stored one. Captions are kept per audio name (upstream fills dicts keyed by it):
a repeated name keeps its first position and its last reference. Each clip is read mono at the codec's rate
(32 kHz) and cut to its first min(10, whole seconds) seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unimumo.errors import UniMuMoError

MUSICQA_INPUTS_UPSTREAM = (
    "hanyangclarence/UniMuMo@a75ddac791ff6806b5bd511d1ce887a1980e20d5 test_model/test_music2text_mullama.py"
)
QUESTION = "Describe the audio"
NOT_ANSWERS = ("Describe the audio", "What is the audio about?", "What is the genre of the audio?")
MAX_SECONDS = 10


class MusicQAError(UniMuMoError):
    kind = "MusicQA error"


@dataclass(frozen=True)
class MusicQAItem:
    audio_name: str
    reference: str


def read_musicqa(path: str | Path) -> list[MusicQAItem]:
    """The "Describe the audio" items of an EvalMusicQA.txt, one per audio name (see the module docstring)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MusicQAError(f"{path}: cannot read the MusicQA file ({error.strerror or error})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise MusicQAError(f"{path}: not a MusicQA file (JSON list of items expected): {error}") from None
    if not isinstance(data, list):
        raise MusicQAError(f"{path}: not a MusicQA file: a JSON list of items expected, got {type(data).__name__}")
    references: dict[str, str] = {}
    for index, item in enumerate(data):
        try:
            name, conversation = item["audio_name"], item["conversation"]
            question, answer = conversation[0]["value"], conversation[1]["value"]
        except (TypeError, KeyError, IndexError):
            raise MusicQAError(
                f"{path}: item {index} lacks audio_name or a two-turn conversation with values"
            ) from None
        if not all(isinstance(v, str) for v in (name, question, answer)):
            raise MusicQAError(f"{path}: item {index}: audio_name and the conversation values must be strings")
        if question == QUESTION and answer not in NOT_ANSWERS:
            references[name] = answer
    if not references:
        raise MusicQAError(f"{path}: no item asks {QUESTION!r} with a description as its answer")
    return [MusicQAItem(name, reference) for name, reference in references.items()]


def read_clip(
    directory: str | Path, audio_name: str, sampling_rate: int, max_seconds: int = MAX_SECONDS
) -> np.ndarray | None:
    """The clip's first min(max_seconds, whole seconds) seconds, mono at `sampling_rate`; None if under 1 s."""
    import librosa

    path = Path(directory) / audio_name
    if not path.is_file():
        raise MusicQAError(f"{path}: MusicQA audio file not found (--musicqa-audio names the audio directory)")
    try:
        wav, _ = librosa.load(str(path), sr=sampling_rate, mono=True)
    except Exception as error:  # librosa/soundfile/audioread raise many types for an undecodable file
        raise MusicQAError(f"{path}: cannot decode audio: {error}") from None
    seconds = min(len(wav) // sampling_rate, max_seconds)
    return None if seconds == 0 else np.asarray(wav[: sampling_rate * seconds], dtype=np.float32)
