"""The training engine: its loop, hooks, stop and exact resume, batch sources and evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastlstm import engine


class Linear:
    """A least-squares model on the book's contract (forward, backward, params, grads)."""

    def __init__(self, D=3, seed=0):
        self.params = [np.random.default_rng(seed).standard_normal((D, 1)).astype(np.float32)]
        self.grads = [np.zeros_like(self.params[0])]

    def forward(self, x, t):
        self.x, self.diff = x, x @ self.params[0] - t  # (N, 1)
        return float(np.mean(self.diff**2))

    def backward(self):
        self.grads[0][...] = 2 * self.x.T @ self.diff / len(self.x)


class PlainSGD:
    def update(self, params, grads):
        for p, g in zip(params, grads):
            p -= np.float32(0.1) * g


def data(n=40, D=3):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, D)).astype(np.float32)
    return x, (x @ np.arange(1, D + 1, dtype=np.float32)[:, None])


class Log(engine.Callback):
    def __init__(self, stop_at=None, flag=None, end_after=None):
        self.events, self.stop_at, self.flag, self.end_after = [], stop_at, flag, end_after

    def on_epoch_begin(self, epoch, iteration):
        self.events.append(("begin", epoch, iteration))
        if (epoch, -1) == self.stop_at:  # a stop before the epoch's first iteration
            self.flag.requested = True

    def on_batch_end(self, epoch, iteration, loss):
        self.events.append(("batch", epoch, iteration))
        if (epoch, iteration) == self.stop_at:
            self.flag.requested = True

    def on_epoch_end(self, epoch):
        self.events.append(("end", epoch))
        return self.end_after is not None and epoch >= self.end_after

    def on_train_end(self):
        self.events.append(("train_end",))


class Flag:
    requested = False


def test_fit_runs_the_epochs_and_calls_the_hooks_in_order():
    x, t = data(40)
    log = Log()
    batches = engine.ShuffledBatches(x, t, 16, np.random.default_rng(0))  # 2 batches an epoch
    out = engine.fit(Linear(), PlainSGD(), batches, epochs=2, callbacks=[log])
    assert out is None
    assert log.events == [
        ("begin", 0, 0), ("batch", 0, 0), ("batch", 0, 1), ("end", 0),
        ("begin", 1, 0), ("batch", 1, 0), ("batch", 1, 1), ("end", 1), ("train_end",),
    ]  # fmt: skip


def test_a_callback_ends_training_after_its_epoch():
    x, t = data(40)
    log = Log(end_after=0)
    batches = engine.ShuffledBatches(x, t, 16, np.random.default_rng(0))
    assert engine.fit(Linear(), PlainSGD(), batches, epochs=5, callbacks=[log]) is None
    assert [e for e in log.events if e[0] == "end"] == [("end", 0)]


def test_on_train_end_runs_when_a_step_fails():
    x, t = data(40)
    log = Log()

    class Broken(Linear):
        def backward(self):
            raise RuntimeError("boom")

    batches = engine.ShuffledBatches(x, t, 16, np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="boom"):
        engine.fit(Broken(), PlainSGD(), batches, epochs=1, callbacks=[log])
    assert log.events[-1] == ("train_end",)


@pytest.mark.parametrize("where", [(0, 1), (1, -1), (1, 0), (1, 2)])
def test_stopped_inside_an_epoch_then_resumed_gives_the_same_bits(where):
    """Stopped after iteration ``where[1]`` of epoch ``where[0]`` (-1: as the epoch begins,
    which leaves the position at its iteration 0), resumed: the bits of an unbroken run."""
    x, t = data(50)  # 3 batches of 16 an epoch
    rng_seed = 7

    def run(stop_at=None):
        model, flag = Linear(), Flag()
        rng = np.random.RandomState(rng_seed)
        states = {}

        class Keep(engine.Callback):  # the generator's state at each epoch's start
            def on_epoch_begin(self, epoch, iteration):
                states[epoch] = rng.get_state()

        losses = []
        interval = engine.IntervalMean(1, losses, per_epoch=True)
        batches = engine.ShuffledBatches(x, t, 16, rng)
        cbs = [interval, Keep(), Log(stop_at, flag)]
        out = engine.fit(model, PlainSGD(), batches, epochs=3, callbacks=cbs, stop=flag)
        if out is None:
            return model, losses
        if stop_at[1] + 1 < len(batches):
            assert out == engine.Stopped(stop_at[0], stop_at[1] + 1)
            # resume from the saved position: parameters, generator state at the epoch's start
            rng.set_state(states[out.epoch])
        else:  # stopped after the last step of an epoch: between two epochs
            assert out == engine.Stopped(stop_at[0] + 1, None)
        batches = engine.ShuffledBatches(x, t, 16, rng)
        engine.fit(
            model, PlainSGD(), batches, epochs=3, start_epoch=out.epoch,
            start_iteration=out.iteration or 0, callbacks=[interval],
        )  # fmt: skip
        return model, losses

    whole, whole_losses = run()
    resumed, resumed_losses = run(where)
    np.testing.assert_array_equal(whole.params[0], resumed.params[0])
    assert whole_losses == resumed_losses


