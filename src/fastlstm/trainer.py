"""Training loops of the book's ``common/trainer.py`` and ``eval_perplexity`` of ``common/util.py``.

Models follow the book's contract: ``model.forward(x, t) -> loss``,
``model.backward()``, ``model.params`` / ``model.grads`` (lists of arrays,
grads written in place) and, for language models, ``model.reset_state()``.

Both print the book's lines every ``eval_interval`` iterations::

    | epoch 1 |  iter 1 / 351 | time 0[s] | loss 2.56
    | epoch 1 |  iter 1 / 1327 | time 0[s] | perplexity 9999.62

and, when the output is a terminal, keep a tqdm progress bar below them
(``progress=False`` prints nothing).  :class:`Trainer` shuffles with
``np.random.permutation`` of NumPy's global random state, as the book, unless
given its own ``rng``; ``plot()`` shows the figure (``plt.show()``) as the
book's, ``plot(path=...)`` saves it instead.  In a Jupyter notebook the
progress bar is a widget (text without ``ipywidgets``) and ``plot()`` shows the
figure inline.

Differences from the book, none of which changes the arithmetic:

* batches are gathered with one vectorised index per array;
* ``loss_list`` / ``ppl_list`` accumulate over successive calls of ``fit``;
* ``fit`` can call functions at the end of every epoch (``on_epoch_end``).

Shared weights are merged with :func:`fastlstm.optim.unique_params` and
gradients clipped with :func:`fastlstm.optim.clip_grads`.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import time

import numpy as np

from fastlstm._notebook import progress_bar
from fastlstm.models.base import as_rng
from fastlstm.optim import PlateauDecay, clip_grads, unique_params

__all__ = ["Trainer", "RnnlmTrainer", "eval_perplexity", "PlateauDecay"]


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


def _check_eval_interval(eval_interval):
    if eval_interval is None:
        return None
    return _positive_int(eval_interval, "eval_interval")


def _check_max_grad(max_grad):
    if max_grad is None:
        return None
    max_grad = float(max_grad)
    if not max_grad > 0:
        raise ValueError(f"max_grad must be positive or None, got {max_grad}")
    return max_grad


def _id_sequence(a, name):
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of word ids, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} must hold integer word ids, got dtype {a.dtype}")
    return a


def _callbacks(on_epoch_end):
    """Normalise ``on_epoch_end`` to a list of callables ``f(trainer, epoch)``."""
    if on_epoch_end is None:
        return []
    items = on_epoch_end if isinstance(on_epoch_end, (list, tuple)) else [on_epoch_end]
    out = []
    for cb in items:
        if hasattr(cb, "on_epoch_end"):
            out.append(cb.on_epoch_end)
        elif callable(cb):
            out.append(cb)
        else:
            raise TypeError(
                "on_epoch_end must be a callable f(trainer, epoch), an object with an "
                f"on_epoch_end(trainer, epoch) method, or a list of them; got {type(cb).__name__}"
            )
    return out


def _accepts_train_flg(forward):
    """Whether ``forward`` takes a ``train_flg`` keyword (BetterRnnlm does, Rnnlm does not)."""
    try:
        sig = inspect.signature(forward)
    except (TypeError, ValueError):
        return False
    return any(
        name == "train_flg" or p.kind is inspect.Parameter.VAR_KEYWORD
        for name, p in sig.parameters.items()
    )


def _plot_curve(values, path, ylabel, eval_interval, ylim):
    """The book's ``plot``: show the curve with ``plt.show()``, or save it to ``path``."""
    if len(values) == 0:
        raise ValueError("nothing to plot: fit() has recorded no values (was eval_interval None?)")
    if isinstance(ylim, str | os.PathLike):
        raise TypeError(
            f"plot(ylim=None, path=None): ylim is {ylim!r}; to save the figure, "
            f"call plot(path={os.fspath(ylim)!r})"
        )
    from fastlstm import _notebook

    if path is not None:
        from fastlstm.plot import plot_curve

        written = plot_curve(
            {"train": values},
            path,
            f"iterations (x{eval_interval})",
            ylabel,
            ylim=ylim,
        )
        _notebook.show_png([written])  # in a notebook, shown as well
        return written
    if _notebook.in_kernel():  # inline, whatever matplotlib's backend
        from fastlstm.plot import _curve_figure

        fig = _curve_figure(
            {None: np.asarray(values, dtype=np.float64)},  # no legend, as the book
            None,
            f"iterations (x{eval_interval})",
            ylabel,
            None,
            ylim,
            None,
            False,
        )
        _notebook.show_figure(fig)
        return None
    import matplotlib.pyplot as plt

    x = np.arange(len(values))
    if ylim is not None:
        plt.ylim(*ylim)
    plt.plot(x, values, label="train")
    plt.xlabel(f"iterations (x{eval_interval})")
    plt.ylabel(ylabel)
    plt.show()
    return None


