"""File formats of golden vectors: what a test bench, a C test or a script reads.

Every writer is a pure function from an array to ``bytes`` or ``str`` (same array, same bytes:
no timestamps, no dictionary order, no locale), and every format except the C header has a
reader that gives the array back, so a round trip is testable and ``gilt check`` can read an
external implementation's output in the format it chose.

Logical dtypes. A tensor has a *logical* dtype, which may be narrower than its NumPy storage:
``int4`` values live in ``int8`` arrays (-8..7) and ``uint4`` in ``uint8`` arrays (0..15), as
everywhere in gilt. Floats are written as their IEEE-754 bit patterns in hex and binary files.

Formats
-------
``npy``   NumPy ``.npy`` (storage dtype; int4 as int8), read with ``numpy.load``.
``npz``   one ``.npz`` archive holding every tensor of a case; entries carry a fixed 1980-01-01
          timestamp so reruns are byte-identical (``numpy.savez`` stamps the current time).
``hex``   text for Verilog ``$readmemh``: one memory word per line, ``word_bits / 4`` hex digits,
          most significant digit first. Elements of ``elem_bits`` (4 for int4/uint4, else the
          dtype's width) are packed ``word_bits // elem_bits`` to a word; the last word is padded
          with zero elements. ``endianness="little"``: element 0 of a word sits in its least
          significant bits (int4 pairs then match ONNX and :func:`reference.packing.pack_int4`:
          element 2i in the low nibble); ``"big"``: element 0 in the most significant bits.
          Worked example, int4 values ``[1, -2, 3]``, ``word_bits=8``: little -> ``e1``, ``03``;
          big -> ``1e``, ``30``.
``bin``   raw little-endian bytes, element 0 first; int4/uint4 packed two to a byte with
          :func:`reference.packing.pack_int4` (odd count padded with a zero nibble).
``h``     C header: one ``static const`` array per tensor (int4 both unpacked as ``int8_t`` and
          packed as ``uint8_t``), shape, element count, quantization parameters and a CRC-32
          (zlib/IEEE polynomial) of each array's little-endian bytes, so a C test can prove
          it compiled the numbers it was meant to.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

from reference import packing

FORMATS = ("npy", "npz", "hex", "bin", "h")
ENDIANNESS = ("little", "big")

#: logical dtype -> (storage NumPy dtype, bits per element in hex/bin files)
DTYPES: dict[str, tuple[np.dtype, int]] = {
    "int4": (np.dtype(np.int8), 4),
    "uint4": (np.dtype(np.uint8), 4),
    "int8": (np.dtype(np.int8), 8),
    "uint8": (np.dtype(np.uint8), 8),
    "int16": (np.dtype(np.int16), 16),
    "uint16": (np.dtype(np.uint16), 16),
    "int32": (np.dtype(np.int32), 32),
    "uint32": (np.dtype(np.uint32), 32),
    "int64": (np.dtype(np.int64), 64),
    "float16": (np.dtype(np.float16), 16),
    "float32": (np.dtype(np.float32), 32),
    "float64": (np.dtype(np.float64), 64),
}

_C_TYPES = {
    "int4": "int8_t", "uint4": "uint8_t", "int8": "int8_t", "uint8": "uint8_t",
    "int16": "int16_t", "uint16": "uint16_t", "int32": "int32_t", "uint32": "uint32_t",
    "int64": "int64_t", "float32": "float", "float64": "double",
}
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class GoldenVectorError(ValueError):
    """Base of every error about a golden-vector file or manifest (a ValueError)."""


class FormatError(GoldenVectorError):
    """A file's content is not in the format it claims (bad hex digit, wrong word width, ...)."""


class TruncatedFileError(GoldenVectorError):
    """A file holds fewer (or more) elements or words than its manifest entry says."""


class ShapeMismatchError(GoldenVectorError):
    """An array's shape differs from the shape its manifest entry says."""


class DtypeMismatchError(GoldenVectorError):
    """An array's dtype, or the range of its values, differs from its manifest entry."""


def check_dtype(dtype: str) -> tuple[np.dtype, int]:
    """Storage dtype and bits per element of a logical dtype name; ValueError if unknown."""
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported; expected one of {sorted(DTYPES)}")
    return DTYPES[dtype]


def logical_dtype(array: np.ndarray) -> str:
    """The logical dtype name of a NumPy array (never int4: that must be said explicitly)."""
    name = np.asarray(array).dtype.name
    if name not in DTYPES:
        raise TypeError(f"array dtype {name!r} cannot be written; expected one of "
                        f"{sorted(n for n in DTYPES if not n.endswith('4'))}")
    return name


