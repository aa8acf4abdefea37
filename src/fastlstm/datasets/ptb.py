"""The Penn Treebank corpus as the book uses it (``dataset/ptb.py``).

:func:`load_data` returns ``(corpus, word_to_id, id_to_word)`` with the book's
word ids: the vocabulary is numbered in order of first appearance over
``ptb.train.txt``, then ``ptb.valid.txt``, then ``ptb.test.txt`` (the validation
and test files add no new word, so the ids are those of the book), and every
line ends with the token ``<eos>``.  The ids do not depend on the order in which
the splits are loaded.  The train split and :func:`load_vocab` need only
``ptb.train.txt`` (the other two are read when they can be found); the
validation and test splits need all three.

Files are looked up in this order:

1. ``$FASTLSTM_DATA/ptb/ptb.{train,valid,test}.txt`` (a ``FASTLSTM_DATA`` that
   is no folder, or an empty one, is an error);
2. the book's ``dataset/`` folder, where the book's own ``ptb.py`` keeps and
   downloads them (see :func:`fastlstm.datasets.sequence.book_dataset_folders`);
3. the cache, ``fastlstm.config.cache_dir() / "ptb"``;
4. a download from the book's source into the cache.  Without network this
   fails within a few seconds (``FASTLSTM_OFFLINE=1``: at once, see
   :mod:`fastlstm.datasets._fetch`) with a message that names the folders
   looked in.

The vocabulary and the corpora are cached as an ``.npz`` keyed by a hash of
the content of the text files read (never by their size and modification
time, which copies can share), so loading after the first time reads the text
files once to hash them and then only that file.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from fastlstm import config
from fastlstm import io as fio
from fastlstm.datasets import _fetch

__all__ = ["load_data", "load_vocab", "URL_BASE", "FILES"]

log = logging.getLogger(__name__)

URL_BASE = "https://raw.githubusercontent.com/tomsercu/lstm/master/data/"
FILES = {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"}
_SPLITS = ("train", "valid", "test")
_ALIASES = {"train": "train", "val": "valid", "valid": "valid", "test": "test"}
_CACHE_VERSION = 2  # 2: a leading UTF-8 BOM is stripped


def _download(url: str, dest: Path) -> Path:
    """Fetch ``url`` into ``dest`` (atomic, with a progress bar); tests replace this."""
    return _fetch.fetch(url, dest)


def _cache_root() -> Path | None:
    """``ptb/`` in the cache, not created (None without one)."""
    root = config.cache_path()
    return None if root is None else root / "ptb"


def _make_cache_root() -> Path:
    path = config.cache_dir() / "ptb"  # raises OSError naming FASTLSTM_CACHE
    path.mkdir(parents=True, exist_ok=True)
    return path


def _searched(cache: Path) -> list[str]:
    """The folders :func:`_find_source` looks in, as text, in order."""
    from fastlstm.datasets.sequence import book_dataset_folders

    root = config.data_dir()  # raises for a FASTLSTM_DATA that is no folder or empty
    first = "FASTLSTM_DATA (not set)" if root is None else f"{root / 'ptb'} (from FASTLSTM_DATA)"
    book = [f"{f} (the book's dataset folder)" for f in book_dataset_folders()]
    where = "none: no home folder" if cache is None else cache
    return [first, *book, f"{where} (the cache; FASTLSTM_CACHE moves it)"]


def _missing_message(name: str, cache: Path, err: BaseException | None) -> str:
    looked = "; ".join(_searched(cache))
    reason = f" Download of {URL_BASE}{name} failed: {err}." if err is not None else ""
    return (
        f"PTB file {name!r} not found. Looked in: {looked}.{reason} Put ptb.train.txt, "
        f"ptb.valid.txt and ptb.test.txt in {cache}, or in DIR/ptb/ and "
        "export FASTLSTM_DATA=DIR."
    )


def _find_source(name: str) -> Path:
    """Locate (or download) one PTB text file."""
    path = config.data_file("ptb", name)
    if path is not None:
        return path
    from fastlstm.datasets.sequence import book_dataset_folders

    for folder in book_dataset_folders():  # where the book's ptb.py keeps (downloads) them
        if (folder / name).is_file():
            return folder / name
    cache = _cache_root()
    if cache is not None and (cache / name).is_file():
        return cache / name
    # no network: fails within _fetch.PROBE_TIMEOUT seconds, not a download timeout
    try:
        cache = _make_cache_root()
        path = cache / name
        log.info("downloading %s%s to %s", URL_BASE, name, path)
        _download(URL_BASE + name, path)
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(_missing_message(name, cache, exc)) from exc
    if not path.is_file():
        raise FileNotFoundError(_missing_message(name, cache, None))
    return path


def _tokens(path: Path) -> list[str]:
    """Words of a PTB file, each line followed by ``<eos>`` (the book's tokenisation)."""
    with open(path, "rb") as f:
        raw = f.read()
    text = fio.files.decode_utf8(raw, path, "PTB files")
    return text.replace("\n", " <eos> ").split()


def _cache_key(paths: dict[str, Path]) -> str:
    """Key of the cached corpora: a hash of the splits read and the content of their files.

    Size and modification time are not enough: copies made with ``cp -p``,
    ``rsync -a`` or ``touch -r`` can differ in words but not in either.
    Hashing the 5 MB of the PTB takes about 10 ms, once per load.
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(f"v{_CACHE_VERSION}".encode())
    for split in paths:
        h.update(f"|{split}:".encode())
        with open(paths[split], "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def _build(paths: dict[str, Path]) -> dict[str, np.ndarray]:
    tokens = {split: _tokens(paths[split]) for split in paths}
    # first appearance over train, then valid, then test (dicts keep insertion order)
    vocab = {}
    for split in paths:
        vocab.update(dict.fromkeys(tokens[split]))
    word_to_id = {w: i for i, w in enumerate(vocab)}
    out = {"vocab": np.array(list(word_to_id), dtype=str)}
    for split in paths:
        words = tokens[split]
        out[split] = np.fromiter(map(word_to_id.__getitem__, words), np.int32, count=len(words))
    return out


def _load_cached(path: Path, splits) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in ("vocab", *splits)}
    except Exception as exc:  # unreadable cache: rebuild it
        log.warning("ignoring unreadable PTB cache %s (%s)", path, exc)
        return None
    if data["vocab"].dtype.kind != "U" or any(data[s].dtype != np.int32 for s in splits):
        return None
    return data


def _paths(split: str) -> dict[str, Path]:
    """The files to read for ``split``, in the order their words are numbered.

    The vocabulary is numbered over train, then valid, then test.  All three are
    needed for the valid and test splits; for train (and :func:`load_vocab`) a
    missing valid or test file is left out: the train words' ids do not depend on
    it, and the PTB's valid and test files hold no word the train file lacks.
    """
    paths = {"train": _find_source(FILES["train"])}
    for other in ("valid", "test"):
        try:
            paths[other] = _find_source(FILES[other])
        except FileNotFoundError:
            if split != "train":
                raise
            log.info("%s not found: the vocabulary is read from the train split", FILES[other])
    return paths


def _corpora(split: str = "train") -> dict[str, np.ndarray]:
    paths = _paths(split)
    root = _cache_root()
    cache = None if root is None else root / f"ptb-corpus-{_cache_key(paths)}.npz"
    if cache is not None and cache.is_file():
        data = _load_cached(cache, tuple(paths))
        if data is not None:
            return data
    data = _build(paths)
    try:
        cache = _make_cache_root() / f"ptb-corpus-{_cache_key(paths)}.npz"
        fio.atomic_write(cache, lambda f: np.savez(f, **data))
    except OSError as exc:  # no or a read-only cache only costs speed
        log.warning("could not write the PTB cache: %s", exc)
    return data


def load_data(data_type: str = "train") -> tuple[np.ndarray, dict[str, int], dict[int, str]]:
    """Load one split of the Penn Treebank with the book's word ids.

    Parameters
    ----------
    data_type : {'train', 'val', 'valid', 'test'}, default 'train'
        Which split to return.

    Returns
    -------
    corpus : numpy.ndarray of int32, shape (n_words,)
        Word ids of the split (929589 / 73760 / 82430 words).
    word_to_id : dict of str to int
        The vocabulary (10000 words), the same for every split.
    id_to_word : dict of int to str
        Its inverse.

    Raises
    ------
    ValueError
        If ``data_type`` is not one of the names above.
    FileNotFoundError
        If a file needed (``ptb.train.txt`` for the train split, all three for the
        others) is neither in ``$FASTLSTM_DATA/ptb`` nor in the cache and cannot be
        downloaded; the message says where to put it.

    Examples
    --------
    >>> corpus, word_to_id, id_to_word = load_data("train")  # doctest: +SKIP
    >>> len(word_to_id), corpus.shape
    (10000, (929589,))
    """
    if not isinstance(data_type, str) or data_type not in _ALIASES:
        raise ValueError(
            f"data_type must be 'train', 'val' (or 'valid') or 'test', got {data_type!r}"
        )
    split = _ALIASES[data_type]
    data = _corpora(split)
    words = data["vocab"].tolist()
    word_to_id = {w: i for i, w in enumerate(words)}
    id_to_word = dict(enumerate(words))
    return data[split], word_to_id, id_to_word


def load_vocab() -> tuple[dict[str, int], dict[int, str]]:
    """The vocabulary of the Penn Treebank, as the book's ``ptb.load_vocab()``.

    Returns
    -------
    word_to_id : dict of str to int
        The 10000 words of the training split, numbered in the order they first appear.
    id_to_word : dict of int to str
        Its inverse.

    Raises
    ------
    FileNotFoundError
        As :func:`load_data`.
    """
    _, word_to_id, id_to_word = load_data("train")
    return word_to_id, id_to_word
