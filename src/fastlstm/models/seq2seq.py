"""Encoder-decoder models of the book (ch07) on the fast layers.

Names, signatures and ``params`` orders follow the book; the constructors also
take keyword-only ``seed=None`` (encoder drawn first, then decoder, from one
generator, as :mod:`reference.models`) and ``dtype=np.float32``.  A
``numpy.random.RandomState`` as ``seed`` draws what the book's
``np.random.randn`` calls draw from the same state, so
``seed=fastlstm.datasets.sequence.book_random_state(50000)`` gives the initial
weights of the book's ch07/ch08 scripts.

``generate(xs, start_id, sample_size)`` is the book's: one question
``(1, T_enc)`` in, a list of ``sample_size`` ids out.  ``generate_batch`` decodes
a whole batch of questions at once, greedily, and returns an integer array
``(N, sample_size)`` whose row ``n`` equals ``generate(xs[n:n+1], ...)``.
"""

from __future__ import annotations

import numbers

import numpy as np

from fastlstm._validate import first_out_of_range
from fastlstm.layers import TimeAffine, TimeEmbedding, TimeLSTM, TimeSoftmaxWithLoss
from fastlstm.layers.attention import _check_lengths
from fastlstm.models import greedy as _greedy
from fastlstm.models._decoding import (
    _all_ended,
    _check_generate_args,
    _check_ids,
    _fill_after_end,
    _greedy_ids,
    _one_answer,
    check_states,
    question_lengths,
)
from fastlstm.models.base import (
    BaseModel,
    _check_dtype,
    _check_sizes,
    _collect,
    _randn,
    as_rng,
    check_finite_params,
)

__all__ = ["Encoder", "Decoder", "Seq2seq", "PeekyDecoder", "PeekySeq2seq", "question_lengths"]


class Encoder:
    """Embedding - LSTM encoder; ``forward`` returns the last hidden state.

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
    ``params``: ``embed_W (V, D)``, ``lstm_Wx (D, 4H)``, ``lstm_Wh (H, 4H)``, ``lstm_b (4H,)``.
    """

    _greedy_encoder = "last"  # greedy decoding runs this encoder inside its kernel

    def __init__(self, vocab_size, wordvec_size, hidden_size, *, seed=None, dtype=np.float32):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        dtype = _check_dtype(dtype)
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = as_rng(seed)

        embed_W = _randn(rng, (V, D), 100, dtype)
        lstm_Wx = _randn(rng, (D, 4 * H), np.sqrt(D), dtype)
        lstm_Wh = _randn(rng, (H, 4 * H), np.sqrt(H), dtype)
        lstm_b = np.zeros(4 * H, dtype=dtype)

        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeLSTM(lstm_Wx, lstm_Wh, lstm_b, stateful=False)
        self.params = self.embed.params + self.lstm.params
        self.grads = self.embed.grads + self.lstm.grads
        self.hs = None

    def forward(self, xs, lengths=None):
        """Encode a batch of questions.

        Parameters
        ----------
        xs : ndarray of int, (N, T)
            Question ids.
        lengths : ndarray of int, (N,), optional
            Real lengths of questions padded on the right: ``h[n]`` is then the
            state after the last real token, ``hs[n, lengths[n] - 1]`` (the
            padding after it changes nothing: the LSTM reads left to right).

        Returns
        -------
        h : ndarray, (N, H)
            The last hidden state.

        Raises
        ------
        ValueError
            If an id is out of range, or a length is not in ``[1, T]``.
        """
        xs = self.embed.forward(xs)  # (N, T, D)
        hs = self.lstm.forward(xs)  # (N, T, H)
        if lengths is not None:
            lengths = _check_lengths(lengths, hs.shape[0], hs.shape[1])
        self.hs = hs
        self.lengths = lengths
        if lengths is None:
            return hs[:, -1, :]
        return hs[np.arange(hs.shape[0]), lengths - 1]  # (N, H)

    def backward(self, dh):
        """Backpropagate from the last hidden state: fills ``grads``.

        Parameters
        ----------
        dh : ndarray, (N, H)
            Gradient with respect to the returned ``h``.

        Returns
        -------
        None
            Ids have no gradient.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called.
        """
        if self.hs is None:
            raise RuntimeError(f"{type(self).__name__}.backward: call forward first")
        lengths = getattr(self, "lengths", None)
        if lengths is None:
            dhs = self.__dict__.get("_dhs")  # (N, T, H), kept between iterations
            if dhs is None or dhs.shape != self.hs.shape or dhs.dtype != self.hs.dtype:
                dhs = self._dhs = np.zeros_like(self.hs)
            dhs[:, -1, :] = dh  # only the last step: the others stay zero
        else:
            dhs = np.zeros_like(self.hs)  # (N, T, H)
            dhs[np.arange(dhs.shape[0]), lengths - 1] = dh  # the last real step
        dout = self.lstm.backward(dhs)
        return self.embed.backward(dout)