def test_a_stop_during_the_epoch_end_stops_between_epochs():
    x, t = data(40)
    flag = Flag()

    class StopAtEnd(engine.Callback):
        def on_epoch_end(self, epoch):
            flag.requested = True
            return True  # also asks to end: the stop wins

    batches = engine.ShuffledBatches(x, t, 16, np.random.default_rng(0))
    out = engine.fit(Linear(), PlainSGD(), batches, epochs=3, callbacks=[StopAtEnd()], stop=flag)
    assert out == engine.Stopped(1, None)


def test_interval_mean_records_as_the_book():
    values = []
    iv = engine.IntervalMean(2, values, transform=math.exp)
    iv.on_epoch_begin(0, 0)
    for i, loss in enumerate([1.0, 2.0, 3.0, 4.0]):
        iv.on_batch_end(0, i, loss)
    iv.on_epoch_begin(1, 0)  # the book's trainers carry the sums into the next epoch
    iv.on_batch_end(1, 0, 5.0)
    assert values == [math.exp(1.0), math.exp(2.5), math.exp(4.5)]
    assert iv.epoch_loss == 5.0


def test_shuffled_batches_compose_as_the_books_trainer():
    x = np.arange(10)[:, None]
    a = engine.ShuffledBatches(x, x, 5, np.random.RandomState(3), compose=True)
    rng = np.random.RandomState(3)
    order = np.arange(10)
    for _ in range(3):
        a.start_epoch()
        order = order[rng.permutation(10)]  # the book's Trainer.fit
        np.testing.assert_array_equal(a.batch(1)[0][:, 0], order[5:10])


def test_bptt_batches_restart_or_continue_the_streams():
    xs = np.arange(100)
    b = engine.BpttBatches(xs, xs + 1, 4, 5)  # 5 batches an epoch
    assert len(b) == 5
    b.start_epoch(2)  # resumed at iteration 2
    x, t = b.batch(2)
    assert x.shape == (4, 5)
    np.testing.assert_array_equal(x[:, 0], [10, 35, 60, 85])
    np.testing.assert_array_equal(t, x + 1)
    c = engine.BpttBatches(xs, xs, 4, 5, continuous=True)
    for i in range(5):
        c.batch(i)
    c.start_epoch(0)  # the book's RnnlmTrainer: on where the last epoch ended
    np.testing.assert_array_equal(c.batch(0)[0][:, 0], [25, 50, 75, 0])


def test_perplexity_is_the_books_eval_perplexity():
    """The book's loop (common/util.py eval_perplexity), written out, against the engine's."""

    class Unigram:
        def __init__(self):
            self.p = np.linspace(1, 2, 20) / np.linspace(1, 2, 20).sum()
            self.seen = []

        def forward(self, xs, ts):
            self.seen.append((xs.copy(), ts.copy()))
            return float(-np.mean(np.log(self.p[ts])))

    corpus = np.random.default_rng(0).integers(0, 20, 1000)
    N, T = 7, 9
    book = Unigram()
    corpus_size = len(corpus)
    max_iters = (corpus_size - 1) // (N * T)
    jump = (corpus_size - 1) // N
    total = 0.0
    for iters in range(max_iters):
        xs = np.zeros((N, T), dtype=np.int32)
        ts = np.zeros((N, T), dtype=np.int32)
        time_offset = iters * T
        offsets = [time_offset + (i * jump) for i in range(N)]
        for s in range(T):
            for i, offset in enumerate(offsets):
                xs[i, s] = corpus[(offset + s) % corpus_size]
                ts[i, s] = corpus[(offset + s + 1) % corpus_size]
        total += book.forward(xs, ts)
    ours = Unigram()
    assert engine.perplexity(ours, corpus, N, T) == math.exp(total / max_iters)
    for (a, b), (c, d) in zip(book.seen, ours.seen):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
