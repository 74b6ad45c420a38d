"""The shard sample format: encode/decode round trip, field subsets and crops, one error style."""

import numpy as np
import pytest

from unimumo.shards.format import (
    CODE_FIELDS,
    META,
    MOTION_CODES,
    MOTION_IDS,
    MUSIC_CODES,
    MUSIC_IDS,
    MUSIC_TEXT,
    SAMPLE_FIELDS,
    SampleError,
    decode_sample,
    encode_sample,
    npy_bytes,
    sample_frames,
)


def sample(length=40, key="track-00"):
    codes = np.tile(np.arange(length) % 2048, (4, 1))
    return encode_sample(
        key,
        music_codes=codes,
        motion_codes=codes + 1,
        music_text="music",
        motion_text="dance",
        music_ids=[5, 6, 1],
        motion_ids=[7, 1],
        meta={"beats": [0.1]},
    )


def test_round_trip():
    decoded = decode_sample(sample())
    assert set(decoded) == set(SAMPLE_FIELDS)
    assert decoded[MUSIC_CODES].dtype == np.int16 and decoded[MUSIC_CODES].shape == (4, 40)
    np.testing.assert_array_equal(decoded[MOTION_CODES][0], np.arange(40) + 1)
    assert decoded[MUSIC_TEXT] == "music" and decoded[META] == {"beats": [0.1]}
    assert decoded[MUSIC_IDS].tolist() == [5, 6, 1] and sample_frames(sample()) == 40


@pytest.mark.parametrize("fields", [SAMPLE_FIELDS, CODE_FIELDS, (MUSIC_CODES, MOTION_CODES, MUSIC_IDS, MOTION_IDS)])
@pytest.mark.parametrize("crop", [None, (0, 40), (7, 20), (39, 1)])
def test_a_subset_or_crop_equals_the_full_decode_cut(fields, crop):
    full = decode_sample(sample())
    part = decode_sample(sample(), fields=fields, crop=crop)
    assert set(part) == set(fields)
    for name in fields:
        expected = full[name]
        if name in CODE_FIELDS and crop is not None:
            expected = expected[:, crop[0] : crop[0] + crop[1]]
        if isinstance(expected, np.ndarray):
            assert part[name].dtype == expected.dtype
            np.testing.assert_array_equal(part[name], expected)
        else:
            assert part[name] == expected


def test_a_crop_beyond_the_codes_is_none():
    assert decode_sample(sample(40), crop=(0, 41)) is None
    assert decode_sample(sample(40), fields=CODE_FIELDS, crop=(30, 11)) is None


@pytest.mark.parametrize(
    "change, message",
    [
        ({MUSIC_CODES: b"not an array"}, "track-00: music.codes.npy: not an .npy file"),
        ({MOTION_CODES: npy_bytes(np.full((4, 40), 5000, np.int16))}, r"track-00: motion.codes.npy: code ids outside"),
        (
            {MOTION_CODES: npy_bytes(np.zeros((4, 40), np.int64))},
            "track-00: motion.codes.npy: dtype int64, expected int16",
        ),
        (
            {MOTION_CODES: npy_bytes(np.zeros((4, 39), np.int16))},
            r"track-00: motion.codes.npy: shape \(4, 39\) differs",
        ),
        ({MUSIC_CODES: npy_bytes(np.zeros((3, 40), np.int16))}, r"track-00: music.codes.npy: expected codes \[4, T\]"),
        (
            {MUSIC_IDS: npy_bytes(np.array([[1]], np.int32))},
            r"track-00: music.ids.npy: expected non-negative integer ids",
        ),
        ({MUSIC_TEXT: b"\xff\xfe"}, "track-00: music.txt: undecodable"),
        ({META: b"{"}, "track-00: json: undecodable"),
        ({MOTION_IDS: None}, r"track-00: motion.ids.npy: missing \(fields present: "),
    ],
)
def test_errors_name_the_key_and_the_field(change, message):
    broken = {name: value for name, value in {**sample(), **change}.items() if value is not None}
    with pytest.raises(SampleError, match=message):
        decode_sample(broken)


def test_only_the_requested_fields_are_checked():
    broken = {**sample(), META: b"{", MUSIC_TEXT: b"\xff"}
    assert decode_sample(broken, fields=CODE_FIELDS + (MUSIC_IDS, MOTION_IDS), crop=(0, 10)) is not None


def test_encode_refuses_what_decode_refuses():
    def encode(music, motion):
        return encode_sample(
            "k",
            music_codes=music,
            motion_codes=motion,
            music_text="",
            motion_text="",
            music_ids=[],
            motion_ids=[],
            meta={},
        )

    with pytest.raises(SampleError, match=r"k: motion.codes.npy: shape \(4, 4\) differs"):
        encode(np.zeros((4, 3)), np.zeros((4, 4)))
    with pytest.raises(SampleError, match=r"k: music.codes.npy: code ids outside \[0, 2048\)"):
        encode(np.full((4, 3), 2048), np.zeros((4, 3)))
