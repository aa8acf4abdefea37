"""Data sets of a run, and the record of where they came from (kept in the checkpoints).

A seq2seq run records its data as one of::

    {"kind": "file", "data": "date", "path": "/abs/date.txt", "sha256": "..."}
    {"kind": "generated", "data": "date", "generator": "make_date", "n": 50000, "seed": 0}

so that :func:`fastlstm.evaluate` finds the very data a model was trained on
(the file if it is unchanged, or the same generated questions) whatever
``FASTLSTM_DATA`` says today.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np

from fastlstm.api import _util as u
from fastlstm.api.specs import BOOK_DATA, RunError
from fastlstm.datasets import ptb as _ptb
from fastlstm.datasets import sequence as _seq

_GENERATED = re.compile(r"generated: (make_\w+)\(n=(\d+), seed=(\d+)\)")


def ptb(split: str, max_words: int):
    """PTB split ``split`` (``'train'``, ``'val'``, ``'test'``), its first ``max_words`` words."""
    corpus, word_to_id, id_to_word = _ptb.load_data(split)
    if max_words:
        corpus = corpus[:max_words]
    return corpus, word_to_id, id_to_word


def data_file(spec: str) -> str:
    """Book data name ('addition', 'date') to its file name; other paths made absolute."""
    if spec in BOOK_DATA:
        return BOOK_DATA[spec]
    if spec in BOOK_DATA.values():
        return spec
    p = Path(spec).expanduser()
    if not p.is_file():
        what = "is a folder, not a file" if p.is_dir() else "no such file"
        raise RunError(
            f"data={spec!r} (--data): {what} (use 'addition', 'date' or the path of a data file)"
        )
    return str(p.resolve())


def _cut(x_train, t_train, x_test, t_test, reverse, limit):
    if limit:
        x_train, t_train = x_train[:limit], t_train[:limit]
        x_test, t_test = x_test[:limit], t_test[:limit]
    if reverse:  # the book's x[:, ::-1]
        x_train = np.ascontiguousarray(x_train[:, ::-1])
        x_test = np.ascontiguousarray(x_test[:, ::-1])
    return (x_train, t_train), (x_test, t_test)


def _load(path):
    """The book's split of a sequence file, NumPy's global random state left as it was.

    The book's ``load_data`` seeds the global state (1984); a run draws from a
    stream of its own (:func:`fastlstm.datasets.sequence.book_random_state`
    for the book's), so the caller's ``np.random`` is not the run's business.
    """
    state = np.random.get_state()  # noqa: NPY002
    try:
        return _seq.load_data(path, return_vocab=True)
    finally:
        np.random.set_state(state)  # noqa: NPY002


def sequence(spec: str, reverse: bool, limit: int | None):
    """``(train, test, vocab, n_lines)`` of a sequence data set (``'date'`` or a path)."""
    (x_train, t_train), (x_test, t_test), vocab = _load(data_file(spec))
    n_lines = len(x_train) + len(x_test)
    if len(x_test) == 0:  # refused before training, not after an epoch
        raise RunError(
            f"{vocab.source}: {n_lines} line(s) leave no test questions (the last 10% of the "
            "shuffled lines are the test set): give a file of at least 10 lines"
        )
    train, test = _cut(x_train, t_train, x_test, t_test, reverse, limit)
    return train, test, vocab, n_lines


def record_source(spec: str, vocab) -> dict:
    """What a run trained on: the file (path and content hash) or the generator call."""
    m = _GENERATED.fullmatch(str(vocab.source))
    if m:
        return {
            "kind": "generated",
            "data": spec,
            "generator": m.group(1),
            "n": int(m.group(2)),
            "seed": int(m.group(3)),
        }
    path = Path(vocab.source)
    return {"kind": "file", "data": spec, "path": str(path.resolve()), "sha256": u.sha256(path)}


def describe_source(source: dict) -> str:
    """One line naming recorded data."""
    if source.get("kind") == "generated":
        return f"generated {source['generator']}(n={source['n']}, seed={source['seed']})"
    return f"{source.get('path')} (sha256 {str(source.get('sha256'))[:12]}...)"


def _generated(source: dict):
    makers = {"make_date": _seq.make_date, "make_addition": _seq.make_addition}
    maker = makers.get(source.get("generator"))
    if maker is None:
        raise RunError(f"unknown data generator {source.get('generator')!r} in the checkpoint")
    lines = maker(int(source["n"]), seed=int(source["seed"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        (x_train, t_train), (x_test, t_test), vocab = _load(path)
    vocab.source = f"generated: {source['generator']}(n={source['n']}, seed={source['seed']})"
    return (x_train, t_train), (x_test, t_test), vocab


def recorded_sequence(source: dict, reverse: bool, limit: int | None):
    """The data recorded by :func:`record_source`, as :func:`sequence` returns them.

    Raises
    ------
    RunError
        If the recorded file is gone or its content changed.
    """
    if source.get("kind") == "generated":
        (x_train, t_train), (x_test, t_test), vocab = _generated(source)
    else:
        path = Path(str(source.get("path")))
        if not path.is_file():
            raise RunError(
                f"the model was trained on {describe_source(source)}, which is not found; "
                "give --data NAME|PATH (data=) to evaluate on other data with its characters"
            )
        if u.sha256(path) != source.get("sha256"):
            raise RunError(
                f"the model was trained on {path}, whose content has changed since "
                "(its sha256 differs); give --data NAME|PATH (data=) to evaluate on it anyway"
            )
        return sequence(str(path), reverse, limit)
    n_lines = len(x_train) + len(x_test)
    train, test = _cut(x_train, t_train, x_test, t_test, reverse, limit)
    return train, test, vocab, n_lines


_CLASSES = [(str.isdigit, "9"), (str.isalpha, "a")]
_RUNS = re.compile(r"([9a])\1+")  # a run of one mark, collapsed to one by sub(r"\1", ...)


def _marks(text: str) -> str:
    """``text`` with digits as '9' and letters as 'a' (no runs collapsed, nothing cut)."""
    return "".join(next((mark for test, mark in _CLASSES if test(c)), c) for c in text)


def question_shape(text: str) -> str:
    """The format of a question: digits as '9', letters as 'a', runs collapsed, padding cut.

    ``'Mar 25, 2003'`` and ``'Sep 1, 1999'`` both give ``'a 9, 9'``.
    """
    return _shape_of_marks(_marks(text))


def _shape_of_marks(marks: str) -> str:
    """A question's shape from its :func:`_marks`: trailing blanks cut, runs collapsed."""
    return _RUNS.sub(r"\1", marks.rstrip())


MAX_SHAPES = 200


def question_shapes(x, vocab, reverse: bool) -> list[str] | None:
    """The distinct formats of the questions ``x (N, T)``; None if there are too many.

    Each row gives :func:`question_shape` of its text, from the marks of its tokens
    (worked out once per vocabulary entry).
    """
    marks = np.array([_marks(c) for c in vocab.chars], dtype=object)
    rows = x[:, ::-1] if reverse else x
    shapes = set()
    for row in rows[:20000]:
        shapes.add(_shape_of_marks("".join(marks[row])))
        if len(shapes) > MAX_SHAPES:
            return None
    return sorted(shapes)
