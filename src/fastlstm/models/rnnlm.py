"""Language models of the book (ch05-ch07) on the fast layers.

Class names, constructor signatures and the order of ``params`` follow the
book, so its scripts and saved parameter files work unchanged.  Every
constructor also takes keyword-only

* ``seed=None``: the source of the weights, drawn with
  ``rng.standard_normal(shape)`` (float64) in the book's order, scaled as the
  book and cast; zero biases draw nothing.  ``None`` (the default) draws from
  NumPy's global random state exactly as the book's ``np.random.randn`` calls,
  so ``np.random.seed(n)`` beforehand repeats the book's weights; an int seeds
  ``np.random.default_rng``; a ``Generator`` or ``RandomState`` is used as is.
  ``BetterRnnlm`` then hands the same generator to its dropout layers.  The
  same seed gives the same parameters as :mod:`reference.models`.
* ``dtype=np.float32``: the parameters' dtype (``np.float64`` for gradient checks).
"""

from __future__ import annotations

import numpy as np

from fastlstm.layers import (
    TimeAffine,
    TimeDropout,
    TimeEmbedding,
    TimeLSTM,
    TimeRNN,
    TimeSoftmaxWithLoss,
)
from fastlstm.layers._checks import _check_kept_states
from fastlstm.layers.time import _affine_loss_backward, _affine_loss_forward
from fastlstm.models.base import BaseModel, _check_dtype, _check_sizes, _collect, _randn, as_rng
from fastlstm.models.sampling import LanguageModelSampler

__all__ = ["SimpleRnnlm", "Rnnlm", "BetterRnnlm", "RnnlmGen", "BetterRnnlmGen"]


class _LanguageModel(BaseModel):
    """Shared ``predict`` / ``forward`` / ``backward`` of the layer-list models."""

    def predict(self, xs):
        """Scores of the next word.

        Parameters
        ----------
        xs : ndarray (N, T) int
            Word ids.

        Returns
        -------
        ndarray (N, T, V)
        """
        self._check_states(xs)
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def _check_states(self, xs):
        """Refuse ``xs`` before any layer runs if a kept state is for another batch size.

        A layer that ran before the LSTM refused it would have recorded ``xs``
        already (and the dropout layers switched mode), so a ``backward`` still due
        for the previous ``forward`` would then fail.
        """
        if np.ndim(xs) == 2:  # else the first layer refuses xs
            for layer in self.layers:
                _check_kept_states(layer, np.shape(xs)[0])

    def forward(self, xs, ts):
        """Mean cross-entropy loss of predicting the next words.

        Parameters
        ----------
        xs : ndarray of int, (N, T)
            Input word ids.
        ts : ndarray of int, (N, T)
            Target word ids (the next word of every position).

        Returns
        -------
        float
            The mean loss over the ``N * T`` positions.

        Raises
        ------
        ValueError
            If an id is out of range or the shapes disagree.
        """
        self._check_states(xs)
        return self._loss(xs, ts)

    def _loss(self, xs, ts):
        """The layers, then the output layer and the loss in one pass over the scores.

        The callers have checked the kept states (:meth:`_check_states`).
        """
        for layer in self.layers[:-1]:
            xs = layer.forward(xs)
        return _affine_loss_forward(self.layers[-1], self.loss_layer, xs, ts)

    def backward(self, dout=1):
        """Fill ``grads`` (in place) for the last ``forward``.

        Parameters
        ----------
        dout : float, default 1
            Gradient of the final loss with respect to the model's loss.

        Returns
        -------
        None
            Ids have no gradient.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called.
        """
        dout = _affine_loss_backward(self.layers[-1], self.loss_layer, dout)
        for layer in reversed(self.layers[:-1]):
            dout = layer.backward(dout)
        return dout


class SimpleRnnlm(_LanguageModel):
    """Embedding - RNN - Affine language model (ch05).

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int
        ``V``, ``D``, ``H``.
    seed : int, numpy.random.Generator, numpy.random.RandomState or None
        Initialisation seed (keyword only); None draws from NumPy's
        global random state, as the book's ``np.random.randn``.
    dtype : float32 or float64
        Parameter dtype (keyword only).

    Notes
    -----
    ``params``: ``embed_W (V, D)``, ``rnn_Wx (D, H)``, ``rnn_Wh (H, H)``, ``rnn_b (H,)``,
    ``affine_W (H, V)``, ``affine_b (V,)``.
    """

    def __init__(self, vocab_size, wordvec_size, hidden_size, *, seed=None, dtype=np.float32):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        dtype = _check_dtype(dtype)
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = as_rng(seed)

        embed_W = _randn(rng, (V, D), 100, dtype)
        rnn_Wx = _randn(rng, (D, H), np.sqrt(D), dtype)
        rnn_Wh = _randn(rng, (H, H), np.sqrt(H), dtype)
        rnn_b = np.zeros(H, dtype=dtype)
        affine_W = _randn(rng, (H, V), np.sqrt(H), dtype)
        affine_b = np.zeros(V, dtype=dtype)

        self.layers = [
            TimeEmbedding(embed_W),
            TimeRNN(rnn_Wx, rnn_Wh, rnn_b, stateful=True),
            TimeAffine(affine_W, affine_b),
        ]
        self.loss_layer = TimeSoftmaxWithLoss()
        self.rnn_layer = self.layers[1]
        self.params, self.grads = _collect(self.layers)
        self._set_config(vocab_size=V, wordvec_size=D, hidden_size=H, dtype=dtype)

    def reset_state(self):
        """Forget the RNN's hidden state."""
        self.rnn_layer.reset_state()


