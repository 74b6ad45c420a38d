"""HumanML3D's test set as the published motion-captioning evaluation reads it.

Motion input, as hanyangclarence/UniMuMo@a75ddac791ff6806b5bd511d1ce887a1980e20d5 test_model/test_motion2text_pad.py
(MOTION_INPUTS_UPSTREAM): each listed id whose new_joint_vecs/<id>.npy exists; its 263-d features at 20 fps
interpolated linearly to 60 fps (torch `interpolate`, scale 3, align_corners False), cut or zero-padded to
10 s = 600 frames; the generated caption stripped of "The motion is that" / "The dance is that".

Scored entries, as hanyangclarence/TM2T@8e8929994a8aaa115ad66928d1ea1a5909d15fcd data/dataset.py
`Motion2TextEvalDataset` (ENTRIES_UPSTREAM): a motion of 40 to 199 frames (20 fps) gives one entry for its whole-motion
captions (lines whose start and end tags are 0 or nan) and one entry per segment line whose segment
motion[int(start * 20):int(end * 20)] also has 40 to 199 frames, named "<id>_<start>_<end>" (a repeated segment name
keeps its last caption and is listed once per line, as upstream). An entry's references are its captions' tokens
with the part-of-speech tags removed, joined by spaces (HumanML3D's lemmatised words), made exactly 3: the first
three, or the first repeated. Every entry of a motion is scored against that motion's one generated caption. An entry
also keeps every caption's "word/POS" tokens and its segment's frames, the text-motion evaluator's inputs
(`unimumo.eval.t2m_evaluator`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unimumo.errors import UniMuMoError

MOTION_INPUTS_UPSTREAM = (
    "hanyangclarence/UniMuMo@a75ddac791ff6806b5bd511d1ce887a1980e20d5 test_model/test_motion2text_pad.py"
)
ENTRIES_UPSTREAM = (
    "hanyangclarence/TM2T@8e8929994a8aaa115ad66928d1ea1a5909d15fcd data/dataset.py Motion2TextEvalDataset"
)
SOURCE_FPS = 20
MODEL_FPS = 60
MIN_FRAMES, MAX_FRAMES = 40, 200  # TM2T's min_motion_len for t2m; motions of MAX_FRAMES or more are left out


class HumanML3DCaptionError(UniMuMoError):
    kind = "HumanML3D error"


@dataclass(frozen=True)
class CaptionEntry:
    name: str  # the motion id, or "<id>_<start>_<end>" for a segment
    motion_id: str
    references: tuple[str, str, str]
    tokens: tuple[tuple[str, ...], ...] = ()  # every caption's "word/POS" tokens (the text-motion evaluator's input)
    frames: tuple[int, int] | None = None  # a segment's frames [start, end) at 20 fps; None: the whole motion


def three_references(captions: list[str]) -> tuple[str, str, str]:
    """TM2T's references of an entry: the first three captions; two get the first again; one is repeated."""
    return tuple(
        captions[:3] if len(captions) >= 3 else captions + captions[:1] if len(captions) == 2 else captions * 3
    )


def _parse_line(path: Path, number: int, line: str) -> tuple[str, tuple[str, ...], float, float]:
    fields = line.strip().split("#")
    try:
        start, end = float(fields[2]), float(fields[3])
    except (IndexError, ValueError):
        raise HumanML3DCaptionError(
            f"{path}: line {number}: expected 'caption#tokens#start#end', got {line.strip()[:80]!r}"
        ) from None
    tokens = tuple(fields[1].split(" "))
    words = " ".join(token.split("/")[0] for token in tokens)
    return words, tokens, 0.0 if math.isnan(start) else start, 0.0 if math.isnan(end) else end


def read_caption_entries(root: str | Path, split: str = "test") -> tuple[list[str], list[CaptionEntry]]:
    """(the ids whose features exist, in split order; the scored entries), see the module docstring."""
    root = Path(root)
    split_path = root / f"{split}.txt"
    if not split_path.is_file():
        raise HumanML3DCaptionError(
            f"{split_path}: HumanML3D split file not found (--humanml3d names the root "
            "holding new_joint_vecs/, texts/ and SPLIT.txt)"
        )
    ids = [line.strip() for line in split_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = [i for i in ids if (root / "new_joint_vecs" / f"{i}.npy").is_file()]
    entries: list[CaptionEntry] = []
    for motion_id in ids:
        num_frames = len(np.load(root / "new_joint_vecs" / f"{motion_id}.npy", mmap_mode="r", allow_pickle=False))
        if not MIN_FRAMES <= num_frames < MAX_FRAMES:
            continue
        text_path = root / "texts" / f"{motion_id}.txt"
        if not text_path.is_file():
            raise HumanML3DCaptionError(f"{text_path}: captions of test motion {motion_id} not found")
        whole, whole_tokens, segments, names = [], [], {}, []
        for number, line in enumerate(text_path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            words, tokens, start, end = _parse_line(text_path, number, line)
            if start == 0.0 and end == 0.0:
                whole.append(words)
                whole_tokens.append(tokens)
                continue
            frames = range(num_frames)[int(start * SOURCE_FPS) : int(end * SOURCE_FPS)]
            if MIN_FRAMES <= len(frames) < MAX_FRAMES:
                name = f"{motion_id}_{start:f}_{end:f}"
                segments[name] = (words, tokens, (frames.start, frames.stop))  # a repeated name: the last caption
                names.append(name)  # ... listed again
        for name in names:
            words, tokens, frames = segments[name]
            entries.append(CaptionEntry(name, motion_id, three_references([words]), (tokens,), frames))
        if whole:
            entries.append(CaptionEntry(motion_id, motion_id, three_references(whole), tuple(whole_tokens)))
    if not entries:
        raise HumanML3DCaptionError(f"{root}: no {split} motion of {MIN_FRAMES}-{MAX_FRAMES - 1} frames with captions")
    return ids, entries


def model_input(features: np.ndarray, seconds: float = 10.0) -> np.ndarray:
    """20 fps features [N,263] -> 60 fps (linear, as torch interpolate scale 3), cut or zero-padded to
    seconds x 60 frames."""
    import torch

    x = torch.from_numpy(np.asarray(features, dtype=np.float32)).T[None]  # [1, 263, N]
    x = torch.nn.functional.interpolate(x, scale_factor=MODEL_FPS // SOURCE_FPS, mode="linear")[0].T.numpy()
    target = int(seconds * MODEL_FPS)
    out = np.zeros((target, x.shape[1]), dtype=np.float32)
    out[: min(target, len(x))] = x[:target]
    return out
