"""A synthetic corpus (`unimumo.data.synthetic_corpus`) in the published captioning benchmarks' input formats, for
the demo's `unimumo-eval music-caption` and `motion-caption` tables: MU-LLaMA's EvalMusicQA.txt over the corpus's
music, and HumanML3D test motions short enough for TM2T's scored entries (40-199 frames at 20 fps; the corpus's own
HumanML3D clips are 15 s long). These show the pipeline on tiny random models, not a model's quality.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from unimumo.data.captions import MUSIC_TEMPLATES, music_caption
from unimumo.utils.io import atomic_open, atomic_write_text

QUESTION = "Describe the audio"  # MusicQA's captioning question
HUMANML3D_FRAMES = 150  # 7.5 s at 20 fps: one TM2T entry per motion


def _good(corpus: Path, part: str) -> list[dict]:
    return [item for item in json.loads((corpus / "corpus.json").read_text())[part] if item["kind"] == "good"]


def write_musicqa_set(corpus: str | Path, path: Path, count: int) -> Path:
    """`path`: an EvalMusicQA.txt whose "Describe the audio" items are the corpus's first `count` good tracks (audio
    names relative to the corpus's music4all/audios/, returned), each answered with its tempo caption."""
    corpus = Path(corpus)
    items = [
        {
            "audio_name": Path(item["path"]).name,
            "conversation": [
                {"from": "human", "value": QUESTION},
                {
                    "from": "gpt",
                    "value": music_caption(
                        genre="", tempo=item["bpm"], key=None, energy=None, tags=[], template=MUSIC_TEMPLATES[1]
                    ),
                },
            ],
        }
        for item in _good(corpus, "music4all")[:count]
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(items, indent=1))
    return corpus / "music4all" / "audios"


def write_humanml3d_caption_set(corpus: str | Path, root: Path, count: int) -> Path:
    """`root`: a HumanML3D root (new_joint_vecs/, texts/, test.txt) of the first HUMANML3D_FRAMES frames of the
    corpus's first `count` good HumanML3D motions, with their captions."""
    corpus = Path(corpus)
    (root / "new_joint_vecs").mkdir(parents=True, exist_ok=True)
    (root / "texts").mkdir(exist_ok=True)
    ids = []
    for item in _good(corpus, "humanml3d")[:count]:
        source = corpus / "humanml3d" / "new_joint_vecs" / f"{item['id']}.npy"
        features = np.load(source, allow_pickle=False)[:HUMANML3D_FRAMES]
        with atomic_open(root / "new_joint_vecs" / f"{item['id']}.npy", "wb") as handle:
            np.save(handle, features)
        text = corpus / "humanml3d" / "texts" / f"{item['id']}.txt"
        atomic_write_text(root / "texts" / f"{item['id']}.txt", text.read_text(encoding="utf-8"))
        ids.append(item["id"])
    atomic_write_text(root / "test.txt", "".join(f"{i}\n" for i in ids))
    return root
