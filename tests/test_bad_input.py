"""Bad input to the fast layers raises a clear ``ValueError``/``TypeError``.

Never a numba typing error, an ``IndexError`` from deep inside NumPy, a
silently wrong result or a crash: the message names the argument and what is
wrong with it.  Each case is a thunk run under ``pytest.raises(..., match=...)``.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm.layers as FL
import fastlstm.models as FM

N, T, D, H, V = 2, 4, 3, 5, 7
_rng = np.random.default_rng(0)


def r(*shape, dtype=np.float64):
    return _rng.standard_normal(shape).astype(dtype)


def ids(*shape):
    return _rng.integers(0, V, size=shape)


def fwd(layer, *inputs):
    """Run ``layer.forward(*inputs)`` and return the layer (for ``backward`` cases)."""
    layer.forward(*inputs)
    return layer


def _eval_mode(layer, *inputs):
    """``layer`` with ``train_flg = False``, after ``forward(*inputs)`` if inputs are given."""
    layer.train_flg = False
    return fwd(layer, *inputs) if inputs else layer


def lstm_params(dtype=np.float64):
    return r(D, 4 * H, dtype=dtype), r(H, 4 * H, dtype=dtype), r(4 * H, dtype=dtype)


def lstm(stateful=False):
    return FL.TimeLSTM(*lstm_params(), stateful=stateful)


def rnn(stateful=False):
    return FL.TimeRNN(r(D, H), r(H, H), r(H), stateful=stateful)


def gru(stateful=False):
    return FL.TimeGRU(r(D, 3 * H), r(H, 3 * H), stateful=stateful)


def bilstm():
    return FL.TimeBiLSTM(*lstm_params(), *lstm_params())


def scores_with(value, position=(0, 0, 2)):
    xs = r(N, T, V)
    xs[position] = value
    return xs


def case(id_, call, exc, match):
    return pytest.param(call, exc, match, id=id_)


# --------------------------------------------------------------------------- #
# ids and labels
# --------------------------------------------------------------------------- #
ID_CASES = [
    case(
        "time-embedding-id-too-large",
        lambda: FL.TimeEmbedding(r(V, D)).forward(np.array([[0, V]])),
        ValueError,
        rf"xs.*id {V}.*\[0, {V}\)",
    ),
    case(
        "time-embedding-negative-id",
        lambda: FL.TimeEmbedding(r(V, D)).forward(np.array([[0, -1]])),
        ValueError,
        rf"xs.*id -1.*\[0, {V}\)",
    ),
    case(
        "time-embedding-float-ids",
        lambda: FL.TimeEmbedding(r(V, D)).forward(np.array([[0.0, 1.0]])),
        TypeError,
        r"xs.*integer.*float64",
    ),
    case(
        "time-embedding-bool-ids",
        lambda: FL.TimeEmbedding(r(V, D)).forward(np.array([[True, False]])),
        TypeError,
        r"xs.*integer.*bool",
    ),
    case(
        "embedding-id-too-large",
        lambda: FL.Embedding(r(V, D)).forward(np.array([3, V + 5])),
        ValueError,
        rf"idx.*id {V + 5}.*\[0, {V}\)",
    ),
    case(
        "embedding-negative-id",
        lambda: FL.Embedding(r(V, D)).forward(np.array([-2, 1])),
        ValueError,
        rf"idx.*id -2.*\[0, {V}\)",
    ),
    case(
        "embedding-float-ids",
        lambda: FL.Embedding(r(V, D)).forward(np.array([0.5, 1.0])),
        TypeError,
        r"idx.*integer.*float64",
    ),
    case(
        "time-loss-label-too-large",
        lambda: FL.TimeSoftmaxWithLoss().forward(r(N, T, V), np.full((N, T), V)),
        ValueError,
        rf"ts.*id {V}.*\[0, {V}\).*-1",
    ),
    case(
        "time-loss-label-negative",
        lambda: FL.TimeSoftmaxWithLoss().forward(r(N, T, V), np.full((N, T), -2)),
        ValueError,
        rf"ts.*id -2.*\[0, {V}\).*-1",
    ),
    case(
        "time-loss-float-labels",
        lambda: FL.TimeSoftmaxWithLoss().forward(r(N, T, V), np.zeros((N, T))),
        TypeError,
        r"ts.*integer.*float64",
    ),
    case(
        "loss-label-too-large",
        lambda: FL.SoftmaxWithLoss().forward(r(N, V), np.array([0, V])),
        ValueError,
        rf"\bt\b.*id {V}.*\[0, {V}\)",
    ),
    case(
        "loss-label-negative",
        lambda: FL.SoftmaxWithLoss().forward(r(N, V), np.array([-3, 0])),
        ValueError,
        rf"\bt\b.*id -3.*\[0, {V}\)",
    ),
    case(
        "loss-float-labels",
        lambda: FL.SoftmaxWithLoss().forward(r(N, V), np.array([0.0, 1.0])),
        TypeError,
        r"\bt\b.*integer.*float64",
    ),
]

# --------------------------------------------------------------------------- #
# NaN and inf scores
# --------------------------------------------------------------------------- #
NAN_CASES = [
    case(
        "time-loss-nan",
        lambda: FL.TimeSoftmaxWithLoss().forward(scores_with(np.nan), ids(N, T)),
        ValueError,
        r"xs.*NaN or inf",
    ),
    case(
        "time-loss-all-nan",
        lambda: FL.TimeSoftmaxWithLoss().forward(np.full((N, T, V), np.nan), ids(N, T)),
        ValueError,
        r"xs.*NaN or inf",
    ),
    case(
        "time-loss-inf",
        lambda: FL.TimeSoftmaxWithLoss().forward(scores_with(np.inf), ids(N, T)),
        ValueError,
        r"xs.*NaN or inf",
    ),
    case(
        "time-loss-minus-inf-at-label",
        lambda: FL.TimeSoftmaxWithLoss().forward(scores_with(-np.inf), np.full((N, T), 2)),
        ValueError,
        r"xs.*NaN or inf",
    ),
    case(
        "loss-nan",
        lambda: FL.SoftmaxWithLoss().forward(scores_with(np.nan)[:, 0], ids(N)),
        ValueError,
        r"\bx\b.*NaN or inf",
    ),
    case(
        "loss-inf",
        lambda: FL.SoftmaxWithLoss().forward(scores_with(np.inf)[:, 0], ids(N)),
        ValueError,
        r"\bx\b.*NaN or inf",
    ),
]

# --------------------------------------------------------------------------- #
# forward inputs: wrong ndim, wrong last dimension, wrong kind
# --------------------------------------------------------------------------- #
FORWARD_CASES = [
    case("matmul-x-3d", lambda: FL.MatMul(r(D, H)).forward(r(N, T, D)), ValueError, r"x.*2-D"),
    case(
        "matmul-x-last-dim",
        lambda: FL.MatMul(r(D, H)).forward(r(N, D + 1)),
        ValueError,
        rf"x.*\({N}, {D + 1}\)",
    ),
    case("affine-x-1d", lambda: FL.Affine(r(D, H), r(H)).forward(r(D)), ValueError, r"x.*2-D"),
    case(
        "affine-x-last-dim",
        lambda: FL.Affine(r(D, H), r(H)).forward(r(N, D + 1)),
        ValueError,
        rf"x.*\({N}, {D + 1}\)",
    ),
    case("softmax-x-3d", lambda: FL.Softmax().forward(r(N, T, V)), ValueError, r"x.*2-D"),
    case(
        "loss-x-3d",
        lambda: FL.SoftmaxWithLoss().forward(r(N, T, V), ids(N)),
        ValueError,
        r"x.*2-D",
    ),
    case(
        "loss-t-wrong-length",
        lambda: FL.SoftmaxWithLoss().forward(r(N, V), ids(N + 1)),
        ValueError,
        rf"\bt\b.*\({N + 1},\)",
    ),
    case(
        "loss-onehot-last-dim",
        lambda: FL.SoftmaxWithLoss().forward(r(N, V), np.eye(V + 1, dtype=int)[:N]),
        ValueError,
        rf"\bt\b.*\({N}, {V + 1}\)",
    ),
    case(
        "time-embedding-1d",
        lambda: FL.TimeEmbedding(r(V, D)).forward(ids(N)),
        ValueError,
        r"xs.*2-D",
    ),
    case(
        "time-embedding-3d",
        lambda: FL.TimeEmbedding(r(V, D)).forward(ids(N, T, 1)),
        ValueError,
        r"xs.*2-D",
    ),
    case(
        "rnn-x-3d",
        lambda: FL.RNN(r(D, H), r(H, H), r(H)).forward(r(N, T, D), r(N, H)),
        ValueError,
        r"x.*2-D",
    ),
    case(
        "rnn-x-last-dim",
        lambda: FL.RNN(r(D, H), r(H, H), r(H)).forward(r(N, D + 1), r(N, H)),
        ValueError,
        rf"x.*\({N}, {D + 1}\)",
    ),
    case(
        "rnn-h-last-dim",
        lambda: FL.RNN(r(D, H), r(H, H), r(H)).forward(r(N, D), r(N, H + 1)),
        ValueError,
        rf"h_prev.*\({N}, {H + 1}\)",
    ),
    case(
        "lstm-step-x-3d",
        lambda: FL.LSTM(*lstm_params()).forward(r(N, T, D), r(N, H), r(N, H)),
        ValueError,
        r"x.*2-D",
    ),
    case(
        "lstm-step-x-last-dim",
        lambda: FL.LSTM(*lstm_params()).forward(r(N, D + 1), r(N, H), r(N, H)),
        ValueError,
        rf"x.*\({N}, {D + 1}\)",
    ),
    case(
        "lstm-step-c-batch",
        lambda: FL.LSTM(*lstm_params()).forward(r(N, D), r(N, H), r(N + 1, H)),
        ValueError,
        rf"c_prev.*\({N + 1}, {H}\)",
    ),
    case(
        "gru-step-x-last-dim",
        lambda: FL.GRU(r(D, 3 * H), r(H, 3 * H)).forward(r(N, D + 1), r(N, H)),
        ValueError,
        rf"x.*\({N}, {D + 1}\)",
    ),
    case(
        "gru-step-h-last-dim",
        lambda: FL.GRU(r(D, 3 * H), r(H, 3 * H)).forward(r(N, D), r(N, H - 1)),
        ValueError,
        rf"h_prev.*\({N}, {H - 1}\)",
    ),
    case(
        "time-affine-2d",
        lambda: FL.TimeAffine(r(D, V), r(V)).forward(r(N, D)),
        ValueError,
        r"x.*3-D",
    ),
    case(
        "time-affine-last-dim",
        lambda: FL.TimeAffine(r(D, V), r(V)).forward(r(N, T, D + 1)),
        ValueError,
        rf"x.*\({N}, {T}, {D + 1}\)",
    ),
    case(
        "time-loss-xs-2d",
        lambda: FL.TimeSoftmaxWithLoss().forward(r(N, V), ids(N)),
        ValueError,
        r"xs.*3-D",
    ),
    case(
        "time-loss-ts-shape",
        lambda: FL.TimeSoftmaxWithLoss().forward(r(N, T, V), ids(N, T + 1)),
        ValueError,
        rf"ts.*\({N}, {T + 1}\)",
    ),
    case(
        "time-loss-onehot-last-dim",
        lambda: FL.TimeSoftmaxWithLoss().forward(r(N, T, V), np.zeros((N, T, V + 1), dtype=int)),
        ValueError,
        rf"ts.*\({N}, {T}, {V + 1}\)",
    ),
    case(
        "weight-sum-hs-2d",
        lambda: FL.WeightSum().forward(r(N, H), r(N, T)),
        ValueError,
        r"hs.*\(N, T, H\)",
    ),
    case(
        "weight-sum-a-last-dim",
        lambda: FL.WeightSum().forward(r(N, T, H), r(N, T + 1)),
        ValueError,
        rf"\ba\b.*\({N}, {T + 1}\)",
    ),
    case(
        "attention-weight-hs-2d",
        lambda: FL.AttentionWeight().forward(r(N, H), r(N, H)),
        ValueError,
        r"hs.*\(N, T, H\)",
    ),
    case(
        "attention-weight-h-last-dim",
        lambda: FL.AttentionWeight().forward(r(N, T, H), r(N, H + 1)),
        ValueError,
        rf"\bh\b.*\({N}, {H + 1}\)",
    ),
    case(
        "attention-hs-2d",
        lambda: FL.Attention().forward(r(N, H), r(N, H)),
        ValueError,
        r"hs.*3-D",
    ),
    case(
        "attention-h-3d",
        lambda: FL.Attention().forward(r(N, T, H), r(N, 1, H)),
        ValueError,
        r"\bh\b.*2-D",
    ),
    case(
        "attention-h-last-dim",
        lambda: FL.Attention().forward(r(N, T, H), r(N, H + 1)),
        ValueError,
        rf"\bh\b.*\({N}, {H + 1}\)",
    ),
    case(
        "time-attention-enc-2d",
        lambda: FL.TimeAttention().forward(r(N, H), r(N, T, H)),
        ValueError,
        r"hs_enc.*3-D",
    ),
    case(
        "time-attention-dec-2d",
        lambda: FL.TimeAttention().forward(r(N, T, H), r(N, H)),
        ValueError,
        r"hs_dec.*3-D",
    ),
    case(
        "time-attention-dec-last-dim",
        lambda: FL.TimeAttention().forward(r(N, T, H), r(N, 3, H + 1)),
        ValueError,
        rf"hs_dec.*\({N}, 3, {H + 1}\)",
    ),
    case(
        "time-attention-batch-differs",
        lambda: FL.TimeAttention().forward(r(N, T, H), r(N + 1, 3, H)),
        ValueError,
        rf"hs_dec.*\({N + 1}, 3, {H}\)",
    ),
]

for _name, _make in [("rnn", rnn), ("lstm", lstm), ("gru", gru), ("bilstm", bilstm)]:
    FORWARD_CASES += [
        case(
            f"time-{_name}-xs-2d",
            lambda m=_make: m().forward(r(N, D)),
            ValueError,
            rf"xs.*3-D.*\({N}, {D}\)",
        ),
        case(
            f"time-{_name}-xs-last-dim",
            lambda m=_make: m().forward(r(N, T, D + 2)),
            ValueError,
            rf"xs.*\({N}, {T}, {D + 2}\)",
        ),
        case(
            f"time-{_name}-xs-strings",
            lambda m=_make: m().forward(np.full((N, T, D), "a")),
            TypeError,
            r"xs.*real numbers",
        ),
    ]

# --------------------------------------------------------------------------- #
# backward with a wrongly shaped upstream gradient
# --------------------------------------------------------------------------- #
BACKWARD_CASES = [
    case(
        "matmul",
        lambda: fwd(FL.MatMul(r(D, H)), r(N, D)).backward(r(N, H + 1)),
        ValueError,
        rf"dout.*\({N}, {H + 1}\)",
    ),
    case(
        "affine",
        lambda: fwd(FL.Affine(r(D, H), r(H)), r(N, D)).backward(r(N + 1, H)),
        ValueError,
        rf"dout.*\({N + 1}, {H}\)",
    ),
    case(
        "softmax",
        lambda: fwd(FL.Softmax(), r(N, V)).backward(r(N, V + 1)),
        ValueError,
        rf"dout.*\({N}, {V + 1}\)",
    ),
    case(
        "sigmoid",
        lambda: fwd(FL.Sigmoid(), r(N, H)).backward(r(N, H + 1)),
        ValueError,
        rf"dout.*\({N}, {H + 1}\)",
    ),
    case(
        "dropout",
        lambda: fwd(FL.Dropout(0.5, np.random.default_rng(0)), r(N, H)).backward(r(N, H + 1)),
        ValueError,
        rf"dout.*\({N}, {H + 1}\)",
    ),
    case(
        "time-dropout",
        lambda: fwd(FL.TimeDropout(0.5, np.random.default_rng(0)), r(N, T, H)).backward(
            r(N, T + 1, H)
        ),
        ValueError,
        rf"dout.*\({N}, {T + 1}, {H}\)",
    ),
    case(
        "dropout-eval",
        lambda: fwd(FL.Dropout(0.5), r(N, H), False).backward(r(N, H + 1)),
        ValueError,
        rf"dout.*\({N}, {H + 1}\)",
    ),
    case(
        "time-dropout-eval",
        lambda: _eval_mode(FL.TimeDropout(0.5), r(N, T, H)).backward(r(N, T, H + 1)),
        ValueError,
        rf"dout.*\({N}, {T}, {H + 1}\)",
    ),
    case(
        "time-dropout-eval-no-forward",
        lambda: _eval_mode(FL.TimeDropout(0.5)).backward(r(N, T, H)),
        RuntimeError,
        "call forward first",
    ),
    case(
        "embedding",
        lambda: fwd(FL.Embedding(r(V, D)), ids(N)).backward(r(N, D + 1)),
        ValueError,
        rf"dout.*\({N}, {D + 1}\)",
    ),
    case(
        "time-embedding",
        lambda: fwd(FL.TimeEmbedding(r(V, D)), ids(N, T)).backward(r(N, T, D + 1)),
        ValueError,
        rf"dout.*\({N}, {T}, {D + 1}\)",
    ),
    case(
        "time-embedding-flattened",
        lambda: fwd(FL.TimeEmbedding(r(V, D)), ids(N, T)).backward(r(N * T, D)),
        ValueError,
        rf"dout.*\({N * T}, {D}\)",
    ),
    case(
        "rnn-step",
        lambda: fwd(FL.RNN(r(D, H), r(H, H), r(H)), r(N, D), r(N, H)).backward(r(N, H + 1)),
        ValueError,
        rf"dh_next.*\({N}, {H + 1}\)",
    ),
    case(
        "lstm-step-dc",
        lambda: fwd(FL.LSTM(*lstm_params()), r(N, D), r(N, H), r(N, H)).backward(r(N, H), r(N, 1)),
        ValueError,
        rf"dc_next.*\({N}, 1\)",
    ),
    case(
        "gru-step",
        lambda: fwd(FL.GRU(r(D, 3 * H), r(H, 3 * H)), r(N, D), r(N, H)).backward(r(N + 1, H)),
        ValueError,
        rf"dh_next.*\({N + 1}, {H}\)",
    ),
    case(
        "time-rnn",
        lambda: fwd(rnn(), r(N, T, D)).backward(r(N, T + 1, H)),
        ValueError,
        rf"dhs.*\({N}, {T + 1}, {H}\)",
    ),
    case(
        "time-lstm",
        lambda: fwd(lstm(), r(N, T, D)).backward(r(N, T, H + 1)),
        ValueError,
        rf"dhs.*\({N}, {T}, {H + 1}\)",
    ),
    case(
        "time-lstm-2d",
        lambda: fwd(lstm(), r(N, T, D)).backward(r(N, H)),
        ValueError,
        r"dhs.*3-D",
    ),
    case(
        "time-gru",
        lambda: fwd(gru(), r(N, T, D)).backward(r(N + 1, T, H)),
        ValueError,
        rf"dhs.*\({N + 1}, {T}, {H}\)",
    ),
    case(
        "time-bilstm-half-width",
        lambda: fwd(bilstm(), r(N, T, D)).backward(r(N, T, H)),
        ValueError,
        rf"dhs.*\({N}, {T}, {H}\).*{2 * H}",
    ),
    case(
        "time-bilstm-2d",
        lambda: fwd(bilstm(), r(N, T, D)).backward(r(N, 2 * H)),
        ValueError,
        rf"dhs.*\({N}, {2 * H}\)",
    ),
    case(
        "time-affine",
        lambda: fwd(FL.TimeAffine(r(D, V), r(V)), r(N, T, D)).backward(r(N, T, V - 1)),
        ValueError,
        rf"dout.*\({N}, {T}, {V - 1}\)",
    ),
    case(
        "loss-array-dout",
        lambda: fwd(FL.SoftmaxWithLoss(), r(N, V), ids(N)).backward(r(N, V)),
        ValueError,
        r"dout.*scalar",
    ),
    case(
        "time-loss-array-dout",
        lambda: fwd(FL.TimeSoftmaxWithLoss(), r(N, T, V), ids(N, T)).backward(r(N, T, V)),
        ValueError,
        r"dout.*scalar",
    ),
    case(
        "weight-sum",
        lambda: fwd(FL.WeightSum(), r(N, T, H), r(N, T)).backward(r(N, H + 1)),
        ValueError,
        rf"dc.*\({N}, {H + 1}\)",
    ),
    case(
        "attention-weight",
        lambda: fwd(FL.AttentionWeight(), r(N, T, H), r(N, H)).backward(r(N, T + 1)),
        ValueError,
        rf"da.*\({N}, {T + 1}\)",
    ),
    case(
        "attention",
        lambda: fwd(FL.Attention(), r(N, T, H), r(N, H)).backward(r(N, H + 1)),
        ValueError,
        rf"dout.*\({N}, {H + 1}\)",
    ),
    case(
        "attention-3d",
        lambda: fwd(FL.Attention(), r(N, T, H), r(N, H)).backward(r(N, 1, H)),
        ValueError,
        rf"dout.*2-D.*\({N}, 1, {H}\)",
    ),
    case(
        "time-attention",
        lambda: fwd(FL.TimeAttention(), r(N, T, H), r(N, 3, H)).backward(r(N, T, H)),
        ValueError,
        rf"dout.*\({N}, {T}, {H}\)",
    ),
]

# --------------------------------------------------------------------------- #
# constructors: parameter shapes and dtypes that do not agree
# --------------------------------------------------------------------------- #
CONSTRUCTOR_CASES = [
    case(
        "lstm-wh-width",
        lambda: FL.TimeLSTM(r(D, 4 * H), r(H, 4 * H + 1), r(4 * H)),
        ValueError,
        rf"Wh.*\({H}, {4 * H + 1}\)",
    ),
    case(
        "lstm-wx-width",
        lambda: FL.TimeLSTM(r(D, 4 * H + 4), r(H, 4 * H), r(4 * H)),
        ValueError,
        rf"Wx.*\({D}, {4 * H + 4}\)",
    ),
    case(
        "lstm-b-length",
        lambda: FL.TimeLSTM(r(D, 4 * H), r(H, 4 * H), r(4 * H - 1)),
        ValueError,
        rf"\bb\b.*\({4 * H - 1},\)",
    ),
    case(
        "lstm-b-2d",
        lambda: FL.TimeLSTM(r(D, 4 * H), r(H, 4 * H), r(1, 4 * H)),
        ValueError,
        r"\bb\b.*1-D",
    ),
    case(
        "lstm-wx-1d",
        lambda: FL.TimeLSTM(r(4 * H), r(H, 4 * H), r(4 * H)),
        ValueError,
        r"Wx.*2-D",
    ),
    case(
        "lstm-mixed-dtypes",
        lambda: FL.TimeLSTM(r(D, 4 * H, dtype=np.float32), r(H, 4 * H), r(4 * H)),
        TypeError,
        r"dtype.*float32.*float64",
    ),
    case(
        "lstm-int-params",
        lambda: FL.TimeLSTM(*[np.ones(p.shape, dtype=np.int64) for p in lstm_params()]),
        TypeError,
        r"Wx.*float32 or float64.*int64",
    ),
    case(
        "lstm-list-param",
        lambda: FL.TimeLSTM(r(D, 4 * H).tolist(), r(H, 4 * H), r(4 * H)),
        TypeError,
        r"Wx.*numpy array.*list",
    ),
    case(
        "lstm-step-wh-width",
        lambda: FL.LSTM(r(D, 4 * H), r(H, 4 * H + 1), r(4 * H)),
        ValueError,
        rf"Wh.*\({H}, {4 * H + 1}\)",
    ),
    case(
        "bilstm-second-b",
        lambda: FL.TimeBiLSTM(*lstm_params(), r(D, 4 * H), r(H, 4 * H), r(4 * H + 1)),
        ValueError,
        rf"\bb\b.*\({4 * H + 1},\)",
    ),
    case(
        "rnn-wh-not-square",
        lambda: FL.TimeRNN(r(D, H), r(H, H + 1), r(H)),
        ValueError,
        rf"Wh.*\({H}, {H + 1}\)",
    ),
    case(
        "rnn-b-length",
        lambda: FL.RNN(r(D, H), r(H, H), r(H + 1)),
        ValueError,
        rf"\bb\b.*\({H + 1},\)",
    ),
    case(
        "gru-wh-width",
        lambda: FL.TimeGRU(r(D, 3 * H), r(H, 3 * H + 1)),
        ValueError,
        rf"Wh.*\({H}, {3 * H + 1}\)",
    ),
    case(
        "gru-wx-width",
        lambda: FL.GRU(r(D, 4 * H), r(H, 3 * H)),
        ValueError,
        rf"Wx.*\({D}, {4 * H}\)",
    ),
    case(
        "gru-mixed-dtypes",
        lambda: FL.TimeGRU(r(D, 3 * H), r(H, 3 * H, dtype=np.float32)),
        TypeError,
        r"dtype.*float32.*float64",
    ),
    case(
        "affine-b-length",
        lambda: FL.Affine(r(D, H), r(H + 1)),
        ValueError,
        rf"\bb\b.*\({H + 1},\)",
    ),
    case(
        "affine-mixed-dtypes",
        lambda: FL.Affine(r(D, H), r(H, dtype=np.float32)),
        TypeError,
        r"dtype.*float32.*float64",
    ),
    case("matmul-1d", lambda: FL.MatMul(r(H)), ValueError, r"W.*2-D"),
    case(
        "matmul-int",
        lambda: FL.MatMul(np.ones((D, H), dtype=np.int32)),
        TypeError,
        r"W.*float32 or float64.*int32",
    ),
    case(
        "time-affine-b-length",
        lambda: FL.TimeAffine(r(D, V), r(V - 1)),
        ValueError,
        rf"\bb\b.*\({V - 1},\)",
    ),
    case(
        "time-affine-mixed-dtypes",
        lambda: FL.TimeAffine(r(D, V, dtype=np.float32), r(V)),
        TypeError,
        r"dtype.*float32.*float64",
    ),
    case("time-affine-1d-w", lambda: FL.TimeAffine(r(V), r(V)), ValueError, r"W.*2-D"),
    case("embedding-1d", lambda: FL.Embedding(r(V)), ValueError, r"W.*2-D"),
    case(
        "time-embedding-int",
        lambda: FL.TimeEmbedding(np.ones((V, D), dtype=np.int64)),
        TypeError,
        r"W.*float32 or float64.*int64",
    ),
    case(
        "dropout-ratio-one",
        lambda: FL.TimeDropout(1.0),
        ValueError,
        r"dropout_ratio.*\[0, 1\)",
    ),
]

# --------------------------------------------------------------------------- #
# recurrent state of the wrong size
# --------------------------------------------------------------------------- #


def _with_state(make, *state):
    layer = make(stateful=True)
    layer.set_state(*state)
    return layer


STATE_CASES = [
    case(
        "lstm-set-state-h-batch",
        lambda: _with_state(lstm, r(N + 1, H), r(N, H)).forward(r(N, T, D)),
        ValueError,
        rf"state h.*\({N + 1}, {H}\).*\({N}, {H}\)",
    ),
    case(
        "lstm-set-state-c-batch",
        lambda: _with_state(lstm, r(N, H), r(N + 1, H)).forward(r(N, T, D)),
        ValueError,
        rf"state c.*\({N + 1}, {H}\).*\({N}, {H}\)",
    ),
    case(
        "lstm-set-state-h-only-batch",
        lambda: _with_state(lstm, r(N + 1, H)).forward(r(N, T, D)),
        ValueError,
        rf"state h.*\({N + 1}, {H}\)",
    ),
    case(
        "lstm-set-state-h-width",
        lambda: _with_state(lstm, r(N, H + 1), r(N, H)).forward(r(N, T, D)),
        ValueError,
        rf"state h.*\({N}, {H + 1}\)",
    ),
    case(
        "rnn-set-state-batch",
        lambda: _with_state(rnn, r(N - 1, H)).forward(r(N, T, D)),
        ValueError,
        rf"state h.*\({N - 1}, {H}\).*\({N}, {H}\)",
    ),
    case(
        "gru-set-state-batch",
        lambda: _with_state(gru, r(N + 3, H)).forward(r(N, T, D)),
        ValueError,
        rf"state h.*\({N + 3}, {H}\).*\({N}, {H}\)",
    ),
    case(
        "lstm-stateful-next-batch-differs",
        lambda: fwd(lstm(stateful=True), r(N, T, D)).forward(r(N + 1, T, D)),
        ValueError,
        rf"state h.*\({N}, {H}\).*\({N + 1}, {H}\)",
    ),
]


CONSTRUCTOR_CASES += [
    *(
        case(
            f"{name}-no-hidden-units",
            lambda k=k, name=name: FL.__dict__[name](*k()),
            ValueError,
            r"Wh has shape \(0, 0\): the hidden size H must be at least 1",
        )  # fmt: skip
        for name, k in (
            ("TimeLSTM", lambda: (r(D, 0), r(0, 0), r(0))),
            ("LSTM", lambda: (r(D, 0), r(0, 0), r(0))),
            ("TimeRNN", lambda: (r(D, 0), r(0, 0), r(0))),
            ("TimeGRU", lambda: (r(D, 0), r(0, 0))),
        )
    ),
    case(
        "dropout-int-rng",
        lambda: FL.Dropout(0.5, rng=3),
        TypeError,
        "rng must be a numpy.random.Generator or RandomState, got int",
    ),  # fmt: skip
    case(
        "time-dropout-str-rng",
        lambda: FL.TimeDropout(0.5, rng="x"),
        TypeError,
        "rng must be a numpy.random.Generator or RandomState, got str",
    ),  # fmt: skip
]
STATE_CASES += [
    case(
        "lstm-set-state-complex",
        lambda: _with_state(lstm, np.full((N, H), 1 + 5j)).forward(r(N, T, D)),
        TypeError,
        "state h must hold real numbers, got dtype complex128",
    ),
    case(
        "lstm-step-object-c",
        lambda: FL.LSTM(*lstm_params()).forward(r(N, D), r(N, H), np.full((N, H), None)),
        TypeError,
        "state c_prev must hold real numbers, got dtype object",
    ),
    case(
        "rnn-step-bool-h",
        lambda: FL.RNN(r(D, H), r(H, H), r(H)).forward(r(N, D), np.zeros((N, H), bool)),
        TypeError,
        "state h_prev must hold real numbers, got dtype bool",
    ),
]


ID_CASES += [
    case(
        f"{cls.__name__}-decoder-input-id",
        lambda cls=cls: cls(V, D, H).forward(
            np.zeros((N, 3), int), np.array([[0, 1, 2]] * (N - 1) + [[0, V + 2, 1]])
        ),
        ValueError,
        rf"ts contains id {V + 2} at \[{N - 1}, 1\], an input of the decoder; .*\[0, {V}\)",
    )  # fmt: skip
    for cls in (FM.Seq2seq, FM.PeekySeq2seq, FM.AttentionSeq2seq)
]


@pytest.mark.parametrize("call, exc, match", ID_CASES)
def test_ids_and_labels(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def _labels_with(bad, where):
    ts = np.zeros((N, T), dtype=np.int64)
    ts[0, 0] = -1  # ignored: allowed anywhere
    ts[where] = bad
    return ts


@pytest.mark.parametrize("where", [(0, 2), (1, 0), (N - 1, T - 1)])
@pytest.mark.parametrize("bad", [V, -2])
@pytest.mark.parametrize(
    "loss",
    [
        lambda ts: FL.TimeSoftmaxWithLoss().forward(r(N, T, V), ts),
        lambda ts: FM.Rnnlm(V, D, H, seed=0).forward(np.zeros((N, T), np.int64), ts),
    ],
    ids=["layer", "model"],
)
def test_a_label_out_of_range_is_named_with_its_index(loss, bad, where):
    """The first bad label and its index in ``ts`` (N, T), not in the flattened rows."""
    ts = _labels_with(bad, where)
    ts[N - 1, T - 1] = V + 3 if where != (N - 1, T - 1) else bad  # a later bad one
    match = rf"ts contains id {bad} at \[{where[0]}, {where[1]}\]; ids must be in \[0, {V}\)"
    with pytest.raises(ValueError, match=match):
        loss(ts)


def test_an_ignored_label_inside_the_range_is_not_offered_as_a_way_out():
    """With a padding id as ``ignore_label`` the message does not say "(or 0 to ignore)"."""
    loss = FL.TimeSoftmaxWithLoss()
    loss.ignore_label = 0
    with pytest.raises(ValueError, match=rf"ts contains id {V} at \[1, 1\]; .*\[0, {V}\)$"):
        loss.forward(r(N, T, V), np.array([[0, 1, 0, 2], [3, V, 0, 0]]))


def test_an_id_out_of_range_is_named_with_its_index():
    with pytest.raises(ValueError, match=rf"xs contains id {V} at \[1, 2\]"):
        FL.TimeEmbedding(r(V, D)).forward(np.array([[0, 1, 2, 3], [0, 1, V, -4]]))
    with pytest.raises(ValueError, match=rf"\bt contains id {V} at \[1\]"):
        FL.SoftmaxWithLoss().forward(r(N, V), np.array([0, V]))


@pytest.mark.parametrize("call, exc, match", NAN_CASES)
def test_nan_and_inf_scores(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("call, exc, match", FORWARD_CASES)
def test_forward_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("call, exc, match", BACKWARD_CASES)
def test_backward_dout(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("call, exc, match", CONSTRUCTOR_CASES)
def test_constructor_params(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("call, exc, match", STATE_CASES)
def test_state_size(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_minus_inf_away_from_the_label_is_a_valid_score():
    """-inf at a position that is not the label is probability 0, not an error."""
    xs = scores_with(-np.inf)
    loss = FL.TimeSoftmaxWithLoss()
    assert np.isfinite(loss.forward(xs, np.full((N, T), 1)))
    assert np.all(np.isfinite(loss.backward()))


def test_valid_call_after_a_rejected_one():
    """A rejected call leaves the layer usable."""
    layer = lstm()
    with pytest.raises(ValueError):
        layer.forward(r(N, T, D + 1))
    hs = layer.forward(r(N, T, D))
    assert hs.shape == (N, T, H)
    assert layer.backward(r(N, T, H)).shape == (N, T, D)


# --------------------------------------------------------------------------- #
# parameters rebound by the user (layer.params[i] = other array)
# --------------------------------------------------------------------------- #
def _rebound(layer, i, value, which="params"):
    getattr(layer, which)[i] = value
    return layer


def _layers_with_params():
    """``name -> (build, forward inputs, dout for backward)`` of every layer with parameters."""
    return {
        "MatMul": (lambda: FL.MatMul(r(D, H)), lambda: (r(N, D),), r(N, H)),
        "Affine": (lambda: FL.Affine(r(D, H), r(H)), lambda: (r(N, D),), r(N, H)),
        "Embedding": (lambda: FL.Embedding(r(V, D)), lambda: (ids(N),), r(N, D)),
        "TimeEmbedding": (lambda: FL.TimeEmbedding(r(V, D)), lambda: (ids(N, T),), r(N, T, D)),
        "TimeAffine": (lambda: FL.TimeAffine(r(D, H), r(H)), lambda: (r(N, T, D),), r(N, T, H)),
        "TimeLSTM": (lambda: FL.TimeLSTM(*lstm_params()), lambda: (r(N, T, D),), r(N, T, H)),
        "TimeRNN": (
            lambda: FL.TimeRNN(r(D, H), r(H, H), r(H)),
            lambda: (r(N, T, D),),
            r(N, T, H),
        ),
        "TimeGRU": (
            lambda: FL.TimeGRU(r(D, 3 * H), r(H, 3 * H)),
            lambda: (r(N, T, D),),
            r(N, T, H),
        ),
        "LSTM": (
            lambda: FL.LSTM(*lstm_params()),
            lambda: (r(N, D), r(N, H), r(N, H)),
            (r(N, H), r(N, H)),
        ),
        "RNN": (lambda: FL.RNN(r(D, H), r(H, H), r(H)), lambda: (r(N, D), r(N, H)), r(N, H)),
        "GRU": (lambda: FL.GRU(r(D, 3 * H), r(H, 3 * H)), lambda: (r(N, D), r(N, H)), r(N, H)),
    }


REBIND = {
    "fewer-rows": (
        lambda p: np.zeros((max(p.shape[0] - 1, 1),) + p.shape[1:], p.dtype),
        ValueError,
    ),
    "more-rows": (lambda p: np.zeros((p.shape[0] + 1000,) + p.shape[1:], p.dtype), ValueError),
    "float32": (lambda p: p.astype(np.float32), TypeError),
    "list": (lambda p: p.tolist(), TypeError),
}


@pytest.mark.parametrize("how", list(REBIND))
@pytest.mark.parametrize("which", ["params", "grads"])
@pytest.mark.parametrize("name", list(_layers_with_params()))
def test_rebound_parameters_are_refused_by_forward_and_backward(name, which, how):
    """The README promises that parameter shapes that disagree raise: a rebound
    ``params[i]`` or ``grads[i]`` of another shape or dtype is refused before any kernel
    reads or writes outside the arrays."""
    build, inputs, dout = _layers_with_params()[name]
    make, exc = REBIND[how]
    for i in range(len(build().params)):
        layer = build()
        _rebound(layer, i, make(getattr(layer, which)[i]), which)
        match = rf"{name}\.{which}\[{i}\]"
        with pytest.raises(exc, match=match):
            layer.forward(*inputs())
        layer = build()
        layer.forward(*inputs())
        _rebound(layer, i, make(getattr(layer, which)[i]), which)
        with pytest.raises(exc, match=match):
            layer.backward(*(dout if isinstance(dout, tuple) else (dout,)))


def test_rebound_embedding_never_scatters_outside_its_gradient():
    """The probe's cases: a (10**6, 8) matrix used to end the process with SIGSEGV on
    ids near 10**6; a (5000, 3) one returned zeros and wrote past the gradient's end."""
    E = FL.TimeEmbedding(np.zeros((10, 8), np.float32))
    E.params[0] = np.zeros((10**6, 8), np.float32)
    with pytest.raises(ValueError, match=r"params\[0\] \(W\) has shape \(1000000, 8\).*\(10, 8\)"):
        E.forward(np.full((2, 3), 10**6 - 1))
    E = FL.TimeEmbedding(np.zeros((10, 3), np.float32))
    E.forward(np.zeros((2, 3), dtype=int))
    E.params[0] = np.zeros((5000, 3), np.float32)
    with pytest.raises(ValueError, match=r"in place"):
        E.backward(np.ones((2, 3, 3), np.float32))


