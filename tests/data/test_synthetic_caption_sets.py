"""The synthetic corpus in the published captioning benchmarks' formats (the demo's music-caption and motion-caption
inputs): read back by the benchmarks' own readers."""

from __future__ import annotations

import numpy as np

from unimumo.data.synthetic_caption_sets import HUMANML3D_FRAMES, write_humanml3d_caption_set, write_musicqa_set
from unimumo.eval.humanml3d_captions import read_caption_entries
from unimumo.eval.musicqa import read_clip, read_musicqa


def test_sets_are_read_by_the_benchmarks_readers(synthetic_corpus, tmp_path):
    audio = write_musicqa_set(synthetic_corpus, tmp_path / "musicqa" / "EvalMusicQA.txt", 3)
    items = read_musicqa(tmp_path / "musicqa" / "EvalMusicQA.txt")
    assert len(items) == 3 and all(item.reference.endswith("bpm.") for item in items)
    assert read_clip(audio, items[0].audio_name, 32000, 10) is not None

    root = write_humanml3d_caption_set(synthetic_corpus, tmp_path / "humanml3d", 3)
    ids, entries = read_caption_entries(root)
    assert len(ids) == 3 and [e.name for e in entries] == ids  # one whole-motion entry each (40-199 frames)
    assert np.load(root / "new_joint_vecs" / f"{ids[0]}.npy").shape == (HUMANML3D_FRAMES, 263)
    assert all(len(e.tokens) == 2 and e.tokens[0][0].endswith("/X") for e in entries)  # the corpus's two captions
