"""The eight-lane reductions (``sum8``, ``dot8``, ``row_max``) against NumPy, bit for bit.

The kernels promise a fixed order: element ``i`` goes to lane ``i % 8``, each
lane is a running value in order, the lanes are combined pairwise, and the
tail (``n % 8`` elements) is added after.  The expected values here are built
with NumPy in that order, in the array's precision, so any other order (or a
fused multiply-add) shows up in the last bits.  Contiguous arrays take the
vector code directly, strided views after a copy; both must agree.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from fastlstm._kernels import softmax as ks


@njit
def _reductions(x, y):
    return ks.sum8(x), ks.dot8(x, y), ks.row_max(x)


@njit
def _reductions_strided(x2, y2):
    return ks.sum8(x2[::2]), ks.dot8(x2[::2], y2[::2]), ks.row_max(x2[::2])


def _pairwise(lanes, op):
    s = lanes
    return op(op(op(s[0], s[1]), op(s[2], s[3])), op(op(s[4], s[5]), op(s[6], s[7])))


def _expected(x, y):
    """sum8, dot8 and row_max of ``x`` (and ``y``) in the kernels' order, with NumPy."""
    dt = x.dtype.type
    n = x.size
    n8 = n - n % 8
    prod = x * y  # rounded to the dtype, as the kernels' multiply
    s = d = dt(0)
    if n8:
        lanes_s = np.add.reduce(x[:n8].reshape(-1, 8), axis=0)  # rows in order, per lane
        lanes_d = np.add.reduce(prod[:n8].reshape(-1, 8), axis=0)
        s = _pairwise(lanes_s, np.add)
        d = _pairwise(lanes_d, np.add)
    for i in range(n8, n):
        s = dt(s + x[i])
        d = dt(d + prod[i])

    def gt(a, m):
        return a if a > m else m

    m = x[0]
    if n8:
        lanes = list(x[:8])
        for i in range(8, n8):
            lanes[i % 8] = gt(x[i], lanes[i % 8])
        m = gt(
            gt(gt(lanes[1], lanes[0]), gt(lanes[3], lanes[2])),
            gt(gt(lanes[5], lanes[4]), gt(lanes[7], lanes[6])),
        )
    for i in range(n8, n):
        m = gt(x[i], m)
    return dt(s), dt(d), dt(m)


def _same(a, b):
    """Equal bits in ``a``'s dtype (compiled code hands back Python floats), or both NaN."""
    a = np.asarray(a)
    b = np.asarray(b, dtype=a.dtype)
    return bool(np.isnan(a) and np.isnan(b)) or a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 15, 16, 17, 64, 100, 257])
def test_eight_lane_reductions_have_the_documented_order(dtype, n):
    rng = np.random.default_rng(n)
    for trial in range(12):
        scale = 10.0 ** rng.integers(-3, 4)
        x = (rng.standard_normal(n) * scale).astype(dtype)
        y = rng.standard_normal(n).astype(dtype)
        if trial % 3 == 1:
            x[rng.integers(n)] = rng.choice([np.nan, np.inf, -np.inf, -0.0])
        expected = _expected(x, y)
        got = _reductions(x, y)
        strided = _reductions_strided(np.repeat(x, 2), np.repeat(y, 2))
        for name, e, g, s in zip(("sum8", "dot8", "row_max"), expected, got, strided):
            assert _same(e, g), (name, "contiguous", n, trial, e, g)
            assert _same(e, s), (name, "strided", n, trial, e, s)


def test_the_order_is_not_a_single_running_sum():
    """The expected values above would also pass for a sequential sum if the data hid it."""
    x = np.array([1e8, 1.0, -1e8, 1.0, 0, 0, 0, 0, 1.0], dtype=np.float32)
    y = np.ones_like(x)
    sequential = np.float32(0)
    for v in x:
        sequential = np.float32(sequential + v)
    s, d, _ = _reductions(x, y)
    # lanes (1e8 + 1) + (-1e8 + 1) = 0 in float32, then the tail: 1; in sequence: 2
    assert s == d == _expected(x, y)[0] == np.float32(1.0)
    assert sequential == np.float32(2.0)


def _expected_squares(x):
    """``sum_squares`` of ``x`` in the kernel's order, with NumPy: squares in float64, eight
    running sums, the tail added to the first, then the eight added pairwise."""
    n = x.size
    n8 = n - n % 8
    sq = x.astype(np.float64) ** 2
    lanes = np.zeros(8) if n8 == 0 else np.add.reduce(sq[:n8].reshape(-1, 8), axis=0)
    s0 = lanes[0]
    for v in sq[n8:]:
        s0 = s0 + v
    return _pairwise([s0, *lanes[1:]], np.add)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 100, 257, 16384 + 9, 3 * 16384 + 5])
def test_sum_of_squares_has_the_documented_order(dtype, n):
    """``clip_grads``' norm: the serial kernel and the parallel one (chunks of
    ``CHUNK`` elements, their sums added in order) against NumPy in that order."""
    from fastlstm._kernels import optim as ko

    rng = np.random.default_rng(n)
    for trial in range(6):
        # a wide range of magnitudes, so that another order shows in the last bits
        x = (rng.standard_normal(n) * 10.0 ** rng.integers(-4, 5, size=n)).astype(dtype)
        if trial == 5 and n:
            x[rng.integers(n)] = np.nan
        assert _same(_expected_squares(x), ko.sum_squares(x)), (n, trial)
        chunks = [x[lo : lo + ko.CHUNK] for lo in range(0, n, ko.CHUNK)]
        total = 0.0
        for c in chunks:
            total += _expected_squares(c)
        assert _same(np.float64(total), ko.sum_squares_parallel(x)), (n, trial)
