"""The book's models (ch05-ch08) on the fast layers.

Names, constructor signatures, ``params`` orders and methods follow the book
(``predict``, ``forward(xs, ts)``, ``backward(dout=1)``, ``reset_state``,
``generate``, ``save_params``, ``load_params``), so the book's scripts run by
changing their imports.  Constructors also take keyword-only ``seed`` and
``dtype``; see :mod:`fastlstm.models.rnnlm`.

Examples
--------
>>> from fastlstm.models import BetterRnnlmGen                 # doctest: +SKIP
>>> model = BetterRnnlmGen()                                   # doctest: +SKIP
>>> model.load_params("BetterRnnlm.pkl")                       # doctest: +SKIP
>>> ids = model.generate(start_id, skip_ids, rng=0)            # doctest: +SKIP
"""

from fastlstm.models.attention import (
    AttentionBiEncoder,
    AttentionBiSeq2seq,
    AttentionDecoder,
    AttentionEncoder,
    AttentionSeq2seq,
)
from fastlstm.models.base import BaseModel, model_class
from fastlstm.models.rnnlm import BetterRnnlm, BetterRnnlmGen, Rnnlm, RnnlmGen, SimpleRnnlm
from fastlstm.models.sampling import MAX_SKIPPED_DRAWS, sample_from_scores, softmax64
from fastlstm.models.seq2seq import Decoder, Encoder, PeekyDecoder, PeekySeq2seq, Seq2seq

__all__ = [
    "BaseModel",
    "model_class",
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
    "MAX_SKIPPED_DRAWS",
    "sample_from_scores",
    "softmax64",
]
