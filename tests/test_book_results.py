"""The book's results, reproduced where that is cheap.

The longer reproductions (Rnnlm trained 4 epochs, seq2seq on addition for 25 epochs) are in
docs/performance.md and bench/REPRODUCE.md with the commands that produced them.  The attention run of ch08 (3 epochs, about
90 s on 2 cores) is a test here.
"""

from __future__ import annotations

import numpy as np
import pytest

import reference.models as R
from fastlstm import models as F
from fastlstm.datasets import ptb, sequence
from fastlstm.evaluation import seq2seq_accuracy
from fastlstm.io import read_book_pkl
from fastlstm.optim import SGD, Adam
from fastlstm.trainer import Trainer, eval_perplexity


def _load(model, path):
    for p, a in zip(model.params, read_book_pkl(path), strict=True):
        p[...] = a
    return model


def test_book_rnnlm_test_perplexity_matches_the_books_code(book_weights_dir, ptb_dir):
    """Rnnlm.pkl on the whole PTB test set: fastlstm equals the book-style reference (±0.1%)."""
    corpus, _, _ = ptb.load_data("test")
    path = book_weights_dir / "Rnnlm.pkl"
    fast = F.Rnnlm()
    fast.load_params(path)
    ppl_fast = eval_perplexity(fast, corpus, batch_size=10, time_size=35)
    # the reference on a prefix (it is ~3x slower); the fast model on the same prefix
    prefix = corpus[: 10 * 35 * 20 + 1]
    ppl_ref = eval_perplexity(_load(R.Rnnlm(), path), prefix, batch_size=10, time_size=35)
    fast.reset_state()
    ppl_fast_prefix = eval_perplexity(fast, prefix, batch_size=10, time_size=35)
    assert abs(ppl_fast_prefix - ppl_ref) / ppl_ref < 1e-3
    # the book's code on these weights gives 136.08 on the whole test set
    assert abs(ppl_fast - 136.08) / 136.08 < 1e-3


def test_book_attention_weights_decode_the_date_test_set(book_weights_dir, sequence_dir):
    """AttentionSeq2seq.pkl decodes the book's date test set (reversed input) as in the book."""
    (_, _), (x_test, t_test), vocab = sequence.load_data("date.txt", return_vocab=True)
    model = F.AttentionSeq2seq(59, 16, 256)
    model.load_params(book_weights_dir / "AttentionSeq2seq.pkl")
    acc = seq2seq_accuracy(model, x_test[:, ::-1], t_test, vocab, reverse=True, show=0)
    assert acc >= 0.999


@pytest.mark.slow
def test_books_attention_run_reaches_99_9_percent_within_4_epochs(sequence_dir):
    """ch08/train.py as the book runs it: weights and shuffles from the stream its load_data
    seeds with 1984, reversed questions, Adam, clipping at 5.  The book's accuracy is near 0
    after the first epoch and near 100% from the second or third on: here >= 99.8% after
    epoch 3 and >= 99.9% after epoch 4 (the run gives 0, 51.38, 99.86, 99.94%; a change in
    the last bits of a kernel moves these by a few of the 5000 test questions)."""
    (x_train, t_train), (x_test, t_test), vocab = sequence.load_data("date.txt", return_vocab=True)
    x_train, x_test = x_train[:, ::-1], x_test[:, ::-1]
    rng = sequence.book_random_state(len(x_train) + len(x_test))
    model = F.AttentionSeq2seq(len(vocab), 16, 256, seed=rng)
    trainer = Trainer(model, Adam(), rng=rng, progress=False)
    acc = []
    for _ in range(4):  # one fit per epoch, as the book's script
        trainer.fit(x_train, t_train, max_epoch=1, batch_size=128, max_grad=5.0)
        acc.append(seq2seq_accuracy(model, x_test, t_test, vocab, reverse=True, show=0))
    shown = ", ".join(f"{a:.4%}" for a in acc)
    assert acc[0] < 0.1 and acc[2] >= 0.998 and acc[3] >= 0.999, f"accuracy by epoch: {shown}"


def test_simple_rnnlm_first_1000_words_as_in_ch05(ptb_dir):
    """ch05/train_custom_loop.py: SimpleRnnlm on 1000 PTB words gets below perplexity 10."""
    corpus, _, _ = ptb.load_data("train")
    corpus = corpus[:1000]
    vocab_size = int(corpus.max()) + 1
    xs, ts = corpus[:-1], corpus[1:]
    batch_size, time_size = 10, 5
    model = F.SimpleRnnlm(vocab_size, 100, 100, seed=0)
    optimizer = SGD(lr=0.1)
    jump = (len(xs)) // batch_size
    offsets = np.arange(batch_size) * jump
    max_iters = len(xs) // (batch_size * time_size)
    time_idx = 0
    best = np.inf
    for _epoch in range(100):
        total, count = 0.0, 0
        for _ in range(max_iters):
            cols = (offsets[:, None] + time_idx + np.arange(time_size)) % len(xs)
            time_idx += time_size
            loss = model.forward(xs[cols], ts[cols])
            model.backward()
            optimizer.update(model.params, model.grads)
            total += loss
            count += 1
        best = min(best, float(np.exp(total / count)))
        if best < 10:
            break
    assert best < 10


@pytest.mark.parametrize("name", ["addition.txt", "date.txt"])
def test_book_data_and_generators_have_the_same_format(sequence_dir, name):
    """The built-in generators make data the book's models fit (same widths, subset of chars)."""
    (x, t), _, vocab = sequence.load_data(name, return_vocab=True)
    make = sequence.make_addition if name == "addition.txt" else sequence.make_date
    lines = make(2000, seed=3)
    text = "".join(lines)
    assert set(text) - {"\n"} <= set(vocab.chars)
    width = len(lines[0].rstrip("\n"))
    assert width == x.shape[1] + t.shape[1]
