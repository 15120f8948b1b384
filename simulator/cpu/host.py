"""The machine this runs on, as a :class:`CpuSpec` named ``host``.

The closest preset is picked from the ``/proc/cpuinfo`` vendor and ISA flags:

=====================================================  =================
AMD, ``avx512_vnni`` and ``avx512_vp2intersect``        ``zen5-epyc``
AMD, ``avx512_vnni``                                    ``zen4-epyc``
Intel, ``amx_tile``                                     ``sapphire-rapids``
Intel, ``avx512_vnni``                                  ``icelake-sp``
Intel, ``avx512f``                                      ``skylake-sp``
anything with ``avx2``                                  ``avx2-desktop``
=====================================================  =================

Then the core count (logical processors the OS gives us; on a VM these are the vCPUs we may
use), the cache sizes (``/sys/devices/system/cpu/cpu0/cache``) and, when the kernel exposes it,
the maximum clock (``cpufreq/cpuinfo_max_freq``) replace the preset's values. DRAM bandwidth is
scaled by the share of the preset's cores we have (a VM gets a slice of the socket). A measured
clock can be passed in (``host_spec(clock_mhz=...)``): ``cpu MHz`` in ``/proc/cpuinfo`` is the
nominal TSC rate on most VMs, not the boost clock vector code runs at.
"""

from __future__ import annotations

from pathlib import Path

from simulator.cpu.spec import PRESETS_DIR, CpuSpec
from simulator.spec import load_spec

CPUINFO = Path("/proc/cpuinfo")
SYSFS_CPU0 = Path("/sys/devices/system/cpu/cpu0")


def parse_cpuinfo(text: str) -> tuple[str, set[str], int]:
    """``(vendor_id, flags, logical processors)`` from the text of ``/proc/cpuinfo``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    vendor, flags, count = "", set(), 0
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "processor":
            count += 1
        elif key == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    if count == 0 or not flags:
        raise ValueError("cpuinfo text has no 'processor' or 'flags' lines; expected the "
                         "contents of /proc/cpuinfo on x86 Linux")
    return vendor, flags, count


def preset_for_flags(vendor: str, flags: set[str]) -> str:
    """Name of the preset closest to a CPU with ``vendor`` and ISA ``flags`` (table above)."""
    amd = "AMD" in vendor
    if "avx512f" in flags:
        if amd:
            if "avx512_vnni" in flags and "avx512_vp2intersect" in flags:
                return "zen5-epyc"
            return "zen4-epyc"
        if "amx_tile" in flags:
            return "sapphire-rapids"
        if "avx512_vnni" in flags:
            return "icelake-sp"
        return "skylake-sp"
    if "avx2" in flags and "fma" in flags:
        return "avx2-desktop"
    raise ValueError(f"no preset models a CPU without AVX2+FMA (vendor {vendor!r}); "
                     "give a YAML spec instead")


def _cache_sizes(sysfs_cpu: Path) -> dict[str, float]:
    sizes: dict[str, float] = {}
    for index in sorted(sysfs_cpu.glob("cache/index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        if kind == "Instruction" or not size[:-1].isdigit():
            continue
        kib = float(size[:-1]) * (1024 if size.endswith("M") else 1)
        if level == "1":
            sizes["l1d_kib"] = kib
        elif level == "2":
            sizes["l2_kib"] = kib
        elif level == "3":
            sizes["l3_mib"] = kib / 1024
    return sizes


def host_spec(*, clock_mhz: float | None = None, cpuinfo_text: str | None = None,
              sysfs_cpu: Path = SYSFS_CPU0) -> CpuSpec:
    """A :class:`CpuSpec` named ``host`` for this machine (see module docstring)."""

    text = cpuinfo_text if cpuinfo_text is not None else CPUINFO.read_text()
    vendor, flags, count = parse_cpuinfo(text)
    preset = load_spec(CpuSpec, preset_for_flags(vendor, flags), presets_dir=PRESETS_DIR)
    changes: dict = {"name": "host", "cores": count,
                     "dram_bw_gb_per_s": preset.dram_bw_gb_per_s * min(1.0, count / preset.cores)}
    changes.update(_cache_sizes(sysfs_cpu))
    if clock_mhz is None:
        max_freq = sysfs_cpu / "cpufreq" / "cpuinfo_max_freq"
        if max_freq.exists():
            clock_mhz = int(max_freq.read_text().strip()) / 1000
    if clock_mhz is not None:
        if isinstance(clock_mhz, bool) or not isinstance(clock_mhz, (int, float)) \
                or clock_mhz <= 0:
            raise ValueError(f"clock_mhz must be a positive number, got {clock_mhz!r}")
        changes["clock_mhz"] = float(clock_mhz)
        if preset.avx512_clock_mhz is not None:
            changes["avx512_clock_mhz"] = float(clock_mhz) * (
                preset.avx512_clock_mhz / preset.clock_mhz)
    return preset.replace(**changes)


def host_preset_name(cpuinfo_text: str | None = None) -> str:
    """Which preset the host was matched to."""
    text = cpuinfo_text if cpuinfo_text is not None else CPUINFO.read_text()
    vendor, flags, _ = parse_cpuinfo(text)
    return preset_for_flags(vendor, flags)
