"""Import ONNX models (float, QDQ, QOperator) into a :class:`networks.graph.Graph`.

``onnx`` is an optional dependency, imported only here. The importer is a table, :data:`RULES`:
(domain, op_type) -> :class:`Rule` (the attributes it honours and the values it accepts, the
outputs it produces, and a builder that emits graph nodes). Every attribute a node leaves out
takes its ONNX default, read from the operator's schema at the model's opset, before it is
checked, so a default the graph cannot honour is refused like a written value. The whole model is
read before anything is returned: every node whose operator, domain, opset version, attribute,
input or output is not supported is listed in one ValueError (node, operator and what, with its
value), and no graph is returned.

* Float operators: Conv, Gemm, MatMul, BatchNormalization, LayerNormalization, Relu, Clip,
  HardSigmoid, HardSwish, Sigmoid, Gelu, Erf, Add, Sub, Mul, Div, Concat, GlobalAveragePool,
  MaxPool, AveragePool (2-D; auto_pad, ceil_mode, dilations), Flatten, Reshape, Transpose,
  Softmax (opset < 13: the 2-D coercion), Resize (nearest, asymmetric, floor), Identity,
  Dropout (inference), Constant; plus every row of ``networks.onnx_functions.ONNX_FUNCTIONS``
  (ConvInteger, MatMulInteger, DynamicQuantizeLinear, ...).
* QDQ: QuantizeLinear / DequantizeLinear (per tensor, per axis, blocked; int4/uint4, int8/uint8,
  int16/uint16 from the zero point's type or ``output_dtype``). A DequantizeLinear of a constant
  is folded with ``reference.dequantize``; DequantizeLinear -> Conv / MatMul (integer weights
  per output channel / column, int32 bias) -> QuantizeLinear becomes one qconv / qmatmul, as ONNX
  Runtime's QDQ optimizer makes a QLinearConv of it; other chains stay quantize / dequantize
  nodes around float operators, executed as written.
* QOperator: QLinearConv, QLinearMatMul, and com.microsoft QGemm, QLinearAdd, QLinearMul,
  QLinearGlobalAveragePool, QLinearSigmoid; data-movement operators on integer tensors keep
  their quantization. QLinearAdd / QLinearMul follow the DequantizeLinear -> op ->
  QuantizeLinear float32 contract.
* Weight bit widths come from explicit metadata, never from values: an INT4/UINT4 initializer is
  4-bit; an int8 initializer is 8-bit unless the model's ``metadata_props`` entry
  ``gilt.weight_bits`` (a JSON object, initializer name -> 4 or 8; written by
  ``networks.onnx_export``) says 4, in which case its values must lie in [-8, 7].
* Inputs: float32, integer and bool graph inputs. Bad files (empty, truncated, not protobuf),
  undefined tensors and cycles are refused with one message.
"""

from __future__ import annotations

import json
import os

import numpy as np

from networks import onnx_qrules
from networks.graph import DTYPES, Graph, Node, QuantParams, TensorInfo, infer_shape
from networks.onnx_rules import FUNCTION_RULES, RULES, WEIGHT_BITS_KEY, OnnxNode, Refused, Rule


# ---------------------------------------------------------------------- model loading
def _load_model(onnx, model_or_path):
    if isinstance(model_or_path, onnx.ModelProto):
        model, where = model_or_path, "model"
    elif isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        where = f"ONNX file {path!r}"
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ValueError(f"{where} cannot be read: {exc.strerror or exc}") from None
        if not data:
            raise ValueError(f"{where} is empty (0 bytes): not an ONNX model")
        model = onnx.ModelProto()
        try:
            model.ParseFromString(data)
        except Exception as exc:  # google.protobuf DecodeError (or a RuntimeWarning-free error)
            raise ValueError(f"{where} is not an ONNX model (truncated or not protobuf: "
                             f"{exc})") from None
        if _uses_external_data(model):
            from onnx.external_data_helper import load_external_data_for_model
            try:
                load_external_data_for_model(model, os.path.dirname(os.path.abspath(path)))
            except (OSError, ValueError) as exc:
                raise ValueError(f"{where}: external tensor data cannot be read: "
                                 f"{exc}") from None
    else:
        raise TypeError(f"model_or_path must be a path or an onnx.ModelProto, got "
                        f"{type(model_or_path).__name__}")
    if not model.HasField("graph") or model.ir_version <= 0:
        raise ValueError(f"{where} is not an ONNX model (no graph or no IR version)")
    return model


