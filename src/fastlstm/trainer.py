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

Both are clients of :func:`fastlstm.engine.fit`, the package's one training
loop: its :func:`~fastlstm.engine.train_step` merges shared weights with
:func:`fastlstm.optim.unique_params` and clips gradients with
:func:`fastlstm.optim.clip_grads`; the trainers print and record through its
callbacks.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from fastlstm import _notebook, engine
from fastlstm import _validate as _v
from fastlstm._notebook import progress_bar
from fastlstm.evaluation import eval_seq2seq, seq2seq_accuracy  # noqa: F401  (re-export)
from fastlstm.layers import Embedding
from fastlstm.models.base import as_rng
from fastlstm.optim import PlateauDecay, unique_params
from fastlstm.plot import _curve_figure, plot_curve

__all__ = ["Trainer", "RnnlmTrainer", "eval_perplexity", "PlateauDecay", "remove_duplicate"]


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
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


def _plot_curve(values, path, ylabel, eval_interval, ylim):
    """The book's ``plot``: show the curve with ``plt.show()``, or save it to ``path``."""
    if len(values) == 0:
        raise ValueError("nothing to plot: fit() has recorded no values (was eval_interval None?)")
    if isinstance(ylim, str | os.PathLike):
        raise TypeError(
            f"plot(ylim=None, path=None): ylim is {ylim!r}; to save the figure, "
            f"call plot(path={os.fspath(ylim)!r})"
        )
    if path is not None:
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
        _v.check_flag("progress", progress)
        self.progress = bool(progress)
        self.eval_interval = None
        self.current_epoch = 0

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

    def _fit(self, batches, max_epoch, max_grad, eval_interval, callbacks, what):
        """Run the engine with the book's printing, recording and epoch callbacks."""
        self.eval_interval = eval_interval
        lm = what == "perplexity"
        hooks = _BookHooks(self, len(batches), what, callbacks)
        interval = engine.IntervalMean(
            eval_interval,
            self.ppl_list if lm else self.loss_list,
            transform=engine.perplexity_of if lm else None,
            on_record=hooks.recorded,
        )
        hooks.interval = interval
        total = max_epoch * len(batches)
        # a widget in a notebook with ipywidgets, text in a terminal (hidden when not a tty)
        with progress_bar(total=total, desc="train", progress=self.progress) as bar:
            hooks.bar = bar
            engine.fit(
                self.model,
                self.optimizer,
                batches,
                epochs=max_epoch,
                max_grad=max_grad,
                callbacks=[interval, hooks],
            )


class _BookHooks(engine.Callback):
    """The book's trainers on the engine: the book's lines, the bar, ``on_epoch_end``."""

    def __init__(self, trainer, max_iters, what, callbacks):
        self.trainer = trainer
        self.max_iters = max_iters
        self.what = what  # "loss" or "perplexity"
        self.callbacks = callbacks  # f(trainer, epoch), the fit's on_epoch_end
        self.lm = what == "perplexity"
        self.interval = self.bar = None
        self.start_time = time.time()

    def _postfix(self, value):
        epoch = self.trainer.current_epoch + 1
        if self.lm:
            self.bar.set_postfix(epoch=epoch, ppl=f"{value:.2f}")
        else:
            self.bar.set_postfix(epoch=epoch, loss=f"{value:.3f}")

    def recorded(self, epoch, iteration, value):
        self.trainer._report(self.bar, iteration, self.max_iters, self.start_time, self.what, value)
        self._postfix(value)

    def on_batch_end(self, epoch, iteration, loss):
        self.bar.update(1)

    def on_epoch_end(self, epoch):
        trainer = self.trainer
        if self.interval.interval is None:
            mean = self.interval.epoch_loss / self.max_iters
            self._postfix(engine.perplexity_of(mean) if self.lm else mean)
        trainer.current_epoch += 1
        stop = False
        for cb in self.callbacks:
            stop = bool(cb(trainer, trainer.current_epoch)) or stop
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
        if np.ndim(x) == 0 or np.ndim(t) == 0:
            raise TypeError(f"x and t must be arrays of samples, got {x!r} and {t!r}")
        x = np.asarray(x)
        t = np.asarray(t)
        if len(x) != len(t):
            raise ValueError(f"x and t must have the same length, got {len(x)} and {len(t)}")
        max_epoch = _v.positive_int(max_epoch, "max_epoch")
        batch_size = _v.positive_int(batch_size, "batch_size")
        max_grad = _v.max_grad(max_grad)
        eval_interval = _v.optional_positive_int(eval_interval, "eval_interval")
        callbacks = _callbacks(on_epoch_end)
        if len(x) // batch_size == 0:
            raise ValueError(f"batch_size={batch_size} is larger than the data ({len(x)})")
        batches = engine.ShuffledBatches(x, t, batch_size, self.rng, compose=True)
        self._fit(batches, max_epoch, max_grad, eval_interval, callbacks, "loss")

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
        batch = engine.bptt_batch(x, t, batch_size, time_size, self.time_idx)
        self.time_idx += time_size
        return batch

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
        xs = _v.id_array(xs, "xs", 1)
        ts = _v.id_array(ts, "ts", 1)
        if len(xs) != len(ts):
            raise ValueError(f"xs and ts must have the same length, got {len(xs)} and {len(ts)}")
        max_epoch = _v.positive_int(max_epoch, "max_epoch")
        batch_size = _v.positive_int(batch_size, "batch_size")
        time_size = _v.positive_int(time_size, "time_size")
        max_grad = _v.max_grad(max_grad)
        eval_interval = _v.optional_positive_int(eval_interval, "eval_interval")
        callbacks = _callbacks(on_epoch_end)
        data_size = len(xs)
        if data_size // (batch_size * time_size) == 0:
            raise ValueError(
                f"batch_size * time_size = {batch_size * time_size} is larger than "
                f"the data ({data_size} ids)"
            )
        self.time_idx = 0
        batches = _GetBatch(self, xs, ts, batch_size, time_size)
        self._fit(batches, max_epoch, max_grad, eval_interval, callbacks, "perplexity")

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