def test_rebound_lstm_weights_never_give_numbers():
    lstm_ = FL.TimeLSTM(*lstm_params(np.float32))
    lstm_.params[0] = r(D - 1, 4 * H, dtype=np.float32)  # fewer rows: finite wrong numbers
    with pytest.raises(ValueError, match=r"TimeLSTM\.params\[0\] \(Wx\) has shape"):
        lstm_.forward(r(N, T, D, dtype=np.float32))
    lstm_ = FL.TimeLSTM(*lstm_params(np.float32))
    lstm_.params[1] = r(H + 1, 4 * (H + 1), dtype=np.float32)  # another H: non-finite
    with pytest.raises(ValueError, match=r"params\[1\] \(Wh\)"):
        lstm_.forward(r(N, T, D, dtype=np.float32))
    lstm_ = FL.TimeLSTM(*lstm_params(np.float32))
    lstm_.params[0] = lstm_.params[0].astype(np.float64)  # numba's TypingError before
    with pytest.raises(TypeError, match=r"params\[0\] \(Wx\) has dtype float64.*float32"):
        lstm_.forward(r(N, T, D, dtype=np.float32))


def test_values_assigned_in_place_are_used():
    layer = FL.Affine(r(D, H), r(H))
    new = r(D, H)
    layer.params[0][...] = new
    x = r(N, D)
    np.testing.assert_allclose(layer.forward(x), x @ new + layer.params[1])
    layer.params[0] = new.copy()  # rebinding to the same shape and dtype is fine too
    np.testing.assert_allclose(layer.forward(x), x @ new + layer.params[1])


