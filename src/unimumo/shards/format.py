"""The shard sample format, both sides: field names, `encode_sample` and the one checked `decode_sample`.

A sample (see docs/interfaces.md, "Shard sample") is a webdataset dict of bytes per field:
music/motion codes int16 [4, T] (same T), the two captions, their text ids int32 [L] and a json
meta dict. `.npy` fields are read by `load_npy`, which parses each distinct header once: np.load
spends ~45 of its ~80 µs in `ast.literal_eval` of the header, and shard samples repeat a small set
of headers (one dtype, a few hundred lengths). Every decoding problem is a SampleError
"<key>: <field>: <problem>".
"""

from __future__ import annotations

import ast
import functools
import io
import json
import math

import numpy as np

from unimumo.constants import CODEBOOK_SIZE, NUM_CODEBOOKS
from unimumo.errors import UniMuMoError

MUSIC_CODES = "music.codes.npy"
MOTION_CODES = "motion.codes.npy"
MUSIC_TEXT = "music.txt"
MOTION_TEXT = "motion.txt"
MUSIC_IDS = "music.ids.npy"
MOTION_IDS = "motion.ids.npy"
META = "json"
CODE_FIELDS = (MUSIC_CODES, MOTION_CODES)
SAMPLE_FIELDS = (MUSIC_CODES, MOTION_CODES, MUSIC_TEXT, MOTION_TEXT, MUSIC_IDS, MOTION_IDS, META)
CODE_DTYPE, IDS_DTYPE = np.dtype(np.int16), np.dtype(np.int32)
NPY_MAGIC = b"\x93NUMPY"


class SampleError(UniMuMoError, ValueError):
    """A shard sample that cannot be used (missing field, undecodable value, wrong shape, dtype or range)."""

    kind = "shard sample error"


@functools.lru_cache(maxsize=4096)
def _parse_header(header: bytes) -> tuple[np.dtype, tuple[int, ...], str, int]:
    """(dtype, shape, memory order, data bytes) of an .npy header dict."""
    fields = ast.literal_eval(header.decode("latin1"))
    dtype = np.dtype(fields["descr"])
    if dtype.hasobject:
        raise ValueError("object arrays are not allowed")
    shape = tuple(fields["shape"])
    return dtype, shape, "F" if fields["fortran_order"] else "C", math.prod(shape) * dtype.itemsize


