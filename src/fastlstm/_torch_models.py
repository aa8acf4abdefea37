"""PyTorch counterparts of fastlstm's models (imported only by :mod:`fastlstm.interop`).

Each module computes what the fastlstm model of the same name computes, with
``torch.nn.Embedding``, ``torch.nn.LSTM`` (one layer, ``batch_first``) and
``torch.nn.Linear``: ``forward(xs, ts)`` returns the mean cross-entropy loss
(the book's ``TimeSoftmaxWithLoss``, labels equal to ``ignore_index`` left
out; for seq2seq models it is also their padding: questions padded on the right
with it are encoded up to their last real token and attention leaves the padding
out, as in fastlstm) and ``predict``/``scores`` the scores before the softmax.  Dropout is
``torch.nn.Dropout`` (inverted dropout, as :class:`fastlstm.layers.TimeDropout`).

This module imports torch at import time; use :mod:`fastlstm.interop`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _lstm(D, H, dtype):
    return nn.LSTM(D, H, batch_first=True, dtype=dtype)


def _loss(scores, ts, ignore_index):
    V = scores.shape[-1]
    return F.cross_entropy(scores.reshape(-1, V), ts.reshape(-1).long(), ignore_index=ignore_index)


def _lengths(xs, pad_id):
    """Real lengths ``(N,)`` of questions padded on the right with ``pad_id`` (< 0: None)."""
    if pad_id < 0:
        return None
    real = (xs != pad_id).flip(1).to(torch.int32)  # (N, T), reversed
    return xs.shape[1] - torch.argmax(real, dim=1)  # the first real token from the end


def _last_real(enc_hs, lengths):
    """The encoder state at each question's last real token, ``(1, N, H)``."""
    rows = torch.arange(enc_hs.shape[0])
    return enc_hs[rows, lengths - 1].unsqueeze(0).contiguous()


def _detach(state):
    return None if state is None else tuple(s.detach() for s in state)


class TorchRnnlm(nn.Module):
    """Embedding - LSTM - Linear language model, stateful as fastlstm's ``Rnnlm``.

    ``forward`` keeps the last ``(h, c)`` (detached: truncated BPTT) for the
    next call; :meth:`reset_state` forgets it.
    """

    def __init__(self, vocab_size, wordvec_size, hidden_size, *, dtype=torch.float32):
        super().__init__()
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = nn.Embedding(V, D, dtype=dtype)
        self.lstm = _lstm(D, H, dtype)
        self.affine = nn.Linear(H, V, dtype=dtype)
        self.state = None

    def predict(self, xs):
        """Ids ``xs (N, T)`` -> scores ``(N, T, V)``."""
        out, state = self.lstm(self.embed(xs), self.state)  # (N, T, H)
        self.state = _detach(state)
        return self.affine(out)

    def forward(self, xs, ts):
        """Mean loss of predicting ``ts (N, T)`` from ``xs (N, T)``."""
        return _loss(self.predict(xs), ts, -1)

    def reset_state(self):
        """Forget the LSTM's ``h`` and ``c``."""
        self.state = None


class TorchBetterRnnlm(nn.Module):
    """Two LSTM layers, three dropouts, output weights tied to the embedding (``BetterRnnlm``)."""

    def __init__(
        self, vocab_size, wordvec_size, hidden_size, dropout_ratio=0.5, *, dtype=torch.float32
    ):
        super().__init__()
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = nn.Embedding(V, D, dtype=dtype)
        self.drop1 = nn.Dropout(dropout_ratio)
        self.lstm1 = _lstm(D, H, dtype)
        self.drop2 = nn.Dropout(dropout_ratio)
        self.lstm2 = _lstm(H, H, dtype)
        self.drop3 = nn.Dropout(dropout_ratio)
        self.affine = nn.Linear(H, V, dtype=dtype)
        self.affine.weight = self.embed.weight  # weight tying: (V, H) is the embedding (V, D)
        self.states = [None, None]

    def predict(self, xs):
        """Ids ``xs (N, T)`` -> scores ``(N, T, V)`` (dropout when in training mode)."""
        out = self.drop1(self.embed(xs))
        out, s1 = self.lstm1(out, self.states[0])
        out, s2 = self.lstm2(self.drop2(out), self.states[1])
        self.states = [_detach(s1), _detach(s2)]
        return self.affine(self.drop3(out))

    def forward(self, xs, ts):
        """Mean loss of predicting ``ts (N, T)`` from ``xs (N, T)``."""
        return _loss(self.predict(xs), ts, -1)

    def reset_state(self):
        """Forget both LSTMs' states."""
        self.states = [None, None]


