"""Models of the book (ch05-ch08) built from :mod:`reference.layers`.

Class names, constructor signatures and the order of ``params`` follow the book, so the
book's saved parameter lists line up.  Each constructor also takes

* ``seed=None`` - passed to :func:`numpy.random.default_rng`; the weights are drawn from
  that one generator with ``rng.standard_normal(shape)`` (float64) in the book's order
  and scaled as the book, then cast.  Biases are zeros and draw nothing.  A ``Generator``
  may be passed too and is used as is, and so is a legacy ``RandomState`` (it draws what
  the book's ``np.random.randn`` draws from the same state).  ``BetterRnnlm`` hands the same generator, after
  initialisation, to its three dropout layers (in layer order).
* ``dtype=np.float32`` (keyword only) - the parameters' dtype; use ``np.float64`` for
  gradient checks.
"""

import numpy as np

from reference.functions import softmax
from reference.layers import (
    TimeAffine,
    TimeAttention,
    TimeBiLSTM,
    TimeDropout,
    TimeEmbedding,
    TimeLSTM,
    TimeRNN,
    TimeSoftmaxWithLoss,
)

__all__ = [
    "SimpleRnnlm",
    "Rnnlm",
    "BetterRnnlm",
    "RnnlmGen",
    "BetterRnnlmGen",
    "Encoder",
    "Decoder",
    "Seq2seq",
    "PeekyDecoder",
    "PeekySeq2seq",
    "AttentionEncoder",
    "AttentionDecoder",
    "AttentionSeq2seq",
    "AttentionBiEncoder",
    "AttentionBiSeq2seq",
]


def _rng(seed):
    """A ``RandomState`` as is, anything else through ``np.random.default_rng``."""
    if isinstance(seed, np.random.RandomState):
        return seed
    return np.random.default_rng(seed)


def _randn(rng, shape, scale, dtype):
    """``rng.standard_normal(shape) / scale`` cast to ``dtype`` (book init)."""
    return (rng.standard_normal(shape) / scale).astype(dtype)


def _check_sizes(**sizes):
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _collect(layers):
    """The book's ``params``/``grads`` lists: every layer's lists, in layer order."""
    params, grads = [], []
    for layer in layers:
        params += layer.params
        grads += layer.grads
    return params, grads


# --------------------------------------------------------------------------- #
# language models (ch05, ch06, ch07)
# --------------------------------------------------------------------------- #
class _LayerStackLM:
    """What the book's language models share: layers run in order, then the loss."""

    def predict(self, xs):
        """``xs (N, T)`` ids ``-> scores (N, T, V)``."""
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def forward(self, xs, ts):
        """``xs``, ``ts (N, T)`` ids ``-> mean loss``."""
        return self.loss_layer.forward(self.predict(xs), ts)

    def backward(self, dout=1):
        """Fill ``grads``; returns None (the embedding's input gradient)."""
        dout = self.loss_layer.backward(dout)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout


class SimpleRnnlm(_LayerStackLM):
    """Embedding - RNN - Affine language model (ch05).

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int
        ``V``, ``D``, ``H``.
    seed : int, Generator or None
        Initialisation seed.

    Notes
    -----
    ``params``: ``embed_W (V, D)``, ``rnn_Wx (D, H)``, ``rnn_Wh (H, H)``, ``rnn_b (H,)``,
    ``affine_W (H, V)``, ``affine_b (V,)``.
    """

    def __init__(self, vocab_size, wordvec_size, hidden_size, seed=None, *, dtype=np.float32):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = _rng(seed)

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

    def reset_state(self):
        """Forget the RNN's hidden state."""
        self.rnn_layer.reset_state()


class Rnnlm(_LayerStackLM):
    """Embedding - LSTM - Affine language model (ch06).

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int, default 10000, 100, 100
        ``V``, ``D``, ``H``.
    seed : int, Generator or None
        Initialisation seed.

    Notes
    -----
    ``params``: ``embed_W (V, D)``, ``lstm_Wx (D, 4H)``, ``lstm_Wh (H, 4H)``,
    ``lstm_b (4H,)``, ``affine_W (H, V)``, ``affine_b (V,)``.
    """

    def __init__(
        self, vocab_size=10000, wordvec_size=100, hidden_size=100, seed=None, *, dtype=np.float32
    ):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = _rng(seed)

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

    def reset_state(self):
        """Forget the LSTM's ``h`` and ``c``."""
        self.lstm_layer.reset_state()


