"""Every kernel of kernels.registry against its reference operator, bit for bit.

One table (the registry) pairs the backends by operator name; the arguments come from one
strategy per operator (tests/kernels/cases.py). CPU kernels run compiled; CUDA kernels run on
Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, set by the root conftest.py), which is slow,
so they get tiny odd shapes and fewer examples.
"""

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.registry import KERNELS
from tests.kernels.cases import CASES

CPU = [s for s in KERNELS if s.backend == "cpu" and s.op in CASES]
CUDA = [s for s in KERNELS if s.backend == "cuda" and s.op in CASES]


def _check(spec, case):
    args, kwargs = case
    ref = spec.load_reference()(*args, **kwargs)
    with warnings.catch_warnings():
        # the simulator runs int32 arithmetic as NumPy scalars, which warn when they wrap
        warnings.simplefilter("ignore", RuntimeWarning)
        out = spec.run(*args, **kwargs)
    problems = spec.compare(out, ref)
    assert not problems, f"{spec.name} differs from {spec.reference}: {problems}"


@pytest.mark.parametrize("spec", CPU, ids=lambda s: s.name)
@given(data=st.data())
def test_cpu_kernel_equals_reference(spec, data):
    _check(spec, data.draw(CASES[spec.op](small=False), label="case"))


@pytest.mark.parametrize("spec", CUDA, ids=lambda s: s.name)
@settings(max_examples=10)
@given(data=st.data())
def test_cuda_kernel_equals_reference_on_simulator(spec, data):
    _check(spec, data.draw(CASES[spec.op](small=True), label="case"))
