"""Fused text generation for LSTM language models.

:func:`lm_sample` runs the whole sampling loop of a language model
``Embedding -> LSTM x L -> Affine`` in compiled code: embedding row, the
LSTM steps, the output affine map, a stable float64 softmax and the draw of
the next id, then the next step.  Python only prepares the weights once per
``generate`` call and refills the uniforms.

Parallel work uses fixed blocks that depend only on ``nch``
(``fastlstm._numba.CHUNKS``), never on the thread count, so the same inputs
give the same ids with any number of threads:

* an LSTM step splits the rows of ``Wx`` and of ``Wh`` into ``nch`` blocks
  each; every block writes a partial gate vector (one single-threaded BLAS
  call on a contiguous slice of rows), summed afterwards in block order;
* the output scores are computed over fixed blocks of rows of ``W_out.T``
  (``(V, H)``, for a tied model the embedding itself), and every block also
  computes its maximum and its sum of ``exp(s - max)`` in float64.

Sampling reproduces ``rng.choice(V, p=softmax(s))`` of NumPy's ``Generator``:
one uniform ``u`` per draw and the first id whose cumulative probability
exceeds ``u`` (``searchsorted(cdf, u, side='right')``).
"""

from __future__ import annotations

import math

import numpy as np

from fastlstm._kernels.fastmath import sigmoid as _sig
from fastlstm._kernels.fastmath import tanh as _tanh
from fastlstm._numba import BlasScoped, dual, jit, prange

# status codes returned by lm_sample
DONE = 0
NEED_UNIFORMS = 1
TOO_MANY_SKIPS = 2
BAD_SCORES = 3


@jit
def _select(a, kth):
    """The ``kth`` smallest value of ``a`` (0-based; ``a`` is reordered, values must not be NaN).

    Quickselect with a median-of-three pivot; a few lines instead of
    ``np.partition``, whose compiled form costs seconds of compile time.
    """
    lo = 0
    hi = a.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        x, y, z = a[lo], a[mid], a[hi]
        pivot = max(min(x, y), min(max(x, y), z))
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if kth <= j:
            hi = j
        elif kth >= i:
            lo = i
        else:
            return a[kth]
    return a[kth]


@jit
def _kth_largest_mask(s, k, keep):
    """Set ``keep[v]`` for exactly ``k`` ids with the largest ``s`` (ties: lower id first)."""
    V = s.shape[0]
    tmp = s.copy()
    thr = _select(tmp, V - k)
    n_gt = 0
    for v in range(V):
        if s[v] > thr:
            n_gt += 1
    need_eq = k - n_gt
    for v in range(V):
        if s[v] > thr:
            keep[v] = True
        elif s[v] == thr and need_eq > 0:
            keep[v] = True
            need_eq -= 1
        else:
            keep[v] = False


@jit(inline="never")
def _gate_part(task, nch, xin, Wx, hprev, Wh, part):
    """Partial gate vector of one task: rows block ``task`` of ``Wx`` (or of ``Wh``)."""
    if task < nch:
        K = xin.shape[0]
        step = (K + nch - 1) // nch
        lo = task * step
        hi = min(K, lo + step)
        if lo < hi:
            np.dot(xin[lo:hi], Wx[lo:hi], part[task])
            return
    else:
        K = hprev.shape[0]
        step = (K + nch - 1) // nch
        lo = (task - nch) * step
        hi = min(K, lo + step)
        if lo < hi:
            np.dot(hprev[lo:hi], Wh[lo:hi], part[task])
            return
    row = part[task]
    for j in range(row.shape[0]):
        row[j] = 0


@jit(inline="never")
def _score_block(blk, step, WoutT, bout, hlast, temperature, with_exp, s32, s, e, bmax, barg, bsum):
    """Scores of one block of ids, with the block's max, argmax and sum of ``exp(s - max)``."""
    V = WoutT.shape[0]
    lo = blk * step
    hi = min(V, lo + step)
    if lo >= hi:
        bmax[blk] = -np.inf
        barg[blk] = V
        bsum[blk] = 0.0
        return
    np.dot(WoutT[lo:hi], hlast, s32[lo:hi])
    m = -np.inf
    am = lo
    finite = True
    for v in range(lo, hi):
        sv = np.float64(s32[v] + bout[v]) / temperature
        s[v] = sv
        finite &= math.isfinite(sv)  # this function is compiled without fast-math flags
        if sv > m:
            m = sv
            am = v
    if not finite:  # a NaN is never a maximum: mark the block so the caller stops
        m = np.inf
    bmax[blk] = m
    barg[blk] = am
    acc = 0.0
    if with_exp:
        for v in range(lo, hi):
            ev = math.exp(s[v] - m)
            e[v] = ev
            acc += ev
    bsum[blk] = acc


