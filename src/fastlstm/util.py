"""The functions of the book's ``common/util.py`` that its chapter 5-8 scripts use.

``from common.util import ...`` becomes ``from fastlstm.util import ...`` with
the same names and signatures:

* :func:`eval_perplexity` prints ``evaluating perplexity ...`` as the book's
  (with a progress bar on a terminal) and returns the perplexity;
* :func:`eval_seq2seq` scores one question and prints the book's Q/T/☑ lines
  (:func:`fastlstm.evaluation.seq2seq_accuracy` scores a whole test set in
  batches);
* :func:`clip_grads` clips in place to a global norm;
* :func:`to_cpu` and :func:`to_gpu` return NumPy arrays: fastlstm runs on the
  CPU only, so both are the identity for a NumPy array (``config.GPU`` is
  always False).

Examples
--------
>>> import numpy as np
>>> from fastlstm.util import to_gpu, to_cpu
>>> x = np.arange(3)
>>> to_gpu(x) is x and to_cpu(x) is x
True
"""

from __future__ import annotations

import numpy as np

from fastlstm import trainer as _trainer
from fastlstm.evaluation import eval_seq2seq
from fastlstm.optim import clip_grads

__all__ = ["eval_perplexity", "eval_seq2seq", "clip_grads", "to_cpu", "to_gpu"]


def eval_perplexity(model, corpus, batch_size=10, time_size=35):
    """Perplexity of a language model on a corpus, as the book's ``eval_perplexity``.

    Prints ``evaluating perplexity ...`` first, as the book does; on a terminal
    a progress bar follows.  The computation is
    :func:`fastlstm.trainer.eval_perplexity` (which prints nothing).

    Parameters
    ----------
    model : object
        ``forward(xs, ts[, train_flg]) -> loss``; ``train_flg=False`` is passed
        when ``forward`` accepts it.
    corpus : ndarray of int, shape (L,)
        Word ids.
    batch_size : int, default 10
    time_size : int, default 35

    Returns
    -------
    float
        ``exp(mean loss)``.
    """
    print("evaluating perplexity ...", flush=True)
    return _trainer.eval_perplexity(model, corpus, batch_size, time_size, progress=True)


def to_cpu(x):
    """Return ``x`` as a NumPy array (the identity for a NumPy array).

    Parameters
    ----------
    x : array_like

    Returns
    -------
    numpy.ndarray
    """
    return x if isinstance(x, np.ndarray) else np.asarray(x)


def to_gpu(x):
    """:func:`to_cpu`: fastlstm computes on the CPU.

    The book's ``to_gpu`` moves an array to CuPy; its scripts call it only
    when ``config.GPU`` is True, which it never is here.

    Parameters
    ----------
    x : array_like
        An array.

    Returns
    -------
    ndarray
        ``x`` as a NumPy array.
    """
    return to_cpu(x)
