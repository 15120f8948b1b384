"""Compare an implementation's output with golden vectors, and say exactly where it is wrong.

Integers are compared exactly (``np.array_equal``; no tolerance, ever). Floats pass within a
per-dtype tolerance ``|got - expected| <= atol + rtol * |expected|`` (NaN equals NaN only at the
same place, an infinity only itself). A :class:`Comparison` holds the mismatch count out of the
total, the first N mismatches (multi-dimensional index, got, expected), the largest absolute error,
the largest error in LSBs (integers: units of 1; floats: units in the last place of the expected
value's dtype), and a histogram of the signed error (integers: ``got - expected`` per distinct
value, which shows a rounding bug as a spike at +1 or -1; floats: by decade of the absolute error).
:func:`format_report` prints it with a PASS/FAIL banner; :func:`junit_xml` writes JUnit XML.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from common.files import write_text_atomic

#: float dtype -> (rtol, atol) used when the caller gives none
FLOAT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-3, 1e-3),
    "float32": (1e-6, 1e-6),
    "float64": (1e-12, 1e-12),
}
#: at most this many distinct integer error values are listed one by one in the histogram
_HISTOGRAM_DISTINCT = 16


@dataclass(frozen=True)
class Mismatch:
    index: tuple[int, ...]
    got: int | float
    expected: int | float


@dataclass(frozen=True)
class Comparison:
    """Outcome of comparing one tensor. ``error`` is set when it could not be compared at all
    (shape or dtype differ, file unreadable); such a comparison fails."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    total: int
    mismatches: int
    first: tuple[Mismatch, ...] = ()
    max_abs_error: float = 0.0
    max_lsb_error: float = 0.0
    histogram: tuple[tuple[str, int], ...] = ()
    tolerance: tuple[float, float] | None = None
    error: str | None = None
    #: time of the comparison, or of the kernel's run (its second call) in kernel checks
    seconds: float = 0.0
    #: kernel checks: time of the first call minus the second (Numba's JIT compile), else None
    compile_seconds: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.error is None and self.mismatches == 0


def failed_comparison(name: str, error: str, *, dtype: str = "?",
                      shape: Sequence[int] = ()) -> Comparison:
    """A comparison that could not run (missing file, wrong shape ...): it fails with ``error``."""
    return Comparison(name=name, dtype=dtype, shape=tuple(shape), total=0, mismatches=0,
                      error=error)


def compare(got: np.ndarray, expected: np.ndarray, *, name: str = "output",
            first_n: int = 10, rtol: float | None = None, atol: float | None = None) -> Comparison:
    """Compare ``got`` with ``expected``: exact for integers, tolerance for floats.

    Shape and dtype must be equal (a uint8 result is not an int8 one even if the numbers agree);
    otherwise the comparison fails with ``error`` naming both. ``rtol``/``atol`` default to
    :data:`FLOAT_TOLERANCES` and are refused for integer dtypes.
    """
    got, expected = np.asarray(got), np.asarray(expected)
    dtype = expected.dtype.name
    if got.shape != expected.shape:
        return failed_comparison(name, f"shape {list(got.shape)} differs from expected "
                                 f"{list(expected.shape)}", dtype=dtype, shape=expected.shape)
    if got.dtype != expected.dtype:
        return failed_comparison(name, f"dtype {got.dtype.name} differs from expected {dtype}",
                                 dtype=dtype, shape=expected.shape)
    if isinstance(first_n, bool) or not isinstance(first_n, int) or first_n < 0:
        raise ValueError(f"first_n={first_n!r} must be an int >= 0")
    is_float = np.issubdtype(expected.dtype, np.floating)
    tolerance = None
    if is_float:
        default_rtol, default_atol = FLOAT_TOLERANCES.get(dtype, (1e-6, 1e-6))
        tolerance = (default_rtol if rtol is None else float(rtol),
                     default_atol if atol is None else float(atol))
        if not all(np.isfinite(t) and t >= 0 for t in tolerance):
            raise ValueError(f"rtol/atol must be finite and >= 0, got {tolerance}")
        g64, e64 = got.astype(np.float64), expected.astype(np.float64)
        with np.errstate(invalid="ignore"):
            diff = np.abs(g64 - e64)
            finite = np.isfinite(g64) & np.isfinite(e64)
            ok = (finite & (diff <= tolerance[1] + tolerance[0] * np.abs(e64))) | (g64 == e64)
        ok |= np.isnan(g64) & np.isnan(e64)  # an infinity matches only itself, NaN only NaN
        bad = ~ok
        finite_diff = np.where(np.isfinite(diff), diff, 0.0)
        spacing = np.abs(np.spacing(expected.astype(expected.dtype))).astype(np.float64)
        lsb = np.where(bad & np.isfinite(diff), finite_diff / np.maximum(spacing, 1e-300), 0.0)
        max_abs = float(np.inf if (bad & ~np.isfinite(diff)).any() else
                        (finite_diff[bad].max() if bad.any() else finite_diff.max(initial=0.0)))
        max_lsb = float(lsb.max(initial=0.0))
        histogram = _float_histogram(diff[bad])
    else:
        if rtol is not None or atol is not None:
            raise ValueError(f"{name}: integer dtype {dtype} is compared exactly; rtol/atol are "
                             "only for floats")
        delta = got.astype(np.int64) - expected.astype(np.int64)
        bad = delta != 0
        max_abs = float(np.abs(delta).max(initial=0))
        max_lsb = max_abs
        histogram = _int_histogram(delta[bad])
    count = int(bad.sum())
    first = []
    if count:
        flat_positions = np.flatnonzero(bad.reshape(-1))[:first_n]
        for pos in flat_positions.tolist():
            idx = tuple(int(i) for i in np.unravel_index(pos, expected.shape))
            first.append(Mismatch(idx, got.reshape(-1)[pos].item(),
                                  expected.reshape(-1)[pos].item()))
    return Comparison(name=name, dtype=dtype, shape=tuple(expected.shape),
                      total=int(expected.size), mismatches=count, first=tuple(first),
                      max_abs_error=max_abs, max_lsb_error=max_lsb, histogram=histogram,
                      tolerance=tolerance)