def _uses_external_data(model) -> bool:
    return any(t.data_location == 1 for t in model.graph.initializer)


def _opsets(model) -> dict[str, int]:
    out = {}
    for o in model.opset_import:
        out["" if o.domain in ("", "ai.onnx") else o.domain] = int(o.version)
    return out


def _attr_value(onnx, a):
    v = onnx.helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return tuple(x.decode() if isinstance(x, bytes) else x for x in v)
    return v


def _onnx_node(onnx, node, index: int, opsets: dict[str, int]) -> tuple[OnnxNode, Rule | None,
                                                                         list[str]]:
    """The node with defaults filled, its rule, and the problems a static check finds."""
    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    name = node.name or f"{node.op_type}_{index}"
    given = {a.name: _attr_value(onnx, a) for a in node.attribute}
    n = OnnxNode(name, node.op_type, domain, 0, list(node.input), list(node.output), dict(given),
                 set(given), opsets.get(domain, 0))
    r = RULES.get((domain, node.op_type))
    if r is None:
        where = f" in domain {domain!r}" if domain else ""
        return n, None, [f"unsupported operator{where}"]
    if domain not in opsets:
        return n, r, [f"the model imports no opset for domain {domain or 'ai.onnx'!r}"]
    problems = []
    schema = _schema(onnx, node.op_type, opsets[domain], domain)
    if schema is not None:
        n.version = schema.since_version
        for key, a in schema.attributes.items():
            if key not in n.attrs and a.default_value.name:
                n.attrs[key] = _attr_value(onnx, a.default_value)
    elif domain == "":
        problems.append(f"operator not defined at opset {opsets[domain]}")
    else:
        n.version = opsets[domain]
        for key, v in r.defaults.items():
            n.attrs.setdefault(key, v)
    if domain == "" and n.version and n.version < r.min_version:
        problems.append(f"opset {n.version} version not supported (from opset "
                        f"{r.min_version})")
    problems += _attr_problems(n, r)
    extra = [o for o in n.outputs[r.outputs:] if o]
    if extra:
        problems.append(f"output(s) {extra} not supported (only the first {r.outputs})")
    return n, r, problems


def _schema(onnx, op: str, version: int, domain: str):
    try:
        return onnx.defs.get_schema(op, version, domain)
    except Exception:  # onnx.defs.SchemaError: no schema at this opset / domain
        return None


def _attr_problems(n: OnnxNode, r: Rule) -> list[str]:
    problems = []
    if r.attrs is None:  # a generic function rule: the function checks its attributes
        return problems
    for key, value in n.attrs.items():
        if key not in r.attrs:
            if key in n.given:
                problems.append(f"unsupported attribute {key}={value!r}")
            continue
        allowed = r.attrs[key]
        note = "" if key in n.given else " (the ONNX default)"
        if allowed is None:
            continue
        if callable(allowed):
            why = allowed(value)
            if why:
                problems.append(f"unsupported {key}={value!r}{note}: {why}")
        elif value not in allowed:
            problems.append(f"unsupported {key}={value!r}{note} (supported: "
                            f"{sorted(allowed, key=str)})")
    return problems