# ----------------------------------------------------------------------------
# trainers
# ----------------------------------------------------------------------------
class _BaseTrainer:
    def __init__(self, model, optimizer, progress=True):
        for attr in ("forward", "backward", "params", "grads"):
            if not hasattr(model, attr):
                raise TypeError(f"model has no attribute {attr!r} (book contract)")
        if not hasattr(optimizer, "update"):
            raise TypeError("optimizer has no method 'update(params, grads)'")
        self.model = model
        self.optimizer = optimizer
        self.progress = bool(progress)
        self.eval_interval = None
        self.current_epoch = 0

    def _step(self, batch_x, batch_t, max_grad):
        """One forward/backward/update; returns the loss as a float."""
        model = self.model
        loss = model.forward(batch_x, batch_t)
        model.backward()
        params, grads = unique_params(model.params, model.grads)  # shared weights -> one
        if max_grad is not None:
            clip_grads(grads, max_grad)
        self.optimizer.update(params, grads)
        return float(loss)

    def _bar(self, total, desc):
        # a widget in a notebook with ipywidgets, text in a terminal (hidden when not a tty)
        return progress_bar(total=total, desc=desc, progress=self.progress)

    def _report(self, bar, iters, max_iters, start_time, what, value):
        """Print the book's line ``| epoch E |  iter I / M | time S[s] | <what> V``."""
        if not self.progress:
            return
        line = "| epoch %d |  iter %d / %d | time %d[s] | %s %.2f" % (
            self.current_epoch + 1,
            iters + 1,
            max_iters,
            time.time() - start_time,
            what,
            value,
        )
        if bar.disable:
            print(line, flush=True)
        else:
            bar.write(line, file=sys.stdout)

    def _end_epoch(self, callbacks):
        """Count the epoch, run the callbacks; True if one of them asks to stop."""
        self.current_epoch += 1
        stop = False
        for cb in callbacks:
            stop = bool(cb(self, self.current_epoch)) or stop
        return stop