def test_bilstm_refuses_rebound_lists():
    p = lstm_params()
    bi = FL.TimeBiLSTM(*p, *lstm_params())
    bi.params[0] = p[0].copy()  # the inner LSTM would never see it
    with pytest.raises(ValueError, match=r"TimeBiLSTM\.params was rebound"):
        bi.forward(r(N, T, D))


@pytest.mark.parametrize(
    "make", [FL.Sigmoid, lambda: FL.Dropout(0.5, rng=np.random.default_rng(0))]
)
def test_zero_dimensional_input_keeps_its_shape(make):
    layer = make()
    y = layer.forward(np.float32(0.3))
    assert np.shape(y) == ()
    assert np.shape(layer.backward(np.float32(1.0))) == ()


def test_the_output_layers_nan_names_the_scores_not_the_ids():

    m = FM.Rnnlm(7, 4, 6, seed=1)
    m.params[1][0, 0] = np.nan  # an LSTM weight: the ids are fine
    with pytest.raises(ValueError, match=r"the scores x @ W \+ b contains NaN or inf"):
        m.forward(np.zeros((2, 3), dtype=int), np.zeros((2, 3), dtype=int))


@pytest.mark.parametrize(
    "name", ["Seq2seq", "PeekySeq2seq", "AttentionSeq2seq", "AttentionBiSeq2seq"]
)
def test_seq2seq_questions_and_answers_must_be_as_many(name):

    m = getattr(FM, name)(V, 4, 6, seed=0)
    with pytest.raises(ValueError, match=r"xs holds 2 questions \(shape \(2, 5\)\) but 3 answers"):
        m.forward(np.zeros((2, 5), dtype=int), np.zeros((3, 4), dtype=int))
    with pytest.raises(ValueError, match=r"one question given as a row.*got shape \(5,\)"):
        m.generate(np.arange(5), 0, 3)


