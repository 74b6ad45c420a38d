"""The tokenizers a model was trained with, recorded in its export directory (`unimumo_tokenizers.json`).

The shard manifest records the music codec, motion tokenizer and text tokenizer the shards were built with (resolved
path and fingerprint, `Manifest.tokenizers`); a training run on those shards keeps that record in every checkpoint's
meta and `unimumo-export` writes it beside the weights, as the manifest has it. Evaluation then needs no shards to
find them: `recorded_tokenizer` gives the recorded path of one, `check_fingerprint` refuses a tokenizer whose weights
changed since. A tokenizer given on the command line overrides the record.
"""

from __future__ import annotations

import json
from pathlib import Path

from unimumo.errors import UniMuMoError
from unimumo.utils.io import atomic_write_json

TOKENIZERS_FILE = "unimumo_tokenizers.json"
TOKENIZER_NAMES = ("music_codec", "motion_tokenizer", "text_tokenizer")


class TokenizerRecordError(UniMuMoError, ValueError):
    """A recorded tokenizer is unreadable, missing, or not the one recorded (its fingerprint differs)."""

    kind = "tokenizer error"


def write_tokenizer_record(directory: str | Path, tokenizers: dict) -> None:
    """Write `tokenizers` ({name: {"path", "fingerprint", ...}}, as the shard manifest records them) into
    `directory`/unimumo_tokenizers.json."""
    atomic_write_json(Path(directory) / TOKENIZERS_FILE, {"tokenizers": tokenizers})


def read_tokenizer_record(directory: str | Path) -> dict:
    """{name: {"path", "fingerprint", ...}} recorded in `directory` ({} when it holds no record); a record that is
    not of that form is a TokenizerRecordError naming the file and the key."""
    path = Path(directory) / TOKENIZERS_FILE
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TokenizerRecordError(f"{path}: unreadable ({type(error).__name__}: {error})") from None
    tokenizers = record.get("tokenizers") if isinstance(record, dict) else None
    if not isinstance(tokenizers, dict):
        raise TokenizerRecordError(f"{path}: expected an object with a 'tokenizers' object")
    for name, entry in tokenizers.items():
        if not (
            isinstance(entry, dict)
            and all(isinstance(entry.get(key), str) and entry[key] for key in ("path", "fingerprint"))
        ):
            raise TokenizerRecordError(f"{path}: tokenizers.{name} must hold a 'path' and a 'fingerprint' string")
    return tokenizers


def recorded_tokenizer(directory: str | Path, name: str) -> dict | None:
    """The record of tokenizer `name` (music_codec|motion_tokenizer|text_tokenizer) in `directory`, or None."""
    return read_tokenizer_record(directory).get(name)


def check_fingerprint(source: str, name: str, recorded: dict, fingerprint: str) -> None:
    """TokenizerRecordError when the tokenizer loaded from `recorded["path"]` (its `fingerprint`) is not the one
    `source` (a file and key) records."""
    if fingerprint != recorded["fingerprint"]:
        raise TokenizerRecordError(
            f"{source}: {name} {recorded['path']} has changed since it was recorded (fingerprint "
            f"{fingerprint[:12]}, recorded {recorded['fingerprint'][:12]}); give the one the model was trained "
            f"with: --{name.replace('_', '-')} PATH"
        )
