"""SCALE-Sim 3.0.0's memory side: double-buffered scratchpads, DRAM traffic and stalls.

SCALE-Sim runs a layer's demand matrices (one row per cycle: the ifmap, filter and ofmap SRAM
addresses the array touches) through three buffers, row by row, and the whole array stalls by the
largest delay any of them reports for that row. This module replays that process exactly, at the
level of events (a buffer miss, a prefetch, a drain), in compiled loops (numba). What the buffers
do, in our words (read from SCALE-Sim 3.0.0's memory package; see docs/sim-npu.md):

* **CALC bandwidth mode, ifmap and filter** (its "estimate bandwidth" read buffer): never stalls.
  Every new address joins a *set* of ``floor(words / 100)`` addresses; 50 completed sets form a
  window. An address is new when it is not among the addresses gathered since the current window
  began; when the 50th set completes the window closes, its addresses count as DRAM reads, and a
  new, empty window begins. The first window's DRAM fetch ends two cycles before the first demand
  and lasts ``ceil(50 * set / 10)`` cycles; each later fetch runs from the end of the previous
  one to the cycle its window closed, and a last fetch covers the window left open at the end.
* **USER bandwidth mode, ifmap and filter**: the layer's prefetch matrix is cut into *lines* of
  ``ceil(words / 100)`` valid words (repeats counted); the active half of the buffer holds
  ``ceil(active / line)`` consecutive lines (circularly), the prefetch half the next ones. A
  demanded address not in the active lines triggers a prefetch: the window moves on by the
  prefetch lines, DRAM reads grow by ``ceil(prefetch_words / bw) * bw`` words, and the DRAM is
  busy for that many cycles plus one. The row's delay grows by the fetch's end minus the current
  cycle *twice* when positive, and shrinks by it when negative (both as SCALE-Sim does: its
  stall counts can go down; the docs list it).
* **ofmap** (both modes; the drain bandwidth is the array width in CALC mode and the first
  ``Bandwidth`` value in USER mode): outputs fill lines of ``bw`` words; when more than the drain
  half is used and no drain is running, the pending lines (up to ``ceil(drain_words / bw)``) go to
  DRAM, one per cycle, and their space is freed at once (a partially filled line counts as full
  unless it is the last one drained). Writing into a full buffer during a drain stalls until the
  drain ends. At the end all pending lines drain back to back.

:func:`simulate_memory` returns the report items of one layer (or one core's part of a layer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

OS, WS, IS = 0, 1, 2
DATAFLOW_CODES = {"os": OS, "ws": WS, "is": IS}

# Error codes returned by the compiled replay (SCALE-Sim crashes or loops forever there).
_ERRORS = {
    1: "a CALC-mode read buffer closed two windows in the same cycle (SCALE-Sim divides by zero)",
    2: "a USER-mode read buffer missed an address with no prefetch lines left (SCALE-Sim loops "
       "forever)",
    3: "a USER-mode prefetch needs more DRAM lines than the whole prefetch matrix holds (SCALE-Sim "
       "fails to build the request)",
}


# --------------------------------------------------------------------------- demand addresses
@njit(cache=True)
def _ifmap_row(df, fr, fc, t, R, C, op, out):
    """Ifmap demand addresses of row ``t`` of fold (fr, fc); returns the row width."""
    npx, win = op.shape
    if df == OS:
        for c in range(R):
            e, p = t - c, fr * R + c
            out[c] = op[p, e] if (0 <= e < win and p < npx) else -1
        return R
    if df == WS:
        for c in range(R):
            e, w = t - c - R, fr * R + c
            out[c] = op[e, w] if (0 <= e < npx and w < win) else -1
        return R
    w = fr * R + R - 1 - t
    for c in range(C):
        p = fc * C + c
        out[c] = op[p, w] if (t < R and w < win and p < npx) else -1
    return C


@njit(cache=True)
def _filter_row(df, fr, fc, t, R, C, op, out):
    """Filter demand addresses of row ``t`` of fold (fr, fc); returns the row width."""
    win, m_all = op.shape
    if df == OS:
        for c in range(C):
            e, m = t - c, fc * C + c
            out[c] = op[e, m] if (0 <= e < win and m < m_all) else -1
        return C
    if df == WS:
        w = fr * R + R - 1 - t
        for c in range(C):
            m = fc * C + c
            out[c] = op[w, m] if (t < R and w < win and m < m_all) else -1
        return C
    for c in range(R):
        e, w = t - R - c, fr * R + c
        out[c] = op[w, e] if (0 <= e < m_all and w < win) else -1
    return R


@njit(cache=True)
def _ofmap_count(df, fr, fc, t, R, C, npx, m_all, win):
    """Number of ofmap writes in row ``t`` of fold (fr, fc) (their addresses do not matter)."""
    if df == OS:
        rows_used = min(R, npx - fr * R)
        cols_used = min(C, m_all - fc * C)
        base, e_lo, e_hi = win - 1, R - rows_used, R - 1
    elif df == WS:
        cols_used = min(C, m_all - fc * C)
        base, e_lo, e_hi = 2 * R - 1, 0, npx - 1
    else:
        cols_used = min(C, npx - fc * C)
        base, e_lo, e_hi = 2 * R - 1, 0, m_all - 1
    lo = max(0, t - base - e_hi)
    hi = min(cols_used - 1, t - base - e_lo)
    return hi - lo + 1 if hi >= lo else 0


# ------------------------------------------------------------------------ CALC read buffer
# state: 0 window id, 1 set fill, 2 sets done in window, 3 total reads, 4 first demand cycle,
#        5 transitions, 6 last_start, 7 last_end, 8 error
@njit(cache=True)
def _calc_read(row, width, cycle, stamp, base, items, st):
    if st[4] == -(1 << 60):
        for k in range(width):
            if row[k] != -1:
                st[4] = cycle
                break
    for k in range(width):
        a = row[k]
        if a == -1:
            continue
        i = a - base
        if stamp[i] == st[0]:
            continue
        stamp[i] = st[0]
        st[3] += 1
        st[1] += 1
        if st[1] == items:
            st[1] = 0
            st[2] += 1
            if st[2] == 50:
                _calc_close_window(cycle, items, st)


@njit(cache=True)
def _calc_close_window(cycle, items, st):
    st[2] = 0
    st[0] += 1
    if st[5] == 0:
        st[6] = st[4] - 1           # first fetch ends at first demand - 2; next starts after it
    elif st[7] - st[6] + 1 <= 0:
        st[8] = 1
    else:
        st[6] = st[7] + 1
    st[7] = cycle
    st[5] += 1


def _calc_read_result(st, items: int) -> tuple[float, float, int]:
    """(DRAM start cycle, DRAM stop cycle, DRAM reads) once all demands are served."""
    reads = int(st[3])
    if st[5] == 0:
        n_sets = -(-reads // items)
        cycles = -(-(n_sets * items) // 10)
        return float(-cycles), -1.0, reads
    first = int(st[4]) - math.ceil(50 * items / 10)
    if st[7] - st[6] + 1 <= 0:
        raise ValueError(_ERRORS[1])
    return float(first), float(st[7] + 1), reads


# --------------------------------------------------------------------------- DRAM ports
# port state: 0 Ramulator latencies on, 1 next latency index, 2 queue length, 3 queue size
#             (Read/WriteRequestBuffer), 4 latency without a trace (1 read, 0 write)
@njit(cache=True)
def _port(c0, n, ps, pq, lat):
    """SCALE-Sim's DRAM port serving ``n`` request lines issued at cycles c0, c0+1, ...; returns
    (first, last) response cycles. Without Ramulator latencies a response takes the fixed
    latency. With them each line takes the next latency of the layer's file (values over 10000
    read as the fixed latency); responses queue in a request buffer of ``ps[3]`` entries, and
    when it is full the port stalls until its earliest response (or drops the ones already
    done), the stall delaying the rest of this call's lines."""
    if ps[0] == 0:
        return c0 + ps[4], c0 + n - 1 + ps[4]
    stall, lo, hi = 0, 1 << 62, -(1 << 62)
    for i in range(n):
        c = c0 + i
        lat_i = ps[4]
        if ps[1] < lat.size:
            lat_i = lat[ps[1]]
            ps[1] += 1
            if lat_i > 10000:
                lat_i = ps[4]
        o = c + stall + lat_i
        lo, hi = min(lo, o), max(hi, o)
        pq[ps[2]] = o
        ps[2] += 1
        if ps[2] == ps[3]:
            upd = c + stall
            pq[:ps[2]].sort()
            drop = 1
            if pq[0] >= upd:
                stall += pq[0] - upd
            else:
                drop = np.searchsorted(pq[:ps[2]], upd)
            pq[:ps[2] - drop] = pq[drop:ps[2]].copy()
            ps[2] -= drop
    return lo, hi


