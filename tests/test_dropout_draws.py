"""Dropout masks made by the kernels from a generator's state: NumPy's draws, bit for bit.

``TimeDropout`` and ``Dropout`` draw ``rng.random(shape) > ratio``; for PCG64 and
MT19937 generators the kernels make those draws themselves
(:mod:`fastlstm.layers._draws`).  Each case compares the output and the mask with
the ones built from ``rng.random`` on a twin generator, then the twins' next draws:
the state must have moved exactly as NumPy moves it.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from fastlstm._kernels import dropout as kd
from fastlstm._kernels import uniform as ku
from fastlstm.layers import Dropout, TimeDropout
from fastlstm.layers._draws import _bit_generator, _pcg_jump, _words

# sizes around MT19937's 624-word state (312 draws) and up to the parallel builds
SIZES = [0, 1, 2, 7, 311, 312, 313, 624, 1000, 70001, 300007]


def _twins(kind, skip):
    """Two generators in the same state, ``skip`` draws after seeding."""
    make = {
        "pcg64": lambda: np.random.default_rng(11),
        "mt19937": lambda: np.random.RandomState(11),
        "generator-mt19937": lambda: np.random.Generator(np.random.MT19937(11)),
    }[kind]
    a, b = make(), make()
    a.random(skip)
    b.random(skip)
    return a, b


def _expected(rng, x, ratio, scale):
    mask = ((rng.random(x.shape) > ratio) * scale).astype(x.dtype)
    return x * mask, mask


@numba.njit
def _pcg64_doubles(state, inc, n):
    mh, ml = np.uint64(ku.PCG_MULT[0]), np.uint64(ku.PCG_MULT[1])
    sh, sl = state[0], state[1]
    out = np.empty(n)
    for k in range(n):
        sh, sl = ku.pcg_step(sh, sl, mh, ml, inc[0], inc[1])
        out[k] = ku.pcg_double(sh, sl)
    return out


@numba.njit
def _mt19937_doubles(key, pos, n):
    s = np.empty(2 * n + 2 * 624, dtype=np.uint32)
    s[:624] = key
    ku.mt_stream(s, 624)
    out = np.empty(n)
    for k in range(n):
        out[k] = ku.mt_double(ku.mt_temper(s[pos + 2 * k]), ku.mt_temper(s[pos + 2 * k + 1]))
    return out


@pytest.mark.parametrize("skip", [0, 1, 311, 623])
def test_the_generators_doubles_are_numpys(skip):
    """Every bit of the draws (a mask shows only which side of the ratio each falls)."""
    n = 5000
    rng = np.random.default_rng(3)
    rng.random(skip)
    inner = rng.bit_generator.state["state"]
    words = [np.array([v >> 64, v & (1 << 64) - 1], dtype=np.uint64) for v in inner.values()]
    np.testing.assert_array_equal(_pcg64_doubles(*words, n), rng.random(n))
    rs = np.random.RandomState(3)
    rs.random_sample(skip)
    _, key, pos, *_ = rs.get_state()
    np.testing.assert_array_equal(_mt19937_doubles(key, pos, n), rs.random_sample(n))


@pytest.mark.parametrize("kind", ["pcg64", "mt19937", "generator-mt19937"])
@pytest.mark.parametrize("n", SIZES)
def test_kernel_draws_are_numpys(kind, n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    for skip in (0, 1, 311, 623):
        ours, numpys = _twins(kind, skip)
        layer = TimeDropout(0.3, rng=ours)
        out = layer.forward(x.reshape(1, 1, n))
        want, mask = _expected(numpys, x, 0.3, 1.0 / 0.7)
        np.testing.assert_array_equal(out.reshape(-1), want)
        np.testing.assert_array_equal(layer.mask.reshape(-1), mask)
        np.testing.assert_array_equal(ours.random(5), numpys.random(5))


def test_global_state_as_the_books_np_random_rand():
    x = np.random.default_rng(0).standard_normal((20, 35, 65)).astype(np.float32)
    np.random.seed(4)  # noqa: NPY002
    np.random.rand(3)  # noqa: NPY002  (a state in mid-block)
    out = TimeDropout(0.5).forward(x)
    after = np.random.rand(4)  # noqa: NPY002
    np.random.seed(4)  # noqa: NPY002
    np.random.rand(3)  # noqa: NPY002
    flg = np.random.rand(*x.shape) > 0.5  # noqa: NPY002  (the book's TimeDropout)
    np.testing.assert_array_equal(out, x * (flg.astype(np.float32) * np.float32(2.0)))
    np.testing.assert_array_equal(np.random.rand(4), after)  # noqa: NPY002


@pytest.mark.parametrize("kind", ["pcg64", "mt19937"])
def test_float64_and_the_books_dropout(kind):
    x = np.random.default_rng(1).standard_normal((33, 17))
    ours, numpys = _twins(kind, 5)
    out = Dropout(0.4, rng=ours).forward(x)
    np.testing.assert_array_equal(out, x * (numpys.random(x.shape) > 0.4))


@pytest.mark.parametrize("n", [1, 1000, 300007])
@pytest.mark.parametrize("blocks", [1, 2, 3, 64])
def test_blocks_and_builds_give_the_same_bits(n, blocks):
    x = np.random.default_rng(2).standard_normal(n).astype(np.float32)
    results = []
    S = -(-n // blocks)
    A, C = _pcg_jump(S, 7)
    starts = [123456789]
    while len(starts) * S < n:
        starts.append((A * starts[-1] + C) % 2**128)
    for kernel in (kd.dropout_pcg64.serial, kd.dropout_pcg64.parallel):
        out, mask = np.empty_like(x), np.empty_like(x)
        kernel(x, 0.5, 2.0, out, mask, _words(starts), _words([7])[0], S)
        results.append((out, mask))
    key = np.random.RandomState(3).get_state()[1]
    for kernel in (kd.dropout_mt19937.serial, kd.dropout_mt19937.parallel):
        k, pos = key.copy(), np.array([100], dtype=np.int64)
        out, mask = np.empty_like(x), np.empty_like(x)
        kernel(x, 0.5, 2.0, out, mask, k, pos, np.empty(2 * n + 1248, np.uint32), blocks)
        results.append((out, mask, k))
    for a, b in (results[0:2], results[2:4]):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
    rs = np.random.RandomState()
    rs.set_state(("MT19937", key, 100))
    np.testing.assert_array_equal(results[2][1], np.where(rs.random_sample(n) > 0.5, 2.0, 0.0))
    np.testing.assert_array_equal(results[2][2], rs.get_state()[1])
    # against PCG64 stepped one draw at a time in Python's integers
    m = min(n, 1000)
    ref = _pcg64_reference(123456789, 7, m)
    np.testing.assert_array_equal(results[0][1][:m], np.where(ref > 0.5, 2.0, 0.0))


def _pcg64_reference(s, inc, n):
    """PCG64's doubles from state ``s`` and increment ``inc``, in Python's integers."""
    mult = (2549297995355413924 << 64) | 4865540595714422341
    m128, out = (1 << 128) - 1, []
    for _ in range(n):
        s = (s * mult + inc) & m128
        x = ((s >> 64) ^ s) & ((1 << 64) - 1)
        rot = s >> 122
        x = ((x >> rot) | (x << ((64 - rot) & 63))) & ((1 << 64) - 1)
        out.append((x >> 11) * 2.0**-53)
    return np.array(out)


@pytest.mark.parametrize(
    "rng",
    [
        np.random.Generator(np.random.Philox(3)),
        np.random.Generator(np.random.PCG64DXSM(3)),
    ],
    ids=["philox", "pcg64dxsm"],
)
def test_other_generators_are_asked_for_their_draws(rng):
    assert _bit_generator(rng) is None
    twin = np.random.Generator(type(rng.bit_generator)(3))
    x = np.ones((4, 5, 6), dtype=np.float32)
    out = TimeDropout(0.5, rng=rng).forward(x)
    np.testing.assert_array_equal(out, x * ((twin.random(x.shape) > 0.5) * np.float32(2.0)))


def test_a_generator_like_object_is_asked_for_its_draws():
    class Fixed:
        def random(self, shape):
            return np.full(shape, 0.75)

    out = TimeDropout(0.5, rng=Fixed()).forward(np.ones((2, 3, 4), dtype=np.float32))
    np.testing.assert_array_equal(out, np.full((2, 3, 4), 2.0, dtype=np.float32))
