"""The training engine: the one loop that runs epochs, for the book's trainers and the run API.

:func:`fit` runs epochs of mini-batches from a *batch source*
(:class:`ShuffledBatches` for seq2seq rows, :class:`BpttBatches` for the
book's truncated-BPTT streams of a language model), one :func:`train_step`
each (forward, backward, shared weights merged once, clipping, update), and
calls the clients' :class:`Callback` hooks: at the start of an epoch, after
each step, at the end of an epoch (evaluation, checkpoints, early stop) and
when training ends.  A :class:`StopFlag` (Ctrl-C) stops it between two
iterations; the :class:`Stopped` it returns, with ``start_epoch`` /
``start_iteration`` of a later :func:`fit`, resumes exactly.

Clients: :class:`fastlstm.trainer.Trainer` / :class:`~fastlstm.trainer.RnnlmTrainer`
(the book's printing) and :mod:`fastlstm.api.session` (checkpoints, Ctrl-C).
:func:`perplexity` is the book's language-model evaluation (:func:`perplexity_of`
the exponential of a mean loss).
"""

from fastlstm.engine.batches import BpttBatches, ShuffledBatches, bptt_batch, bptt_index
from fastlstm.engine.evaluate import perplexity, perplexity_of
from fastlstm.engine.loop import Callback, IntervalMean, StopFlag, Stopped, fit
from fastlstm.engine.step import train_step

__all__ = [
    "fit",
    "Callback",
    "IntervalMean",
    "Stopped",
    "StopFlag",
    "ShuffledBatches",
    "BpttBatches",
    "bptt_index",
    "bptt_batch",
    "train_step",
    "perplexity",
    "perplexity_of",
]