# ------------------------------------------------------------------------ USER read buffer
# state: 0 active start, 1 active end, 2 last prefetch cycle, 3 DRAM reads, 5 started,
#        6 first DRAM cycle, 7 error, 8 last DRAM cycle, 9 window epoch (4: the CALC buffer's
#        slot, unused)
@njit(cache=True)
def _user_hit(i, ptr, lines, st, n_lines):
    start, end = st[0], st[1]
    for q in range(ptr[i], ptr[i + 1]):
        line = lines[q]
        if start < end:
            if start <= line < end:
                return True
        elif line >= start or line < end:
            return True
    return False


@njit(cache=True)
def _user_read(row, width, cycle, ptr, lines, base, geo, st, ps, pq, lat, seen):
    """Serve one demand row; returns SCALE-Sim's serviced cycle. ``geo``: n_lines, n_active,
    n_prefetch, request lines per prefetch, bw, request lines of the first fetch. ``seen[i]``
    holds the window epoch (``st[9]``, bumped at each prefetch) in which address ``i`` last hit:
    the window only moves at a prefetch, so a second look in the same epoch is a hit."""
    dram_stall = 0
    if st[5] == 0:                      # the first call fills the active buffer
        st[5] = 1
        st[1] = geo[1]
        st[3] += geo[5] * geo[4]
        lo, hi = _port(cycle - geo[5] - 1, geo[5], ps, pq, lat)
        st[6], st[8], st[2] = lo, hi, hi
        if ps[0]:
            dram_stall = hi - cycle + 1
    offset = 1
    for k in range(width):
        a = row[k]
        if a == -1:
            continue
        i = a - base
        if seen[i] == st[9]:
            continue
        tries = 0
        while not _user_hit(i, ptr, lines, st, geo[0]):
            if geo[2] == 0 or tries > geo[0] + 1:
                st[7] = 2
                return cycle + offset
            tries += 1
            st[9] += 1
            start = (st[0] + geo[2]) % geo[0]
            st[0], st[1] = start, (start + geo[1]) % geo[0]
            st[3] += geo[3] * geo[4]
            lo, hi = _port(st[2] + 1, geo[3], ps, pq, lat)
            st[6], st[8], st[2] = min(st[6], lo), max(st[8], hi), hi
            potential = st[2] - (cycle + offset)
            offset += potential
            if potential > 0:
                offset += potential
        seen[i] = st[9]
    return cycle + offset + dram_stall


