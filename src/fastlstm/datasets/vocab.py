"""The vocabulary of a character-level data set: ids of characters, in order of
first appearance (the book's ``char_to_id`` / ``id_to_char``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

import numpy as np

__all__ = ["Vocab"]


class Vocab:
    """Character vocabulary of a sequence data set.

    Parameters
    ----------
    chars : iterable of str
        The characters, in id order (``chars[i]`` has id ``i``).
    source : str, optional
        Where the data came from (a file path or a generator call).

    Attributes
    ----------
    char_to_id : Mapping[str, int]
        Read-only map from character to id (the book's ``char_to_id``).
    id_to_char : Mapping[int, str]
        Read-only map from id to character (the book's ``id_to_char``).
    source : str
        Where the data came from.

    Examples
    --------
    >>> v = Vocab("16+75 _")
    >>> v.encode("57+")
    array([4, 3, 2], dtype=int32)
    >>> v.decode([0, 1])
    '16'
    """

    def __init__(self, chars: Iterable[str], source: str = "<chars>"):
        chars = tuple(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"chars must be single characters, got {c!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("chars must not contain duplicates")
        self._chars = chars
        self.char_to_id: Mapping[str, int] = MappingProxyType({c: i for i, c in enumerate(chars)})
        self.id_to_char: Mapping[int, str] = MappingProxyType(dict(enumerate(chars)))
        self.source = source

    @property
    def chars(self) -> tuple[str, ...]:
        """The characters in id order."""
        return self._chars

    def __len__(self) -> int:
        return len(self._chars)

    def __contains__(self, char: object) -> bool:
        return char in self.char_to_id

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return self._chars == other._chars

    def __hash__(self) -> int:
        return hash(self._chars)

    def __repr__(self) -> str:
        return f"Vocab({''.join(self._chars)!r}, source={self.source!r})"

    def encode(self, text: str | Sequence[str]) -> np.ndarray:
        """Map text to ids.

        Parameters
        ----------
        text : str or sequence of str
            One string, or several strings of equal length.

        Returns
        -------
        numpy.ndarray of int32
            Shape ``(len(text),)`` for a string, ``(N, T)`` for N strings of length T.
        """
        if isinstance(text, str):
            try:
                return np.array([self.char_to_id[c] for c in text], dtype=np.int32)
            except KeyError as exc:
                raise ValueError(f"character {exc.args[0]!r} is not in the vocabulary") from None
        texts = list(text)
        lengths = {len(s) for s in texts}
        if len(lengths) > 1:
            raise ValueError(
                f"strings to encode must have equal lengths, got lengths {sorted(lengths)}"
            )
        width = lengths.pop() if lengths else 0
        out = np.empty((len(texts), width), dtype=np.int32)  # (N, T)
        for i, s in enumerate(texts):
            if not isinstance(s, str):
                raise TypeError(f"text[{i}] must be a str, got {type(s).__name__}")
            out[i] = self.encode(s)
        return out

    def decode(self, ids: Sequence[int] | np.ndarray) -> str | list[str]:
        """Map ids back to text.

        Parameters
        ----------
        ids : array_like of int
            Shape ``(T,)`` or ``(N, T)``.

        Returns
        -------
        str or list of str
            One string for 1-D input, a list of N strings for 2-D input.
        """
        arr = np.asarray(ids)
        if arr.dtype.kind not in "iu" and arr.size:
            raise TypeError(f"ids must be integers, got dtype {arr.dtype}")
        if arr.ndim == 2:
            return [self.decode(row) for row in arr]
        if arr.ndim != 1:
            raise ValueError(f"ids must be 1-D or 2-D, got shape {arr.shape}")
        n = len(self._chars)
        bad = arr[(arr < 0) | (arr >= n)]
        if bad.size:
            raise ValueError(f"id {int(bad[0])} is out of range for a vocabulary of {n} characters")
        return "".join(self._chars[i] for i in arr.tolist())