@jit(inline="never")
def _cell_update(b, part, c, hnew):
    """Gate sums of the tasks' parts plus the bias, then the LSTM cell: ``c`` and ``hnew`` (H,)."""
    H = c.shape[0]
    NT = part.shape[0]
    for j in range(H):
        af = b[j]
        ag = b[H + j]
        ai = b[2 * H + j]
        ao = b[3 * H + j]
        for task in range(NT):
            af += part[task, j]
            ag += part[task, H + j]
            ai += part[task, 2 * H + j]
            ao += part[task, 3 * H + j]
        f = _sig(af)
        g = _tanh(ag)
        i = _sig(ai)
        o = _sig(ao)
        cn = f * c[j] + g * i
        c[j] = cn
        hnew[j] = o * _tanh(cn)


@jit
def _walk(e, lo, hi, scale, acc, target, sampled):
    """Add ``e[lo:hi] * scale`` to the running sum ``acc`` until it exceeds ``target``.

    Returns ``(id, acc, hit)``: the id where the sum passed ``target`` (``hit``),
    else the last id with mass so far (``sampled`` if none) and the new sum.
    """
    for v in range(lo, hi):
        ev = e[v] * scale
        if ev > 0.0:
            acc += ev
            sampled = v
            if acc > target:
                return sampled, acc, True
    return sampled, acc, False


@jit
def _argmax_allowed(s, skip):
    """The first id of the largest score ``s`` among the ids not in ``skip`` (-1 if none)."""
    m = -np.inf
    am = -1
    for v in range(s.shape[0]):
        if not skip[v] and (am < 0 or s[v] > m):
            m = s[v]
            am = v
    return am


@jit(inline="never")
def _draw_top_k(s, e, keep, top_k, m, uu):
    """Draw an id among the ``top_k`` largest scores ``s`` (max ``m``) with the uniform ``uu``.

    Returns the id, -1 if nothing could be drawn, or -2 if the sum of the
    weights is not finite.
    """
    V = s.shape[0]
    _kth_largest_mask(s, top_k, keep)
    total = 0.0
    for v in range(V):
        if keep[v]:
            ev = math.exp(s[v] - m)
            e[v] = ev
            total += ev
        else:
            e[v] = 0.0
    if not math.isfinite(total):
        return -2
    return _walk(e, 0, V, 1.0, 0.0, uu * total, -1)[0]


@jit(inline="never")
def _draw_from_blocks(e, bmax, bsum, step, m, uu):
    """Draw an id from the blocks' ``exp(s - bmax)`` (``e``), block maxima and sums.

    Returns the id, -1 if nothing could be drawn, or -2 if the sum of the
    weights is not finite.
    """
    V = e.shape[0]
    NB = bsum.shape[0]
    total = 0.0
    for blk in range(NB):
        if bsum[blk] > 0.0:
            total += bsum[blk] * math.exp(bmax[blk] - m)
    if not math.isfinite(total):
        return -2
    target = uu * total
    acc = 0.0
    sampled = -1
    for blk in range(NB):
        if bsum[blk] <= 0.0:
            continue
        scale = math.exp(bmax[blk] - m)
        w = bsum[blk] * scale
        lo = blk * step
        hi = min(V, lo + step)
        if acc + w > target or blk == NB - 1:
            sampled, acc, hit = _walk(e, lo, hi, scale, acc, target, sampled)
            if hit:
                return sampled
        else:
            acc += w
            # remember the last id with mass in case rounding runs past the end
            for v in range(hi - 1, lo - 1, -1):
                if e[v] > 0.0:
                    sampled = v
                    break
    return sampled


@jit
def _lstm_step(x, emb, Wxs, Whs, bs, hs, cs, part, inp, hnew, nch):
    """One step of the LSTM layers for input id ``x``: states ``hs``, ``cs`` (L, H) updated.

    ``part`` (2*nch, 4H), ``inp`` (max(D, H),) and ``hnew`` (H,) are work arrays.
    """
    L = hs.shape[0]
    H = hs.shape[1]
    NT = part.shape[0]
    D0 = emb.shape[1]
    for d in range(D0):
        inp[d] = emb[x, d]
    Din = D0
    for layer in range(L):
        Wx = Wxs[layer]
        Wh = Whs[layer]
        b = bs[layer]
        xin = inp[:Din]
        hprev = hs[layer]
        for task in prange(NT):
            _gate_part(task, nch, xin, Wx, hprev, Wh, part)
        _cell_update(b, part, cs[layer], hnew)
        for j in range(H):
            hprev[j] = hnew[j]
            inp[j] = hnew[j]
        Din = H


@jit
def _step_work(emb, hs, nch):
    """Work arrays of :func:`_lstm_step`: ``part`` (2*nch, 4H), ``inp``, ``hnew``.

    ``2*nch`` tasks per layer: ``nch`` blocks of rows of ``Wx``, ``nch`` of ``Wh``.
    """
    H = hs.shape[1]
    part = np.zeros((2 * nch, 4 * H), dtype=hs.dtype)
    inp = np.empty(max(emb.shape[1], H), dtype=hs.dtype)
    hnew = np.empty(H, dtype=hs.dtype)
    return part, inp, hnew


@BlasScoped
@jit
def lm_feed(emb, Wxs, Whs, bs, hs, cs, ids, nch):
    """Read ``ids`` with the LSTM layers of :func:`lm_sample` (the same steps, no output layer).

    ``hs``, ``cs`` (L, H) are updated in place; arguments as in :func:`lm_sample`.
    """
    part, inp, hnew = _step_work(emb, hs, nch)
    for x in ids:
        _lstm_step(x, emb, Wxs, Whs, bs, hs, cs, part, inp, hnew, nch)


