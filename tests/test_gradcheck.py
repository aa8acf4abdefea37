"""``fastlstm.gradcheck`` on every fast layer and model, and proof that it can fail.

Every layer of :mod:`fastlstm.layers` and every model is built in float64 and
checked with the default tolerance: it must pass, and the report must name
every parameter and every float input.  A gradient made wrong by 1% (scaled
by 1.01, or off by 1% of its norm in a random direction) in any parameter or
any input must fail, in the element-wise mode and in the directional mode used
for large arrays, with the error on the right entry.
"""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest

import fastlstm.layers as FL
from fastlstm import models as M
from fastlstm.gradcheck import DEFAULT_TOL, GradcheckResult, _groups, gradcheck

N, T, Te, D, H, V = 2, 3, 4, 4, 5, 6
TOL = DEFAULT_TOL


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
        "GRU(b)": (FL.GRU(*gru_params, _rand(rng, 3 * H)), [_rand(rng, N, D), _rand(rng, N, H)]),
        "TimeGRU(b)": (FL.TimeGRU(*gru_params, _rand(rng, 3 * H)), [_rand(rng, N, T, D)]),
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
    # (SoftmaxWithLoss scores ~1e-6: the book's loss adds 1e-7 inside the log, its
    # gradient does not)
    assert result.worst <= 1e-5, f"{name}: round-off far above the usual\n{result}"
    result.assert_ok()
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


# --------------------------------------------------------------------------- #
# models, and 1% errors anywhere
# --------------------------------------------------------------------------- #
MODEL_NAMES = [
    "SimpleRnnlm",
    "Rnnlm",
    "BetterRnnlm",
    "Seq2seq",
    "PeekySeq2seq",
    "AttentionSeq2seq",
    "AttentionBiSeq2seq",
]


def _model_cases():
    """``name -> (model or model part, inputs)``, float64, the models' own initialisation."""
    rng = np.random.default_rng(7)
    Vm, Dm, Hm = 7, 4, 4
    cases = {}
    for name in MODEL_NAMES:
        model = getattr(M, name)(Vm, Dm, Hm, seed=1, dtype=np.float64)
        T_dec = 4 if name.endswith("Seq2seq") else 3
        cases[name] = (model, [_ids(rng, (N, 3), Vm), _ids(rng, (N, T_dec), Vm)])
    # the parts of the seq2seq models, with float inputs (encoder states)
    for name in ("Encoder", "AttentionEncoder"):
        cases[name] = (
            getattr(M, name)(Vm, Dm, Hm, seed=2, dtype=np.float64),
            [_ids(rng, (N, 3), Vm)],
        )
    for name in ("Decoder", "PeekyDecoder"):
        part = getattr(M, name)(Vm, Dm, Hm, seed=3, dtype=np.float64)
        cases[name] = (part, [_ids(rng, (N, 3), Vm), _rand(rng, N, Hm)])
    part = M.AttentionDecoder(Vm, Dm, Hm, seed=4, dtype=np.float64)
    cases["AttentionDecoder"] = (part, [_ids(rng, (N, 3), Vm), _rand(rng, N, Te, Hm)])
    return cases


MODEL_CASES = _model_cases()


@pytest.mark.parametrize("name", list(MODEL_CASES))
def test_gradcheck_passes_on_models(name):
    model, inputs = MODEL_CASES[name]
    result = gradcheck(model, *inputs)
    result.assert_ok()
    assert result.worst <= 1e-5, f"{name}: round-off far above the usual\n{result}"
    groups, _ = _groups(list(model.params))
    assert len(result.errors) == len(groups) + sum(
        np.asarray(x).dtype.kind == "f" for x in inputs
    ), str(result)


