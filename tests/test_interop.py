"""fastlstm.interop: fastlstm models and TimeLSTM to PyTorch modules and back.

Outputs and gradients of the converted modules must equal fastlstm's to the
tolerance of the dtype (1e-4 relative in float32, 1e-10 in float64), and a
round trip must give the parameters bit for bit.  Every parameter (biases
included) is perturbed first, so a wrong gate order or a lost bias shows.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from fastlstm import interop
from fastlstm.layers import TimeLSTM
from fastlstm.optim import unique_params
from tests._compare import rel_error

TOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


def test_missing_torch_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(ImportError, match=r"pip install fastlstm\[bench\]"):
        interop.require_torch()
    with pytest.raises(ImportError, match="PyTorch"):
        interop.to_torch(TimeLSTM(*_lstm_params(np.random.default_rng(0), 3, 4, np.float32)))


torch = pytest.importorskip("torch", reason="PyTorch not installed (pip install fastlstm[bench])")

from fastlstm import models  # noqa: E402


def _lstm_params(rng, D, H, dtype):
    return (
        (rng.standard_normal((D, 4 * H)) * 0.5).astype(dtype),
        (rng.standard_normal((H, 4 * H)) * 0.5).astype(dtype),
        (rng.standard_normal(4 * H) * 0.5).astype(dtype),
    )


def _perturb(model, seed=0):
    """Add noise to every parameter in place (tied views follow their base)."""
    rng = np.random.default_rng(seed)
    seen = set()
    for p in model.params:
        base = p if p.base is None else p.base
        if id(base) in seen:
            continue
        seen.add(id(base))
        p += (rng.standard_normal(p.shape) * 0.1).astype(p.dtype)


def _check(name, fast, ref, dtype):
    err = rel_error(fast, ref)
    assert err <= TOL[np.dtype(dtype)], f"{name}: relative error {err:.3g}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_time_lstm_outputs_and_gradients(dtype):
    rng = np.random.default_rng(1)
    N, T, D, H = 3, 5, 4, 6
    layer = TimeLSTM(*_lstm_params(rng, D, H, dtype))
    xs = rng.standard_normal((N, T, D)).astype(dtype)
    dhs = rng.standard_normal((N, T, H)).astype(dtype)
    hs = layer.forward(xs)
    dxs = layer.backward(dhs)

    lstm = interop.to_torch(layer)
    assert isinstance(lstm, torch.nn.LSTM) and lstm.batch_first
    x = torch.from_numpy(xs).requires_grad_()
    h0 = torch.zeros(1, N, H, dtype=x.dtype, requires_grad=True)
    out, _ = lstm(x, (h0, torch.zeros_like(h0)))
    out.backward(torch.from_numpy(dhs))
    _check("hs", out.detach().numpy(), hs, dtype)
    _check("dxs", x.grad.numpy(), dxs, dtype)
    _check("dh", h0.grad[0].numpy(), layer.dh, dtype)
    for name, g_torch, g_fast in zip(
        ("dWx", "dWh", "db"), interop.grads_from_torch(lstm, layer), layer.grads
    ):
        _check(name, g_torch, g_fast, dtype)


def test_time_lstm_from_any_torch_lstm_sums_the_biases():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(4, 5, batch_first=True)  # both biases random
    layer = interop.from_torch(lstm)
    xs = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    out, _ = lstm(torch.from_numpy(xs))
    _check("hs", layer.forward(xs), out.detach().numpy(), np.float32)
    b_sum = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy()
    H = 5
    # torch's gate i block is fastlstm's third block, f the first
    np.testing.assert_array_equal(layer.params[2][2 * H : 3 * H], b_sum[:H])
    np.testing.assert_array_equal(layer.params[2][:H], b_sum[H : 2 * H])


def _model(name, dtype):
    if name == "Rnnlm":
        return models.Rnnlm(23, 5, 6, seed=3, dtype=dtype)
    if name == "BetterRnnlm":
        return models.BetterRnnlm(23, 6, 6, 0.3, seed=3, dtype=dtype)
    return getattr(models, name)(13, 5, 6, seed=3, dtype=dtype)


MODELS = ["Rnnlm", "BetterRnnlm", "Seq2seq", "PeekySeq2seq", "AttentionSeq2seq"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", MODELS)
def test_model_loss_and_gradients(name, dtype):
    model = _model(name, dtype)
    _perturb(model)
    rng = np.random.default_rng(4)
    V = model.params[0].shape[0]
    xs = rng.integers(0, V, size=(4, 7)).astype(np.int64)
    ts = rng.integers(0, V, size=(4, 7 if name.endswith("Rnnlm") else 5)).astype(np.int64)
    module = interop.to_torch(model)
    if name == "BetterRnnlm":  # dropout masks cannot agree: compare without dropout
        loss = model.forward(xs, ts, train_flg=False)
        module.eval()
    else:
        loss = model.forward(xs, ts)
    model.backward()
    t_loss = module(torch.from_numpy(xs), torch.from_numpy(ts))
    t_loss.backward()
    _check("loss", t_loss.item(), loss, dtype)
    params, grads = unique_params(model.params, model.grads)
    t_grads = interop.grads_from_torch(module, model)
    kept = [next(i for i, q in enumerate(model.params) if q is p) for p in params]
    assert len(kept) == len(model.params) - (name == "BetterRnnlm")
    for i, g in zip(kept, grads):
        _check(f"grads[{i}]", t_grads[i], g, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["Seq2seq", "PeekySeq2seq", "AttentionSeq2seq"])
def test_padded_questions_give_the_same_loss_and_gradients_in_torch(name, dtype):
    """A model of pairs (pad_id set): padding is masked in torch as in fastlstm."""
    model = _model(name, dtype)
    model.pad_id = 0
    _perturb(model)
    rng = np.random.default_rng(5)
    xs = rng.integers(1, 13, size=(5, 7)).astype(np.int64)
    xs[1, 4:] = 0  # questions of other lengths, padded on the right
    xs[3, 2:] = 0
    ts = rng.integers(1, 13, size=(5, 5)).astype(np.int64)
    ts[2, 3:] = 0
    loss = model.forward(xs, ts)
    model.backward()
    module = interop.to_torch(model)
    t_loss = module(torch.from_numpy(xs), torch.from_numpy(ts))
    t_loss.backward()
    _check("loss", t_loss.item(), loss, dtype)
    for i, (t, g) in enumerate(zip(interop.grads_from_torch(module, model), model.grads)):
        _check(f"grads[{i}]", t, g, dtype)


def test_better_rnnlm_is_tied_in_torch():
    module = interop.to_torch(_model("BetterRnnlm", np.float32))
    assert module.affine.weight is module.embed.weight


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", MODELS)
def test_round_trip_is_exact(name, dtype):
    model = _model(name, dtype)
    _perturb(model)
    module = interop.to_torch(model)
    assert all(p.dtype == interop._torch_dtype(dtype) for p in module.parameters())
    back = interop.from_torch(module)
    assert type(back).__name__ == name
    for i, (a, b) in enumerate(zip(back.params, model.params)):
        assert a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_array_equal(a, b, err_msg=f"params[{i}]")
    if name == "BetterRnnlm":  # still tied after the way back
        assert np.shares_memory(back.params[7], back.params[0])
    # in place into an existing model: arrays are overwritten, not rebound
    other = _model(name, dtype)
    arrays = list(other.params)
    assert interop.from_torch(module, into=other) is other
    for i, (a, b) in enumerate(zip(other.params, model.params)):
        assert a is arrays[i]
        np.testing.assert_array_equal(a, b, err_msg=f"params[{i}] in place")


def test_round_trip_through_training_in_torch():
    """A step taken in PyTorch comes back as the same step in fastlstm's layout (b moves twice)."""
    model = _model("Rnnlm", np.float64)
    module = interop.to_torch(model)
    rng = np.random.default_rng(5)
    xs = rng.integers(0, 23, size=(2, 4))
    ts = rng.integers(0, 23, size=(2, 4))
    module(torch.from_numpy(xs), torch.from_numpy(ts)).backward()
    with torch.no_grad():
        for p in module.parameters():
            p -= 0.5 * p.grad
    model.forward(xs, ts)
    model.backward()
    expected = [p - 0.5 * g for p, g in zip(model.params, model.grads)]
    # PyTorch's LSTM has two biases whose sum is fastlstm's b: SGD moves each by the step
    expected[3] = model.params[3] - 2 * 0.5 * model.grads[3]
    back = interop.from_torch(module)
    for i, (a, b) in enumerate(zip(back.params, expected)):
        _check(f"params[{i}]", a, b, np.float64)


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="SimpleRnnlm"):
        interop.to_torch(models.SimpleRnnlm(5, 3, 4, seed=0))
    with pytest.raises(ValueError, match="num_layers=2"):
        interop.from_torch(torch.nn.LSTM(3, 4, num_layers=2))
    with pytest.raises(TypeError, match="Linear"):
        interop.from_torch(torch.nn.Linear(3, 4))
    module = interop.to_torch(_model("Seq2seq", np.float32))
    with pytest.raises(TypeError, match="into is a Rnnlm"):
        interop.from_torch(module, into=_model("Rnnlm", np.float32))
    with pytest.raises(ValueError, match="shape"):
        interop.from_torch(module, into=models.Seq2seq(13, 5, 7, seed=0))


