"""Run one ONNX node in onnxruntime (test oracle for the float operators)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

_TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}


def run_node(op_type, inputs, *, opset=20, domain="", n_outputs=1, **attrs):
    """inputs: list of (name, array). Returns the list of outputs."""
    names = [name for name, _ in inputs]
    outs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outs, domain=domain, **attrs)
    vi = [helper.make_tensor_value_info(n, _TYPES[a.dtype], a.shape) for n, a in inputs]
    vo = [helper.make_tensor_value_info(o, _TYPES[inputs[0][1].dtype], None) for o in outs]
    graph = helper.make_graph([node], "g", vi, vo)
    opsets = [helper.make_opsetid("", opset)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 9

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, dict(inputs))


def run_ms_node(op_type, inputs, out_dtype, *, fed=("x",), model_opset=13, **attrs):
    """One com.microsoft node in onnxruntime (ORT_DISABLE_ALL, one thread).

    ``inputs``: list of (name, value) in the schema's order, ``None`` for an absent optional
    input; the inputs named in ``fed`` are graph inputs, the others initializers (as a
    quantized model's scales, zero points and weights are). Returns the single output."""
    from onnx import numpy_helper

    names = [n if v is not None else "" for n, v in inputs]
    node = helper.make_node(op_type, names, ["y"], domain="com.microsoft", **attrs)
    feeds = [(n, v) for n, v in inputs if v is not None and n in fed]
    inits = [numpy_helper.from_array(np.asarray(v), n) for n, v in inputs
             if v is not None and n not in fed]
    vi = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
          for n, v in feeds]
    vo = [helper.make_tensor_value_info("y", helper.np_dtype_to_tensor_dtype(np.dtype(out_dtype)),
                                        None)]
    graph = helper.make_graph([node], "g", vi, vo, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", model_opset),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 9
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, dict(feeds))[0]
