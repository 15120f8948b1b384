"""The checker: exact integers, per-dtype float tolerance, mismatch details, histogram, JUnit."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from validation.check import compare, format_report, junit_xml, write_junit


def test_equal_integers_pass():
    a = np.arange(-10, 14, dtype=np.int8).reshape(2, 3, 4)
    c = compare(a, a.copy())
    assert c.passed and c.mismatches == 0 and c.total == 24 and c.max_abs_error == 0
    assert "PASS" in format_report([c]).splitlines()[-2]


def test_integer_mismatches_are_located_and_measured():
    expected = np.zeros((2, 3, 4), np.int8)
    got = expected.copy()
    got[0, 1, 2] = 1      # +1 LSB: a rounding-direction bug
    got[1, 0, 0] = -1
    got[1, 2, 3] = 127    # far off
    c = compare(got, expected, name="y", first_n=2)
    assert not c.passed and c.mismatches == 3 and c.total == 24
    assert [(m.index, m.got, m.expected) for m in c.first] == [((0, 1, 2), 1, 0),
                                                                ((1, 0, 0), -1, 0)]
    assert c.max_abs_error == 127 and c.max_lsb_error == 127
    assert dict(c.histogram) == {"-1": 1, "+1": 1, "+127": 1}
    report = format_report([c])
    assert "3/24 mismatches (exact)" in report and "[0, 1, 2]: 1 vs 0" in report
    assert report.splitlines()[-2] == "FAIL: 1 of 1 comparison(s) failed"


def test_int32_extremes_do_not_overflow_the_error():
    expected = np.array([2**31 - 1], np.int32)
    got = np.array([-(2**31)], np.int32)
    c = compare(got, expected)
    assert c.max_abs_error == 2**32 - 1


def test_many_distinct_integer_errors_are_binned_by_powers_of_two():
    expected = np.zeros(100, np.int32)
    got = np.arange(100, dtype=np.int32) - 50
    c = compare(got, expected)
    hist = dict(c.histogram)
    assert hist["+[32,63]"] == 18 and hist["-[32,63]"] == 19 and hist["+1"] == 1
    assert sum(hist.values()) == c.mismatches == 99


def test_shape_and_dtype_differences_fail_with_a_reason():
    a = np.zeros((2, 3), np.int8)
    c = compare(a.reshape(3, 2), a)
    assert not c.passed and "shape [3, 2] differs from expected [2, 3]" in c.error
    c = compare(a.astype(np.uint8), a)
    assert not c.passed and "dtype uint8 differs from expected int8" in c.error
    assert "ERROR" in format_report([c])


def test_float_tolerance_per_dtype_and_nan_inf():
    expected = np.array([1.0, 2.0, np.nan, np.inf, 0.0], np.float32)
    within = expected + np.array([5e-7, 0, 0, 0, 0], np.float32)
    assert compare(within, expected).passed
    off = expected.copy()
    off[0] = np.nextafter(np.float32(1.0), np.float32(2.0)) + np.float32(1e-5)
    off[3] = -np.inf
    c = compare(off, expected)
    assert c.mismatches == 2 and [m.index for m in c.first] == [(0,), (3,)]
    assert c.max_abs_error == np.inf
    c = compare(off[:1], expected[:1])
    assert c.max_lsb_error == pytest.approx(c.max_abs_error / np.spacing(np.float32(1.0)))
    assert compare(off[:1], expected[:1], rtol=1e-3).passed
    h = np.array([1.0], np.float16)
    assert compare(h + np.float16(0.0009765625), h).passed  # 1 ulp of float16 at 1.0


def test_tolerance_is_refused_for_integers():
    a = np.zeros(3, np.int8)
    with pytest.raises(ValueError, match="compared exactly"):
        compare(a, a, rtol=0.1)
    with pytest.raises(ValueError, match="first_n"):
        compare(a, a, first_n=-1)


@given(st.lists(st.integers(-128, 127), min_size=1, max_size=50),
       st.lists(st.integers(-3, 3), min_size=1, max_size=50))
def test_mismatch_count_equals_number_of_changed_elements(values, deltas):
    expected = np.array(values, np.int16)
    delta = np.resize(np.array(deltas, np.int16), expected.shape)
    c = compare(expected + delta, expected)
    assert c.mismatches == int(np.count_nonzero(delta))
    assert c.max_abs_error == int(np.abs(delta).max())
    assert sum(n for _, n in c.histogram) == c.mismatches


def test_junit_xml_counts_failures_and_errors(tmp_path):
    a = np.zeros(4, np.int8)
    b = a.copy()
    b[1] = 3
    comparisons = [compare(a, a, name="ok"), compare(b, a, name="bad"),
                   compare(a.reshape(2, 2), a, name="broken")]
    root = ET.fromstring(junit_xml(comparisons, suite="s"))
    assert root.tag == "testsuite" and root.attrib["tests"] == "3"
    assert root.attrib["failures"] == "1" and root.attrib["errors"] == "1"
    cases = {c.attrib["name"]: c for c in root.iter("testcase")}
    assert cases["ok"].find("failure") is None
    assert "1/4 mismatches" in cases["bad"].find("failure").attrib["message"]
    assert "shape" in cases["broken"].find("error").attrib["message"]
    write_junit(tmp_path / "r.xml", comparisons)
    assert ET.parse(tmp_path / "r.xml").getroot().attrib["tests"] == "3"


def test_empty_report_fails():
    assert format_report([]).splitlines()[-2] == "FAIL: nothing was compared"
