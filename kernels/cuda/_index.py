"""Device functions that turn a flat thread index into tensor coordinates."""

from numba import cuda


@cuda.jit(device=True, inline=True)
def nchw_of(t, o_total, oh, ow):
    """(n, o, oy, ox) of flat output index t of an (N, O, OH, OW) tensor."""
    return t // (ow * oh * o_total), (t // (ow * oh)) % o_total, (t // ow) % oh, t % ow


@cuda.jit(device=True, inline=True)
def oci_of(t, ch, inner):
    """(o, c, i) of flat index t of an (outer, ch, inner) tensor."""
    return t // (inner * ch), (t // inner) % ch, t % inner
