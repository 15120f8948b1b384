"""The tiny golden decoder against ONNX Runtime running its exported graph
(networks/llm_onnx.py): prefill of a batch of prompts, then decode steps with each side's own
KV cache.

Stated tolerances (max |difference| / max |logit|):

* ``fp32`` and ``w4`` (float activations): 1e-5. Only float summation orders differ (MatMul,
  ReduceMean of RMSNormalization, Softmax); measured about 5e-7.
* ``w4a8`` end to end: 5e-2. A float difference of one ulp that lands on a rounding tie of an
  int8 activation code moves that code by one (1/254 of its block's range), and the change
  propagates; the integer path itself is checked exactly by the teacher-forced test below,
  which feeds every MatMulNBits node's ONNX Runtime input to ``matmul_nbits_int8`` (output
  within ``matmul_nbits_int8_bound``) and requantizes ONNX Runtime's keys and values with
  ``quantize_kv`` (codes and scales equal to the graph's, bit for bit).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from networks.llm import Decoder, KVCache, init_weights
from reference.llm_ops import matmul_nbits_int8, matmul_nbits_int8_bound, quantize_kv

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the oracle of these tests")
llm_onnx = pytest.importorskip("networks.llm_onnx")
pytestmark = pytest.mark.oracle

TOLERANCE = {"fp32": 1e-5, "w4": 1e-5, "w4a8": 5e-2}


def _session(model):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(model.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:   # noqa: BLE001 - an old runtime lacks an opset-23 op
        pytest.skip(f"onnxruntime {ort.__version__} cannot run the opset-23 graph: {exc}")


def _rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("precision,kv_bits,block", [
    ("fp32", None, 32), ("fp32", 8, 32), ("w4", 4, 64), ("w4a8", 8, 32), ("w4a8", 4, 128),
    ("w4a8", None, 64)])
def test_prefill_and_decode_match_onnxruntime(precision, kv_bits, block):
    dec = Decoder("tiny", init_weights("tiny", seed=1), precision=precision, kv_bits=kv_bits,
                  block_size=block)
    sess = _session(llm_onnx.export_decoder(dec))
    _, present = llm_onnx.io_names(dec)
    ids = np.random.default_rng(2).integers(0, 256, (2, 9))
    feeds = {"input_ids": ids, **llm_onnx.cache_feeds(dec, KVCache.empty(dec.config, 2,
                                                                         kv_bits))}
    out = sess.run(None, feeds)
    ours, cache = dec.prefill(ids)
    errors = [_rel(out[0], ours)]
    ort_cache = dict(zip(present, out[1:]))
    token = np.argmax(ours[:, -1], axis=-1)[:, None]
    for _ in range(4):
        feeds = {"input_ids": token, **{n.replace("present_", "past_"): v
                                        for n, v in ort_cache.items()}}
        out = sess.run(None, feeds)
        ours, cache = dec.decode(token, cache)
        errors.append(_rel(out[0], ours))
        ort_cache = dict(zip(present, out[1:]))
        token = np.argmax(ours[:, -1], axis=-1)[:, None]
    assert max(errors) <= TOLERANCE[precision], errors
    assert ort_cache["present_key.0"].shape == cache.keys[0].shape
    if precision != "w4a8" and kv_bits:
        codes_differ = [np.abs(ort_cache[f"present_key.{i}"].astype(int)
                               - cache.keys[i].astype(int)).max() for i in range(2)]
        assert max(codes_differ) <= 1


def _with_outputs(model, names):
    model = type(model).FromString(model.SerializeToString())
    for name in names:
        model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return model


@pytest.mark.parametrize("kv_bits,block", [(8, 32), (4, 64), (8, 128)])
def test_w4a8_integer_path_teacher_forced(kv_bits, block):
    """Every MatMulNBits node of the graph, on ONNX Runtime's own input, matches the
    reference within the order bound; every cache code and scale is the reference's
    quantization of ONNX Runtime's own keys and values."""
    dec = Decoder("tiny", init_weights("tiny", seed=4), precision="w4a8", kv_bits=kv_bits,
                  block_size=block)
    model = llm_onnx.export_decoder(dec)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    nbits = [n for n in model.graph.node if n.op_type == "MatMulNBits"]
    kv_src = [f"L{i}.{w}" for i in range(dec.config.layers) for w in ("k.rope", "v.heads")]
    probes = sorted({n.input[0] for n in nbits} | {n.output[0] for n in nbits} | set(kv_src))
    sess = _session(_with_outputs(model, probes))
    names = [o.name for o in sess.get_outputs()]
    ids = np.random.default_rng(5).integers(0, 256, (2, 12))
    feeds = {"input_ids": ids, **llm_onnx.cache_feeds(dec, KVCache.empty(dec.config, 2,
                                                                         kv_bits))}
    got = dict(zip(names, sess.run(None, feeds)))
    checked = 0
    for node in nbits:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        args = [inits[node.input[1]], inits[node.input[2]],
                inits[node.input[3]] if len(node.input) > 3 else None]
        a = got[node.input[0]]
        kw = {"K": attrs["K"], "N": attrs["N"], "block_size": attrs["block_size"]}
        ours = matmul_nbits_int8(a, *args, **kw)
        bound = matmul_nbits_int8_bound(a, *args, **kw)
        assert np.all(np.abs(got[node.output[0]] - ours) <= bound), node.name
        checked += ours.size
    for i in range(dec.config.layers):
        for kind, src in (("key", f"L{i}.k.rope"), ("value", f"L{i}.v.heads")):
            codes, scales = quantize_kv(got[src], bits=kv_bits)
            assert np.array_equal(got[f"present_{kind}.{i}"], codes)
            assert np.array_equal(got[f"present_{kind}_scale.{i}"], scales)
    assert checked > 10_000