class _Wrong:
    """``obj`` with a 1% error in the gradients of ``targets``.

    ``targets``: ``("param", i)`` (every entry of the parameter's tie group) or
    ``("input", k)`` (the k-th returned input gradient).  ``mode`` "scale"
    multiplies by 1.01; "direction" adds 1% of the gradient's norm along a
    fixed random direction.
    """

    def __init__(self, obj, targets, mode, seed=0):
        self.obj, self.targets, self.mode = obj, targets, mode
        self.params, self.grads = obj.params, obj.grads
        self.rng = np.random.default_rng(seed)
        self.noise = {}

    def forward(self, *inputs):
        return self.obj.forward(*inputs)

    def _wrong(self, g, key):
        g = np.asarray(g, dtype=np.float64)
        if self.mode == "scale":
            return g * 1.01
        if key not in self.noise:
            r = self.rng.standard_normal(g.shape)
            self.noise[key] = r / np.linalg.norm(r)
        return g + 0.01 * np.linalg.norm(g) * self.noise[key]

    def backward(self, *dout):
        back = self.obj.backward(*dout)
        _, owner = _groups(list(self.params))
        backs = list(back) if isinstance(back, tuple) else [back]
        for kind, i in self.targets:
            if kind == "param":
                for k in [i] + [k for k, (j, _) in owner.items() if j == i]:
                    self.grads[k][...] = self._wrong(self.grads[k], ("p", k))
            else:
                backs[i] = self._wrong(backs[i], ("i", i))
        return tuple(backs) if isinstance(back, tuple) else backs[0]


def _targets(obj, inputs):
    groups, _ = _groups(list(obj.params))
    n_float = sum(np.asarray(x).dtype.kind == "f" for x in inputs)
    return [("param", i) for i in groups] + [("input", k) for k in range(n_float)]


def _entry(result, target, inputs):
    kind, i = target
    if kind == "param":
        prefix = f"params[{i}]"
    else:
        float_pos = [k for k, x in enumerate(inputs) if np.asarray(x).dtype.kind == "f"]
        prefix = f"inputs[{float_pos[i]}]"
    (key,) = [k for k in result.errors if k.startswith(prefix)]
    return key


ALL_CASES = {**CASES, **MODEL_CASES}


@pytest.mark.parametrize("mode", ["scale", "direction"])
@pytest.mark.parametrize("max_elements", [None, 4], ids=["element-wise", "directional"])
@pytest.mark.parametrize("name", list(ALL_CASES))
def test_one_percent_error_in_any_gradient_fails(name, max_elements, mode):
    """Every gradient 1% wrong at once: each entry is judged on its own, so each must fail."""
    obj, inputs = ALL_CASES[name]
    targets = _targets(obj, inputs)
    assert targets, f"{name} has no float parameter or input"
    result = gradcheck(_Wrong(obj, targets, mode), *inputs, max_elements=max_elements)
    for target in targets:
        key = _entry(result, target, inputs)
        assert result.errors[key] > TOL, f"{name}: 1% error in {key} not caught\n{result}"
        assert result.errors[key] > 2 * TOL, f"{name}: {key} caught without margin\n{result}"
    assert not result.ok()