class Trainer(_BaseTrainer):
    """Mini-batch training loop for models without state (book's ``Trainer``).

    Every epoch the data are shuffled with ``rng.permutation`` and cut into
    ``len(x) // batch_size`` mini-batches (the remainder is not used).

    Parameters
    ----------
    model : object
        ``forward(x, t) -> loss``, ``backward()``, ``params``, ``grads``.
    optimizer : object
        ``update(params, grads)``, e.g. :class:`fastlstm.optim.Adam`.
    rng : numpy.random.Generator, numpy.random.RandomState, int or None, optional
        Source of the shuffling permutations (or a seed for one).  None (the
        default) shuffles with NumPy's global random state, as the book's
        ``np.random.permutation``; a ``RandomState`` shuffles exactly as the
        book does from the same state.
    progress : bool, default True
        Print the book's lines (``| epoch 1 |  iter 1 / 351 | time 0[s] | loss
        2.56``) every ``eval_interval`` iterations, with a tqdm progress bar
        below them when the output is a terminal.  False prints nothing.

    Attributes
    ----------
    loss_list : list of float
        Mean training loss over every ``eval_interval`` iterations.
    current_epoch : int
        Number of epochs trained so far.
    """

    def __init__(self, model, optimizer, *, rng=None, progress=True):
        super().__init__(model, optimizer, progress)
        self.rng = as_rng(rng)
        self.loss_list = []

    def fit(
        self,
        x,
        t,
        max_epoch=10,
        batch_size=32,
        max_grad=None,
        eval_interval=20,
        *,
        on_epoch_end=None,
    ):
        """Train for ``max_epoch`` epochs.

        Parameters
        ----------
        x, t : ndarray
            Inputs and targets, indexed along the first axis (same length).
        max_epoch : int, default 10
        batch_size : int, default 32
        max_grad : float or None, default None
            Clip the global gradient norm to this value (:func:`clip_grads`).
        eval_interval : int or None, default 20
            Every ``eval_interval`` iterations (counted from 0 in each epoch, as
            the book does) append the mean loss since the last record to
            ``loss_list``; None records nothing.
        on_epoch_end : callable or list of callables, optional
            Called as ``f(trainer, epoch)`` after each epoch, with ``epoch`` the
            number of epochs trained so far (``trainer.current_epoch``); objects
            with an ``on_epoch_end(trainer, epoch)`` method work too.  If a
            callback returns True, training stops after that epoch.
        """
        x = np.asarray(x)
        t = np.asarray(t)
        if len(x) != len(t):
            raise ValueError(f"x and t must have the same length, got {len(x)} and {len(t)}")
        max_epoch = _positive_int(max_epoch, "max_epoch")
        batch_size = _positive_int(batch_size, "batch_size")
        max_grad = _check_max_grad(max_grad)
        eval_interval = _check_eval_interval(eval_interval)
        callbacks = _callbacks(on_epoch_end)
        data_size = len(x)
        max_iters = data_size // batch_size
        if max_iters == 0:
            raise ValueError(f"batch_size={batch_size} is larger than the data ({data_size})")
        self.eval_interval = eval_interval

        total_loss, loss_count = 0.0, 0
        order = np.arange(data_size)
        start_time = time.time()
        with self._bar(max_epoch * max_iters, "train") as bar:
            for _ in range(max_epoch):
                # shuffle (composed with the previous epochs' order, as the book does)
                order = order[self.rng.permutation(data_size)]
                epoch_loss = 0.0
                for iters in range(max_iters):
                    idx = order[iters * batch_size : (iters + 1) * batch_size]
                    loss = self._step(x[idx], t[idx], max_grad)
                    total_loss += loss
                    loss_count += 1
                    epoch_loss += loss
                    if eval_interval is not None and iters % eval_interval == 0:
                        avg_loss = total_loss / loss_count
                        self.loss_list.append(avg_loss)
                        total_loss, loss_count = 0.0, 0
                        self._report(bar, iters, max_iters, start_time, "loss", avg_loss)
                        bar.set_postfix(epoch=self.current_epoch + 1, loss=f"{avg_loss:.3f}")
                    bar.update(1)
                if eval_interval is None:
                    bar.set_postfix(
                        epoch=self.current_epoch + 1, loss=f"{epoch_loss / max_iters:.3f}"
                    )
                if self._end_epoch(callbacks):
                    break

    def plot(self, ylim=None, path=None):
        """Plot the training loss curve: show it as the book does, or save it as a PNG.

        Parameters
        ----------
        ylim : (float, float), optional
            Limits of the y axis.
        path : str or path-like, optional
            Save the figure to this PNG file instead of showing it (in a
            notebook, the file written is shown as well).

        Returns
        -------
        pathlib.Path or None
            The file written, or None when the figure was shown: inline in a
            Jupyter kernel (a notebook), elsewhere with ``plt.show()`` on
            matplotlib's current backend.
        """
        return _plot_curve(self.loss_list, path, "loss", self.eval_interval, ylim)


