"""GPU specs: presets against the datasheets, validation of bad YAML."""

import pytest
import yaml

from simulator.gpu.spec import PRESETS_DIR, GpuSpec, gpu_presets, load_gpu_spec

# dense peaks as printed in NVIDIA's whitepapers/datasheets (TFLOP/s or TOP/s)
DATASHEET_PEAKS = [
    ("v100-sxm2", "fp16", 125.0),
    ("a100-sxm4-40gb", "fp16", 312.0), ("a100-sxm4-40gb", "bf16", 312.0),
    ("a100-sxm4-40gb", "tf32", 156.0), ("a100-sxm4-40gb", "int8", 624.0),
    ("a100-sxm4-40gb", "int4", 1248.0), ("a100-sxm4-80gb", "int8", 624.0),
    ("h100-sxm5", "fp16", 989.4), ("h100-sxm5", "tf32", 494.7), ("h100-sxm5", "int8", 1978.9),
    ("h100-sxm5", "fp8", 1978.9),
]


def _preset_dict(name):
    with open(PRESETS_DIR / f"{name}.yaml", encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    data.pop("sources")
    return data


def test_datacenter_presets_exist():
    assert {"a100-sxm4-40gb", "a100-sxm4-80gb", "h100-sxm5", "v100-sxm2"} <= set(gpu_presets())


@pytest.mark.parametrize("preset,dtype,tflops", DATASHEET_PEAKS)
def test_peak_matches_datasheet(preset, dtype, tflops):
    spec = load_gpu_spec(preset)
    assert spec.peak_flops(dtype) / 1e12 == pytest.approx(tflops, rel=0.005)


def test_published_memory_figures():
    assert load_gpu_spec("v100-sxm2").hbm_bw_gb_per_s == 900
    assert load_gpu_spec("a100-sxm4-40gb").hbm_bw_gb_per_s == 1555
    assert load_gpu_spec("a100-sxm4-80gb").hbm_bw_gb_per_s == 2039
    assert load_gpu_spec("h100-sxm5").hbm_bw_gb_per_s == 3350
    assert [load_gpu_spec(p).sm_count for p in ("v100-sxm2", "a100-sxm4-40gb", "h100-sxm5")] \
        == [80, 108, 132]


@pytest.mark.parametrize("preset", ["v100-sxm2", "a100-sxm4-40gb", "a100-sxm4-80gb", "h100-sxm5"])
def test_every_figure_cites_a_source(preset):
    with open(PRESETS_DIR / f"{preset}.yaml", encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    figures = set(data) - {"name", "notes", "sources", "model"}
    missing = figures - set(data["sources"])
    assert not missing, f"{preset}: no source for {sorted(missing)}"
    assert all(isinstance(v, str) and len(v) > 10 for v in data["sources"].values())
    # calibration constants carry their citation beside the value (Timeloop-style)
    assert all(isinstance(e["source"], str) and len(e["source"]) > 10
               for e in data["model"].values())


def test_model_constant_without_source_is_refused():
    data = _preset_dict("a100-sxm4-40gb")
    data["model"]["mma_efficiency"] = {"value": 0.8, "source": " "}
    with pytest.raises(ValueError, match="mma_efficiency: the source must be a non-empty"):
        load_gpu_spec(data)
    data["model"]["mma_efficiency"] = 0.8
    with pytest.raises(ValueError, match="carries its citation"):
        load_gpu_spec(data)


@pytest.mark.parametrize("key,value,match", [
    ("mma_efficiency", 0.0, "mma_efficiency"), ("hbm_efficiency", 1.5, "hbm_efficiency"),
    ("memory_overlap", -0.1, "memory_overlap"), ("pipeline_stages", 1, "pipeline_stages"),
    ("launch_overhead_us", -1.0, "launch_overhead_us"),
])
def test_model_invariants(key, value, match):
    data = _preset_dict("a100-sxm4-40gb")
    data["model"][key] = {"value": value, "source": "a test of the invariant checks"}
    with pytest.raises(ValueError, match=match):
        load_gpu_spec(data)


def test_volta_has_no_int8_tensor_cores():
    spec = load_gpu_spec("v100-sxm2")
    assert not spec.has_mma("int8")
    with pytest.raises(ValueError, match="no Tensor Core path for dtype 'int8'"):
        spec.peak_flops("int8")


def test_unknown_key_is_named():
    data = _preset_dict("a100-sxm4-40gb")
    data["sm_cuont"] = 108
    with pytest.raises(ValueError, match="sm_cuont"):
        load_gpu_spec(data)


def test_missing_key_is_named():
    data = _preset_dict("a100-sxm4-40gb")
    del data["hbm_bw_gb_per_s"]
    with pytest.raises(ValueError, match="hbm_bw_gb_per_s"):
        load_gpu_spec(data)


def test_wrong_type_is_named():
    data = _preset_dict("a100-sxm4-40gb")
    data["sm_count"] = "108"
    with pytest.raises(TypeError, match="sm_count"):
        load_gpu_spec(data)


@pytest.mark.parametrize("key,value,match", [
    ("sm_count", 0, "sm_count"),
    ("boost_clock_mhz", -1.0, "boost_clock_mhz"),
    ("max_shared_mem_per_block_kib", 200, "exceeds shared_mem_per_sm_kib"),
    ("tc_macs_per_clock_per_sm", {"fp17": 10}, "unknown dtype 'fp17'"),
    ("tc_macs_per_clock_per_sm", {"fp16": 0}, "fp16"),
])
def test_invariants(key, value, match):
    data = _preset_dict("a100-sxm4-40gb")
    data[key] = value
    with pytest.raises(ValueError, match=match):
        load_gpu_spec(data)


def test_unknown_preset_lists_presets():
    with pytest.raises(ValueError, match="a100-sxm4-40gb"):
        load_gpu_spec("a200")


def test_yaml_path_and_passthrough(tmp_path):
    path = tmp_path / "mygpu.yaml"
    data = _preset_dict("h100-sxm5")
    data["name"] = "H100-custom"
    path.write_text(yaml.safe_dump(data))
    spec = load_gpu_spec(str(path))
    assert isinstance(spec, GpuSpec) and spec.name == "H100-custom"
    assert load_gpu_spec(spec) is spec