@pytest.mark.parametrize("make", [FL.Dropout, FL.TimeDropout])
def test_a_training_backward_after_an_evaluation_forward_is_refused(make):
    """The mask of an earlier training forward is not used once a forward ran outside training
    (it belonged to other inputs, of another shape here)."""
    layer = make(0.5, rng=np.random.default_rng(0))
    layer.forward(r(N, T, H))  # training: draws a mask
    if make is FL.Dropout:
        layer.forward(r(N + 1, H), False)  # the book's Dropout takes the mode as an argument
    else:
        layer.train_flg = False
        layer.forward(r(N + 1, H))
    layer.train_flg = True
    with pytest.raises(RuntimeError, match="the last forward ran outside training"):
        layer.backward(r(N, T, H))
    with pytest.raises(RuntimeError, match="call forward first"):
        make(0.5).backward(r(N, T, H))


def test_time_bilstm_directions_must_read_the_same_inputs():
    p = lstm_params()
    with pytest.raises(ValueError, match=r"different sizes: Wx1 has D = 3, Wx2 D = 4"):
        FL.TimeBiLSTM(*p, r(D + 1, 4 * H), r(H, 4 * H), r(4 * H))
    with pytest.raises(TypeError, match="share one dtype, got float64 .* and float32"):
        FL.TimeBiLSTM(*p, *lstm_params(np.float32))


def test_an_int_in_place_of_the_gru_bias_names_stateful():
    with pytest.raises(TypeError, match="pass stateful by name"):
        FL.TimeGRU(r(D, 3 * H), r(H, 3 * H), 1)
