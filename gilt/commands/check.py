"""``gilt check``: compare outputs with golden vectors; exit 0 on PASS, 1 on FAIL, 2 on bad input.

Examples::

    # an external implementation wrote output.hex (or .npy/.bin) named as in the manifest
    gilt check golden/conv2d_n1_c16_... --results my_rtl_run/ --junit check.xml
    gilt check golden/conv2d_n1_c16_... --result output=sim/out_mem.hex
    # a registered kernel run on the golden inputs
    gilt check golden/matmul_m8_k32_n8_w4a8 --kernel cpu.matmul_int
    # every registered kernel against fresh golden vectors, one line per kernel
    gilt check --all-kernels

Golden folders are verified before anything is compared: the manifest's structure, every
path inside the folder (``../`` and absolute paths refused), size and SHA-256 of every file
against the manifest and against ``SHA256SUMS`` (which must list them all), and each hex file's
word width and word count against its tensor. A tampered, corrupt or truncated folder stops the
check with an error naming the file (exit status 2). A result file of the wrong
shape, dtype or size is a failed comparison with that error, reported like any mismatch.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from gilt import options
from validation import formats
from validation.check import (
    Comparison,
    compare,
    failed_comparison,
    format_report,
    write_junit,
)
from validation.manifest import (
    MAX_WORD_BITS,
    TENSOR_FORMATS,
    GoldenVectorError,
    decode_tensor,
    load_manifest,
    load_tensor,
    tensor_entry,
    verify_files,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("golden", nargs="?", type=Path,
                        help="golden-vector directory written by `gilt golden` (or a folder of "
                             "them, e.g. a network's); its SHA256SUMS and manifest are verified "
                             "first")
    what = parser.add_argument_group("what to check (choose one)")
    what.add_argument("--results", type=Path,
                      help="folder with the implementation's output files, named as in the "
                           "manifest (output.npy, output.hex or output.bin) (default: none)")
    what.add_argument("--result", action="append", metavar="TENSOR=PATH",
                      help="one result file for one tensor, format from the extension "
                           "(repeatable; default: none)")
    what.add_argument("--kernel", help="name of a registered kernel to run on the golden inputs "
                                       "(default: none)")
    what.add_argument("--all-kernels", action="store_true",
                      help="run every registered kernel against fresh golden vectors")
    what.add_argument("--list-kernels", action="store_true", help="list registered kernels")
    opts = parser.add_argument_group("comparison")
    opts.add_argument("--tensor", action="append",
                      help="tensor(s) to compare, repeatable (default: every tensor with role "
                           "'output')")
    opts.add_argument("--format", choices=("auto", *TENSOR_FORMATS), default="auto",
                      help="format of the result files (default: auto, first of npy/hex/bin "
                           "that exists)")
    opts.add_argument("--word-bits", type=options.int_in(4, MAX_WORD_BITS,
                                                         what="a word width in bits"),
                      default=None,
                      help="hex word width of the result files (default: the golden file's)")
    opts.add_argument("--endianness", choices=formats.ENDIANNESS, default=None,
                      help="element order in hex words of the result files (default: golden's)")
    opts.add_argument("--first", type=options.int_in(0, 10**6, what="a count"), default=10,
                      help="mismatches to list")
    opts.add_argument("--rtol", type=options.finite_float(0.0, what="a tolerance"),
                      default=None,
                      help="float tolerance, relative (default: per dtype, e.g. 1e-6 float32)")
    opts.add_argument("--atol", type=options.finite_float(0.0, what="a tolerance"),
                      default=None,
                      help="float tolerance, absolute (default: per dtype)")
    opts.add_argument("--seed", type=options.seed, default=0,
                      help="seed of fresh vectors (--all-kernels)")
    opts.add_argument("--backend", choices=("cpu", "cuda"), default=None,
                      help="with --all-kernels: only this backend's kernels (default: both)")
    opts.add_argument("--junit", type=Path,
                      help="also write a JUnit XML report to this file (default: none)")
    opts.add_argument("--quiet", action="store_true", help="print only the banner")


def golden_dirs(root: Path) -> list[Path]:
    """``root`` itself when it holds a manifest, else its sub-folders that do (sorted)."""
    if (root / "manifest.json").exists() or (root / "manifest.yaml").exists():
        return [root]
    if not root.is_dir():
        raise GoldenVectorError(f"{root}: no such golden-vector directory")
    found = sorted(p.parent for p in root.glob("*/manifest.json"))
    if not found:
        raise GoldenVectorError(f"{root}: no manifest.json here or in its sub-folders; is it a "
                                "directory written by `gilt golden`?")
    return found


def _expected(directory: Path, manifest: Mapping, name: str) -> np.ndarray:
    entry = tensor_entry(manifest, name)
    fmt = next((f for f in TENSOR_FORMATS if f in entry["files"]), None)
    if fmt is None:
        raise GoldenVectorError(f"{directory}: tensor {name!r} has no npy/hex/bin golden file")
    return load_tensor(directory, name, fmt=fmt, manifest=manifest)


def _result_file(results: Path, entry: Mapping, fmt: str) -> tuple[Path, str] | None:
    candidates = TENSOR_FORMATS if fmt == "auto" else (fmt,)
    for f in candidates:
        path = results / entry["files"].get(f, {}).get("path", f"{entry['name']}.{f}")
        if path.is_file():
            return path, f
    return None


def _fmt_of(path: Path) -> str:
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in TENSOR_FORMATS:
        raise ValueError(f"--result {path}: cannot tell the format from the extension; "
                         f"expected one of {['.' + f for f in TENSOR_FORMATS]}")
    return fmt


def check_results(directory: Path, *, results: Path | None = None,
                  result_files: Mapping[str, Path] | None = None, tensors: list[str] | None = None,
                  fmt: str = "auto", hex_options: Mapping | None = None, first_n: int = 10,
                  rtol: float | None = None, atol: float | None = None,
                  prefix: str = "") -> list[Comparison]:
    """Compare an implementation's result files with one golden directory, tensor by tensor."""
    manifest = load_manifest(directory)
    verify_files(directory, manifest)
    result_files = dict(result_files or {})
    names = tensors or [e["name"] for e in manifest["tensors"] if e["role"] == "output"]
    if not names:
        raise GoldenVectorError(f"{directory}: the manifest has no tensor with role 'output'; "
                                "name one with --tensor")
    out = []
    for name in names:
        entry = tensor_entry(manifest, name)
        label = f"{prefix}{name}"
        expected = _expected(directory, manifest, name)
        if name in result_files:
            found = (result_files[name], _fmt_of(result_files[name]))
        else:
            found = _result_file(results, entry, fmt) if results is not None else None
        if found is None:
            wanted = [entry["files"].get(f, {}).get("path", f"{name}.{f}") for f in
                      (TENSOR_FORMATS if fmt == "auto" else (fmt,))]
            out.append(failed_comparison(label, f"no result file in {results}; expected one of "
                                         f"{wanted}", dtype=entry["dtype"], shape=entry["shape"]))
            continue
        path, found_fmt = found
        start = time.perf_counter()
        try:
            got = decode_tensor(path.read_bytes(), entry, found_fmt, name=str(path),
                                hex_options=hex_options)
        except (GoldenVectorError, OSError) as exc:
            out.append(failed_comparison(label, f"{type(exc).__name__}: {exc}",
                                         dtype=entry["dtype"], shape=entry["shape"]))
            continue
        c = compare(got, expected, name=label, first_n=first_n, rtol=rtol, atol=atol)
        out.append(_timed(c, time.perf_counter() - start))
    return out


