"""Load what an evaluation run needs: the LM and the frozen tokenizers (by default the ones it was trained with).

A tokenizer is the one given on the command line; else the one the --shards manifest records (the music codec,
motion tokenizer and text tokenizer the shards were built with); else the one the export records
(MODEL/unimumo_tokenizers.json, `unimumo.models.tokenizer_record`), so the published benchmarks need no shards.
A recorded tokenizer must still be at its recorded path with its recorded fingerprint. The manifest also records
each split's build arguments, among them the beat tracker (`shards_beat_tracker`). Model classes are imported when
loaded, so `unimumo-eval --help` does not pay for transformers.
"""

from __future__ import annotations

from pathlib import Path

import torch

from unimumo.models.tokenizer_record import (
    TOKENIZERS_FILE,
    TokenizerRecordError,
    check_fingerprint,
    recorded_tokenizer,
)
from unimumo.rhythm import BeatTracker, require_beat_tracker
from unimumo.shards.manifest import Manifest
from unimumo.utils.fingerprint import fingerprint_file


def tokenizer_record(shards: str | Path | None, name: str, model: str | Path | None) -> tuple[str, dict] | None:
    """(where, record) of tokenizer `name` (music_codec|motion_tokenizer|text_tokenizer): the `shards` manifest's
    record, else the export `model`'s; None when neither records it."""
    if shards is not None:
        manifest = Manifest.load(shards)
        recorded = manifest.tokenizers.get(name)
        if not recorded or "path" not in recorded:
            raise ValueError(f"{manifest.path}: records no {name} path; pass --{name.replace('_', '-')}")
        return f"{manifest.path}: tokenizers.{name}", recorded
    recorded = recorded_tokenizer(model, name) if model is not None else None
    return None if recorded is None else (f"{Path(model) / TOKENIZERS_FILE}: tokenizers.{name}", recorded)


def tokenizer_path(
    shards: str | Path | None, name: str, given: str | Path | None, model: str | Path | None = None
) -> Path:
    """`given`, else the path the `shards` manifest records for `name`, else the one the export `model` records."""
    flag = f"--{name.replace('_', '-')}"
    if given is not None:
        path = Path(given)
        if not path.exists():
            raise FileNotFoundError(f"{path}: {name.replace('_', ' ')} not found (pass {flag})")
        return path
    found = tokenizer_record(shards, name, model)
    if found is None:
        raise TokenizerRecordError(
            f"{Path(model) / TOKENIZERS_FILE if model is not None else 'no export'}: records no {name}; "
            f"pass {flag} (or --shards DIR, whose manifest records it)"
        )
    where, recorded = found
    path = Path(recorded["path"])
    if not path.exists():
        raise TokenizerRecordError(f"{where}: {path} not found (moved or deleted?); pass {flag} PATH")
    return path


def _load_tokenizer(name: str, load, shards, given, model):
    """The tokenizer `load(path)` of `tokenizer_path`; a recorded one must have its recorded fingerprint."""
    tokenizer = load(tokenizer_path(shards, name, given, model))
    if given is None:
        where, recorded = tokenizer_record(shards, name, model)
        if recorded.get("fingerprint"):
            check_fingerprint(where, name, recorded, tokenizer.fingerprint)
    return tokenizer


