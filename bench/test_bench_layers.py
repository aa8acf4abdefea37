"""Layer benchmarks: forward + backward of fastlstm's layers against the reference's.

Groups (one per kernel and shape, each timing ``fastlstm`` and ``reference``):

* ``lstm N=128 T=29 D=16 H=256`` and ``lstm N=20 T=35 D=650 H=650`` (``TimeLSTM``);
* ``embedding V=10000 D=650 N=20 T=35`` (``TimeEmbedding``);
* ``softmax-loss V=10000 N=20 T=35`` (``TimeSoftmaxWithLoss``);
* ``attention N=128 Te=29 Td=10 H=256`` (``TimeAttention``);
* ``sgemm 2048x2048x2048 float32``: one NumPy matmul, the machine's yardstick.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
from conftest import (
    IMPLS,
    SETTLE,
    WITH_TORCH,
    Runners,
    check_pair,
    fast_errors,
    grouped_params,
    record_gflops,
    sgemm_flops,
    sgemm_operands,
    skip_without_torch,
    time_with_sgemm,
    timed,
    torch_errors,
)

F32 = np.float32


def _layers(impl):
    """The layer module of ``impl`` (``"fastlstm"`` or ``"reference"``)."""
    if impl == "fastlstm":
        import fastlstm.layers as layers
    elif impl == "reference":
        import reference.layers as layers
    else:
        raise ValueError(f"impl must be 'fastlstm' or 'reference', got {impl!r}")
    return layers


def _normal(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(F32)


# --------------------------------------------------------------------------- #
# LSTM
# --------------------------------------------------------------------------- #
class LSTMCase(NamedTuple):
    N: int
    T: int
    D: int
    H: int

    @property
    def group(self):
        return f"lstm N={self.N} T={self.T} D={self.D} H={self.H}"

    @property
    def flops(self):
        """Matrix-product flops of forward + backward: ``6 N T 4H (D + H)``."""
        return 6.0 * self.N * self.T * 4 * self.H * (self.D + self.H)


LSTM_CASES = [LSTMCase(128, 29, 16, 256), LSTMCase(20, 35, 650, 650)]


def make_lstm(impl, c: LSTMCase, seed=0):
    """One ``TimeLSTM`` forward + backward on seeded inputs; returns outputs and grads."""
    rng = np.random.default_rng(seed)
    Wx = _normal(rng, (c.D, 4 * c.H), 1 / np.sqrt(c.D))  # (D, 4H)
    Wh = _normal(rng, (c.H, 4 * c.H), 1 / np.sqrt(c.H))  # (H, 4H)
    b = _normal(rng, (4 * c.H,), 0.1)  # (4H,)
    xs = _normal(rng, (c.N, c.T, c.D))  # (N, T, D)
    dhs = _normal(rng, (c.N, c.T, c.H))  # (N, T, H)
    if impl == "pytorch":
        return _torch_lstm(Wx, Wh, b, xs, dhs)
    layer = _layers(impl).TimeLSTM(Wx, Wh, b)

    def run():
        hs = layer.forward(xs)
        dxs = layer.backward(dhs)
        dWx, dWh, db = layer.grads
        return {"hs": hs, "dxs": dxs, "dWx": dWx, "dWh": dWh, "db": db, "dh": layer.dh}

    return run


def _torch_lstm(Wx, Wh, b, xs, dhs):
    """``torch.nn.LSTM`` from the same weights (:func:`fastlstm.interop.to_torch`); forward + backward.

    ``run()`` returns a function giving the outputs and gradients in
    fastlstm's layout, so that the conversion is not timed.
    """
    import torch

    from fastlstm import interop
    from fastlstm.layers import TimeLSTM

    like = TimeLSTM(Wx, Wh, b)
    lstm = interop.to_torch(like)
    N, H = xs.shape[0], Wh.shape[0]
    xt, dt = torch.from_numpy(xs), torch.from_numpy(dhs)

    def run():
        lstm.zero_grad()
        x = xt.detach().requires_grad_()
        h0 = torch.zeros((1, N, H), requires_grad=True)
        out, _ = lstm(x, (h0, torch.zeros_like(h0)))
        out.backward(dt)

        def results():
            dWx, dWh, db = interop.grads_from_torch(lstm, like)
            return {
                "hs": out.detach().numpy(),
                "dxs": x.grad.numpy(),
                "dWx": dWx,
                "dWh": dWh,
                "db": db,
                "dh": h0.grad[0].numpy(),
            }

        return results

    return run


@pytest.mark.parametrize(
    ("case", "impl"), grouped_params([(c.group, f"H{c.H}", c) for c in LSTM_CASES], WITH_TORCH)
)
def test_lstm(benchmark, info, checks, timings, case, impl):
    skip_without_torch(impl)
    errors = checks.get(case.group, lambda: check_pair(make_lstm, case, WITH_TORCH))
    info.update(impl=impl, kernel="lstm", max_rel_err=fast_errors(errors), **case._asdict())
    info["torch_max_rel_err"] = torch_errors(errors)
    time_with_sgemm(
        benchmark,
        info,
        timings,
        case.group,
        Runners(make_lstm, case, [i for i in WITH_TORCH if i != "pytorch" or _has_torch()]),
        budget_s=2.5,
        settle=SETTLE,
    )
    record_gflops(benchmark, case.flops)


def _has_torch():
    from conftest import torch

    return torch is not None


# --------------------------------------------------------------------------- #
# embedding
# --------------------------------------------------------------------------- #
class EmbeddingCase(NamedTuple):
    V: int
    D: int
    N: int
    T: int

    @property
    def group(self):
        return f"embedding V={self.V} D={self.D} N={self.N} T={self.T}"


EMBEDDING_CASE = EmbeddingCase(10000, 650, 20, 35)


def make_embedding(impl, c: EmbeddingCase, seed=1):
    """One ``TimeEmbedding`` forward + backward (scatter-add into ``dW``)."""
    rng = np.random.default_rng(seed)
    W = _normal(rng, (c.V, c.D), 0.01)  # (V, D)
    xs = rng.integers(0, c.V, size=(c.N, c.T)).astype(np.int32)  # (N, T)
    xs[:, 1] = xs[:, 0]  # repeated ids must accumulate
    dout = _normal(rng, (c.N, c.T, c.D))  # (N, T, D)
    layer = _layers(impl).TimeEmbedding(W)

    def run():
        out = layer.forward(xs)
        layer.backward(dout)
        return {"out": out, "dW": layer.grads[0]}

    return run


@pytest.mark.parametrize(
    ("case", "impl"), grouped_params([(EMBEDDING_CASE.group, "V10000", EMBEDDING_CASE)])
)
def test_embedding(benchmark, info, checks, timings, case, impl):
    errors = checks.get(case.group, lambda: check_pair(make_embedding, case))
    info.update(impl=impl, kernel="embedding", max_rel_err=max(errors.values()), **case._asdict())
    timings.get(benchmark, case.group, Runners(make_embedding, case, IMPLS), budget_s=1.5)


# --------------------------------------------------------------------------- #
# softmax with loss
# --------------------------------------------------------------------------- #
class SoftmaxCase(NamedTuple):
    V: int
    N: int
    T: int

    @property
    def group(self):
        return f"softmax-loss V={self.V} N={self.N} T={self.T}"


SOFTMAX_CASE = SoftmaxCase(10000, 20, 35)


def make_softmax(impl, c: SoftmaxCase, seed=2):
    """One ``TimeSoftmaxWithLoss`` forward + backward; a few labels are ignored (-1)."""
    rng = np.random.default_rng(seed)
    xs = _normal(rng, (c.N, c.T, c.V), 2.0)  # (N, T, V)
    ts = rng.integers(0, c.V, size=(c.N, c.T)).astype(np.int32)  # (N, T)
    ts[rng.random((c.N, c.T)) < 0.05] = -1
    layer = _layers(impl).TimeSoftmaxWithLoss()

    def run():
        loss = layer.forward(xs, ts)
        dxs = layer.backward()
        return {"loss": loss, "dxs": dxs}

    return run


@pytest.mark.parametrize(
    ("case", "impl"), grouped_params([(SOFTMAX_CASE.group, "V10000", SOFTMAX_CASE)])
)
def test_softmax_loss(benchmark, info, checks, timings, case, impl):
    errors = checks.get(case.group, lambda: check_pair(make_softmax, case))
    info.update(impl=impl, kernel="softmax", max_rel_err=max(errors.values()), **case._asdict())
    timings.get(benchmark, case.group, Runners(make_softmax, case, IMPLS), budget_s=1.5)


# --------------------------------------------------------------------------- #
# attention
# --------------------------------------------------------------------------- #
class AttentionCase(NamedTuple):
    N: int
    Te: int
    Td: int
    H: int

    @property
    def group(self):
        return f"attention N={self.N} Te={self.Te} Td={self.Td} H={self.H}"

    @property
    def flops(self):
        """Forward (scores, weighted sum) ``4 N Td Te H`` plus backward ``8 N Td Te H``."""
        return 12.0 * self.N * self.Td * self.Te * self.H


ATTENTION_CASE = AttentionCase(128, 29, 10, 256)


def make_attention(impl, c: AttentionCase, seed=3):
    """One ``TimeAttention`` forward + backward."""
    rng = np.random.default_rng(seed)
    hs_enc = _normal(rng, (c.N, c.Te, c.H))  # (N, Te, H)
    hs_dec = _normal(rng, (c.N, c.Td, c.H), 0.1)  # (N, Td, H)
    dout = _normal(rng, (c.N, c.Td, c.H))  # (N, Td, H)
    layer = _layers(impl).TimeAttention()

    def run():
        out = layer.forward(hs_enc, hs_dec)
        dhs_enc, dhs_dec = layer.backward(dout)
        return {"out": out, "dhs_enc": dhs_enc, "dhs_dec": dhs_dec}

    return run


@pytest.mark.parametrize(
    ("case", "impl"), grouped_params([(ATTENTION_CASE.group, "H256", ATTENTION_CASE)])
)
def test_attention(benchmark, info, checks, timings, case, impl):
    errors = checks.get(case.group, lambda: check_pair(make_attention, case))
    info.update(impl=impl, kernel="attention", max_rel_err=max(errors.values()), **case._asdict())
    timings.get(benchmark, case.group, Runners(make_attention, case, IMPLS), budget_s=1.5)
    record_gflops(benchmark, case.flops)


# --------------------------------------------------------------------------- #
# yardstick
# --------------------------------------------------------------------------- #
@pytest.mark.benchmark(group="sgemm 2048x2048x2048 float32")
def test_sgemm(benchmark, info):
    a, b = sgemm_operands()
    out = np.empty_like(a)
    expected = a[:64].astype(np.float64) @ b.astype(np.float64)
    np.matmul(a, b, out=out)
    assert np.max(np.abs(out[:64] - expected)) <= 1e-4 * np.max(np.abs(expected))
    info.update(impl="numpy", kernel="sgemm", M=a.shape[0], K=a.shape[1], N=b.shape[1])
    timed(benchmark, lambda: np.matmul(a, b, out=out), budget_s=1.5, max_rounds=10)
    record_gflops(benchmark, sgemm_flops(a.shape[0]))