class RnnlmTrainer(_BaseTrainer):
    """Truncated-BPTT training loop for RNN language models (book's ``RnnlmTrainer``).

    The corpus is read as ``batch_size`` parallel streams starting at offsets
    ``i * (len(xs) // batch_size)``; each iteration takes the next
    ``time_size`` steps of every stream (wrapping around the end), so the
    hidden state of a stateful model carries over between iterations.

    Parameters
    ----------
    model : object
        ``forward(xs, ts) -> loss``, ``backward()``, ``params``, ``grads``.
    optimizer : object
        ``update(params, grads)``, e.g. :class:`fastlstm.optim.SGD`.
    progress : bool, default True
        Print the book's lines (``| epoch 1 |  iter 1 / 1327 | time 0[s] |
        perplexity 9999.62``) every ``eval_interval`` iterations, with a tqdm
        progress bar below them when the output is a terminal.  False prints
        nothing.

    Attributes
    ----------
    ppl_list : list of float
        Training perplexity over every ``eval_interval`` iterations.
    time_idx : int
        Position of the next batch in the streams (reset to 0 by ``fit``).
    current_epoch : int
        Number of epochs trained so far.
    """

    def __init__(self, model, optimizer, *, progress=True):
        super().__init__(model, optimizer, progress)
        self.time_idx = 0
        self.ppl_list = []

    def get_batch(self, x, t, batch_size, time_size):
        """Return the next ``(batch_x, batch_t)``, both (N, T), and advance ``time_idx``.

        ``batch_x[i, s] = x[(i * jump + time_idx + s) % len(x)]`` with
        ``jump = len(x) // batch_size``; the same for ``t``.

        Parameters
        ----------
        x, t : ndarray of int, (corpus length,)
            Input and target word ids (``t`` is ``x`` shifted by one).
        batch_size : int
            ``N``, the number of parallel streams.
        time_size : int
            ``T``, the number of steps per batch.

        Returns
        -------
        batch_x, batch_t : ndarray of int, (N, T)
            The next batch of every stream.
        """
        data_size = len(x)
        jump = data_size // batch_size
        idx = np.arange(batch_size)[:, None] * jump + np.arange(time_size)  # (N, T)
        idx += self.time_idx
        np.remainder(idx, data_size, out=idx)
        self.time_idx += time_size
        return x[idx], t[idx]

    def fit(
        self,
        xs,
        ts,
        max_epoch=10,
        batch_size=20,
        time_size=35,
        max_grad=None,
        eval_interval=20,
        *,
        on_epoch_end=None,
    ):
        """Train for ``max_epoch`` epochs of ``len(xs) // (batch_size * time_size)`` iterations.

        Parameters
        ----------
        xs, ts : ndarray of int, shape (L,)
            Input word ids and targets (usually ``corpus[:-1]`` and ``corpus[1:]``).
        max_epoch : int, default 10
        batch_size : int, default 20
        time_size : int, default 35
            Truncated-BPTT length.
        max_grad : float or None, default None
            Clip the global gradient norm to this value (:func:`clip_grads`).
        eval_interval : int or None, default 20
            Every ``eval_interval`` iterations (counted from 0 in each epoch)
            append ``exp(mean loss)`` since the last record to ``ppl_list``.
        on_epoch_end : callable or list of callables, optional
            Called as ``f(trainer, epoch)`` after each epoch (see
            :meth:`Trainer.fit`); returning True stops training.
        """
        xs = _id_sequence(xs, "xs")
        ts = _id_sequence(ts, "ts")
        if len(xs) != len(ts):
            raise ValueError(f"xs and ts must have the same length, got {len(xs)} and {len(ts)}")
        max_epoch = _positive_int(max_epoch, "max_epoch")
        batch_size = _positive_int(batch_size, "batch_size")
        time_size = _positive_int(time_size, "time_size")
        max_grad = _check_max_grad(max_grad)
        eval_interval = _check_eval_interval(eval_interval)
        callbacks = _callbacks(on_epoch_end)
        data_size = len(xs)
        max_iters = data_size // (batch_size * time_size)
        if max_iters == 0:
            raise ValueError(
                f"batch_size * time_size = {batch_size * time_size} is larger than "
                f"the data ({data_size} ids)"
            )
        self.time_idx = 0
        self.eval_interval = eval_interval

        total_loss, loss_count = 0.0, 0
        start_time = time.time()
        with self._bar(max_epoch * max_iters, "train") as bar:
            for _ in range(max_epoch):
                epoch_loss = 0.0
                for iters in range(max_iters):
                    batch_x, batch_t = self.get_batch(xs, ts, batch_size, time_size)
                    loss = self._step(batch_x, batch_t, max_grad)
                    total_loss += loss
                    loss_count += 1
                    epoch_loss += loss
                    if eval_interval is not None and iters % eval_interval == 0:
                        ppl = math.exp(total_loss / loss_count)
                        self.ppl_list.append(ppl)
                        total_loss, loss_count = 0.0, 0
                        self._report(bar, iters, max_iters, start_time, "perplexity", ppl)
                        bar.set_postfix(epoch=self.current_epoch + 1, ppl=f"{ppl:.2f}")
                    bar.update(1)
                if eval_interval is None:
                    bar.set_postfix(
                        epoch=self.current_epoch + 1,
                        ppl=f"{math.exp(epoch_loss / max_iters):.2f}",
                    )
                if self._end_epoch(callbacks):
                    break

    def plot(self, ylim=None, path=None):
        """Plot the training perplexity curve: show it as the book does, or save it as a PNG.

        Parameters
        ----------
        ylim : (float, float), optional
            Limits of the y axis.
        path : str or path-like, optional
            Save the figure to this PNG file instead of showing it (in a
            notebook, the file written is shown as well).

        Returns
        -------
        pathlib.Path or None
            The file written, or None when the figure was shown: inline in a
            Jupyter kernel (a notebook), elsewhere with ``plt.show()`` on
            matplotlib's current backend.
        """
        return _plot_curve(self.ppl_list, path, "perplexity", self.eval_interval, ylim)


