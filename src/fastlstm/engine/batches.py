"""Batch sources of the engine: shuffled rows (seq2seq) and the book's BPTT streams (LMs).

A batch source has ``len(source)`` iterations per epoch,
``start_epoch(iteration)`` called before the first batch of an epoch (at
``iteration`` > 0 when resuming inside it) and ``batch(iteration) -> (x, t)``.
"""

from __future__ import annotations

import numpy as np


def bptt_index(batch_size, time_size, data_size, time_idx):
    """Indices of one truncated-BPTT batch of the book's streams.

    Parameters
    ----------
    batch_size, time_size : int
        ``N`` streams and ``T`` steps.
    data_size : int
        Length of the sequence read; the streams start at ``i * (data_size // N)``.
    time_idx : int
        Steps already read in every stream.

    Returns
    -------
    ndarray of int64, shape (N, T)
        ``(i * jump + time_idx + s) % data_size`` with ``jump = data_size // N``.
    """
    jump = data_size // batch_size
    idx = np.arange(batch_size)[:, None] * jump + np.arange(time_size)  # (N, T)
    idx += time_idx
    np.remainder(idx, data_size, out=idx)
    return idx


def bptt_batch(xs, ts, batch_size, time_size, time_idx):
    """One truncated-BPTT batch of the book's streams.

    Parameters
    ----------
    xs, ts : ndarray, shape (L,)
        Inputs and targets.
    batch_size, time_size : int
        ``N`` streams (starting at ``i * (L // N)``) and ``T`` steps.
    time_idx : int
        Steps already read in every stream.

    Returns
    -------
    tuple of ndarray, each (N, T)
        ``(xs[idx], ts[idx])`` with ``idx`` of :func:`bptt_index`.
    """
    idx = bptt_index(batch_size, time_size, len(xs), time_idx)
    return xs[idx], ts[idx]


class ShuffledBatches:
    """Mini-batches of rows in a new random order every epoch (the book's ``Trainer``).

    Parameters
    ----------
    x, t : ndarray
        Inputs and targets, indexed along the first axis (same length).
    batch_size : int
        Rows per batch; ``len(x) // batch_size`` batches an epoch (the rest unused).
    rng : numpy.random.Generator or numpy.random.RandomState
        Source of ``rng.permutation``, drawn once at the start of every epoch
        (also a resumed one: restore the generator's state from that moment).
    compose : bool, default False
        Compose each epoch's permutation with the previous epochs' order, as
        the book's ``Trainer.fit`` does within one call; False starts from the
        identity every epoch, as one ``fit`` call per epoch does.
    """

    def __init__(self, x, t, batch_size, rng, *, compose=False):
        self.x, self.t, self.batch_size, self.rng = x, t, batch_size, rng
        self.compose = compose
        self.order = np.arange(len(x))

    def __len__(self) -> int:
        return len(self.x) // self.batch_size

    def start_epoch(self, iteration=0) -> None:
        """Prepare an epoch: for a resumed one, ``iteration`` is its first iteration.

        Parameters
        ----------
        iteration : int, default 0
            The epoch's first iteration.
        """
        perm = self.rng.permutation(len(self.x))
        self.order = self.order[perm] if self.compose else perm

    def batch(self, iteration):
        """The batch of ``iteration``.

        Parameters
        ----------
        iteration : int
            0-based, in the epoch.

        Returns
        -------
        tuple of ndarray
            ``(x, t)``.
        """
        N = self.batch_size
        idx = self.order[iteration * N : (iteration + 1) * N]
        return self.x[idx], self.t[idx]


class BpttBatches:
    """The book's truncated-BPTT batches: ``N`` parallel streams, ``T`` steps at a time.

    Parameters
    ----------
    xs, ts : ndarray of int, shape (L,)
        Input word ids and targets.
    batch_size, time_size : int
        ``N`` and ``T``; ``L // (N * T)`` batches an epoch.
    continuous : bool, default False
        Keep reading the streams where the last epoch ended (the book's
        ``RnnlmTrainer`` within one ``fit``); False starts every epoch at the
        streams' beginnings, as one ``fit`` call per epoch does.

    Attributes
    ----------
    time_idx : int
        Position of the next batch in the streams.
    """

    def __init__(self, xs, ts, batch_size, time_size, *, continuous=False):
        self.xs, self.ts = xs, ts
        self.batch_size, self.time_size = batch_size, time_size
        self.continuous = continuous
        self.time_idx = 0

    def __len__(self) -> int:
        return len(self.xs) // (self.batch_size * self.time_size)

    def start_epoch(self, iteration=0) -> None:
        """Prepare an epoch: for a resumed one, ``iteration`` is its first iteration.

        Parameters
        ----------
        iteration : int, default 0
            The epoch's first iteration.
        """
        if not self.continuous:
            self.time_idx = iteration * self.time_size

    def batch(self, iteration):
        """The batch of ``iteration``.

        Parameters
        ----------
        iteration : int
            0-based, in the epoch.

        Returns
        -------
        tuple of ndarray
            ``(x, t)``.
        """
        x, t = bptt_batch(self.xs, self.ts, self.batch_size, self.time_size, self.time_idx)
        self.time_idx += self.time_size
        return x, t