def load_npy(data: bytes) -> np.ndarray:
    """The array in `data` (npy format 1.0-3.0) as a read-only view of it; ValueError if not a complete npy file."""
    if data[:6] != NPY_MAGIC or len(data) < 10:
        raise ValueError("not an .npy file (bad magic)")
    length_bytes = 2 if data[6] == 1 else 4
    start = 8 + length_bytes + int.from_bytes(data[8 : 8 + length_bytes], "little")
    try:
        dtype, shape, order, nbytes = _parse_header(data[8 + length_bytes : start])
    except (SyntaxError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"unreadable .npy header ({error})") from error
    if len(data) - start != nbytes:
        raise ValueError(f"truncated .npy data: {len(data) - start} bytes for shape {shape} of {dtype}")
    return np.ndarray(shape, dtype, buffer=data, offset=start, order=order)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _check_codes(codes: np.ndarray, where: str) -> None:
    if codes.ndim != 2 or codes.shape[0] != NUM_CODEBOOKS:
        raise SampleError(f"{where}: expected codes [{NUM_CODEBOOKS}, T], got shape {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= CODEBOOK_SIZE):
        raise SampleError(f"{where}: code ids outside [0, {CODEBOOK_SIZE})")


def encode_sample(
    key: str,
    *,
    music_codes: np.ndarray,
    motion_codes: np.ndarray,
    music_text: str,
    motion_text: str,
    music_ids: list[int],
    motion_ids: list[int],
    meta: dict,
) -> dict[str, bytes | str]:
    """A webdataset sample dict whose values are all bytes (plus `__key__`); raises SampleError on bad codes."""
    codes = {MUSIC_CODES: np.asarray(music_codes), MOTION_CODES: np.asarray(motion_codes)}
    for name, array in codes.items():
        _check_codes(array, f"{key}: {name}")
    if codes[MUSIC_CODES].shape != codes[MOTION_CODES].shape:
        raise SampleError(
            f"{key}: {MOTION_CODES}: shape {codes[MOTION_CODES].shape} differs from "
            f"{MUSIC_CODES} {codes[MUSIC_CODES].shape}"
        )
    return {
        "__key__": key,
        **{name: npy_bytes(array.astype(CODE_DTYPE)) for name, array in codes.items()},
        MUSIC_TEXT: music_text.encode("utf-8"),
        MOTION_TEXT: motion_text.encode("utf-8"),
        MUSIC_IDS: npy_bytes(np.asarray(music_ids, dtype=IDS_DTYPE)),
        MOTION_IDS: npy_bytes(np.asarray(motion_ids, dtype=IDS_DTYPE)),
        META: json.dumps(meta, sort_keys=True).encode("utf-8"),
    }


def sample_nbytes(sample: dict) -> int:
    return sum(len(value) for name, value in sample.items() if name != "__key__")


def _array(sample: dict, key: str, name: str) -> np.ndarray:
    try:
        return load_npy(sample[name])
    except ValueError as error:
        raise SampleError(f"{key}: {name}: {error}") from error


def _codes(sample: dict, key: str) -> dict[str, np.ndarray]:
    """Both code arrays (always read together), checked for dtype and shape from their headers; values are not read."""
    _missing(sample, key, CODE_FIELDS)
    codes = {name: _array(sample, key, name) for name in CODE_FIELDS}
    for name, array in codes.items():
        if array.dtype != CODE_DTYPE:
            raise SampleError(f"{key}: {name}: dtype {array.dtype}, expected {CODE_DTYPE}")
        if array.ndim != 2 or array.shape[0] != NUM_CODEBOOKS:
            raise SampleError(f"{key}: {name}: expected codes [{NUM_CODEBOOKS}, T], got shape {array.shape}")
    if codes[MUSIC_CODES].shape != codes[MOTION_CODES].shape:
        raise SampleError(
            f"{key}: {MOTION_CODES}: shape {codes[MOTION_CODES].shape} differs from "
            f"{MUSIC_CODES} {codes[MUSIC_CODES].shape}"
        )
    return codes


def _missing(sample: dict, key: str, fields) -> None:
    missing = [name for name in fields if name not in sample]
    if missing:
        present = sorted(name for name in sample if not name.startswith("__"))
        raise SampleError(f"{key}: {', '.join(missing)}: missing (fields present: {present})")


def sample_frames(sample: dict) -> int:
    """T of a raw sample's codes, read from the .npy headers (both streams checked to agree); raises SampleError."""
    return _codes(sample, sample.get("__key__", "<no key>"))[MUSIC_CODES].shape[1]


def decode_sample(
    sample: dict, *, fields: tuple[str, ...] = SAMPLE_FIELDS, crop: tuple[int, int] | None = None
) -> dict | None:
    """{field: value} of a raw sample ({"__key__", field: bytes}): codes and ids as read-only arrays, texts as
    str, json as a dict. Only `fields` are decoded and checked; all code values are checked, also with `crop`.

    `crop=(start, length)` cuts both code arrays to frames [start, start + length); None when they are shorter.
    Raises SampleError "<key>: <field>: <problem>".
    """
    key = sample.get("__key__", "<no key>")
    _missing(sample, key, fields)
    out: dict = {}
    if MUSIC_CODES in fields or MOTION_CODES in fields:
        codes = _codes(sample, key)
        if crop is not None and codes[MUSIC_CODES].shape[1] < crop[0] + crop[1]:
            return None
        for name in CODE_FIELDS:
            if name in fields:
                _check_codes(codes[name], f"{key}: {name}")
                out[name] = codes[name] if crop is None else codes[name][:, crop[0] : crop[0] + crop[1]]
    for name in (MUSIC_IDS, MOTION_IDS):
        if name in fields:
            ids = _array(sample, key, name)
            if ids.ndim != 1 or ids.dtype.kind not in "iu" or (ids.size and ids.min() < 0):
                raise SampleError(
                    f"{key}: {name}: expected non-negative integer ids [L], got shape {ids.shape} of {ids.dtype}"
                )
            out[name] = ids
    for name in (MUSIC_TEXT, MOTION_TEXT, META):
        if name in fields:
            try:
                text = sample[name].decode("utf-8")
                out[name] = json.loads(text) if name == META else text
            except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
                raise SampleError(f"{key}: {name}: undecodable ({type(error).__name__}: {error})") from error
    return out
