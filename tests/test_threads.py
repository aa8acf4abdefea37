"""Results do not depend on the number of numba threads.

Kernels split their work into a fixed number of blocks
(``fastlstm._numba.CHUNKS``) and reduce in a fixed order, so outputs and
gradients of every kernel-backed layer must be bitwise identical with one
thread and with two.  This is what lets the reference comparisons of small
cases in ``tests/test_layers.py`` run on one thread.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

import fastlstm.layers as FL
from tests._compare import assert_bitwise_equal

N, T, Te, D, H, V = 8, 6, 5, 16, 24, 50

pytestmark = pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2, reason="numba has fewer than 2 threads here"
)


@pytest.fixture
def restore_threads():
    before = numba.get_num_threads()
    yield
    numba.set_num_threads(before)


def _draw(rng, dtype, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _run_layers(dtype):
    """Forward and backward of the layers under test; every array they produce, by name."""
    rng = np.random.default_rng(11)
    out = {}

    lstm = FL.TimeLSTM(
        _draw(rng, dtype, D, 4 * H, scale=0.3),
        _draw(rng, dtype, H, 4 * H, scale=0.3),
        _draw(rng, dtype, 4 * H),
        stateful=True,
    )
    for call in range(2):  # the second call starts from the carried state
        out[f"TimeLSTM hs {call}"] = lstm.forward(_draw(rng, dtype, N, T, D))
    out["TimeLSTM dxs"] = lstm.backward(_draw(rng, dtype, N, T, H))
    out["TimeLSTM dh"] = lstm.dh
    for k, g in enumerate(lstm.grads):
        out[f"TimeLSTM grads[{k}]"] = g.copy()

    for name, layer in [
        (
            "TimeRNN",
            FL.TimeRNN(
                _draw(rng, dtype, D, H, scale=0.3),
                _draw(rng, dtype, H, H, scale=0.3),
                _draw(rng, dtype, H),
            ),
        ),
        (
            "TimeGRU",
            FL.TimeGRU(
                _draw(rng, dtype, D, 3 * H, scale=0.3), _draw(rng, dtype, H, 3 * H, scale=0.3)
            ),
        ),
        (
            "TimeBiLSTM",
            FL.TimeBiLSTM(
                *[
                    _draw(rng, dtype, *shape, scale=0.3)
                    for shape in [(D, 4 * H), (H, 4 * H), (4 * H,)] * 2
                ]
            ),
        ),
    ]:
        out[f"{name} hs"] = layer.forward(_draw(rng, dtype, N, T, D))
        out[f"{name} dxs"] = layer.backward(_draw(rng, dtype, *out[f"{name} hs"].shape))
        for k, g in enumerate(layer.grads):
            out[f"{name} grads[{k}]"] = g.copy()

    for name, layer, state in [
        ("RNN", FL.RNN(_draw(rng, dtype, D, H), _draw(rng, dtype, H, H), _draw(rng, dtype, H)), 1),
        ("LSTM", FL.LSTM(*lstm.params), 2),
        ("GRU", FL.GRU(_draw(rng, dtype, D, 3 * H), _draw(rng, dtype, H, 3 * H)), 1),
    ]:
        hs = layer.forward(
            _draw(rng, dtype, N, D), *[_draw(rng, dtype, N, H) for _ in range(state)]
        )
        hs = hs if isinstance(hs, tuple) else (hs,)
        back = layer.backward(*[_draw(rng, dtype, N, H) for _ in hs])
        for k, a in enumerate(hs + back + tuple(layer.grads)):
            out[f"{name} result {k}"] = a.copy()

    for name, layer in [
        ("MatMul", FL.MatMul(_draw(rng, dtype, D, H))),
        ("Affine", FL.Affine(_draw(rng, dtype, D, H), _draw(rng, dtype, H))),
        ("Softmax", FL.Softmax()),
        ("Sigmoid", FL.Sigmoid()),
        ("Dropout", FL.Dropout(0.4, rng=np.random.default_rng(3))),
    ]:
        x = _draw(rng, dtype, N * T, D)
        out[f"{name} out"] = layer.forward(x)
        out[f"{name} dx"] = layer.backward(_draw(rng, dtype, *out[f"{name} out"].shape))
        for k, g in enumerate(layer.grads):
            out[f"{name} grads[{k}]"] = g.copy()

    embed = FL.TimeEmbedding(_draw(rng, dtype, V, D))
    ids = rng.integers(0, 3, size=(N, T))  # many repeated ids
    out["TimeEmbedding out"] = embed.forward(ids)
    embed.backward(_draw(rng, dtype, N, T, D))
    out["TimeEmbedding grads[0]"] = embed.grads[0].copy()

    loss = FL.TimeSoftmaxWithLoss()
    ts = rng.integers(0, V, size=(N, T))
    ts[0, :2] = -1
    out["TimeSoftmaxWithLoss loss"] = np.array(
        loss.forward(_draw(rng, dtype, N, T, V, scale=3), ts)
    )
    out["TimeSoftmaxWithLoss dxs"] = loss.backward()

    sm_loss = FL.SoftmaxWithLoss()
    x = _draw(rng, dtype, N * T, V, scale=3)
    out["SoftmaxWithLoss loss"] = np.array(sm_loss.forward(x, rng.integers(0, V, size=N * T)))
    out["SoftmaxWithLoss dx"] = sm_loss.backward()

    att = FL.TimeAttention()
    out["TimeAttention out"] = att.forward(_draw(rng, dtype, N, Te, H), _draw(rng, dtype, N, T, H))
    out["TimeAttention weights"] = np.stack(att.attention_weights)
    dhs_enc, dhs_dec = att.backward(_draw(rng, dtype, N, T, H))
    out["TimeAttention dhs_enc"], out["TimeAttention dhs_dec"] = dhs_enc, dhs_dec

    single = FL.Attention()
    out["Attention out"] = single.forward(_draw(rng, dtype, N, Te, H), _draw(rng, dtype, N, H))
    for k, a in enumerate(single.backward(_draw(rng, dtype, N, H))):
        out[f"Attention result {k}"] = a

    embed_W = _draw(rng, dtype, V, D)
    for name, affine in [
        ("TimeAffine", FL.TimeAffine(_draw(rng, dtype, D, V), _draw(rng, dtype, V))),
        ("TimeAffine(tied)", FL.TimeAffine(embed_W.T, _draw(rng, dtype, V))),
    ]:
        out[f"{name} out"] = affine.forward(_draw(rng, dtype, N, T, D))
        out[f"{name} dx"] = affine.backward(_draw(rng, dtype, N, T, V))
        for k, g in enumerate(affine.grads):
            out[f"{name} grads[{k}]"] = g.copy()

    # the language models' output layer and loss in one pass (bias inside the softmax kernels)
    from fastlstm.layers.time import _affine_loss_backward, _affine_loss_forward

    affine, loss = (
        FL.TimeAffine(_draw(rng, dtype, D, V), _draw(rng, dtype, V)),
        FL.TimeSoftmaxWithLoss(),
    )
    ts = rng.integers(0, V, size=(N, T))
    ts[0, :2] = -1
    out["fused output loss"] = np.array(
        _affine_loss_forward(affine, loss, _draw(rng, dtype, N, T, D), ts)
    )
    out["fused output dx"] = _affine_loss_backward(affine, loss)
    for k, g in enumerate(affine.grads):
        out[f"fused output grads[{k}]"] = g.copy()
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_bitwise_identical_with_one_and_two_threads(dtype, restore_threads):
    numba.set_num_threads(1)
    assert numba.get_num_threads() == 1
    one = _run_layers(dtype)
    numba.set_num_threads(2)
    assert numba.get_num_threads() == 2
    two = _run_layers(dtype)
    assert one.keys() == two.keys()
    for name in one:
        assert_bitwise_equal(one[name], two[name], f"{name} ({np.dtype(dtype)}, 1 vs 2 threads)")


def test_runs_are_repeatable(restore_threads):
    """Two runs with the same thread count agree bitwise (no race inside a run)."""
    numba.set_num_threads(2)
    first, second = _run_layers(np.float32), _run_layers(np.float32)
    for name in first:
        assert_bitwise_equal(first[name], second[name], f"{name} (two runs, 2 threads)")


def _run_optimizers(dtype):
    """Updates and gradient clipping over arrays longer than a chunk (parallel kernels)."""
    from fastlstm.optim import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop, clip_grads

    rng = np.random.default_rng(5)
    n = 3 * 2**14 + 5
    out = {}
    for opt in (SGD(), Momentum(), Nesterov(), AdaGrad(), RMSprop(), Adam()):
        params = [_draw(rng, dtype, n), _draw(rng, dtype, 7)]
        for step in range(2):
            grads = [_draw(rng, dtype, n), _draw(rng, dtype, 7)]
            out[f"{type(opt).__name__} norm {step}"] = np.array(clip_grads(grads, 0.5))
            opt.update(params, grads)
        for k, p in enumerate(params):
            out[f"{type(opt).__name__} params[{k}]"] = p
    return out


def test_serial_and_parallel_builds_give_the_same_bits(monkeypatch):
    """A first run starts on serial builds while the parallel ones compile
    (fastlstm._warmup, float32 runs): the two builds of every kernel must agree
    bitwise."""
    from fastlstm import _numba

    dtype = np.float32

    monkeypatch.setattr(_numba, "PARALLEL_MIN_WORK", 0)  # every kernel: its parallel build
    parallel = {**_run_layers(dtype), **_run_optimizers(dtype)}
    _numba.serial_builds(True)
    try:
        serial = {**_run_layers(dtype), **_run_optimizers(dtype)}
    finally:
        _numba.serial_builds(False)
    assert parallel.keys() == serial.keys()
    for name in parallel:
        assert_bitwise_equal(parallel[name], serial[name], f"{name} ({np.dtype(dtype)}, builds)")