# ----------------------------------------------------------------------------- write buffer
# state: 0 free, 1 partial fill, 2 drain end, 3 DRAM writes, 4 first drain cycle, 5 last drain
#        cycle, 6 queue head run, 7 queue tail run, 8 drained any, 9 queue overflow (a gilt
#        error), 10 pending lines. The queue holds runs of lines: row 0 fill, row 1 count.
@njit(cache=True)
def _drain(start, wgeo, queue, st, ps, pq, lat):
    bw, lines_per_drain = wgeo[3], wgeo[4]
    cap = queue.shape[1]
    n = min(lines_per_drain, st[10])
    take, last_fill = n, 0
    while take > 0:
        h = st[6] % cap
        k = min(queue[1, h], take)
        take -= k
        queue[1, h] -= k
        last_fill = queue[0, h]
        if queue[1, h] == 0:
            st[6] += 1
    data = n * bw - (bw - last_fill)
    st[10] -= n
    st[3] += data
    st[0] += data
    lo, hi = _port(start, n, ps, pq, lat)
    if st[8] == 0:
        st[4] = lo
        st[8] = 1
    st[4] = min(st[4], lo)
    st[5] = max(st[5], hi)
    return hi


@njit(cache=True)
def _flush_partial(queue, st):
    if st[1] > 0:
        _push(queue, st, st[1], 1)
        st[1] = 0


@njit(cache=True)
def _push(queue, st, fill, count):
    """Append ``count`` lines of ``fill`` words (SCALE-Sim keeps every line; only the pending
    ones matter, kept as runs in a ring)."""
    if count <= 0:
        return
    cap = queue.shape[1]
    st[10] += count
    if st[7] > st[6] and queue[0, (st[7] - 1) % cap] == fill:
        queue[1, (st[7] - 1) % cap] += count
        return
    if st[7] - st[6] >= cap:
        st[9] = 1                       # overflow: reported as an error by the caller
        return
    queue[0, st[7] % cap] = fill
    queue[1, st[7] % cap] = count
    st[7] += 1


