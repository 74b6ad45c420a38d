"""MusicCaps as the UniMuMo authors read it for text -> music: captions, their motion prompts, reference clips.

Upstream: hanyangclarence/UniMuMo@c4792e351ca73682d2dda7a883f0c2cde301c832 test_model/test_musiccaps.py
(MUSICCAPS_UPSTREAM). Every row of `musiccaps-public.csv` (columns ytid, start_s, end_s, caption, ...; read in file
order) is one clip. Its prompt is the caption, the stream separator ' <separation> ' and a motion description drawn
with Python's `random` seeded once with the seed (42; `seed_everything`), row after row: `random.uniform(0, 1) <
aist_prob` (0.8) picks `'The style of the dance is {genre}.'` with `random.choice` over the nine genres of
AIST_PROMPT_GENRES (as written there: 'middle hip-hop', no LA style, not capitalised), else `random.choice` over
the HumanML3D captions (`humanml3d_captions`). The model reads the two sides split at the separator and stripped.
`motion_prompt="none"` gives an empty motion text (no draw). The reference audio of a row is the file named by its
ytid in the MusicCaps audio directory (any audio suffix; the upstream scorers pair by the name before the first
'.'); a row without one is skipped, recorded with its id and reason, after the draw, so the other rows keep their
prompts.

Differences from upstream, by design: upstream lists the HumanML3D text files with `os.listdir` (an order the file
system chooses) and keeps the first 500; this reads them sorted by name. Upstream draws only for the rows whose
output does not exist yet (a resumed run draws other prompts); this always draws for every row, as a fresh run.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from unimumo.eval.system_outputs import AUDIO_SUFFIXES, EvalInputError

MUSICCAPS_UPSTREAM = "hanyangclarence/UniMuMo@c4792e351ca73682d2dda7a883f0c2cde301c832 test_model/test_musiccaps.py"
QUALITY_UPSTREAM = (
    "FAD / KL: Cralence/My_Eval@ce5b01d eval_music.py (audioldm_eval EvaluationHelper at 16 kHz); "
    "CLAP: Cralence/My_Eval eval_clap.py (laion_clap CLAP_Module(enable_fusion=False), 630k-audioset-best.pt)"
)
SEPARATOR = " <separation> "  # caption + SEPARATOR + motion description
SEPARATOR_TOKEN = "<separation>"
AIST_PROMPT_GENRES = (
    "break",
    "pop",
    "lock",
    "middle hip-hop",
    "house",
    "waack",
    "krump",
    "street jazz",
    "ballet jazz",
)
GENRE_PROMPT = "The style of the dance is {genre}."
AIST_PROB = 0.8
HUMANML3D_FILES = 500  # upstream keeps the first 500 text files
MOTION_PROMPTS = ("authors", "none")
REQUIRED_COLUMNS = ("ytid", "start_s", "end_s", "caption")
SAMPLING_RATE = 32000  # generated music and the reference clips' generation rate
SECONDS = 10.0


class MusicCapsError(EvalInputError):
    """The MusicCaps CSV, its audio directory or the HumanML3D texts are missing or malformed."""

    kind = "MusicCaps error"


@dataclass(frozen=True)
class MusicCapsRow:
    ytid: str
    start_s: float
    end_s: float
    caption: str


@dataclass(frozen=True)
class MusicCapsClip:
    """One row with its prompt and its reference audio (None: skipped, `skipped` says why)."""

    row: MusicCapsRow
    motion_text: str
    reference: Path | None
    skipped: str | None = None

    @property
    def prompt(self) -> str:
        """The authors' whole prompt: caption, separator, motion description."""
        return self.row.caption + SEPARATOR + self.motion_text

    @property
    def music_text(self) -> str:
        return split_prompt(self.prompt)[0]

    def entry(self) -> dict:
        """Its line in metrics.json `inputs` (or `skipped`)."""
        entry = {
            "ytid": self.row.ytid,
            "start_s": self.row.start_s,
            "end_s": self.row.end_s,
            "prompt": self.prompt,
            "reference": str(self.reference) if self.reference else None,
        }
        return entry if self.skipped is None else {**entry, "reason": self.skipped}


def split_prompt(prompt: str) -> tuple[str, str]:
    """(music text, motion text) of a prompt, as the authors' LM reads it: the parts before the first and after the
    last separator token, stripped."""
    parts = prompt.split(SEPARATOR_TOKEN)
    return parts[0].strip(), parts[-1].strip()


