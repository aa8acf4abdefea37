"""Character-level sequence data sets of the book (``dataset/sequence.py``).

Each line of a data file holds a question and an answer of fixed widths; the
answer starts at the first ``_``, which doubles as the decoder's start symbol::

    16+75  _91                                  (addition.txt: 7 + 5 characters)
    september 27, 1994           _1994-09-27    (date.txt: 29 + 11 characters)

:func:`load_data` numbers the characters in order of first appearance (question,
then answer, line by line), seeds NumPy's global random state and shuffles with
it exactly as the book does (``np.random.seed(seed); np.random.shuffle``), and
keeps the last 10% for testing, so the arrays, the ids and the random draws
that follow are the book's.  The vocabulary of a file is returned by
``load_data(..., return_vocab=True)`` or ``get_vocab(file_name)``; the book's
``char_to_id, id_to_char = get_vocab()`` (no argument) gives the two dicts of
the data set loaded last.

The book's files ``addition.txt`` and ``date.txt`` are looked up in
``$FASTLSTM_DATA/sequence/``, then where the book's own loader finds them (its
``dataset/`` folder, :func:`book_dataset_folders`: a book script run from
``chNN/`` with only its imports switched reads the book's files), then in the
cache, then downloaded from the book's repository (without network this fails
within a few seconds, at once with ``FASTLSTM_OFFLINE=1``).  If that fails
too, a ``FASTLSTM_DATA`` that is set makes it an error (the setting cannot be
honoured; a ``FASTLSTM_DATA`` that is no folder or an empty one is an error at
once); without it the same amount of data is generated offline by
:func:`make_addition` / :func:`make_date` (same format, widths and characters)
and a warning names the folders looked in.  The
vocabulary's ``source`` attribute tells which file or generator was used.

The vocabulary class lives in :mod:`fastlstm.datasets.vocab`, the generators
in :mod:`fastlstm.datasets.synthetic`; both are reachable here as before.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from fastlstm import _notebook, config
from fastlstm import io as fio
from fastlstm._validate import positive_int
from fastlstm.datasets import _fetch
from fastlstm.datasets.synthetic import make_addition, make_date
from fastlstm.datasets.vocab import Vocab

__all__ = [
    "Vocab",
    "load_data",
    "get_vocab",
    "book_random_state",
    "make_addition",
    "make_date",
    "BOOK_FILES",
    "URL_BASE",
    "book_dataset_folders",
]

log = logging.getLogger(__name__)

URL_BASE = (
    "https://raw.githubusercontent.com/oreilly-japan/deep-learning-from-scratch-2/master/dataset/"
)

BOOK_FILES = ("addition.txt", "date.txt")

#: Longest line (question and answer, in characters) a data file may have: the
#: book's are 12 and 40 wide; a wider line is no sequence data (a 10 MB line
#: would only end in a ``MemoryError`` deep in training).
MAX_LINE_WIDTH = 1000

#: seed of the data generated when a book file is unavailable
GENERATED_SEED = 0

_BOOK_SIZE = 50000

#: the vocabulary of the data set loaded last (the book's module-level vocabulary)
_last_vocab: Vocab | None = None


def _parse_text(text: str, source: str) -> tuple[np.ndarray, np.ndarray, Vocab]:
    """Split lines into question/answer id arrays (book's vocabulary order)."""
    # line ends as the book's open(path, 'r') reads them (universal newlines)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise ValueError(f"{source}: the file holds no data lines")
    sep = lines[0].find("_")
    width = len(lines[0])
    if width > MAX_LINE_WIDTH:
        raise ValueError(
            f"{source}, line 1: {width} characters; a line (question and answer) may have at "
            f"most {MAX_LINE_WIDTH} (is this a sequence data file?)"
        )
    for lineno, line in enumerate(lines, start=1):
        idx = line.find("_")
        if idx < 0:
            raise ValueError(
                f"{source}, line {lineno}: no '_' separator between question and answer"
            )
        if idx == 0:
            raise ValueError(f"{source}, line {lineno}: empty question (line starts with '_')")
        if idx != sep:
            raise ValueError(
                f"{source}, line {lineno}: question width {idx} differs from {sep} on line 1 "
                "(questions must be padded to the same width)"
            )
        if len(line) != width:
            raise ValueError(
                f"{source}, line {lineno}: answer width {len(line) - idx} differs from "
                f"{width - sep} on line 1 (answers must be padded to the same width)"
            )
    # ids in order of first appearance over q1 a1 q2 a2 ..., i.e. over the joined lines
    codes = np.frombuffer("".join(lines).encode("utf-32-le"), dtype="<u4")
    uniq, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(uniq), dtype=np.int32)
    rank[order] = np.arange(len(uniq), dtype=np.int32)
    ids = rank[inverse.reshape(-1)].reshape(len(lines), width)  # (N, Tq + Ta)
    x = np.ascontiguousarray(ids[:, :sep])  # (N, Tq)
    t = np.ascontiguousarray(ids[:, sep:])  # (N, Ta)
    x.flags.writeable = False
    t.flags.writeable = False
    vocab = Vocab((chr(c) for c in uniq[order].tolist()), source=source)
    return x, t, vocab


