"""Attention seq2seq of the book (ch08) on the fast layers.

The decoder attends with :class:`fastlstm.layers.TimeAttention`, all decoder
steps at once.  ``generate_batch`` decodes a batch greedily and leaves the
attention weights of every generated step in ``decoder.attention.weights``
``(N, T_dec, T_enc)`` and in the book's list ``decoder.attention.attention_weights``
(``T_dec`` arrays ``(N, T_enc)``).
"""

from __future__ import annotations

import numpy as np

from fastlstm.layers import TimeAffine, TimeAttention, TimeBiLSTM, TimeEmbedding, TimeLSTM
from fastlstm.layers.attention import _check_lengths
from fastlstm.models import greedy as _greedy
from fastlstm.models._decoding import (
    _all_ended,
    _check_generate_args,
    _fill_after_end,
    _greedy_ids,
    _one_answer,
    check_states,
    question_lengths,
)
from fastlstm.models.base import _check_dtype, _check_sizes, _collect, _randn, as_rng
from fastlstm.models.seq2seq import Encoder, Seq2seq

__all__ = [
    "AttentionEncoder",
    "AttentionDecoder",
    "AttentionSeq2seq",
    "AttentionBiEncoder",
    "AttentionBiSeq2seq",
]


class AttentionEncoder(Encoder):
    """:class:`~fastlstm.models.Encoder` that returns all hidden states ``hs (N, T, H)``.

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int
        ``V``, ``D``, ``H``.
    seed : int, numpy.random.Generator, numpy.random.RandomState or None
        Initialisation seed (keyword only); None draws from NumPy's global random state.
    dtype : float32 or float64
        Parameter dtype (keyword only).
    """

    _greedy_encoder = "all"  # greedy decoding runs this encoder inside its kernel

    def forward(self, xs, lengths=None):
        """Encode a batch of questions, keeping every hidden state.

        Parameters
        ----------
        xs : ndarray of int, (N, Te)
            Question ids.
        lengths : ndarray of int, (N,), optional
            Real lengths of padded questions: not used here (the decoder uses them).

        Returns
        -------
        hs : ndarray, (N, Te, H)
            Hidden state of every position.

        Raises
        ------
        ValueError
            If an id is out of range.
        """
        xs = self.embed.forward(xs)  # (N, T, D)
        return self.lstm.forward(xs)  # (N, T, H)

    def backward(self, dhs):
        """Backpropagate from all hidden states: fills ``grads``.

        Parameters
        ----------
        dhs : ndarray, (N, Te, H)
            Gradient with respect to the returned ``hs``.

        Returns
        -------
        None
            Ids have no gradient.
        """
        dout = self.lstm.backward(dhs)
        return self.embed.backward(dout)


def _last_states(enc_hs, lengths):
    """``enc_hs (N, T, H)`` at the last real step of each question: ``(N, H)``."""
    if lengths is None:
        return enc_hs[:, -1]
    return enc_hs[np.arange(enc_hs.shape[0]), lengths - 1]


def _attend(attention, enc_hs, dec_hs, lengths):
    """``concat(context, dec_hs)`` (N, T_dec, 2H), the output layer's input: the attention
    kernel writes both halves (the weights are kept as by ``TimeAttention.forward``)."""
    return attention._forward_weights(enc_hs, dec_hs, lengths, True)


