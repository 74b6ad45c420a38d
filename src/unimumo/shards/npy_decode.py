"""Decode `.npy` bytes quickly: the header dict is parsed once per distinct header and cached.

`np.load(io.BytesIO(...))` spends ~45 of its ~80 µs in `ast.literal_eval` of the header; shard
samples repeat a small set of headers (same dtype, a few hundred distinct lengths), so the loader
parses each once. Arrays are read-only views of the given bytes.
"""
from __future__ import annotations

import ast
import functools
import math

import numpy as np

MAGIC = b"\x93NUMPY"


@functools.lru_cache(maxsize=4096)
def _parse_header(header: bytes) -> tuple[np.dtype, tuple[int, ...], bool]:
    fields = ast.literal_eval(header.decode("latin1"))
    dtype = np.dtype(fields["descr"])
    if dtype.hasobject:
        raise ValueError("object arrays are not allowed")
    return dtype, tuple(fields["shape"]), bool(fields["fortran_order"])


def load_npy(data: bytes) -> np.ndarray:
    """The array stored in `data` (npy format 1.0-3.0); ValueError if the bytes are not a complete npy file."""
    if data[:6] != MAGIC or len(data) < 10:
        raise ValueError("not an .npy file (bad magic)")
    major = data[6]
    length_bytes = 2 if major == 1 else 4
    header_length = int.from_bytes(data[8 : 8 + length_bytes], "little")
    start = 8 + length_bytes + header_length
    try:
        dtype, shape, fortran = _parse_header(data[8 + length_bytes : start])
    except (SyntaxError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"unreadable .npy header ({error})") from error
    count = math.prod(shape)
    if len(data) - start != count * dtype.itemsize:
        raise ValueError(f"truncated .npy data: {len(data) - start} bytes for shape {shape} of {dtype}")
    return np.frombuffer(data, dtype=dtype, count=count, offset=start).reshape(shape, order="F" if fortran else "C")