# ----------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------
def eval_perplexity(model, corpus, batch_size=10, time_size=35, *, progress=False):
    """Perplexity of a language model on a corpus (book's ``common/util.py``).

    The corpus is read as ``batch_size`` streams starting at offsets
    ``i * ((len(corpus) - 1) // batch_size)``; iteration ``k`` feeds the steps
    ``k * time_size ... (k + 1) * time_size - 1`` of every stream (wrapping
    around) and the next word as target.  The model keeps its state between
    iterations: call ``model.reset_state()`` before and after, as the book does.
    ``forward`` is called with ``train_flg=False`` when it accepts that keyword.

    Parameters
    ----------
    model : object
        ``forward(xs, ts[, train_flg]) -> loss`` (mean cross entropy).
    corpus : ndarray of int, shape (L,)
        Word ids.
    batch_size : int, default 10
    time_size : int, default 35
    progress : bool, default False
        Show a tqdm progress bar.

    Returns
    -------
    float
        ``exp(mean loss)`` over ``(L - 1) // (batch_size * time_size)`` iterations.
    """
    corpus = _id_sequence(corpus, "corpus")
    batch_size = _positive_int(batch_size, "batch_size")
    time_size = _positive_int(time_size, "time_size")
    corpus_size = len(corpus)
    max_iters = (corpus_size - 1) // (batch_size * time_size)
    if max_iters == 0:
        raise ValueError(
            f"corpus of {corpus_size} ids is too short for batch_size * time_size = "
            f"{batch_size * time_size}"
        )
    jump = (corpus_size - 1) // batch_size
    # all the batches at once: idx[k, i, s] = k * T + i * jump + s
    idx = (
        np.arange(max_iters)[:, None, None] * time_size
        + np.arange(batch_size)[None, :, None] * jump
        + np.arange(time_size)[None, None, :]
    )  # (K, N, T)
    xs_all = corpus[idx % corpus_size]
    ts_all = corpus[(idx + 1) % corpus_size]

    kwargs = {"train_flg": False} if _accepts_train_flg(model.forward) else {}
    total_loss = 0.0
    bar = progress_bar(range(max_iters), desc="perplexity", progress=progress)
    with bar:
        for k in bar:
            total_loss += float(model.forward(xs_all[k], ts_all[k], **kwargs))
    return math.exp(total_loss / max_iters)


from fastlstm.evaluation import eval_seq2seq, seq2seq_accuracy  # noqa: E402,F401  (re-export)
