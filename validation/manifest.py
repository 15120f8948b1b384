"""The golden-vector directory: tensors in files, a manifest describing them, written atomically.

A directory written by :func:`write_golden` holds, for each tensor, one file per chosen format
(``<tensor>.npy``, ``<tensor>.hex``, ``<tensor>.bin``), optionally ``<case>.npz`` and ``<case>.h``,
plus ``manifest.json``, ``manifest.yaml`` (the same content) and ``SHA256SUMS`` (readable by
``sha256sum -c``). The manifest records, per tensor: role, logical dtype, shape, layout,
quantization parameters and every file with its SHA-256, size and format options (hex word
width, endianness, elements per word, word count); for the case: the operator or network, its
parameters, the seed, the gilt version and the numeric-contract version.

Guarantees
----------
* Same inputs, same bytes: nothing time- or host-dependent is written, keys keep a fixed order.
* Atomic: everything is written into a hidden sibling folder first and swapped in with
  :func:`common.files.atomic_dir`; an existing directory is replaced whole or not at all.
* Verified reads: :func:`load_tensor` checks size and SHA-256 before parsing, then shape and
  dtype against the manifest, and raises a named :class:`GoldenVectorError` subclass.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import yaml

import reference
from common.files import atomic_dir
from common.version import __version__ as GILT_VERSION
from validation import formats
from validation.formats import (
    DtypeMismatchError,
    GoldenVectorError,
    ShapeMismatchError,
    TruncatedFileError,
)

SCHEMA = "gilt-golden-vectors"
MANIFEST_VERSION = 1
#: Version of the numeric contract the vectors follow (reference/ may define its own).
CONTRACT_VERSION = str(getattr(reference, "CONTRACT_VERSION", "1"))
ROLES = ("input", "weight", "bias", "intermediate", "output")
TENSOR_FORMATS = ("npy", "hex", "bin")
#: Widest hex memory word gilt writes or reads (bits): far above any $readmemh memory in use.
MAX_WORD_BITS = 1024


class ChecksumError(GoldenVectorError):
    """A file's SHA-256 differs from the one recorded in the manifest."""


class ManifestError(GoldenVectorError):
    """The manifest is missing, unreadable, of another schema, or lacks a required entry."""


class IntegrityError(GoldenVectorError):
    """SHA256SUMS is missing or malformed, disagrees with a file or with the manifest, or a
    path points outside the golden-vector folder."""


#: The checksum file of a golden-vector folder, in ``sha256sum`` format.
SUMS_FILE = "SHA256SUMS"
_SUM_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class GoldenTensor:
    """One tensor of a golden-vector case. ``dtype`` is the logical dtype (``int4`` in int8)."""

    name: str
    array: np.ndarray
    dtype: str
    role: str
    layout: str | None = None
    quant: Mapping[str, Any] | None = None
    #: the tensor's name where it came from (a network's tensor name) when ``name`` differs
    source: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name \
                or self.name.startswith("."):
            raise ValueError(f"name={self.name!r} must be a non-empty file-name-safe string")
        if self.role not in ROLES:
            raise ValueError(f"tensor {self.name!r}: role={self.role!r}; expected one of {ROLES}")
        formats.validate_array(self.array, self.dtype, name=self.name)