#: Parsed files by (path, hash of the content): a file rewritten in place with
#: the same size and modification time is parsed again.
_PARSED: collections.OrderedDict = collections.OrderedDict()
_PARSED_MAX = 8


def _parse_file(path: str) -> tuple[np.ndarray, np.ndarray, Vocab]:
    """Parse a data file, once per content (keyed by a hash of its bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    key = (path, hashlib.blake2b(raw, digest_size=16).digest())
    if key in _PARSED:
        _PARSED.move_to_end(key)
        return _PARSED[key]
    result = _parse_text(fio.files.decode_utf8(raw, path, "sequence data files"), path)
    _PARSED[key] = result
    while len(_PARSED) > _PARSED_MAX:
        _PARSED.popitem(last=False)
    return result


@functools.lru_cache(maxsize=4)
def _parse_generated(name: str) -> tuple[np.ndarray, np.ndarray, Vocab]:
    maker = make_addition if name == "addition.txt" else make_date
    source = f"generated: {maker.__name__}(n={_BOOK_SIZE}, seed={GENERATED_SEED})"
    lines = maker(_BOOK_SIZE, seed=GENERATED_SEED)
    return _parse_text("\n".join(lines), source)


def _download(url: str, dest: Path) -> Path:
    """Fetch ``url`` into ``dest`` (atomic, with a progress bar); tests replace this."""
    return _fetch.fetch(url, dest)


def _data_folder_text() -> str:
    """The ``FASTLSTM_DATA`` folder looked in, as text (raises if it is no folder)."""
    root = config.data_dir()
    if root is not None:
        return f"{root / 'sequence'} (from FASTLSTM_DATA)"
    return "FASTLSTM_DATA (not set)"


def book_dataset_folders() -> list[Path]:
    """The folders where the book's own ``load_data`` would find its files, in order.

    The book's scripts run from ``chNN/`` with ``sys.path.append('..')`` and
    read ``dataset/<file>`` beside their module, i.e. the ``dataset/`` folder
    of the book's repository.  With only the imports switched to fastlstm the
    same folder is found here: ``dataset/`` next to the running script's
    parent folder, ``../dataset`` from the working directory, and
    ``dataset/`` in every folder on ``sys.path`` (the book's module path).

    Returns
    -------
    list of pathlib.Path
        Existing folders, without duplicates.
    """
    import sys

    candidates = []
    script = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    if script and os.path.isfile(script):
        candidates.append(Path(script).resolve().parent.parent / "dataset")
    try:
        cwd = Path.cwd()
    except OSError:  # the working directory was removed
        cwd = None
    if cwd is not None:
        candidates.append(cwd.parent / "dataset")
    for entry in sys.path:
        if isinstance(entry, str) and entry and not entry.endswith((".zip", ".egg")):
            base = Path(entry) if os.path.isabs(entry) or cwd is None else cwd / entry
            candidates.append(base / "dataset")
    folders, seen = [], set()
    for folder in candidates:
        try:
            key = folder.resolve()
        except OSError:
            continue
        if key not in seen and key.is_dir():
            seen.add(key)
            folders.append(key)
    return folders


def _locate(file_name: str | os.PathLike) -> Path | None:
    """Path of the data file, or None when a book file must be generated.

    A book file is looked up in ``$FASTLSTM_DATA/sequence/``, then in the
    book's ``dataset/`` folder (:func:`book_dataset_folders`), then in the
    cache, then downloaded; only without ``FASTLSTM_DATA`` is it generated
    when all of these fail.
    """
    name = os.fspath(file_name)
    if name in BOOK_FILES:
        path = config.data_file("sequence", name)  # raises for a FASTLSTM_DATA that is no folder
        if path is not None:
            return path
        book = book_dataset_folders()
        for folder in book:
            if (folder / name).is_file():
                return folder / name
        root = config.cache_path()
        cache = None if root is None else root / "sequence"
        if cache is not None and (cache / name).is_file():
            return cache / name
        try:
            cache = config.cache_dir() / "sequence"  # raises OSError naming FASTLSTM_CACHE
            cache.mkdir(parents=True, exist_ok=True)
            path = cache / name
            log.info("downloading %s%s to %s", URL_BASE, name, path)
            _download(URL_BASE + name, path)
        except (OSError, ValueError) as exc:
            mine = "the cache (none: no home folder)" if cache is None else str(cache)
            looked = "; ".join([_data_folder_text(), *(str(f) for f in book), mine])
            if config.data_dir() is not None:
                raise FileNotFoundError(
                    f"{name} not found (looked in: {looked}) and not downloaded ({exc}). "
                    f"Put the book's {name} in {config.data_dir() / 'sequence'}, where "
                    "FASTLSTM_DATA says the data are"
                ) from None
            maker = "make_addition" if name == "addition.txt" else "make_date"
            _notebook.warn(
                f"{name} not found (looked in: {looked}) and not "
                f"downloaded ({exc}); using {maker}(n={_BOOK_SIZE}, seed={GENERATED_SEED}) "
                "instead: same format, different data than the book's. To use the book's "
                f"file, put it in {'' if cache is None else f'{cache}, or in '}DIR/sequence/ "
                "and export FASTLSTM_DATA=DIR",
                UserWarning,
            )
            return None
        return path
    path = Path(name).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"no such data file: {name!r} (relative to {Path.cwd()}). Give the path of a "
            f"file, or one of {BOOK_FILES} (looked up in {_data_folder_text()}, then in "
            f"the cache {config.cache_path() or '(none: no home folder)'})"
        )
    return path


def _load(file_name: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, Vocab]:
    if not isinstance(file_name, str | os.PathLike):
        raise TypeError(f"file_name must be a str or path, got {type(file_name).__name__}")
    path = _locate(file_name)
    if path is None:
        result = _parse_generated(os.fspath(file_name))
    else:
        result = _parse_file(str(path.resolve()))
    log.info("sequence data %s loaded from %s", os.fspath(file_name), result[2].source)
    return result


def load_data(
    file_name: str | os.PathLike = "addition.txt",
    seed: int | None = 1984,
    *,
    return_vocab: bool = False,
):
    """Load a sequence data set, shuffled and split as in the book.

    Parameters
    ----------
    file_name : str or os.PathLike, default 'addition.txt'
        ``'addition.txt'`` or ``'date.txt'`` (the book's files, see the module
        docstring for where they are found), or the path of a file in the same
        format.
    seed : int or None, default 1984
        As the book's: ``np.random.seed(seed)`` seeds NumPy's *global* random
        state, which then shuffles the lines (``np.random.shuffle``).  So the
        draws that follow (a model's initial weights, the trainer's shuffles)
        are the book's, as in its ch07/ch08 scripts.  ``None`` shuffles with
        the global state as it is.  :func:`book_random_state` gives the same
        stream without touching the global state.
    return_vocab : bool, default False
        Also return the :class:`Vocab`.

    Returns
    -------
    (x_train, t_train), (x_test, t_test) : tuple of numpy.ndarray of int32
        Questions ``(N, Tq)`` and answers ``(N, Ta)``; the last 10% of the
        shuffled lines are the test set.
    vocab : Vocab
        Only if ``return_vocab`` is true.

    Raises
    ------
    FileNotFoundError
        If ``file_name`` is neither a book file nor an existing path.
    ValueError
        If a line has no ``_`` separator or its widths differ from the first
        line's; the message names the file and the line number.

    Examples
    --------
    >>> (x_train, t_train), (x_test, t_test) = load_data("addition.txt")  # doctest: +SKIP
    >>> x_train.shape, t_train.shape
    ((45000, 7), (45000, 5))
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    x, t, vocab = _load(file_name)
    n = len(x)
    # the book's shuffle: np.random.seed(seed); np.random.shuffle(indices)
    if seed is not None:
        np.random.seed(seed)  # noqa: NPY002  (the book seeds the global state)
    indices = np.arange(n)
    np.random.shuffle(indices)  # noqa: NPY002  (the book's global state)
    global _last_vocab
    _last_vocab = vocab
    x = x[indices]  # (N, Tq), a writable copy
    t = t[indices]  # (N, Ta)
    split_at = n - n // 10
    out = (x[:split_at], t[:split_at]), (x[split_at:], t[split_at:])
    if return_vocab:
        return (*out, vocab)
    return out


def book_random_state(n_questions: int, seed: int = 1984) -> np.random.RandomState:
    """NumPy's global random state as the book's ``load_data`` leaves it.

    The book's ``dataset/sequence.py`` calls ``np.random.seed(seed)`` and
    shuffles the ``n_questions`` lines of the file; its ch07 and ch08 training
    scripts never seed again, so their initial weights (``np.random.randn``) and
    every epoch's shuffle (``np.random.permutation``) come from this one state,
    and each run of those scripts is the same run.

    Parameters
    ----------
    n_questions : int
        Number of lines of the data set (training + test), e.g. 50000.
    seed : int, default 1984
        The seed given to ``load_data``.

    Returns
    -------
    numpy.random.RandomState
        Pass it as a model's ``seed`` and then, the same object, as the
        ``rng`` of :class:`fastlstm.trainer.Trainer` (one epoch per ``fit``
        call, as the book's scripts do) to replay the book's run.

    Examples
    --------
    >>> rs = book_random_state(50000)
    >>> from fastlstm.models import AttentionSeq2seq
    >>> model = AttentionSeq2seq(59, 16, 256, seed=rs)  # the book's initial weights
    """
    n_questions = positive_int(n_questions, "n_questions")
    rs = np.random.RandomState(seed)  # noqa: NPY002  (the book's legacy global stream)
    rs.permutation(int(n_questions))  # load_data's np.random.shuffle
    return rs


def get_vocab(file_name: str | os.PathLike | None = None):
    """The vocabulary: the book's two dicts of the last data set, or a file's :class:`Vocab`.

    Parameters
    ----------
    file_name : str or os.PathLike, optional
        As for :func:`load_data`.  Without it (the book's call), the data set
        loaded last by :func:`load_data` is used.

    Returns
    -------
    (char_to_id, id_to_char) or Vocab
        Without ``file_name``, the book's pair of read-only mappings, so that
        ``char_to_id, id_to_char = sequence.get_vocab()`` works as in the book;
        with ``file_name``, the :class:`Vocab` of that file (whose
        ``char_to_id`` and ``id_to_char`` are the same two mappings).

    Raises
    ------
    RuntimeError
        Without ``file_name`` when :func:`load_data` has not been called yet
        (the book returns two empty dicts then).
    """
    if file_name is None:
        if _last_vocab is None:
            raise RuntimeError(
                "get_vocab() returns the vocabulary of the last data set loaded, and none "
                "has been: call sequence.load_data(...) first, or get_vocab(file_name)"
            )
        return _last_vocab.char_to_id, _last_vocab.id_to_char
    return _load(file_name)[2]