class BetterRnnlm(_LayerStackLM):
    """Two-layer LSTM language model with dropout and weight tying (ch06).

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int, default 10000, 650, 650
        ``V``, ``D``, ``H``.  Weight tying needs ``wordvec_size == hidden_size``.
    dropout_ratio : float, default 0.5
        Ratio of the three :class:`~reference.layers.TimeDropout` layers.
    seed : int, Generator or None
        Seed of the one generator used for initialisation and then, in layer order,
        by the dropout layers.

    Notes
    -----
    ``params`` as the book: ``embed_W``, ``Wx1``, ``Wh1``, ``b1``, ``Wx2``, ``Wh2``,
    ``b2``, ``embed_W.T`` (a view of the embedding, tied), ``affine_b``.
    """

    def __init__(
        self,
        vocab_size=10000,
        wordvec_size=650,
        hidden_size=650,
        dropout_ratio=0.5,
        seed=None,
        *,
        dtype=np.float32,
    ):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        if wordvec_size != hidden_size:
            raise ValueError(
                "BetterRnnlm ties the embedding to the output layer, so wordvec_size "
                f"({wordvec_size}) must equal hidden_size ({hidden_size})"
            )
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = _rng(seed)

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

    def predict(self, xs, train_flg=False):
        """``xs (N, T)`` ids ``-> scores (N, T, V)``; dropout only if ``train_flg``."""
        for layer in self.drop_layers:
            layer.train_flg = train_flg
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def forward(self, xs, ts, train_flg=True):
        """``xs``, ``ts (N, T)`` ids ``-> mean loss`` (dropout on by default, as the book)."""
        score = self.predict(xs, train_flg)
        return self.loss_layer.forward(score, ts)

    def reset_state(self):
        """Forget both LSTMs' states."""
        for layer in self.lstm_layers:
            layer.reset_state()


def _sample(score, rng, skip_ids):
    """Draw one id from ``softmax(score)``; None if it is in ``skip_ids``.

    The probabilities are computed in float64 and drawn with
    ``rng.choice(V, size=1, p=p)``.
    """
    p = softmax(np.asarray(score, dtype=np.float64).flatten())
    sampled = int(rng.choice(len(p), size=1, p=p)[0])
    if skip_ids is not None and sampled in skip_ids:
        return None
    return sampled


class RnnlmGen(Rnnlm):
    """:class:`Rnnlm` that generates text (ch07 ``rnnlm_gen.py``)."""

    def generate(self, start_id, skip_ids=None, sample_size=100, rng=None):
        """Sample word ids one at a time, starting from ``start_id``.

        Parameters
        ----------
        start_id : int
            First word id (part of the result).
        skip_ids : sequence of int, optional
            Ids that are never emitted (a draw of one is repeated).
        sample_size : int, default 100
            Length of the result.
        rng : numpy.random.Generator, optional
            Source of the draws (default ``np.random.default_rng()``).

        Returns
        -------
        list of int
        """
        rng = np.random.default_rng() if rng is None else rng
        word_ids = [int(start_id)]
        x = int(start_id)
        while len(word_ids) < sample_size:
            score = self.predict(np.array(x).reshape(1, 1))
            sampled = _sample(score, rng, skip_ids)
            if sampled is not None:
                x = sampled
                word_ids.append(x)
        return word_ids

    def get_state(self):
        """``(h, c)`` of the LSTM."""
        return self.lstm_layer.h, self.lstm_layer.c

    def set_state(self, state):
        """Restore ``(h, c)`` from :meth:`get_state`."""
        self.lstm_layer.set_state(*state)