@dataclass(frozen=True)
class WriteOptions:
    """Which formats to write and how hex words are laid out."""

    formats: tuple[str, ...] = ("npy", "hex", "bin", "h")
    word_bits: int = 32
    endianness: str = "little"
    roles: tuple[str, ...] = field(default=ROLES)

    def __post_init__(self) -> None:
        bad = [f for f in self.formats if f not in formats.FORMATS]
        if bad or not self.formats:
            raise ValueError(f"formats={list(self.formats)!r}; expected a non-empty subset of "
                             f"{list(formats.FORMATS)}")
        if self.endianness not in formats.ENDIANNESS:
            raise ValueError(f"endianness={self.endianness!r}; expected one of "
                             f"{list(formats.ENDIANNESS)}")
        if isinstance(self.word_bits, bool) or not isinstance(self.word_bits, int) \
                or not 4 <= self.word_bits <= MAX_WORD_BITS \
                or (self.word_bits != 4 and self.word_bits % 8):
            # a width no dtype can use (12, 20, ...) would silently fall back everywhere
            raise ValueError(f"word_bits={self.word_bits!r}; expected 4 or a multiple of 8 "
                             f"up to {MAX_WORD_BITS}")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plain(value: Any) -> Any:
    """JSON/YAML-safe plain Python values (numpy scalars and arrays become numbers and lists)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def hex_word_bits(dtype: str, requested: int) -> int:
    """The hex word width used for a tensor: ``requested`` when it holds whole elements, else
    one element per word (an int32 tensor in a ``word_bits=8`` run is written 32 bits a word).
    The manifest records the width actually used for every hex file."""
    try:
        formats.hex_layout(dtype, requested, 0)
        return requested
    except ValueError:
        return formats.check_dtype(dtype)[1]


def _tensor_files(tensor: GoldenTensor, options: WriteOptions) -> dict[str, tuple[str, bytes,
                                                                                   dict]]:
    """format -> (file name, content, format options) for the per-tensor formats."""
    out: dict[str, tuple[str, bytes, dict]] = {}
    shape = list(tensor.array.shape)
    if "npy" in options.formats:
        out["npy"] = (f"{tensor.name}.npy", formats.npy_bytes(tensor.array), {})
    if "hex" in options.formats:
        word_bits = hex_word_bits(tensor.dtype, options.word_bits)
        per_word, words = formats.hex_layout(tensor.dtype, word_bits, tensor.array.size)
        text = formats.hex_text(
            tensor.array, tensor.dtype, word_bits=word_bits, endianness=options.endianness,
            comment=f"{tensor.name}: {tensor.dtype} {shape}, {per_word} per {word_bits}-bit "
                    f"word, {options.endianness} endian, {words} words")
        out["hex"] = (f"{tensor.name}.hex", text.encode("ascii"),
                      {"word_bits": word_bits, "endianness": options.endianness,
                       "elements_per_word": per_word, "words": words})
    if "bin" in options.formats:
        out["bin"] = (f"{tensor.name}.bin", formats.bin_bytes(tensor.array, tensor.dtype),
                      {"byte_order": "little", "int4_packing": "low nibble first"
                       if tensor.dtype in ("int4", "uint4") else None})
        if out["bin"][2]["int4_packing"] is None:
            del out["bin"][2]["int4_packing"]
    return out


def build_golden(case: Mapping[str, Any], tensors: Sequence[GoldenTensor],
                 options: WriteOptions) -> tuple[dict, dict[str, bytes]]:
    """The manifest dict and ``{file name: bytes}`` of a case, without touching the disk."""
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise ValueError(f"tensor names must be unique; got {names}")
    for key in ("name", "kind"):
        if key not in case:
            raise ValueError(f"case is missing {key!r}; got keys {sorted(case)}")
    selected = [t for t in tensors if t.role in options.roles]
    files: dict[str, bytes] = {}
    entries = []
    for tensor in selected:
        entry: dict[str, Any] = {
            "name": tensor.name, "role": tensor.role, "dtype": tensor.dtype,
            "shape": list(tensor.array.shape), "count": int(tensor.array.size),
            "layout": tensor.layout, "quant": _plain(tensor.quant) if tensor.quant else None,
            "files": {},
        }
        if tensor.source is not None:
            entry["source"] = tensor.source
        for fmt, (fname, data, extra) in _tensor_files(tensor, options).items():
            files[fname] = data
            entry["files"][fmt] = {"path": fname, "bytes": len(data),
                                   "sha256": sha256_bytes(data), **extra}
        entries.append(entry)
    case_files = []
    stem = formats.c_identifier(str(case["name"]))
    if "npz" in options.formats:
        files[f"{stem}.npz"] = formats.npz_bytes({t.name: t.array for t in selected})
        case_files.append({"format": "npz", "path": f"{stem}.npz"})
    if "h" in options.formats:
        c_tensors = [{"name": t.name, "array": t.array, "dtype": t.dtype,
                      "shape": t.array.shape, "layout": t.layout, "quant": t.quant}
                     for t in selected if t.dtype != "float16"]
        comment = (f"gilt {GILT_VERSION} golden vectors, case {case['name']}, seed "
                   f"{case.get('seed')}, numeric contract {CONTRACT_VERSION}.\n"
                   "Generated by `gilt golden`; do not edit.")
        header = formats.c_header(c_tensors, guard=f"gilt_{stem}_h", comment=comment)
        files[f"{stem}.h"] = header.encode("ascii")
        case_files.append({"format": "h", "path": f"{stem}.h"})
    for item in case_files:
        data = files[item["path"]]
        item.update(bytes=len(data), sha256=sha256_bytes(data))
    manifest = {
        "schema": SCHEMA, "manifest_version": MANIFEST_VERSION,
        "gilt_version": GILT_VERSION, "contract_version": CONTRACT_VERSION,
        **_plain(dict(case)),
        "hex": {"word_bits": options.word_bits, "endianness": options.endianness},
        "tensors": entries, "files": case_files,
    }
    return manifest, files


def manifest_texts(manifest: Mapping) -> dict[str, bytes]:
    """``manifest.json`` and ``manifest.yaml`` bytes of a manifest dict."""
    as_json = json.dumps(manifest, indent=2, sort_keys=False, allow_nan=False) + "\n"
    as_yaml = yaml.safe_dump(dict(manifest), sort_keys=False, default_flow_style=None, width=100)
    return {"manifest.json": as_json.encode("utf-8"), "manifest.yaml": as_yaml.encode("utf-8")}


def golden_files(case: Mapping[str, Any], tensors: Sequence[GoldenTensor],
                 options: WriteOptions | None = None) -> tuple[dict, dict[str, bytes]]:
    """Manifest dict and every file of one case directory (manifests and SHA256SUMS included)."""
    manifest, files = build_golden(case, tensors, options or WriteOptions())
    files.update(manifest_texts(manifest))
    sums = "".join(f"{sha256_bytes(data)}  {name}\n" for name, data in sorted(files.items()))
    files["SHA256SUMS"] = sums.encode("ascii")
    return manifest, files


def write_tree_atomic(out_dir: str | os.PathLike,
                      files: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> Path:
    """Write ``{relative path: bytes}`` (or an iterable of such pairs, consumed one at a time
    so a large tree is never held in memory) as directory ``out_dir``, all or nothing.

    The tree is built in a hidden sibling folder and swapped in only when complete
    (:func:`common.files.atomic_dir`), so a crash or error leaves the previous ``out_dir``
    (if any) untouched and a reader never sees a half-written one. ``out_dir`` may replace only
    a folder gilt wrote (or an empty one), never a file.
    """
    out = Path(out_dir)
    with atomic_dir(out) as staging:
        root = staging.resolve()
        for rel, data in (files.items() if isinstance(files, Mapping) else files):
            path = staging / rel
            if root not in path.resolve().parents:
                raise ValueError(f"file name {rel!r} escapes the output directory")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return out


def write_golden(out_dir: str | os.PathLike, case: Mapping[str, Any],
                 tensors: Sequence[GoldenTensor], options: WriteOptions | None = None) -> dict:
    """Write one case's golden vectors into ``out_dir`` atomically; return the manifest dict."""
    manifest, files = golden_files(case, tensors, options)
    write_tree_atomic(out_dir, files)
    return manifest


