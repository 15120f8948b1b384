"""Root pytest configuration.

NUMBA_ENABLE_CUDASIM must be set before numba is first imported, so the CUDA kernels run on
Numba's simulator (no GPU here or in CI). It does not change @njit CPU code.
"""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

from hypothesis import HealthCheck, settings  # noqa: E402

# deadline=None: the first example of a test often pays a Numba JIT compile.
settings.register_profile(
    "gilt", deadline=None, max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("gilt-thorough", parent=settings.get_profile("gilt"), max_examples=400)
# CI (CI=true) runs the same examples every time, so a landing never depends on luck; local runs
# keep exploring, and whatever they find becomes a plain regression test.
settings.register_profile("gilt-ci", parent=settings.get_profile("gilt"), derandomize=True,
                          print_blob=True)
_default = "gilt-ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "gilt"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))
