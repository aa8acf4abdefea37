"""Evaluation of seq2seq models: exact-match accuracy, one-off decoding, attention maps.

:func:`eval_seq2seq` is the book's ``common/util.py`` function, with its
signature: one question in, 1 or 0 out, and the book's Q/T/☑ lines when
``verbose``.  :func:`seq2seq_accuracy` scores a whole test set at once: the
questions are decoded in batches with the model's greedy ``generate_batch``
and an answer counts as correct only if every character matches.

``model.generate_batch(xs, start_id, sample_size)`` of :mod:`fastlstm.models`
takes a batch ``xs (N, T)`` and returns ``(N, sample_size)`` ids.  Models with
only the book's one-question ``generate`` (which returns a list) work here too,
one question per call (slower).
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

import numpy as np

from fastlstm._validate import id_array, positive_int

__all__ = ["eval_seq2seq", "seq2seq_accuracy", "decode_one", "attention_weights"]

_COLORS = {"ok": "\033[92m", "fail": "\033[91m", "close": "\033[0m"}


def _vocab_chars(vocab):
    """``id -> char`` mapping of a :class:`~fastlstm.datasets.sequence.Vocab` or a dict."""
    id_to_char = getattr(vocab, "id_to_char", vocab)
    if not hasattr(id_to_char, "__getitem__"):
        raise TypeError(
            "vocab must be a fastlstm.datasets.sequence.Vocab or an id_to_char dict, "
            f"got {type(vocab).__name__}"
        )
    return id_to_char


def _to_text(ids, id_to_char) -> str:
    try:
        return "".join(id_to_char[int(i)] for i in ids)
    except (KeyError, IndexError) as exc:
        raise ValueError(f"id {exc.args[0]} is not in the vocabulary") from None


def _as_answers(out, n, sample_size):
    """The result of ``generate`` as an ``(n, sample_size)`` int array."""
    arr = np.asarray(out)
    if arr.ndim == 1 and n == 1:
        arr = arr.reshape(1, -1)
    if arr.shape != (n, sample_size):
        raise ValueError(
            f"model.generate returned shape {arr.shape}, expected ({n}, {sample_size})"
        )
    return arr.astype(np.int64, copy=False)


def _generate(model, xs, start_id, sample_size, state):
    """Greedy answers ``(N, sample_size)`` to the questions ``xs (N, T)``.

    Uses ``model.generate_batch`` where the model has it.  Otherwise
    ``state["batched"]`` records whether the model's ``generate`` decodes
    batches; a model that raises ``ValueError`` on a batch (the book's models)
    is asked one question at a time from then on.
    """
    n = len(xs)
    batch = getattr(model, "generate_batch", None)
    if batch is not None:
        return _as_answers(batch(xs, start_id, sample_size), n, sample_size)
    if state.get("batched", True):
        try:
            return _as_answers(model.generate(xs, start_id, sample_size), n, sample_size)
        except ValueError:
            if n == 1:
                raise
            state["batched"] = False
    rows = [
        _as_answers(model.generate(xs[i : i + 1], start_id, sample_size), 1, sample_size)
        for i in range(n)
    ]
    return np.concatenate(rows, axis=0)


def _marks(file):
    """The book's ☑/☒ (coloured on a terminal), or O/X where they cannot be printed."""
    encoding = getattr(file, "encoding", None) or "utf-8"
    try:
        "☑☒".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "O", "X"
    if os.name == "nt":
        return "O", "X"
    isatty = getattr(file, "isatty", None)
    if isatty is not None and isatty():
        return (
            _COLORS["ok"] + "☑" + _COLORS["close"],
            _COLORS["fail"] + "☒" + _COLORS["close"],
        )
    return "☑", "☒"


def eval_seq2seq(model, question, correct, id_to_char, verbose=False, is_reverse=False):
    """Score one question as the book's ``common.util.eval_seq2seq``.

    Parameters
    ----------
    model : object
        A seq2seq model (``generate`` or ``generate_batch``).
    question : ndarray of int, shape (1, T_enc)
        The question as the model reads it.
    correct : ndarray of int, shape (1, T_dec + 1)
        Start id followed by the correct answer.
    id_to_char : dict or Vocab
        ``id -> char`` mapping.
    verbose : bool, default False
        Print the book's ``Q`` / ``T`` / ☑ or ☒ lines and ``---``.
    is_reverse : bool, default False
        ``question`` is reversed: print it turned back the right way.

    Returns
    -------
    int
        1 if the greedy answer equals the correct one exactly, else 0.
    """
    for name, a in (("question", question), ("correct", correct)):
        if np.ndim(a) > 1 and np.shape(a)[0] != 1:  # the book's loop passes x[[i]]
            raise ValueError(
                f"eval_seq2seq scores one question: {name} must be (1, T), got shape "
                f"{np.shape(a)} (seq2seq_accuracy scores many)"
            )
    question = id_array(np.asarray(question).reshape(1, -1), "question", 2)
    correct = np.asarray(correct).flatten()
    if correct.size < 2:
        raise ValueError(
            f"correct must hold a start id and at least one answer id, got {correct.size} ids"
        )
    start_id, correct = int(correct[0]), correct[1:]
    id_to_char = _vocab_chars(id_to_char)
    guess = _generate(model, np.ascontiguousarray(question), start_id, len(correct), {})[0]
    ok = bool(np.array_equal(guess, correct))
    if verbose:
        _print_marked(question[0], correct, guess, ok, id_to_char, is_reverse, sys.stdout)
    return 1 if ok else 0


def _print_marked(question, correct, guess, ok, id_to_char, reverse, file):
    """The book's ``Q`` / ``T`` / ☑ or ☒ lines for one question."""
    good, bad = _marks(file)
    print("Q", _to_text(question[::-1] if reverse else question, id_to_char), file=file)
    print("T", _to_text(correct, id_to_char), file=file)
    print(good if ok else bad, _to_text(guess, id_to_char), file=file)
    print("---", file=file)


def seq2seq_accuracy(
    model,
    x,
    t,
    vocab,
    *,
    reverse: bool = False,
    batch_size: int = 1000,
    show: int = 3,
    file: TextIO | None = None,
) -> float:
    """Exact-match accuracy of a seq2seq model on a test set (greedy decoding).

    For each question ``x[i]`` the model decodes ``t.shape[1] - 1`` characters
    starting from ``t[i, 0]`` (the ``_`` of the book's data); the answer is
    correct if it equals ``t[i, 1:]``.

    Parameters
    ----------
    model : object
        ``generate_batch(xs (N, T), start_id, sample_size) -> (N, sample_size)``
        ids (a model with only the book's one-question ``generate`` also works).
    x : ndarray of int, shape (N, T_enc)
        Questions as the model sees them (already reversed if it was trained on
        reversed input).
    t : ndarray of int, shape (N, T_dec + 1)
        Start id followed by the correct answer.
    vocab : Vocab or dict
        A :class:`fastlstm.datasets.sequence.Vocab` or the book's ``id_to_char``.
    reverse : bool, default False
        ``x`` is reversed: show the questions turned back the right way.
    batch_size : int, default 1000
        Questions decoded per call of ``generate_batch``.
    show : int, default 3
        Print the book's ``Q`` / ``T`` / ☑ or ☒ lines for this many questions
        (the first ones); 0 prints nothing.
    file : text stream, optional
        Where to print (default ``sys.stdout``).

    Returns
    -------
    float
        Fraction of questions answered exactly right.

    Raises
    ------
    ValueError
        If the arrays are empty, not 2-D, of different lengths, or ``t`` has no
        answer column.
    """
    x = id_array(x, "x", 2)
    t = id_array(t, "t", 2)
    if len(x) != len(t):
        raise ValueError(f"x and t must have the same number of rows, got {len(x)} and {len(t)}")
    if len(x) == 0:
        raise ValueError("x is empty: no question to evaluate")
    if t.shape[1] < 2:
        raise ValueError(f"t must hold a start id and at least one answer id, got shape {t.shape}")
    batch_size = positive_int(batch_size, "batch_size")
    if isinstance(show, bool) or not isinstance(show, int | np.integer) or show < 0:
        raise ValueError(f"show must be a non-negative int, got {show!r}")
    id_to_char = _vocab_chars(vocab)
    file = sys.stdout if file is None else file

    sample_size = t.shape[1] - 1
    answers = t[:, 1:]  # (N, T_dec)
    guesses = np.empty(answers.shape, dtype=np.int64)  # (N, T_dec)
    state: dict = {}
    for lo in range(0, len(x), batch_size):
        hi = min(lo + batch_size, len(x))
        xb, starts = x[lo:hi], t[lo:hi, 0]
        # questions sharing a start id are decoded together (the book's data have one)
        for start in np.unique(starts):
            rows = np.flatnonzero(starts == start)
            sel = slice(None) if len(rows) == hi - lo else rows
            xs = np.ascontiguousarray(xb[sel])
            guesses[lo:hi][sel] = _generate(model, xs, int(start), sample_size, state)
    correct = np.all(guesses == answers, axis=1)  # (N,)

    for i in range(min(show, len(x))):
        _print_marked(x[i], answers[i], guesses[i], correct[i], id_to_char, reverse, file)
    return float(np.mean(correct))


def _encode_question(text, vocab, width, reverse):
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    char_to_id = getattr(vocab, "char_to_id", None)
    if char_to_id is None:
        raise TypeError(f"vocab must be a Vocab with char_to_id, got {type(vocab).__name__}")
    if width is not None:
        if len(text) > width:
            raise ValueError(
                f"text {text!r} has {len(text)} characters, the model reads at most {width}"
            )
        text = text.ljust(width)
    unknown = sorted({c for c in text if c not in char_to_id})
    if unknown:
        raise ValueError(
            f"text {text.rstrip()!r} has characters the model does not know: "
            + ", ".join(repr(c) for c in unknown)
        )
    ids = np.array([char_to_id[c] for c in text], dtype=np.int32)
    if reverse:
        ids = ids[::-1]
    return np.ascontiguousarray(ids.reshape(1, -1))  # (1, T_enc)


def decode_one(
    model,
    text: str,
    vocab,
    *,
    reverse: bool = False,
    width: int | None = None,
    start_char: str = "_",
    sample_size: int,
) -> str:
    """Decode one question given as text (e.g. ``"Mar 25, 2003"``) greedily.

    Parameters
    ----------
    model : object
        A trained seq2seq model with ``generate_batch`` or ``generate``.
    text : str
        The question, in the characters of ``vocab``.
    vocab : Vocab
        The model's :class:`~fastlstm.datasets.sequence.Vocab`.
    reverse : bool, default False
        The model was trained on reversed questions.
    width : int, optional
        Width of the training questions: ``text`` is padded with spaces to it.
    start_char : str, default '_'
        The decoder's start symbol.
    sample_size : int
        Number of characters to decode (the answer width of the data).

    Returns
    -------
    str
        The ``sample_size`` decoded characters (padding spaces included).

    Raises
    ------
    ValueError
        If ``text`` is longer than ``width`` or holds characters outside ``vocab``.
    """
    sample_size = positive_int(sample_size, "sample_size")
    if start_char not in vocab.char_to_id:
        raise ValueError(f"start_char {start_char!r} is not in the vocabulary")
    xs = _encode_question(text, vocab, width, reverse)
    out = _generate(model, xs, int(vocab.char_to_id[start_char]), int(sample_size), {})
    return _to_text(out[0], _vocab_chars(vocab))


def attention_weights(model, x, t) -> np.ndarray:
    """Attention map of an attention seq2seq model for one question (teacher forcing).

    Runs ``model.forward(x, t)`` and stacks the decoder's
    ``attention.attention_weights``, as the book's ``visualize_attention.py``.

    Parameters
    ----------
    model : AttentionSeq2seq
        Model with ``decoder.attention.attention_weights``.
    x : ndarray of int, shape (1, T_enc) or (T_enc,)
        The question as the model reads it.
    t : ndarray of int, shape (1, T_dec + 1) or (T_dec + 1,)
        Start id and answer.

    Returns
    -------
    ndarray, shape (T_dec, T_enc)
        Row ``i``: weights of output step ``i`` over the input positions (in the
        order the model reads them; flip the columns for a reversed question).

    Raises
    ------
    TypeError
        If the model has no attention layer.
    """
    x = id_array(np.asarray(x).reshape(1, -1), "x", 2)
    t = id_array(np.asarray(t).reshape(1, -1), "t", 2)
    attention = getattr(getattr(model, "decoder", None), "attention", None)
    if attention is None or not hasattr(attention, "attention_weights"):
        raise TypeError(
            f"{type(model).__name__} has no decoder.attention.attention_weights "
            "(only attention models have an attention map)"
        )
    model.forward(x, t)
    w = np.array([np.asarray(a, dtype=np.float64) for a in attention.attention_weights])
    # (T_dec, 1, T_enc)
    return w.reshape(w.shape[0], -1)
