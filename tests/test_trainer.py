"""Training loops and eval_perplexity on tiny NumPy models with the book's contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastlstm import optim
from fastlstm.trainer import PlateauDecay, RnnlmTrainer, Trainer, eval_perplexity


# -- tiny models (book contract: params/grads lists, forward -> loss, backward) --
def _softmax(s):
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


class SoftmaxRegression:
    """``softmax(x @ W + b)`` with cross-entropy loss over integer labels."""

    def __init__(self, D, C, seed=0):
        rng = np.random.default_rng(seed)
        self.params = [0.01 * rng.standard_normal((D, C)), np.zeros(C)]
        self.grads = [np.zeros_like(p) for p in self.params]

    def forward(self, x, t):
        W, b = self.params
        y = _softmax(x @ W + b)  # (N, C)
        self.cache = (x, y, t)
        return -np.mean(np.log(y[np.arange(len(t)), t] + 1e-7))

    def backward(self, dout=1):
        x, y, t = self.cache
        dy = y.copy()
        dy[np.arange(len(t)), t] -= 1
        dy *= dout / len(t)
        self.grads[0][...] = x.T @ dy
        self.grads[1][...] = dy.sum(axis=0)


class TiedBigramLM:
    """Embedding ``E`` (V, D) and scores ``E[x] @ E.T + b``; the affine weight is the view ``E.T``.

    ``params = [E, E.T, b]`` as in the book's weight-tied models.
    """

    def __init__(self, V, D, seed=0):
        rng = np.random.default_rng(seed)
        E = 0.1 * rng.standard_normal((V, D))
        self.params = [E, E.T, np.zeros(V)]
        self.grads = [np.zeros_like(p) for p in self.params]
        self.calls = []

    def forward(self, xs, ts):
        self.calls.append((xs.copy(), ts.copy()))
        E, A, b = self.params
        h = E[xs]  # (N, T, D)
        y = _softmax(h @ A + b)  # (N, T, V)
        self.cache = (xs, ts, h, y)
        picked = np.take_along_axis(y, ts[..., None], axis=-1)
        return -np.mean(np.log(picked + 1e-7))

    def backward(self, dout=1):
        xs, ts, h, y = self.cache
        E, A, _ = self.params
        N, T, V = y.shape
        D = h.shape[-1]
        ds = y.copy()
        np.put_along_axis(ds, ts[..., None], np.take_along_axis(ds, ts[..., None], -1) - 1, -1)
        ds *= dout / (N * T)
        ds2 = ds.reshape(N * T, V)
        self.grads[1][...] = h.reshape(N * T, D).T @ ds2  # (D, V)
        self.grads[2][...] = ds2.sum(axis=0)
        dE = np.zeros_like(E)
        np.add.at(dE, xs.reshape(-1), ds2 @ A.T)
        self.grads[0][...] = dE

    def reset_state(self):
        pass


class EvalModeLM(TiedBigramLM):
    """Records the ``train_flg`` it was given (like the book's BetterRnnlm)."""

    def forward(self, xs, ts, train_flg=True):
        self.flags = getattr(self, "flags", []) + [train_flg]
        return super().forward(xs, ts)


class SpyOptimizer:
    """Records what ``update`` receives, then delegates."""

    def __init__(self, inner):
        self.inner = inner
        self.seen = []

    @property
    def lr(self):
        return self.inner.lr

    def update(self, params, grads):
        norm = math.sqrt(sum(float(np.sum(g**2)) for g in grads))
        self.seen.append((list(params), norm))
        self.inner.update(params, grads)


def blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    t = rng.integers(0, 3, n)
    x = centers[t] + 0.5 * rng.standard_normal((n, 2))
    return x, t


def cyclic_corpus(L=2001, V=10):
    return (np.arange(L) * 3) % V  # next word = word + 3 (mod V): a learnable bigram


# -- Trainer --------------------------------------------------------------------
def test_trainer_loss_decreases_and_is_reproducible():
    x, t = blobs()
    runs = []
    for seed in (42, 42, 7):
        model = SoftmaxRegression(2, 3)
        trainer = Trainer(model, optim.SGD(lr=0.5), rng=seed, progress=False)
        trainer.fit(x, t, max_epoch=4, batch_size=30, eval_interval=5)
        runs.append(trainer.loss_list)
    loss = runs[0]
    assert len(loss) == 4 * 2  # iterations 0 and 5 of the 10 per epoch
    assert loss[0] > math.log(3) - 0.05  # starts near chance
    assert loss[-1] < 0.5 * loss[0]
    assert runs[0] == runs[1]  # same seed, same shuffles
    assert runs[0] != runs[2]
    assert trainer.current_epoch == 4


def test_trainer_uses_every_sample_once_per_epoch():
    x = np.arange(40.0)[:, None]
    t = np.zeros(40, dtype=int)
    seen = []

    class Recorder(SoftmaxRegression):
        def forward(self, xb, tb):
            seen.append(xb[:, 0].copy())
            return super().forward(xb, tb)

    trainer = Trainer(Recorder(1, 2), optim.SGD(), rng=0, progress=False)
    trainer.fit(x, t, max_epoch=2, batch_size=8, eval_interval=None)
    assert trainer.loss_list == []
    first, second = np.concatenate(seen[:5]), np.concatenate(seen[5:])
    assert sorted(first) == list(range(40)) and sorted(second) == list(range(40))
    assert not np.array_equal(first, second)


def test_trainer_clips_and_calls_back():
    x, t = blobs(120)
    spy = SpyOptimizer(optim.Adam(lr=0.05))
    trainer = Trainer(SoftmaxRegression(2, 3), spy, rng=0, progress=False)
    epochs = []

    def stop_after_two(tr, epoch):
        epochs.append(epoch)
        assert tr is trainer
        return epoch == 2

    class Other:
        def __init__(self):
            self.count = 0

        def on_epoch_end(self, tr, epoch):
            self.count += 1

    other = Other()
    trainer.fit(
        x, t, max_epoch=5, batch_size=20, max_grad=0.05, on_epoch_end=[stop_after_two, other]
    )
    assert epochs == [1, 2] and other.count == 2 and trainer.current_epoch == 2
    assert len(spy.seen) == 2 * 6
    assert max(norm for _, norm in spy.seen) <= 0.05 * (1 + 1e-6)


def test_trainer_validates():
    x, t = blobs(50)
    trainer = Trainer(SoftmaxRegression(2, 3), optim.SGD(), progress=False)
    with pytest.raises(ValueError, match="same length"):
        trainer.fit(x, t[:-1])
    with pytest.raises(ValueError, match="batch_size"):
        trainer.fit(x, t, batch_size=64)
    with pytest.raises(ValueError, match="eval_interval"):
        trainer.fit(x, t, eval_interval=0)
    with pytest.raises(TypeError, match="on_epoch_end"):
        trainer.fit(x, t, on_epoch_end=3)
    with pytest.raises(TypeError, match="forward"):
        Trainer(object(), optim.SGD())
    with pytest.raises(ValueError, match="nothing to plot"):
        trainer.plot()
    # each was accepted, or failed on something else
    with pytest.raises(TypeError, match="max_grad must be a positive number or None, got '5'"):
        trainer.fit(x, t, max_grad="5")
    with pytest.raises(TypeError, match="x and t must be arrays of samples, got 3 and 4"):
        trainer.fit(3, 4)
    with pytest.raises(TypeError, match="progress must be True or False, got 'no'"):
        Trainer(SoftmaxRegression(2, 3), optim.SGD(), progress="no")


def test_trainer_plot_writes_png(tmp_path):
    x, t = blobs(100)
    trainer = Trainer(SoftmaxRegression(2, 3), optim.SGD(lr=0.5), rng=0, progress=False)
    trainer.fit(x, t, max_epoch=2, batch_size=10, eval_interval=2)
    out = trainer.plot(ylim=(0, 2), path=tmp_path / "loss.png")
    assert out == tmp_path / "loss.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- RnnlmTrainer ---------------------------------------------------------------
def book_get_batch(x, t, batch_size, time_size, time_idx):
    """The book's per-element loop (common/trainer.py)."""
    bx = np.empty((batch_size, time_size), dtype=int)
    bt = np.empty((batch_size, time_size), dtype=int)
    data_size = len(x)
    jump = data_size // batch_size
    offsets = [i * jump for i in range(batch_size)]
    for time in range(time_size):
        for i, offset in enumerate(offsets):
            bx[i, time] = x[(offset + time_idx) % data_size]
            bt[i, time] = t[(offset + time_idx) % data_size]
        time_idx += 1
    return bx, bt, time_idx


def test_get_batch_matches_book_loop():
    rng = np.random.default_rng(0)
    corpus = rng.integers(0, 50, 203)
    xs, ts = corpus[:-1], corpus[1:]
    trainer = RnnlmTrainer(TiedBigramLM(50, 4), optim.SGD(), progress=False)
    trainer.time_idx = 0
    time_idx = 0
    for _ in range(9):  # wraps around the end of the data
        bx, bt = trainer.get_batch(xs, ts, 4, 7)
        ex, et, time_idx = book_get_batch(xs, ts, 4, 7, time_idx)
        np.testing.assert_array_equal(bx, ex)
        np.testing.assert_array_equal(bt, et)
        assert trainer.time_idx == time_idx


def test_rnnlm_trainer_perplexity_decreases_with_tied_weights():
    corpus = cyclic_corpus()
    xs, ts = corpus[:-1], corpus[1:]
    model = TiedBigramLM(10, 8)
    spy = SpyOptimizer(optim.Adam(lr=0.05))
    trainer = RnnlmTrainer(model, spy, progress=False)
    trainer.fit(xs, ts, max_epoch=3, batch_size=10, time_size=10, max_grad=5.0, eval_interval=5)
    ppl = trainer.ppl_list
    assert len(ppl) == 3 * 4  # 20 iterations per epoch, recorded at 0, 5, 10, 15
    assert ppl[0] > 8.0  # about V at the start
    assert ppl[-1] < 0.5 * ppl[0]
    E, _, b = model.params
    kept = spy.seen[0][0]
    assert len(kept) == 2 and kept[0] is E and kept[1] is b  # E.T merged into E
    # the batches follow the book's streams
    ex, et, _ = book_get_batch(xs, ts, 10, 10, 0)
    np.testing.assert_array_equal(model.calls[0][0], ex)
    np.testing.assert_array_equal(model.calls[0][1], et)
    # ppl_list keeps growing over successive fits (book's loop of fit(max_epoch=1))
    trainer.fit(xs, ts, max_epoch=1, batch_size=10, time_size=10, eval_interval=5)
    assert len(trainer.ppl_list) == 16 and trainer.current_epoch == 4


def test_rnnlm_trainer_validates_and_plots(tmp_path):
    corpus = cyclic_corpus(300)
    trainer = RnnlmTrainer(TiedBigramLM(10, 4), optim.SGD(lr=1.0), progress=False)
    with pytest.raises(TypeError, match="integer"):
        trainer.fit(corpus[:-1].astype(float), corpus[1:])
    with pytest.raises(ValueError, match="same length"):
        trainer.fit(corpus[:-1], corpus[2:])
    with pytest.raises(ValueError, match="larger than the data"):
        trainer.fit(corpus[:-1], corpus[1:], batch_size=20, time_size=35)
    trainer.fit(corpus[:-1], corpus[1:], max_epoch=2, batch_size=5, time_size=5, eval_interval=3)
    out = trainer.plot(path=tmp_path / "ppl.png")
    assert out.read_bytes()[:4] == b"\x89PNG"


# -- eval_perplexity ------------------------------------------------------------
def book_eval_perplexity(model, corpus, batch_size, time_size):
    """The book's loop (common/util.py), without printing."""
    corpus_size = len(corpus)
    total_loss = 0.0
    max_iters = (corpus_size - 1) // (batch_size * time_size)
    jump = (corpus_size - 1) // batch_size
    for iters in range(max_iters):
        xs = np.zeros((batch_size, time_size), dtype=int)
        ts = np.zeros((batch_size, time_size), dtype=int)
        time_offset = iters * time_size
        offsets = [time_offset + (i * jump) for i in range(batch_size)]
        for t in range(time_size):
            for i, offset in enumerate(offsets):
                xs[i, t] = corpus[(offset + t) % corpus_size]
                ts[i, t] = corpus[(offset + t + 1) % corpus_size]
        total_loss += model.forward(xs, ts)
    return float(np.exp(total_loss / max_iters))


def test_eval_perplexity_matches_book_loop():
    rng = np.random.default_rng(1)
    corpus = rng.integers(0, 12, 500)
    model = TiedBigramLM(12, 5, seed=3)
    got = eval_perplexity(model, corpus, batch_size=6, time_size=8)
    fast_calls = model.calls
    model.calls = []
    want = book_eval_perplexity(model, corpus, 6, 8)
    assert len(fast_calls) == (500 - 1) // 48 == len(model.calls)
    for (fx, ft), (bx, bt) in zip(fast_calls, model.calls):
        np.testing.assert_array_equal(fx, bx)
        np.testing.assert_array_equal(ft, bt)
    assert got == pytest.approx(want, rel=1e-12)
    assert 8 < got < 20  # an untrained model over 12 words


def test_eval_perplexity_passes_train_flg_and_validates():
    corpus = cyclic_corpus(400)
    model = EvalModeLM(10, 4)
    eval_perplexity(model, corpus, batch_size=5, time_size=7, progress=False)
    assert model.flags and set(model.flags) == {False}
    with pytest.raises(ValueError, match="too short"):
        eval_perplexity(model, corpus[:20], batch_size=5, time_size=7)
    with pytest.raises(TypeError, match="integer"):
        eval_perplexity(model, corpus.astype(np.float32))


def test_plateau_decay_drives_the_book_schedule():
    opt = optim.SGD(lr=20.0)
    decay = PlateauDecay(opt)
    for ppl in [400.0, 300.0, 310.0, 290.0, 295.0]:
        decay.step(ppl)
    assert opt.lr == pytest.approx(20.0 / 16)


def test_perplexity_of_a_diverged_model_is_inf_with_a_warning():
    """As the book's np.exp: inf and NumPy's overflow warning, not math.exp's OverflowError."""
    import fastlstm.models as FM
    from fastlstm.util import eval_perplexity

    m = FM.Rnnlm(7, 4, 6, seed=1)
    m.params[-2][...] *= 1e6
    corpus = np.random.default_rng(0).integers(0, 7, 400)
    with pytest.warns(RuntimeWarning, match="overflow encountered in exp"):
        assert eval_perplexity(m, corpus, batch_size=2, time_size=5) == np.inf


@pytest.mark.parametrize("bad, index", [(-1, 4), (99, 6)])
def test_eval_perplexity_names_the_corpus_id_out_of_range(bad, index):
    """An id outside the model's vocabulary is named with its index in the corpus (not as the
    ``xs`` or ``ts`` of a batch)."""
    from fastlstm.models import Rnnlm

    corpus = np.arange(20) % 10
    corpus[index] = bad
    with pytest.raises(ValueError, match=rf"corpus holds id {bad} at index {index}.*\[0, 10\)"):
        eval_perplexity(Rnnlm(10, 4, 4, seed=0), corpus, batch_size=1, time_size=2)


def test_eval_perplexity_knows_the_vocabulary_of_an_embedding_subclass():
    from fastlstm.layers import TimeEmbedding
    from fastlstm.models import Rnnlm

    class MyEmbedding(TimeEmbedding):
        pass

    model = Rnnlm(10, 4, 4, seed=0)
    model.layers[0] = MyEmbedding(model.layers[0].params[0])
    corpus = np.arange(20) % 10
    corpus[7] = 10
    with pytest.raises(ValueError, match=r"corpus holds id 10 at index 7"):
        eval_perplexity(model, corpus, batch_size=1, time_size=2)