@pytest.mark.parametrize("name", list(ALL_CASES))
def test_one_percent_error_is_reported_where_it_is(name):
    """A 1% error in one gradient fails that entry and no other."""
    obj, inputs = ALL_CASES[name]
    targets = _targets(obj, inputs)
    target = targets[len(targets) // 2]
    result = gradcheck(_Wrong(obj, [target], "scale"), *inputs)
    key = _entry(result, target, inputs)
    bad = {k for k, v in result.errors.items() if v > TOL}
    assert bad == {key}, f"{name}: expected only {key} to fail\n{result}"
    with pytest.raises(AssertionError, match=re.escape(key)):
        result.assert_ok()


def test_the_tolerance_separates_round_off_from_errors():
    """The documented meaning: 0.1% errors are near the threshold, 1% far above."""
    obj, inputs = MODEL_CASES["AttentionSeq2seq"]
    correct = gradcheck(obj, *inputs).worst

    class Scaled(_Wrong):
        def _wrong(self, g, key):
            return np.asarray(g) * (1 + self.mode)

    errs = {}
    for rel in (1e-2, 1e-3):
        result = gradcheck(Scaled(obj, _targets(obj, inputs), rel), *inputs)
        errs[rel] = min(result.errors.values())
    assert correct < 1e-3 * TOL
    assert errs[1e-2] == pytest.approx(1e-2, rel=0.05)
    assert errs[1e-3] == pytest.approx(1e-3, rel=0.05)


# --------------------------------------------------------------------------- #
# mistakes a norm-wise check misses
# --------------------------------------------------------------------------- #
class _AffineAddsIntoGrads(FL.Affine):
    """Wrong on purpose: ``grads[k] += ...`` in place of ``grads[k][...] = ...``.

    Right on the first call (the grads start at zero), twice as large on the second:
    in training it accumulates gradients across iterations.
    """

    def backward(self, dout):
        before = [g.copy() for g in self.grads]
        dx = super().backward(dout)
        for g, b in zip(self.grads, before):
            g += b
        return dx


class _AffineOneElementOff(FL.Affine):
    """Wrong on purpose: one element of ``dW`` is 1% too large."""

    k = 0

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads[0].flat[self.k] *= 1.01
        return dx


def test_backward_that_adds_into_grads_fails():
    rng = np.random.default_rng(4)
    layer = _AffineAddsIntoGrads(_rand(rng, D, H), _rand(rng, H))
    result = gradcheck(layer, _rand(rng, N, D))
    assert result.errors[f"params[0] {(D, H)}"] >= 0.5, str(result)
    assert result.errors[f"params[1] {(H,)}"] >= 0.5, str(result)
    assert not result.errors[f"inputs[0] {(N, D)}"] > TOL, str(result)  # dx is right
    with pytest.raises(AssertionError, match=r"add into grads \(\+=\)"):
        result.assert_ok()


@pytest.mark.parametrize("max_elements", [None, 512], ids=["element-wise", "grouped"])
@pytest.mark.parametrize("k", [0, 777, 1999])
def test_one_element_wrong_by_one_percent_in_2000_fails(k, max_elements):
    """Norm-wise that error is about 2e-4: only an element-wise comparison sees it."""
    rng = np.random.default_rng(5)
    Din, Hout = 40, 50  # dW has 2,000 elements
    W, b, x = _rand(rng, Din, Hout), _rand(rng, Hout), _rand(rng, 8, Din)
    assert gradcheck(FL.Affine(W, b), x, max_elements=max_elements).ok()
    layer = _AffineOneElementOff(W, b)
    layer.k = k
    result = gradcheck(layer, x, max_elements=max_elements)
    key = f"params[0] {(Din, Hout)}"
    assert result.errors[key] > 2 * TOL, str(result)
    assert {e for e, v in result.errors.items() if v > TOL} == {key}, str(result)


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        ({"eps": 0}, ValueError, "eps must be positive and finite, got 0"),
        ({"eps": float("nan")}, ValueError, "eps must be positive and finite"),
        ({"max_elements": 0}, ValueError, "max_elements must be at least 1, got 0"),
        ({"directions": -1}, ValueError, "directions must be at least 0, got -1"),
        ({"floor": -1.0}, ValueError, "floor must be >= 0 and finite"),
        ({"directions": 2.5}, TypeError, "directions must be an integer, got float"),
    ],
)
def test_settings_that_would_check_nothing_are_refused(kw, exc, match):
    from fastlstm.layers import Affine

    layer = Affine(np.ones((3, 2)), np.zeros(2))
    with pytest.raises(exc, match=match):
        gradcheck(layer, np.ones((2, 3)), **kw)


def test_an_object_that_is_no_layer_is_refused_by_name():
    class ForwardOnly:
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="needs a layer or model .*NoneType has no forward"):
        gradcheck(None, np.ones(3))
    with pytest.raises(TypeError, match="ForwardOnly has no backward, params, grads"):
        gradcheck(ForwardOnly(), np.ones(3))


def test_an_empty_batch_is_refused_not_passed():
    """A wrong backward would pass on a batch without elements: nothing is compared."""
    from fastlstm.layers import TimeLSTM

    rng = np.random.default_rng(0)
    layer = TimeLSTM(*(rng.standard_normal(s) for s in [(3, 8), (2, 8), (8,)]))
    with pytest.raises(ValueError, match="forward returned no values .*nothing to check"):
        gradcheck(layer, np.zeros((0, 2, 3)))
