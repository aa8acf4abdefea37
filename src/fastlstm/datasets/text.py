"""Language-model data from a text file of one's own (any UTF-8 text, any language).

:func:`load_text` reads a text file, cuts it into tokens, builds a vocabulary
and returns the id corpora of three splits, ready for the language models::

    >>> data = load_text("novel.txt", level="char")               # doctest: +SKIP
    >>> data.train.shape, len(data.vocab)                          # doctest: +SKIP
    ((1843320,), 96)

and :func:`encode_file` reads another file into the ids of a given vocabulary
(a trained model's), e.g. to score the model on it.

Tokens
    ``level='word'``: whitespace-separated words, and the end of every line is
    the token ``<eos>``, as in the PTB files (a literal ``<eos>`` or ``<unk>``
    in the text is that token).  ``level='char'``: every Unicode character
    after NFC normalisation (a precomposed Korean syllable, an accented letter
    and its decomposed spelling are one unit); the line end is the character
    ``'\\n'``.  Both levels normalise the text to NFC first.
Vocabulary
    The ``vocab_size - 1`` most frequent tokens of the training split, then
    ``<unk>`` for the rest (id 0); ties are broken by the tokens' code-point
    order, so the same text always gives the same ids.  ``vocab_size=None``
    keeps every token of the training split (and ``<unk>``, for text unseen
    in training).
Splits
    The first 90% of the tokens train, the next 5% validate and the last 5%
    test (contiguous), unless separate validation and test files are given.

Reading is streamed in blocks of whole lines and encoding is vectorised
(characters through ``numpy.unique`` and ``searchsorted``, words through one
dictionary look-up each), so a 100 MB file is ready in tens of seconds with
memory of the order of its ids (``bench/text_tokenize.py``).

Errors name the file and the line: bytes that are not in the encoding, an
empty file, a corpus too small for one batch (:func:`check_lm_sizes`).
"""

from __future__ import annotations

import codecs
import os
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "TokenVocab",
    "TextData",
    "load_text",
    "encode_file",
    "read_blocks",
    "read_lines",
    "tokenize",
    "check_lm_sizes",
    "UNK",
    "EOS",
    "NORMALIZATION",
    "LEVELS",
]

UNK = "<unk>"
EOS = "<eos>"
NORMALIZATION = "NFC"
LEVELS = ("word", "char")
#: a character-level ``<unk>`` printed in generated text
UNK_CHAR = "\N{REPLACEMENT CHARACTER}"
_BLOCK = 1 << 22  # bytes read at a time (whole lines are tokenised together)


