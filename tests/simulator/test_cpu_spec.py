"""CpuSpec: presets load, throughput per dtype from first principles, bad specs named."""

from pathlib import Path

import pytest
import yaml

from simulator.cpu.host import host_spec, parse_cpuinfo, preset_for_flags
from simulator.cpu.presets import cpu_presets, load_cpu_spec
from simulator.cpu.spec import PRESETS_DIR, CpuSpec

EXPECTED_PRESETS = {"avx2-desktop", "skylake-sp", "icelake-sp", "sapphire-rapids", "zen4-epyc",
                    "zen5-epyc"}


def _preset_dict(name="skylake-sp"):
    data = yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text())
    data.pop("sources")
    return data


def test_all_presets_load_and_cite_sources():
    assert EXPECTED_PRESETS <= set(cpu_presets())
    for name in EXPECTED_PRESETS:
        spec = load_cpu_spec(name)
        assert spec.name == name
        raw = yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text())
        assert isinstance(raw["sources"], dict) and len(raw["sources"]) >= 8
        for key in ("cores", "clock_mhz", "fma_units", "l1d_kib", "dram_bw_gb_per_s"):
            assert key in raw["sources"], (name, key)


@pytest.mark.parametrize("preset, dtype, isa, expected", [
    # fp32: instructions/cycle x 32-bit lanes
    ("skylake-sp", "fp32", "avx512", 2 * 16),     # two 512-bit FMA units
    ("skylake-sp", "fp32", "avx2", 2 * 8),
    ("zen4-epyc", "fp32", "avx512", 1 * 16),      # 2 x 256-bit pipes: one zmm FMA per cycle
    ("zen5-epyc", "fp32", "avx512", 2 * 16),
    ("avx2-desktop", "fp32", "scalar", 2),        # scalar FMA on both pipes
    # int8 VNNI: vpdpbusd = 4 MACs per 32-bit lane
    ("icelake-sp", "int8", "avx512", 2 * 16 * 4),
    ("zen4-epyc", "int8", "avx512", 1 * 16 * 4),
    ("zen5-epyc", "int8", "avx2", 2 * 8 * 4),
    # int8 without VNNI: two multiplier instructions per 4 MACs per lane
    ("skylake-sp", "int8", "avx512", 2 / 2 * 16 * 4),
    ("avx2-desktop", "int8", "avx2", 2 / 2 * 8 * 4),
    ("avx2-desktop", "int8", "scalar", 1),
])
def test_macs_per_cycle_from_units_and_widths(preset, dtype, isa, expected):
    assert load_cpu_spec(preset).macs_per_cycle(dtype, isa) == expected


def test_vnni_forced_on_a_cpu_without_it_is_an_error():
    with pytest.raises(ValueError, match="vnni_bits=0"):
        load_cpu_spec("skylake-sp").macs_per_cycle("int8", "avx512", int8_path="vnni")
    with pytest.raises(ValueError, match="int8_path"):
        load_cpu_spec("icelake-sp").macs_per_cycle("int8", "avx512", int8_path="dp4a")
    with pytest.raises(ValueError, match="dtype"):
        load_cpu_spec("icelake-sp").macs_per_cycle("bf16", "avx512")


def test_avx512_on_an_avx2_part_is_an_error():
    with pytest.raises(ValueError, match="vector_bits=256"):
        load_cpu_spec("avx2-desktop").isa_bits("avx512")
    with pytest.raises(ValueError, match="isa must be one of"):
        load_cpu_spec("avx2-desktop").isa_bits("sse")


def test_avx512_licence_clock():
    spec = load_cpu_spec("skylake-sp")
    assert spec.clock_hz_for("avx512") == 2300e6
    assert spec.clock_hz_for("avx2") == 2800e6
    assert load_cpu_spec("zen5-epyc").clock_hz_for("avx512") == 3700e6  # no licence: same


def test_unknown_and_missing_keys_are_named():
    data = _preset_dict()
    data["l4_mib"] = 1
    with pytest.raises(ValueError, match="unknown key.*l4_mib"):
        load_cpu_spec(data)
    data = _preset_dict()
    del data["fma_units"]
    with pytest.raises(ValueError, match="missing required key.*fma_units"):
        load_cpu_spec(data)
    with pytest.raises(ValueError, match="preset 'nope' not found"):
        load_cpu_spec("nope")


@pytest.mark.parametrize("key, value, match", [
    ("vector_bits", 384, "vector_bits must be 256"),
    ("vnni_bits", 512, "vnni_bits"),           # avx2-desktop has 256-bit vectors
    ("cores", 0, "cores must be a positive int"),
    ("clock_mhz", -1.0, "clock_mhz must be a positive number"),
    ("vector_registers", 8, "vector_registers must be 16 or 32"),
    ("fma_bits_per_cycle", 300, "multiple of 128"),
])
def test_bad_values_raise_naming_key_and_value(key, value, match):
    data = _preset_dict("avx2-desktop")
    data[key] = value
    with pytest.raises(ValueError, match=match):
        load_cpu_spec(data)


def test_wrong_type_is_a_type_error():
    data = _preset_dict()
    data["cores"] = "many"
    with pytest.raises(TypeError, match="cores"):
        load_cpu_spec(data)


def test_yaml_file_path_loads(tmp_path):
    data = _preset_dict("zen4-epyc")
    data["name"] = "my-cpu"
    data["cores"] = 4
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump(data))
    spec = load_cpu_spec(str(path))
    assert isinstance(spec, CpuSpec) and spec.name == "my-cpu" and spec.cores == 4


