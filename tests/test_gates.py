"""The LSTM gate passes on vectors (float32) give the scalar code's bits."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from fastlstm._kernels.fastmath import sigmoid, tanh
from fastlstm._kernels.gates import LANES32, gates_backward_row, gates_forward_row


@njit
def _forward_row(a, tm, cprev, cnext, hnext, w, hc):
    gates_forward_row(a, tm, cprev, cnext, hnext, w, hc)


@njit
def _backward_row(g4, dh, dc, cprev, cnext, da, w, hc, one):
    gates_backward_row(g4, dh, dc, cprev, cnext, da, w, hc, one)


WIDTHS = [1, LANES32 - 1, LANES32, LANES32 + 3, 2 * LANES32, 50, 100]


@njit
def _forward_scalar(a, tm, cprev, cnext, hnext, w, hc):
    for k in range(w):
        f = sigmoid(a[k] + tm[k])
        g = tanh(a[hc + k] + tm[hc + k])
        i = sigmoid(a[2 * hc + k] + tm[2 * hc + k])
        o = sigmoid(a[3 * hc + k] + tm[3 * hc + k])
        a[k], a[hc + k], a[2 * hc + k], a[3 * hc + k] = f, g, i, o
        cn = f * cprev[k] + g * i
        cnext[k] = cn
        hnext[k] = o * tanh(cn)


@njit
def _backward_scalar(g4, dh, dc, cprev, cnext, da, w, hc, one):
    for k in range(w):
        f, g, i, o = g4[k], g4[hc + k], g4[2 * hc + k], g4[3 * hc + k]
        tc = tanh(cnext[k])
        ds = dc[k] + dh[k] * o * (one - tc * tc)
        dc[k] = ds * f
        da[k] = ds * cprev[k] * f * (one - f)
        da[hc + k] = ds * i * (one - g * g)
        da[2 * hc + k] = ds * g * i * (one - i)
        da[3 * hc + k] = dh[k] * tc * o * (one - o)
    for gate in range(4):
        da[gate * hc + w : (gate + 1) * hc] = 0  # the padding units' columns


def _assert_same_bits(got, want):
    """Equal bit for bit, NaN where the other is NaN (whatever its payload)."""
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan].view(np.uint8), want[~nan].view(np.uint8))


def _values(rng, n, dtype):
    """Normal values at several scales, with the clamp's edges, zeros, infinities and NaN."""
    x = rng.standard_normal(n) * rng.choice([0.01, 1.0, 5.0, 30.0], n)
    special = [0.0, -0.0, 7.9053111, -7.9053111, 7.9053112, 1e-30, np.inf, -np.inf, np.nan]
    idx = rng.choice(n, size=min(n, len(special)), replace=False)
    x[idx] = special[: len(idx)]
    return x.astype(dtype)


def _row_arrays(rng, w, hc, dtype):
    a = _values(rng, 4 * hc, dtype)
    tm = _values(rng, 4 * hc, dtype)
    cprev = _values(rng, hc, dtype)
    return a, tm, cprev


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("w", WIDTHS)
def test_forward_row_has_the_scalar_bits(dtype, w):
    rng = np.random.default_rng(w)
    hc = w + 5  # the gates are hc apart, the last units of each unused
    a, tm, cprev = _row_arrays(rng, w, hc, dtype)
    want_a, got_a = a.copy(), a.copy()
    want_c, got_c = np.full(hc, 9, dtype), np.full(hc, 9, dtype)
    want_h, got_h = np.full(hc, 9, dtype), np.full(hc, 9, dtype)
    _forward_scalar(want_a, tm, cprev, want_c, want_h, w, hc)
    _forward_row(got_a, tm, cprev, got_c, got_h, w, hc)
    for got, want in ((got_a, want_a), (got_c, want_c), (got_h, want_h)):
        _assert_same_bits(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("w", WIDTHS)
def test_backward_row_has_the_scalar_bits(dtype, w):
    rng = np.random.default_rng(100 + w)
    hc = w + 3
    g4 = np.tanh(_values(rng, 4 * hc, dtype)) * dtype(0.5) + dtype(0.5)
    g4[hc : 2 * hc] = np.tanh(_values(rng, hc, dtype))
    dh, cprev, cnext = (_values(rng, hc, dtype) for _ in range(3))
    dc = _values(rng, hc, dtype)
    want_dc, got_dc = dc.copy(), dc.copy()
    want_da, got_da = np.full(4 * hc, 9, dtype), np.full(4 * hc, 9, dtype)
    one = dtype(1)
    _backward_scalar(g4, dh, want_dc, cprev, cnext, want_da, w, hc, one)
    _backward_row(g4, dh, got_dc, cprev, cnext, got_da, w, hc, one)
    for got, want in ((got_dc, want_dc), (got_da, want_da)):
        _assert_same_bits(got, want)
