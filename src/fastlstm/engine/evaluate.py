"""The book's perplexity evaluation of a language model (``eval_perplexity``)."""

from __future__ import annotations

import inspect

import numpy as np

from fastlstm._notebook import progress_bar
from fastlstm.engine.batches import bptt_batch


def accepts_train_flg(forward) -> bool:
    """Whether ``forward`` takes a ``train_flg`` keyword (BetterRnnlm does, Rnnlm does not).

    Parameters
    ----------
    forward : callable
        A model's ``forward``.

    Returns
    -------
    bool
        True if it names ``train_flg`` or takes ``**kwargs``.
    """
    try:
        sig = inspect.signature(forward)
    except (TypeError, ValueError):
        return False
    return any(
        name == "train_flg" or p.kind is inspect.Parameter.VAR_KEYWORD
        for name, p in sig.parameters.items()
    )


def perplexity(model, corpus, batch_size, time_size, *, progress=False, reset_state=False):
    """Perplexity of a language model on a corpus, read as the book's ``eval_perplexity``.

    Iteration ``k`` feeds the BPTT batch ``k`` of ``corpus[:-1]`` (streams at
    ``i * ((L - 1) // N)``, :func:`~fastlstm.engine.bptt_batch`) with the next
    words as targets; the model keeps its state between iterations.
    ``forward`` is called with ``train_flg=False`` when it accepts it.

    Parameters
    ----------
    model : object
        ``forward(xs, ts[, train_flg]) -> loss`` (mean cross entropy).
    corpus : ndarray of int, shape (L,)
        Word ids, at least ``N * T + 1`` of them (not checked here).
    batch_size, time_size : int
        ``N`` and ``T``.
    progress : bool, default False
        Show a progress bar.
    reset_state : bool, default False
        Call ``model.reset_state()`` before and after (also on an error).

    Returns
    -------
    float
        ``exp(mean loss)`` over ``(L - 1) // (N * T)`` iterations.
    """
    if reset_state:
        model.reset_state()
        try:
            return perplexity(model, corpus, batch_size, time_size, progress=progress)
        finally:
            model.reset_state()
    xs, ts = corpus[:-1], corpus[1:]
    max_iters = len(xs) // (batch_size * time_size)
    if max_iters == 0:
        raise ValueError(
            f"the corpus has {len(corpus)} words, too few to evaluate (at least batch_size * "
            f"time_size + 1 = {batch_size * time_size + 1})"
        )
    kwargs = {"train_flg": False} if accepts_train_flg(model.forward) else {}
    total_loss = 0.0
    with progress_bar(total=max_iters, desc="perplexity", progress=progress) as bar:
        for k in range(max_iters):
            x, t = bptt_batch(xs, ts, batch_size, time_size, k * time_size)  # (N, T) each
            total_loss += float(model.forward(x, t, **kwargs))
            bar.update(1)
    return perplexity_of(total_loss / max_iters)


def perplexity_of(mean_loss: float) -> float:
    """``exp(mean_loss)``, as the book's ``np.exp``: ``inf`` with NumPy's overflow warning
    above about 709 (a diverged model), where ``math.exp`` would raise ``OverflowError``.

    Parameters
    ----------
    mean_loss : float
        A mean cross-entropy.

    Returns
    -------
    float
    """
    return float(np.exp(np.float64(mean_loss)))