class BetterRnnlmGen(BetterRnnlm):
    """:class:`BetterRnnlm` that generates text (ch07 ``rnnlm_gen.py``)."""

    def generate(self, start_id, skip_ids=None, sample_size=100, rng=None):
        """Sample word ids one at a time (dropout off); see :meth:`RnnlmGen.generate`."""
        rng = np.random.default_rng() if rng is None else rng
        word_ids = [int(start_id)]
        x = int(start_id)
        while len(word_ids) < sample_size:
            score = self.predict(np.array(x).reshape(1, 1))
            sampled = _sample(score, rng, skip_ids)
            if sampled is not None:
                x = sampled
                word_ids.append(x)
        return word_ids

    def get_state(self):
        """List of ``(h, c)`` of both LSTMs."""
        return [(layer.h, layer.c) for layer in self.lstm_layers]

    def set_state(self, states):
        """Restore the states from :meth:`get_state`."""
        for layer, state in zip(self.lstm_layers, states, strict=True):
            layer.set_state(*state)


# --------------------------------------------------------------------------- #
# seq2seq (ch07)
# --------------------------------------------------------------------------- #
class Encoder:
    """Embedding - LSTM encoder; returns the last hidden state.

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int
        ``V``, ``D``, ``H``.
    seed : int, Generator or None
        Initialisation seed.

    Notes
    -----
    ``params``: ``embed_W (V, D)``, ``lstm_Wx (D, 4H)``, ``lstm_Wh (H, 4H)``, ``lstm_b (4H,)``.
    """

    def __init__(self, vocab_size, wordvec_size, hidden_size, seed=None, *, dtype=np.float32):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = _rng(seed)

        embed_W = _randn(rng, (V, D), 100, dtype)
        lstm_Wx = _randn(rng, (D, 4 * H), np.sqrt(D), dtype)
        lstm_Wh = _randn(rng, (H, 4 * H), np.sqrt(H), dtype)
        lstm_b = np.zeros(4 * H, dtype=dtype)

        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeLSTM(lstm_Wx, lstm_Wh, lstm_b, stateful=False)
        self.params = self.embed.params + self.lstm.params
        self.grads = self.embed.grads + self.lstm.grads
        self.hs = None

    def forward(self, xs):
        """``xs (N, T)`` ids ``-> h (N, H)``, the last hidden state."""
        xs = self.embed.forward(xs)
        hs = self.lstm.forward(xs)
        self.hs = hs
        return hs[:, -1, :]

    def backward(self, dh):
        """``dh (N, H)`` -> fills ``grads``; returns None."""
        dhs = np.zeros_like(self.hs)
        dhs[:, -1, :] = dh
        dout = self.lstm.backward(dhs)
        return self.embed.backward(dout)


class Decoder:
    """Embedding - LSTM - Affine decoder started from the encoder's state.

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int
        ``V``, ``D``, ``H``.
    seed : int, Generator or None
        Initialisation seed.

    Notes
    -----
    ``params``: ``embed_W (V, D)``, ``lstm_Wx (D, 4H)``, ``lstm_Wh (H, 4H)``,
    ``lstm_b (4H,)``, ``affine_W (H, V)``, ``affine_b (V,)``.
    """

    def __init__(self, vocab_size, wordvec_size, hidden_size, seed=None, *, dtype=np.float32):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = _rng(seed)

        embed_W = _randn(rng, (V, D), 100, dtype)
        lstm_Wx = _randn(rng, (D, 4 * H), np.sqrt(D), dtype)
        lstm_Wh = _randn(rng, (H, 4 * H), np.sqrt(H), dtype)
        lstm_b = np.zeros(4 * H, dtype=dtype)
        affine_W = _randn(rng, (H, V), np.sqrt(H), dtype)
        affine_b = np.zeros(V, dtype=dtype)

        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeLSTM(lstm_Wx, lstm_Wh, lstm_b, stateful=True)
        self.affine = TimeAffine(affine_W, affine_b)
        self.params, self.grads = _collect((self.embed, self.lstm, self.affine))

    def forward(self, xs, h):
        """``xs (N, T)`` ids, ``h (N, H)`` ``-> scores (N, T, V)``."""
        self.lstm.set_state(h)
        out = self.embed.forward(xs)
        out = self.lstm.forward(out)
        return self.affine.forward(out)

    def backward(self, dscore):
        """``dscore (N, T, V) -> dh (N, H)``; fills ``grads``."""
        dout = self.affine.backward(dscore)
        dout = self.lstm.backward(dout)
        self.embed.backward(dout)
        return self.lstm.dh

    def generate(self, h, start_id, sample_size):
        """Greedy decoding of ``sample_size`` ids from state ``h (1, H)``."""
        sampled = []
        sample_id = start_id
        self.lstm.set_state(h)
        for _ in range(sample_size):
            x = np.array(sample_id).reshape((1, 1))
            out = self.embed.forward(x)
            out = self.lstm.forward(out)
            score = self.affine.forward(out)
            sample_id = int(np.argmax(score.flatten()))
            sampled.append(sample_id)
        return sampled


