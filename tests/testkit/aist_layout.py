"""An AIST++-layout fixture for the evaluation tests: the synthetic corpus's SMPL pickles as the AIST++ root
(motions/, splits/crossmodal_test.txt, ignore_list.txt) and the music of every music id as real-format wavs
(16-bit PCM, 32 kHz, a beat track at the dance's tempo) in a separate music directory, as AIST++ ships them.

Music lengths differ on purpose: some music is longer than its dances, some shorter, so that EDGE's slice
count depends on both.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from unimumo.data.synthetic_corpus import SAMPLING_RATE, beat_audio

MUSIC_SECONDS = (18.0, 12.3, 16.2, 9.75, 20.0, 15.1)  # by music id number (m??0 ... m??5)


def music_id(sequence: str) -> str:
    return sequence.split("_")[4]


def write_aist_layout(corpus: Path, root: Path, num_test: int = 4) -> tuple[Path, Path, list[str]]:
    """(AIST++ root, music directory, test sequences) with the first `num_test` good sequences and the ignored one
    in the test split (the ignore list removes it) and a wav for every music id the motions name."""
    items = json.loads((Path(corpus) / "corpus.json").read_text())["aist"]
    good = [item for item in items if item["kind"] == "good"][:num_test]
    ignored = [item["id"] for item in items if item["kind"] == "ignored"]
    (root / "splits").mkdir(parents=True)
    (root / "motions").symlink_to(Path(corpus) / "aist" / "motions")
    (root / "splits" / "crossmodal_test.txt").write_text("\n".join([item["id"] for item in good] + ignored) + "\n")
    (root / "ignore_list.txt").write_text("\n".join(ignored) + "\n")
    music = root.parent / f"{root.name}_music"
    music.mkdir()
    for index, item in enumerate(items):
        name = music_id(item["id"])
        if not (music / f"{name}.wav").exists():
            seconds = MUSIC_SECONDS[int(name[-1])]
            wav = beat_audio(item["bpm"], seconds, index % 12, np.random.default_rng(index))
            sf.write(music / f"{name}.wav", wav, SAMPLING_RATE, subtype="PCM_16")
    return root, music, [item["id"] for item in good]
