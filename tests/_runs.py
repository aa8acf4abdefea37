"""Helpers shared by the tests of training runs (API, command line, notebook-style)."""

from __future__ import annotations

import numpy as np
import pytest

#: The words of the tiny synthetic PTB corpora (with the book's skip and start words).
TINY_WORDS = [f"w{i}" for i in range(30)] + "N <unk> $ the meaning of life is".split()


def write_tiny_ptb(root, words=TINY_WORDS, seed=0):
    """Write small synthetic ``ptb/ptb.{train,valid,test}.txt`` under ``root``; return it."""
    rng = np.random.default_rng(seed)
    (root / "ptb").mkdir(parents=True)
    for split, n in (("train", 2500), ("valid", 600), ("test", 600)):
        lines, count = [], 0
        while count < n:
            k = int(rng.integers(3, 10))
            lines.append(" ".join(rng.choice(words, k)))
            count += k + 1
        (root / "ptb" / f"ptb.{split}.txt").write_text("\n".join(lines) + "\n")
    return root


class BatchRecorder:
    """A model for ``Trainer`` that records the first column of every batch in ``seen``."""

    def __init__(self):
        self.params, self.grads = [np.zeros(1)], [np.zeros(1)]
        self.seen = []

    def forward(self, xs, ts):
        self.seen.append(xs[:, 0].copy())
        return 0.0

    def backward(self):
        pass


@pytest.fixture
def isolated_run(tmp_path, monkeypatch):
    """Own cache, no data directory, a temporary cwd, and one kernel thread.

    The models of these tests are so small that waking threads would cost more
    than the work (results do not depend on the thread count).
    """
    import numba

    monkeypatch.setenv("FASTLSTM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FASTLSTM_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(threads)


@pytest.fixture
def tiny_ptb(tmp_path):
    """A data directory with small synthetic PTB files."""
    return write_tiny_ptb(tmp_path / "data")


@pytest.fixture
def offline_run(isolated_run, monkeypatch):
    """:func:`isolated_run`, and downloads of the sequence data sets fail as without a network."""
    from fastlstm.datasets import sequence

    def offline(url, dest):
        raise OSError("no network in the tests")

    monkeypatch.setattr(sequence, "_download", offline)


@pytest.fixture
def date_file(tmp_path):
    """A small file of generated dates (400 lines) in the book's format."""
    from fastlstm.datasets.sequence import make_date

    path = tmp_path / "date_small.txt"
    path.write_text("\n".join(make_date(400, seed=1)) + "\n")
    return path