class Rnnlm(LanguageModelSampler, _LanguageModel):
    """Embedding - LSTM - Affine language model (ch06), with fast :meth:`generate`.

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int, default 10000, 100, 100
        ``V``, ``D``, ``H``.
    seed : int, numpy.random.Generator, numpy.random.RandomState or None
        Initialisation seed (keyword only); None draws from NumPy's
        global random state, as the book's ``np.random.randn``.
    dtype : float32 or float64
        Parameter dtype (keyword only).

    Notes
    -----
    ``params``: ``embed_W (V, D)``, ``lstm_Wx (D, 4H)``, ``lstm_Wh (H, 4H)``,
    ``lstm_b (4H,)``, ``affine_W (H, V)``, ``affine_b (V,)``.
    """

    def __init__(
        self, vocab_size=10000, wordvec_size=100, hidden_size=100, *, seed=None, dtype=np.float32
    ):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        dtype = _check_dtype(dtype)
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = as_rng(seed)

        embed_W = _randn(rng, (V, D), 100, dtype)
        lstm_Wx = _randn(rng, (D, 4 * H), np.sqrt(D), dtype)
        lstm_Wh = _randn(rng, (H, 4 * H), np.sqrt(H), dtype)
        lstm_b = np.zeros(4 * H, dtype=dtype)
        affine_W = _randn(rng, (H, V), np.sqrt(H), dtype)
        affine_b = np.zeros(V, dtype=dtype)

        self.layers = [
            TimeEmbedding(embed_W),
            TimeLSTM(lstm_Wx, lstm_Wh, lstm_b, stateful=True),
            TimeAffine(affine_W, affine_b),
        ]
        self.loss_layer = TimeSoftmaxWithLoss()
        self.lstm_layer = self.layers[1]
        self.params, self.grads = _collect(self.layers)
        self._set_config(vocab_size=V, wordvec_size=D, hidden_size=H, dtype=dtype)

    def reset_state(self):
        """Forget the LSTM's ``h`` and ``c``."""
        self.lstm_layer.reset_state()