# --------------------------------------------------------------------------- #
# vocabulary
# --------------------------------------------------------------------------- #
class TokenVocab:
    """Vocabulary of a text corpus: tokens (words or characters) in id order.

    Parameters
    ----------
    tokens : iterable of str
        The tokens, ``tokens[i]`` having id ``i``; must contain ``unk``.
    level : {'word', 'char'}
        How the text was cut into tokens.
    normalization : str, default 'NFC'
        Unicode normalisation applied to the text before cutting.
    unk : str, default '<unk>'
        The token standing for every token outside the vocabulary.

    Attributes
    ----------
    tokens : tuple of str
    token_to_id : dict of str to int
    level, normalization, unk : str
    unk_id : int

    Examples
    --------
    >>> v = TokenVocab(["<unk>", "a", "b"], level="char")
    >>> v.encode("abz").tolist()
    [1, 2, 0]
    >>> v.decode([2, 1])
    'ba'
    """

    def __init__(
        self,
        tokens: Iterable[str],
        level: str,
        normalization: str = NORMALIZATION,
        unk: str = UNK,
    ):
        if level not in LEVELS:
            raise ValueError(f"level must be 'word' or 'char', got {level!r}")
        self.tokens = tuple(tokens)
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("the tokens of a vocabulary must be distinct")
        for t in self.tokens:
            if not isinstance(t, str) or not t:
                raise ValueError(f"tokens must be non-empty strings, got {t!r}")
        if unk not in self.tokens:
            raise ValueError(f"the vocabulary must contain the unknown token {unk!r}")
        self.level, self.normalization, self.unk = level, normalization, unk
        self.token_to_id = {t: i for i, t in enumerate(self.tokens)}
        self.unk_id = self.token_to_id[unk]

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenVocab):
            return NotImplemented
        return self.to_meta() == other.to_meta()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TokenVocab({len(self)} {self.level}s)"

    def to_meta(self) -> dict:
        """The vocabulary as JSON-able metadata (stored in checkpoints).

        Returns
        -------
        dict
            ``tokens``, ``level``, ``normalization`` and ``unk``.
        """
        return {
            "tokens": list(self.tokens),
            "level": self.level,
            "normalization": self.normalization,
            "unk": self.unk,
        }

    @classmethod
    def from_meta(cls, meta: dict) -> TokenVocab:
        """Rebuild a vocabulary from :meth:`to_meta`.

        Parameters
        ----------
        meta : dict
            What :meth:`to_meta` returned.

        Returns
        -------
        TokenVocab

        Raises
        ------
        ValueError
            If ``meta`` is not a vocabulary's metadata.
        """
        try:
            return cls(meta["tokens"], meta["level"], meta.get("normalization", "NFC"),
                       meta.get("unk", UNK))  # fmt: skip
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not the metadata of a text vocabulary: {exc}") from None

    def split(self, text: str) -> list[str]:
        """Cut ``text`` (normalised first) into tokens as the training text was cut.

        Parameters
        ----------
        text : str

        Returns
        -------
        list of str
            Characters, or words with ``<eos>`` for every line end.
        """
        text = normalize(text, self.normalization)
        return list(text) if self.level == "char" else text.replace("\n", f" {EOS} ").split()

    def encode(self, text: str | Sequence[str]) -> np.ndarray:
        """Ids of a text, or of a list of tokens; unknown tokens are ``unk_id``.

        Parameters
        ----------
        text : str or sequence of str
            A text (cut by :meth:`split`) or its tokens.

        Returns
        -------
        numpy.ndarray of int32, (T,)
        """
        tokens = self.split(text) if isinstance(text, str) else list(text)
        get, unk = self.token_to_id.get, self.unk_id
        return np.fromiter((get(t, unk) for t in tokens), dtype=np.int32, count=len(tokens))

    def unknown(self, text: str) -> list[str]:
        """The tokens of ``text`` that are not in the vocabulary, in order, once each.

        Parameters
        ----------
        text : str

        Returns
        -------
        list of str
        """
        out = []
        for t in self.split(text):
            if t not in self.token_to_id and t not in out:
                out.append(t)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``: characters joined as they are, words by spaces.

        Parameters
        ----------
        ids : iterable of int

        Returns
        -------
        str
            At word level ``<eos>`` ends a line; at character level ``<unk>``
            is shown as U+FFFD.
        """
        toks = [self.tokens[int(i)] for i in ids]
        if self.level == "char":
            return "".join(UNK_CHAR if t == self.unk else t for t in toks)
        out: list[str] = []
        for t in toks:
            if t == EOS:
                out.append("\n")
            else:
                if out and out[-1] != "\n":
                    out.append(" ")
                out.append(t)
        return "".join(out)


def normalize(text: str, form: str = NORMALIZATION) -> str:
    """``unicodedata.normalize(form, text)``, skipped when the text is already normal."""
    return text if unicodedata.is_normalized(form, text) else unicodedata.normalize(form, text)


# --------------------------------------------------------------------------- #
# reading
# --------------------------------------------------------------------------- #
def _check_encoding(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ValueError(f"unknown text encoding {encoding!r}") from None


def read_blocks(path, encoding: str = "utf-8", block: int = _BLOCK) -> Iterator[str]:
    """The text of a file in blocks of whole lines (the last may lack its line end).

    A leading byte-order mark is dropped; ``'\\r\\n'`` line ends become ``'\\n'``.

    Parameters
    ----------
    path : str or os.PathLike
    encoding : str, default 'utf-8'
    block : int
        Bytes read at a time.

    Yields
    ------
    str

    Raises
    ------
    ValueError
        If the file holds bytes that are not text in ``encoding``, or a NUL
        character: the message names the file, the line and the byte.
    FileNotFoundError
        If there is no such file.
    """
    enc = _check_encoding(encoding)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such text file: {os.fspath(path)!r}")
    decoder = codecs.getincrementaldecoder(enc)(errors="strict")
    lines_before, carry, first = 0, "", True
    with open(path, "rb") as f:
        while True:
            raw = f.read(block)
            final = not raw
            try:
                text = decoder.decode(raw, final=final)
            except UnicodeDecodeError as exc:
                lineno = lines_before + carry.count("\n") + raw[: max(exc.start, 0)].count(b"\n")
                bad = exc.object[exc.start : exc.start + 4]
                raise ValueError(
                    f"{os.fspath(path)}, line {lineno + 1}: bytes {bad!r} are not {encoding} "
                    f"text ({exc.reason}); give the file's encoding (--encoding, encoding=) "
                    "or convert it to UTF-8"
                ) from None
            if first and text:
                if text.startswith("\ufeff"):
                    text = text[1:]
                first = False
            text = carry + text
            if final:
                if text:
                    _refuse_nul(text, lines_before, path, encoding)
                    yield text.replace("\r\n", "\n")
                return
            cut = text.rfind("\n") + 1
            if cut:
                out, carry = text[:cut], text[cut:]
                _refuse_nul(out, lines_before, path, encoding)
                lines_before += out.count("\n")
                yield out.replace("\r\n", "\n")
            else:
                carry = text


def read_lines(path, encoding: str = "utf-8") -> list[str]:
    """The lines of a text file without their line ends; ``'-'`` reads standard input.

    Parameters
    ----------
    path : str or os.PathLike
        The file, or ``'-'``.
    encoding : str, default 'utf-8'
        The file's encoding (standard input is read as Python decodes it).

    Returns
    -------
    list of str
        One item per line; an empty file gives none, a blank line an empty string.

    Raises
    ------
    ValueError, FileNotFoundError
        As :func:`read_blocks`.
    """
    if os.fspath(path) == "-":
        text = sys.stdin.read().replace("\r\n", "\n")
    else:
        text = "".join(read_blocks(path, encoding))
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def _refuse_nul(text: str, lines_before: int, path, encoding: str) -> None:
    """A NUL character is no text (a binary file, or UTF-16 read as UTF-8): name its line."""
    i = text.find("\x00")
    if i >= 0:
        lineno = lines_before + text.count("\n", 0, i) + 1
        raise ValueError(
            f"{os.fspath(path)}, line {lineno}: a NUL character, which no text holds: is it "
            f"a binary file, or text in another encoding than {encoding} (--encoding, "
            "encoding=, e.g. utf-16)?"
        )


def tokenize(text: str, level: str) -> list[str]:
    """Tokens of a (normalised) text: words with ``<eos>`` at line ends, or characters.

    Parameters
    ----------
    text : str
    level : {'word', 'char'}

    Returns
    -------
    list of str
    """
    if level == "char":
        return list(text)
    return text.replace("\n", f" {EOS} ").split()


# --------------------------------------------------------------------------- #
# loading
# --------------------------------------------------------------------------- #
@dataclass
class TextData:
    """A tokenised text: the vocabulary and the id corpora of the three splits.

    Attributes
    ----------
    vocab : TokenVocab
    train, valid, test : numpy.ndarray of int32
        Corpora ``(n_tokens,)``.
    source : dict
        What was read: paths, level, vocabulary size, encoding, split fractions.
    unk_rate : float
        Fraction of the training tokens that are ``<unk>``.
    """

    vocab: TokenVocab
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    source: dict = field(default_factory=dict)
    unk_rate: float = 0.0


class _Reader:
    """Streams one file into provisional ids (characters: code points; words: first seen)."""

    def __init__(self, level, index):
        self.level = level
        self.index = index  # word -> provisional id (shared by the files of a data set)

    def read(self, path, encoding) -> np.ndarray:
        # characters: filled into one buffer of the file's size in bytes (at least one byte
        # per character), so the peak is about the ids themselves; words: one part a block
        out = (
            np.empty(max(Path(path).stat().st_size, 1), np.int32) if self.level == "char" else None
        )
        parts, n, has_text = [], 0, False
        for block in read_blocks(path, encoding):
            block = normalize(block)
            has_text = has_text or not block.isspace()
            if self.level == "char":
                codes = np.frombuffer(block.encode("utf-32-le"), dtype="<i4")
                if n + len(codes) > len(out):  # NFC made more characters than bytes (rare)
                    out = np.resize(out, max(2 * len(out), n + len(codes)))
                out[n : n + len(codes)] = codes
                n += len(codes)
            else:
                words = block.replace("\n", f" {EOS} ").split()
                get = self.index.setdefault
                index = self.index
                parts.append(
                    np.fromiter((get(w, len(index)) for w in words), np.int32, count=len(words))
                )
        if not has_text:
            raise ValueError(
                f"{os.fspath(path)}: the file is empty (no {self.level}s to learn, "
                "only white space)"
            )
        if self.level == "char":
            out.resize((n,), refcheck=False)  # gives back the unused bytes, without a copy
            return out  # (n,) int32
        return np.concatenate(parts) if len(parts) > 1 else parts[0].copy()  # (n,) int32

    def names(self, codes: np.ndarray) -> list[str]:
        """Token text of provisional ids ``codes``."""
        if self.level == "char":
            return [chr(c) for c in codes.tolist()]
        inv = list(self.index)  # insertion order = provisional id
        return [inv[c] for c in codes.tolist()]


def _build_vocab(reader, train_codes, level, vocab_size):
    """Vocabulary of the training codes and the table ``code -> id`` (0: ``<unk>``)."""
    top = int(train_codes.max(initial=0)) + 1
    counts = np.zeros(top, dtype=np.int64)  # (max code + 1,)
    for i in range(0, len(train_codes), _MAP_BLOCK):  # bincount copies to int64: by blocks
        counts += np.bincount(train_codes[i : i + _MAP_BLOCK], minlength=top)
    codes = np.flatnonzero(counts)
    counts = counts[codes]
    names = reader.names(codes)
    if UNK in names:  # a literal <unk> of the text is the unknown token
        k = names.index(UNK)
        codes, counts = np.delete(codes, k), np.delete(counts, k)
        names = names[:k] + names[k + 1 :]
    # most frequent first, ties by the tokens' code points
    rank = np.empty(len(names), dtype=np.int64)
    rank[np.argsort(np.array(names, dtype=object), kind="stable")] = np.arange(len(names))
    order = np.lexsort((rank, -counts))
    keep = order if vocab_size is None else order[: max(vocab_size - 1, 0)]
    vocab = TokenVocab([UNK] + [names[i] for i in keep.tolist()], level)
    return vocab, codes[keep]


_MAP_BLOCK = 1 << 22


def _vocab_codes(reader, vocab: TokenVocab):
    """Provisional codes and ids of a given vocabulary's tokens found by ``reader``."""
    codes, ids = [], []
    for i, tok in enumerate(vocab.tokens):
        if i == vocab.unk_id:
            continue
        if reader.level == "char":
            code = ord(tok) if len(tok) == 1 else -1
        else:
            code = reader.index.get(tok, -1)
        if code >= 0:
            codes.append(code)
            ids.append(i)
    return np.array(codes, dtype=np.int64), np.array(ids, dtype=np.int32)