class TorchSeq2seq(nn.Module):
    """Encoder - decoder of the book's ch07 (``Seq2seq``; ``peeky=True``: ``PeekySeq2seq``).

    The decoder starts from the encoder's last ``h`` and a zero ``c``.  Peeky:
    the decoder's LSTM reads ``concat(h_enc, x_t)`` and its Linear
    ``concat(h_enc, h_t)`` at every step.
    """

    def __init__(
        self,
        vocab_size,
        wordvec_size,
        hidden_size,
        *,
        peeky=False,
        ignore_index=-1,
        dtype=torch.float32,
    ):
        super().__init__()
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.peeky = peeky
        self.ignore_index = ignore_index
        self.enc_embed = nn.Embedding(V, D, dtype=dtype)
        self.enc_lstm = _lstm(D, H, dtype)
        self.dec_embed = nn.Embedding(V, D, dtype=dtype)
        self.dec_lstm = _lstm(D + H if peeky else D, H, dtype)
        self.dec_affine = nn.Linear(2 * H if peeky else H, V, dtype=dtype)

    def scores(self, xs, dec_xs):
        """Questions ``xs (N, T_enc)`` and decoder inputs ``dec_xs (N, T_dec)`` -> ``(N, T_dec, V)``."""
        enc_hs, (h, _) = self.enc_lstm(self.enc_embed(xs))  # h (1, N, H)
        lengths = _lengths(xs, self.ignore_index)
        if lengths is not None:  # padded questions: the state at the last real token
            h = _last_real(enc_hs, lengths)
        out = self.dec_embed(dec_xs)  # (N, T_dec, D)
        N, T = dec_xs.shape
        if self.peeky:
            hs = h[0].unsqueeze(1).expand(N, T, h.shape[2])  # (N, T_dec, H)
            out = torch.cat((hs, out), dim=2)
        out, _ = self.dec_lstm(out, (h, torch.zeros_like(h)))  # (N, T_dec, H)
        if self.peeky:
            out = torch.cat((hs, out), dim=2)
        return self.dec_affine(out)

    def forward(self, xs, ts):
        """Mean loss with teacher forcing; ``ts (N, T_dec + 1)`` starts with the start symbol."""
        return _loss(self.scores(xs, ts[:, :-1]), ts[:, 1:], self.ignore_index)


class TorchAttentionSeq2seq(nn.Module):
    """Encoder - decoder with dot-product attention over the encoder's states (ch08)."""

    def __init__(
        self, vocab_size, wordvec_size, hidden_size, *, ignore_index=-1, dtype=torch.float32
    ):
        super().__init__()
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.ignore_index = ignore_index
        self.enc_embed = nn.Embedding(V, D, dtype=dtype)
        self.enc_lstm = _lstm(D, H, dtype)
        self.dec_embed = nn.Embedding(V, D, dtype=dtype)
        self.dec_lstm = _lstm(D, H, dtype)
        self.dec_affine = nn.Linear(2 * H, V, dtype=dtype)

    def scores(self, xs, dec_xs):
        """Questions ``xs (N, T_enc)`` and decoder inputs ``dec_xs (N, T_dec)`` -> ``(N, T_dec, V)``."""
        enc_hs, _ = self.enc_lstm(self.enc_embed(xs))  # (N, T_enc, H)
        lengths = _lengths(xs, self.ignore_index)
        if lengths is None:
            h = enc_hs[:, -1].unsqueeze(0).contiguous()  # (1, N, H)
        else:  # padded questions: the last real token's state, padding left out of attention
            h = _last_real(enc_hs, lengths)
        dec_hs, _ = self.dec_lstm(self.dec_embed(dec_xs), (h, torch.zeros_like(h)))
        scores = torch.bmm(dec_hs, enc_hs.transpose(1, 2))  # (N, Td, Te)
        if lengths is not None:
            pad = torch.arange(xs.shape[1])[None, :] >= lengths[:, None]  # (N, Te)
            scores = scores.masked_fill(pad[:, None, :], float("-inf"))
        weights = torch.softmax(scores, dim=2)  # (N, Td, Te)
        context = torch.bmm(weights, enc_hs)  # (N, T_dec, H)
        return self.dec_affine(torch.cat((context, dec_hs), dim=2))

    def forward(self, xs, ts):
        """Mean loss with teacher forcing; ``ts (N, T_dec + 1)`` starts with the start symbol."""
        return _loss(self.scores(xs, ts[:, :-1]), ts[:, 1:], self.ignore_index)