class Decoder:
    """Embedding - LSTM - Affine decoder started from the encoder's state.

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
    ``params``: ``embed_W (V, D)``, ``lstm_Wx (D, 4H)``, ``lstm_Wh (H, 4H)``,
    ``lstm_b (4H,)``, ``affine_W (H, V)``, ``affine_b (V,)``.
    """

    _greedy_kind = _greedy.PLAIN  # how the decoding kernel runs a step (subclasses: the loop)

    def __init__(self, vocab_size, wordvec_size, hidden_size, *, seed=None, dtype=np.float32):
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

        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeLSTM(lstm_Wx, lstm_Wh, lstm_b, stateful=True)
        self.affine = TimeAffine(affine_W, affine_b)
        self.params, self.grads = _collect((self.embed, self.lstm, self.affine))

    def forward(self, xs, h):
        """Scores of every answer position, started from the encoder's state.

        Parameters
        ----------
        xs : ndarray of int, (N, T)
            Decoder input ids (the answer shifted right, starting with the start id).
        h : ndarray, (N, H)
            Encoder state.

        Returns
        -------
        ndarray, (N, T, V)
            Scores.

        Raises
        ------
        ValueError
            If an id is out of range or the shapes disagree.
        """
        self.lstm.set_state(h)
        out = self.embed.forward(xs)  # (N, T, D)
        out = self.lstm.forward(out)  # (N, T, H)
        return self.affine.forward(out)  # (N, T, V)

    def backward(self, dscore):
        """Backpropagate: fills ``grads``.

        Parameters
        ----------
        dscore : ndarray, (N, T, V)
            Gradient with respect to the scores.

        Returns
        -------
        dh : ndarray, (N, H)
            Gradient with respect to the encoder state.
        """
        dout = self.affine.backward(dscore)
        dout = self.lstm.backward(dout)
        self.embed.backward(dout)
        return self.lstm.dh

    def _step(self, ids, h):
        """Scores ``(N, V)`` of one step for the previous ids ``(N, 1)``."""
        out = self.embed.forward(ids)  # (N, 1, D)
        out = self.lstm.forward(out)  # (N, 1, H)
        return self.affine.forward(out)[:, 0]  # (N, V)

    def generate(self, h, start_id, sample_size):
        """Greedy decoding of one question, as the book.

        Parameters
        ----------
        h : ndarray, (1, H)
            Encoder state of one question.
        start_id : int
            Id fed at the first step (the book's ``'_'``).
        sample_size : int
            Number of ids to decode.

        Returns
        -------
        list of int
            The decoded ids.

        Raises
        ------
        ValueError
            If ``h`` holds more than one question or an argument is out of range.
        """
        return _one_answer(self.generate_batch, h, start_id, sample_size, "h")

    def generate_batch(self, h, start_id, sample_size, *, end_id=None):
        """Greedy decoding of a batch.

        Parameters
        ----------
        h : ndarray (N, H)
            Encoder states.
        start_id : int
            Id fed at the first step (the book's ``'_'``).
        sample_size : int
            Number of ids to decode.
        end_id : int, optional
            End symbol: decoding stops once every answer has produced it, and
            the rest of the array holds ``end_id``.

        Returns
        -------
        ndarray (N, sample_size) int64
        """
        V = self.embed.params[0].shape[0]
        start_id, sample_size = _check_generate_args(start_id, sample_size, V)
        h = check_states(h, "h", 2, self.lstm.H)
        if type(self).__dict__.get("_greedy_kind") is not None:
            sampled = _greedy.decode_states(self, h[:, None, :], start_id, sample_size)
            self._fill_after_end(sampled, end_id)
            return sampled
        return self._generate_steps(h, start_id, sample_size, end_id)

    def _fill_after_end(self, sampled, end_id):
        """After the step at which every answer has produced ``end_id``, ``sampled`` holds
        ``end_id`` (as the step loop stops)."""
        _fill_after_end(sampled, end_id)

    def _generate_steps(self, h, start_id, sample_size, end_id=None):
        """:meth:`generate_batch` one layer call per step (for subclasses that change ``_step``)."""
        N = h.shape[0]
        sampled = np.empty((N, sample_size), dtype=np.int64)
        ids = np.full((N, 1), start_id, dtype=np.int64)
        done = np.zeros(N, dtype=bool)
        self.lstm.set_state(h)
        with self.lstm.fixed_weights():  # laid out once, not at every step
            for t in range(sample_size):
                score = self._step(ids, h)  # (N, V)
                ids[:, 0] = _greedy_ids(score)
                sampled[:, t] = ids[:, 0]
                if _all_ended(done, ids[:, 0], end_id):
                    sampled[:, t + 1 :] = end_id
                    break
        return sampled