def _map_in_place(codes: np.ndarray, kept: np.ndarray, ids=None, unk_id: int = 0) -> np.ndarray:
    """Replace provisional ``codes`` (int32) by vocabulary ids in place, block by block.

    ``kept`` codes get ids ``1, 2, ...`` (or ``ids``), every other code ``unk_id``.
    """
    top = max(int(codes.max(initial=0)), int(kept.max(initial=0))) + 1
    table = np.full(top, unk_id, dtype=np.int32)  # code -> id
    table[kept] = np.arange(1, len(kept) + 1, dtype=np.int32) if ids is None else ids
    for i in range(0, len(codes), _MAP_BLOCK):
        part = codes[i : i + _MAP_BLOCK]
        np.take(table, part, out=part)
    return codes


def load_text(
    path,
    *,
    level: str = "word",
    vocab_size: int | None = None,
    valid=None,
    test=None,
    encoding: str = "utf-8",
    fractions: tuple[float, float] = (0.05, 0.05),
    vocab: TokenVocab | None = None,
) -> TextData:
    """Read, tokenise and encode a text file for a language model.

    Parameters
    ----------
    path : str or os.PathLike
        The training text (or the whole text, split by ``fractions``).
    level : {'word', 'char'}, default 'word'
        Words (``<eos>`` at line ends) or characters (NFC).
    vocab_size : int, optional
        Tokens kept, ``<unk>`` included (the most frequent); default all.
    valid, test : str or os.PathLike, optional
        Separate validation and test files (both or neither).
    encoding : str, default 'utf-8'
        The files' encoding.
    fractions : (float, float), default (0.05, 0.05)
        Validation and test parts of ``path`` when no separate files are given:
        the last tokens of the file, test last.
    vocab : TokenVocab, optional
        Encode with this vocabulary (a trained model's) instead of building one.

    Returns
    -------
    TextData
        ``vocab`` and the corpora ``train``, ``valid``, ``test`` (int32 ids).

    Raises
    ------
    ValueError
        For an unknown level or encoding, bytes not in the encoding (file and
        line named), an empty file, or a ``vocab_size`` below 2.
    FileNotFoundError
        If a file is missing.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be 'word' or 'char', got {level!r}")
    if vocab_size is not None and (
        isinstance(vocab_size, bool) or not isinstance(vocab_size, int | np.integer)
        or vocab_size < 2
    ):  # fmt: skip
        raise ValueError(f"vocab_size must be an integer >= 2 (or None for all), got {vocab_size}")
    if (valid is None) != (test is None):
        raise ValueError("give both a validation and a test file, or neither")
    _check_encoding(encoding)
    reader = _Reader(level, {})
    codes = reader.read(path, encoding)  # (n,)
    if valid is None:
        n = len(codes)
        n_valid, n_test = (int(n * f) for f in fractions)
        n_train = n - n_valid - n_test
        parts = [codes[:n_train], codes[n_train : n_train + n_valid], codes[n_train + n_valid :]]
    else:
        parts = [codes, reader.read(valid, encoding), reader.read(test, encoding)]
    if vocab is None:
        vocab, kept = _build_vocab(reader, parts[0], level, vocab_size)
        ids = None
    else:
        if vocab.level != level:
            raise ValueError(f"the vocabulary is of {vocab.level}s, not {level}s")
        kept, ids = _vocab_codes(reader, vocab)
    unk_id = vocab.unk_id
    train, val, tst = (_map_in_place(p, kept, ids, unk_id) for p in parts)  # views: no copy
    source = {
        "kind": "text",
        "path": str(Path(path).resolve()),
        "level": level,
        "vocab_size": None if vocab_size is None else int(vocab_size),
        "encoding": encoding,
        "normalization": NORMALIZATION,
    }
    if valid is not None:
        source["valid"] = str(Path(valid).resolve())
        source["test"] = str(Path(test).resolve())
    else:
        source["fractions"] = [float(f) for f in fractions]
    n_unk = sum(
        int(np.count_nonzero(train[i : i + _MAP_BLOCK] == vocab.unk_id))
        for i in range(0, len(train), _MAP_BLOCK)
    )
    unk_rate = n_unk / max(len(train), 1)
    return TextData(vocab, train, val, tst, source, unk_rate)


def encode_file(path, vocab: TokenVocab, encoding: str = "utf-8") -> np.ndarray:
    """The ids of a whole text file in a given vocabulary (a trained model's).

    The file is cut as :func:`load_text` cuts it at the vocabulary's level;
    tokens outside the vocabulary are its ``unk_id``.

    Parameters
    ----------
    path : str or os.PathLike
        The text file.
    vocab : TokenVocab
        The vocabulary, e.g. ``TokenVocab.from_meta`` of a checkpoint's.
    encoding : str, default 'utf-8'
        The file's encoding.

    Returns
    -------
    numpy.ndarray of int32, (n_tokens,)

    Raises
    ------
    ValueError
        For an unknown encoding, bytes not in the encoding (file and line
        named) or a file with no tokens.
    FileNotFoundError
        If the file is missing.

    Examples
    --------
    >>> vocab = TokenVocab(["a", "<unk>", "b"], level="char")
    >>> encode_file("ab.txt", vocab).tolist()                      # doctest: +SKIP
    [0, 2, 1]
    """
    _check_encoding(encoding)
    reader = _Reader(vocab.level, {})
    codes = reader.read(path, encoding)  # (n,) provisional codes
    kept, ids = _vocab_codes(reader, vocab)
    return _map_in_place(codes, kept, ids, vocab.unk_id)


def check_lm_sizes(data: TextData, batch_size: int, time_size: int, eval_tokens: int) -> None:
    """Refuse a corpus too small for one training batch or one evaluation batch.

    Parameters
    ----------
    data : TextData
    batch_size, time_size : int
        One training batch reads ``batch_size * time_size + 1`` tokens.
    eval_tokens : int
        Tokens one evaluation needs in the validation and in the test split.

    Raises
    ------
    ValueError
        Naming the file, the split, its size and the minimum.
    """
    name = data.source.get("path", "the text")
    need = batch_size * time_size + 1
    level = data.vocab.level
    if len(data.train) < need:
        if "fractions" in data.source:  # validation and test are the file's last parts
            fv, ft = data.source["fractions"]
            for_train = int(np.ceil(need / (1 - fv - ft)))
            total = max(for_train, int(np.ceil(eval_tokens / fv)), int(np.ceil(eval_tokens / ft)))
        else:
            for_train = total = need
        advice = (
            "lower batch_size / time_size (--batch-size / --time-size) or give more text"
            if for_train == total
            else f"{eval_tokens} for each of the validation and test parts, its last {fv:.0%} "
            f"and {ft:.0%}, whatever the batch size; or give valid and test files (--valid, --test)"
        )
        raise ValueError(
            f"{name}: the training text has {len(data.train)} {level}s, too few for one batch "
            f"of batch_size * time_size + 1 = {need} (the file needs at least {total} {level}s; "
            f"{advice})"
        )
    for split, corpus in (("validation", data.valid), ("test", data.test)):
        if len(corpus) >= eval_tokens:
            continue
        where = data.source.get("valid" if split == "validation" else "test")
        hint = ""
        if where is None:
            frac = data.source["fractions"][0 if split == "validation" else 1]
            where, split = name, f"{split} text (its last {frac:.0%})"
            hint = f"; the file needs at least {int(np.ceil(eval_tokens / frac))} {level}s"
        else:
            split = f"{split} text"
        raise ValueError(
            f"{where}: the {split} has {len(corpus)} {level}s, too few to evaluate "
            f"(at least {eval_tokens}{hint})"
        )
