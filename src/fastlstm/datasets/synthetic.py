"""Generators of the book's character-level data sets (``addition.txt``,
``date.txt``): the same format, widths and characters, drawn from a seed, for
use offline.
"""

from __future__ import annotations

import datetime

import numpy as np

__all__ = ["make_addition", "DATE_QUESTION_WIDTH", "make_date"]


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    return int(n)


def make_addition(n: int = 50000, seed: int | None = 0, *, digits: int = 3) -> list[str]:
    """Generate addition problems in the format of the book's ``addition.txt``.

    Each operand has 1 to ``digits`` digits (the number of digits is drawn
    uniformly, then the digits), unordered pairs are unique, the question
    ``a+b`` is left-justified to ``2 * digits + 1`` characters and the answer
    ``_`` + sum to ``digits + 2``.

    Parameters
    ----------
    n : int, default 50000
        Number of lines; at most half the number of distinct unordered pairs.
    seed : int or None, default 0
        Seed of ``numpy.random.default_rng``.
    digits : int, default 3
        Maximum number of digits of an operand.

    Returns
    -------
    list of str
        Lines without newline, e.g. ``'16+75  _91  '``.
    """
    n = _check_n(n)
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 9:
        raise ValueError(f"digits must be an int in 1..9, got {digits!r}")
    values = 10**digits
    limit = values * (values + 1) // 4
    if n > limit:
        raise ValueError(f"n={n} is too large for {digits}-digit operands (at most {limit})")
    rng = np.random.default_rng(seed)
    seen: set[tuple[int, int]] = set()
    lines: list[str] = []
    q_width, a_width = 2 * digits + 1, digits + 2
    while len(lines) < n:
        m = 2 * (n - len(lines)) + 16
        nd = rng.integers(1, digits + 1, size=(m, 2))
        ab = rng.integers(0, 10**nd)  # uniform random digits, leading zeros dropped
        for a, b in ab.tolist():
            key = (a, b) if a <= b else (b, a)
            if key in seen:
                continue
            seen.add(key)
            lines.append(f"{a}+{b}".ljust(q_width) + f"_{a + b}".ljust(a_width))
            if len(lines) == n:
                break
    return lines


_MONTHS = (
    "January February March April May June July August September October November December"
).split()

_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()

_DATE_FIRST = datetime.date(1970, 1, 1)

_DATE_LAST = datetime.date(2017, 7, 24)

#: width of the question of ``date.txt`` (``'Wednesday, September 27, 1994'``)
DATE_QUESTION_WIDTH = 29


def _format_date(d: datetime.date, fmt: int) -> str:
    month = _MONTHS[d.month - 1]
    if fmt == 0:  # short: 9/27/94
        return f"{d.month}/{d.day}/{d.year % 100:02d}"
    if fmt == 1:  # medium: Sep 27, 1994
        return f"{month[:3]} {d.day}, {d.year}"
    if fmt == 2:  # long: September 27, 1994
        return f"{month} {d.day}, {d.year}"
    return f"{_DAYS[d.weekday()]}, {month} {d.day}, {d.year}"  # full


def make_date(n: int = 50000, seed: int | None = 0) -> list[str]:
    """Generate date-normalisation problems in the format of the book's ``date.txt``.

    Dates are uniform between 1970-01-01 and 2017-07-24 (the range of the book's
    file).  The question is one of four formats with equal probability,
    ``9/27/94``, ``Sep 27, 1994``, ``September 27, 1994`` and
    ``Tuesday, September 27, 1994``; the three written formats are in title
    case (1/2), lower case (1/4) or upper case (1/4), as in the book's file.
    Questions are left-justified to 29 characters; the answer is
    ``_YYYY-MM-DD``.  The characters are a subset of the book's 59, so models
    sized for ``date.txt`` fit.

    Parameters
    ----------
    n : int, default 50000
        Number of lines.
    seed : int or None, default 0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    list of str
        Lines without newline, e.g. ``'september 27, 1994           _1994-09-27'``.
    """
    n = _check_n(n)
    rng = np.random.default_rng(seed)
    first = _DATE_FIRST.toordinal()
    days = rng.integers(first, _DATE_LAST.toordinal() + 1, size=n).tolist()
    fmts = rng.integers(0, 4, size=n).tolist()
    cases = rng.integers(0, 4, size=n).tolist()  # 0, 1: as is; 2: lower; 3: upper
    lines = []
    for day, fmt, case in zip(days, fmts, cases, strict=True):
        d = datetime.date.fromordinal(day)
        q = _format_date(d, fmt)
        if case == 2:
            q = q.lower()
        elif case == 3:
            q = q.upper()
        lines.append(f"{q.ljust(DATE_QUESTION_WIDTH)}_{d.isoformat()}")
    return lines