def _snapshot(model):
    return [p.copy() for p in model.params]


def _assert_unchanged(model, before):
    for i, (a, b) in enumerate(zip(model.params, before, strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"params[{i}] was overwritten")


@pytest.mark.parametrize("name", MODELS)
def test_from_torch_into_leaves_into_unchanged_on_a_shape_error(name):
    """Parameter 0 (the embedding, V x D) fits, parameter 1 does not: nothing may be copied."""
    module = interop.to_torch(_model(name, np.float32))
    if name == "Rnnlm":
        into = models.Rnnlm(23, 5, 7, seed=0)
    elif name == "BetterRnnlm":
        into = models.BetterRnnlm(23, 6, 6, 0.3, seed=0)
        into.params[1] = np.zeros((6, 28), np.float32)  # only parameter 1 mismatches
    else:
        into = getattr(models, name)(13, 5, 7, seed=0)
    before = _snapshot(into)
    with pytest.raises(ValueError, match=r"parameter 1 of the \w+ has shape \(\d+, 28\)"):
        interop.from_torch(module, into=into)
    _assert_unchanged(into, before)


def test_from_torch_into_reported_repro():
    src = models.Seq2seq(11, 6, 8, seed=1)
    dst = models.Seq2seq(11, 6, 16, seed=2)
    before = _snapshot(dst)
    with pytest.raises(
        ValueError, match=r"parameter 1 of the Seq2seq has shape \(6, 64\), the module's \(6, 32\)"
    ):
        interop.from_torch(interop.to_torch(src), into=dst)
    _assert_unchanged(dst, before)


@pytest.mark.parametrize("extra", [1, -1])
def test_from_torch_into_with_another_number_of_parameters(extra):
    module = interop.to_torch(_model("Seq2seq", np.float32))
    into = _model("Seq2seq", np.float32)
    if extra > 0:  # the old code zeroed an extra parameter silently
        into.params.append(np.ones(3, np.float32))
    else:  # ... and raised a bare IndexError for a missing one
        into.params.pop()
    before = _snapshot(into)
    n = len(into.params)
    with pytest.raises(ValueError, match=rf"into has {n} parameters, .* Seq2seq, which has 10"):
        interop.from_torch(module, into=into)
    _assert_unchanged(into, before)


def test_from_torch_into_converts_to_the_dtype_of_into():
    """A float64 module into a float32 model: cast as ``p[...] = v`` casts (unchanged behaviour)."""
    model = _model("Rnnlm", np.float64)
    _perturb(model)
    into = _model("Rnnlm", np.float32)
    arrays = list(into.params)
    interop.from_torch(interop.to_torch(model), into=into)
    for i, (a, b) in enumerate(zip(into.params, model.params)):
        assert a is arrays[i] and a.dtype == np.float32
        np.testing.assert_array_equal(a, b.astype(np.float32), err_msg=f"params[{i}]")


def test_grads_from_torch_checks_the_shapes_of_like():
    module = interop.to_torch(models.Seq2seq(11, 6, 8, seed=1))
    with pytest.raises(ValueError, match=r"parameter 1 of like \(a Seq2seq\) has shape \(6, 64\)"):
        interop.grads_from_torch(module, models.Seq2seq(11, 6, 16, seed=0))
    module = interop.to_torch(models.Rnnlm(11, 6, 8, seed=1))
    with pytest.raises(ValueError, match=r"parameter 0 of like \(a Rnnlm\) has shape \(12, 6\)"):
        interop.grads_from_torch(module, models.Rnnlm(12, 6, 8, seed=0))


def test_grads_from_torch_checks_the_class_of_like():
    module = interop.to_torch(models.Seq2seq(11, 6, 8, seed=1))
    with pytest.raises(TypeError, match="like is a Rnnlm, but the module holds a Seq2seq"):
        interop.grads_from_torch(module, models.Rnnlm(11, 6, 8, seed=0))
    with pytest.raises(TypeError, match="like is a PeekySeq2seq, but the module holds a Seq2seq"):
        interop.grads_from_torch(module, models.PeekySeq2seq(11, 6, 8, seed=0))
    with pytest.raises(TypeError, match="SimpleRnnlm"):
        interop.grads_from_torch(module, models.SimpleRnnlm(11, 6, 8, seed=0))


def test_grads_from_torch_checks_the_number_of_parameters_of_like():
    module = interop.to_torch(_model("Rnnlm", np.float32))
    like = _model("Rnnlm", np.float32)
    like.params.append(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="like has 7 parameters, .* Rnnlm, which has 6"):
        interop.grads_from_torch(module, like)


def test_grads_from_torch_checks_the_torch_lstm():
    """A two-layer LSTM whose layer 0 has the TimeLSTM's shapes is not taken for it."""
    layer = TimeLSTM(*_lstm_params(np.random.default_rng(0), 4, 4, np.float32))
    with pytest.raises(ValueError, match="num_layers=2"):
        interop.grads_from_torch(torch.nn.LSTM(4, 4, num_layers=2, batch_first=True), layer)
