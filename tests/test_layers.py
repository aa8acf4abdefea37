"""Every layer of :mod:`fastlstm.layers` against the NumPy oracle :mod:`reference.layers`.

Both layers get the same parameter values (separate copies) and the same
inputs; forward outputs, every gradient in ``grads``, every input gradient
``backward`` returns and the state attributes (``h``, ``c``, ``dh``,
attention weights, dropout masks) must agree to 1e-10 relative in float64 and
1e-4 in float32 (see :mod:`tests._compare`).  Before ``backward`` the fast
layer's gradient arrays are filled with garbage, so gradients that are
accumulated instead of overwritten, or only partly written, are caught; after
it the ``params``/``grads`` arrays must be the same objects, with the
parameters unchanged.
"""

from __future__ import annotations

import operator
import os
import re
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

import fastlstm.layers as FL
import reference.layers as RL
from fastlstm._kernels import lstm as _klstm
from tests._compare import (
    assert_arrays_kept,
    assert_close,
    assert_results_close,
    assert_rows_alike,
    assert_same_bits,
    snapshot_arrays,
)

# --------------------------------------------------------------------------- #
# shapes, seeds, dtypes
# --------------------------------------------------------------------------- #
# N: batch, T: time steps (decoder steps for attention), Te: encoder steps,
# D: input size, H: hidden size (5, 13, 37: not multiples of 8), V: vocabulary.
SMALL_SHAPES = [
    dict(N=1, T=1, Te=1, D=3, H=5, V=7),
    dict(N=3, T=7, Te=5, D=4, H=13, V=11),
    dict(N=2, T=5, Te=9, D=13, H=37, V=29),
]
LARGE_SHAPE = dict(N=32, T=20, Te=20, D=100, H=100, V=1000)
SEEDS = [0, 1, 2]


def _shape_id(s):
    return "N{N}T{T}D{D}H{H}V{V}".format(**s)


CASES = [
    pytest.param(s, seed, id=f"{_shape_id(s)}-seed{seed}") for s in SMALL_SHAPES for seed in SEEDS
] + [pytest.param(LARGE_SHAPE, 3, id=f"{_shape_id(LARGE_SHAPE)}-seed3")]

cases = pytest.mark.parametrize("shape, seed", CASES)
dtypes = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])


@pytest.fixture(autouse=True)
def _threads(request):
    """Small cases on one numba thread, the large case on all of them.

    The kernels split work into the same blocks whatever the thread count, and
    ``tests/test_threads.py`` proves results bitwise identical with one and two
    threads; one thread spares the small cases numba's fork-join cost, which is
    large on a busy machine.
    """
    callspec = getattr(request.node, "callspec", None)
    large = callspec is not None and callspec.params.get("shape") is LARGE_SHAPE
    before = numba.get_num_threads()
    if not large:
        numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


# "gru" is the book's first GRU (no bias), "gru_b" its current one (with a bias)
GATES = {"rnn": 1, "lstm": 4, "gru": 3, "gru_b": 3}
TIME_LAYERS = {
    "rnn": (FL.TimeRNN, RL.TimeRNN),
    "lstm": (FL.TimeLSTM, RL.TimeLSTM),
    "gru": (FL.TimeGRU, RL.TimeGRU),
    "gru_b": (FL.TimeGRU, RL.TimeGRU),
}
STEP_LAYERS = {
    "rnn": (FL.RNN, RL.RNN),
    "lstm": (FL.LSTM, RL.LSTM),
    "gru": (FL.GRU, RL.GRU),
    "gru_b": (FL.GRU, RL.GRU),
}
PARAM_NAMES = {
    "rnn": ["Wx", "Wh", "b"],
    "lstm": ["Wx", "Wh", "b"],
    "gru": ["Wx", "Wh"],
    "gru_b": ["Wx", "Wh", "b"],
}


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def draw(rng, dtype, shape, scale=1.0):
    """Standard normal float64 draws times ``scale``, cast to ``dtype``."""
    return (rng.standard_normal(shape) * scale).astype(dtype)


def copies(arrays):
    return [a.copy() for a in arrays]


def _copy(x):
    return x.copy() if isinstance(x, np.ndarray) else x


def recurrent_params(kind, rng, dtype, D, H):
    """``[Wx, Wh, b]`` (``[Wx, Wh]`` for the GRU without bias) scaled as the book's models."""
    G = GATES[kind] * H
    arrays = [draw(rng, dtype, (D, G), D**-0.5), draw(rng, dtype, (H, G), H**-0.5)]
    if kind != "gru":
        arrays.append(draw(rng, dtype, (G,), 0.5))
    return arrays


def softmax_rows(rng, dtype, shape):
    s = rng.standard_normal(shape)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(dtype)