@dual(blas=True)
def lm_sample(
    emb,
    Wxs,
    Whs,
    bs,
    WoutT,
    bout,
    hs,
    cs,
    x,
    u,
    skip,
    temperature,
    top_k,
    greedy,
    max_skips,
    skipped,
    out,
    n_out,
    nch,
):
    """Generate ids into ``out`` until it is full, the uniforms run out or an error.

    Parameters
    ----------
    emb : (V, D) array
        Embedding matrix.
    Wxs, Whs, bs : tuples of L arrays
        LSTM weights per layer: ``Wx (D_l, 4H)``, ``Wh (H, 4H)``, ``b (4H,)``,
        C-contiguous, gate blocks f, g, i, o.
    WoutT : (V, H) C-contiguous array
        Transposed output weights (``W_out.T``; the embedding for a tied model).
    bout : (V,) array
        Output bias.
    hs, cs : (L, H) arrays
        LSTM states, updated in place.
    x : int
        Current input id.
    u : (n,) float64 array
        Uniforms in [0, 1), one consumed per draw (none when ``greedy``).
    skip : (V,) bool array
        Ids that are never emitted; drawing one feeds the same input again
        (as the book's loop); ``greedy`` takes the best id outside them.
    temperature : float
        Scores are divided by it before the softmax.
    top_k : int
        If ``0 < top_k < V``, only the ``top_k`` largest scores can be drawn.
    greedy : bool
        Take the argmax of the ids not in ``skip`` instead of drawing.
    max_skips : int
        Give up after this many consecutive skipped draws.
    skipped : int
        Consecutive skipped draws so far (carried over between calls).
    out : (S,) int64 array
        Output ids; ``out[:n_out]`` are already filled.
    n_out : int
        Number of ids already in ``out``.
    nch : int
        Number of blocks of the parallel parts (the arithmetic depends on it,
        the thread count does not: ``lm_sample.serial`` runs the same blocks
        one after the other and gives the same ids as ``lm_sample.parallel``).

    Returns
    -------
    n_out, n_used, steps, x, skipped, status : int
        Filled length, uniforms consumed, model steps run, current input id,
        consecutive skips and a status: ``DONE``, ``NEED_UNIFORMS``,
        ``TOO_MANY_SKIPS`` or ``BAD_SCORES`` (NaN or inf in the scores).
    """
    V = WoutT.shape[0]
    L = hs.shape[0]
    S = out.shape[0]
    dt = hs.dtype

    part, inp, hnew = _step_work(emb, hs, nch)

    NB = max(1, min(V, 4 * nch))  # blocks of output rows
    step = (V + NB - 1) // NB
    s32 = np.empty(V, dtype=dt)
    s = np.empty(V, dtype=np.float64)
    e = np.empty(V, dtype=np.float64)
    bmax = np.empty(NB, dtype=np.float64)
    barg = np.empty(NB, dtype=np.int64)
    bsum = np.empty(NB, dtype=np.float64)
    keep = np.ones(V, dtype=np.bool_)
    use_topk = (not greedy) and top_k > 0 and top_k < V

    n_used = 0
    steps = 0
    while n_out < S:
        if not greedy and n_used >= u.shape[0]:
            return n_out, n_used, steps, x, skipped, NEED_UNIFORMS
        steps += 1

        _lstm_step(x, emb, Wxs, Whs, bs, hs, cs, part, inp, hnew, nch)

        # ---- output scores, per-block max / argmax / exp-sums ------------
        hlast = hs[L - 1]
        with_exp = not greedy and not use_topk
        for blk in prange(NB):
            _score_block(
                blk, step, WoutT, bout, hlast, temperature, with_exp, s32, s, e, bmax, barg, bsum
            )

        m = -np.inf
        am = 0
        for blk in range(NB):
            if bmax[blk] > m:
                m = bmax[blk]
                am = barg[blk]
        if not math.isfinite(m):
            return n_out, n_used, steps, x, skipped, BAD_SCORES

        # ---- choose the next id ------------------------------------------
        if greedy:
            sampled = am if not skip[am] else _argmax_allowed(s, skip)
            if sampled < 0:
                return n_out, n_used, steps, x, skipped, TOO_MANY_SKIPS
        else:
            uu = u[n_used]
            n_used += 1
            if use_topk:
                sampled = _draw_top_k(s, e, keep, top_k, m, uu)
            else:
                sampled = _draw_from_blocks(e, bmax, bsum, step, m, uu)
            if sampled < 0:
                return n_out, n_used, steps, x, skipped, BAD_SCORES

        if skip[sampled]:
            skipped += 1
            if skipped >= max_skips:
                return n_out, n_used, steps, x, skipped, TOO_MANY_SKIPS
            continue
        skipped = 0
        x = sampled
        out[n_out] = x
        n_out += 1
    return n_out, n_used, steps, x, skipped, DONE