# ---------------------------------------------------------------- reading

def load_manifest(directory: str | os.PathLike) -> dict:
    """Read and check ``manifest.json`` (or ``manifest.yaml``) of a golden-vector directory."""
    directory = Path(directory)
    json_path, yaml_path = directory / "manifest.json", directory / "manifest.yaml"
    try:
        if json_path.exists():
            manifest = json.loads(json_path.read_text("utf-8"))
        elif yaml_path.exists():
            manifest = yaml.safe_load(yaml_path.read_text("utf-8"))
        else:
            raise ManifestError(f"{directory}: no manifest.json or manifest.yaml; is it a "
                                "directory written by `gilt golden`?")
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{directory}: manifest is not valid JSON/YAML ({exc})") from exc
    source = json_path if json_path.exists() else yaml_path
    try:
        _check_manifest(directory, manifest)
    except GoldenVectorError as exc:  # name the manifest file, not only its folder
        text = str(exc).removeprefix(f"{directory}: ")
        raise type(exc)(f"{source}: {text}") from None
    return manifest


def _check_manifest(directory: Path, manifest: Any) -> None:
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise ManifestError(f"{directory}: manifest schema is "
                            f"{manifest.get('schema') if isinstance(manifest, dict) else None!r}"
                            f", expected {SCHEMA!r}")
    if manifest.get("manifest_version") != MANIFEST_VERSION:
        raise ManifestError(f"{directory}: manifest_version={manifest.get('manifest_version')!r},"
                            f" this gilt reads version {MANIFEST_VERSION}")
    tensors = manifest.get("tensors")
    if not isinstance(tensors, list):
        raise ManifestError(f"{directory}: manifest has no 'tensors' list")
    for entry in tensors:
        _check_tensor_entry(directory, entry)
    case_files = manifest.get("files", [])
    if not isinstance(case_files, list):
        raise ManifestError(f"{directory}: manifest 'files' must be a list")
    for record in case_files:
        _check_file_record(directory, record, "case file")