def _check_decoder_inputs(decoder_xs, decoder):
    """Name an id the decoder would read (``ts[:, :-1]``) outside its vocabulary as one of
    ``ts`` (the decoder's embedding would call it one of its ``xs``)."""
    embed = getattr(decoder, "embed", None)
    params = getattr(embed, "params", None)
    if not params:
        return
    V = np.shape(params[0])[0]
    where = first_out_of_range(decoder_xs, V)
    if where is not None:
        n, t = where
        raise ValueError(
            f"ts contains id {decoder_xs[n, t]} at [{n}, {t}], an input of the decoder; ids "
            f"must be in [0, {V})"
        )


class Seq2seq(BaseModel):
    """Encoder-decoder model (ch07).

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int
        ``V``, ``D``, ``H``.
    seed : int, numpy.random.Generator, numpy.random.RandomState or None
        Initialisation seed (keyword only; encoder drawn first, then decoder); None draws from NumPy's
        global random state, as the book's ``np.random.randn``.
    dtype : float32 or float64
        Parameter dtype (keyword only).
    pad_id : int, optional
        The padding id of questions and answers of different lengths: target
        positions holding it are left out of the loss (it becomes the loss
        layer's ``ignore_label``), and questions are read up to their last
        non-padding id (padding goes on the right): the encoder's final state
        is that of the last real token and attention gives the padding zero
        weight, so padding never changes an answer.  Default: every position
        counts, as in the book.

    Notes
    -----
    ``params = encoder.params + decoder.params``.
    """

    _decoder_class = Decoder
    _encoder_class = Encoder
    _pad_id = None  # for subclasses that build their parts themselves, as the book's do

    def __init__(
        self, vocab_size, wordvec_size, hidden_size, *, seed=None, dtype=np.float32, pad_id=None
    ):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        dtype = _check_dtype(dtype)
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = as_rng(seed)
        self.encoder = self._encoder_class(V, D, H, seed=rng, dtype=dtype)
        self.decoder = self._decoder_class(V, D, H, seed=rng, dtype=dtype)
        self.softmax = TimeSoftmaxWithLoss()
        self.params = self.encoder.params + self.decoder.params
        self.grads = self.encoder.grads + self.decoder.grads
        self.vocab_size = V
        self.pad_id = pad_id
        self._set_config(vocab_size=V, wordvec_size=D, hidden_size=H, dtype=dtype, pad_id=pad_id)

    @property
    def pad_id(self):
        """Target id left out of the loss, or None (the book: nothing left out)."""
        return self._pad_id

    @pad_id.setter
    def pad_id(self, value):
        if value is None:
            self._pad_id = None
            self.softmax.ignore_label = -1
            return
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"pad_id must be an int or None, got {type(value).__name__}")
        if not 0 <= value < self.vocab_size:
            raise ValueError(f"pad_id must be in [0, {self.vocab_size}), got {value}")
        self._pad_id = int(value)
        self.softmax.ignore_label = int(value)
        if hasattr(self, "_config"):
            self._config["pad_id"] = int(value)

    def forward(self, xs, ts):
        """Mean loss with teacher forcing.

        Parameters
        ----------
        xs : ndarray (N, T_enc) int
            Questions.
        ts : ndarray (N, T_dec + 1) int
            Answers with the start symbol first: the decoder reads ``ts[:, :-1]``
            and is scored on ``ts[:, 1:]``.

        Returns
        -------
        float
        """
        ts = _check_ids(ts, "ts")
        if ts.shape[1] < 2:
            raise ValueError(f"ts must be (N, T) with T >= 2, got shape {ts.shape}")
        decoder_xs, decoder_ts = ts[:, :-1], ts[:, 1:]
        _check_decoder_inputs(decoder_xs, self.decoder)
        score = self.scores(xs, decoder_xs)
        return self.softmax.forward(score, decoder_ts)

    def scores(self, xs, decoder_xs):
        """Decoder scores with teacher forcing (padding handled as ``pad_id`` says).

        Parameters
        ----------
        xs : ndarray (N, T_enc) int
            Questions.
        decoder_xs : ndarray (N, T_dec) int
            Decoder inputs (start id, then the answer but its last id).

        Returns
        -------
        ndarray (N, T_dec, V)
        """
        n, m = np.shape(xs)[:1], np.shape(decoder_xs)[:1]
        if n and m and n != m:
            raise ValueError(
                f"xs holds {n[0]} questions (shape {np.shape(xs)}) but {m[0]} answers are "
                "given; they must be as many"
            )
        lengths = self._lengths(xs)
        if lengths is None:  # the book's path
            return self.decoder.forward(decoder_xs, self.encoder.forward(xs))
        return self._decode_padded(decoder_xs, xs, lengths)

    def _lengths(self, xs):
        return question_lengths(xs, self._pad_id)

    def _decode_padded(self, decoder_xs, xs, lengths):
        h = self.encoder.forward(xs, lengths)  # (N, H): state after the last real token
        return self.decoder.forward(decoder_xs, h)

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
        dout = self.softmax.backward(dout)
        dh = self._decoder_backward(dout)
        return self.encoder.backward(dh)

    def _decoder_backward(self, dscore):
        """The decoder's backward inside :meth:`backward` (the gradient for the encoder)."""
        return self.decoder.backward(dscore)

    def generate(self, xs, start_id, sample_size):
        """Greedy answer to one question, as the book.

        Parameters
        ----------
        xs : ndarray (1, T_enc) int
            One question.
        start_id : int
            Id fed to the decoder first.
        sample_size : int
            Length of the answer.

        Returns
        -------
        list of int
            The ``sample_size`` decoded ids.

        Raises
        ------
        ValueError
            If ``xs`` holds more than one question (use :meth:`generate_batch`).
        """
        return _one_answer(self.generate_batch, xs, start_id, sample_size, "xs")

    def generate_batch(self, xs, start_id, sample_size, *, end_id=None):
        """Greedy answers to a batch of questions.

        Parameters
        ----------
        xs : ndarray (N, T_enc) int
            Questions (padded on the right with ``pad_id`` if lengths differ).
        start_id : int
            Id fed to the decoder first.
        sample_size : int
            Length of the answers.
        end_id : int, optional
            End symbol: decoding stops once every answer has produced it.

        Returns
        -------
        ndarray (N, sample_size) int64
            Always 2-D, also for one question.  Row ``n`` equals
            ``generate(xs[n:n+1], ...)`` (padding removed, with ``pad_id``).
        """
        xs = _check_ids(xs, "xs", self.vocab_size)
        if xs.shape[0] == 0 or xs.shape[1] == 0:
            raise ValueError(f"xs must hold at least one question of length >= 1, got {xs.shape}")
        lengths = self._lengths(xs)
        if lengths is None and _greedy.fused_encoder(self):
            # questions of one length: encoder and decoder in one kernel
            V = self.decoder.embed.params[0].shape[0]
            start_id, sample_size = _check_generate_args(start_id, sample_size, V)
            sampled = _greedy.decode_model(self, xs, start_id, sample_size)
            self.decoder._fill_after_end(sampled, end_id)
            return sampled
        check_finite_params(self.params, type(self).__name__)
        end = {} if end_id is None else {"end_id": int(end_id)}
        if lengths is None:
            return self.decoder.generate_batch(
                self.encoder.forward(xs), start_id, sample_size, **end
            )
        return self._generate_padded(xs, lengths, start_id, sample_size, end)

    def _generate_padded(self, xs, lengths, start_id, sample_size, end):
        h = self.encoder.forward(xs, lengths)
        return self.decoder.generate_batch(h, start_id, sample_size, **end)


