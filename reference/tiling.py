"""Output-tiled convolution with halos (seed C7: "feature maps of 16x16 and larger are computed
in 4x4 tiles") and an on-chip buffer access-count model of tiled vs untiled schedules.

Tiled execution. The output map is cut into T x T tiles (the last row/column of tiles may be
smaller). Output tile rows [r0, r1) need input rows
    [r0 * stride - pad_top, (r1 - 1) * stride - pad_top + dilation * (KH - 1)]
-- the tile plus its halo. The slice of that window that lies inside the image is convolved with
the tile's own padding (the part of the window outside the image), so every output element sees
exactly the operands it sees in the untiled conv, in the same order: the tiled result is
bit-identical to the untiled one (integer and float), for every stride, pad, dilation and group.

Access model (``conv_access_counts``): see its docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reference._validate import check_int, check_int_tuple, conv_geometry
from reference.conv_float import conv2d_float, conv2d_macs
from reference.conv_int import conv2d_int

DEFAULT_TILE = (4, 4)
DEFAULT_MIN_MAP = (16, 16)


@dataclass(frozen=True)
class TilingRecord:
    """What a tiled conv did. Tiling skips no work: macs_done == macs_dense."""

    tiled: bool
    tile: tuple[int, int]
    grid: tuple[int, int]             # tiles along OH and OW
    macs_dense: int
    macs_done: int
    macs_skipped: int
    input_elements: int               # N*C*H*W, each element once
    input_elements_read: int          # sum over tiles of the in-image part of each tile window

    @property
    def halo_overhead(self) -> float:
        """input_elements_read / input_elements - 1 (extra reads caused by tile halos)."""
        return self.input_elements_read / self.input_elements - 1.0


def _tile_windows(h, w, oh, ow, kh, kw, strides, pads, dilations, tile):
    """Yield (out rows, out cols, in rows, in cols, tile pads) for every output tile."""
    (sh, sw), (pt, pl, _, _), (dh, dw) = strides, pads, dilations
    for r0 in range(0, oh, tile[0]):
        r1 = min(r0 + tile[0], oh)
        lo_h = r0 * sh - pt
        hi_h = (r1 - 1) * sh - pt + dh * (kh - 1)      # inclusive
        for c0 in range(0, ow, tile[1]):
            c1 = min(c0 + tile[1], ow)
            lo_w = c0 * sw - pl
            hi_w = (c1 - 1) * sw - pl + dw * (kw - 1)
            (i0, i1, top, bottom) = _clip_window(lo_h, hi_h, h)
            (j0, j1, left, right) = _clip_window(lo_w, hi_w, w)
            yield (r0, r1), (c0, c1), (i0, i1), (j0, j1), (top, left, bottom, right)


def _clip_window(lo, hi, size):
    """In-image slice [a, b) of the window [lo, hi] and the padding before/after it. A window
    that lies wholly in the padding gets an empty slice and all of its length as padding."""
    a = min(max(lo, 0), size)
    b = max(a, min(hi, size - 1) + 1)
    before = min(max(-lo, 0), hi - lo + 1)
    return a, b, before, (hi - lo + 1) - before - (b - a)


def _tiled(conv, x, w, strides, pads, dilations, groups, tile, min_map, out_dtype, **conv_kw):
    strides, pads, dilations, groups, oh, ow = conv_geometry(
        np.shape(x), np.shape(w), strides, pads, dilations, groups)
    tile = check_int_tuple("tile", tile, 2, minimum=1, broadcast=True)
    min_map = check_int_tuple("min_map", min_map, 2, minimum=1, broadcast=True)
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    geometry = dict(strides=strides, pads=pads, dilations=dilations, groups=groups)
    macs = conv2d_macs(x.shape, w.shape, **geometry)
    if h < min_map[0] or wd < min_map[1]:
        out = conv(x, w, **geometry, **conv_kw)
        return out, TilingRecord(False, tile, (1, 1), macs, macs, 0, x.size, x.size)
    out = np.empty((n, o, oh, ow), dtype=out_dtype)
    read = 0
    for (r0, r1), (c0, c1), (i0, i1), (j0, j1), tpads in _tile_windows(
            h, wd, oh, ow, kh, kw, strides, pads, dilations, tile):
        part = x[:, :, i0:i1, j0:j1]
        read += part.size
        out[:, :, r0:r1, c0:c1] = conv(part, w, strides=strides, pads=tpads,
                                       dilations=dilations, groups=groups, **conv_kw)
    grid = (math.ceil(oh / tile[0]), math.ceil(ow / tile[1]))
    return out, TilingRecord(True, tile, grid, macs, macs, 0, x.size, read)


def tiled_conv2d_int(x, w, *, x_zero_point=0, w_zero_point=0, bias=None, strides=(1, 1),
                     pads=(0, 0, 0, 0), dilations=(1, 1), groups=1, tile=DEFAULT_TILE,
                     min_map=DEFAULT_MIN_MAP):
    """``conv2d_int`` computed tile by tile; returns ``(int32 output, TilingRecord)``.

    Numeric contract: bit-identical to ``reference.conv_int.conv2d_int`` with the same
    arguments (each tile calls it on the tile's input window with the tile's own pads, which
    hold ``x_zero_point`` exactly as the untiled padding does; int32 wrap-around as there).
    Tiling applies when the input map is at least ``min_map`` (H >= min_map[0] and
    W >= min_map[1]); smaller maps run untiled (record.tiled False). A tile larger than the
    output is one tile. Errors: those of ``conv2d_int``; ValueError/TypeError naming ``tile``
    or ``min_map`` for non-positive or non-int entries.
    """
    return _tiled(conv2d_int, x, w, strides, pads, dilations, groups, tile, min_map, np.int32,
                  x_zero_point=x_zero_point, w_zero_point=w_zero_point, bias=bias)


def tiled_conv2d_float(x, w, *, bias=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1),
                       groups=1, tile=DEFAULT_TILE, min_map=DEFAULT_MIN_MAP,
                       precision="float32"):
    """``conv2d_float`` computed tile by tile; returns ``(output, TilingRecord)``.

    Numeric contract: bit-identical to ``reference.conv_float.conv2d_float`` (same per-element
    tap order, zero padding reproduced by the tile pads). Other terms as ``tiled_conv2d_int``.
    """
    x = np.asarray(x)
    dt = np.float32 if precision == "float32" else np.float64
    return _tiled(conv2d_float, x, w, strides, pads, dilations, groups, tile, min_map, dt,
                  bias=bias, precision=precision)


# ----------------------------------------------------------------------------- access model
@dataclass(frozen=True)
class ConvShape:
    """A conv layer for the access model (one image, groups=1, square kernel and stride)."""

    name: str
    c_in: int
    h: int
    w: int
    c_out: int
    k: int
    stride: int = 1
    pad: int = 0
    count: int = 1          # how many identical layers of this shape the network has

    @property
    def out_hw(self) -> tuple[int, int]:
        return ((self.h + 2 * self.pad - self.k) // self.stride + 1,
                (self.w + 2 * self.pad - self.k) // self.stride + 1)


@dataclass(frozen=True)
class BufferSizes:
    """On-chip storage next to the compute array, in elements.

    input_elems: input tile buffer; weight_elems: weight buffer; psum_elems: accumulators that
    hold partial sums while the input-channel reduction runs.
    """

    input_elems: int = 32 * 1024
    weight_elems: int = 64 * 1024
    psum_elems: int = 4 * 1024

    def __post_init__(self):
        for f in ("input_elems", "weight_elems", "psum_elems"):
            check_int(f, getattr(self, f), minimum=1)


@dataclass(frozen=True)
class AccessCounts:
    """On-chip SRAM element accesses of one layer under one schedule."""

    input_reads: int
    weight_reads: int
    psum_reads: int
    psum_writes: int
    output_writes: int

    @property
    def total(self) -> int:
        return (self.input_reads + self.weight_reads + self.psum_reads + self.psum_writes
                + self.output_writes)

    def __add__(self, other: AccessCounts) -> AccessCounts:
        return AccessCounts(*(getattr(self, f) + getattr(other, f) for f in (
            "input_reads", "weight_reads", "psum_reads", "psum_writes", "output_writes")))

    def scaled(self, k: int) -> AccessCounts:
        return AccessCounts(self.input_reads * k, self.weight_reads * k, self.psum_reads * k,
                            self.psum_writes * k, self.output_writes * k)


def _span(lo, hi, size):
    return max(0, min(hi, size - 1) - max(lo, 0) + 1)


def conv_access_counts(layer: ConvShape, buffers: BufferSizes = BufferSizes(), *,
                       tile=DEFAULT_TILE, min_map=DEFAULT_MIN_MAP) -> AccessCounts:
    """On-chip buffer (SRAM) element accesses of one conv layer, tiled or untiled.

    Schedule (the same loop nest for both; untiled means one tile = the whole output map,
    used when ``tile`` is None or the input map is below ``min_map``)::

        for each output tile (th x tw), with input window ih x iw (tile + halo, in-image part):
          for each output-channel block of cb = clamp(psum_elems // (th*tw), 1, c_out):
            for each input-channel block of cib channels:
              read the input window (ih*iw*cib)  -- unless the whole window of all c_in
                                                    channels fits input_elems: then read once
                                                    per tile, reused by every channel block
              read cb*cib*k*k weights            -- unless all weights fit weight_elems: then
                                                    read once per layer
              partial sums: stay in the accumulators if th*tw*cb <= psum_elems (no SRAM
                            traffic); otherwise each input-channel block but the first reads
                            them and each but the last writes them (spill)
          write th*tw*cb outputs

    with cib = the largest channel count whose window fits input_elems and whose weight block
    fits weight_elems (at least 1). Counts are elements (multiply by the element width for
    bytes); the halo overlap is counted because neighbouring windows re-read it.
    Numeric contract: exact Python ints. Errors: ValueError naming the bad parameter.
    """
    if not isinstance(layer, ConvShape):
        raise TypeError(f"layer is {type(layer).__name__}: expected ConvShape")
    min_map = check_int_tuple("min_map", min_map, 2, minimum=1, broadcast=True)
    oh, ow = layer.out_hw
    if oh < 1 or ow < 1:
        raise ValueError(f"layer {layer.name!r} has an empty output {oh}x{ow}")
    if tile is None or layer.h < min_map[0] or layer.w < min_map[1]:
        th, tw = oh, ow
    else:
        th, tw = check_int_tuple("tile", tile, 2, minimum=1, broadcast=True)
        th, tw = min(th, oh), min(tw, ow)
    k, s, p = layer.k, layer.stride, layer.pad
    all_weights = layer.c_out * layer.c_in * k * k
    weights_resident = all_weights <= buffers.weight_elems
    inputs = weights = psum_r = psum_w = 0
    for r0 in range(0, oh, th):
        rows = min(th, oh - r0)
        ih = _span(r0 * s - p, (r0 + rows - 1) * s - p + k - 1, layer.h)
        for c0 in range(0, ow, tw):
            cols = min(tw, ow - c0)
            iw = _span(c0 * s - p, (c0 + cols - 1) * s - p + k - 1, layer.w)
            window = ih * iw
            cb = max(1, min(layer.c_out, buffers.psum_elems // (rows * cols)))
            n_cb = math.ceil(layer.c_out / cb)
            cib = max(1, min(layer.c_in, buffers.input_elems // max(window, 1),
                             buffers.weight_elems // (cb * k * k)))
            n_cib = math.ceil(layer.c_in / cib)
            input_resident = window * layer.c_in <= buffers.input_elems
            inputs += window * layer.c_in * (1 if input_resident else n_cb)
            if not weights_resident:
                weights += all_weights
            if rows * cols * cb > buffers.psum_elems:
                psum_r += (n_cib - 1) * rows * cols * layer.c_out
                psum_w += (n_cib - 1) * rows * cols * layer.c_out
    if weights_resident:
        weights = all_weights
    return AccessCounts(inputs, weights, psum_r, psum_w, oh * ow * layer.c_out)


def network_access_counts(layers, buffers: BufferSizes = BufferSizes(), *, tile=DEFAULT_TILE,
                          min_map=DEFAULT_MIN_MAP) -> AccessCounts:
    """Sum of ``conv_access_counts`` over ``layers`` (each multiplied by its ``count``).

    Numeric contract: exact Python ints; errors as ``conv_access_counts``.
    """
    total = AccessCounts(0, 0, 0, 0, 0)
    for layer in layers:
        total = total + conv_access_counts(layer, buffers, tile=tile,
                                           min_map=min_map).scaled(layer.count)
    return total


def resnet50_conv_shapes(*, image=224) -> list[ConvShape]:
    """The 53 convolutions of ResNet-50 v1.5 (torchvision: stride 2 in the 3x3 of each
    stage's first block), grouped by shape with ``count``; FC layer excluded.

    Numeric contract: integer shapes from the torchvision definition (conv1 7x7/2 pad 3, max
    pool 3x3/2 pad 1); ValueError for a non-positive ``image``.
    """
    check_int("image", image, minimum=1)
    h = (image + 6 - 7) // 2 + 1          # conv1 output
    layers = [ConvShape("conv1", 3, image, image, 64, 7, 2, 3)]
    h = (h + 2 - 3) // 2 + 1              # max pool 3x3/2 pad 1
    c_in = 64
    for stage, (width, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], start=2):
        out = width * 4
        s = 1 if stage == 2 else 2
        h2 = (h + 2 - 3) // s + 1
        layers += [ConvShape(f"s{stage}b1.conv1", c_in, h, h, width, 1),
                   ConvShape(f"s{stage}b1.conv2", width, h, h, width, 3, s, 1),
                   ConvShape(f"s{stage}b1.conv3", width, h2, h2, out, 1),
                   ConvShape(f"s{stage}b1.down", c_in, h, h, out, 1, s)]
        layers += [ConvShape(f"s{stage}.conv1", out, h2, h2, width, 1, count=blocks - 1),
                   ConvShape(f"s{stage}.conv2", width, h2, h2, width, 3, 1, 1, count=blocks - 1),
                   ConvShape(f"s{stage}.conv3", width, h2, h2, out, 1, count=blocks - 1)]
        c_in, h = out, h2
    return layers