class AttentionDecoder:
    """Decoder with attention over the encoder's hidden states (ch08).

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
    ``lstm_b (4H,)``, ``affine_W (2H, V)``, ``affine_b (V,)``; the Affine sees
    ``concat(context, dec_hs)``.
    """

    _greedy_kind = _greedy.ATTENTION  # how the decoding kernel runs a step (subclasses: the loop)

    def __init__(self, vocab_size, wordvec_size, hidden_size, *, seed=None, dtype=np.float32):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        dtype = _check_dtype(dtype)
        V, D, H = vocab_size, wordvec_size, hidden_size
        rng = as_rng(seed)

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

    def forward(self, xs, enc_hs, lengths=None):
        """Scores of every answer position, attending over the encoder's states.

        Parameters
        ----------
        xs : ndarray of int, (N, Td)
            Decoder input ids.
        enc_hs : ndarray, (N, Te, H)
            Encoder states; the last one (the last real one, with ``lengths``)
            starts the decoder's LSTM.
        lengths : ndarray of int, (N,), optional
            Real steps of questions padded on the right: the decoder starts from
            ``enc_hs[n, lengths[n] - 1]`` and attends to those steps only.

        Returns
        -------
        ndarray, (N, Td, V)
            Scores.

        Raises
        ------
        ValueError
            If an id is out of range or the shapes disagree.
        """
        self.lengths = lengths
        h = _last_states(enc_hs, lengths)  # (N, H)
        self.lstm.set_state(h)
        out = self.embed.forward(xs)  # (N, T_dec, D)
        dec_hs = self.lstm.forward(out)  # (N, T_dec, H)
        out = _attend(self.attention, enc_hs, dec_hs, lengths)  # (N, T_dec, 2H)
        return self.affine.forward(out)

    def backward(self, dscore):
        """Backpropagate: fills ``grads``.

        Parameters
        ----------
        dscore : ndarray, (N, Td, V)
            Gradient with respect to the scores.

        Returns
        -------
        denc_hs : ndarray, (N, Te, H)
            Gradient with respect to the encoder states.
        """
        return self._backward(dscore)

    def _backward(self, dscore, kept=False):
        """:meth:`backward`; with ``kept``, ``denc_hs`` is a work array of the attention
        layer, overwritten by the next such call (for the model's own backward)."""
        dout = self.affine.backward(dscore)  # (N, T_dec, 2H): of concat(context, dec_hs)
        # the decoder states' gradient: through the attention plus dout's second half
        denc_hs, ddec_hs = self.attention._backward3d(dout, kept, concat=True)
        dout = self.lstm.backward(ddec_hs)
        lengths = getattr(self, "lengths", None)
        if lengths is None:
            denc_hs[:, -1] += self.lstm.dh
        else:
            denc_hs[np.arange(denc_hs.shape[0]), lengths - 1] += self.lstm.dh
        self.embed.backward(dout)
        return denc_hs

    def generate(self, enc_hs, start_id, sample_size):
        """Greedy decoding of one question, as the book.

        Parameters
        ----------
        enc_hs : ndarray, (1, Te, H)
            Encoder states of one question.
        start_id : int
            Id fed at the first step.
        sample_size : int
            Number of ids to decode.

        Returns
        -------
        list of int
            The decoded ids; ``attention.attention_weights`` holds the weights of each step.

        Raises
        ------
        ValueError
            If ``enc_hs`` holds more than one question or an argument is out of range.
        """
        return _one_answer(self.generate_batch, enc_hs, start_id, sample_size, "enc_hs")

    def generate_batch(self, enc_hs, start_id, sample_size, *, lengths=None, end_id=None):
        """Greedy decoding of a batch.

        Parameters
        ----------
        enc_hs : ndarray (N, T_enc, H)
            Encoder states.
        start_id : int
            Id fed at the first step.
        sample_size : int
            Number of ids to decode.
        lengths : ndarray (N,) int, optional
            Real steps of padded questions (see :meth:`forward`).
        end_id : int, optional
            End symbol: decoding stops once every answer has produced it (the
            rest holds ``end_id``, with zero attention weights).

        Returns
        -------
        ndarray (N, sample_size) int64
            The attention weights of the steps are left in
            ``self.attention.weights`` ``(N, sample_size, T_enc)`` and
            ``self.attention.attention_weights`` (list of ``(N, T_enc)``).
        """
        V = self.embed.params[0].shape[0]
        start_id, sample_size = _check_generate_args(start_id, sample_size, V)
        enc_hs = check_states(enc_hs, "enc_hs", 3, self.lstm.H)
        if lengths is not None:
            lengths = _check_lengths(lengths, enc_hs.shape[0], enc_hs.shape[1])
        fused = type(self).__dict__.get("_greedy_kind") is not None
        if fused and lengths is None:
            sampled = _greedy.decode_states(self, enc_hs, start_id, sample_size)
            self._fill_after_end(sampled, end_id)
            return sampled
        return self._generate_steps(enc_hs, start_id, sample_size, lengths, end_id)

    def _fill_after_end(self, sampled, end_id):
        """After the step at which every answer has produced ``end_id``, ``sampled`` holds
        ``end_id`` and the attention weights are zero (as :meth:`generate_batch` stops)."""
        t = _fill_after_end(sampled, end_id)
        if t is not None:
            self.attention.weights[:, t + 1 :] = 0

    def _generate_steps(self, enc_hs, start_id, sample_size, lengths=None, end_id=None):
        """:meth:`generate_batch` one layer call per step (the oracle of the decoding kernel)."""
        N, Te, _ = enc_hs.shape
        sampled = np.empty((N, sample_size), dtype=np.int64)
        weights = np.empty((N, sample_size, Te), dtype=self.lstm.dtype)
        ids = np.full((N, 1), start_id, dtype=np.int64)
        done = np.zeros(N, dtype=bool)
        self.lstm.set_state(_last_states(enc_hs, lengths))
        with self.lstm.fixed_weights():  # laid out once, not at every step
            for t in range(sample_size):
                out = self.embed.forward(ids)  # (N, 1, D)
                dec_hs = self.lstm.forward(out)  # (N, 1, H)
                out = _attend(self.attention, enc_hs, dec_hs, lengths)  # (N, 1, 2H)
                weights[:, t] = self.attention.weights[:, 0]
                score = self.affine.forward(out)[:, 0]  # (N, V)
                ids[:, 0] = _greedy_ids(score)
                sampled[:, t] = ids[:, 0]
                if _all_ended(done, ids[:, 0], end_id):
                    sampled[:, t + 1 :] = end_id
                    weights[:, t + 1 :] = 0
                    break
        self.attention.weights = weights
        self.attention.attention_weights = [weights[:, t] for t in range(sample_size)]
        return sampled