class Seq2seq:
    """Encoder-decoder model (ch07).

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int
        ``V``, ``D``, ``H``.
    seed : int, Generator or None
        Initialisation seed (encoder drawn first, then decoder, from one generator).

    Notes
    -----
    ``params = encoder.params + decoder.params``.
    """

    def __init__(self, vocab_size, wordvec_size, hidden_size, seed=None, *, dtype=np.float32):
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = _rng(seed)
        self.encoder = Encoder(V, D, H, rng, dtype=dtype)
        self.decoder = Decoder(V, D, H, rng, dtype=dtype)
        self.softmax = TimeSoftmaxWithLoss()
        self.params = self.encoder.params + self.decoder.params
        self.grads = self.encoder.grads + self.decoder.grads

    def forward(self, xs, ts):
        """``xs (N, Te)``, ``ts (N, Td + 1)`` ids ``-> mean loss`` (teacher forcing)."""
        ts = np.asarray(ts)
        if ts.ndim != 2 or ts.shape[1] < 2:
            raise ValueError(f"ts must be (N, T) with T >= 2, got shape {ts.shape}")
        decoder_xs, decoder_ts = ts[:, :-1], ts[:, 1:]
        h = self.encoder.forward(xs)
        score = self.decoder.forward(decoder_xs, h)
        return self.softmax.forward(score, decoder_ts)

    def backward(self, dout=1):
        """Fill ``grads``; returns None."""
        dout = self.softmax.backward(dout)
        dh = self.decoder.backward(dout)
        return self.encoder.backward(dh)

    def generate(self, xs, start_id, sample_size):
        """Greedy answer ``list of int`` to one question ``xs (1, Te)``."""
        xs = np.asarray(xs)
        if xs.ndim != 2 or xs.shape[0] != 1:
            raise ValueError(f"xs must be one question of shape (1, T), got {xs.shape}")
        h = self.encoder.forward(xs)
        return self.decoder.generate(h, start_id, sample_size)


class PeekyDecoder:
    """Decoder that feeds the encoder's state to the LSTM and the Affine at every step.

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int
        ``V``, ``D``, ``H``.
    seed : int, Generator or None
        Initialisation seed.

    Notes
    -----
    ``params``: ``embed_W (V, D)``, ``lstm_Wx (H + D, 4H)``, ``lstm_Wh (H, 4H)``,
    ``lstm_b (4H,)``, ``affine_W (2H, V)``, ``affine_b (V,)``.
    """

    def __init__(self, vocab_size, wordvec_size, hidden_size, seed=None, *, dtype=np.float32):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = _rng(seed)

        embed_W = _randn(rng, (V, D), 100, dtype)
        lstm_Wx = _randn(rng, (H + D, 4 * H), np.sqrt(H + D), dtype)
        lstm_Wh = _randn(rng, (H, 4 * H), np.sqrt(H), dtype)
        lstm_b = np.zeros(4 * H, dtype=dtype)
        affine_W = _randn(rng, (H + H, V), np.sqrt(H + H), dtype)
        affine_b = np.zeros(V, dtype=dtype)

        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeLSTM(lstm_Wx, lstm_Wh, lstm_b, stateful=True)
        self.affine = TimeAffine(affine_W, affine_b)
        self.params, self.grads = _collect((self.embed, self.lstm, self.affine))
        self.cache = None

    def forward(self, xs, h):
        """``xs (N, T)`` ids, ``h (N, H)`` ``-> scores (N, T, V)``."""
        N, T = np.shape(xs)
        N, H = h.shape

        self.lstm.set_state(h)
        out = self.embed.forward(xs)  # (N, T, D)
        hs = np.repeat(h, T, axis=0).reshape(N, T, H)
        out = np.concatenate((hs, out), axis=2)  # (N, T, H + D)
        out = self.lstm.forward(out)
        out = np.concatenate((hs, out), axis=2)  # (N, T, 2H)
        score = self.affine.forward(out)
        self.cache = H
        return score

    def backward(self, dscore):
        """``dscore (N, T, V) -> dh (N, H)``; fills ``grads``."""
        H = self.cache
        dout = self.affine.backward(dscore)
        dout, dhs0 = dout[:, :, H:], dout[:, :, :H]
        dout = self.lstm.backward(dout)
        dembed, dhs1 = dout[:, :, H:], dout[:, :, :H]
        self.embed.backward(dembed)
        dhs = dhs0 + dhs1
        return self.lstm.dh + np.sum(dhs, axis=1)

    def generate(self, h, start_id, sample_size):
        """Greedy decoding of ``sample_size`` ids from state ``h (1, H)``."""
        sampled = []
        char_id = start_id
        self.lstm.set_state(h)
        H = h.shape[1]
        peeky_h = h.reshape(1, 1, H)
        for _ in range(sample_size):
            x = np.array([char_id]).reshape((1, 1))
            out = self.embed.forward(x)
            out = np.concatenate((peeky_h, out), axis=2)
            out = self.lstm.forward(out)
            out = np.concatenate((peeky_h, out), axis=2)
            score = self.affine.forward(out)
            char_id = int(np.argmax(score.flatten()))
            sampled.append(char_id)
        return sampled