def _topological(nodes: list, known: set[str]) -> tuple[list[int], list[str], set[str]]:
    """Node indices in an order where every input is produced first (stable), problems
    (tensors nobody provides, the nodes of a cycle) and the undefined tensors."""
    producer = {}
    for i, node in enumerate(nodes):
        for t in node.output:
            if t:
                producer.setdefault(t, i)
    problems, order, done, undefined = [], [], set(), set()
    pending = list(range(len(nodes)))
    for i, node in enumerate(nodes):
        for t in node.input:
            if t and t not in known and t not in producer:
                undefined.add(t)
                problems.append(f"{node.name or f'<node {i}>'} ({node.op_type}): reads tensor "
                                f"{t!r}, which no node, graph input or initializer provides")
    available = set(known)
    progress = True
    while pending and progress:
        progress = False
        rest = []
        for i in pending:
            if all(not t or t in available or t not in producer for t in nodes[i].input):
                order.append(i)
                done.add(i)
                available.update(t for t in nodes[i].output if t)
                progress = True
            else:
                rest.append(i)
        pending = rest
    if pending:
        names = [f"{nodes[i].name or f'<node {i}>'} ({nodes[i].op_type})" for i in pending]
        problems.append(f"the graph has a cycle (or nodes waiting on one): {names}")
    return order, problems, undefined


def import_onnx(model_or_path, *, batch: int | None = None,
                input_shapes: dict[str, tuple[int, ...]] | None = None,
                input_size: int | None = None, name: str | None = None,
                ort_level: str | None = None) -> Graph:
    """Import an ONNX ``ModelProto`` or file. ``input_shapes`` fixes input shapes (symbolic
    dimensions otherwise take ``batch`` for the first and are an error elsewhere);
    ``input_size`` sets H = W of every 4-D (image) input.

    ``ort_level`` says what a quantized (QDQ) model's numbers must agree with:

    - ``None`` (default): gilt's integer reading of the model: every DequantizeLinear ->
      Conv / MatMul / Gemm -> QuantizeLinear group with integer weights becomes an integer
      layer (exact accumulation, requantization), other chains run as written.
    - ``"default"``: ONNX Runtime at its default optimization level. The graph imported is the
      one ONNX Runtime executes (its optimizer's output at ``ORT_ENABLE_EXTENDED``: the QDQ
      groups it fuses into QLinear operators, and those it leaves), so onnxruntime must be
      installed; a convolution or matrix product it leaves in float32 between
      DequantizeLinear and QuantizeLinear is refused by name (its summation order is MLAS's).
    - ``"disable_all"``: ONNX Runtime with ``ORT_DISABLE_ALL``: every chain as written, the same
      float32 refusal.
    """
    if ort_level not in ORT_LEVELS:
        raise ValueError(f"ort_level must be one of {ORT_LEVELS}, got {ort_level!r}")
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - onnx is a test dependency
        raise ImportError("ONNX import needs the optional 'onnx' package") from e
    if input_size is not None and (isinstance(input_size, bool) or
                                   not isinstance(input_size, int) or input_size < 1):
        raise ValueError(f"input_size must be a positive int, got {input_size!r}")
    model = _load_model(onnx, model_or_path)
    if ort_level == "default":
        model = _ort_optimized(onnx, model)
    imp = _Importer(onnx, model, batch, input_shapes or {}, input_size, name)
    return imp.run(ort_level=ort_level)


