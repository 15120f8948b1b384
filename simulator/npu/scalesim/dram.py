"""DRAM timing for SCALE-Sim mode: its fixed-latency default and its Ramulator hook.

SCALE-Sim 3.0.0 times DRAM in one of two ways, both reproduced by :mod:`.memory`:

* **fixed latency** (its default, and always in CALC mode): a read request line returns one
  cycle after it is issued, a write line in the cycle it is issued; the interface bandwidth
  (words per line) is the only limit.
* **Ramulator latencies** (``UseRamulatorTrace: True`` in USER mode): SCALE-Sim's scripts run
  Ramulator on the DRAM traces of a first, fixed-latency run and save each port's per-line
  round-trip latencies as ``results/_ifmapFile<L>.npy``, ``_filterFile<L>.npy`` and
  ``_ofmapFile<L>.npy`` (layer ``L``; its ``scripts/dram_latency.py``). A rerun takes the k-th
  latency for the k-th request line of each port (the fixed latency once a file runs out, and
  for values over 10000); returned lines wait in a request buffer of ``ReadRequestBuffer`` /
  ``WriteRequestBuffer`` entries, and a full buffer stalls the port until its earliest line
  returns. :func:`load_ramulator_latencies` reads those files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

PORT_FILES = ("_ifmapFile{}.npy", "_filterFile{}.npy", "_ofmapFile{}.npy")


def load_ramulator_latencies(results_dir: str | os.PathLike, layer_id: int) -> tuple:
    """The (ifmap, filter, ofmap) latency arrays of one layer from SCALE-Sim's Ramulator
    ``results`` directory; ValueError naming a missing or non-integer file."""
    out = []
    for pattern in PORT_FILES:
        path = Path(results_dir) / pattern.format(layer_id)
        if not path.exists():
            raise ValueError(f"Ramulator latency file {str(path)!r} does not exist (SCALE-Sim "
                             "reads results/_ifmapFile<L>.npy, _filterFile<L>.npy and "
                             "_ofmapFile<L>.npy from its working directory)")
        try:
            values = np.asarray(np.load(path, allow_pickle=False)).ravel()
        except ValueError as exc:
            raise ValueError(f"Ramulator latency file {path.name}: {exc}") from None
        if values.size and not np.array_equal(values, np.round(values)):
            raise ValueError(f"Ramulator latency file {path.name}: latencies must be whole "
                             "cycles")
        out.append(values.astype(np.int64))
    return tuple(out)