@njit(cache=True)
def _store(k, wgeo, queue, st):
    """Store ``k`` output words with no drain decision among them."""
    bw = wgeo[3]
    st[0] -= k
    fill = st[1] + k
    _push(queue, st, bw, fill // bw)
    st[1] = fill % bw


@njit(cache=True)
def _write_row(count, cycle, wgeo, queue, st, ps, pq, lat):
    """Serve ``count`` ofmap writes arriving at ``cycle``; returns the serviced cycle.
    ``wgeo``: total words, active words, drain words, bw, lines per drain."""
    cur = cycle
    active = wgeo[1]
    k = 0
    while k < count:
        if cur < st[2] and st[0] - (count - k) > 0:
            bulk = count - k            # no element can find the buffer full
        elif cur >= st[2] and st[0] - (count - k) >= active:
            bulk = count - k            # no element can start a drain
        else:
            bulk = 1
        _store(bulk, wgeo, queue, st)
        k += bulk
        if bulk > 1:
            continue
        if cur < st[2]:
            if st[0] <= 0:
                cur = st[2]
        elif st[0] < active:
            _flush_partial(queue, st)
            st[2] = _drain(cur, wgeo, queue, st, ps, pq, lat)
    return cur


# ------------------------------------------------------------------------------ the replay
@njit(cache=True)
def _t_range(df, which, fr, fc, R, C, npx, win, m_all):
    """Rows [lo, hi) of fold (fr, fc) where operand ``which`` (0 ifmap, 1 filter, 2 ofmap) can
    have a request; every other row of the fold is empty for it."""
    if which == 2:
        if df == OS:
            cu, base, e_lo, e_hi = min(C, m_all - fc * C), win - 1, R - min(R, npx - fr * R), R - 1
        elif df == WS:
            cu, base, e_lo, e_hi = min(C, m_all - fc * C), 2 * R - 1, 0, npx - 1
        else:
            cu, base, e_lo, e_hi = min(C, npx - fc * C), 2 * R - 1, 0, m_all - 1
        return base + e_lo, base + e_hi + cu
    if df == OS:
        used = min(R, npx - fr * R) if which == 0 else min(C, m_all - fc * C)
        return 0, win + used - 1
    ru = min(R, win - fr * R)
    if (df == WS) == (which == 0):          # WS ifmap, IS filter: skewed, after R load rows
        t_len = npx if df == WS else m_all
        return R, R + t_len + ru - 1
    return R - ru, R                        # WS filter, IS ifmap: the flipped R-row block


@njit(cache=True)
def _replay(df, R, C, n_row_folds, n_col_folds, fold_len, ifop, fop, npx, m_all, win,
            calc, i_base, i_stamp, i_items, f_base, f_stamp, f_items,
            i_ptr, i_lines, i_geo, f_ptr, f_lines, f_geo, wgeo, queue, ports, pqs, lats,
            out):
    """Serve every demand row, the three buffers coupled through the stalls; ``out`` receives
    stalls, total cycles, SRAM start/stop cycles and the buffers' states."""
    rbuf = np.empty(max(R, C), np.int64)
    st = np.zeros((3, 12), np.int64)
    st[0, 4] = st[1, 4] = -(1 << 60)
    i_seen = np.full(1 if calc else i_ptr.size - 1, -1, np.int64)
    f_seen = np.full(1 if calc else f_ptr.size - 1, -1, np.int64)
    i_st, f_st, w_st = st[0], st[1], st[2]         # views made once: not per row
    i_ps, f_ps, w_ps = ports[0], ports[1], ports[2]
    i_pq, f_pq, w_pq = pqs[0], pqs[1], pqs[2]
    i_lat, f_lat, w_lat = lats[0], lats[1], lats[2]
    st[2, 0] = wgeo[0]
    stall, row_index, last_o, total = 0, 0, 0, -(1 << 60)
    sram = np.full(6, -(1 << 60), np.int64)
    for fc in range(n_col_folds):
        for fr in range(n_row_folds):
            i_lo, i_hi = _t_range(df, 0, fr, fc, R, C, npx, win, m_all)
            f_lo, f_hi = _t_range(df, 1, fr, fc, R, C, npx, win, m_all)
            for t in range(fold_len):
                cycle = row_index + stall
                n = _ifmap_row(df, fr, fc, t, R, C, ifop, rbuf) if i_lo <= t < i_hi else 0
                if calc:
                    _calc_read(rbuf, n, cycle, i_stamp, i_base, i_items, i_st)
                    out_i = cycle + 1
                else:
                    out_i = _user_read(rbuf, n, cycle, i_ptr, i_lines, i_base, i_geo, i_st,
                                       i_ps, i_pq, i_lat, i_seen)
                _mark(sram, 0, _any_valid(rbuf, n), out_i)
                n = _filter_row(df, fr, fc, t, R, C, fop, rbuf) if f_lo <= t < f_hi else 0
                if calc:
                    _calc_read(rbuf, n, cycle, f_stamp, f_base, f_items, f_st)
                    out_f = cycle + 1
                else:
                    out_f = _user_read(rbuf, n, cycle, f_ptr, f_lines, f_base, f_geo, f_st,
                                       f_ps, f_pq, f_lat, f_seen)
                _mark(sram, 2, _any_valid(rbuf, n), out_f)
                cnt = _ofmap_count(df, fr, fc, t, R, C, npx, m_all, win)
                out_o = _write_row(cnt, cycle, wgeo, queue, w_st, w_ps, w_pq, w_lat)
                _mark(sram, 4, cnt > 0, out_o)
                total = max(total, out_o)
                last_o = out_o
                stall += max(out_i - cycle - 1, out_f - cycle - 1, out_o - cycle)
                row_index += 1
    _finish(stall, total, last_o, sram, wgeo, queue, st, ports, pqs, lats, out)


@njit(cache=True)
def _finish(stall, total, last_o, sram, wgeo, queue, st, ports, pqs, lats, out):
    """Drain what the ofmap buffer still holds, back to back; fill ``out``."""
    _flush_partial(queue, st[2])
    cycle = last_o
    while st[2, 10] > 0:
        cycle = _drain(cycle, wgeo, queue, st[2], ports[2], pqs[2], lats[2]) + 1
    out[0], out[1] = stall, total
    out[2:8] = sram
    out[8:20] = st[0]
    out[20:32] = st[1]
    out[32:44] = st[2]


@njit(cache=True)
def _ofmap_block(df, fr, fc, R, C, npx, m_all, win):
    """(first row, length T, columns u) of the ofmap's skewed block in fold (fr, fc): column c
    writes T words in rows first + c ... first + c + T - 1."""
    if df == OS:
        ru = min(R, npx - fr * R)
        return win - 1 + R - ru, ru, min(C, m_all - fc * C)
    if df == WS:
        return 2 * R - 1, npx, min(C, m_all - fc * C)
    return 2 * R - 1, m_all, min(C, npx - fc * C)


@njit(cache=True)
def _ofmap_pass(df, R, C, n_row_folds, n_col_folds, fold_len, npx, m_all, win, wgeo, queue,
                ports, pqs, lats, out):
    """CALC mode: the ofmap buffer alone (the read buffers never stall there), jumping from one
    drain decision to the next with the blocks' closed-form write counts. Returns False at the
    first ofmap stall (the caller then runs the coupled :func:`_replay`)."""
    st = np.zeros((3, 12), np.int64)
    st[2, 0] = wgeo[0]
    w = st[2]
    sram = np.full(6, -(1 << 60), np.int64)
    active = wgeo[1]
    for g in range(n_row_folds * n_col_folds):
        fc, fr = g // n_row_folds, g % n_row_folds
        first, T, u = _ofmap_block(df, fr, fc, R, C, npx, m_all, win)
        row0 = g * fold_len + first                 # cycle of the block's first row
        n_rows = T + u - 1
        _mark(sram, 4, True, row0)
        _mark(sram, 4, True, row0 + n_rows - 1)
        x = 0                                       # rows of the block served so far
        while x < n_rows:
            done = _skew_cum(x, T, u)
            if row0 + x < w[2]:                     # a drain runs: only a full buffer matters
                x1 = min(n_rows, w[2] - row0)
                k = _skew_cum(x1, T, u) - done
                if w[0] - k <= 0:
                    return False
                _store(k, wgeo, queue, w)
                x = x1
                continue
            if w[0] - (_skew_cum(n_rows, T, u) - done) >= active:
                _store(_skew_cum(n_rows, T, u) - done, wgeo, queue, w)
                break
            lo, hi = x + 1, n_rows                  # first x* with free below active after it
            while lo < hi:
                mid = (lo + hi) // 2
                if w[0] - (_skew_cum(mid, T, u) - done) < active:
                    hi = mid
                else:
                    lo = mid + 1
            _store(_skew_cum(lo - 1, T, u) - done, wgeo, queue, w)
            cnt = _skew_cum(lo, T, u) - _skew_cum(lo - 1, T, u)
            if _write_row(cnt, row0 + lo - 1, wgeo, queue, w, ports[2], pqs[2],
                          lats[2]) != row0 + lo - 1:
                return False
            x = lo
    total = n_row_folds * n_col_folds * fold_len - 1
    _finish(0, total, total, sram, wgeo, queue, st, ports, pqs, lats, out)
    return True


@njit(cache=True)
def _calc_stream(df, which, R, C, n_row_folds, n_col_folds, fold_len, op, npx, m_all, win,
                 base, stamp, items, out_st, sram):
    """CALC mode without stalls: one read buffer alone over its demand stream (cycle = row)."""
    rbuf = np.empty(max(R, C), np.int64)
    out_st[4] = -(1 << 60)
    for fc in range(n_col_folds):
        for fr in range(n_row_folds):
            g = (fc * n_row_folds + fr) * fold_len
            lo, hi = _t_range(df, which, fr, fc, R, C, npx, win, m_all)
            for t in range(lo, hi):
                if which == 0:
                    n = _ifmap_row(df, fr, fc, t, R, C, op, rbuf)
                else:
                    n = _filter_row(df, fr, fc, t, R, C, op, rbuf)
                if _any_valid(rbuf, n):
                    _mark(sram, 2 * which, True, g + t + 1)
                    _calc_read(rbuf, n, g + t, stamp, base, items, out_st)


@njit(cache=True)
def _first_last_rows(df, which, R, C, n_row_folds, n_col_folds, fold_len, op, npx, m_all,
                     win, sram):
    """First and last demand rows holding a request of operand ``which`` (SRAM start/stop)."""
    rbuf = np.empty(max(R, C), np.int64)
    n_folds = n_row_folds * n_col_folds
    for step in (1, -1):
        g_range = range(n_folds) if step == 1 else range(n_folds - 1, -1, -1)
        found = False
        for g in g_range:
            fc, fr = g // n_row_folds, g % n_row_folds
            lo, hi = _t_range(df, which, fr, fc, R, C, npx, win, m_all)
            t_range = range(lo, hi) if step == 1 else range(hi - 1, lo - 1, -1)
            for t in t_range:
                if which == 0:
                    n = _ifmap_row(df, fr, fc, t, R, C, op, rbuf)
                else:
                    n = _filter_row(df, fr, fc, t, R, C, op, rbuf)
                if _any_valid(rbuf, n):
                    _mark(sram, 2 * which, True, g * fold_len + t + 1)
                    found = True
                    break
            if found:
                break


@njit(cache=True)
def _distinct(op, base, span):
    """Number of distinct valid addresses in an operand matrix."""
    seen = np.zeros(span, np.bool_)
    n = 0
    for a in op.ravel():
        if a != -1 and not seen[a - base]:
            seen[a - base] = True
            n += 1
    return n


# ------------------------------------------------- CALC reads of a duplicate-free operand
@njit(cache=True)
def _fold_shape(df, which, fr, fc, R, C, npx, win, m_all):
    """(skewed, base, T, u, ru) of an operand's block in fold (fr, fc): a skewed block has ``u``
    columns of ``T`` requests from row ``base`` (column c delayed c rows); a flipped block has
    ``ru`` rows of ``u`` requests ending at row R - 1."""
    if df == OS:
        if which == 0:
            return True, 0, win, min(R, npx - fr * R), 0
        return True, 0, win, min(C, m_all - fc * C), 0
    ru = min(R, win - fr * R)
    if (df == WS) == (which == 0):
        return True, R, npx if df == WS else m_all, ru, 0
    return False, 0, 0, min(C, (m_all if df == WS else npx) - fc * C), ru


@njit(cache=True)
def _skew_cum(x, T, u):
    """Requests in the first ``x`` rows of a skewed block (``u`` columns of ``T``)."""
    if x <= 0:
        return 0
    full = min(max(x - T + 1, 0), u)               # columns already complete
    part_hi = min(u, x)                             # columns started: c < part_hi
    total = full * T
    n = part_hi - full                              # columns c in [full, part_hi): x - c rows
    if n > 0:
        total += n * x - (full + part_hi - 1) * n // 2
    return total


@njit(cache=True)
def _row_of(j, skewed, base, T, u, ru, R):
    """Row of the fold holding its ``j``-th request (0-based, in SCALE-Sim's order)."""
    if not skewed:
        return R - ru + j // u
    lo, hi = 0, T + u                               # rows after base: smallest x with cum > j
    while lo < hi:
        mid = (lo + hi) // 2
        if _skew_cum(mid + 1, T, u) > j:
            hi = mid
        else:
            lo = mid + 1
    return base + lo


@njit(cache=True)
def _fold_key(df, which, fr, fc):
    """Folds with the same key request the same addresses in the same order; different keys,
    disjoint addresses (a duplicate-free operand)."""
    if (df == WS and which == 0) or (df == OS and which == 0) or (df == IS and which == 1):
        return fr
    if df == OS:
        return fc
    return -1                                       # every fold its own addresses


@njit(cache=True)
def _calc_distinct_folds(df, which, R, C, n_row_folds, n_col_folds, fold_len, npx, m_all, win,
                         items, out_st):
    """CALC read buffer over an operand whose matrix holds every address once (no ``-1``):
    a request is new iff the last fold with the same key lies before the window start, so the
    new requests of a fold are a prefix of it, then all of it after a window closes. Fills
    ``out_st`` as :func:`_calc_read` would (window closes mapped back to rows)."""
    wwin = 50 * items
    n_keys = max(n_row_folds, n_col_folds)
    prev = np.full(n_keys, -(1 << 60), np.int64)
    pos, win_start, count, reads, closes = 0, 0, 0, 0, 0
    close_pos = np.full(2, -1, np.int64)
    for g in range(n_row_folds * n_col_folds):
        fc, fr = g // n_row_folds, g % n_row_folds
        skewed, base, T, u, ru = _fold_shape(df, which, fr, fc, R, C, npx, win, m_all)
        n = u * T if skewed else u * ru
        key = _fold_key(df, which, fr, fc)
        p_prev = prev[key] if key >= 0 else -(1 << 60)
        fresh = n if p_prev < -(1 << 59) else min(max(win_start - p_prev, 0), n)
        if count + fresh < wwin:
            count += fresh
            reads += fresh
        else:                                       # a window closes: the rest is all new
            j = wwin - count - 1
            while j < n:
                close_pos[0], close_pos[1] = close_pos[1], pos + j
                closes += 1
                j += wwin
            reads += n
            count = n - 1 - (close_pos[1] - pos)
            win_start = close_pos[1] + 1
        if key >= 0:
            prev[key] = pos
        pos += n
    out_st[3] = reads
    out_st[5] = closes
    return close_pos


@njit(cache=True)
def _pos_to_cycles(df, which, R, C, n_row_folds, n_col_folds, fold_len, npx, m_all, win,
                   positions):
    """Cycles (rows, no stalls) of the requests at ``positions`` of an operand's stream."""
    out = np.full(positions.size, -1, np.int64)
    pos = 0
    for g in range(n_row_folds * n_col_folds):
        fc, fr = g // n_row_folds, g % n_row_folds
        skewed, base, T, u, ru = _fold_shape(df, which, fr, fc, R, C, npx, win, m_all)
        n = u * T if skewed else u * ru
        for k in range(positions.size):
            p = positions[k]
            if pos <= p < pos + n:
                out[k] = g * fold_len + _row_of(p - pos, skewed, base, T, u, ru, R)
        pos += n
    return out


@njit(cache=True)
def _any_valid(row, n):
    for k in range(n):
        if row[k] != -1:
            return True
    return False


@njit(cache=True)
def _mark(sram, k, valid, cycle):
    if valid:
        if sram[k] == -(1 << 60):
            sram[k] = cycle
        sram[k + 1] = cycle
# --------------------------------------------------------------------- USER prefetch lines
@njit(cache=True)
def _prefetch_elem(df, which, i, j, R, C, op):
    """Element (i, j) of SCALE-Sim's prefetch matrix (before its diagonal roll-out)."""
    a, b = op.shape
    if df == WS and which == 0:        # ifmap: row folds of the ifmap operand's columns
        w = (i // a) * R + j
        return op[i % a, w] if w < b else -1
    if df == WS:                       # filter: column folds of the filter operand
        m = (i // a) * C + j
        return op[i % a, m] if m < b else -1
    if df == OS and which == 0:        # ifmap, transposed: pixels across, window down
        p = (i // b) * R + j
        return op[p, i % b] if p < a else -1
    if df == OS:
        m = (i // a) * C + j
        return op[i % a, m] if m < b else -1
    if which == 0:                     # IS ifmap, transposed: pixels across
        p = (i // b) * C + j
        return op[p, i % b] if p < a else -1
    w = (i // b) * R + j               # IS filter, transposed per row fold
    return op[w, i % b] if w < a else -1


@njit(cache=True)
def _prefetch_stream(df, which, rows, cols, roll, R, C, op, out):
    """Valid prefetch addresses in SCALE-Sim's order (row-major, or anti-diagonals, bottom row
    first, when ``roll``); returns their number."""
    n = 0
    if not roll:
        for i in range(rows):
            for j in range(cols):
                v = _prefetch_elem(df, which, i, j, R, C, op)
                if v != -1:
                    out[n] = v
                    n += 1
        return n
    for d in range(rows + cols - 1):
        r_hi = min(d, rows - 1)
        r_lo = max(0, d - cols + 1)
        for r in range(r_hi, r_lo - 1, -1):
            v = _prefetch_elem(df, which, r, d - r, R, C, op)
            if v != -1:
                out[n] = v
                n += 1
    return n


@njit(cache=True)
def _line_index(stream, n, eps, base, span):
    """CSR (address -> sorted distinct line ids holding it) of a prefetch stream cut into lines
    of ``eps`` valid words."""
    count = np.zeros(span + 1, np.int64)
    last = np.full(span, -1, np.int64)
    for p in range(n):
        i = stream[p] - base
        line = p // eps
        if last[i] != line:
            last[i] = line
            count[i + 1] += 1
    for i in range(span):
        count[i + 1] += count[i]
    lines = np.empty(count[span], np.int64)
    fill = count[:span].copy()
    last[:] = -1
    for p in range(n):
        i = stream[p] - base
        line = p // eps
        if last[i] != line:
            last[i] = line
            lines[fill[i]] = line
            fill[i] += 1
    return count, lines


# --------------------------------------------------------------------------- Python side
@dataclass(frozen=True)
class MemoryParams:
    """What SCALE-Sim's memory system is built from: SRAM sizes (KiB, one-byte words), the
    bandwidth mode, the ifmap/filter read bandwidths (USER mode: the [layout] bank bandwidths, as
    SCALE-Sim 3.0.0 wires them) and the ofmap drain bandwidth (USER: first ``Bandwidth`` value;
    CALC: the array width)."""

    ifmap_kib: int
    filter_kib: int
    ofmap_kib: int
    calc: bool
    ifmap_bw: int = 10
    filter_bw: int = 10
    ofmap_bw: int = 10
    #: USER mode with SCALE-Sim's Ramulator hook: per-request-line DRAM latencies of the ifmap,
    #: filter and ofmap ports (see :mod:`.dram`) and the Read/WriteRequestBuffer sizes.
    dram_latencies: tuple | None = None
    read_request_buffer: int = 32
    write_request_buffer: int = 32


@dataclass(frozen=True)
class MemoryResult:
    """One layer's memory-side report numbers, typed as SCALE-Sim 3.0.0 types them."""

    total_cycles: int
    stall_cycles: int
    sram_cycles: tuple[float, float, float, float, float, float]
    ifmap_dram: tuple[float, float, int]
    filter_dram: tuple[float, float, int]
    ofmap_dram: tuple[float, float, int]
    method: str = "replay"          # or "split-replay", "drain-replay": see simulate_memory

    @property
    def total_cycles_incl_prefetch(self) -> int:
        return int(self.ofmap_dram[1] - min(self.ifmap_dram[0], self.filter_dram[0]))


def fold_geometry(dataflow: str, rows: int, cols: int, npx: int, window: int,
                  filters: int) -> tuple[int, int, int]:
    """(row folds, column folds, fold length) of SCALE-Sim's demand matrices."""
    if dataflow == "os":
        return -(-npx // rows), -(-filters // cols), window + rows + cols - 2
    t = npx if dataflow == "ws" else filters
    sc = filters if dataflow == "ws" else npx
    return -(-window // rows), -(-sc // cols), 2 * rows + cols + t - 2


@njit(cache=True)
def _min_max(op):
    lo, hi = 1 << 62, -1
    for a in op.ravel():
        if a != -1:
            lo = min(lo, a)
            hi = max(hi, a)
    return lo, hi


def _span(op: np.ndarray) -> tuple[int, int]:
    lo, hi = _min_max(op)
    if hi < 0:
        raise ValueError("an operand has no valid address (SCALE-Sim fails on it)")
    return int(lo), int(hi) - int(lo) + 1


_ROLL = {("ws", 0): True, ("ws", 1): False, ("os", 0): True, ("os", 1): True,
         ("is", 0): False, ("is", 1): True}


def _prefetch_shape(dataflow: str, which: int, R: int, C: int, op: np.ndarray):
    a, b = op.shape
    if dataflow == "ws":
        return (-(-b // R) * a, R) if which == 0 else (-(-b // C) * a, C)
    if dataflow == "os":
        return (-(-a // R) * b, R) if which == 0 else (-(-b // C) * a, C)
    return (-(-a // C) * b, C) if which == 0 else (-(-a // R) * b, R)


def _user_buffer(dataflow: str, which: int, R: int, C: int, op: np.ndarray, kib: int, bw: int):
    """(ptr, lines, base, geo) of a USER-mode read buffer over operand ``op``."""
    total = kib * 1024
    active = int(math.ceil(total * 0.5))
    prefetch = total - active
    eps = math.ceil(total / 100)
    rows, cols = _prefetch_shape(dataflow, which, R, C, op)
    stream = np.empty(rows * cols, np.int64)
    n = _prefetch_stream(DATAFLOW_CODES[dataflow], which, rows, cols, _ROLL[dataflow, which],
                         R, C, op, stream)
    base, span = _span(op)
    ptr, lines = _line_index(stream, n, eps, base, span)
    n_lines = n // eps + 1
    n_active = min(n_lines, math.ceil(active / eps))
    n_pref = min(n_lines - n_active, math.ceil(prefetch / eps))
    fetch_rows = math.ceil(rows * cols / bw)
    n_req = math.ceil(prefetch / bw)
    geo = np.array([n_lines, n_active, n_pref, n_req, bw, min(math.ceil(active / bw), fetch_rows)],
                   np.int64)
    return ptr, lines, base, geo, fetch_rows


_EMPTY = np.zeros(1, np.int64)


def simulate_memory(dataflow: str, R: int, C: int, ifop: np.ndarray, fop: np.ndarray,
                    ofmap_shape: tuple[int, int], params: MemoryParams, *,
                    distinct: tuple[int, int] | None = None) -> MemoryResult:
    """Replay SCALE-Sim's memory system over one layer's demand matrices.

    ``ifop`` (output pixels x window) and ``fop`` (window x filters) are SCALE-Sim's operand
    address matrices (``-1`` where a window runs past the input); ``ofmap_shape`` is the ofmap
    operand's (pixels, filters); ``distinct`` the number of distinct ifmap and filter addresses
    when the caller knows it (else counted).

    CALC mode first replays the ofmap buffer alone: the read buffers never stall there, so when
    the ofmap does not stall either (always, unless the array is wider than about half the
    ofmap SRAM) every row is served in its own cycle and each read buffer is replayed alone over
    its stream, or, when the operand's distinct addresses fit in one window, given in closed form
    (method ``drain-replay`` when both are, else ``split-replay``). Otherwise (USER mode, or an
    ofmap stall) the three buffers are replayed together row by row (method ``replay``)."""
    df = DATAFLOW_CODES[dataflow]
    npx, window = ifop.shape
    m_all = fop.shape[1]
    geo = fold_geometry(dataflow, R, C, npx, window, m_all)
    ifop = np.ascontiguousarray(ifop, np.int64)
    fop = np.ascontiguousarray(fop, np.int64)
    total_o = params.ofmap_kib * 1024
    active_o = int(math.ceil(total_o * 0.5))
    bw_o = params.ofmap_bw
    wgeo = np.array([total_o, active_o, total_o - active_o, bw_o,
                     math.ceil((total_o - active_o) / bw_o)], np.int64)
    out = np.zeros(44, np.int64)
    ports, pqs, lats = _ports(params)
    if params.calc:
        for queue_size in (1024, 2 * total_o + 4 * max(R, C) + 64):
            queue = np.zeros((2, queue_size), np.int64)   # runs of pending ofmap lines
            if not _ofmap_pass(df, R, C, *geo, npx, m_all, window, wgeo, queue, ports, pqs,
                               lats, out):
                break
            if not out[32 + 9]:
                return _calc_split(df, R, C, geo, ifop, fop, params, distinct, out)
    queue = np.zeros((2, 2 * total_o + 4 * max(R, C) + 64), np.int64)
    i_base, i_span = _span(ifop)
    f_base, f_span = _span(fop)
    if params.calc:
        i_stamp = np.full(i_span, -1, np.int64)
        f_stamp = np.full(f_span, -1, np.int64)
        i_items = params.ifmap_kib * 1024 // 100
        f_items = params.filter_kib * 1024 // 100
        i_user = f_user = (_EMPTY, _EMPTY, 0, np.zeros(6, np.int64), 0)
    else:
        i_stamp = f_stamp = _EMPTY
        i_items = f_items = 1
        i_user = _user_buffer(dataflow, 0, R, C, ifop, params.ifmap_kib, params.ifmap_bw)
        f_user = _user_buffer(dataflow, 1, R, C, fop, params.filter_kib, params.filter_bw)
    _replay(df, R, C, *geo, ifop, fop, npx, m_all, window, params.calc,
            i_base, i_stamp, i_items, f_base, f_stamp, f_items,
            i_user[0], i_user[1], i_user[3], f_user[0], f_user[1], f_user[3],
            wgeo, queue, ports, pqs, lats, out)
    return _result(out, params, i_items, f_items, i_user, f_user)


_FIXED_PORTS = None


def _ports(params: MemoryParams):
    """The three DRAM ports' states, request queues and latency arrays (fixed-latency ports are
    never written to, so one set serves every layer)."""
    global _FIXED_PORTS
    if params.dram_latencies is None or params.calc:
        if _FIXED_PORTS is None:
            _FIXED_PORTS = _new_ports(params)
        return _FIXED_PORTS
    return _new_ports(params)


def _new_ports(params: MemoryParams):
    ports = np.zeros((3, 5), np.int64)
    ports[:, 4] = (1, 1, 0)
    lats = (_EMPTY, _EMPTY, _EMPTY)
    if params.dram_latencies is not None and not params.calc:
        ports[:, 0] = 1
        ports[:, 3] = (params.read_request_buffer, params.read_request_buffer,
                       params.write_request_buffer)
        lats = tuple(np.ascontiguousarray(a, np.int64) for a in params.dram_latencies)
    pqs = np.zeros((3, int(ports[:, 3].max()) + 1), np.int64)
    return ports, pqs, lats


def _calc_distinct_state(df, which, R, C, geo, npx, m_all, window, items, st, first_req):
    """The CALC read-buffer state (as :func:`_calc_read` leaves it) of a duplicate-free operand,
    from its folds' sizes alone (:func:`_calc_distinct_folds`)."""
    close_pos = _calc_distinct_folds(df, which, R, C, *geo, npx, m_all, window, items, st)
    st[4] = first_req
    cycles = _pos_to_cycles(df, which, R, C, *geo, npx, m_all, window, close_pos)
    cycles = [int(c) for p, c in zip(close_pos, cycles) if p >= 0]
    if st[5] == 1:
        st[6], st[7] = first_req - 1, cycles[-1]
    elif st[5] >= 2:
        st[6], st[7] = cycles[0] + 1, cycles[1]


def _calc_split(df, R, C, geo, ifop, fop, params, distinct, out) -> MemoryResult:
    """CALC mode with no ofmap stall: each read buffer alone (see :func:`simulate_memory`)."""
    npx, window = ifop.shape
    m_all = fop.shape[1]
    sram = out[2:8].copy()
    reads, closed = [], 0
    for which, op, kib in ((0, ifop, params.ifmap_kib), (1, fop, params.filter_kib)):
        items = kib * 1024 // 100
        if distinct is None:
            base, span = _span(op)
            count = _distinct(op, base, span)
        else:
            count = distinct[which]
        if count < 50 * items:              # one window never closes: all reads at the end
            _first_last_rows(df, which, R, C, *geo, op, npx, m_all, window, sram)
            cycles = -(-(-(-count // items) * items) // 10)
            reads.append((float(-cycles), -1.0, int(count)))
            closed += 1
            continue
        st = np.zeros(12, np.int64)
        if count == op.size and max(R, C) < 50 * items:    # every address once, no -1
            _first_last_rows(df, which, R, C, *geo, op, npx, m_all, window, sram)
            _calc_distinct_state(df, which, R, C, geo, npx, m_all, window, items, st,
                                 int(sram[2 * which]) - 1)
            closed += 1
        else:
            base, span = _span(op)
            _calc_stream(df, which, R, C, *geo, op, npx, m_all, window, base,
                         np.full(span, -1, np.int64), items, st, sram)
        if st[8]:
            raise ValueError(_ERRORS[int(st[8])])
        reads.append(_calc_read_result(st, items))
    w_st = out[32:44]
    return MemoryResult(total_cycles=int(out[1]), stall_cycles=0,
                        sram_cycles=tuple(float(x) for x in sram), ifmap_dram=reads[0],
                        filter_dram=reads[1],
                        ofmap_dram=(float(w_st[4]), float(w_st[5]), int(w_st[3])),
                        method="drain-replay" if closed == 2 else "split-replay")



def _check_queue(out):
    if out[32 + 9]:
        raise RuntimeError("ofmap line queue overflow (a gilt bug: please report)")


def _result(out, params, i_items, f_items, i_user, f_user) -> MemoryResult:
    _check_queue(out)
    i_st, f_st, w_st = out[8:20], out[20:32], out[32:44]
    if params.calc:
        for st in (i_st, f_st):
            if st[8]:
                raise ValueError(_ERRORS[int(st[8])])
        ifmap = _calc_read_result(i_st, i_items)
        filt = _calc_read_result(f_st, f_items)
    else:
        ifmap = _user_read_result(i_st, i_user)
        filt = _user_read_result(f_st, f_user)
    sram = tuple(float(x) for x in out[2:8])
    ofmap = (float(w_st[4]), float(w_st[5]), int(w_st[3]))
    return MemoryResult(total_cycles=int(out[1]), stall_cycles=int(out[0]), sram_cycles=sram,
                        ifmap_dram=ifmap, filter_dram=filt, ofmap_dram=ofmap)


def _user_read_result(st, user) -> tuple[float, float, int]:
    if st[7]:
        raise ValueError(_ERRORS[int(st[7])])
    geo, fetch_rows = user[3], user[4]
    first_reads = int(geo[5] * geo[4])
    if st[3] > first_reads and geo[3] > fetch_rows:
        raise ValueError(_ERRORS[3])
    return float(st[6]), float(st[8]), int(st[3])
