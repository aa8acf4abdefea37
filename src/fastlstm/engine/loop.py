"""The epoch loop of the engine, its callbacks and its Ctrl-C flag."""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import dataclass

from fastlstm import _notebook
from fastlstm.engine import step as _step


class Callback:
    """Hooks :func:`fit` calls; subclass and override those needed (in the spirit of Keras).

    Every hook gets the 0-based ``epoch``.  Callbacks run in the order given.
    """

    def on_epoch_begin(self, epoch: int, iteration: int) -> None:
        """Before the first batch of an epoch.

        Parameters
        ----------
        epoch : int
            The epoch (0-based).
        iteration : int
            Its first iteration: > 0 when resumed inside the epoch.
        """

    def on_batch_end(self, epoch: int, iteration: int, loss: float) -> None:
        """After one training step.

        Parameters
        ----------
        epoch, iteration : int
            Where (0-based; ``iteration`` counted in the epoch).
        loss : float
            The step's loss.
        """

    def on_epoch_end(self, epoch: int) -> bool | None:
        """After the last batch of an epoch.

        Parameters
        ----------
        epoch : int
            The epoch (0-based).

        Returns
        -------
        bool or None
            True to stop training after this epoch.
        """

    def on_train_end(self) -> None:
        """When :func:`fit` returns or raises (close progress bars here)."""


@dataclass
class Stopped:
    """Where a :class:`StopFlag` stopped :func:`fit`.

    Attributes
    ----------
    epoch : int
        The epoch to resume (0-based): ``start_epoch`` of the next ``fit``.
    iteration : int or None
        The iteration of ``epoch`` not yet trained (``start_iteration``), or
        None when stopped between two epochs (after ``epoch - 1``).
    """

    epoch: int
    iteration: int | None


def fit(
    model,
    optimizer,
    batches,
    *,
    epochs,
    start_epoch=0,
    start_iteration=0,
    max_grad=None,
    callbacks=(),
    stop=None,
):
    """Train ``model`` for epochs ``start_epoch .. epochs - 1``: the engine's one loop.

    Parameters
    ----------
    model, optimizer : object
        The book's contract (see :func:`~fastlstm.engine.train_step`).
    batches : object
        A batch source (:class:`~fastlstm.engine.ShuffledBatches`,
        :class:`~fastlstm.engine.BpttBatches`): ``len()`` iterations per
        epoch, ``start_epoch(iteration)``, ``batch(iteration) -> (x, t)``.
    epochs : int
        Epoch after which to end (exclusive bound, counted from 0).
    start_epoch, start_iteration : int, default 0
        Resume inside epoch ``start_epoch`` at iteration ``start_iteration``.
    max_grad : float or None, optional
        Gradient clipping norm (None or 0: none).
    callbacks : sequence of Callback
        Hooks, in order; one returning True from ``on_epoch_end`` ends training
        after that epoch (every callback still sees the epoch's end).
    stop : object with a ``requested`` attribute, optional
        E.g. a :class:`StopFlag`: checked before every step and after every
        epoch's callbacks.

    Returns
    -------
    Stopped or None
        Where training was stopped by ``stop``; None when it ended.
    """
    try:
        for epoch in range(start_epoch, epochs):
            first = start_iteration if epoch == start_epoch else 0
            for cb in callbacks:
                cb.on_epoch_begin(epoch, first)
            batches.start_epoch(first)
            for iteration in range(first, len(batches)):
                if stop is not None and stop.requested:
                    return Stopped(epoch, iteration)
                x, t = batches.batch(iteration)
                loss = _step.train_step(model, optimizer, x, t, max_grad)
                for cb in callbacks:
                    cb.on_batch_end(epoch, iteration, loss)
            end = False
            for cb in callbacks:
                end = bool(cb.on_epoch_end(epoch)) or end
            if stop is not None and stop.requested:
                return Stopped(epoch + 1, None)
            if end:
                break
        return None
    finally:
        for cb in callbacks:
            cb.on_train_end()


class IntervalMean(Callback):
    """Mean training loss over every ``interval`` iterations (the book's ``loss_list``).

    A value is recorded at the iterations ``i`` with ``i % interval == 0``
    (counted from 0 in each epoch, as the book does), over the losses since
    the last record.

    Parameters
    ----------
    interval : int or None
        None records nothing (``epoch_loss`` is still summed).
    values : list
        Where the records are appended.
    transform : callable, optional
        Applied to the mean (``math.exp`` for a perplexity).
    per_epoch : bool, default False
        Start every epoch with an empty sum (one ``fit`` call per epoch); False
        carries the last iterations of an epoch into the first record of the
        next, as the book's trainers do within one ``fit``.
    on_record : callable, optional
        Called as ``on_record(epoch, iteration, value)`` after each record.

    Attributes
    ----------
    total, count : float, int
        Sum and number of the losses since the last record (saved by resumable
        checkpoints).
    epoch_loss : float
        Sum of the losses of the current epoch.
    """

    def __init__(self, interval, values, *, transform=None, per_epoch=False, on_record=None):
        self.interval = interval
        self.values = values
        self.transform = transform
        self.per_epoch = per_epoch
        self.on_record = on_record
        self.total, self.count, self.epoch_loss = 0.0, 0, 0.0

    def on_epoch_begin(self, epoch, iteration):
        """Zero ``epoch_loss`` (and the sums, if ``per_epoch``).

        Parameters
        ----------
        epoch, iteration : int
            As :meth:`Callback.on_epoch_begin`.
        """
        self.epoch_loss = 0.0
        if self.per_epoch:
            self.total, self.count = 0.0, 0

    def on_batch_end(self, epoch, iteration, loss):
        """Add ``loss``; record the mean at the iterations ``i % interval == 0``.

        Parameters
        ----------
        epoch, iteration : int
            As :meth:`Callback.on_batch_end`.
        loss : float
            The step's loss.
        """
        self.total += loss
        self.count += 1
        self.epoch_loss += loss
        if self.interval is not None and iteration % self.interval == 0:
            value = self.total / self.count
            if self.transform is not None:
                value = self.transform(value)
            self.values.append(value)
            self.total, self.count = 0.0, 0
            if self.on_record is not None:
                self.on_record(epoch, iteration, value)


class StopFlag:
    """Turns the first Ctrl-C or SIGTERM into a request to stop at the next iteration.

    SIGTERM (sent by job schedulers, ``docker stop``, ``timeout`` and notebook
    shutdowns) takes the same path as Ctrl-C: a run saves a resumable
    checkpoint, releases its lock and says how to continue.  A second signal
    raises :class:`KeyboardInterrupt` at once.  The previous handlers are
    restored on exit.  Only the main thread receives signals; elsewhere nothing
    is installed.

    Parameters
    ----------
    printer : object, optional
        With a ``verbose`` attribute: when true, the first signal prints what
        happens next on stderr.
    """

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self, printer=None):
        self.requested = False
        self.printer = printer
        self._old = {}

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.printer is not None and self.printer.verbose:
            again = "interrupt the kernel again" if _notebook.in_kernel() else "Ctrl-C again"
            name = "" if signum == signal.SIGINT else f"{signal.Signals(signum).name}: "
            print(
                f"\n{name}stopping after the current iteration (or evaluation) to save a "
                f"checkpoint ({again} to quit without saving)",
                file=sys.stderr,
                flush=True,
            )

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                signum = getattr(signal, name, None)
                if signum is not None:
                    self._old[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc):
        old, self._old = self._old, {}
        for signum, handler in old.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
