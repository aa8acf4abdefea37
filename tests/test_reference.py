"""Tests of the plain NumPy oracle in ``reference/``.

Gradients are checked against central differences in float64; everything else
against values computed by hand from the book's formulas.
"""

import numpy as np
import pytest

from reference import functions as F
from reference import layers as L
from reference import models as M
from reference import optim as O

EPS = 1e-6
TOL = 1e-6
V, D, H, N, T = 7, 3, 4, 2, 3


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def numerical_grad(f, x, eps=EPS):
    """Central-difference gradient of the scalar ``f()`` w.r.t. the array ``x`` (in place)."""
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        grad[i] = (fp - fm) / (2 * eps)
    return grad


def rel_error(a, b):
    """``|a - b| / (|a| + |b|)`` in the Frobenius norm (0 when both vanish)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def assert_grad(f, x, analytic, name):
    num = numerical_grad(f, x)
    assert np.linalg.norm(num) > 0, f"{name}: numerical gradient vanishes, test is vacuous"
    err = rel_error(analytic, num)
    assert err < TOL, f"{name}: relative error {err:.2e}"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def randn(rng, *shape):
    return rng.standard_normal(shape)


def check_layer(layer, forward, inputs, out_shape, rng, input_grads):
    """Check every param grad and the listed input grads of ``layer``.

    ``forward()`` runs the layer on ``inputs`` (a dict of arrays it reads) and returns the
    output; ``input_grads(dout)`` runs backward and returns a dict name -> gradient.
    """
    w = randn(rng, *out_shape)

    def loss():
        return float(np.sum(forward() * w))

    loss()
    grads_in = input_grads(w)
    analytic_params = [g.copy() for g in layer.grads]
    for k, (p, g) in enumerate(zip(layer.params, analytic_params, strict=True)):
        assert_grad(loss, p, g, f"{type(layer).__name__}.params[{k}]")
    for name, g in grads_in.items():
        assert_grad(loss, inputs[name], g, f"{type(layer).__name__} d{name}")


# --------------------------------------------------------------------------- #
# functions
# --------------------------------------------------------------------------- #
def test_softmax_is_stable_and_normalised(rng):
    for shape in [(V,), (N, V), (N, T, V)]:
        x = randn(rng, *shape) * 3 + 1000.0  # would overflow without the shift
        y = F.softmax(x)
        assert y.shape == x.shape
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-12)
        e = np.exp(x - 1000.0)
        np.testing.assert_allclose(y, e / e.sum(axis=-1, keepdims=True), rtol=1e-12)
    assert F.softmax(np.zeros(3, dtype=np.float32)).dtype == np.float32


def test_sigmoid_and_cross_entropy(rng):
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(F.sigmoid(x), [1 / (1 + np.e**2), 0.5, 1 / (1 + np.e**-3)])
    y = F.softmax(randn(rng, N, V))
    t = np.array([1, 4])
    expected = -(np.log(y[0, 1] + 1e-7) + np.log(y[1, 4] + 1e-7)) / 2
    assert F.cross_entropy_error(y, t) == pytest.approx(expected)
    assert F.cross_entropy_error(y, np.eye(V)[t]) == pytest.approx(expected)
    assert F.cross_entropy_error(y[0], np.array(1)) == pytest.approx(-np.log(y[0, 1] + 1e-7))


# --------------------------------------------------------------------------- #
# gradient checks: feed-forward layers
# --------------------------------------------------------------------------- #
def test_matmul_affine_grads(rng):
    x = randn(rng, N, D)
    layer = L.MatMul(randn(rng, D, H))
    check_layer(
        layer, lambda: layer.forward(x), {"x": x}, (N, H), rng, lambda w: {"x": layer.backward(w)}
    )
    layer2 = L.Affine(randn(rng, D, H), randn(rng, H))
    check_layer(
        layer2,
        lambda: layer2.forward(x),
        {"x": x},
        (N, H),
        rng,
        lambda w: {"x": layer2.backward(w)},
    )


def test_softmax_sigmoid_grads(rng):
    x = randn(rng, N, V)
    for layer in (L.Softmax(), L.Sigmoid()):
        check_layer(
            layer,
            lambda layer=layer: layer.forward(x),
            {"x": x},
            (N, V),
            rng,
            lambda w, layer=layer: {"x": layer.backward(w)},
        )


@pytest.mark.parametrize("onehot", [False, True])
def test_softmax_with_loss_grad(rng, onehot):
    x = randn(rng, N, V)
    t = np.array([2, 5])
    t_in = np.eye(V)[t] if onehot else t
    layer = L.SoftmaxWithLoss()

    def loss():
        return float(layer.forward(x, t_in))

    loss()
    assert_grad(loss, x, layer.backward(1.0), "SoftmaxWithLoss dx")


def test_dropout_grad_and_mask(rng):
    x = randn(rng, N, D)
    layer = L.Dropout(0.4)

    def fwd():
        layer.rng = np.random.default_rng(7)
        return layer.forward(x)

    check_layer(layer, fwd, {"x": x}, (N, D), rng, lambda w: {"x": layer.backward(w)})
    expected_mask = np.random.default_rng(7).random(x.shape) > 0.4
    np.testing.assert_array_equal(layer.mask, expected_mask)
    np.testing.assert_allclose(layer.forward(x, train_flg=False), x * 0.6)


def test_embedding_grad_with_repeated_ids(rng):
    W = randn(rng, V, D)
    idx = np.array([3, 1, 3])
    layer = L.Embedding(W)
    check_layer(
        layer, lambda: layer.forward(idx), {}, (3, D), rng, lambda w: layer.backward(w) or {}
    )


# --------------------------------------------------------------------------- #
# gradient checks: recurrent cells and time layers
# --------------------------------------------------------------------------- #
def test_rnn_cell_grads(rng):
    x, h = randn(rng, N, D), randn(rng, N, H)
    layer = L.RNN(randn(rng, D, H), randn(rng, H, H), randn(rng, H))

    def back(w):
        dx, dh = layer.backward(w)
        return {"x": dx, "h": dh}

    check_layer(layer, lambda: layer.forward(x, h), {"x": x, "h": h}, (N, H), rng, back)


@pytest.mark.parametrize("output", ["h", "c"])
def test_lstm_cell_grads(rng, output):
    x, h, c = randn(rng, N, D), randn(rng, N, H), randn(rng, N, H)
    layer = L.LSTM(randn(rng, D, 4 * H), randn(rng, H, 4 * H), randn(rng, 4 * H))
    k = 0 if output == "h" else 1

    def back(w):
        zeros = np.zeros_like(w)
        dh_next, dc_next = (w, zeros) if k == 0 else (zeros, w)
        dx, dh, dc = layer.backward(dh_next, dc_next)
        return {"x": dx, "h": dh, "c": dc}

    check_layer(
        layer, lambda: layer.forward(x, h, c)[k], {"x": x, "h": h, "c": c}, (N, H), rng, back
    )


@pytest.mark.parametrize("bias", [False, True])
def test_gru_cell_grads(rng, bias):
    x, h = randn(rng, N, D), randn(rng, N, H)
    b = (randn(rng, 3 * H),) if bias else ()
    layer = L.GRU(randn(rng, D, 3 * H), randn(rng, H, 3 * H), *b)
    assert len(layer.params) == 2 + bias

    def back(w):
        dx, dh = layer.backward(w)
        return {"x": dx, "h": dh}

    check_layer(layer, lambda: layer.forward(x, h), {"x": x, "h": h}, (N, H), rng, back)
    assert layer.dWx is layer.grads[0] and layer.dWh is layer.grads[1]


def _time_rnn(kind, rng, stateful=True):
    if kind == "rnn":
        return L.TimeRNN(randn(rng, D, H), randn(rng, H, H), randn(rng, H), stateful=stateful)
    if kind == "lstm":
        return L.TimeLSTM(
            randn(rng, D, 4 * H), randn(rng, H, 4 * H), randn(rng, 4 * H), stateful=stateful
        )
    b = (randn(rng, 3 * H),) if kind == "gru_b" else ()
    return L.TimeGRU(randn(rng, D, 3 * H), randn(rng, H, 3 * H), *b, stateful=stateful)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "gru_b"])
def test_time_recurrent_grads_including_initial_state(rng, kind):
    layer = _time_rnn(kind, rng)
    xs, h0 = randn(rng, N, T, D), randn(rng, N, H)

    def fwd():
        layer.set_state(h0)
        return layer.forward(xs)

    def back(w):
        dxs = layer.backward(w)
        return {"xs": dxs, "h0": layer.dh}

    check_layer(layer, fwd, {"xs": xs, "h0": h0}, (N, T, H), rng, back)
    if kind == "gru":
        assert layer.dWx is layer.grads[0] and layer.dWh is layer.grads[1]


def test_time_lstm_grad_wrt_initial_cell(rng):
    layer = _time_rnn("lstm", rng)
    xs, h0, c0 = randn(rng, N, T, D), randn(rng, N, H), randn(rng, N, H)
    w = randn(rng, N, T, H)

    def loss():
        layer.set_state(h0, c0)
        return float(np.sum(layer.forward(xs) * w))

    # d loss / d c0 through the first step: the cell's own backward with the dh, dc
    # arriving from step 1 (recomputed here from the per-step layers).
    loss()
    layer.backward(w)
    dh, dc = 0, 0
    for t in reversed(range(T)):
        _, dh, dc = layer.layers[t].backward(w[:, t, :] + dh, dc)
    assert_grad(loss, c0, dc, "TimeLSTM dc0")
    assert_grad(loss, h0, dh, "TimeLSTM dh0 (recomputed)")


def test_time_bilstm_grads(rng):
    params = [randn(rng, D, 4 * H), randn(rng, H, 4 * H), randn(rng, 4 * H)]
    params += [randn(rng, D, 4 * H), randn(rng, H, 4 * H), randn(rng, 4 * H)]
    layer = L.TimeBiLSTM(*params)
    xs = randn(rng, N, T, D)
    check_layer(
        layer, lambda: layer.forward(xs), {"xs": xs}, (N, T, 2 * H), rng,
        lambda w: {"xs": layer.backward(w)},
    )  # fmt: skip
    assert len(layer.params) == 6 and layer.params[3] is params[3]


def test_time_embedding_grad(rng):
    layer = L.TimeEmbedding(randn(rng, V, D))
    xs = np.array([[1, 2, 1], [6, 1, 0]])
    check_layer(
        layer, lambda: layer.forward(xs), {}, (N, T, D), rng, lambda w: layer.backward(w) or {}
    )


@pytest.mark.parametrize("tied", [False, True])
def test_time_affine_grads(rng, tied):
    W = randn(rng, V, D).T if tied else randn(rng, D, V)  # a transposed view when tied
    layer = L.TimeAffine(W, randn(rng, V))
    grad_before = layer.grads[0]
    xs = randn(rng, N, T, D)
    check_layer(
        layer, lambda: layer.forward(xs), {"xs": xs}, (N, T, V), rng,
        lambda w: {"xs": layer.backward(w)},
    )  # fmt: skip
    assert layer.grads[0] is grad_before and layer.params[0] is W


def test_time_softmax_with_loss_grad_with_ignored(rng):
    layer = L.TimeSoftmaxWithLoss()
    xs = randn(rng, N, T, V)
    ts = np.array([[1, -1, 6], [0, 3, -1]])

    def loss():
        return layer.forward(xs, ts)

    loss()
    dxs = layer.backward(1.0)
    assert_grad(loss, xs, dxs, "TimeSoftmaxWithLoss dxs")
    assert np.all(dxs[0, 1] == 0) and np.all(dxs[1, 2] == 0)


def test_time_dropout_grad_mask_and_eval(rng):
    layer = L.TimeDropout(0.3)
    xs = randn(rng, N, T, D)

    def fwd():
        layer.rng = np.random.default_rng(11)
        return layer.forward(xs)

    check_layer(layer, fwd, {"xs": xs}, (N, T, D), rng, lambda w: {"xs": layer.backward(w)})
    keep = np.random.default_rng(11).random(xs.shape) > 0.3
    np.testing.assert_array_equal(layer.mask, keep / 0.7)
    layer.train_flg = False
    assert layer.forward(xs) is xs

    layer32 = L.TimeDropout(0.5, rng=np.random.default_rng(0))
    out = layer32.forward(xs.astype(np.float32))
    assert out.dtype == np.float32 and layer32.mask.dtype == np.float32
    assert set(np.unique(layer32.mask)) <= {0.0, 2.0}


def test_attention_layer_grads(rng):
    Te = 4
    hs, h = randn(rng, N, Te, H), randn(rng, N, H)
    a = F.softmax(randn(rng, N, Te))

    ws = L.WeightSum()
    check_layer(
        ws, lambda: ws.forward(hs, a), {"hs": hs, "a": a}, (N, H), rng,
        lambda w: dict(zip(["hs", "a"], ws.backward(w), strict=True)),
    )  # fmt: skip
    aw = L.AttentionWeight()
    check_layer(
        aw, lambda: aw.forward(hs, h), {"hs": hs, "h": h}, (N, Te), rng,
        lambda w: dict(zip(["hs", "h"], aw.backward(w), strict=True)),
    )  # fmt: skip
    at = L.Attention()
    check_layer(
        at, lambda: at.forward(hs, h), {"hs": hs, "h": h}, (N, H), rng,
        lambda w: dict(zip(["hs", "h"], at.backward(w), strict=True)),
    )  # fmt: skip


def test_time_attention_grads_and_weights(rng):
    Te, Td = 4, 3
    hs_enc, hs_dec = randn(rng, N, Te, H), randn(rng, N, Td, H)
    layer = L.TimeAttention()
    check_layer(
        layer, lambda: layer.forward(hs_enc, hs_dec), {"enc": hs_enc, "dec": hs_dec},
        (N, Td, H), rng, lambda w: dict(zip(["enc", "dec"], layer.backward(w), strict=True)),
    )  # fmt: skip
    layer.forward(hs_enc, hs_dec)  # the check left weights of a perturbed input behind
    assert len(layer.attention_weights) == Td
    for t, a in enumerate(layer.attention_weights):
        assert a.shape == (N, Te)
        s = np.einsum("nth,nh->nt", hs_enc, hs_dec[:, t])
        np.testing.assert_allclose(a, F.softmax(s), rtol=1e-12)


# --------------------------------------------------------------------------- #
# contracts: state, dtype, in-place grads, errors
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_stateful_carry_over(rng, kind):
    layer = _time_rnn(kind, rng, stateful=True)
    xs = randn(rng, N, 4, D)
    whole = layer.forward(xs)
    layer.reset_state()
    first = layer.forward(xs[:, :2])
    second = layer.forward(xs[:, 2:])
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-12)
    # without state the second half starts again from zeros and differs
    layer.stateful = False
    assert not np.allclose(layer.forward(xs[:, 2:]), whole[:, 2:])


def test_time_lstm_set_state_and_float32(rng):
    Wx, Wh, b = (randn(rng, D, 4 * H), randn(rng, H, 4 * H), randn(rng, 4 * H))
    layer = L.TimeLSTM(*(p.astype(np.float32) for p in (Wx, Wh, b)), stateful=True)
    grads_before = [id(g) for g in layer.grads]
    params_before = [id(p) for p in layer.params]
    xs = randn(rng, N, T, D)  # float64 input is cast to the layer's dtype
    layer.set_state(np.ones((N, H)))
    hs = layer.forward(xs)
    assert hs.dtype == np.float32 and layer.h.dtype == np.float32 and layer.c.dtype == np.float32
    np.testing.assert_array_equal(layer.c.shape, (N, H))
    dxs = layer.backward(np.ones_like(hs))
    assert dxs.dtype == np.float32 and layer.dh.dtype == np.float32
    assert [id(g) for g in layer.grads] == grads_before
    assert [id(p) for p in layer.params] == params_before
    assert all(g.dtype == np.float32 for g in layer.grads)

    ref = L.TimeLSTM(Wx, Wh, b, stateful=True)
    ref.set_state(np.ones((N, H)))
    np.testing.assert_allclose(hs, ref.forward(xs), rtol=1e-4, atol=1e-5)


def test_input_validation(rng):
    emb = L.TimeEmbedding(randn(rng, V, D))
    with pytest.raises(TypeError, match="xs"):
        emb.forward(np.zeros((N, T)))
    with pytest.raises(ValueError, match="outside"):
        emb.forward(np.full((N, T), V))
    lstm = _time_rnn("lstm", rng)
    with pytest.raises(ValueError, match="feature size"):
        lstm.forward(np.zeros((N, T, D + 1)))
    with pytest.raises(ValueError, match="3-D"):
        lstm.forward(np.zeros((N, D)))
    with pytest.raises(ValueError, match="dropout_ratio"):
        L.TimeDropout(1.0)
    with pytest.raises(ValueError, match="ts"):
        L.TimeSoftmaxWithLoss().forward(np.zeros((N, T, V)), np.zeros((N, T + 1), dtype=int))


# --------------------------------------------------------------------------- #
# ignore_label
# --------------------------------------------------------------------------- #
def test_ignore_label_loss_is_mean_over_kept_positions(rng):
    xs = randn(rng, N, T, V)
    ts = np.array([[4, -1, 2], [-1, -1, 0]])
    layer = L.TimeSoftmaxWithLoss()
    loss = layer.forward(xs, ts)
    kept = [(0, 0), (0, 2), (1, 2)]
    expected = -np.mean([np.log(F.softmax(xs[n, t])[ts[n, t]]) for n, t in kept])
    assert loss == pytest.approx(expected, rel=1e-12)

    onehot = np.zeros((N, T, V))
    onehot[0, 0, 4] = onehot[0, 2, 2] = onehot[1, 2, 0] = 1
    ids = np.array([[4, 0, 2], [0, 0, 0]])
    assert L.TimeSoftmaxWithLoss().forward(xs, onehot) == pytest.approx(
        L.TimeSoftmaxWithLoss().forward(xs, ids)
    )


def test_all_labels_ignored_gives_zero_loss_and_grad(rng):
    layer = L.TimeSoftmaxWithLoss()
    xs = randn(rng, N, T, V)
    loss = layer.forward(xs, np.full((N, T), -1))
    assert loss == 0.0 and np.isfinite(loss)
    dxs = layer.backward()
    assert dxs.shape == (N, T, V) and np.all(dxs == 0)


# --------------------------------------------------------------------------- #
# models
# --------------------------------------------------------------------------- #
def _model_grad_check(model, run, dropout_layers=()):
    """Check d loss / d param for every unique param of ``model`` (shared ones merged)."""

    def loss():
        for layer in dropout_layers:
            layer.rng = np.random.default_rng(3)
        return run()

    # one shared generator for all dropout layers, as the model builds them
    def loss_shared():
        g = np.random.default_rng(3)
        for layer in dropout_layers:
            layer.rng = g
        return run()

    f = loss_shared if dropout_layers else loss
    f()
    model.backward()
    params, grads = O.remove_duplicate(model.params, [g.copy() for g in model.grads])
    for k, (p, g) in enumerate(zip(params, grads, strict=True)):
        assert_grad(f, p, g, f"{type(model).__name__} param {k}")


@pytest.mark.parametrize("cls", [M.SimpleRnnlm, M.Rnnlm])
def test_language_model_grads(rng, cls):
    model = cls(V, D, H, seed=0, dtype=np.float64)
    for p in model.params:  # nonzero biases so every grad is exercised
        p += 0.1 * randn(rng, *p.shape)
    xs = rng.integers(0, V, (N, T))
    ts = rng.integers(0, V, (N, T))

    def run():
        model.reset_state()
        return model.forward(xs, ts)

    _model_grad_check(model, run)


def test_better_rnnlm_grads_with_dropout_and_tying(rng):
    model = M.BetterRnnlm(V, H, H, dropout_ratio=0.3, seed=0, dtype=np.float64)
    assert model.params[7].base is model.params[0] and model.params[7].shape == (H, V)
    for p in model.params[:7] + model.params[8:]:
        p += 0.1 * randn(rng, *p.shape)
    xs = rng.integers(0, V, (N, T))
    ts = rng.integers(0, V, (N, T))

    def run():
        model.reset_state()
        return model.forward(xs, ts)

    _model_grad_check(model, run, dropout_layers=model.drop_layers)
    assert any(np.any(layer.mask == 0) for layer in model.drop_layers)


@pytest.mark.parametrize("cls", [M.Seq2seq, M.PeekySeq2seq, M.AttentionSeq2seq])
def test_seq2seq_grads(rng, cls):
    model = cls(V, D, H, seed=0, dtype=np.float64)
    for p in model.params:
        p += 0.1 * randn(rng, *p.shape)
    xs = rng.integers(0, V, (N, T))
    ts = rng.integers(0, V, (N, T + 1))
    _model_grad_check(model, lambda: model.forward(xs, ts))


def test_model_params_order_shapes_and_seed():
    book_shapes = {
        M.SimpleRnnlm: [(V, D), (D, H), (H, H), (H,), (H, V), (V,)],
        M.Rnnlm: [(V, D), (D, 4 * H), (H, 4 * H), (4 * H,), (H, V), (V,)],
        M.Seq2seq: [(V, D), (D, 4 * H), (H, 4 * H), (4 * H,)] * 2 + [(H, V), (V,)],
        M.PeekySeq2seq: [(V, D), (D, 4 * H), (H, 4 * H), (4 * H,), (V, D), (H + D, 4 * H)]
        + [(H, 4 * H), (4 * H,), (2 * H, V), (V,)],
        M.AttentionSeq2seq: [(V, D), (D, 4 * H), (H, 4 * H), (4 * H,)] * 2 + [(2 * H, V), (V,)],
    }
    for cls, shapes in book_shapes.items():
        model = cls(V, D, H, seed=5)
        assert [p.shape for p in model.params] == shapes, cls.__name__
        assert [g.shape for g in model.grads] == shapes, cls.__name__
        assert all(p.dtype == np.float32 for p in model.params)
        again = cls(V, D, H, seed=5)
        assert all(np.array_equal(a, b) for a, b in zip(model.params, again.params, strict=True))

    better = M.BetterRnnlm(V, H, H, seed=5)
    assert [p.shape for p in better.params] == [(V, H)] + [(H, 4 * H), (H, 4 * H), (4 * H,)] * 2 + [
        (H, V),
        (V,),
    ]

    # init contract: one generator, standard normal draws in the book's order and scales
    g = np.random.default_rng(9)
    expected = [
        g.standard_normal((V, D)) / 100,
        g.standard_normal((D, 4 * H)) / np.sqrt(D),
        g.standard_normal((H, 4 * H)) / np.sqrt(H),
        np.zeros(4 * H),
        g.standard_normal((H, V)) / np.sqrt(H),
        np.zeros(V),
    ]
    model = M.Rnnlm(V, D, H, seed=9)
    for p, e in zip(model.params, expected, strict=True):
        np.testing.assert_array_equal(p, e.astype(np.float32))


def test_better_rnnlm_dropout_shares_one_generator_in_layer_order():
    model = M.BetterRnnlm(V, H, H, dropout_ratio=0.5, seed=2)
    assert all(layer.rng is model.drop_layers[0].rng for layer in model.drop_layers)
    g = np.random.default_rng(2)
    for shape in [(V, H), (H, 4 * H), (H, 4 * H), (H, 4 * H), (H, 4 * H)]:
        g.standard_normal(shape)
    xs = np.array([[1, 2, 3]])
    model.forward(xs, xs)
    for layer in model.drop_layers:
        np.testing.assert_array_equal(layer.mask, (g.random((1, 3, H)) > 0.5) * 2.0)
    # predict turns dropout off
    model.reset_state()
    a = model.predict(xs)
    model.reset_state()
    np.testing.assert_array_equal(a, model.predict(xs))


def test_generation():
    gen = M.RnnlmGen(V, D, H, seed=0)
    ids = gen.generate(3, skip_ids=[0, 1], sample_size=12, rng=np.random.default_rng(0))
    assert len(ids) == 12 and ids[0] == 3 and not {0, 1} & set(ids[1:])
    gen.reset_state()
    again = gen.generate(3, skip_ids=[0, 1], sample_size=12, rng=np.random.default_rng(0))
    assert ids == again
    h, c = gen.get_state()
    gen.set_state((h, c))
    assert gen.lstm_layer.h is h

    better = M.BetterRnnlmGen(V, H, H, seed=0)
    out = better.generate(2, sample_size=8, rng=np.random.default_rng(1))
    assert len(out) == 8 and all(isinstance(i, int) and 0 <= i < V for i in out)
    assert len(better.get_state()) == 2

    for cls in (M.Seq2seq, M.PeekySeq2seq, M.AttentionSeq2seq):
        model = cls(V, D, H, seed=1)
        q = np.array([[1, 4, 2]])
        ans = model.generate(q, start_id=5, sample_size=4)
        assert len(ans) == 4 and all(isinstance(i, int) and 0 <= i < V for i in ans)
        # greedy: the first answer is the argmax of the decoder's first score
        score = model.decoder.forward(np.array([[5]]), model.encoder.forward(q))
        assert ans[0] == int(np.argmax(score[0, 0]))
        with pytest.raises(ValueError, match="one question"):
            model.generate(np.array([[1, 2], [3, 4]]), 5, 2)


# --------------------------------------------------------------------------- #
# optimizers and gradient helpers
# --------------------------------------------------------------------------- #
def _param_grad():
    return np.array([1.0, -2.0, 0.5]), np.array([0.5, 0.25, -1.0])


def test_sgd_momentum_nesterov_steps():
    p, g = _param_grad()
    orig = p.copy()
    O.SGD(lr=0.1).update([p], [g])
    np.testing.assert_allclose(p, [1.0 - 0.05, -2.0 - 0.025, 0.5 + 0.1])

    p, g = _param_grad()
    opt = O.Momentum(lr=0.1, momentum=0.9)
    opt.update([p], [g])  # v1 = -0.1 g
    np.testing.assert_allclose(p, orig - 0.1 * g)
    opt.update([p], [g])  # v2 = 0.9 v1 - 0.1 g = -0.19 g
    np.testing.assert_allclose(p, orig - 0.1 * g - 0.19 * g)

    p, g = _param_grad()
    opt = O.Nesterov(lr=0.1, momentum=0.9)
    opt.update([p], [g])  # v1 = -0.1 g; p += 0.81 v1 - 1.9 * 0.1 g = -0.271 g
    np.testing.assert_allclose(p, orig - 0.271 * g)
    opt.update([p], [g])  # v2 = -0.19 g; p += 0.81 v2 - 0.19 g = -0.3439 g
    np.testing.assert_allclose(p, orig - 0.271 * g - 0.3439 * g)


def test_adagrad_rmsprop_adam_steps():
    p, g = _param_grad()
    orig = p.copy()
    opt = O.AdaGrad(lr=0.1)
    opt.update([p], [g])  # h = g^2
    np.testing.assert_allclose(p, orig - 0.1 * g / (np.abs(g) + 1e-7))
    opt.update([p], [g])  # h = 2 g^2
    np.testing.assert_allclose(
        p, orig - 0.1 * g / (np.abs(g) + 1e-7) - 0.1 * g / (np.sqrt(2) * np.abs(g) + 1e-7)
    )

    p, g = _param_grad()
    O.RMSprop(lr=0.1, decay_rate=0.99).update([p], [g])  # h = 0.01 g^2
    np.testing.assert_allclose(p, orig - 0.1 * g / (0.1 * np.abs(g) + 1e-7))

    p, g = _param_grad()
    opt = O.Adam(lr=0.1, beta1=0.9, beta2=0.999)
    opt.update([p], [g])
    # m = 0.1 g, v = 0.001 g^2, lr_t = 0.1 * sqrt(0.001) / 0.1
    lr_t = 0.1 * np.sqrt(0.001) / 0.1
    np.testing.assert_allclose(p, orig - lr_t * 0.1 * g / (np.sqrt(0.001) * np.abs(g) + 1e-7))
    step1 = p.copy()
    opt.update([p], [g * 0])  # zero gradient still moves by the decayed momentum
    m, v = 0.09 * g, 0.000999 * g**2
    lr_t = 0.1 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    np.testing.assert_allclose(p, step1 - lr_t * m / (np.sqrt(v) + 1e-7))


def test_optimizers_update_in_place_and_keep_dtype():
    for opt in [O.SGD(), O.Momentum(), O.Nesterov(), O.AdaGrad(), O.RMSprop(), O.Adam()]:
        p = np.ones(3, dtype=np.float32)
        g = np.full(3, 0.5, dtype=np.float32)
        params = [p]
        opt.update(params, [g])
        assert params[0] is p and p.dtype == np.float32 and np.all(p < 1)
        with pytest.raises(ValueError, match="length"):
            opt.update([p], [])


def test_clip_grads():
    g1, g2 = np.array([3.0, 0.0]), np.array([[4.0]])
    O.clip_grads([g1, g2], 1.0)  # norm 5 -> rate 1 / (5 + 1e-6)
    rate = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(g1, [3.0 * rate, 0.0])
    np.testing.assert_allclose(g2, [[4.0 * rate]])
    g3 = np.array([0.3, 0.4])
    O.clip_grads([g3], 1.0)  # below the threshold: unchanged
    np.testing.assert_array_equal(g3, [0.3, 0.4])


def test_remove_duplicate_shared_and_tied():
    W = np.arange(6.0).reshape(2, 3)
    b = np.zeros(3)
    params = [W, b, W, W.T]
    grads = [np.ones((2, 3)), np.ones(3), np.full((2, 3), 2.0), np.full((3, 2), 5.0)]
    new_params, new_grads = O.remove_duplicate(params, grads)
    assert len(params) == 4 and len(new_params) == 2
    assert new_params[0] is W and new_params[1] is b
    np.testing.assert_array_equal(new_grads[0], np.full((2, 3), 8.0))
    np.testing.assert_array_equal(new_grads[1], np.ones(3))