class AttentionSeq2seq(Seq2seq):
    """:class:`~fastlstm.models.Seq2seq` with attention (ch08); same parameters.

    After :meth:`generate_batch`, ``decoder.attention.weights`` holds the attention
    weights ``(N, sample_size, T_enc)`` of the decoded answers.

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

    _encoder_class = AttentionEncoder
    _decoder_class = AttentionDecoder

    def _decoder_backward(self, dscore):
        # the encoder's gradient in work arrays of the attention layer: it goes to the
        # encoder at once and never leaves the model
        return self.decoder._backward(dscore, kept=True)

    def _decode_padded(self, decoder_xs, xs, lengths):
        enc_hs = self.encoder.forward(xs)  # (N, T_enc, H)
        return self.decoder.forward(decoder_xs, enc_hs, lengths)

    def _generate_padded(self, xs, lengths, start_id, sample_size, end):
        enc_hs = self.encoder.forward(xs)
        return self.decoder.generate_batch(enc_hs, start_id, sample_size, lengths=lengths, **end)


def _bi_units(hidden_size):
    if hidden_size % 2:
        raise ValueError(
            "hidden_size must be even for a bidirectional encoder (hidden_size // 2 units "
            f"in each direction), got {hidden_size}"
        )
    return hidden_size // 2


class AttentionBiEncoder(AttentionEncoder):
    """Attention encoder with a bidirectional LSTM (the book's 8.4 extension).

    A :class:`~fastlstm.layers.TimeBiLSTM` of ``H // 2`` units in each direction
    reads the embedded question; at every position the two directions' states
    are concatenated, so ``hs`` is ``(N, T, H)`` as for
    :class:`AttentionEncoder` and the decoder is unchanged.

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int
        ``V``, ``D``, ``H`` (``H`` even).
    seed : int, numpy.random.Generator, numpy.random.RandomState or None
        Initialisation seed (keyword only); None draws from NumPy's
        global random state, as the book's ``np.random.randn``.
    dtype : float32 or float64
        Parameter dtype (keyword only).

    Notes
    -----
    ``params``: ``embed_W (V, D)``, then for the left-to-right and the
    right-to-left LSTM ``Wx (D, 2H)``, ``Wh (H/2, 2H)``, ``b (2H,)``.
    """

    def __init__(self, vocab_size, wordvec_size, hidden_size, *, seed=None, dtype=np.float32):
        _check_sizes(vocab_size=vocab_size, wordvec_size=wordvec_size, hidden_size=hidden_size)
        dtype = _check_dtype(dtype)
        V, D, Hh = vocab_size, wordvec_size, _bi_units(hidden_size)
        rng = as_rng(seed)

        embed_W = _randn(rng, (V, D), 100, dtype)
        lstms = []
        for _ in range(2):  # left to right, then right to left
            lstms += [
                _randn(rng, (D, 4 * Hh), np.sqrt(D), dtype),
                _randn(rng, (Hh, 4 * Hh), np.sqrt(Hh), dtype),
                np.zeros(4 * Hh, dtype=dtype),
            ]

        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeBiLSTM(*lstms)
        self.params = self.embed.params + self.lstm.params
        self.grads = self.embed.grads + self.lstm.grads
        self.hs = None


class AttentionBiSeq2seq(AttentionSeq2seq):
    """:class:`AttentionSeq2seq` with a bidirectional encoder (:class:`AttentionBiEncoder`).

    The decoder starts from the encoder's states at the last position, as in
    :class:`AttentionSeq2seq`: the left-to-right half has read the whole
    question, the right-to-left half only its last symbol.  ``hidden_size``
    must be even.

    Parameters
    ----------
    vocab_size, wordvec_size, hidden_size : int
        ``V``, ``D``, ``H`` (``H`` even).
    seed : int, numpy.random.Generator, numpy.random.RandomState or None
        Initialisation seed (keyword only; encoder drawn first, then decoder); None draws
        from NumPy's global random state, as the book's ``np.random.randn``.
    dtype : float32 or float64
        Parameter dtype (keyword only).
    pad_id : int, optional
        If given, target positions holding this id are left out of the loss.
    """

    _encoder_class = AttentionBiEncoder

    def _lengths(self, xs):
        lengths = question_lengths(xs, self.pad_id)
        if lengths is not None:
            raise ValueError(
                "AttentionBiSeq2seq cannot read questions of different lengths padded with "
                "pad_id (its right-to-left LSTM would read the padding first); use "
                "AttentionSeq2seq for padded data"
            )
        return None