def repeated_ids(rng, V, shape, dtype=np.int64):
    """Ids from a small range (so they repeat), with the last id ``V - 1`` present."""
    ids = rng.integers(0, max(2, V // 3), size=shape).astype(dtype)
    ids.flat[0] = V - 1
    if ids.size > 2:
        ids.flat[-1] = ids.flat[1]
        assert len(np.unique(ids)) < ids.size
    return ids


def compare(
    name,
    fast,
    ref,
    inputs,
    dtype,
    rng,
    *,
    names=None,
    forward_attrs=(),
    backward_attrs=(),
    loss_dout=1.0,
):
    """Run ``forward`` and ``backward`` of both layers and compare everything.

    Parameters
    ----------
    name : str
        Layer name for the messages.
    fast, ref : layer
        The fastlstm layer and the reference layer, built from equal copies.
    inputs : list
        Arguments of ``forward`` (each layer gets its own copies).
    dtype : dtype
        The dtype the layers compute in.
    rng : numpy.random.Generator
        Source of the upstream gradients.
    names : list of str, optional
        Names of the parameters, for the messages.
    forward_attrs, backward_attrs : sequence of str
        Attributes (dotted paths) compared after ``forward`` / ``backward``.
    loss_dout : float
        ``dout`` passed to ``backward`` when the output is a scalar loss.
    """
    names = names or [f"p{k}" for k in range(len(fast.params))]
    assert len(fast.params) == len(ref.params), f"{name}: params lists differ in length"
    assert len(fast.grads) == len(ref.grads), f"{name}: grads lists differ in length"
    snap = snapshot_arrays(fast)

    out_f = fast.forward(*[_copy(x) for x in inputs])
    out_r = ref.forward(*[_copy(x) for x in inputs])
    assert_results_close(out_f, out_r, dtype, f"{name} forward output")
    for attr in forward_attrs:
        get = operator.attrgetter(attr)
        assert_results_close(get(fast), get(ref), dtype, f"{name}.{attr} after forward")

    for g in fast.grads:
        g[...] = 7.0  # backward must overwrite every element, not accumulate
    if isinstance(out_r, tuple) or np.ndim(out_r):
        outs = out_r if isinstance(out_r, tuple) else (out_r,)
        douts = [draw(rng, dtype, np.shape(o)) for o in outs]
        back_f = fast.backward(*copies(douts))
        back_r = ref.backward(*copies(douts))
    else:
        back_f = fast.backward(loss_dout)
        back_r = ref.backward(loss_dout)
    assert_results_close(back_f, back_r, dtype, f"{name} backward result")
    for k, (gf, gr) in enumerate(zip(fast.grads, ref.grads)):
        assert_close(gf, gr, dtype, f"{name} grads[{k}] (d{names[k]})")
    for attr in backward_attrs:
        get = operator.attrgetter(attr)
        assert_results_close(get(fast), get(ref), dtype, f"{name}.{attr} after backward")
    assert_arrays_kept(fast, snap, name)
    return out_f, back_f


# --------------------------------------------------------------------------- #
# common/layers.py
# --------------------------------------------------------------------------- #
@dtypes
@cases
def test_matmul(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    N, D, H = shape["N"], shape["D"], shape["H"]
    W = draw(rng, dtype, (D, H))
    x = draw(rng, dtype, (N, D))
    compare("MatMul", FL.MatMul(W.copy()), RL.MatMul(W.copy()), [x], dtype, rng, names=["W"])


@dtypes
@cases
def test_affine(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    N, D, H = shape["N"], shape["D"], shape["H"]
    W, b = draw(rng, dtype, (D, H)), draw(rng, dtype, (H,))
    x = draw(rng, dtype, (N, D))
    fast, ref = FL.Affine(W.copy(), b.copy()), RL.Affine(W.copy(), b.copy())
    compare("Affine", fast, ref, [x], dtype, rng, names=["W", "b"])


@dtypes
@cases
def test_softmax(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    x = draw(rng, dtype, (shape["N"], shape["V"]), 3.0)
    compare("Softmax", FL.Softmax(), RL.Softmax(), [x], dtype, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_max_equals_numpy_max(dtype):
    """The eight-lane maximum of the softmax kernels, every length from 1 to 40 and
    wherever the maximum (or an infinity) sits."""
    from fastlstm._kernels.softmax import row_max

    rng = np.random.default_rng(5)
    for n in range(1, 41):
        for where in range(n):
            row = rng.standard_normal(n).astype(dtype)
            row[where] = 7.0
            assert row_max(row) == row.max() == 7.0
            row[where] = -np.inf
            assert row_max(row) == row.max()
            row[where] = np.inf
            assert row_max(row) == np.inf
        assert row_max(np.full(n, -np.inf, dtype=dtype)) == -np.inf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("build", ["parallel", "serial"])
def test_column_sums_have_numpys_bits(dtype, build):
    """The bias gradients' column sums equal NumPy's ``sum(axis=0)`` bit for bit, for
    widths inside, at and across the 256-column blocks, and for 0 and 1 rows."""
    from fastlstm._kernels.blas import column_sums

    kernel = getattr(column_sums, build)
    rng = np.random.default_rng(3)
    for M, V in ((0, 5), (1, 7), (3, 256), (5, 257), (700, 1000), (64, 10000), (2000, 3)):
        a = (rng.standard_normal((M, V)) * rng.uniform(0.01, 100, (M, 1))).astype(dtype)
        if M > 2:
            a[1, 0] = -0.0
        out = np.full(V, np.nan, dtype=dtype)
        kernel(a, out)
        expected = a.sum(axis=0)
        assert out.dtype == expected.dtype
        assert_same_bits(out, expected, (M, V))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("build", ["parallel", "serial"])
def test_softmax_loss_nan_exactly_without_nan_and_plus_inf(dtype, build):
    """The forward kernel's loss is NaN exactly for rows with a NaN, a +inf or no
    finite element, with the bad value at every position of rows of several
    lengths (inside and after the eight-lane loops), and finite otherwise."""
    from fastlstm._kernels.softmax import softmax_ce_forward

    kernel = getattr(softmax_ce_forward, build)
    for n in (1, 2, 7, 8, 9, 33):
        base = np.linspace(-3, 3, n).astype(dtype)
        rows, defined = [base, np.full(n, -np.inf, dtype=dtype)], [True, False]
        for where in range(n):
            for value, ok in ((np.nan, False), (np.inf, False), (-np.inf, n > 1)):
                bad = base.copy()
                bad[where] = value
                rows.append(bad)
                defined.append(ok)
        x = np.ascontiguousarray(rows + rows)  # (M, n): every row labelled, then ignored
        M = x.shape[0]
        t = np.full(M, n - 1, dtype=np.int64)
        t[np.isneginf(x[np.arange(M), t])] = 0  # a finite loss needs a finite label score
        t[M // 2 :] = -1  # ignored rows: loss 0 if defined, NaN if not
        sums, losses = np.empty(M), np.empty(M)
        kernel(x, t, -1, np.empty_like(x), sums, losses)
        for r in range(M):
            ok = defined[r % (M // 2)]
            assert np.isnan(losses[r]) == (not ok), (n, x[r], t[r])
            if ok:
                assert np.isfinite(losses[r]), (n, x[r], t[r])


@dtypes
@cases
@pytest.mark.parametrize("labels", ["ids", "onehot"])
def test_softmax_with_loss(shape, seed, dtype, labels):
    rng = np.random.default_rng(seed)
    N, V = shape["N"], shape["V"]
    x = draw(rng, dtype, (N, V), 2.0)
    t = rng.integers(0, V, size=N).astype(np.int32)
    if labels == "onehot":
        t = np.eye(V, dtype=np.int32)[t]
    compare("SoftmaxWithLoss", FL.SoftmaxWithLoss(), RL.SoftmaxWithLoss(), [x, t], dtype, rng)


@dtypes
@cases
def test_sigmoid(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    x = draw(rng, dtype, (shape["N"], shape["T"], shape["H"]), 3.0)
    compare("Sigmoid", FL.Sigmoid(), RL.Sigmoid(), [x], dtype, rng)


@dtypes
@cases
@pytest.mark.parametrize("ratio", [0.5, 0.2])
def test_dropout(shape, seed, dtype, ratio):
    """The book's ``Dropout``: mask without rescaling in training, ``x * (1 - ratio)`` in test."""
    rng = np.random.default_rng(seed)
    x = draw(rng, dtype, (shape["N"], shape["H"]))
    fast = FL.Dropout(ratio, rng=np.random.default_rng(seed + 100))
    ref = RL.Dropout(ratio, rng=np.random.default_rng(seed + 100))
    compare("Dropout", fast, ref, [x, True], dtype, rng)
    assert_close(
        fast.forward(x.copy(), False), ref.forward(x.copy(), False), dtype, "Dropout test mode"
    )


@dtypes
@cases
@pytest.mark.parametrize("ratio", [0.5, 0.2])
def test_time_dropout(shape, seed, dtype, ratio):
    rng = np.random.default_rng(seed)
    x = draw(rng, dtype, (shape["N"], shape["T"], shape["H"]))
    fast = FL.TimeDropout(ratio, rng=np.random.default_rng(seed + 100))
    ref = RL.TimeDropout(ratio, rng=np.random.default_rng(seed + 100))
    compare("TimeDropout", fast, ref, [x], dtype, rng, forward_attrs=("mask",))
    # exactly one rng.random(xs.shape) per forward: the generators stay in step
    assert fast.rng.random() == ref.rng.random(), "TimeDropout drew a different amount"
    fast.train_flg = ref.train_flg = False
    assert_close(fast.forward(x.copy()), ref.forward(x.copy()), dtype, "TimeDropout test mode")


@dtypes
@cases
def test_embedding(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    V, D, N = shape["V"], shape["D"], shape["N"]
    W = draw(rng, dtype, (V, D))
    idx = repeated_ids(rng, V, (N * shape["T"],))
    fast, ref = FL.Embedding(W.copy()), RL.Embedding(W.copy())
    compare("Embedding", fast, ref, [idx], dtype, rng, names=["W"])


@dtypes
@cases
def test_time_embedding(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    V, D = shape["V"], shape["D"]
    W = draw(rng, dtype, (V, D))
    xs = repeated_ids(rng, V, (shape["N"], shape["T"]), np.int32)
    fast, ref = FL.TimeEmbedding(W.copy()), RL.TimeEmbedding(W.copy())
    compare("TimeEmbedding", fast, ref, [xs], dtype, rng, names=["W"])


# --------------------------------------------------------------------------- #
# recurrent layers
# --------------------------------------------------------------------------- #
@dtypes
@cases
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "gru_b"])
def test_step_layer(kind, shape, seed, dtype):
    """``RNN``, ``LSTM``, ``GRU``: one step with a random initial state."""
    rng = np.random.default_rng(seed)
    N, D, H = shape["N"], shape["D"], shape["H"]
    arrays = recurrent_params(kind, rng, dtype, D, H)
    inputs = [draw(rng, dtype, (N, D)), draw(rng, dtype, (N, H), 0.5)]
    if kind == "lstm":
        inputs.append(draw(rng, dtype, (N, H)))
    cls_f, cls_r = STEP_LAYERS[kind]
    fast, ref = cls_f(*copies(arrays)), cls_r(*copies(arrays))
    compare(cls_f.__name__, fast, ref, inputs, dtype, rng, names=PARAM_NAMES[kind])


@dtypes
@cases
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "gru_b"])
def test_time_layer(kind, shape, seed, dtype):
    """``TimeRNN``, ``TimeLSTM``, ``TimeGRU`` (not stateful): outputs, grads, ``h``, ``dh``."""
    rng = np.random.default_rng(seed)
    N, T, D, H = shape["N"], shape["T"], shape["D"], shape["H"]
    arrays = recurrent_params(kind, rng, dtype, D, H)
    xs = draw(rng, dtype, (N, T, D))
    cls_f, cls_r = TIME_LAYERS[kind]
    fast, ref = cls_f(*copies(arrays)), cls_r(*copies(arrays))
    state = ("h", "c") if kind == "lstm" else ("h",)
    compare(
        cls_f.__name__,
        fast,
        ref,
        [xs],
        dtype,
        rng,
        names=PARAM_NAMES[kind],
        forward_attrs=state,
        backward_attrs=("dh",),
    )
    if kind.startswith("gru"):
        assert fast.dWx is fast.grads[0] and fast.dWh is fast.grads[1]
    if kind == "gru_b":
        assert fast.db is fast.grads[2] and fast.b is fast.params[2]


@dtypes
@cases
def test_time_bilstm(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    N, T, D, H = shape["N"], shape["T"], shape["D"], shape["H"]
    arrays = recurrent_params("lstm", rng, dtype, D, H) + recurrent_params("lstm", rng, dtype, D, H)
    xs = draw(rng, dtype, (N, T, D))
    fast, ref = FL.TimeBiLSTM(*copies(arrays)), RL.TimeBiLSTM(*copies(arrays))
    compare(
        "TimeBiLSTM",
        fast,
        ref,
        [xs],
        dtype,
        rng,
        names=["Wx1", "Wh1", "b1", "Wx2", "Wh2", "b2"],
        backward_attrs=("forward_lstm.dh", "backward_lstm.dh"),
    )


@dtypes
def test_time_bilstm_with_two_hidden_sizes(dtype):
    """Directions of different ``H`` (``H1 + H2`` outputs): outputs and every gradient as the
    reference (which splits ``dhs`` at the forward direction's ``H``)."""
    rng = np.random.default_rng(8)
    N, T, D = 3, 5, 4
    arrays = recurrent_params("lstm", rng, dtype, D, 6) + recurrent_params("lstm", rng, dtype, D, 3)
    xs = draw(rng, dtype, (N, T, D))
    fast, ref = FL.TimeBiLSTM(*copies(arrays)), RL.TimeBiLSTM(*copies(arrays))
    assert fast.forward(xs).shape == (N, T, 9)
    compare(
        "TimeBiLSTM", fast, ref, [xs], dtype, rng,
        names=["Wx1", "Wh1", "b1", "Wx2", "Wh2", "b2"],
    )  # fmt: skip


@dtypes
@cases
def test_time_lstm_peeky_input_equals_the_concatenated_input(shape, seed, dtype):
    """``_forward_peeky(xs, s)`` (PeekyDecoder's path) equals the reference LSTM on
    ``concat(s at every step, xs)``: outputs, every gradient, the gradient of ``s``."""
    rng = np.random.default_rng(seed)
    N, T, D, H = shape["N"], shape["T"], shape["D"], shape["H"]
    S = 3
    arrays = recurrent_params("lstm", rng, dtype, S + D, H)
    xs, static = draw(rng, dtype, (N, T, D)), draw(rng, dtype, (N, S))
    h0 = draw(rng, dtype, (N, H))
    fast = FL.TimeLSTM(*copies(arrays), stateful=True)
    ref = RL.TimeLSTM(*copies(arrays), stateful=True)
    fast.set_state(h0)
    ref.set_state(h0)
    hs = fast._forward_peeky(xs, static)
    full = np.concatenate((np.broadcast_to(static[:, None], (N, T, S)), xs), axis=2)
    assert_close(hs, ref.forward(full), dtype, "hs")
    assert_close(fast.h, ref.h, dtype, "h")
    dhs = draw(rng, dtype, (N, T, H))
    dxs = fast.backward(dhs)
    dfull = ref.backward(dhs)
    assert dxs.shape == (N, T, D)
    assert_close(dxs, dfull[:, :, S:], dtype, "dxs")
    assert_close(fast.dstatic, dfull[:, :, :S].sum(axis=1), dtype, "dstatic")
    assert_close(fast.dh, ref.dh, dtype, "dh")
    for name, g, r in zip(("dWx", "dWh", "db"), fast.grads, ref.grads):
        assert_close(g, r, dtype, name)
    # gradients written into a Fortran-ordered dWx (as a user may hand in): the same values
    fortran = FL.TimeLSTM(*copies(arrays), stateful=True)
    fortran.grads[0] = np.asfortranarray(fortran.grads[0])
    fortran.set_state(h0)
    fortran._forward_peeky(xs, static)
    fortran.backward(dhs)
    np.testing.assert_array_equal(fortran.grads[0], fast.grads[0])
    np.testing.assert_array_equal(fortran.dstatic, fast.dstatic)
    # an ordinary forward afterwards leaves no stale static gradient
    fast.forward(full)
    fast.backward(dhs)
    assert fast.dstatic is None
    with pytest.raises(ValueError, match="static"):
        fast._forward_peeky(full, np.zeros((N, S + D), dtype))


@dtypes
@pytest.mark.parametrize("H", [5, 40])
def test_stateless_lstm_computes_dh_when_read(H, dtype):
    """A stateless ``TimeLSTM`` leaves the first step's product out of ``backward`` and
    computes ``dh`` when it is read: the bits of a stateful layer started from zeros (which
    computes it in ``backward``), whether read at once or after another forward with the
    weights changed in place, the same array when read twice, and the reference's values."""
    rng = np.random.default_rng(H)
    N, T, D = 6, 4, 3
    arrays = recurrent_params("lstm", rng, dtype, D, H)
    lazy = FL.TimeLSTM(*copies(arrays))
    eager = FL.TimeLSTM(*copies(arrays), stateful=True)
    ref = RL.TimeLSTM(*copies(arrays))
    for step in range(3):
        xs, dhs = draw(rng, dtype, (N, T, D)), draw(rng, dtype, (N, T, H))
        eager.reset_state()
        for layer in (lazy, eager, ref):
            layer.forward(xs)
            layer.backward(dhs)
        want = eager.dh.copy()
        assert_close(want, ref.dh, dtype, "dh")
        if step == 1:  # read after another forward, the weights changed in place
            for layer in (lazy, eager, ref):
                layer.params[1][...] *= 0.5
            lazy.forward(draw(rng, dtype, (N, T, D)))
        np.testing.assert_array_equal(lazy.dh, want)
        assert lazy.dh is lazy.dh
    assert FL.TimeLSTM(*copies(arrays)).dh is None


def _loops(rows, units):
    """The LSTM time loops to compare: ``name -> (build, last arguments)``."""
    return {
        "2 blocks of rows": (rows.parallel, (2,)),
        "3 blocks of rows": (rows.parallel, (3,)),
        "1 block of rows": (rows.parallel, (1,)),
        "blocks of rows, serial build": (rows.serial, (2,)),
        "blocks of units": (units.parallel, ()),
    }


@dtypes
@pytest.mark.parametrize("N", [1, 7, 9])
@pytest.mark.parametrize("stateful", [False, True], ids=["stateless", "stateful"])
def test_lstm_time_loops_give_the_same_bits(stateful, N, dtype, monkeypatch):
    """The LSTM's time loops by blocks of rows (each block through all steps, any number of
    blocks, either build) and by blocks of units (each step's blocks in parallel) compute
    the same bits: hidden states, last state, ``dxs``, ``dh`` and every gradient."""
    import fastlstm.layers.lstm as LL

    rng = np.random.default_rng(N)
    T, D, H = 5, 4, 40  # H: more than one block of units, the last one padded
    arrays = recurrent_params("lstm", rng, dtype, D, H)
    xs, dhs = draw(rng, dtype, (N, T, D)), draw(rng, dtype, (N, T, H))
    h0, c0 = draw(rng, dtype, (N, H)), draw(rng, dtype, (N, H))
    results = {}
    for name in _loops(_klstm.lstm_forward, _klstm.lstm_forward_units):
        monkeypatch.setattr(
            LL, "_time_loop", lambda rows, units, n, work, name=name: _loops(rows, units)[name]
        )
        layer = FL.TimeLSTM(*copies(arrays), stateful=stateful)
        if stateful:
            layer.set_state(h0, c0)
        out = {"hs": layer.forward(xs), "h": layer.h, "c": layer.c}
        out["dxs"] = layer.backward(dhs)
        out["dh"] = layer.dh
        out.update((f"grads[{k}]", g.copy()) for k, g in enumerate(layer.grads))
        results[name] = out
    first, *others = results
    for name in others:
        for key, want in results[first].items():
            np.testing.assert_array_equal(results[name][key], want, err_msg=f"{key}, {name}")


def test_lstm_time_loop_by_rows_from_four_rows_per_block():
    """Blocks of rows when each gets at least four rows; else the blocks of units (in
    the parallel build: the serial one takes all rows as one block)."""
    import fastlstm.layers.lstm as LL

    assert [_klstm.row_blocks(N, 2) for N in (1, 7, 8, 128)] == [0, 0, 2, 2]
    assert [_klstm.row_blocks(N, 1) for N in (3, 4)] == [0, 1]
    rows, units = _klstm.lstm_backward, _klstm.lstm_backward_units
    CH = LL.CHUNKS
    assert LL._time_loop(rows, units, 4 * CH, 10**9) == (rows.parallel, (CH,))
    assert LL._time_loop(rows, units, 4 * CH, 0) == (rows.serial, (CH,))
    assert LL._time_loop(rows, units, 4 * CH - 1, 10**9) == (units.parallel, ())
    assert LL._time_loop(rows, units, 4 * CH - 1, 0) == (rows.serial, (1,))


# (N, D, blocks of rows or None for the layer's choice, build): the inference kernel in
# blocks of rows (either build, 1 to 3 blocks), and the cases that run forward's kernel
# (too few rows for blocks in the parallel build; more inputs than STEP_INPUTS_MAX)
STATES_CASES = [
    pytest.param(9, 4, None, "parallel", id="N9-rows-parallel"),
    pytest.param(9, 4, None, "serial", id="N9-rows-serial"),
    pytest.param(9, 4, 1, "parallel", id="N9-1block"),
    pytest.param(9, 4, 3, "parallel", id="N9-3blocks"),
    pytest.param(7, 4, None, "parallel", id="N7-units-forward"),
    pytest.param(7, 4, None, "serial", id="N7-serial-1block"),
    pytest.param(9, 63, None, "parallel", id="D63-rows"),
    pytest.param(9, 64, None, "parallel", id="D64-forward"),
]


@dtypes
@pytest.mark.parametrize(("N", "D", "blocks", "build"), STATES_CASES)
@pytest.mark.parametrize("stateful", [False, True], ids=["stateless", "stateful"])
def test_lstm_inference_forward_gives_the_forwards_states(
    stateful, N, D, blocks, build, dtype, monkeypatch
):
    """``TimeLSTM._states``, the forward for inference (each step's input projections just
    before its gates, one step's gate activations kept at a time), gives ``forward``'s
    hidden states and last state bit for bit, with any BLAS: both compute the projections
    through the tiles (or, for wide inputs, inference runs ``forward``'s kernel).  Then
    ``backward`` asks for a forward first, and a forward and backward give the gradients of
    a layer that never ran it (the work arrays are shared)."""
    import fastlstm._numba as NB
    import fastlstm.layers.lstm as LL

    monkeypatch.setattr(NB, "PARALLEL_MIN_WORK", 0 if build == "parallel" else 10**12)
    if blocks is not None:
        monkeypatch.setattr(_klstm, "row_blocks", lambda n, nch, min_rows=4: blocks)
    steps = []  # the steps of gates the forward kernel (by rows) was given: T, or 1 (inference)
    for name in ("parallel", "serial"):
        kernel = getattr(_klstm.lstm_forward, name)
        spy = lambda *a, k=kernel: steps.append(a[5].shape[1]) or k(*a)  # noqa: E731
        monkeypatch.setattr(_klstm.lstm_forward, name, spy)
    rng = np.random.default_rng(N + D)
    T, H = 6, 40  # H: more than one block of units, the last one padded
    arrays = recurrent_params("lstm", rng, dtype, D, H)
    xs, dhs = draw(rng, dtype, (N, T, D)), draw(rng, dtype, (N, T, H))
    h0, c0 = draw(rng, dtype, (N, H)), draw(rng, dtype, (N, H))
    layers = [FL.TimeLSTM(*copies(arrays), stateful=stateful) for _ in range(2)]
    layers[1].forward(xs[::-1].copy())  # a forward whose cache the inference one drops
    if stateful:
        for layer in layers:
            layer.set_state(h0, c0)
    want = [layers[0].forward(xs), layers[0].h, layers[0].c]
    steps.clear()
    got = [layers[1]._states(xs), layers[1].h, layers[1].c]
    for name, g, w in zip(("hs", "h", "c"), got, want):
        assert_same_bits(g, w, name)
    rows = _klstm.row_blocks(N, LL.CHUNKS) > 0 or build == "serial"  # else blocks of units
    if rows and D + 1 <= _klstm.STEP_INPUTS_MAX:
        assert steps == [1]  # one step's gates at a time
    else:
        assert steps == ([T] if rows else [])  # the training forward's kernel
    with pytest.raises(RuntimeError, match="forward first"):
        layers[1].backward(dhs)
    for layer in layers:  # a training step after it
        if stateful:
            layer.set_state(h0, c0)
        layer.forward(xs)
        layer.backward(dhs)
    for k, (g, w) in enumerate(zip(layers[1].grads, layers[0].grads)):
        np.testing.assert_array_equal(g, w, err_msg=f"grads[{k}]")


@dtypes
@pytest.mark.parametrize("D", [16, 63, 64])
def test_lstm_forward_rows_do_not_depend_on_their_batch(D, dtype, monkeypatch):
    """A row's hidden states from ``forward`` are the same whatever rows come with it: for at
    most ``STEP_INPUTS_MAX`` input columns (the ones' included) bit for bit with any BLAS, each
    step's projections being computed through the tiles; for wider inputs, one BLAS product,
    bit for bit where the BLAS rounds a row alike whatever rows come with it."""
    import fastlstm._numba as NB

    monkeypatch.setattr(NB, "PARALLEL_MIN_WORK", 0)  # the parallel builds, at any size
    rng = np.random.default_rng(D)
    T, H, N = 5, 40, 24
    arrays = recurrent_params("lstm", rng, dtype, D, H)
    xs = draw(rng, dtype, (N, T, D))
    want = FL.TimeLSTM(*copies(arrays), stateful=False).forward(xs)
    for rows in (slice(0, 1), slice(3, 6), slice(3, 11), slice(5, 24)):  # units' kernel, rows'
        got = FL.TimeLSTM(*copies(arrays), stateful=False).forward(xs[rows].copy())
        if D + 1 <= _klstm.STEP_INPUTS_MAX:
            assert_same_bits(got, want[rows], (D, rows))
        else:
            assert_rows_alike(got, want[rows], str((D, rows)))


def test_lstm_forward_rows_do_not_depend_on_their_batch_with_openblas_haswell_kernels():
    """The test above under OpenBLAS's Haswell kernels (its own process), which round a row
    of a product by the rows that come with it: the tiles' projections do not."""
    from fastlstm._kernels import blas

    if not blas.NUMPY_GEMM:
        pytest.skip("the kernels call SciPy's BLAS, which OPENBLAS_CORETYPE does not choose")
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell", FASTLSTM_PACKED_GEMM="0")
    test = "tests/test_layers.py::test_lstm_forward_rows_do_not_depend_on_their_batch"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert re.search(r"\b6 passed", run.stdout), run.stdout[-3000:]  # 3 widths, 2 dtypes


STATE_SHAPES = [pytest.param(s, id=_shape_id(s)) for s in SMALL_SHAPES[:2]] + [
    pytest.param(LARGE_SHAPE, id=_shape_id(LARGE_SHAPE))
]


def _time_pair(kind, arrays, stateful):
    cls_f, cls_r = TIME_LAYERS[kind]
    return (
        cls_f(*copies(arrays), stateful=stateful),
        cls_r(*copies(arrays), stateful=stateful),
    )


def _compare_state(kind, fast, ref, dtype, when):
    name = TIME_LAYERS[kind][0].__name__
    assert_close(fast.h, ref.h, dtype, f"{name}.h {when}")
    if kind == "lstm":
        assert_close(fast.c, ref.c, dtype, f"{name}.c {when}")


def _compare_backward(kind, fast, ref, dhs, dtype, when):
    name = TIME_LAYERS[kind][0].__name__
    snap = snapshot_arrays(fast)
    assert_close(fast.backward(dhs.copy()), ref.backward(dhs.copy()), dtype, f"{name} dxs {when}")
    for k, (gf, gr) in enumerate(zip(fast.grads, ref.grads)):
        assert_close(gf, gr, dtype, f"{name} grads[{k}] (d{PARAM_NAMES[kind][k]}) {when}")
    assert_close(fast.dh, ref.dh, dtype, f"{name}.dh {when}")
    assert_arrays_kept(fast, snap, name)


@dtypes
@pytest.mark.parametrize("shape", STATE_SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_stateful_carry_over(kind, seed, shape, dtype):
    """``stateful=True``: the last state of one call starts the next (truncated BPTT)."""
    rng = np.random.default_rng(seed)
    N, T, D, H = shape["N"], shape["T"], shape["D"], shape["H"]
    fast, ref = _time_pair(kind, recurrent_params(kind, rng, dtype, D, H), stateful=True)
    name = type(fast).__name__
    for call in (1, 2):
        xs = draw(rng, dtype, (N, T, D))
        assert_close(fast.forward(xs.copy()), ref.forward(xs.copy()), dtype, f"{name} call {call}")
        _compare_state(kind, fast, ref, dtype, f"after call {call}")
    _compare_backward(kind, fast, ref, draw(rng, dtype, (N, T, H)), dtype, "after call 2")

    fast.reset_state()
    ref.reset_state()
    xs = draw(rng, dtype, (N, T, D))
    hs = fast.forward(xs.copy())
    assert_close(hs, ref.forward(xs.copy()), dtype, f"{name} after reset_state")
    fresh = TIME_LAYERS[kind][0](*copies(fast.params))
    assert_close(hs, fresh.forward(xs.copy()), dtype, f"{name} after reset_state vs a new layer")


@dtypes
@pytest.mark.parametrize("shape", STATE_SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_set_state(kind, seed, shape, dtype):
    """``set_state(h[, c])`` is the initial state of the next call; ``dh`` is its gradient."""
    rng = np.random.default_rng(seed)
    N, T, D, H = shape["N"], shape["T"], shape["D"], shape["H"]
    fast, ref = _time_pair(kind, recurrent_params(kind, rng, dtype, D, H), stateful=True)
    name = type(fast).__name__
    state = [draw(rng, dtype, (N, H), 0.8)]
    if kind == "lstm":
        state.append(draw(rng, dtype, (N, H)))
    given = copies(state)
    fast.set_state(*given)
    ref.set_state(*copies(state))
    xs = draw(rng, dtype, (N, T, D))
    assert_close(fast.forward(xs.copy()), ref.forward(xs.copy()), dtype, f"{name} after set_state")
    for k, (g, s) in enumerate(zip(given, state)):
        assert np.array_equal(g, s), f"{name}: forward modified the array given to set_state[{k}]"
    _compare_state(kind, fast, ref, dtype, "after set_state and forward")
    _compare_backward(kind, fast, ref, draw(rng, dtype, (N, T, H)), dtype, "after set_state")

    if kind == "lstm":  # set_state(h) alone: c starts at zero
        fast.set_state(state[0].copy())
        ref.set_state(state[0].copy())
        xs = draw(rng, dtype, (N, T, D))
        assert_close(fast.forward(xs.copy()), ref.forward(xs.copy()), dtype, f"{name} c=None")
        _compare_state(kind, fast, ref, dtype, "after set_state(h)")


@dtypes
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_not_stateful_ignores_previous_state(kind, dtype):
    rng = np.random.default_rng(5)
    shape = SMALL_SHAPES[1]
    N, T, D, H = shape["N"], shape["T"], shape["D"], shape["H"]
    fast, ref = _time_pair(kind, recurrent_params(kind, rng, dtype, D, H), stateful=False)
    name = type(fast).__name__
    fast.forward(draw(rng, dtype, (N, T, D)))
    state = [draw(rng, dtype, (N, H))] * (2 if kind == "lstm" else 1)
    fast.set_state(*copies(state))
    ref.set_state(*copies(state))
    xs = draw(rng, dtype, (N, T, D))
    assert_close(fast.forward(xs.copy()), ref.forward(xs.copy()), dtype, f"{name} stateless")
    _compare_backward(kind, fast, ref, draw(rng, dtype, (N, T, H)), dtype, "stateless")


# --------------------------------------------------------------------------- #
# output layers
# --------------------------------------------------------------------------- #
@dtypes
@cases
def test_time_affine(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    N, T, D, V = shape["N"], shape["T"], shape["D"], shape["V"]
    W, b = draw(rng, dtype, (D, V), D**-0.5), draw(rng, dtype, (V,))
    x = draw(rng, dtype, (N, T, D))
    fast, ref = FL.TimeAffine(W.copy(), b.copy()), RL.TimeAffine(W.copy(), b.copy())
    compare("TimeAffine", fast, ref, [x], dtype, rng, names=["W", "b"])


@dtypes
@cases
def test_time_affine_tied_transposed_weight(shape, seed, dtype):
    """``TimeAffine(embed_W.T, b)`` with ``embed_W`` C-contiguous (weight tying)."""
    rng = np.random.default_rng(seed)
    N, T, D, V = shape["N"], shape["T"], shape["D"], shape["V"]
    embed_W, b = draw(rng, dtype, (V, D), D**-0.5), draw(rng, dtype, (V,))
    x = draw(rng, dtype, (N, T, D))
    embed_f, embed_r = embed_W.copy(), embed_W.copy()
    assert embed_f.flags.c_contiguous
    fast, ref = FL.TimeAffine(embed_f.T, b.copy()), RL.TimeAffine(embed_r.T, b.copy())
    assert fast.params[0].base is embed_f, "TimeAffine copied the tied weight"
    compare("TimeAffine(tied)", fast, ref, [x], dtype, rng, names=["W", "b"])
    assert np.array_equal(embed_f, embed_W), "TimeAffine(tied) modified the embedding weight"
    assert fast.grads[0].shape == (D, V)


@dtypes
@cases
@pytest.mark.parametrize("labels", ["ids", "some_ignored", "all_ignored", "onehot"])
def test_time_softmax_with_loss(shape, seed, dtype, labels):
    rng = np.random.default_rng(seed)
    N, T, V = shape["N"], shape["T"], shape["V"]
    xs = draw(rng, dtype, (N, T, V), 2.0)
    ts = rng.integers(0, V, size=(N, T)).astype(np.int32)
    dout = 1.0
    if labels == "some_ignored":
        ignored = rng.random((N, T)) < 0.4
        ignored.flat[0] = True
        ignored.flat[-1] = ignored.size == 1
        ts[ignored] = -1
        dout = 0.5
    elif labels == "all_ignored":
        ts[...] = -1
    elif labels == "onehot":
        ts = np.eye(V, dtype=np.int32)[ts]
        dout = 2.0
    fast, ref = FL.TimeSoftmaxWithLoss(), RL.TimeSoftmaxWithLoss()
    loss, dxs = compare("TimeSoftmaxWithLoss", fast, ref, [xs, ts], dtype, rng, loss_dout=dout)
    assert isinstance(loss, float)
    if labels == "all_ignored":
        assert loss == 0.0 and not np.any(dxs), "all labels ignored: loss and gradient must be 0"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("build", ["parallel", "serial"])
def test_fused_softmax_kernels_have_the_bits_of_the_separate_passes(dtype, build):
    """The softmax-loss kernel that adds the bias in place gives the bits of the bias pass +
    forward kernel, and in gradient mode those of the backward kernel + column sums: ignored
    rows (the first one too), a label in every column block, widths inside and across blocks,
    one and several blocks."""
    from fastlstm._kernels import softmax as S
    from fastlstm._kernels.blas import column_sums

    fwd, fwd_bias = getattr(S.softmax_ce_forward, build), getattr(S.softmax_ce_forward_bias, build)
    bwd = getattr(S.softmax_ce_backward, build)
    rng = np.random.default_rng(5)
    for M, V in ((1, 1), (3, 17), (9, 256), (40, 257), (70, 1000)):
        x = (rng.standard_normal((M, V)) * 4).astype(dtype)
        b = rng.standard_normal(V).astype(dtype)
        t = rng.integers(0, V, M)
        t[0] = -1
        t[M // 2] = V - 1
        scale = dtype(0.37)
        e, sums, losses = np.empty_like(x), np.empty(M), np.empty(M)
        fwd(x + b, t, -1, e, sums, losses)
        x2, sums2, losses2, untouched = x.copy(), np.empty(M), np.empty(M), np.full(V, 7, dtype)
        fwd_bias(x2, b, t, -1, sums2, losses2, False, scale, untouched, 2)
        for got, want in ((x2, e), (sums2, sums), (losses2, losses)):
            assert_same_bits(got, want, (M, V))
        assert (untouched == 7).all()
        dx, db = np.empty_like(e), np.empty(V, dtype=dtype)
        bwd(e, t, -1, sums, scale, dx)
        column_sums(dx, db)
        assert_same_bits(db, dx.sum(axis=0), (M, V, "NumPy's sum"))
        for nch in (1, 2, 3, 64):  # the rows become the gradient, db its column sums
            x3, sums3, losses3, db3 = x.copy(), np.empty(M), np.empty(M), np.full(V, np.nan, dtype)
            fwd_bias(x3, b, t, -1, sums3, losses3, True, scale, db3, nch)
            for got, want in ((x3, dx), (sums3, sums), (losses3, losses), (db3, db)):
                assert_same_bits(got, want, (M, V, nch, "gradient in the forward"))
    nan_row = np.ones((2, 5), dtype=dtype)  # a bias that makes a score NaN: the loss says so
    losses = np.empty(2)
    S.softmax_ce_forward_bias.serial(
        nan_row,
        np.array([np.nan, 0, 0, 0, 0], dtype=dtype),
        np.array([1, -1]),
        -1,
        np.empty(2),
        losses,
        True,
        dtype(0.5),
        np.empty(5, dtype=dtype),
        2,
    )
    assert np.isnan(losses).all()


@pytest.mark.parametrize(
    "model, dtype",
    [
        ("SimpleRnnlm", np.float32),  # the book's float32 parameters only
        ("Rnnlm", np.float32),
        ("Rnnlm", np.float64),
        ("BetterRnnlm", np.float32),
        ("BetterRnnlm", np.float64),
    ],
)
@pytest.mark.parametrize("after_backward, dout", [(False, 1.0), (True, 1.0), (True, 2.5)])
def test_language_models_fused_output_has_the_bits_of_the_layer_loop(
    model, dtype, after_backward, dout
):
    """``forward``/``backward`` of the language models (output layer and loss in fewer
    passes) give the loss and every gradient of running the layers one by one, bit for bit,
    with ignored labels; the layers keep what their own ``backward`` needs.  After a
    backward the next forward writes the gradient for ``dout = 1`` in its softmax pass:
    the same bits, for that ``dout`` and another."""
    import fastlstm.models as FM

    rng = np.random.default_rng(2)
    V, N, T = 300, 4, 6
    xs, ts = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    ts[0, :2] = -1
    kw = {} if model == "SimpleRnnlm" else {"dtype": dtype}
    if model == "BetterRnnlm":
        kw["dropout_ratio"] = 0.0
    m = getattr(FM, model)(V, 12, 12, seed=3, **kw)
    if after_backward:  # an iteration on another batch first, as in a training loop
        m.forward(rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T)))
        m.backward()
        m.reset_state()
    loss = m.forward(xs, ts)
    assert (m.loss_layer._cache[-1] is not None) == after_backward  # gradient written ahead
    m.backward(dout)
    fused = [g.copy() for g in m.grads]
    m.reset_state()
    # the layers one by one, as the book's models run them
    scores = m.predict(xs, True) if model == "BetterRnnlm" else m.predict(xs)
    assert m.loss_layer.forward(scores, ts) == loss
    d = m.loss_layer.backward(dout)
    for layer in reversed(m.layers):
        d = layer.backward(d)
    for name, a, b in zip(range(99), fused, m.grads):
        assert_same_bits(a, b, name)
    # after the fused forward, the layers' own backward calls still work
    m.reset_state()
    m.forward(xs, ts)
    d = m.layers[-1].backward(m.loss_layer.backward(dout))
    assert d.shape == (N, T, m.layers[-1].params[0].shape[0])
    for name, a, b in zip(range(99), fused, m.grads):
        assert_same_bits(a, b, name)


def test_language_model_backward_after_another_predict_names_the_shape():
    """A ``predict`` on other shapes between ``forward`` and ``backward`` leaves the output layer
    and the loss out of step: a ValueError naming the shape, as the layers' own calls give."""
    import fastlstm.models as FM

    m = FM.Rnnlm(50, 4, 6, seed=0)
    m.forward(np.zeros((2, 3), dtype=int), np.zeros((2, 3), dtype=int))
    m.predict(np.zeros((2, 5), dtype=int))
    with pytest.raises(ValueError, match="dout"):
        m.backward()


def test_language_model_fused_output_refuses_nan_scores():
    """A NaN reaching the scores is refused by the fused output as by the loss layer."""
    import fastlstm.models as FM

    m = FM.Rnnlm(50, 4, 6, seed=0)
    m.layers[-1].params[1][3] = np.inf
    with pytest.raises(ValueError, match=r"the scores x @ W \+ b contains NaN or inf"):
        m.forward(np.zeros((2, 3), dtype=int), np.zeros((2, 3), dtype=int))


# --------------------------------------------------------------------------- #
# attention (ch. 8)
# --------------------------------------------------------------------------- #
def _attention_inputs(rng, dtype, shape):
    """Encoder states (N, Te, H) and one decoder state (N, H), scaled so scores are O(1)."""
    N, Te, H = shape["N"], shape["Te"], shape["H"]
    s = H**-0.25
    return draw(rng, dtype, (N, Te, H), s), draw(rng, dtype, (N, H), s)


@dtypes
@cases
def test_weight_sum(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    hs, _ = _attention_inputs(rng, dtype, shape)
    a = softmax_rows(rng, dtype, hs.shape[:2])
    compare("WeightSum", FL.WeightSum(), RL.WeightSum(), [hs, a], dtype, rng)


@dtypes
@cases
def test_attention_weight(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    hs, h = _attention_inputs(rng, dtype, shape)
    compare("AttentionWeight", FL.AttentionWeight(), RL.AttentionWeight(), [hs, h], dtype, rng)


@dtypes
@cases
def test_attention(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    hs, h = _attention_inputs(rng, dtype, shape)
    fast, ref = FL.Attention(), RL.Attention()
    compare("Attention", fast, ref, [hs, h], dtype, rng, forward_attrs=("attention_weight",))


@dtypes
@cases
def test_time_attention(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    hs_enc, _ = _attention_inputs(rng, dtype, shape)
    N, T, H = shape["N"], shape["T"], shape["H"]
    hs_dec = draw(rng, dtype, (N, T, H), H**-0.25)
    fast, ref = FL.TimeAttention(), RL.TimeAttention()
    compare(
        "TimeAttention",
        fast,
        ref,
        [hs_enc, hs_dec],
        dtype,
        rng,
        forward_attrs=("attention_weights",),
    )
    assert len(fast.attention_weights) == T


@dtypes
@cases
def test_time_attention_with_lengths(shape, seed, dtype):
    """Padded encoder steps (past ``lengths[n]``) get zero weight and zero gradient,
    against the reference's -inf scores; each sample equals its unpadded run."""
    rng = np.random.default_rng(seed)
    hs_enc, _ = _attention_inputs(rng, dtype, shape)
    N, T, Te, H = shape["N"], shape["T"], shape["Te"], shape["H"]
    hs_dec = draw(rng, dtype, (N, T, H), H**-0.25)
    lengths = rng.integers(1, Te + 1, N)
    lengths[0] = 1
    lengths[-1] = Te
    fast, ref = FL.TimeAttention(), RL.TimeAttention()
    compare(
        "TimeAttention(lengths)",
        fast,
        ref,
        [hs_enc, hs_dec, lengths],
        dtype,
        rng,
        forward_attrs=("attention_weights",),
    )
    w = fast.weights
    for n in range(N):
        assert not w[n, :, lengths[n] :].any()
    dout = draw(rng, dtype, (N, T, H))
    out = fast.forward(hs_enc, hs_dec, lengths)
    dhs_enc, _ = fast.backward(dout)
    for n in range(N):
        assert not dhs_enc[n, lengths[n] :].any()
        alone = FL.TimeAttention()
        L = lengths[n]
        np.testing.assert_array_equal(
            alone.forward(hs_enc[n : n + 1, :L], hs_dec[n : n + 1]), out[n : n + 1]
        )
        np.testing.assert_array_equal(alone.backward(dout[n : n + 1])[0], dhs_enc[n : n + 1, :L])
    with pytest.raises(ValueError, match="lengths must be in"):
        fast.forward(hs_enc, hs_dec, np.zeros(N, dtype=np.int64))


@dtypes
@pytest.mark.parametrize("padded", [False, True])
def test_time_attention_writes_the_decoders_concat_with_the_same_bits(dtype, padded):
    """The decoder's ``concat(context, hs_dec)`` written by the attention kernel, and its
    gradient read by the backward kernel, give the bits of the separate steps: ``forward``
    then a concatenation; ``backward`` of the first half plus the second half."""
    rng = np.random.default_rng(5)
    N, Te, Td, H = 6, 7, 4, 12
    hs_enc = draw(rng, dtype, (N, Te, H))
    hs_dec = draw(rng, dtype, (N, Td, H), H**-0.25)
    lengths = rng.integers(1, Te + 1, N) if padded else None
    dout = draw(rng, dtype, (N, Td, 2 * H))
    one, two = FL.TimeAttention(), FL.TimeAttention()
    c = one.forward(hs_enc, hs_dec, lengths)
    cat = two._forward_weights(hs_enc, hs_dec, lengths, True)
    np.testing.assert_array_equal(cat, np.concatenate((c, hs_dec), axis=2))
    np.testing.assert_array_equal(two.weights, one.weights)
    denc, ddec = one.backward(np.ascontiguousarray(dout[:, :, :H]))
    denc2, ddec2 = two._backward3d(dout, concat=True)
    np.testing.assert_array_equal(denc2, denc)
    np.testing.assert_array_equal(ddec2, ddec + dout[:, :, H:])
    with pytest.raises(ValueError, match="dout"):
        two._backward3d(dout[:, :, :H], concat=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_fixed_weights_lays_out_once_and_forgets_after(dtype, monkeypatch):
    """Inside ``fixed_weights()`` steps reuse the laid-out weights (the same outputs as
    without it); after the block, weights changed in place are used again."""
    rng = np.random.default_rng(11)
    D, H, N = 5, 7, 3
    params = [
        draw(rng, dtype, (D, 4 * H)),
        draw(rng, dtype, (H, 4 * H)),
        draw(rng, dtype, (4 * H,)),
    ]
    fast = FL.TimeLSTM(*[p.copy() for p in params], stateful=True)
    ref = RL.TimeLSTM(*[p.copy() for p in params], stateful=True)
    xs = [draw(rng, dtype, (N, 1, D)) for _ in range(4)]
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 0}
    calls = []
    pack = _klstm.pack_recurrent

    class Counting:  # the kernel, counting the calls of its builds
        def pick(self, work):
            build = pack.pick(work)

            def run(*args):
                calls.append(1)
                return build(*args)

            return run

    monkeypatch.setattr(_klstm, "pack_recurrent", Counting())
    with fast.fixed_weights():
        with fast.fixed_weights():  # nested blocks are fine
            outs = [fast.forward(x) for x in xs[:2]]
        outs += [fast.forward(x) for x in xs[2:]]
    assert len(calls) == 1
    want = [ref.forward(x) for x in xs]
    for got, exp in zip(outs, want):
        np.testing.assert_allclose(got, exp, **tol)
    for p_fast, p_ref in zip(fast.params, ref.params):  # an update after the block
        p_fast *= 0.5
        p_ref *= 0.5
    np.testing.assert_allclose(fast.forward(xs[0]), ref.forward(xs[0]), **tol)
    assert len(calls) == 2


def test_the_functions_match_the_reference_and_a_scalar_stays_a_scalar():
    """``fastlstm.functions`` as ``reference.functions``; a scalar gives a NumPy scalar, as the book's."""
    import fastlstm.functions as FF
    import reference.functions as RF

    x = np.array([[-30.0, -2.0, 0.0], [3.0, 20.0, 40.0]])
    np.testing.assert_allclose(FF.sigmoid(x), RF.sigmoid(x), rtol=1e-15)
    np.testing.assert_allclose(FF.softmax(x), RF.softmax(x), rtol=1e-15)
    scalar = FF.sigmoid(0.5)  # it was a 0-d array
    assert isinstance(scalar, np.float64) and scalar == 1 / (1 + np.exp(-0.5))


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("stateful", [False, True])
def test_time_layer_without_steps_keeps_the_state_it_starts_from(kind, stateful):
    """``T = 0``: no output steps, and ``.h`` is the state the layer starts from (zeros, or the
    state set before when stateful), as the book's loop over no steps leaves it."""
    rng = np.random.default_rng(3)
    N, D, H = 2, 3, 4
    layer = TIME_LAYERS[kind][0](*recurrent_params(kind, rng, np.float32, D, H), stateful=stateful)
    h0 = draw(rng, np.float32, (N, H))
    layer.set_state(h0)
    hs = layer.forward(np.zeros((N, 0, D), np.float32))
    assert hs.shape == (N, 0, H)
    np.testing.assert_array_equal(layer.h, h0 if stateful else np.zeros((N, H), np.float32))