def _check_tensor_entry(directory: Path, entry: Any) -> None:
    if not isinstance(entry, dict):
        raise ManifestError(f"{directory}: a tensor entry is not a mapping: {entry!r}")
    missing = [k for k in ("name", "role", "dtype", "shape", "files") if k not in entry]
    if missing:
        raise ManifestError(f"{directory}: tensor entry {entry.get('name')!r} lacks {missing}")
    name, shape = entry["name"], entry["shape"]
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{directory}: tensor name {name!r} is not a non-empty string")
    if entry["dtype"] not in formats.DTYPES:
        raise ManifestError(f"{directory}: tensor {name!r}: dtype {entry['dtype']!r} is not one "
                            f"of {sorted(formats.DTYPES)}")
    if not isinstance(shape, list) or any(isinstance(d, bool) or not isinstance(d, int) or d < 0
                                          for d in shape):
        raise ManifestError(f"{directory}: tensor {name!r}: shape {shape!r} is not a list of "
                            "non-negative ints")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if entry.get("count", count) != count:
        raise ManifestError(f"{directory}: tensor {name!r}: count {entry.get('count')!r} is not "
                            f"the product of shape {shape} ({count})")
    if not isinstance(entry["files"], dict):
        raise ManifestError(f"{directory}: tensor {name!r}: 'files' must be a mapping")
    for fmt, record in entry["files"].items():
        if fmt not in TENSOR_FORMATS:
            raise ManifestError(f"{directory}: tensor {name!r}: unknown file format {fmt!r}")
        _check_file_record(directory, record, f"tensor {name!r} {fmt} file")
        if fmt == "hex":
            check_hex_record(entry, record, name=str(directory / record["path"]))


def _check_file_record(directory: Path, record: Any, what: str) -> None:
    if not isinstance(record, dict):
        raise ManifestError(f"{directory}: {what} record is not a mapping: {record!r}")
    member_path(directory, record.get("path"), what=what)
    size, digest = record.get("bytes"), record.get("sha256")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ManifestError(f"{directory}: {what} {record.get('path')!r}: bytes={size!r} is not "
                            "a size")
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise ManifestError(f"{directory}: {what} {record.get('path')!r}: sha256={digest!r} is "
                            "not 64 lower-case hex digits")