CPUINFO = """processor\t: 0
vendor_id\t: {vendor}
flags\t\t: fpu sse2 avx2 fma {extra}

processor\t: 1
vendor_id\t: {vendor}
flags\t\t: fpu sse2 avx2 fma {extra}
"""


@pytest.mark.parametrize("vendor, extra, preset", [
    ("AuthenticAMD", "avx512f avx512_vnni avx512_vp2intersect", "zen5-epyc"),
    ("AuthenticAMD", "avx512f avx512_vnni", "zen4-epyc"),
    ("GenuineIntel", "avx512f avx512_vnni amx_tile", "sapphire-rapids"),
    ("GenuineIntel", "avx512f avx512_vnni", "icelake-sp"),
    ("GenuineIntel", "avx512f", "skylake-sp"),
    ("GenuineIntel", "", "avx2-desktop"),
])
def test_host_preset_from_flags(vendor, extra, preset):
    v, flags, count = parse_cpuinfo(CPUINFO.format(vendor=vendor, extra=extra))
    assert count == 2 and v == vendor
    assert preset_for_flags(v, flags) == preset


def test_host_spec_takes_cores_caches_and_clock_from_the_machine(tmp_path):
    for index, (level, kind, size) in enumerate([("1", "Data", "48K"), ("1", "Instruction", "32K"),
                                                 ("2", "Unified", "1024K"),
                                                 ("3", "Unified", "32768K")]):
        d = tmp_path / "cache" / f"index{index}"
        d.mkdir(parents=True)
        (d / "level").write_text(level)
        (d / "type").write_text(kind)
        (d / "size").write_text(size)
    text = CPUINFO.format(vendor="AuthenticAMD", extra="avx512f avx512_vnni avx512_vp2intersect")
    spec = host_spec(clock_mhz=4000, cpuinfo_text=text, sysfs_cpu=Path(tmp_path))
    zen5 = load_cpu_spec("zen5-epyc")
    assert spec.name == "host" and spec.cores == 2 and spec.clock_mhz == 4000
    assert (spec.l1d_kib, spec.l2_kib, spec.l3_mib) == (48, 1024, 32)
    assert spec.dram_bw_gb_per_s == pytest.approx(zen5.dram_bw_gb_per_s * 2 / zen5.cores)
    with pytest.raises(ValueError, match="clock_mhz"):
        host_spec(clock_mhz=-5, cpuinfo_text=text, sysfs_cpu=Path(tmp_path))


def test_bad_cpuinfo_is_an_error():
    with pytest.raises(ValueError, match="no 'processor'"):
        parse_cpuinfo("nothing here")
    with pytest.raises(TypeError, match="text must be a str"):
        parse_cpuinfo(None)
    with pytest.raises(ValueError, match="without AVX2"):
        preset_for_flags("GenuineIntel", {"sse2"})


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists()
                    or " avx2 " not in Path("/proc/cpuinfo").read_text(),
                    reason="needs x86 Linux with AVX2")
def test_host_loads_on_this_machine(monkeypatch):
    monkeypatch.setenv("GILT_HOST_CALIBRATION", "0")     # detection only: no microbenchmarks
    spec = load_cpu_spec("host")
    assert spec.name == "host" and spec.cores >= 1


# --------------------------------------------------------------- per-host calibration
def test_host_calibration_is_measured_once_and_cached(tmp_path, monkeypatch):
    from simulator.cpu import calibrate

    calls = []

    def fake_measure(spec):
        calls.append(spec.name)
        return ({"clock_mhz": 3000.0, "l2_bw_bytes_per_cycle": 20.0,
                 "fp32_kernel_efficiency": 0.8},
                {"clock_mhz": 3000.0, "load_average_1min": 0.5, "fp32_gemm_s": 1e-3})

    monkeypatch.setenv("GILT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GILT_HOST_CALIBRATION", "1")
    monkeypatch.setattr(calibrate, "measure", fake_measure)
    text = "processor : 0\nvendor_id : AuthenticAMD\nmodel name : Test CPU\nflags : avx2 fma\n"
    detected = load_cpu_spec("avx2-desktop").replace(name="host")
    first = calibrate.calibrated_host_spec(detected, text)
    second = calibrate.calibrated_host_spec(detected, text)
    assert calls == ["host"]                                 # measured on first use only
    assert first == second and first.clock_mhz == 3000.0 and first.fp32_kernel_efficiency == 0.8
    (path,) = tmp_path.glob("host-*.yaml")
    data = yaml.safe_load(path.read_text())
    assert data["measured"]["load_average_1min"] == 0.5
    assert data["sources"]["clock_mhz"].startswith("measured on this host")
    assert data["sources"]["fma_units"].startswith("detected")
    monkeypatch.setenv("GILT_HOST_CALIBRATION", "0")
    assert calibrate.calibrated_host_spec(detected, text) == detected


def test_kernel_efficiency_scales_gemm_compute():
    from common.workload import LayerWork
    from simulator.cpu.model import KernelChoice, simulate_layer

    spec = load_cpu_spec("avx2-desktop")
    layer = LayerWork.matmul("g", m=512, n=512, k=512, act_bits=32, weight_bits=32,
                             out_bits=32)
    kernel = KernelChoice(dtype="fp32", threads=1, warm=True)
    ideal = simulate_layer(layer, spec, kernel)
    slower = simulate_layer(layer, spec.replace(fp32_kernel_efficiency=0.5), kernel)
    assert slower.compute_cycles == pytest.approx(2 * ideal.compute_cycles)
    with pytest.raises(ValueError, match="fp32_kernel_efficiency"):
        spec.replace(fp32_kernel_efficiency=0.0)
