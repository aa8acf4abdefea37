"""Train a chapter 7-8 model on the book's random stream, with fastlstm or with reference/.

The book's ch07/ch08 scripts draw their weights and every epoch's shuffle from the
numpy state its ``load_data`` seeds with 1984 (``book_random_state``).  This script
trains on that stream with either implementation, written out as the book's
``Trainer.fit`` loop (shuffle, batches, forward, backward, clip, Adam), and prints the
test accuracy after every epoch, so the two runs of the same book experiment can be
compared::

    python bench/book_run.py attention --impl fastlstm --epochs 3
    python bench/book_run.py attention --impl reference --epochs 3

Needs the book's data files (``FASTLSTM_DATA``); without them the generated data sets
are used.  The accuracy is measured with fastlstm's batched greedy decoding on a copy
of the parameters (it gives the answers of the book's one-question loop, see
``bench/test_bench_models.py``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # reference/

import fastlstm.models as fast_models  # noqa: E402
import reference.models as ref_models  # noqa: E402
from fastlstm import optim as fast_optim  # noqa: E402
from fastlstm.datasets import sequence  # noqa: E402
from fastlstm.evaluation import seq2seq_accuracy  # noqa: E402
from reference import optim as ref_optim  # noqa: E402

# model, data file, reversed input, hidden size (the book's scripts)
RUNS = {
    "seq2seq": ("Seq2seq", "addition.txt", False, 128),
    "reversed": ("Seq2seq", "addition.txt", True, 128),
    "peeky": ("PeekySeq2seq", "addition.txt", True, 128),
    "attention": ("AttentionSeq2seq", "date.txt", True, 256),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", choices=sorted(RUNS))
    p.add_argument("--impl", choices=["fastlstm", "reference"], default="fastlstm")
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error(f"--epochs must be at least 1, got {args.epochs}")

    class_name, file_name, reverse, hidden = RUNS[args.run]
    (x_train, t_train), (x_test, t_test), vocab = sequence.load_data(file_name, return_vocab=True)
    if reverse:
        x_train, x_test = x_train[:, ::-1], x_test[:, ::-1]
    rng = sequence.book_random_state(len(x_train) + len(x_test))
    models, optim = (
        (fast_models, fast_optim) if args.impl == "fastlstm" else (ref_models, ref_optim)
    )
    model = getattr(models, class_name)(len(vocab), 16, hidden, seed=rng)
    scorer = getattr(fast_models, class_name)(len(vocab), 16, hidden)
    optimizer = optim.Adam()
    batch_size, max_grad = 128, 5.0
    print(f"{class_name} ({args.impl}) on {vocab.source}, the book's random stream", flush=True)

    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        idx = rng.permutation(np.arange(len(x_train)))  # the book's Trainer.fit
        x, t = x_train[idx], t_train[idx]
        losses = []
        for i in range(len(x) // batch_size):
            batch = slice(i * batch_size, (i + 1) * batch_size)
            losses.append(model.forward(x[batch], t[batch]))
            model.backward()
            optim.clip_grads(model.grads, max_grad)
            optimizer.update(model.params, model.grads)
        seconds = time.perf_counter() - t0
        for a, b in zip(scorer.params, model.params, strict=True):
            a[...] = b
        acc = seq2seq_accuracy(scorer, x_test, t_test, vocab, reverse=reverse, show=0)
        print(
            f"epoch {epoch + 1}: loss {np.mean(losses):.4f}  test accuracy {acc * 100:.3f}%  "
            f"training {seconds:.1f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