def remove_duplicate(params, grads):
    """Merge shared parameters and add their gradients (the book's ``remove_duplicate``).

    The same as :func:`fastlstm.optim.unique_params`, under the book's name. Shared and
    transposed (weight-tied) parameters are found by their memory, where the book's compares
    values: two distinct arrays that happen to hold equal values (a square matrix and another
    holding its transpose, say) stay two parameters here.

    Parameters
    ----------
    params, grads : list of ndarray
        The model's lists; not modified.

    Returns
    -------
    params, grads : list of ndarray
        New lists without the duplicates; the kept gradients hold the sums (added in place).
    """
    return unique_params(params, grads)


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

    Raises
    ------
    ValueError
        If the corpus is too short, or holds an id below 0 or (for a model whose first layer
        is an embedding) past its vocabulary: the message gives the id's index.
    """
    corpus = _v.id_array(corpus, "corpus", 1)
    _check_corpus_ids(corpus, _vocab_size(model))
    batch_size = _v.positive_int(batch_size, "batch_size")
    time_size = _v.positive_int(time_size, "time_size")
    corpus_size = len(corpus)
    max_iters = (corpus_size - 1) // (batch_size * time_size)
    if max_iters == 0:
        raise ValueError(
            f"corpus of {corpus_size} ids is too short for batch_size * time_size = "
            f"{batch_size * time_size}"
        )
    return engine.perplexity(model, corpus, batch_size, time_size, progress=progress)


def _vocab_size(model):
    """The number of rows of the model's first layer when it is an embedding, else None."""
    layers = getattr(model, "layers", None)
    first = layers[0] if isinstance(layers, (list, tuple)) and layers else None
    params = getattr(first, "params", None)
    if isinstance(first, Embedding) and params:  # (TimeEmbedding is one)
        return np.shape(params[0])[0]
    return None


def _check_corpus_ids(corpus, vocab_size):
    """Refuse ids below 0 (or at least ``vocab_size`` when known), naming the first one's index."""
    where = _v.first_out_of_range(corpus, vocab_size)
    if where is not None:
        (i,) = where
        allowed = "ids >= 0" if vocab_size is None else f"ids in [0, {vocab_size})"
        raise ValueError(f"corpus holds id {corpus[i]} at index {i}; the model takes {allowed}")


class _GetBatch(engine.BpttBatches):
    """The engine's BPTT source read through ``RnnlmTrainer.get_batch`` (``time_idx`` there),
    so that a subclass overriding ``get_batch`` trains on its batches, as in the book."""

    def __init__(self, trainer, xs, ts, batch_size, time_size):
        super().__init__(xs, ts, batch_size, time_size, continuous=True)
        self.trainer = trainer

    def batch(self, iteration):
        return self.trainer.get_batch(self.xs, self.ts, self.batch_size, self.time_size)