class PeekySeq2seq(Seq2seq):
    """:class:`Seq2seq` with a :class:`PeekyDecoder` (ch07)."""

    def __init__(self, vocab_size, wordvec_size, hidden_size, seed=None, *, dtype=np.float32):
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = _rng(seed)
        self.encoder = Encoder(V, D, H, rng, dtype=dtype)
        self.decoder = PeekyDecoder(V, D, H, rng, dtype=dtype)
        self.softmax = TimeSoftmaxWithLoss()
        self.params = self.encoder.params + self.decoder.params
        self.grads = self.encoder.grads + self.decoder.grads


# --------------------------------------------------------------------------- #
# attention seq2seq (ch08)
# --------------------------------------------------------------------------- #
class AttentionEncoder(Encoder):
    """:class:`Encoder` that returns all hidden states ``hs (N, T, H)``."""

    def forward(self, xs):
        """``xs (N, T)`` ids ``-> hs (N, T, H)``."""
        xs = self.embed.forward(xs)
        return self.lstm.forward(xs)

    def backward(self, dhs):
        """``dhs (N, T, H)`` -> fills ``grads``; returns None."""
        dout = self.lstm.backward(dhs)
        return self.embed.backward(dout)


class AttentionDecoder:
    """Decoder with attention over the encoder's hidden states (ch08).

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int
        ``V``, ``D``, ``H``.
    seed : int, Generator or None
        Initialisation seed.

    Notes
    -----
    ``params``: ``embed_W (V, D)``, ``lstm_Wx (D, 4H)``, ``lstm_Wh (H, 4H)``,
    ``lstm_b (4H,)``, ``affine_W (2H, V)``, ``affine_b (V,)``; the Affine sees
    ``concat(context, dec_hs)``.
    """

    def __init__(self, vocab_size, wordvec_size, hidden_size, seed=None, *, dtype=np.float32):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = _rng(seed)

        embed_W = _randn(rng, (V, D), 100, dtype)
        lstm_Wx = _randn(rng, (D, 4 * H), np.sqrt(D), dtype)
        lstm_Wh = _randn(rng, (H, 4 * H), np.sqrt(H), dtype)
        lstm_b = np.zeros(4 * H, dtype=dtype)
        affine_W = _randn(rng, (2 * H, V), np.sqrt(2 * H), dtype)
        affine_b = np.zeros(V, dtype=dtype)

        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeLSTM(lstm_Wx, lstm_Wh, lstm_b, stateful=True)
        self.attention = TimeAttention()
        self.affine = TimeAffine(affine_W, affine_b)
        self.params, self.grads = _collect((self.embed, self.lstm, self.attention, self.affine))

    def forward(self, xs, enc_hs):
        """``xs (N, Td)`` ids, ``enc_hs (N, Te, H)`` ``-> scores (N, Td, V)``."""
        h = enc_hs[:, -1]
        self.lstm.set_state(h)
        out = self.embed.forward(xs)
        dec_hs = self.lstm.forward(out)  # (N, Td, H)
        c = self.attention.forward(enc_hs, dec_hs)  # (N, Td, H)
        out = np.concatenate((c, dec_hs), axis=2)  # (N, Td, 2H)
        return self.affine.forward(out)

    def backward(self, dscore):
        """``dscore (N, Td, V) -> denc_hs (N, Te, H)``; fills ``grads``."""
        dout = self.affine.backward(dscore)
        N, T, H2 = dout.shape
        H = H2 // 2
        dc, ddec_hs0 = dout[:, :, :H], dout[:, :, H:]
        denc_hs, ddec_hs1 = self.attention.backward(dc)
        ddec_hs = ddec_hs0 + ddec_hs1
        dout = self.lstm.backward(ddec_hs)
        denc_hs[:, -1] += self.lstm.dh
        self.embed.backward(dout)
        return denc_hs

    def generate(self, enc_hs, start_id, sample_size):
        """Greedy decoding of ``sample_size`` ids from ``enc_hs (1, Te, H)``."""
        sampled = []
        sample_id = start_id
        self.lstm.set_state(enc_hs[:, -1])
        for _ in range(sample_size):
            x = np.array([sample_id]).reshape((1, 1))
            out = self.embed.forward(x)
            dec_hs = self.lstm.forward(out)
            c = self.attention.forward(enc_hs, dec_hs)
            out = np.concatenate((c, dec_hs), axis=2)
            score = self.affine.forward(out)
            sample_id = int(np.argmax(score.flatten()))
            sampled.append(sample_id)
        return sampled


