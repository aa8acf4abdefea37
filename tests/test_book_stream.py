"""The book's random stream: ``load_data`` seeds numpy's global state with 1984 and the
ch07/ch08 scripts draw their weights and shuffles from it.  ``book_random_state`` and a
``RandomState`` given as ``seed`` / ``rng`` replay that stream; here it is checked against
code written as the book's, on numpy's global state."""

import numpy as np
import pytest

import reference.models as rm
from fastlstm import models as fm
from fastlstm.datasets.sequence import book_random_state
from fastlstm.optim import Adam
from fastlstm.trainer import Trainer
from tests._runs import BatchRecorder

V, D, H = 13, 8, 12


@pytest.fixture
def global_state():
    """Restore numpy's global random state after the test."""
    saved = np.random.get_state()  # noqa: NPY002
    yield
    np.random.set_state(saved)  # noqa: NPY002


def _book_load_data_seed(n):
    """What the book's dataset/sequence.py does to the global state."""
    indices = np.arange(n)
    np.random.seed(1984)  # noqa: NPY002
    np.random.shuffle(indices)  # noqa: NPY002
    return indices


def _book_lstm_part(rn, d_in):
    return [
        (rn(V, D) / 100).astype("f"),
        (rn(d_in, 4 * H) / np.sqrt(d_in)).astype("f"),
        (rn(H, 4 * H) / np.sqrt(H)).astype("f"),
        np.zeros(4 * H).astype("f"),
    ]


def _book_params(name):
    """The book's constructors, drawing with np.random.randn in their order."""
    rn = np.random.randn  # noqa: NPY002
    enc = _book_lstm_part(rn, D)
    if name == "Seq2seq":
        dec = _book_lstm_part(rn, D)
        dec += [(rn(H, V) / np.sqrt(H)).astype("f"), np.zeros(V).astype("f")]
    elif name == "PeekySeq2seq":
        dec = _book_lstm_part(rn, H + D)
        dec += [(rn(H + H, V) / np.sqrt(H + H)).astype("f"), np.zeros(V).astype("f")]
    else:  # AttentionSeq2seq
        dec = _book_lstm_part(rn, D)
        dec += [(rn(2 * H, V) / np.sqrt(2 * H)).astype("f"), np.zeros(V).astype("f")]
    return enc + dec


def test_book_random_state_is_the_state_load_data_leaves(global_state):
    n = 1000
    rs = book_random_state(n)
    indices = _book_load_data_seed(n)
    assert np.array_equal(rs.standard_normal(5), np.random.randn(5))  # noqa: NPY002
    # and load_data's own order is that shuffle
    assert np.array_equal(np.random.RandomState(1984).permutation(n), indices)  # noqa: NPY002


@pytest.mark.parametrize("bad", [0, -3])
def test_book_random_state_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="n_questions"):
        book_random_state(bad)
    with pytest.raises(TypeError, match="n_questions"):
        book_random_state(10.0)


@pytest.mark.parametrize("impl", [fm, rm], ids=["fastlstm", "reference"])
@pytest.mark.parametrize("name", ["Seq2seq", "PeekySeq2seq", "AttentionSeq2seq"])
def test_models_draw_the_books_initial_weights(global_state, impl, name):
    model = getattr(impl, name)(V, D, H, seed=book_random_state(500))
    _book_load_data_seed(500)
    expected = _book_params(name)
    assert len(model.params) == len(expected)
    for got, want in zip(model.params, expected):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_trainer_shuffles_as_the_books_trainer(global_state):
    """Trainer(rng=RandomState) takes the batches np.random.permutation gives the book."""
    n, batch = 40, 8
    x = np.arange(n).reshape(n, 1)
    recorder = BatchRecorder()
    seen = recorder.seen

    trainer = Trainer(recorder, Adam(), rng=book_random_state(100), progress=False)
    for _ in range(2):  # the book's scripts: fit(max_epoch=1) once per epoch
        trainer.fit(x, x, max_epoch=1, batch_size=batch)
    _book_load_data_seed(100)
    expected = []
    for _ in range(2):
        idx = np.random.permutation(np.arange(n))  # noqa: NPY002  (book's Trainer.fit)
        expected += [x[idx][i * batch : (i + 1) * batch, 0] for i in range(n // batch)]
    assert len(seen) == len(expected)
    for got, want in zip(seen, expected):
        np.testing.assert_array_equal(got, want)