def read_musiccaps(path: str | Path) -> list[MusicCapsRow]:
    """The rows of a musiccaps-public.csv, in file order; errors name the file, the column or the line."""
    path = Path(path)
    if not path.is_file():
        raise MusicCapsError(f"{path}: MusicCaps CSV not found (--musiccaps names musiccaps-public.csv)")
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            missing = [name for name in REQUIRED_COLUMNS if name not in columns]
            if missing:
                raise MusicCapsError(
                    f"{path}: no column {', '.join(missing)} (a MusicCaps CSV has {', '.join(REQUIRED_COLUMNS)}, ...;"
                    f" found {', '.join(columns) or 'none'})"
                )
            rows, seen = [], {}
            for line, record in enumerate(reader, 2):
                ytid, caption = (record.get("ytid") or "").strip(), record.get("caption")
                if not ytid or caption is None or not caption.strip():
                    raise MusicCapsError(f"{path}:{line}: empty ytid or caption")
                if ytid in seen:
                    raise MusicCapsError(f"{path}:{line}: ytid {ytid} repeats line {seen[ytid]}")
                seen[ytid] = line
                try:
                    start, end = float(record["start_s"]), float(record["end_s"])
                except (TypeError, ValueError):
                    raise MusicCapsError(
                        f"{path}:{line}: start_s / end_s are not numbers ({record['start_s']!r}, {record['end_s']!r})"
                    ) from None
                rows.append(MusicCapsRow(ytid, start, end, caption))
    except UnicodeDecodeError as error:
        raise MusicCapsError(f"{path}: not UTF-8 text ({error})") from None
    except csv.Error as error:
        raise MusicCapsError(f"{path}: malformed CSV ({error})") from None
    if not rows:
        raise MusicCapsError(f"{path}: no row")
    return rows


def humanml3d_captions(directory: str | Path, files: int = HUMANML3D_FILES) -> list[str]:
    """The captions of the first `files` HumanML3D text files (sorted by name): on each line the text before the
    first '#', one final '.' removed; empty ones left out."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MusicCapsError(f"{directory}: HumanML3D text directory not found (--humanml3d-texts names texts/)")
    captions = []
    for path in sorted(p for p in directory.iterdir() if p.suffix == ".txt")[:files]:
        for line in path.read_text(encoding="utf-8").splitlines():
            text = line.split("#")[0]
            text = text[:-1] if text.endswith(".") else text
            if text.strip():
                captions.append(text)
    if not captions:
        raise MusicCapsError(f"{directory}: no HumanML3D caption (<id>.txt files of 'caption#tokens#from#to' lines)")
    return captions


def motion_texts(
    count: int, seed: int, motion_prompt: str = "authors", aist_prob: float = AIST_PROB, captions: list[str] = ()
) -> list[str]:
    """The motion description of each of `count` rows (see the module docstring)."""
    if motion_prompt == "none":
        return [""] * count
    if motion_prompt != "authors":
        raise ValueError(f"motion_prompt must be one of {', '.join(MOTION_PROMPTS)}, got {motion_prompt!r}")
    rng = random.Random(seed)  # random.seed(seed), as seed_everything does
    texts = []
    for _ in range(count):
        if rng.uniform(0, 1) < aist_prob:
            texts.append(GENRE_PROMPT.format(genre=rng.choice(AIST_PROMPT_GENRES)))
        else:
            if not captions:
                raise MusicCapsError("a HumanML3D caption was drawn but none was given (--humanml3d-texts)")
            texts.append(rng.choice(captions))
    return texts


def reference_audio(directory: Path, ytid: str) -> Path | None:
    """The file `ytid<suffix>` of the MusicCaps audio directory, or None."""
    for suffix in AUDIO_SUFFIXES:
        path = directory / f"{ytid}{suffix}"
        if path.is_file():
            return path
    return None


def musiccaps_clips(
    csv_path: str | Path,
    audio_dir: str | Path,
    seed: int,
    motion_prompt: str = "authors",
    aist_prob: float = AIST_PROB,
    humanml3d_texts: str | Path | None = None,
) -> list[MusicCapsClip]:
    """Every row of the CSV with its motion text and reference audio (None and a reason when it is missing)."""
    rows = read_musiccaps(csv_path)
    audio_dir = Path(audio_dir)
    if not audio_dir.is_dir():
        raise MusicCapsError(f"{audio_dir}: MusicCaps audio directory not found (--musiccaps-audio)")
    captions = humanml3d_captions(humanml3d_texts) if humanml3d_texts and motion_prompt == "authors" else []
    texts = motion_texts(len(rows), seed, motion_prompt, aist_prob, captions)
    clips = []
    for row, text in zip(rows, texts):
        reference = reference_audio(audio_dir, row.ytid)
        reason = None if reference else f"no reference audio {row.ytid}.* ({', '.join(AUDIO_SUFFIXES)}) in {audio_dir}"
        clips.append(MusicCapsClip(row, text, reference, reason))
    return clips
