"""Load what an evaluation run needs: the LM and the frozen tokenizers (defaulting to the shards' own).

A shard directory's manifest.json records the music codec, the motion tokenizer and the text
tokenizer it was built with; evaluation uses the same ones unless a path is given explicitly.
It also records each split's build arguments, among them the beat tracker (`shards_beat_tracker`).
Model classes are imported when loaded, so `unimumo-eval --help` does not pay for transformers.
"""

from __future__ import annotations

from pathlib import Path

import torch

from unimumo.rhythm import require_beat_tracker
from unimumo.shards.manifest import Manifest


def tokenizer_path(shards: str | Path, name: str, given: str | Path | None) -> Path:
    """`given`, else the path the shard manifest records for `name` (music_codec|motion_tokenizer|text_tokenizer)."""
    if given is not None:
        path = Path(given)
    else:
        manifest = Manifest.load(shards)
        recorded = manifest.tokenizers.get(name)
        if not recorded or "path" not in recorded:
            raise ValueError(f"{manifest.path}: records no {name} path; pass --{name.replace('_', '-')}")
        path = Path(recorded["path"])
    if not path.exists():
        raise FileNotFoundError(f"{path}: {name.replace('_', ' ')} not found (pass --{name.replace('_', '-')})")
    return path


def shards_beat_tracker(shards: str | Path, split: str | None) -> str:
    """The beat tracker the shard build of `split` used (manifest.json splits.SPLIT.build_args.beat_tracker; with
    split None, the one every built split records), checked to be usable here (`unimumo.rhythm.require_beat_tracker`);
    ValueError naming the manifest and the key otherwise."""
    manifest = Manifest.load(shards)
    splits = [split] if split is not None else sorted(manifest.splits)
    key = f"splits.{split if split is not None else '*'}.build_args.beat_tracker"
    trackers = {manifest.splits.get(name, {}).get("build_args", {}).get("beat_tracker") for name in splits}
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
    tracker = trackers.pop()
    try:
        require_beat_tracker(tracker)
    except ValueError as error:
        raise ValueError(f"{manifest.path}: {key}: {error}") from None
    return tracker


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(directory: str | Path, device: str):
    """UniMuMoForConditionalGeneration from an exported HF directory, in eval mode on `device`."""
    from unimumo.models.modeling_unimumo import UniMuMoForConditionalGeneration

    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"{directory}: not an exported UniMuMo model directory (no config.json)")
    return UniMuMoForConditionalGeneration.from_pretrained(directory).to(device).eval()


def load_motion_tokenizer(shards, given, device: str):
    from unimumo.models.motion_tokenizer import MotionTokenizer

    return MotionTokenizer.from_pretrained(tokenizer_path(shards, "motion_tokenizer", given), device=device)


def load_music_codec(shards, given):
    from unimumo.models.music_codec import MusicCodec

    return MusicCodec.from_pretrained(tokenizer_path(shards, "music_codec", given))


def load_text_tokenizer(shards, given):
    from unimumo.models.text_tokenizer import TextTokenizer

    return TextTokenizer(tokenizer_path(shards, "text_tokenizer", given))
