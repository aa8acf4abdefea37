"""Seq2seq data from a tab-separated file of pairs: ``source<TAB>target`` per line, any lengths.

:func:`load_pairs` reads the pairs, cuts them into characters (default) or
words, numbers the tokens and pads every sequence to its batch's width with
the padding id 0::

    question  (N, T_enc)   tokens of the source, then <pad>
    answer    (N, T_dec+2) <s>, tokens of the target, </s>, then <pad>

so a model built with ``pad_id=PAD_ID`` leaves the padding out of everything
(loss, attention, the encoder's final state) and its decoder learns to end an
answer with ``</s>``.  Source and target share one vocabulary: ``<pad>``,
``<s>``, ``</s>``, ``<unk>`` (ids 0-3), then the tokens, most frequent first
(ties by code point).  Text is NFC-normalised.

Pairs with more than ``max_length`` tokens on either side are skipped with a
warning that counts them (the first skipped line is named); blank lines are
ignored.  A line without exactly one tab, or with an empty side, is an error
naming the file and the line, as are bytes that are not in the encoding and
an empty file.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fastlstm.datasets.text import LEVELS, TokenVocab, normalize, read_blocks

__all__ = [
    "PairData",
    "load_pairs",
    "encode_questions",
    "decode_answers",
    "pair_vocab",
    "PAD",
    "BOS",
    "EOS",
    "UNK",
    "PAD_ID",
    "BOS_ID",
    "EOS_ID",
    "MAX_LENGTH",
]

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
SPECIALS = (PAD, BOS, EOS, UNK)
#: default longest sequence (tokens) kept on either side of a pair
MAX_LENGTH = 200


@dataclass
class PairData:
    """Padded id arrays of a file of pairs.

    Attributes
    ----------
    x_train, x_test : numpy.ndarray of int32
        Questions ``(N, T_enc)``, padded with ``PAD_ID`` on the right (each
        question reversed first if ``reverse``).
    t_train, t_test : numpy.ndarray of int32
        Answers ``(N, T_dec + 2)``: ``BOS_ID``, the target, ``EOS_ID``, padding.
    vocab : TokenVocab
    source : dict
        Path, level, encoding, limits and split: what :func:`load_pairs` read.
    skipped : int
        Pairs left out for being longer than ``max_length``.
    """

    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    vocab: TokenVocab
    source: dict = field(default_factory=dict)
    skipped: int = 0


def _split(text: str, level: str) -> list[str]:
    return list(text) if level == "char" else text.split()


def pair_vocab(tokens: list[str], level: str) -> TokenVocab:
    """A pair vocabulary: the four specials, then ``tokens``.

    Parameters
    ----------
    tokens : list of str
        Tokens of the data, in id order.
    level : {'char', 'word'}

    Returns
    -------
    TokenVocab
    """
    return TokenVocab([*SPECIALS, *tokens], level, unk=UNK)


def _pad(seqs: list[np.ndarray], width: int) -> np.ndarray:
    out = np.full((len(seqs), width), PAD_ID, dtype=np.int32)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


def encode_questions(vocab: TokenVocab, texts, reverse: bool = False) -> np.ndarray:
    """Questions as the model reads them: reversed if asked, padded on the right.

    Parameters
    ----------
    vocab : TokenVocab
    texts : sequence of str
    reverse : bool, default False

    Returns
    -------
    numpy.ndarray of int32, (N, T)
        ``T`` is the longest question's length; unknown tokens are ``<unk>``.
    """
    seqs = [vocab.encode(_split(normalize(t), vocab.level)) for t in texts]
    if reverse:
        seqs = [s[::-1] for s in seqs]
    return _pad(seqs, max((len(s) for s in seqs), default=1) or 1)


def decode_answers(vocab: TokenVocab, ids: np.ndarray) -> list[str]:
    """Decoded ids to text: up to the first ``</s>``, specials dropped.

    Parameters
    ----------
    vocab : TokenVocab
    ids : array_like of int, (N, T)

    Returns
    -------
    list of str
        Characters joined as they are, words by spaces; ``<unk>`` as U+FFFD.
    """
    out = []
    sep = "" if vocab.level == "char" else " "
    for row in np.asarray(ids).tolist():
        toks = []
        for i in row:
            if i == EOS_ID:
                break
            if i > UNK_ID:
                toks.append(vocab.tokens[i])
            elif i == UNK_ID:
                toks.append("\N{REPLACEMENT CHARACTER}")
        out.append(sep.join(toks))
    return out


def _read_pairs(path, level, encoding, max_length):
    pairs, skipped, first_skipped, lineno = [], 0, None, 0
    name = os.fspath(path)
    for block in read_blocks(path, encoding):
        block = normalize(block)
        for line in block.split("\n"):
            lineno += 1
            if not line.strip():
                continue
            tabs = line.count("\t")
            if tabs != 1:
                raise ValueError(
                    f"{name}, line {lineno}: expected one tab between source and target, "
                    f"found {tabs} (a pair file holds 'source<TAB>target' per line)"
                )
            src, tgt = line.split("\t")
            a, b = _split(src, level), _split(tgt, level)
            reserved = [t for t in (*a, *b) if t in SPECIALS]
            if reserved:  # word level only: a character is never one of them
                raise ValueError(
                    f"{name}, line {lineno}: {reserved[0]!r} is a reserved word (the special "
                    f"tokens {', '.join(SPECIALS)} mark padding, start, end and unknown words)"
                )
            if not a or not b:
                side = "source" if not a else "target"
                raise ValueError(f"{name}, line {lineno}: the {side} is empty")
            if max(len(a), len(b)) > max_length:
                skipped += 1
                first_skipped = first_skipped or lineno
                continue
            pairs.append((a, b, lineno))
        lineno -= 1  # the block's last piece is the next block's first line
    if not pairs and not skipped:
        raise ValueError(f"{name}: the file is empty (no 'source<TAB>target' lines)")
    if not pairs:
        raise ValueError(
            f"{name}: all {skipped} pairs are longer than max_length={max_length} {level}s"
        )
    if skipped:
        warnings.warn(
            f"{name}: skipped {skipped} of {skipped + len(pairs)} pairs longer than "
            f"max_length={max_length} {level}s (the first on line {first_skipped}); raise "
            "--max-length (max_length=) to keep them",
            UserWarning,
            stacklevel=3,
        )
    return pairs, skipped


def _refuse_unknown(pairs, vocab: TokenVocab, path) -> None:
    """ValueError at the first pair with a token outside ``vocab`` (file and line named)."""
    known = vocab.token_to_id
    for a, b, lineno in pairs:
        new = [t for t in (*a, *b) if t not in known]
        if new:
            what = "characters" if vocab.level == "char" else "words"
            shown = ", ".join(repr(t) for t in dict.fromkeys(new))
            raise ValueError(
                f"{os.fspath(path)}, line {lineno}: {what} the model does not know: {shown} "
                "(these data are not in the model's vocabulary)"
            )


def load_pairs(
    path,
    *,
    level: str = "char",
    encoding: str = "utf-8",
    max_length: int = MAX_LENGTH,
    reverse: bool = False,
    test_fraction: float = 0.1,
    seed: int = 0,
    vocab: TokenVocab | None = None,
    unknown: str = "unk",
) -> PairData:
    """Read a tab-separated file of pairs into padded id arrays and a vocabulary.

    Parameters
    ----------
    path : str or os.PathLike
        One ``source<TAB>target`` pair per line.
    level : {'char', 'word'}, default 'char'
        Characters (NFC) or whitespace-separated words.
    encoding : str, default 'utf-8'
    max_length : int, default 200
        Pairs with a longer side are skipped (counted in a warning).
    reverse : bool, default False
        Reverse every question (before padding).
    test_fraction : float, default 0.1
        Part of the pairs held out for testing (after a shuffle by ``seed``).
    seed : int, default 0
        Seed of the shuffle that picks the test pairs.
    vocab : TokenVocab, optional
        Use this vocabulary (a trained model's) instead of building one;
        tokens outside it become ``<unk>``, or are refused (``unknown``).
    unknown : {'unk', 'error'}, default 'unk'
        With ``vocab``: ``'error'`` refuses a file with a token outside it
        (ValueError naming the line), where the model could only read
        ``<unk>`` and would be scored on answers it cannot give.

    Returns
    -------
    PairData

    Raises
    ------
    ValueError
        For a line without exactly one tab or with an empty side, bytes not in
        the encoding, tokens outside ``vocab`` with ``unknown='error'`` (file and
        line named), an empty file, or pairs all too long.
    FileNotFoundError
        If the file does not exist.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be 'char' or 'word', got {level!r}")
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
    if unknown not in ("unk", "error"):
        raise ValueError(f"unknown must be 'unk' or 'error', got {unknown!r}")
    pairs, skipped = _read_pairs(path, level, encoding, max_length)
    if vocab is not None and unknown == "error":
        _refuse_unknown(pairs, vocab, path)
    pairs = [(a, b) for a, b, _ in pairs]
    if vocab is None:
        counts: dict[str, int] = {}
        for a, b in pairs:
            for tok in (*a, *b):
                counts[tok] = counts.get(tok, 0) + 1
        for s in SPECIALS:
            counts.pop(s, None)
        tokens = sorted(counts, key=lambda k: (-counts[k], k))
        vocab = pair_vocab(tokens, level)
    xs = [vocab.encode(a) for a, _ in pairs]
    if reverse:
        xs = [x[::-1] for x in xs]
    ts = [np.concatenate(([BOS_ID], vocab.encode(b), [EOS_ID])).astype(np.int32) for _, b in pairs]
    x = _pad(xs, max(len(s) for s in xs))  # (N, T_enc)
    t = _pad(ts, max(len(s) for s in ts))  # (N, T_dec + 2)
    n = len(pairs)
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(n * test_fraction))) if n > 1 else 0
    train, test = order[: n - n_test], order[n - n_test :]
    source = {
        "kind": "pairs",
        "path": str(Path(path).resolve()),
        "level": level,
        "encoding": encoding,
        "max_length": int(max_length),
        "test_fraction": float(test_fraction),
        "split_seed": int(seed),
        "pairs": n,
        "skipped": skipped,
    }
    return PairData(x[train], t[train], x[test], t[test], vocab, source, skipped)
