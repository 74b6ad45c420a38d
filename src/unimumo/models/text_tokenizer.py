"""TextTokenizer: a sentencepiece model file used for captions (T5 id layout: pad 0, eos 1, unk 2)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

from unimumo.utils.fingerprint import fingerprint_file
from unimumo.utils.io import atomic_open

PAD_ID, EOS_ID, UNK_ID = 0, 1, 2


class TextTokenizer:
    """Caption text <-> ids. `encode` appends eos; `decode` drops pad/eos."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: sentencepiece model file not found")
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.Load(str(self.path))
        except (OSError, RuntimeError) as error:
            raise ValueError(f"{self.path}: not a sentencepiece model ({error})") from error
        if self._sp.pad_id() != PAD_ID or self._sp.eos_id() != EOS_ID:
            raise ValueError(
                f"{self.path}: expected pad_id={PAD_ID}, eos_id={EOS_ID} (T5 layout), "
                f"got pad_id={self._sp.pad_id()}, eos_id={self._sp.eos_id()}"
            )
        self.fingerprint = fingerprint_file(self.path)

    @property
    def vocab_size(self) -> int:
        return self._sp.GetPieceSize()

    pad_id = PAD_ID
    eos_id = EOS_ID

    def encode(self, text: str) -> list[int]:
        return list(self._sp.EncodeAsIds(text)) + [EOS_ID]

    def decode(self, ids: Iterable[int]) -> str:
        return self._sp.DecodeIds([int(i) for i in ids if int(i) not in (PAD_ID, EOS_ID)])


def train_text_tokenizer(sentences: Iterable[str], path: str | Path, vocab_size: int = 256) -> TextTokenizer:
    """Train a unigram sentencepiece model on `sentences` and write it atomically to `path`.

    `vocab_size` is an upper bound: small corpora get fewer pieces (read `TextTokenizer.vocab_size`).
    """
    model = io.BytesIO()
    spm.SentencePieceTrainer.Train(
        sentence_iterator=iter(list(sentences)),
        model_writer=model,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        model_type="unigram",
        pad_id=PAD_ID,
        eos_id=EOS_ID,
        unk_id=UNK_ID,
        bos_id=-1,
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
    )
    with atomic_open(path, "wb") as handle:
        handle.write(model.getvalue())
    return TextTokenizer(path)
