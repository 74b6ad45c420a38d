"""Encode one music-motion pair into the bytes of a shard sample (see docs/interfaces.md, "Shard sample")."""
from __future__ import annotations

import io
import json

import numpy as np

from unimumo.constants import CODEBOOK_SIZE, NUM_CODEBOOKS

SAMPLE_FIELDS = ("music.codes.npy", "motion.codes.npy", "music.txt", "motion.txt", "music.ids.npy", "motion.ids.npy",
                 "json")


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def check_codes(codes: np.ndarray, name: str) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[0] != NUM_CODEBOOKS:
        raise ValueError(f"{name}: expected codes [{NUM_CODEBOOKS}, T], got {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= CODEBOOK_SIZE):
        raise ValueError(f"{name}: code ids outside [0, {CODEBOOK_SIZE})")
    return codes.astype(np.int16)


def encode_sample(key: str, *, music_codes: np.ndarray, motion_codes: np.ndarray, music_text: str, motion_text: str,
                  music_ids: list[int], motion_ids: list[int], meta: dict) -> dict[str, bytes | str]:
    """A webdataset sample dict whose values are all bytes (plus `__key__`)."""
    if music_codes.shape != motion_codes.shape:
        raise ValueError(f"{key}: music codes {music_codes.shape} and motion codes {motion_codes.shape} differ")
    return {
        "__key__": key,
        "music.codes.npy": npy_bytes(check_codes(music_codes, f"{key} music")),
        "motion.codes.npy": npy_bytes(check_codes(motion_codes, f"{key} motion")),
        "music.txt": music_text.encode("utf-8"),
        "motion.txt": motion_text.encode("utf-8"),
        "music.ids.npy": npy_bytes(np.asarray(music_ids, dtype=np.int32)),
        "motion.ids.npy": npy_bytes(np.asarray(motion_ids, dtype=np.int32)),
        "json": json.dumps(meta, sort_keys=True).encode("utf-8"),
    }


def sample_nbytes(sample: dict) -> int:
    return sum(len(value) for name, value in sample.items() if name != "__key__")


def decode_sample(fields: dict[str, bytes], key: str) -> dict:
    """Inverse of `encode_sample` with checks; raises ValueError naming the key and the field."""
    missing = [name for name in SAMPLE_FIELDS if name not in fields]
    if missing:
        raise ValueError(f"{key}: missing fields {missing}")
    out = {}
    try:
        for name in ("music.codes.npy", "motion.codes.npy", "music.ids.npy", "motion.ids.npy"):
            out[name] = np.load(io.BytesIO(fields[name]), allow_pickle=False)
        out["music.txt"] = fields["music.txt"].decode("utf-8")
        out["motion.txt"] = fields["motion.txt"].decode("utf-8")
        out["json"] = json.loads(fields["json"])
    except (ValueError, UnicodeDecodeError, EOFError) as error:
        raise ValueError(f"{key}: undecodable field ({type(error).__name__}: {error})") from error
    for name in ("music.codes.npy", "motion.codes.npy"):
        check_codes(out[name], f"{key} {name}")
        if out[name].dtype != np.int16:
            raise ValueError(f"{key}: {name} has dtype {out[name].dtype}, expected int16")
    if out["music.codes.npy"].shape != out["motion.codes.npy"].shape:
        raise ValueError(f"{key}: music/motion code shapes differ")
    return out
