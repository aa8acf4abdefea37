"""The layers' kept work arrays (fastlstm.layers._workspace)."""

import sys

import numpy as np
import pytest

from fastlstm.layers import _workspace
from fastlstm.layers._workspace import HUGE_MIN, work_array


class Owner:
    pass


@pytest.mark.parametrize("nbytes", [64, HUGE_MIN - 4, HUGE_MIN, 3 * HUGE_MIN + 12])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kept_while_shape_and_dtype_stay(nbytes, dtype):
    owner = Owner()
    shape = (2, nbytes // 2 // np.dtype(dtype).itemsize)
    a = work_array(owner, "a", shape, dtype)
    assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
    a[...] = 7
    assert work_array(owner, "a", shape, dtype) is a
    assert (a == 7).all()  # contents kept unless asked to clear
    assert work_array(owner, "a", shape, dtype, zero=True) is a and not a.any()
    b = work_array(owner, "a", (1, *shape), dtype)
    assert b is not a and b.shape == (1, *shape) and np.shares_memory(a, b)
    c = work_array(owner, "a", shape, np.float16)  # fewer bytes: the same memory
    assert c.dtype == np.float16 and c.shape == shape and np.shares_memory(a, c)
    d = work_array(owner, "a", (3, *shape), dtype, zero=True)  # more bytes: new memory
    assert d.shape == (3, *shape) and not np.shares_memory(a, d) and not d.any()
    assert set(owner._workspace) == {"a"}


def test_reused_memory_asked_zero_is_cleared():
    owner = Owner()
    for n in [16, HUGE_MIN // 4]:
        work_array(owner, "a", (2 * n,), np.float32)[...] = 1
        assert not work_array(owner, "a", (n,), np.float32, zero=True).any()


def test_a_new_array_asked_zero_is_zero():
    owner = Owner()
    for shape in [(3, 5), (HUGE_MIN // 4 + 1,)]:
        assert not work_array(owner, str(shape), shape, np.float32, zero=True).any()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="huge pages are Linux's")
def test_large_arrays_start_on_a_huge_page_boundary():
    owner = Owner()
    big = work_array(owner, "big", (HUGE_MIN // 4,), np.float32)
    assert big.ctypes.data % (1 << 21) == 0
    assert not big.any()  # fresh anonymous memory reads as zeros
    assert not owner._workspace_bytes["big"].flags.owndata  # a view of its own mapping
    work_array(owner, "small", (16,), np.float32)
    assert owner._workspace_bytes["small"].flags.owndata  # below HUGE_MIN: an ordinary array


def test_without_huge_pages_large_arrays_are_ordinary(monkeypatch):
    monkeypatch.setattr(_workspace, "_HUGE", False)
    owner = Owner()
    a = work_array(owner, "a", (HUGE_MIN // 4,), np.float32, zero=True)
    assert owner._workspace_bytes["a"].flags.owndata and not a.any()


def test_layers_keep_their_work_arrays_between_iterations():
    from fastlstm.layers import TimeLSTM, TimeSoftmaxWithLoss

    rng = np.random.default_rng(0)
    D, H, N, T, V = 5, 64, 8, 12, 2000
    lstm = TimeLSTM(
        *(rng.standard_normal(s).astype(np.float32) for s in [(D, 4 * H), (H, 4 * H), (4 * H,)])
    )
    xs = rng.standard_normal((N, T, D)).astype(np.float32)
    # two iterations first: while a stateless layer's dh is unread, the next forward lays
    # Wh.T out into a second array, so its layouts alternate between two kept arrays
    for _ in range(2):
        lstm.backward(lstm.forward(xs))
    kept = {k: v.ctypes.data for k, v in lstm._workspace.items()}
    assert "WhTp2" in kept
    for _ in range(2):
        hs = lstm.forward(xs)
        lstm.backward(hs)
        assert {k: v.ctypes.data for k, v in lstm._workspace.items()} == kept
    loss = TimeSoftmaxWithLoss()
    scores = rng.standard_normal((N, T, V)).astype(np.float32)
    ts = rng.integers(0, V, (N, T))
    first = loss.forward(scores, ts)
    kept = dict(loss._workspace)
    assert kept  # the softmax numerators (N*T, V)
    assert loss.forward(scores, ts) == first
    assert all(loss._workspace[k] is v for k, v in kept.items())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_gradients_do_not_depend_on_what_the_gate_gradients_array_held(dtype):
    """H = 13 leaves padding units in the blocks: their gate-gradient columns, read by the
    weight-gradient products, are written by the backward kernel, not left from before."""
    from fastlstm.layers import TimeLSTM

    rng = np.random.default_rng(3)
    N, T, D, H = 6, 5, 4, 13
    Wx, Wh = (rng.standard_normal((k, 4 * H)).astype(dtype) for k in (D, H))
    b = rng.standard_normal(4 * H).astype(dtype)
    xs = rng.standard_normal((N, T, D)).astype(dtype)
    dhs = rng.standard_normal((N, T, H)).astype(dtype)

    def run(poison):
        layer = TimeLSTM(Wx.copy(), Wh.copy(), b.copy())
        for _ in range(2):
            layer.forward(xs)
            dxs = layer.backward(dhs)
            dA = layer._workspace["dA"]
            C, hc = dA.shape[0], dA.shape[3] // 4
            assert C * hc > H  # the blocks have padding units
            if poison:
                dA[...] = np.nan
        return [dxs, *(g.copy() for g in layer.grads)]

    for got, want in zip(run(True), run(False)):
        np.testing.assert_array_equal(got, want)