def _ort_optimized(onnx, model):
    """The graph ONNX Runtime executes for ``model`` at its default level (its optimizer's
    output at ORT_ENABLE_EXTENDED; the further layout-only transforms of ORT_ENABLE_ALL
    change no quantized number)."""
    import tempfile

    try:
        import onnxruntime as ort
    except ImportError:
        raise ValueError("ort_level='default' needs onnxruntime (it decides which QDQ groups "
                         "it fuses); install it, or import with ort_level=None") from None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "optimized.onnx")
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        so.optimized_model_filepath = path
        try:
            ort.InferenceSession(model.SerializeToString(), so,
                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT's own load errors, reported as one line
            raise ValueError(f"ONNX Runtime cannot load the model: {exc}") from None
        optimized = onnx.load(path)
    del optimized.metadata_props[:]
    optimized.metadata_props.extend(model.metadata_props)
    return optimized


# ---------------------------------------------------------------------- the importer
#: what a quantized model is imported to agree with (see import_onnx)
ORT_LEVELS = (None, "default", "disable_all")
_ELEM_DTYPES = {"FLOAT": "float32", "INT4": "int4", "UINT4": "uint4", "INT8": "int8",
                "UINT8": "uint8", "INT16": "int16",
                "UINT16": "uint16", "INT32": "int32", "UINT32": "uint32", "INT64": "int64",
                "UINT64": "uint64", "BOOL": "bool"}


class _Importer:
    def __init__(self, onnx, model, batch, input_shapes, input_size, name):
        self.onnx = onnx
        self.model = model
        og = model.graph
        self.g = Graph(name=name or og.name or "onnx_model", nodes=[], tensors={},
                       constants={}, inputs=[], outputs=[o.name for o in og.output])
        self.batch = batch
        self.input_shapes = input_shapes
        self.input_size = input_size
        self.quantized = False
        self.consts: dict[str, np.ndarray] = {}
        self.dq_origin: dict[str, dict] = {}  # folded float weight -> its integer source
        self.weight_bits = self._weight_bits()
        self.problems: list[str] = []
        self.poisoned: set[str] = set()  # outputs of refused nodes
        self.four_bit: dict[str, bool] = {}  # INT4 / UINT4 constants -> signed

    # ------------------------------------------------------------------ model parts
    def _weight_bits(self) -> dict[str, int]:
        for prop in self.model.metadata_props:
            if prop.key == WEIGHT_BITS_KEY:
                try:
                    bits = json.loads(prop.value)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"metadata {WEIGHT_BITS_KEY!r} is not JSON: {exc}") from None
                if not isinstance(bits, dict) or any(b not in (4, 8) for b in bits.values()):
                    raise ValueError(f"metadata {WEIGHT_BITS_KEY!r} must map initializer names "
                                     f"to 4 or 8, got {prop.value[:200]!r}")
                return bits
        return {}

    def _initializers(self) -> None:
        for t in self.model.graph.initializer:
            try:
                self.consts[t.name] = self.tensor_value(t, t.name)
            except Refused as exc:
                self.problems.append(f"initializer {t.name!r}: {exc}")
                self.poisoned.add(t.name)

    def tensor_value(self, proto, name: str) -> np.ndarray:
        """A TensorProto's value as NumPy: INT4/UINT4 become int8/uint8 arrays (and are
        remembered as 4-bit); float types other than float32 are refused."""
        try:
            a = np.asarray(self.onnx.numpy_helper.to_array(proto))
        except Exception as exc:  # malformed or unsupported tensor data
            raise Refused(f"cannot be read ({exc})") from None
        if a.dtype.name in ("int4", "uint4"):
            self.four_bit[name] = a.dtype.name == "int4"
            return a.astype(np.int8 if a.dtype.name == "int4" else np.uint8)
        if a.dtype.kind == "f" and a.dtype != np.float32:
            raise Refused(f"has dtype {a.dtype.name}; float constants must be float32")
        if a.dtype.kind not in "fiub":
            raise Refused(f"has dtype {a.dtype.name}")
        return a

    def example(self, t: str) -> np.ndarray:
        """A constant's value, or an array of ones with a tensor's shape and dtype (what a
        rule evaluates a reference function on to learn its output shapes and dtypes)."""
        if t in self.consts:
            return self.consts[t]
        info = self.g.tensors[t]
        return np.ones(info.shape, dtype=np.dtype(info.dtype))

    def _inputs(self) -> None:
        for vi in self.model.graph.input:
            if vi.name in self.consts:
                continue
            try:
                shape = self._input_shape(vi)
                dtype = self._input_dtype(vi)
            except ValueError as exc:
                self.problems.append(str(exc))
                self.poisoned.add(vi.name)
                continue
            if dtype in ("int4", "uint4"):  # 4-bit values, one per byte
                self.four_bit[vi.name] = dtype == "int4"
                dtype = "int8" if dtype == "int4" else "uint8"
            self.g.tensors[vi.name] = TensorInfo(vi.name, tuple(shape), dtype)
            self.g.inputs.append(vi.name)

    def _input_dtype(self, vi) -> str:
        tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if tt is None:
            raise ValueError(f"input {vi.name!r} is not a tensor (sequence, map or optional "
                             f"inputs are not supported)")
        name = self.onnx.helper.tensor_dtype_to_string(tt.elem_type).split(".")[-1]
        if name not in _ELEM_DTYPES:
            raise ValueError(f"input {vi.name!r} has elem_type {name}: gilt imports FLOAT, "
                             f"integer (4 to 64 bits) and BOOL inputs")
        return _ELEM_DTYPES[name]

    def _input_shape(self, vi) -> list[int]:
        shape = self.input_shapes.get(vi.name)
        if shape is not None:
            return list(shape)
        shape = []
        if not vi.type.tensor_type.HasField("shape"):
            raise ValueError(f"input {vi.name!r} has no shape; pass input_shapes="
                             f"{{{vi.name!r}: (...)}}")
        for k, d in enumerate(vi.type.tensor_type.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                shape.append(d.dim_value if not (k == 0 and self.batch) else self.batch)
            elif k == 0:
                shape.append(self.batch or 1)
            else:
                raise ValueError(f"input {vi.name!r} has a symbolic dimension {k}; pass "
                                 f"input_shapes={{{vi.name!r}: (...)}}")
        if self.input_size and len(shape) == 4:
            shape = [shape[0], shape[1], self.input_size, self.input_size]
        return shape

    # ------------------------------------------------------------------ run
    def run(self, *, ort_level: str = "default") -> Graph:
        og = self.model.graph
        self._initializers()
        self._inputs()
        opsets = _opsets(self.model)
        known = set(self.consts) | {vi.name for vi in og.input}
        order, problems, undefined = _topological(list(og.node), known)
        self.problems += problems
        self.poisoned |= undefined
        for i in order:
            self._node(og.node[i], i, opsets)
        self._outputs()
        if self.problems:
            raise ValueError(f"ONNX model {og.name or '<unnamed>'!r}: {len(self.problems)} "
                             f"unsupported node(s) or problem(s); nothing imported:\n  "
                             + "\n  ".join(self.problems))
        g = self.g
        if self.quantized:
            if ort_level is None:
                onnx_qrules.fuse_qdq(self)
            else:
                onnx_qrules.refuse_float_reductions(self)
            _drop_unused(g)
            wbits = [g.tensors[n.inputs[1]].quant.bits for n in g.nodes
                     if n.op in ("qconv", "qmatmul") and n.inputs[1] in g.constants]
            g.meta["precision"] = "w4a8" if wbits and sum(b == 4 for b in wbits) * 2 > \
                len(wbits) else "w8a8"
        else:
            g.meta["precision"] = "float32"
        g.meta.update(source="onnx", model=g.name, ort_level=ort_level)
        return g.validate()

    def _node(self, node, index: int, opsets: dict[str, int]) -> None:
        n, r, problems = _onnx_node(self.onnx, node, index, opsets)
        if any(t in self.poisoned for t in n.inputs if t):  # downstream of a refusal:
            if problems and n.op not in FUNCTION_RULES:       # list what is wrong here too
                self.problems.append(f"{n.name} ({n.op}): " + "; ".join(problems))
            self.poisoned.update(o for o in n.outputs if o)
            return
        if r is not None and not problems:
            why = self._try(r, n)
            if why is None:
                return
            problems = [why]
        fallback = FUNCTION_RULES.get(n.op) if n.domain == "" else None
        if fallback is not None and fallback is not r:
            why = self._try(fallback, n)
            if why is None:
                return
            if r is not None:
                problems = problems + [f"(as a generic ONNX function: {why})"]
            else:
                problems = [why]
        self.problems.append(f"{n.name} ({n.op}): " + "; ".join(problems))
        self.poisoned.update(o for o in n.outputs if o)

    def _try(self, r: Rule, n: OnnxNode) -> str | None:
        """Build ``n`` with rule ``r``; on a refusal undo what it emitted and return why."""
        g = self.g
        n_nodes, tensors, constants = len(g.nodes), set(g.tensors), set(g.constants)
        consts = set(self.consts)
        try:
            r.build(self, n)
            return None
        except (Refused, ValueError, TypeError) as exc:
            del g.nodes[n_nodes:]
            for t in set(g.tensors) - tensors:
                del g.tensors[t]
            for t in set(g.constants) - constants:
                del g.constants[t]
            for t in set(self.consts) - consts:
                del self.consts[t]
            return str(exc)

    def attribute_array(self, value, name: str):
        """An attribute value for a reference function: tensors as NumPy arrays."""
        if isinstance(value, self.onnx.TensorProto):
            return self.tensor_value(value, name)
        return value

    def _outputs(self) -> None:
        check_shapes = not (self.batch or self.input_size or self.input_shapes)
        for vi in self.model.graph.output:
            t = vi.name
            if t in self.poisoned:
                continue
            if t in self.consts and t not in self.g.tensors:
                self.register_const(t)
            if t not in self.g.tensors:
                self.problems.append(f"graph output {t!r} is never produced")
                continue
            self._check_declared(vi, self.g.tensors[t], check_shapes)

    def _check_declared(self, vi, info: TensorInfo, check_shapes: bool) -> None:
        tt = vi.type.tensor_type
        if tt.elem_type:
            name = self.onnx.helper.tensor_dtype_to_string(tt.elem_type).split(".")[-1]
            want = _ELEM_DTYPES.get(name, name)
            ours = info.dtype if info.quant is None or info.quant.bits != 4 else \
                ("int4" if info.quant.signed else "uint4")
            if want != ours:
                self.problems.append(f"graph output {vi.name!r}: the model declares {name}, "
                                     f"the graph computes {ours}")
        if check_shapes and tt.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
            if len(dims) != len(info.shape) or any(
                    d is not None and d != s for d, s in zip(dims, info.shape)):
                self.problems.append(f"graph output {vi.name!r}: the model declares shape "
                                     f"{dims}, the graph computes {list(info.shape)}")

    # ------------------------------------------------------------------ helpers for rules
    def is_const(self, t: str) -> bool:
        return t in self.consts

    def c(self, n: OnnxNode, i: int, what: str = "") -> np.ndarray:
        """The constant value of input ``i`` (Refused when it is computed at run time)."""
        t = n.input(i)
        if t not in self.consts:
            raise Refused(f"input {i} ({t!r}{', ' + what if what else ''}) must be a constant "
                          f"(initializer or Constant)")
        return self.consts[t]

    def register_const(self, t: str) -> str:
        v = self.consts[t]
        if t not in self.g.constants:
            self.g.constants[t] = v
        if t not in self.g.tensors:
            dtype = "float32" if v.dtype.kind == "f" else v.dtype.name
            if dtype not in DTYPES:
                raise Refused(f"constant {t!r} has dtype {v.dtype.name}")
            self.g.tensors[t] = TensorInfo(t, v.shape, dtype)
        return t

    def dtype(self, t: str) -> str:
        if t in self.g.tensors:
            return self.g.tensors[t].dtype
        v = self.consts[t]
        return "float32" if v.dtype == np.float32 else v.dtype.name

    def shape(self, t: str) -> tuple[int, ...]:
        return self.g.shape(t) if t in self.g.tensors else tuple(self.consts[t].shape)

    def float_input(self, n: OnnxNode, i: int) -> str:
        """Input ``i`` as a float32 operand (a constant is registered as float32 only when it
        is float32 already: other dtypes are refused, never converted)."""
        t = n.input(i)
        dt = self.dtype(t)
        if dt != "float32":
            raise Refused(f"input {i} ({t!r}) has dtype {dt}; this operator runs on float32")
        if t in self.consts:
            self.register_const(t)
        return t

    def any_input(self, n: OnnxNode, i: int) -> str:
        t = n.input(i)
        if t in self.consts:
            self.register_const(t)
        return t

    def emit(self, op, inputs, out, name, attrs=None, dtype="float32", quant=None):
        attrs = attrs or {}
        shape = infer_shape(op, attrs, [self.shape(t) for t in inputs if t], where=name)
        self.g.tensors[out] = TensorInfo(out, shape, dtype, quant)
        self.g.nodes.append(Node(name, op, list(inputs), [out], attrs))

    def emit_like(self, op, n: OnnxNode, src: str, attrs=None):
        """A data-movement node: the output keeps the dtype and quantization of ``src``."""
        info = self.g.tensors.get(src)
        self.emit(op, [src], n.out, n.name, attrs, self.dtype(src),
                  info.quant if info is not None else None)

    def tmp(self, n: OnnxNode, what: str) -> str:
        return f"{n.name}.{what}"

    def set_quant(self, t: str, qp: QuantParams, where: str):
        info = self.g.tensors[t]
        if info.quant is not None:
            same = np.array_equal(np.asarray(info.quant.scale), np.asarray(qp.scale)) and \
                np.array_equal(np.asarray(info.quant.zero_point), np.asarray(qp.zero_point)) \
                and info.quant.bits == qp.bits
            if not same:
                raise Refused(f"tensor {t!r} has two different quantization parameters "
                              f"(another node reads it with other ones)")
            return
        want = onnx_qrules.storage(qp)
        if info.dtype != want:
            raise Refused(f"tensor {t!r} has dtype {info.dtype}, its zero point says {want}")
        info.quant = qp

    def qinput(self, n: OnnxNode, i: int, qp: QuantParams) -> str:
        """An integer operand: a constant (registered with its parameters) or a tensor."""
        t = n.input(i)
        if t in self.consts:
            v = self.consts[t]
            if v.dtype.name != onnx_qrules.storage(qp):
                raise Refused(f"input {i} ({t!r}) has dtype {v.dtype.name}, its zero point "
                              f"says {onnx_qrules.storage(qp)}")
            self.g.constants[t] = v
            self.g.tensors[t] = TensorInfo(t, v.shape, v.dtype.name, qp)
        else:
            self.set_quant(t, qp, n.name)
        return t

    def weight(self, name: str, values: np.ndarray, qp: QuantParams) -> str:
        """Register integer weights with their bit width from explicit metadata."""
        bits = self.weight_bits.get(name, qp.bits)
        if bits == 4 and values.dtype == np.int8 and values.size and (
                values.min() < -8 or values.max() > 7):
            raise Refused(f"weights {name!r} are annotated 4-bit ({WEIGHT_BITS_KEY}) but hold "
                          f"values outside [-8, 7]")
        qp = QuantParams(qp.scale, qp.zero_point, bits=bits, signed=qp.signed, axis=qp.axis,
                         block_size=qp.block_size)
        self.g.constants[name] = values
        self.g.tensors[name] = TensorInfo(name, values.shape, values.dtype.name, qp)
        return name


def _drop_unused(g: Graph) -> None:
    used = {t for n in g.nodes for t in n.inputs} | set(g.outputs)
    for t in [t for t in g.constants if t not in used]:
        del g.constants[t]
        g.tensors.pop(t, None)


__all__ = ["ORT_LEVELS", "RULES", "Refused", "Rule", "WEIGHT_BITS_KEY", "import_onnx"]