def check_hex_record(entry: Mapping, record: Mapping, *, name: str) -> None:
    """A hex file's recorded layout (word width, elements per word, word count) must be the
    layout of the tensor's dtype and element count."""
    word_bits = record.get("word_bits")
    if isinstance(word_bits, bool) or not isinstance(word_bits, int) \
            or not 4 <= word_bits <= MAX_WORD_BITS:
        raise ManifestError(f"{name}: word_bits={word_bits!r} in the manifest is not a width "
                            f"in 4..{MAX_WORD_BITS}")
    count = int(np.prod(entry["shape"], dtype=np.int64)) if entry["shape"] else 1
    try:
        per_word, words = formats.hex_layout(entry["dtype"], word_bits, count)
    except (ValueError, TypeError) as exc:
        raise ManifestError(f"{name}: {exc}") from None
    for key, expected in (("elements_per_word", per_word), ("words", words)):
        if key in record and record[key] != expected:
            raise ManifestError(f"{name}: the manifest says {key}={record[key]!r}, but "
                                f"{count} {entry['dtype']} elements in {word_bits}-bit words "
                                f"make {expected}")
    if record.get("endianness", "little") not in formats.ENDIANNESS:
        raise ManifestError(f"{name}: endianness {record.get('endianness')!r} in the manifest "
                            f"is not one of {list(formats.ENDIANNESS)}")


def member_path(directory: str | os.PathLike, rel: Any, *, what: str = "file") -> Path:
    """``directory / rel`` for a relative path that stays inside ``directory`` (no ``..``, no
    absolute path, no symbolic link leading out); IntegrityError naming it otherwise."""
    directory = Path(directory)
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        raise IntegrityError(f"{directory}: {what} path {rel!r} is not a relative file name")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts:
        raise IntegrityError(f"{directory}: {what} path {rel!r} points outside the folder; "
                             "refused")
    path = directory / rel
    root = directory.resolve()
    if root != path.resolve() and root not in path.resolve().parents:
        raise IntegrityError(f"{directory}: {what} {rel!r} is a link leading outside the "
                             "folder; refused")
    return path


def read_sums(directory: str | os.PathLike) -> dict[str, str]:
    """``{file name: sha256}`` of a folder's SHA256SUMS; IntegrityError when it is missing or a
    line is not ``<64 hex digits>  <name>`` with a name inside the folder."""
    directory = Path(directory)
    path = directory / SUMS_FILE
    if not path.is_file():
        raise IntegrityError(f"{path}: missing; a golden-vector folder lists every file's "
                             "SHA-256 there")
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise IntegrityError(f"{path}: not text") from None
    sums: dict[str, str] = {}
    for lineno, line in enumerate(text.split("\n"), start=1):  # only \n ends a line here
        if not line:
            continue
        m = _SUM_LINE.match(line)
        if not m:
            raise IntegrityError(f"{path}:{lineno}: {line[:80]!r} is not '<sha256>  <file>'")
        digest, name = m.group(1).lower(), m.group(2)
        member_path(directory, name, what=f"{SUMS_FILE} line {lineno}")
        if name in sums:
            raise IntegrityError(f"{path}:{lineno}: {name!r} is listed twice")
        sums[name] = digest
    if not sums:
        raise IntegrityError(f"{path}: lists no file")
    return sums


def verify_sums(directory: str | os.PathLike, manifest: Mapping | None = None) -> int:
    """Check every file SHA256SUMS lists, and that it lists the manifest and every file the
    manifest names with the same digest; return how many files were checked."""
    directory = Path(directory)
    manifest = manifest if manifest is not None else load_manifest(directory)
    sums = read_sums(directory)
    for name, digest in sums.items():
        path = member_path(directory, name, what=SUMS_FILE)
        if not path.is_file():
            raise IntegrityError(f"{path}: listed in {SUMS_FILE} but missing")
        actual = sha256_bytes(path.read_bytes())
        if actual != digest:
            raise ChecksumError(f"{path}: SHA-256 {actual} differs from {SUMS_FILE}'s {digest}")
    wanted = {r["path"]: r["sha256"] for r in _file_records(manifest)}
    wanted.update({m: None for m in ("manifest.json", "manifest.yaml")
                   if (directory / m).exists()})
    for name, digest in wanted.items():
        if name not in sums:
            raise IntegrityError(f"{directory / name}: not listed in {SUMS_FILE}")
        if digest is not None and sums[name] != digest:
            raise IntegrityError(f"{directory / name}: {SUMS_FILE} and the manifest give "
                                 "different SHA-256")
    return len(sums)