def _timed(c: Comparison, seconds: float) -> Comparison:
    return replace(c, seconds=seconds)


def _emit(comparisons: list[Comparison], args: argparse.Namespace, title: str,
          banner_of: list[Comparison] | None = None) -> int:
    """Print the report (details of ``comparisons``; banner and JUnit over ``banner_of``, by
    default the same list); return the exit code."""
    everything = comparisons if banner_of is None else banner_of
    banner = format_report(everything).splitlines()[-3:]
    details = format_report(comparisons, title=title).splitlines()[:-3] if comparisons else []
    lines = banner[1:2] if args.quiet else [*details, *banner]
    print("\n".join(lines))
    if args.junit:
        write_junit(args.junit, everything)
    return 0 if everything and all(c.passed for c in everything) else 1


def run(args: argparse.Namespace) -> int:
    try:
        if args.junit is not None:
            from common.files import check_output_file

            check_output_file(args.junit, what="--junit")
        if args.list_kernels or args.all_kernels or args.kernel:
            from validation import kernel_check
            simulated = kernel_check.use_cuda_simulator_without_gpu()
            if args.list_kernels:
                print(kernel_check.list_kernels())
                return 0
            if args.all_kernels:
                print("gilt check --all-kernels: every registered kernel vs fresh golden vectors"
                      + (" (CUDA kernels on Numba's simulator)" if simulated else ""))
                comparisons = kernel_check.check_all_kernels(
                    seed=args.seed, first_n=args.first, backend=args.backend, out=sys.stdout)
                failed = [c for c in comparisons if not c.passed and c.error is None]
                return _emit(failed, args, "details of mismatching kernels:", banner_of=comparisons)
            if args.golden is None:
                raise ValueError("--kernel needs a golden-vector directory")
            comparisons = []
            for d in golden_dirs(args.golden):
                comparisons += kernel_check.check_kernel_on_dir(args.kernel, d,
                                                                first_n=args.first)
            return _emit(comparisons, args, f"gilt check --kernel {args.kernel} {args.golden}")
        if args.golden is None:
            raise ValueError("give a golden-vector directory (or --all-kernels)")
        if args.results is None and not args.result:
            raise ValueError("say what to check: --results DIR, --result TENSOR=PATH, --kernel "
                             "NAME or --all-kernels")
        result_files = {}
        for item in args.result or []:
            name, sep, path = item.partition("=")
            if not sep:
                raise ValueError(f"--result {item!r}: expected TENSOR=PATH")
            result_files[name] = Path(path)
        hex_options = {k: v for k, v in (("word_bits", args.word_bits),
                                         ("endianness", args.endianness)) if v is not None}
        dirs = golden_dirs(args.golden)
        comparisons = []
        for d in dirs:
            rel = d.relative_to(args.golden) if d != args.golden else Path()
            comparisons += check_results(
                d, results=(args.results / rel) if args.results else None,
                result_files=result_files, tensors=args.tensor, fmt=args.format,
                hex_options=hex_options, first_n=args.first, rtol=args.rtol, atol=args.atol,
                prefix="" if len(dirs) == 1 else f"{rel}/")
        return _emit(comparisons, args, f"gilt check {args.golden}")
    except (GoldenVectorError, ValueError, TypeError, LookupError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"gilt check: error: {type(exc).__name__}: {message}", file=sys.stderr)
        return 2
