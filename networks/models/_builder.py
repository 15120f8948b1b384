"""Graph builder used by the built-in models: named layers, shape inference as you go, seeded
weights (or shape-only zero-stride placeholders when ``materialize=False``)."""

from __future__ import annotations

import numpy as np

from networks.graph import Graph, Node, TensorInfo, infer_shape


class Builder:
    """Append nodes in execution order; each helper returns the output tensor name.

    Weights: conv He-normal (std sqrt(2 / fan_in)), matmul normal(0, ``matmul_std``), biases
    small normal, BN gamma uniform(0.5, 1), beta normal(0, 0.1), running mean 0 / var 1 (the
    model builders then set running statistics from a seeded calibration batch, see
    ``networks.models.calibrate_batchnorm``). With ``materialize=False`` constants are
    read-only zero-stride views of the right shape (no memory, no random draws): enough for
    shapes, parameter and MAC counts and the fast workload."""

    def __init__(self, name: str, *, seed: int = 0, materialize: bool = True,
                 matmul_std: float = 0.02):
        self.graph = Graph(name=name, nodes=[], tensors={}, constants={}, inputs=[], outputs=[])
        self.rng = np.random.default_rng(seed)
        self.materialize = materialize
        self.matmul_std = matmul_std
        self._count: dict[str, int] = {}

    # ------------------------------------------------------------------ basics
    def input(self, name: str, shape: tuple[int, ...]) -> str:
        self.graph.tensors[name] = TensorInfo(name, shape)
        self.graph.inputs.append(name)
        return name

    def const(self, name: str, shape: tuple[int, ...], init) -> str:
        if self.materialize:
            value = np.ascontiguousarray(init(shape), dtype=np.float32)
        else:
            value = np.broadcast_to(np.float32(0), shape)
        if name in self.graph.constants:
            raise ValueError(f"constant {name!r} defined twice")
        self.graph.constants[name] = value
        return name

    def shape(self, tensor: str) -> tuple[int, ...]:
        return self.graph.shape(tensor)

    def unique(self, base: str) -> str:
        n = self._count.get(base, 0)
        self._count[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def node(self, op: str, inputs: list[str], name: str, attrs: dict | None = None,
             out_dtype: str = "float32") -> str:
        attrs = attrs or {}
        name = self.unique(name)
        shape = infer_shape(op, attrs, [self.shape(t) for t in inputs if t], where=name)
        out = name if name not in self.graph.tensors and name not in self.graph.constants \
            else f"{name}:out"
        self.graph.tensors[out] = TensorInfo(out, shape, out_dtype)
        self.graph.nodes.append(Node(name, op, list(inputs), [out], attrs))
        return out

    def finish(self, outputs: list[str], **meta) -> Graph:
        self.graph.outputs = list(outputs)
        self.graph.meta.update(meta)
        self.graph.meta.setdefault("precision", "float32")
        return self.graph.validate()

    # ------------------------------------------------------------------ layers
    def conv(self, x: str, out_channels: int, kernel: int | tuple[int, int], *, name: str,
             stride: int = 1, pad: int | None = None, groups: int = 1, bias: bool = False,
             dilation: int = 1, mask: str | None = None) -> str:
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        cin = self.shape(x)[1]
        if cin % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={cin}")
        if pad is None:
            pad = dilation * (kh - 1) // 2
        fan_in = (cin // groups) * kh * kw
        std = float(np.sqrt(2.0 / fan_in))
        w = self.const(f"{name}.weight", (out_channels, cin // groups, kh, kw),
                       lambda s: self.rng.standard_normal(s, dtype=np.float32) * std)
        inputs = [x, w]
        if bias or mask:
            inputs.append(self.const(f"{name}.bias", (out_channels,),
                                     lambda s: self.rng.normal(0, 0.05, s)) if bias else "")
        if mask:
            inputs.append(mask)
        attrs = {"strides": (stride, stride), "pads": (pad, pad, pad, pad),
                 "dilations": (dilation, dilation), "group": groups}
        return self.node("conv", inputs, name, attrs)

    def batchnorm(self, x: str, *, name: str, eps: float = 1e-5) -> str:
        c = self.shape(x)[1]
        inputs = [x,
                  self.const(f"{name}.weight", (c,), lambda s: self.rng.uniform(0.5, 1.0, s)),
                  self.const(f"{name}.bias", (c,), lambda s: self.rng.normal(0, 0.1, s)),
                  self.const(f"{name}.running_mean", (c,), np.zeros),
                  self.const(f"{name}.running_var", (c,), np.ones)]
        return self.node("batchnorm", inputs, name, {"epsilon": eps})

    def act(self, x: str, kind: str | None, *, name: str) -> str:
        if kind is None:
            return x
        if kind == "relu6":
            return self.node("clip", [x], name, {"min": 0.0, "max": 6.0})
        return self.node(kind, [x], name)

    def conv_bn_act(self, x: str, out_channels: int, kernel, *, name: str, act: str | None,
                    bn_name: str | None = None, **conv_kw) -> str:
        y = self.conv(x, out_channels, kernel, name=name, **conv_kw)
        y = self.batchnorm(y, name=bn_name or f"{name}.bn")
        return self.act(y, act, name=f"{name}.{act}" if act else "")

    def linear(self, x: str, out_features: int, *, name: str, bias: bool = True,
               std: float | None = None) -> str:
        k = self.shape(x)[-1]
        std = self.matmul_std if std is None else std
        w = self.const(f"{name}.weight", (k, out_features),
                       lambda s: self.rng.standard_normal(s, dtype=np.float32) * std)
        inputs = [x, w]
        if bias:
            inputs.append(self.const(f"{name}.bias", (out_features,),
                                     lambda s: self.rng.normal(0, 0.02, s)))
        return self.node("matmul", inputs, name)

    def layernorm(self, x: str, *, name: str, eps: float = 1e-12) -> str:
        d = self.shape(x)[-1]
        inputs = [x,
                  self.const(f"{name}.weight", (d,), lambda s: self.rng.uniform(0.8, 1.2, s)),
                  self.const(f"{name}.bias", (d,), lambda s: self.rng.normal(0, 0.02, s))]
        return self.node("layernorm", inputs, name, {"axis": -1, "epsilon": eps})