def _file_records(manifest: Mapping) -> list[Mapping]:
    return [f for e in manifest["tensors"] for f in e["files"].values()] + \
        list(manifest.get("files", []))


def tensor_entry(manifest: Mapping, name: str) -> dict:
    for entry in manifest["tensors"]:
        if entry["name"] == name:
            return entry
    raise ManifestError(f"tensor {name!r} is not in the manifest; it has "
                        f"{[e['name'] for e in manifest['tensors']]}")


def verify_files(directory: str | os.PathLike, manifest: Mapping | None = None) -> int:
    """Check the folder's integrity: size and SHA-256 of every file the manifest names, and
    SHA256SUMS (:func:`verify_sums`); return how many files the manifest names."""
    directory = Path(directory)
    manifest = manifest if manifest is not None else load_manifest(directory)
    records = _file_records(manifest)
    for record in records:
        _read_verified(directory, record)
    verify_sums(directory, manifest)
    return len(records)


def _read_verified(directory: Path, record: Mapping) -> bytes:
    path = member_path(directory, record["path"])
    if not path.is_file():
        raise ManifestError(f"{path}: file named by the manifest is missing")
    data = path.read_bytes()
    if len(data) != record["bytes"]:
        raise TruncatedFileError(f"{path}: {len(data)} bytes, manifest says {record['bytes']}")
    digest = sha256_bytes(data)
    if digest != record["sha256"]:
        raise ChecksumError(f"{path}: SHA-256 {digest} differs from the manifest's "
                            f"{record['sha256']}")
    return data


def decode_tensor(data: bytes, entry: Mapping, fmt: str, *, name: str,
                  hex_options: Mapping | None = None) -> np.ndarray:
    """Parse one tensor file's bytes in format ``fmt`` and check shape and dtype against its
    manifest ``entry``. ``hex_options`` (word_bits, endianness) default to the entry's hex file
    record, so an external implementation's output is read the way the golden file was written.
    """
    dtype, shape = entry["dtype"], tuple(entry["shape"])
    storage, _ = formats.check_dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    if fmt == "npy":
        array = formats.read_npy(data, name=name)
        if array.dtype != storage:
            raise DtypeMismatchError(f"{name}: dtype {array.dtype.name}, manifest says {dtype} "
                                     f"(stored as {storage.name})")
        if array.shape != shape:
            raise ShapeMismatchError(f"{name}: shape {list(array.shape)}, manifest says "
                                     f"{list(shape)}")
    elif fmt == "hex":
        opts = dict(entry["files"].get("hex", {}))
        opts.update(hex_options or {})
        if "word_bits" not in opts:
            raise ManifestError(f"{name}: no hex word width in the manifest; pass word_bits")
        text = data.decode("ascii", errors="replace")
        array = formats.read_hex(text, dtype, count, word_bits=int(opts["word_bits"]),
                                 endianness=opts.get("endianness", "little"),
                                 name=name).reshape(shape)
    elif fmt == "bin":
        array = formats.read_bin(data, dtype, count, name=name).reshape(shape)
    else:
        raise ValueError(f"fmt={fmt!r}; expected one of {list(TENSOR_FORMATS)}")
    return formats.validate_array(array, dtype, name=name)


def load_tensor(directory: str | os.PathLike, name: str, *, fmt: str = "npy",
                manifest: Mapping | None = None) -> np.ndarray:
    """Read tensor ``name`` of a golden-vector directory from its ``fmt`` file, verified."""
    directory = Path(directory)
    manifest = manifest if manifest is not None else load_manifest(directory)
    entry = tensor_entry(manifest, name)
    if fmt not in entry["files"]:
        raise ManifestError(f"tensor {name!r} has no {fmt!r} file; it has "
                            f"{sorted(entry['files'])}")
    record = entry["files"][fmt]
    data = _read_verified(directory, record)
    return decode_tensor(data, entry, fmt, name=str(directory / record["path"]))
