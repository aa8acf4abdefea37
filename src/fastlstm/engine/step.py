"""One training step: forward, backward, shared weights merged once, clip, update."""

from __future__ import annotations

from fastlstm.optim import clip_grads, unique_params


def train_step(model, optimizer, x, t, max_grad=None) -> float:
    """One forward/backward/update of the book's trainers; the loss as a float.

    Parameters
    ----------
    model : object
        ``forward(x, t) -> loss``, ``backward()``, ``params``, ``grads`` (the
        book's contract; grads written in place).
    optimizer : object
        ``update(params, grads)``.
    x, t : ndarray
        One mini-batch: inputs and targets, e.g. (N, T) word ids.
    max_grad : float or None, optional
        Clip the global gradient norm to this value; None or 0 does not clip.

    Returns
    -------
    float
        The loss of the mini-batch.
    """
    loss = model.forward(x, t)
    model.backward()
    params, grads = unique_params(model.params, model.grads)  # shared weights -> one
    if max_grad:
        clip_grads(grads, max_grad)
    optimizer.update(params, grads)
    return float(loss)
