"""Book-compatible layers backed by numba kernels.

The classes here have the names, constructor signatures, attributes and
parameter layouts of the book's ``common/layers.py`` and
``common/time_layers.py``: each holds ``params`` and ``grads`` lists, exposes
``forward`` and ``backward``, and writes gradients in place into arrays that
are allocated once and never rebound.  Code written for the book runs on them
by changing its imports.

What differs is how the work is done: recurrent layers run the whole sequence
in one compiled kernel, input projections and weight gradients are
whole-sequence matrix products, and embedding, softmax-loss and attention use
fused kernels.  Every layer is tested against the plain NumPy
:mod:`reference` for outputs and every gradient.

The dtype of a layer is the dtype of its parameters (float32, as in the book,
or float64).  Float inputs are cast to it; ids must be integer arrays.  NaN
and inf in inputs or weights propagate as in the book's NumPy code (no layer
pays a pass over its inputs to look for them); the loss layers refuse scores
that hold them, naming the array.

The package holds one idea per module: :mod:`~fastlstm.layers.basic` (the
plain layers), :mod:`~fastlstm.layers.lstm` (LSTM, TimeLSTM, TimeBiLSTM),
:mod:`~fastlstm.layers.rnn` (RNN, GRU and their sequence versions),
:mod:`~fastlstm.layers.time` (the time-distributed layers),
:mod:`~fastlstm.layers.attention`; the checks of inputs, the matrix products
and the recurrent layers' common base sit in ``_checks``, ``_products`` and
``_recurrent``.
"""

from fastlstm.layers._checks import NonFiniteScores  # noqa: F401  (the loss layers' NaN error)
from fastlstm.layers.attention import Attention, AttentionWeight, TimeAttention, WeightSum
from fastlstm.layers.basic import (
    Affine,
    Dropout,
    Embedding,
    MatMul,
    Sigmoid,
    Softmax,
    SoftmaxWithLoss,
)
from fastlstm.layers.lstm import LSTM, TimeBiLSTM, TimeLSTM
from fastlstm.layers.rnn import GRU, RNN, TimeGRU, TimeRNN
from fastlstm.layers.time import TimeAffine, TimeDropout, TimeEmbedding, TimeSoftmaxWithLoss

__all__ = [
    "MatMul",
    "Affine",
    "Softmax",
    "SoftmaxWithLoss",
    "Sigmoid",
    "Dropout",
    "Embedding",
    "RNN",
    "TimeRNN",
    "LSTM",
    "TimeLSTM",
    "GRU",
    "TimeGRU",
    "TimeBiLSTM",
    "TimeEmbedding",
    "TimeAffine",
    "TimeSoftmaxWithLoss",
    "TimeDropout",
    "WeightSum",
    "AttentionWeight",
    "Attention",
    "TimeAttention",
]
