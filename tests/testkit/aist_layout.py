"""An AIST++-layout fixture for the evaluation tests: the synthetic corpus's SMPL pickles as the AIST++ root
(motions/, splits/crossmodal_test.txt, ignore_list.txt) and the music of every music id as real-format wavs
(16-bit PCM, 32 kHz, a beat track at the dance's tempo) in a separate music directory, as AIST++ ships them
(`unimumo.data.synthetic_corpus.write_aist_benchmark_set`, which the demo's benchmark inputs use too).

Music lengths differ on purpose: some music is longer than its dances, some shorter, so that EDGE's slice
count depends on both.
"""

from __future__ import annotations

from pathlib import Path

from unimumo.data.synthetic_corpus import write_aist_benchmark_set

MUSIC_SECONDS = (18.0, 12.3, 16.2, 9.75, 20.0, 15.1)  # by music id number (m??0 ... m??5)


def write_aist_layout(corpus: Path, root: Path, num_test: int = 4) -> tuple[Path, Path, list[str]]:
    """(AIST++ root, music directory, test sequences) with the first `num_test` good sequences and the ignored one
    in the test split (the ignore list removes it) and a wav for every music id the motions name."""
    music = root.parent / f"{root.name}_music"
    names = write_aist_benchmark_set(corpus, root, music, num_test, lambda name: MUSIC_SECONDS[int(name[-1])])
    return root, music, names