def validate_array(array: np.ndarray, dtype: str, *, name: str = "array") -> np.ndarray:
    """Check that ``array`` is stored as ``dtype`` wants and, for 4-bit dtypes, in range."""
    storage, _ = check_dtype(dtype)
    array = np.asarray(array)
    if array.dtype != storage:
        raise DtypeMismatchError(f"{name}: dtype {array.dtype.name} does not store logical dtype "
                                 f"{dtype!r}; expected {storage.name}")
    if dtype in ("int4", "uint4") and array.size:
        lo, hi = (-8, 7) if dtype == "int4" else (0, 15)
        if int(array.min()) < lo or int(array.max()) > hi:
            raise DtypeMismatchError(f"{name}: values {int(array.min())}..{int(array.max())} are "
                                     f"outside {dtype} range {lo}..{hi}")
    return array


# ---------------------------------------------------------------- npy / npz

def npy_bytes(array: np.ndarray) -> bytes:
    """The ``.npy`` file of ``array`` (C order), as ``numpy.save`` writes it."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def read_npy(data: bytes, *, name: str = "npy") -> np.ndarray:
    try:
        return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise FormatError(f"{name}: not a readable .npy file ({exc})") from exc


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """A ``.npz`` archive (one ``<key>.npy`` per entry, in the order given, stored uncompressed)
    with fixed timestamps, so the same arrays always give the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_FIXED_ZIP_TIME)
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy_bytes(array))
    return buf.getvalue()


def read_npz(data: bytes, *, name: str = "npz") -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise FormatError(f"{name}: not a readable .npz archive ({exc})") from exc


# ---------------------------------------------------------------- element bits <-> byte stream

def _unsigned_bits(array: np.ndarray, dtype: str) -> np.ndarray:
    """Element bit patterns as unsigned integers of the element width (two's complement)."""
    storage, bits = check_dtype(dtype)
    flat = np.ascontiguousarray(array).reshape(-1)
    if dtype.startswith("float"):
        return flat.view(f"u{storage.itemsize}")
    return flat.astype(np.int64) & ((1 << bits) - 1) if bits < 64 else flat.view(np.uint64)


def _byte_stream(flat: np.ndarray, dtype: str) -> bytes:
    """Little-endian byte stream of a flat array: int4/uint4 through reference.packing."""
    _, bits = check_dtype(dtype)
    if bits == 4:
        return packing.pack_int4(flat, signed=(dtype == "int4")).tobytes()
    return _unsigned_bits(flat, dtype).astype(f"<u{bits // 8}").tobytes()


def _from_byte_stream(stream: bytes, dtype: str, count: int) -> np.ndarray:
    storage, bits = check_dtype(dtype)
    if bits == 4:
        raw = np.frombuffer(stream, dtype=np.uint8)
        return np.asarray(packing.unpack_int4(raw, count, signed=(dtype == "int4")), dtype=storage)
    raw = np.frombuffer(stream, dtype=f"<u{bits // 8}", count=count)
    return raw.view(storage.newbyteorder("<")).astype(storage)


# ---------------------------------------------------------------- hex ($readmemh)