def shards_beat_tracker(shards: str | Path, split: str | None, checkpoint: str | Path | None = None) -> BeatTracker:
    """The beat tracker the shard build of `split` used (manifest.json splits.SPLIT.build_args.beat_tracker; with
    split None, the one every built split records), checked to be usable here (`unimumo.rhythm.require_beat_tracker`).
    For beat_this also its weights: `checkpoint` (the same weights, moved) or the file the build recorded
    (build_args.beat_checkpoint), checked against the sha256 the build recorded (beat_checkpoint_sha256).
    ValueError naming the manifest and the key otherwise."""
    manifest = Manifest.load(shards)
    splits = [split] if split is not None else sorted(manifest.splits)
    where = f"splits.{split if split is not None else '*'}"
    key = f"{where}.build_args.beat_tracker"
    summaries = [manifest.splits.get(name, {}) for name in splits]
    trackers = {summary.get("build_args", {}).get("beat_tracker") for summary in summaries}
    if not splits or None in trackers:
        raise ValueError(
            f"{manifest.path}: records no {key} (shards built before the tracker was recorded); "
            "rebuild them with `unimumo-shards build --beat-tracker ...`"
        )
    if len(trackers) > 1:
        raise ValueError(
            f"{manifest.path}: {key}: the splits were built with different beat trackers "
            f"{sorted(trackers)}; evaluate on shards built with one"
        )
    name = trackers.pop()
    if name != "beat_this" and checkpoint is not None:
        raise ValueError(
            f"{manifest.path}: {key}: {name}; --beat-checkpoint goes only with shards built with beat_this"
        )
    weights = _beat_weights(manifest.path, where, summaries, checkpoint) if name == "beat_this" else None
    try:
        require_beat_tracker(name, weights)
    except ValueError as error:
        raise ValueError(f"{manifest.path}: {key}: {error}") from None
    return BeatTracker(name, weights)


def _beat_weights(manifest: Path, where: str, summaries: list[dict], checkpoint: str | Path | None) -> Path:
    """The Beat This! weights to track with (resolved): `checkpoint`, else the recorded file (a relative path read
    from the current directory); either must hold the content the build recorded (its sha256)."""
    digests = {summary.get("beat_checkpoint_sha256") for summary in summaries}
    if None in digests:
        raise ValueError(
            f"{manifest}: records no {where}.beat_checkpoint_sha256 (built before the Beat This! weights' content was "
            "recorded), so the weights cannot be checked; rebuild the shards"
        )
    if len(digests) > 1:
        raise ValueError(f"{manifest}: {where}: the splits were built with different Beat This! weights")
    digest = digests.pop()
    if checkpoint is not None:
        path = Path(checkpoint).resolve()
        if not path.is_file():
            raise ValueError(f"{path}: --beat-checkpoint: no such file")
    else:
        recorded = sorted({str(summary.get("build_args", {}).get("beat_checkpoint")) for summary in summaries})
        found = [Path(name).resolve() for name in recorded if Path(name).is_file()]
        if not found:
            raise ValueError(
                f"{manifest}: {where}.build_args.beat_checkpoint: the shards' Beat This! weights {', '.join(recorded)} "
                f"are not here (relative paths are read from {Path.cwd()}); give --beat-checkpoint FILE (the same "
                "weights)"
            )
        path = found[0]
    if fingerprint_file(path) != digest:
        raise ValueError(
            f"{path}: not the Beat This! weights the shards were built with ({manifest} records "
            f"{where}.beat_checkpoint_sha256 {digest[:12]}...)"
        )
    return path


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(directory: str | Path, device: str):
    """UniMuMoForConditionalGeneration from an exported HF directory, in eval mode on `device`."""
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"{directory}: not an exported UniMuMo model directory (no config.json)")
    return UniMuMoForConditionalGeneration.from_pretrained(directory).to(device).eval()


def load_motion_tokenizer(shards, given, device: str, model=None):
    from unimumo.models.motion_tokenizer import MotionTokenizer

    return _load_tokenizer(
        "motion_tokenizer", lambda path: MotionTokenizer.from_pretrained(path, device=device), shards, given, model
    )


def load_music_codec(shards, given, model=None):
    from unimumo.models.music_codec import MusicCodec

    return _load_tokenizer("music_codec", MusicCodec.from_pretrained, shards, given, model)


def load_text_tokenizer(shards, given, model=None):
    from unimumo.models.text_tokenizer import TextTokenizer

    return _load_tokenizer("text_tokenizer", TextTokenizer, shards, given, model)
