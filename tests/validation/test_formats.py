"""File formats: hand-worked layouts, round trips over dtypes/word widths/endianness, and named
errors for malformed files."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.packing import pack_int4
from validation import formats
from validation.formats import DtypeMismatchError, FormatError, TruncatedFileError


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln and not ln.startswith("//")]


def test_int4_pairs_worked_example():
    values = np.array([1, -2, 3], np.int8)  # nibbles 1, e, 3 (+ a zero pad nibble)
    assert _lines(formats.hex_text(values, "int4", word_bits=8)) == ["e1", "03"]
    assert _lines(formats.hex_text(values, "int4", word_bits=8, endianness="big")) == ["1e", "30"]
    assert _lines(formats.hex_text(values, "int4", word_bits=4)) == ["1", "e", "3"]
    assert _lines(formats.hex_text(values, "int4", word_bits=16)) == ["03e1"]
    assert formats.bin_bytes(values, "int4") == bytes([0xE1, 0x03])


def test_int8_and_int16_words_by_hand():
    values = np.array([1, 2, 3, 4, -1], np.int8)
    assert _lines(formats.hex_text(values, "int8", word_bits=32)) == ["04030201", "000000ff"]
    assert _lines(formats.hex_text(values, "int8", word_bits=32, endianness="big")) == [
        "01020304", "ff000000"]
    assert _lines(formats.hex_text(np.array([-2, 0x1234], np.int16), "int16", word_bits=16)) == [
        "fffe", "1234"]
    assert _lines(formats.hex_text(np.array([1.0], np.float32), "float32", word_bits=32)) == [
        "3f800000"]


def test_bin_is_little_endian_and_int4_uses_reference_packing():
    acc = np.array([1, -2, 2**31 - 1, -(2**31)], np.int32)
    assert formats.bin_bytes(acc, "int32") == acc.astype("<i4").tobytes()
    w = np.array([[7, -8, 0], [1, -1, 5]], np.int8)
    assert formats.bin_bytes(w, "int4") == pack_int4(w).tobytes()


def test_hex_comment_lines_are_verilog_comments():
    text = formats.hex_text(np.arange(4, dtype=np.uint8), "uint8", word_bits=8,
                            comment="line one\nline two")
    assert text.splitlines()[:2] == ["// line one", "// line two"]
    assert np.array_equal(formats.read_hex(text, "uint8", 4, word_bits=8), np.arange(4))


def _arrays(dtype: str):
    storage, bits = formats.DTYPES[dtype]
    shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)
    if dtype.startswith("float"):
        elems = st.floats(width=bits, allow_nan=False)
    elif dtype in ("int4", "uint4"):
        elems = st.integers(-8, 7) if dtype == "int4" else st.integers(0, 15)
    else:
        info = np.iinfo(storage)
        elems = st.integers(int(info.min), int(info.max))
    return shapes.flatmap(lambda s: st.lists(elems, min_size=int(np.prod(s)),
                                             max_size=int(np.prod(s))).map(
        lambda v, s=s: np.array(v, dtype=storage).reshape(s)))


@st.composite
def _case(draw):
    dtype = draw(st.sampled_from(sorted(formats.DTYPES)))
    array = draw(_arrays(dtype))
    bits = formats.DTYPES[dtype][1]
    per_word = draw(st.sampled_from([1, 2, 3, 4, 8]))
    word_bits = bits * per_word
    if word_bits % 8 and word_bits != 4:
        word_bits *= 2
    endianness = draw(st.sampled_from(formats.ENDIANNESS))
    return dtype, array, word_bits, endianness


@given(_case())
def test_hex_and_bin_round_trip_every_dtype(case):
    dtype, array, word_bits, endianness = case
    text = formats.hex_text(array, dtype, word_bits=word_bits, endianness=endianness)
    words = _lines(text)
    per_word, n_words = formats.hex_layout(dtype, word_bits, array.size)
    assert len(words) == n_words and all(len(w) == word_bits // 4 for w in words)
    back = formats.read_hex(text, dtype, array.size, word_bits=word_bits, endianness=endianness)
    assert back.dtype == array.dtype
    assert np.array_equal(back.reshape(array.shape).view(np.uint8), array.view(np.uint8))
    raw = formats.bin_bytes(array, dtype)
    assert len(raw) == formats.bin_size(dtype, array.size)
    back = formats.read_bin(raw, dtype, array.size).reshape(array.shape)
    assert np.array_equal(back.view(np.uint8), array.view(np.uint8))
    assert np.array_equal(formats.read_npy(formats.npy_bytes(array)), array)


def test_big_endian_reverses_elements_within_each_word():
    values = np.arange(8, dtype=np.uint8)
    little = _lines(formats.hex_text(values, "uint8", word_bits=32))
    big = _lines(formats.hex_text(values, "uint8", word_bits=32, endianness="big"))
    assert [bytes.fromhex(w)[::-1].hex() for w in little] == big


def test_npz_is_byte_identical_and_readable_by_numpy(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.int8).reshape(2, 3), "b": np.ones(3, np.float32)}
    data = formats.npz_bytes(arrays)
    assert data == formats.npz_bytes(dict(arrays))
    path = tmp_path / "x.npz"
    path.write_bytes(data)
    with np.load(path) as loaded:
        assert sorted(loaded.files) == ["a", "b"]
        assert np.array_equal(loaded["a"], arrays["a"])
    with zipfile.ZipFile(path) as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.mark.parametrize("text,error,match", [
    ("04030201\n0000gqff\n", FormatError, "not 8 hex digits"),
    ("04030201\n00ff\n", FormatError, "not 8 hex digits"),
    ("04030201\n", TruncatedFileError, "1 words, expected 2"),
    ("04030201\n00000005\n00000000\n", TruncatedFileError, "3 words, expected 2"),
    ("@0\n04030201\n00000005\n", FormatError, "address directive"),
    ("04030201\nxxxxxxxx\n", FormatError, r"word 1 is 'xxxxxxxx': unknown \(x/z\) bits"),
])
def test_read_hex_rejects_malformed_files(text, error, match):
    with pytest.raises(error, match=match):
        formats.read_hex(text, "int8", 5, word_bits=32, name="x.hex")


def test_read_hex_accepts_underscores_comments_and_blank_lines():
    text = "// header\n0403_0201  // first word\n\n0000_00ff\n"
    assert formats.read_hex(text, "int8", 5, word_bits=32).tolist() == [1, 2, 3, 4, -1]


def test_read_bin_and_npy_reject_truncated_data():
    raw = formats.bin_bytes(np.arange(5, dtype=np.int32), "int32")
    with pytest.raises(TruncatedFileError, match="19 bytes, expected 20"):
        formats.read_bin(raw[:-1], "int32", 5)
    with pytest.raises(FormatError, match="not a readable .npy"):
        formats.read_npy(formats.npy_bytes(np.arange(5))[:-3])
    with pytest.raises(FormatError, match="not a readable .npz"):
        formats.read_npz(b"PK\x03\x04garbage")


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="dtype='int3'"):
        formats.check_dtype("int3")
    with pytest.raises(DtypeMismatchError, match="outside int4 range -8..7"):
        formats.hex_text(np.array([8], np.int8), "int4", word_bits=8)
    with pytest.raises(DtypeMismatchError, match="does not store logical dtype 'int4'"):
        formats.bin_bytes(np.array([1], np.int16), "int4")
    with pytest.raises(ValueError, match="word_bits=12 does not hold whole int8"):
        formats.hex_text(np.array([1], np.int8), "int8", word_bits=12)
    with pytest.raises(ValueError, match="endianness='middle'"):
        formats.hex_text(np.array([1], np.int8), "int8", word_bits=8, endianness="middle")
    with pytest.raises(TypeError, match="word_bits"):
        formats.hex_layout("int8", 8.0, 1)
    with pytest.raises(ValueError, match="float16.*no portable C99"):
        formats.c_header([{"name": "h", "array": np.zeros(1, np.float16), "dtype": "float16",
                           "shape": (1,)}], guard="g")


def test_c_header_names_and_literals():
    text = formats.c_header([{"name": "conv1/out.0", "array": np.array([-(2**31), 5], np.int32),
                              "dtype": "int32", "shape": (2,), "quant": {"scale": 0.5,
                                                                         "zero_point": 3}}],
                            guard="my-case")
    assert "#ifndef MY_CASE" in text
    assert "static const int32_t conv1_out_0_data[2]" in text
    assert "(-2147483647 - 1), 5" in text  # INT32_MIN has no literal: an expression
    assert "#define CONV1_OUT_0_ZERO_POINT (3)" in text
    assert formats.c_identifier("3x") == "t_3x"