class PeekyDecoder(Decoder):
    """Decoder that feeds the encoder's state to the LSTM and the Affine at every step (ch07).

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
    ``params``: ``embed_W (V, D)``, ``lstm_Wx (H + D, 4H)``, ``lstm_Wh (H, 4H)``,
    ``lstm_b (4H,)``, ``affine_W (2H, V)``, ``affine_b (V,)``.
    """

    _greedy_kind = _greedy.PEEKY

    def __init__(self, vocab_size, wordvec_size, hidden_size, *, seed=None, dtype=np.float32):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        dtype = _check_dtype(dtype)
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = as_rng(seed)

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
        """Scores of every answer position; the encoder's state is fed at every step.

        Parameters
        ----------
        xs : ndarray of int, (N, T)
            Decoder input ids.
        h : ndarray, (N, H)
            Encoder state, concatenated to the LSTM's input and to the Affine's input at
            every step.

        Returns
        -------
        ndarray, (N, T, V)
            Scores.

        Raises
        ------
        ValueError
            If an id is out of range or the shapes disagree.
        """
        xs = np.asarray(xs)
        N, T = xs.shape
        h = np.asarray(h, dtype=self.lstm.dtype)
        H = h.shape[1]

        self.lstm.set_state(h)
        out = self.embed.forward(xs)  # (N, T, D)
        # the LSTM reads concat(h, x_t) at every step; h @ Wx[:H] is computed once
        out = self.lstm._forward_peeky(out, h)  # (N, T, H)
        hs = np.broadcast_to(h[:, None, :], (N, T, H))  # (N, T, H)
        out = np.concatenate((hs, out), axis=2)  # (N, T, 2H)
        score = self.affine.forward(out)  # (N, T, V)
        self.cache = H
        return score

    def backward(self, dscore):
        """Backpropagate: fills ``grads``.

        Parameters
        ----------
        dscore : ndarray, (N, T, V)
            Gradient with respect to the scores.

        Returns
        -------
        dh : ndarray, (N, H)
            Gradient with respect to the encoder state (summed over the steps that read it).
        """
        H = self.cache
        dout = self.affine.backward(dscore)  # (N, T, 2H)
        dout, dhs0 = dout[:, :, H:], dout[:, :, :H]
        dembed = self.lstm.backward(dout)  # (N, T, D)
        self.embed.backward(dembed)
        return self.lstm.dh + self.lstm.dstatic + np.sum(dhs0, axis=1)

    def _step(self, ids, h):
        h = np.asarray(h, dtype=self.lstm.dtype)  # (N, H)
        out = self.embed.forward(ids)  # (N, 1, D)
        out = self.lstm._forward_peeky(out, h)  # (N, 1, H)
        out = np.concatenate((h[:, None, :], out), axis=2)  # (N, 1, 2H)
        return self.affine.forward(out)[:, 0]  # (N, V)


class PeekySeq2seq(Seq2seq):
    """:class:`Seq2seq` with a :class:`PeekyDecoder` (ch07); same parameters.

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int
        ``V``, ``D``, ``H``.
    seed : int, numpy.random.Generator, numpy.random.RandomState or None
        Initialisation seed (keyword only; encoder drawn first, then decoder); None draws
        from NumPy's global random state, as the book's ``np.random.randn``.
    dtype : float32 or float64
        Parameter dtype (keyword only).
    pad_id : int, optional
        If given, target positions holding this id are left out of the loss.
    """

    _decoder_class = PeekyDecoder