class BetterRnnlm(LanguageModelSampler, _LanguageModel):
    """Two-layer LSTM language model with dropout and weight tying (ch06), fast :meth:`generate`.

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int, default 10000, 650, 650
        ``V``, ``D``, ``H``; weight tying needs ``wordvec_size == hidden_size``.
    dropout_ratio : float, default 0.5
        Ratio of the three :class:`~fastlstm.layers.TimeDropout` layers.
    seed : int, numpy.random.Generator, numpy.random.RandomState or None
        Seed of the one generator used for initialisation and then, in layer
        order, by the dropout layers (keyword only); None uses NumPy's global
        random state for both, as the book's ``np.random.randn`` / ``np.random.rand``.
    dtype : float32 or float64
        Parameter dtype (keyword only).

    Notes
    -----
    ``params`` as the book: ``embed_W``, ``Wx1``, ``Wh1``, ``b1``, ``Wx2``, ``Wh2``,
    ``b2``, ``embed_W.T`` (a view of the embedding: tied), ``affine_b``.  Use
    :func:`fastlstm.optim.unique_params` to merge the tied gradients.
    """

    def __init__(
        self,
        vocab_size=10000,
        wordvec_size=650,
        hidden_size=650,
        dropout_ratio=0.5,
        *,
        seed=None,
        dtype=np.float32,
    ):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        dtype = _check_dtype(dtype)
        if wordvec_size != hidden_size:
            raise ValueError(
                "BetterRnnlm ties the embedding to the output layer, so wordvec_size "
                f"({wordvec_size}) must equal hidden_size ({hidden_size})"
            )
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = as_rng(seed)

        embed_W = _randn(rng, (V, D), 100, dtype)
        lstm_Wx1 = _randn(rng, (D, 4 * H), np.sqrt(D), dtype)
        lstm_Wh1 = _randn(rng, (H, 4 * H), np.sqrt(H), dtype)
        lstm_b1 = np.zeros(4 * H, dtype=dtype)
        lstm_Wx2 = _randn(rng, (H, 4 * H), np.sqrt(H), dtype)
        lstm_Wh2 = _randn(rng, (H, 4 * H), np.sqrt(H), dtype)
        lstm_b2 = np.zeros(4 * H, dtype=dtype)
        affine_b = np.zeros(V, dtype=dtype)

        self.layers = [
            TimeEmbedding(embed_W),
            TimeDropout(dropout_ratio, rng=rng),
            TimeLSTM(lstm_Wx1, lstm_Wh1, lstm_b1, stateful=True),
            TimeDropout(dropout_ratio, rng=rng),
            TimeLSTM(lstm_Wx2, lstm_Wh2, lstm_b2, stateful=True),
            TimeDropout(dropout_ratio, rng=rng),
            TimeAffine(embed_W.T, affine_b),  # weight tying
        ]
        self.loss_layer = TimeSoftmaxWithLoss()
        self.lstm_layers = [self.layers[2], self.layers[4]]
        self.drop_layers = [self.layers[1], self.layers[3], self.layers[5]]
        self.params, self.grads = _collect(self.layers)
        self._set_config(
            vocab_size=V,
            wordvec_size=D,
            hidden_size=H,
            dropout_ratio=float(dropout_ratio),
            dtype=dtype,
        )

    def predict(self, xs, train_flg=False):
        """Scores of the next word; dropout only if ``train_flg``.

        Parameters
        ----------
        xs : ndarray of int, (N, T)
            Word ids.
        train_flg : bool, default False
            Apply the dropout layers (training) or not (evaluation).

        Returns
        -------
        ndarray, (N, T, V)
            Scores (before the softmax).

        Raises
        ------
        ValueError
            If an id is out of range.
        """
        self._check_states(xs)
        self._dropout(train_flg)
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def forward(self, xs, ts, train_flg=True):
        """Mean loss of predicting ``ts`` from ``xs`` (dropout on by default, as the book).

        Parameters
        ----------
        xs : ndarray of int, (N, T)
            Input word ids.
        ts : ndarray of int, (N, T)
            Target word ids.
        train_flg : bool, default True
            Apply the dropout layers.

        Returns
        -------
        float
            The mean loss over the ``N * T`` positions.

        Raises
        ------
        ValueError
            If an id is out of range or the shapes disagree.
        """
        self._check_states(xs)
        self._dropout(train_flg)
        return self._loss(xs, ts)

    def _dropout(self, train_flg):
        """Switch the dropout layers on (training) or off."""
        for layer in self.drop_layers:
            layer.train_flg = train_flg

    def reset_state(self):
        """Forget both LSTMs' states."""
        for layer in self.lstm_layers:
            layer.reset_state()


class RnnlmGen(Rnnlm):
    """:class:`Rnnlm` that generates text (the book's ch07 ``rnnlm_gen.py``).

    :meth:`generate` and :meth:`prime` come from :class:`Rnnlm`.

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int, default 10000, 100, 100
        ``V``, ``D``, ``H``.
    seed : int, numpy.random.Generator, numpy.random.RandomState or None
        Initialisation seed (keyword only); None draws from NumPy's global random state.
    dtype : float32 or float64
        Parameter dtype (keyword only).
    """

    def get_state(self):
        """The LSTM's state, to continue generating later from here.

        Returns
        -------
        h, c : ndarray, (N, H) or None
            Hidden and cell state.
        """
        return self.lstm_layer.h, self.lstm_layer.c

    def set_state(self, state):
        """Restore a state returned by :meth:`get_state`.

        Parameters
        ----------
        state : tuple of ndarray
            ``(h, c)``, each ``(N, H)``.
        """
        self.lstm_layer.set_state(*state)


class BetterRnnlmGen(BetterRnnlm):
    """:class:`BetterRnnlm` that generates text (the book's ch07 ``rnnlm_gen.py``).

    :meth:`generate` and :meth:`prime` come from :class:`BetterRnnlm`.

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int, default 10000, 650, 650
        ``V``, ``D``, ``H``; weight tying needs ``wordvec_size == hidden_size``.
    dropout_ratio : float, default 0.5
        Ratio of the three dropout layers.
    seed : int, numpy.random.Generator, numpy.random.RandomState or None
        Seed of the initialisation and the dropout masks (keyword only); None uses NumPy's
        global random state.
    dtype : float32 or float64
        Parameter dtype (keyword only).
    """

    def get_state(self):
        """Both LSTMs' states, to continue generating later from here.

        Returns
        -------
        list of tuple
            ``[(h1, c1), (h2, c2)]``, each ``(N, H)`` or None.
        """
        return [(layer.h, layer.c) for layer in self.lstm_layers]

    def set_state(self, states):
        """Restore the states returned by :meth:`get_state`.

        Parameters
        ----------
        states : list of tuple
            ``[(h1, c1), (h2, c2)]``, each ``(N, H)``.
        """
        for layer, state in zip(self.lstm_layers, states, strict=True):
            layer.set_state(*state)
