"""The published dance benchmarks' own inputs: AIST++ test music cut into EDGE's slices, with the authors' prompt.

The UniMuMo authors' music-to-dance test (hanyangclarence/My_Project @ aeac11f `preprocessing/pair_music_motion.py`
and `preprocessing/slice_edge_test.py`, hanyangclarence/UniMuMo `test_model/test_music2motion_aist.py`):
for every AIST++ test sequence (the official `splits/crossmodal_test.txt` minus `ignore_list.txt`) the music of
its music id (`gBR_sBM_cAll_d04_mBR0_ch01` -> `mBR0`) is loaded at 32 kHz and cut to the dance's length
(int(frames / 60 * 32000) samples), then sliced as EDGE's `slice_aistpp` (Stanford-TML/EDGE @ 17c3428
`data/slice.py`): 5 s windows (int(5 * sr) samples) every 0.5 s (int(0.5 * sr) samples) while the window fits;
the dance is sliced alike (300 frames every 30) up to the music's count, and the two counts must agree. Each
slice is conditioned on an empty music text and the motion text `'The style of the dance is {genre}.'.capitalize()`
with the genre read from the sequence name (gBR -> break, ..., gJB -> ballet jazz); capitalize() lowercases
the rest ("LA style hip-hop" becomes "la style hip-hop").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unimumo.data.captions import AIST_GENRES
from unimumo.data.sources import aist
from unimumo.eval.beats_metrics import load_music
from unimumo.eval.system_outputs import EvalInputError

SLICE_SAMPLING_RATE = 32000  # the authors load (and write) the test music at 32 kHz
SLICE_SECONDS = 5.0
SLICE_STRIDE_SECONDS = 0.5
MOTION_FPS = 60  # EDGE slices the dance at 60 frames per second
PROMPT_TEMPLATE = "The style of the dance is {genre}."
SLICER_UPSTREAM = (
    "Stanford-TML/EDGE@17c3428 data/slice.py slice_aistpp; hanyangclarence/My_Project@aeac11f "
    "preprocessing/slice_edge_test.py, pair_music_motion.py"
)
MUSIC_SUFFIXES = (".wav", ".mp3")


def genre_prompt(sequence: str) -> str:
    """The authors' motion text for an AIST++ sequence name."""
    code = sequence.split("_", 1)[0]
    if code not in AIST_GENRES:
        raise EvalInputError(
            f"{sequence}: not an AIST++ sequence name (genre code {code!r} is none of {', '.join(AIST_GENRES)})"
        )
    return PROMPT_TEMPLATE.format(genre=AIST_GENRES[code]).capitalize()


def music_id(sequence: str) -> str:
    parts = sequence.split("_")
    if len(parts) < 6 or not parts[4].startswith("m"):
        raise EvalInputError(f"{sequence}: not an AIST++ sequence name (gXX_sXX_cXX_dXX_mXXN_chXX)")
    return parts[4]


def slice_starts(
    length: int,
    rate: float,
    seconds: float = SLICE_SECONDS,
    stride: float = SLICE_STRIDE_SECONDS,
    limit: int | None = None,
) -> list[int]:
    """EDGE's window starts (in samples or frames) over `length` at `rate` per second, at most `limit` of them."""
    window, step = int(seconds * rate), int(stride * rate)
    starts = []
    start = 0
    while start <= length - window and (limit is None or len(starts) < limit):
        starts.append(start)
        start += step
    return starts


@dataclass(frozen=True)
class MusicSlice:
    sequence: str
    music_id: str
    index: int  # EDGE's slice number within the sequence
    start_s: float
    prompt: str
    wav: np.ndarray  # float32 mono at SLICE_SAMPLING_RATE, SLICE_SECONDS long

    def entry(self) -> dict:
        """Its line in metrics.json `inputs`."""
        return {
            "sequence": self.sequence,
            "music_id": self.music_id,
            "slice": self.index,
            "start_s": self.start_s,
            "prompt": self.prompt,
        }


def music_file(music_dir: Path, name: str) -> Path:
    for suffix in MUSIC_SUFFIXES:
        if (music_dir / f"{name}{suffix}").is_file():
            return music_dir / f"{name}{suffix}"
    raise EvalInputError(f"{music_dir}: no music {name}.wav or {name}.mp3 (AIST++ music is named by music id)")


def sequence_slices(sequence: str, frames: int, music: np.ndarray) -> list[MusicSlice]:
    """EDGE's slices of one sequence whose dance has `frames` frames at 60 fps and whose music (32 kHz) is `music`."""
    cropped = music[: int(frames / MOTION_FPS * SLICE_SAMPLING_RATE)]
    starts = slice_starts(len(cropped), SLICE_SAMPLING_RATE)
    motion_slices = len(slice_starts(frames, MOTION_FPS, limit=len(starts)))
    if motion_slices != len(starts):  # EDGE's slicer asserts that music and dance slices line up
        raise EvalInputError(
            f"{sequence}: {len(starts)} music slices but {motion_slices} dance slices "
            "(EDGE's slice_aistpp requires them equal)"
        )
    window = int(SLICE_SECONDS * SLICE_SAMPLING_RATE)
    prompt, name = genre_prompt(sequence), music_id(sequence)
    return [
        MusicSlice(sequence, name, index, index * SLICE_STRIDE_SECONDS, prompt, cropped[start : start + window])
        for index, start in enumerate(starts)
    ]