def _int_histogram(delta: np.ndarray) -> tuple[tuple[str, int], ...]:
    counts = Counter(delta.tolist())
    if len(counts) <= _HISTOGRAM_DISTINCT:
        return tuple((f"{k:+d}", v) for k, v in sorted(counts.items()))
    bins: Counter = Counter()
    for value, n in counts.items():
        magnitude = abs(value)
        lo = 1 << (magnitude.bit_length() - 1)  # power-of-two bins: 1, 2-3, 4-7, ...
        hi = 2 * lo - 1
        label = f"{'+' if value > 0 else '-'}[{lo},{hi}]" if hi > lo else f"{value:+d}"
        bins[(np.sign(value) * lo, label)] += n
    return tuple((label, n) for (_, label), n in sorted(bins.items()))


def _float_histogram(diff: np.ndarray) -> tuple[tuple[str, int], ...]:
    bins: Counter = Counter()
    for d in diff.tolist():
        if not np.isfinite(d):
            bins[(np.inf, "nan/inf")] += 1
        elif d == 0:
            bins[(-np.inf, "0")] += 1
        else:
            e = int(np.floor(np.log10(d)))
            bins[(e, f"[1e{e},1e{e + 1})")] += 1
    return tuple((label, n) for (_, label), n in sorted(bins.items()))


def _short(value) -> str:
    return f"{value:.9g}" if isinstance(value, float) else str(value)


def format_comparison(c: Comparison) -> list[str]:
    """Human-readable lines of one comparison (no banner)."""
    head = f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.dtype} {list(c.shape)}"
    if c.error:
        return [f"{head}  ERROR: {c.error}"]
    tol = "exact" if c.tolerance is None else f"rtol={c.tolerance[0]:g} atol={c.tolerance[1]:g}"
    lines = [f"{head}  {c.mismatches}/{c.total} mismatches ({tol})"]
    if c.mismatches:
        lines.append(f"    max abs error {_short(c.max_abs_error)}, max LSB error "
                     f"{_short(c.max_lsb_error)}")
        lines.append("    first mismatches (index: got vs expected):")
        lines += [f"      {list(m.index)}: {_short(m.got)} vs {_short(m.expected)}"
                  for m in c.first]
        lines.append("    error histogram (" + ("got - expected" if c.tolerance is None else
                                               "|error|") + "): "
                     + ", ".join(f"{label}: {n}" for label, n in c.histogram))
    return lines


def format_report(comparisons: Sequence[Comparison], *, title: str = "gilt check") -> str:
    """Report of several comparisons ending in a PASS/FAIL banner."""
    lines = [title]
    for c in comparisons:
        lines += format_comparison(c)
    passed = bool(comparisons) and all(c.passed for c in comparisons)
    n_fail = sum(not c.passed for c in comparisons)
    bar = "=" * 60
    verdict = (f"PASS: {len(comparisons)} tensor(s) match the golden vectors" if passed else
               f"FAIL: {n_fail} of {len(comparisons)} comparison(s) failed" if comparisons else
               "FAIL: nothing was compared")
    lines += [bar, verdict, bar]
    return "\n".join(lines) + "\n"


def junit_xml(comparisons: Sequence[Comparison], *, suite: str = "gilt-check") -> str:
    """JUnit XML (one testsuite, one testcase per comparison) as CI systems read it."""
    failures = sum(1 for c in comparisons if c.error is None and not c.passed)
    errors = sum(1 for c in comparisons if c.error is not None)
    root = ET.Element("testsuite", name=suite, tests=str(len(comparisons)),
                      failures=str(failures), errors=str(errors),
                      time=f"{sum(c.seconds for c in comparisons):.3f}")
    for c in comparisons:
        case = ET.SubElement(root, "testcase", classname=suite, name=c.name,
                             time=f"{c.seconds:.3f}")
        if c.error is not None:
            node = ET.SubElement(case, "error", message=c.error, type="GoldenVectorError")
            node.text = c.error
        elif not c.passed:
            node = ET.SubElement(case, "failure", type="Mismatch",
                                 message=f"{c.mismatches}/{c.total} mismatches, max abs error "
                                         f"{_short(c.max_abs_error)}")
            node.text = "\n".join(format_comparison(c))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def write_junit(path: str | os.PathLike, comparisons: Sequence[Comparison], *,
                suite: str = "gilt-check") -> None:
    write_text_atomic(path, junit_xml(comparisons, suite=suite))
