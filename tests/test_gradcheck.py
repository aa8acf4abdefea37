"""``fastlstm.gradcheck`` on every fast layer, and proof that it can fail.

Every layer of :mod:`fastlstm.layers` is built in float64 and checked with
central differences: the worst relative error must be at most 1e-6 and the
report must name every parameter and every float input.  Layers with a
deliberately wrong backward must be reported, with the error on the right
entry.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

import fastlstm.layers as FL
from fastlstm.gradcheck import GradcheckResult, gradcheck

N, T, Te, D, H, V = 2, 3, 4, 4, 5, 6
TOL = 1e-6


@pytest.fixture(autouse=True)
def one_thread():
    """Thousands of tiny forward passes: one numba thread avoids fork-join cost.

    Results do not depend on the thread count (``tests/test_threads.py``).
    """
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


def _rand(rng, *shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def _lstm_params(rng, D_=D):
    return [_rand(rng, D_, 4 * H, scale=0.5), _rand(rng, H, 4 * H, scale=0.5), _rand(rng, 4 * H)]


def _ids(rng, shape, high=V):
    return rng.integers(0, high, size=shape)


class _WithInitialState:
    """``forward(xs, h0) -> hs`` of a stateful time layer, so ``dh`` is checked as an input gradient."""

    def __init__(self, layer, c0=None):
        self.layer = layer
        self.c0 = c0  # fixed initial cell state (LSTM): not an input
        self.params, self.grads = layer.params, layer.grads

    def forward(self, xs, h0):
        if self.c0 is None:
            self.layer.set_state(h0)
        else:
            self.layer.set_state(h0, self.c0)
        return self.layer.forward(xs)

    def backward(self, dhs):
        dxs = self.layer.backward(dhs)
        return dxs, self.layer.dh


def _cases():
    """``name -> (layer, inputs)`` for every fast layer, float64, fresh random values."""
    rng = np.random.default_rng(2024)
    tied_embed = _rand(rng, V, D)
    ts_some_ignored = _ids(rng, (N, T))
    ts_some_ignored[0, 1] = -1
    gru_params = [_rand(rng, D, 3 * H, scale=0.5), _rand(rng, H, 3 * H, scale=0.5)]
    rnn_params = [_rand(rng, D, H, scale=0.5), _rand(rng, H, H, scale=0.5), _rand(rng, H)]
    return {
        "MatMul": (FL.MatMul(_rand(rng, D, H)), [_rand(rng, N, D)]),
        "Affine": (FL.Affine(_rand(rng, D, H), _rand(rng, H)), [_rand(rng, N, D)]),
        "Softmax": (FL.Softmax(), [_rand(rng, N, V)]),
        "SoftmaxWithLoss": (FL.SoftmaxWithLoss(), [_rand(rng, N, V), _ids(rng, (N,))]),
        "Sigmoid": (FL.Sigmoid(), [_rand(rng, N, H)]),
        "Dropout": (FL.Dropout(0.5, rng=np.random.default_rng(1)), [_rand(rng, N, T, H)]),
        "Embedding": (FL.Embedding(_rand(rng, V, D)), [np.array([1, 3, 1, 0, 3])]),
        "RNN": (FL.RNN(*rnn_params), [_rand(rng, N, D), _rand(rng, N, H)]),
        "TimeRNN": (FL.TimeRNN(*rnn_params), [_rand(rng, N, T, D)]),
        "LSTM": (
            FL.LSTM(*_lstm_params(rng)),
            [_rand(rng, N, D), _rand(rng, N, H), _rand(rng, N, H)],
        ),
        "TimeLSTM": (FL.TimeLSTM(*_lstm_params(rng)), [_rand(rng, N, T, D)]),
        "GRU": (FL.GRU(*gru_params), [_rand(rng, N, D), _rand(rng, N, H)]),
        "TimeGRU": (FL.TimeGRU(*gru_params), [_rand(rng, N, T, D)]),
        "TimeBiLSTM": (
            FL.TimeBiLSTM(*_lstm_params(rng), *_lstm_params(rng)),
            [_rand(rng, N, T, D)],
        ),
        "TimeEmbedding": (FL.TimeEmbedding(_rand(rng, V, D)), [np.array([[1, 3, 1], [0, 3, 3]])]),
        "TimeAffine": (FL.TimeAffine(_rand(rng, D, V), _rand(rng, V)), [_rand(rng, N, T, D)]),
        "TimeAffine(tied)": (FL.TimeAffine(tied_embed.T, _rand(rng, V)), [_rand(rng, N, T, D)]),
        "TimeSoftmaxWithLoss": (FL.TimeSoftmaxWithLoss(), [_rand(rng, N, T, V), ts_some_ignored]),
        "TimeDropout": (
            FL.TimeDropout(0.3, rng=np.random.default_rng(2)),
            [_rand(rng, N, T, H)],
        ),
        "WeightSum": (FL.WeightSum(), [_rand(rng, N, Te, H), _rand(rng, N, Te)]),
        "AttentionWeight": (FL.AttentionWeight(), [_rand(rng, N, Te, H), _rand(rng, N, H)]),
        "Attention": (FL.Attention(), [_rand(rng, N, Te, H), _rand(rng, N, H)]),
        "TimeAttention": (FL.TimeAttention(), [_rand(rng, N, Te, H), _rand(rng, N, T, H)]),
        "TimeRNN(h0)": (
            _WithInitialState(FL.TimeRNN(*rnn_params, stateful=True)),
            [_rand(rng, N, T, D), _rand(rng, N, H)],
        ),
        "TimeLSTM(h0)": (
            _WithInitialState(FL.TimeLSTM(*_lstm_params(rng), stateful=True), _rand(rng, N, H)),
            [_rand(rng, N, T, D), _rand(rng, N, H)],
        ),
        "TimeGRU(h0)": (
            _WithInitialState(FL.TimeGRU(*gru_params, stateful=True)),
            [_rand(rng, N, T, D), _rand(rng, N, H)],
        ),
    }


CASES = _cases()


def test_every_layer_has_a_case():
    covered = {name.split("(")[0] for name in CASES}
    assert covered == set(FL.__all__)


def _assert_report_names_everything(result, layer, inputs, name):
    for i in range(len(layer.params)):
        assert any(k.startswith(f"params[{i}]") for k in result.errors), (
            f"{name}: report does not name params[{i}]: {list(result.errors)}"
        )
    for k, x in enumerate(inputs):
        if np.asarray(x).dtype.kind == "f":
            assert any(key.startswith(f"inputs[{k}]") for key in result.errors), (
                f"{name}: report does not name inputs[{k}]: {list(result.errors)}"
            )
        else:
            assert not any(key.startswith(f"inputs[{k}]") for key in result.errors), (
                f"{name}: integer inputs[{k}] must not be checked"
            )


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck_passes(name):
    layer, inputs = CASES[name]
    before = [p.copy() for p in layer.params]
    result = gradcheck(layer, *inputs)
    assert isinstance(result, GradcheckResult)
    assert result.worst <= TOL, f"{name}: gradcheck failed\n{result}"
    result.assert_ok(TOL)
    _assert_report_names_everything(result, layer, inputs, name)
    for k, (p, b) in enumerate(zip(layer.params, before)):
        assert np.array_equal(p, b), f"{name}: gradcheck left params[{k}] perturbed"


def test_dropout_masks_are_restored_between_evaluations():
    """Without restoring the generator every evaluation would draw a new mask and fail."""
    layer = FL.TimeDropout(0.5, rng=np.random.default_rng(7))
    x = np.random.default_rng(8).standard_normal((N, T, H))
    state = layer.rng.bit_generator.state
    result = gradcheck(layer, x)
    assert result.worst <= TOL, str(result)
    assert layer.rng.bit_generator.state == state, "gradcheck did not restore the generator"
    out = layer.forward(x)
    assert np.any(out == 0) and np.any(out != 0), "the mask is trivial: the test proves nothing"


# --------------------------------------------------------------------------- #
# the checker can fail
# --------------------------------------------------------------------------- #
class _AffineDoubleDx(FL.Affine):
    """Wrong on purpose: returns twice the input gradient."""

    def backward(self, dout):
        return 2.0 * super().backward(dout)


class _LSTMHalfDWh(FL.TimeLSTM):
    """Wrong on purpose: ``dWh`` is half of what it should be."""

    def backward(self, dhs):
        dxs = super().backward(dhs)
        self.grads[1] *= 0.5
        return dxs


class _SoftmaxLossNoScale(FL.TimeSoftmaxWithLoss):
    """Wrong on purpose: returns three times the gradient of the scores."""

    def backward(self, dout=1):
        return 3.0 * super().backward(dout)


def test_wrong_input_gradient_is_reported():
    rng = np.random.default_rng(0)
    layer = _AffineDoubleDx(_rand(rng, D, H), _rand(rng, H))
    result = gradcheck(layer, _rand(rng, N, D))
    assert not result.ok(TOL)
    assert result.worst > 0.1, str(result)
    bad = {k: v for k, v in result.errors.items() if v > TOL}
    assert list(bad) and all(k.startswith("inputs[0]") for k in bad), str(result)
    with pytest.raises(AssertionError, match=r"inputs\[0\]"):
        result.assert_ok(TOL)


def test_wrong_parameter_gradient_is_reported():
    rng = np.random.default_rng(1)
    layer = _LSTMHalfDWh(*_lstm_params(rng))
    result = gradcheck(layer, _rand(rng, N, T, D))
    assert result.worst > 0.1, str(result)
    bad = {k: v for k, v in result.errors.items() if v > TOL}
    assert list(bad) and all(k.startswith("params[1]") for k in bad), str(result)
    with pytest.raises(AssertionError, match=r"params\[1\]"):
        result.assert_ok(TOL)


def test_wrong_loss_gradient_is_reported():
    rng = np.random.default_rng(2)
    result = gradcheck(_SoftmaxLossNoScale(), _rand(rng, N, T, V), _ids(rng, (N, T)))
    assert result.worst > 0.1, str(result)
    assert "inputs[0]" in str(result)


def test_float32_parameters_are_rejected():
    rng = np.random.default_rng(3)
    layer = FL.TimeLSTM(*[p.astype(np.float32) for p in _lstm_params(rng)])
    with pytest.raises(TypeError, match=r"float64.*params\[0\].*float32"):
        gradcheck(layer, _rand(rng, N, T, D))