def read_edge_slices(aist_root: str | Path, music_dir: str | Path, split: str = "test") -> list[MusicSlice]:
    """Every EDGE slice of the AIST++ `split` sequences (sorted by name, as EDGE's sorted glob), with its music."""
    aist_root, music_dir = Path(aist_root), Path(music_dir)
    if not music_dir.is_dir():
        raise EvalInputError(f"{music_dir}: AIST++ music directory is missing (--aist-music)")
    try:
        paths = sorted(aist.list_sequences(aist_root, split), key=lambda p: p.stem)
    except (ValueError, FileNotFoundError) as error:
        raise EvalInputError(f"--aist {aist_root}: {error}") from error
    slices, music_cache = [], {}
    for path in paths:
        poses, _, _ = aist.read_smpl(path)
        name = music_id(path.stem)
        if name not in music_cache:
            music_cache[name] = load_music(music_file(music_dir, name), SLICE_SAMPLING_RATE)
        slices.extend(sequence_slices(path.stem, len(poses), music_cache[name]))
    if not slices:
        raise EvalInputError(f"--aist {aist_root}: no {split} sequence is {SLICE_SECONDS:g} s long (no EDGE slice)")
    return slices


# The dance-to-music benchmark: D2M-GAN's test segments, as hanyangclarence/UniMuMo
# test_model/test_motion2music_aist.py reads them
SEGMENTS_UPSTREAM = "L-YeZhu/D2M-GAN@5dc5bbf dataset/aist_motion_test_segment.txt"
SEGMENT_SECONDS = 2.0


@dataclass(frozen=True)
class DanceSegment:
    line: str  # as the segment list names it, e.g. ./aistplus/motion_s2/test/gPO_sBM_c01_d11_mPO1_ch02_seg1.npy
    sequence: str  # the AIST++ sequence, gPO_sBM_cAll_d11_mPO1_ch02
    music_id: str
    segment: int  # n >= 1: frames [(n - 1) * 120, n * 120) at 60 fps
    features: np.ndarray  # HumanML3D features [120, 263] at 60 fps (of the whole sequence, then cut)
    joints: np.ndarray  # the segment's 22 joints [120, 22, 3] at 60 fps
    music: np.ndarray  # the sequence's real music over the same 2 s, float32 at SLICE_SAMPLING_RATE

    @property
    def start_s(self) -> float:
        return (self.segment - 1) * SEGMENT_SECONDS

    def entry(self) -> dict:
        return {
            "segment_file": self.line,
            "sequence": self.sequence,
            "music_id": self.music_id,
            "segment": self.segment,
            "start_s": self.start_s,
        }


def segment_sequence(line: str, source: str) -> tuple[str, int]:
    """(AIST++ sequence, segment number) of a D2M-GAN segment name: `..._c01_..._segN.npy` -> `..._cAll_...`, N."""
    stem = Path(line.strip()).name.rsplit(".", 1)[0]
    name, _, number = stem.rpartition("_seg")
    parts = name.split("_")
    if not number.isdigit() or int(number) < 1 or len(parts) != 6:
        raise EvalInputError(
            f"{source}: {line.strip()!r} is not a D2M-GAN segment name (gXX_sXX_cXX_dXX_mXXN_chXX_segN)"
        )
    return "_".join(parts[:2] + ["cAll"] + parts[3:]), int(number)


def read_d2m_segments(
    segments_file: str | Path, aist_root: str | Path, music_dir: str | Path, seconds: float = SEGMENT_SECONDS
) -> list[DanceSegment]:
    """Every segment of D2M-GAN's list, in its order: the dance cut from the AIST++ sequence (60 fps) and the
    sequence's real music over the same window (the first `seconds` of each 2 s segment)."""
    segments_file, aist_root, music_dir = Path(segments_file), Path(aist_root), Path(music_dir)
    if not segments_file.is_file():
        raise EvalInputError(f"{segments_file}: segment list is missing (--segments)")
    if not music_dir.is_dir():
        raise EvalInputError(f"{music_dir}: AIST++ music directory is missing (--aist-music)")
    lines = [line.strip() for line in segments_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise EvalInputError(f"{segments_file}: no segment")
    clips, music, segments = {}, {}, []
    for number, line in enumerate(lines, 1):
        sequence, segment = segment_sequence(line, f"{segments_file}:{number}")
        if sequence not in clips:
            path = aist_root / "motions" / f"{sequence}.pkl"
            if not path.is_file():
                raise EvalInputError(f"{segments_file}:{number}: {path} is missing (segment {line})")
            clips[sequence] = aist.read_clip(path)
        clip, name = clips[sequence], music_id(sequence)
        if name not in music:
            music[name] = load_music(music_file(music_dir, name), SLICE_SAMPLING_RATE)
        first, frames = (segment - 1) * int(SEGMENT_SECONDS * MOTION_FPS), int(round(seconds * MOTION_FPS))
        start = int((segment - 1) * SEGMENT_SECONDS * SLICE_SAMPLING_RATE)
        samples = int(round(seconds * SLICE_SAMPLING_RATE))
        if first + frames > len(clip.features) or start + samples > len(music[name]):
            raise EvalInputError(
                f"{segments_file}:{number}: segment {segment} ({first / MOTION_FPS:g} s + "
                f"{seconds:g} s) runs past the end of {sequence} "
                f"({len(clip.features) / MOTION_FPS:.2f} s of dance, "
                f"{len(music[name]) / SLICE_SAMPLING_RATE:.2f} s of music {name})"
            )
        segments.append(
            DanceSegment(
                line,
                sequence,
                name,
                segment,
                clip.features[first : first + frames],
                clip.joints[first : first + frames],
                music[name][start : start + samples],
            )
        )
    return segments