class AttentionSeq2seq(Seq2seq):
    """:class:`Seq2seq` with an :class:`AttentionEncoder` and :class:`AttentionDecoder` (ch08)."""

    encoder_class = AttentionEncoder

    def __init__(self, vocab_size, wordvec_size, hidden_size, seed=None, *, dtype=np.float32):
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = _rng(seed)
        self.encoder = self.encoder_class(V, D, H, rng, dtype=dtype)
        self.decoder = AttentionDecoder(V, D, H, rng, dtype=dtype)
        self.softmax = TimeSoftmaxWithLoss()
        self.params = self.encoder.params + self.decoder.params
        self.grads = self.encoder.grads + self.decoder.grads


class AttentionBiEncoder(AttentionEncoder):
    """Attention encoder with a :class:`TimeBiLSTM` of ``H // 2`` units per direction.

    Notes
    -----
    ``params``: ``embed_W (V, D)``, then ``Wx (D, 2H)``, ``Wh (H/2, 2H)``, ``b (2H,)`` of the
    left-to-right LSTM and of the right-to-left one.  ``forward`` returns ``hs (N, T, H)``,
    the two directions concatenated.
    """

    def __init__(self, vocab_size, wordvec_size, hidden_size, seed=None, *, dtype=np.float32):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        if hidden_size % 2:
            raise ValueError(f"hidden_size must be even, got {hidden_size}")
        V, D, H = vocab_size, wordvec_size, hidden_size // 2
        rng = _rng(seed)

        embed_W = _randn(rng, (V, D), 100, dtype)
        lstm_Wx1 = _randn(rng, (D, 4 * H), np.sqrt(D), dtype)
        lstm_Wh1 = _randn(rng, (H, 4 * H), np.sqrt(H), dtype)
        lstm_b1 = np.zeros(4 * H, dtype=dtype)
        lstm_Wx2 = _randn(rng, (D, 4 * H), np.sqrt(D), dtype)
        lstm_Wh2 = _randn(rng, (H, 4 * H), np.sqrt(H), dtype)
        lstm_b2 = np.zeros(4 * H, dtype=dtype)

        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeBiLSTM(lstm_Wx1, lstm_Wh1, lstm_b1, lstm_Wx2, lstm_Wh2, lstm_b2)
        self.params = self.embed.params + self.lstm.params
        self.grads = self.embed.grads + self.lstm.grads
        self.hs = None


class AttentionBiSeq2seq(AttentionSeq2seq):
    """:class:`AttentionSeq2seq` with an :class:`AttentionBiEncoder`."""

    encoder_class = AttentionBiEncoder