def hex_layout(dtype: str, word_bits: int, count: int) -> tuple[int, int]:
    """(elements per word, number of words) of ``count`` elements in ``word_bits`` words."""
    _, bits = check_dtype(dtype)
    if isinstance(word_bits, bool) or not isinstance(word_bits, int | np.integer):
        raise TypeError(f"word_bits={word_bits!r} must be an int")
    if word_bits < bits or word_bits % bits or (word_bits != 4 and word_bits % 8):
        raise ValueError(f"word_bits={word_bits} does not hold whole {dtype} elements of {bits} "
                         f"bits; expected a multiple of {max(bits, 8)} (or 4 for 4-bit dtypes)")
    per_word = word_bits // bits
    return per_word, -(-count // per_word)


def _check_endianness(endianness: str) -> None:
    if endianness not in ENDIANNESS:
        raise ValueError(f"endianness={endianness!r} is not supported; expected one of "
                         f"{list(ENDIANNESS)}")


def hex_text(array: np.ndarray, dtype: str, *, word_bits: int, endianness: str = "little",
             comment: str | None = None) -> str:
    """``$readmemh`` text of ``array`` (C order); see the module docstring for the layout."""
    array = validate_array(array, dtype)
    _check_endianness(endianness)
    flat = array.reshape(-1)
    per_word, n_words = hex_layout(dtype, word_bits, flat.size)
    lines = [f"// {line}" for line in (comment or "").splitlines()]
    if word_bits == 4:  # one int4/uint4 element per word: a single hex digit per line
        lines += [f"{v:x}" for v in _unsigned_bits(flat, dtype).tolist()]
        return "\n".join(lines) + "\n"
    padded = np.zeros(n_words * per_word, dtype=flat.dtype)
    padded[: flat.size] = flat
    if endianness == "big":
        padded = padded.reshape(n_words, per_word)[:, ::-1].reshape(-1)
    stream = np.frombuffer(_byte_stream(padded, dtype), dtype=np.uint8)
    words = stream.reshape(n_words, word_bits // 8)[:, ::-1]  # most significant byte first
    digits = words.tobytes().hex()
    width = word_bits // 4
    lines += [digits[i: i + width] for i in range(0, len(digits), width)]
    return "\n".join(lines) + "\n"


_HEX_WORD = re.compile(r"^[0-9a-fA-F_]+$")


def read_hex(text: str, dtype: str, count: int, *, word_bits: int, endianness: str = "little",
             name: str = "hex") -> np.ndarray:
    """Parse ``$readmemh`` text written by :func:`hex_text` back into ``count`` elements.

    Comments (``//``) and blank lines are skipped; address directives (``@...``) are refused,
    since a golden-vector file is one contiguous memory image. Raises FormatError for bad words
    and TruncatedFileError when the word count differs from the layout of ``count`` elements.
    """
    storage, bits = check_dtype(dtype)
    _check_endianness(endianness)
    per_word, n_words = hex_layout(dtype, word_bits, count)
    width = word_bits // 4
    words: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("//", 1)[0].strip()
        if not line:
            continue
        for token in line.split():
            if token.startswith("@"):
                raise FormatError(f"{name}:{lineno}: address directive {token!r} is not "
                                  "supported in a golden-vector image")
            token = token.replace("_", "")
            if any(ch in "xXzZ" for ch in token):
                raise FormatError(f"{name}:{lineno}: word {len(words)} is {token!r}: unknown "
                                  "(x/z) bits, the simulation never wrote this word")
            if not _HEX_WORD.match(token) or len(token) != width:
                raise FormatError(f"{name}:{lineno}: word {token!r} is not {width} hex digits "
                                  f"(word_bits={word_bits})")
            words.append(token)
    if len(words) != n_words:
        raise TruncatedFileError(f"{name}: {len(words)} words, expected {n_words} "
                                 f"({count} {dtype} elements, {per_word} per {word_bits}-bit word)")
    if word_bits == 4:
        values = np.array([int(w, 16) for w in words], dtype=np.int64)
        if dtype == "int4":
            values = ((values & 15) ^ 8) - 8
        return values.astype(storage)
    raw = np.frombuffer(bytes.fromhex("".join(words)), dtype=np.uint8)
    stream = raw.reshape(n_words, word_bits // 8)[:, ::-1].tobytes()
    values = _from_byte_stream(stream, dtype, n_words * per_word)
    if endianness == "big":
        values = values.reshape(n_words, per_word)[:, ::-1].reshape(-1)
    return np.ascontiguousarray(values[:count])


# ---------------------------------------------------------------- raw binary

def bin_bytes(array: np.ndarray, dtype: str) -> bytes:
    """Raw little-endian bytes (int4/uint4 packed two per byte, ONNX nibble order)."""
    array = validate_array(array, dtype)
    return _byte_stream(array.reshape(-1), dtype)


def bin_size(dtype: str, count: int) -> int:
    _, bits = check_dtype(dtype)
    return -(-count * bits // 8)


def read_bin(data: bytes, dtype: str, count: int, *, name: str = "bin") -> np.ndarray:
    expected = bin_size(dtype, count)
    if len(data) != expected:
        raise TruncatedFileError(f"{name}: {len(data)} bytes, expected {expected} "
                                 f"({count} {dtype} elements)")
    return _from_byte_stream(data, dtype, count)


# ---------------------------------------------------------------- C header

def c_identifier(name: str) -> str:
    """A C identifier from a tensor or case name (non-alphanumerics become ``_``)."""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name)
    return f"t_{ident}" if not ident or ident[0].isdigit() else ident


def crc32(data: bytes) -> int:
    """CRC-32 as zlib computes it (IEEE 802.3 polynomial, reflected, init and xorout ~0)."""
    return zlib.crc32(data) & 0xFFFFFFFF


def _c_literals(array: np.ndarray, dtype: str) -> list[str]:
    flat = np.ascontiguousarray(array).reshape(-1)
    if dtype == "float32":
        return [_c_float(float(v), "f", np.float32) for v in flat]
    if dtype == "float64":
        return [_c_float(float(v), "", np.float64) for v in flat]
    if dtype == "int64":  # INT64_MIN has no literal form: write it as an expression
        return [f"({v + 1}LL - 1)" if v == -(2**63) else f"{v}LL" for v in flat.tolist()]
    if dtype == "int32":
        return [f"({v + 1} - 1)" if v == -(2**31) else str(v) for v in flat.tolist()]
    if dtype == "uint32":
        return [f"{v}u" for v in flat.tolist()]
    return [str(v) for v in flat.tolist()]


def _c_float(value: float, suffix: str, np_type) -> str:
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INFINITY" if value > 0 else "-INFINITY"
    # shortest text that parses back to exactly this float32/float64
    text = np.format_float_scientific(np_type(value), unique=True, trim="0")
    return text + suffix


def _c_array(ctype: str, ident: str, literals: Sequence[str], per_line: int = 16) -> list[str]:
    body = [", ".join(literals[i: i + per_line]) for i in range(0, len(literals), per_line)]
    inner = ",\n    ".join(body) if body else "0"
    size = max(len(literals), 1)
    return [f"static const {ctype} {ident}[{size}] = {{\n    {inner}\n}};"]


def _c_scalar_or_array(ctype: str, ident: str, value, dtype: str) -> list[str]:
    values = np.asarray(value, dtype=DTYPES[dtype][0]).reshape(-1)
    if values.size == 1:
        return [f"#define {ident.upper()} ({_c_literals(values, dtype)[0]})"]
    return [f"#define {ident.upper()}_COUNT {values.size}",
            *_c_array(ctype, ident, _c_literals(values, dtype))]


def c_header(tensors: Sequence[Mapping], *, guard: str, comment: str = "") -> str:
    """A self-contained C99 header for ``tensors``.

    Each tensor mapping has ``name``, ``array``, ``dtype`` (logical), ``shape``, optional ``layout``
    and optional ``quant`` (``scale``, ``zero_point``, ``axis``). For a tensor ``x`` it defines
    ``X_NDIM``, ``X_DIM0``.., ``X_COUNT``, ``X_CRC32`` (of ``x_data``'s little-endian bytes),
    ``x_data[]``; for int4/uint4 also ``x_packed[]``, ``X_PACKED_BYTES`` and ``X_PACKED_CRC32``
    (equal to the CRC-32 of the ``.bin`` file); quantization parameters as ``X_SCALE``,
    ``X_ZERO_POINT`` (scalars) or ``x_scale[]``/``x_zero_point[]`` (per channel) and ``X_AXIS``.
    float16 tensors are not representable in portable C99 and raise ValueError.
    """
    guard = c_identifier(guard).upper()
    lines = [f"/* {line} */" for line in comment.splitlines()]
    lines += [f"#ifndef {guard}", f"#define {guard}", "", "#include <stdint.h>"]
    if any(t["dtype"].startswith("float") for t in tensors) or any(t.get("quant") for t in tensors):
        lines.append("#include <math.h>")
    lines.append("")
    for tensor in tensors:
        dtype = tensor["dtype"]
        if dtype not in _C_TYPES:
            raise ValueError(f"tensor {tensor['name']!r}: dtype {dtype!r} has no portable C99 "
                             f"type; expected one of {sorted(_C_TYPES)}")
        array = validate_array(tensor["array"], dtype, name=tensor["name"])
        ident = c_identifier(tensor["name"]).lower()
        macro = ident.upper()
        shape = list(tensor["shape"])
        lines.append(f"/* {tensor['name']}: {dtype} {shape}"
                     + (f" layout {tensor['layout']}" if tensor.get("layout") else "") + " */")
        lines.append(f"#define {macro}_NDIM {len(shape)}")
        lines += [f"#define {macro}_DIM{i} {d}" for i, d in enumerate(shape)]
        lines.append(f"#define {macro}_COUNT {array.size}")
        storage_bytes = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        lines.append(f"#define {macro}_CRC32 0x{crc32(storage_bytes):08x}u")
        lines += _c_array(_C_TYPES[dtype], f"{ident}_data", _c_literals(array, dtype))
        if dtype in ("int4", "uint4"):
            packed = np.frombuffer(bin_bytes(array, dtype), dtype=np.uint8)
            lines.append(f"#define {macro}_PACKED_BYTES {packed.size}")
            lines.append(f"#define {macro}_PACKED_CRC32 0x{crc32(packed.tobytes()):08x}u")
            lines += _c_array("uint8_t", f"{ident}_packed", [f"0x{b:02x}" for b in packed.tolist()])
        quant = tensor.get("quant") or {}
        if "scale" in quant:
            lines += _c_scalar_or_array("double", f"{ident}_scale", quant["scale"], "float64")
        if "zero_point" in quant:
            lines += _c_scalar_or_array("int32_t", f"{ident}_zero_point", quant["zero_point"],
                                        "int32")
        if quant.get("axis") is not None:
            lines.append(f"#define {macro}_AXIS {int(quant['axis'])}")
        lines.append("")
    lines.append(f"#endif /* {guard} */")
    return "\n".join(lines) + "\n"
