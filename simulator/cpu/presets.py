"""The one loader of CPU specs: a preset name, ``"host"`` (this machine, detected by
:mod:`simulator.cpu.host`), a YAML path, a dict or a :class:`CpuSpec`."""

from __future__ import annotations

from simulator.cpu.host import host_spec
from simulator.cpu.spec import PRESETS_DIR, CpuSpec
from simulator.spec import list_presets, load_spec


def load_cpu_spec(source) -> CpuSpec:
    """A :class:`CpuSpec` from a preset name, ``"host"``, a YAML path or a dict. ``host`` is
    this machine: detected, then calibrated by microbenchmarks on first use and cached
    (:mod:`simulator.cpu.calibrate`; ``GILT_HOST_CALIBRATION=0`` skips the measuring)."""
    if isinstance(source, CpuSpec):
        return source
    if source == "host":
        from simulator.cpu.calibrate import calibrated_host_spec
        from simulator.cpu.host import CPUINFO

        return calibrated_host_spec(host_spec(), CPUINFO.read_text())
    return load_spec(CpuSpec, source, presets_dir=PRESETS_DIR)


def cpu_presets() -> list[str]:
    """Preset names (``host`` is always available besides these)."""
    return list_presets(PRESETS_DIR)
