"""Training curves and attention maps, saved as PNG files.

Figures are drawn on matplotlib's Agg canvas without :mod:`matplotlib.pyplot`,
so no window opens, no global figure state is touched and nothing needs a
display.  matplotlib is imported only when a function is called.  Files are
written atomically (:func:`fastlstm.io.atomic_write`) and their directory is
created if needed.

Examples
--------
>>> from fastlstm.plot import plot_curve, plot_attention          # doctest: +SKIP
>>> plot_curve(acc_list, "runs/acc.png", "epoch", "accuracy", "seq2seq")  # doctest: +SKIP
>>> plot_attention(weights, list("1994-09-27"), list("september 27, 1994"),
...                "runs/attention.png", "attention")          # doctest: +SKIP
"""

from __future__ import annotations

import io as _stdio
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from fastlstm.io import atomic_write

__all__ = ["plot_curve", "plot_attention"]


def _new_figure(figsize):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"the plots are PNG files: the path must end in .png, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = _stdio.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    data = buf.getvalue()
    return atomic_write(path, lambda f: f.write(data))


def _series(values, name="values") -> np.ndarray:
    if not isinstance(values, np.ndarray | Sequence):  # an iterator, a generator, a deque
        values = list(values)
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of numbers, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: nothing to plot")
    return arr


def plot_curve(
    values,
    path: str | os.PathLike,
    xlabel: str = "epoch",
    ylabel: str = "",
    title: str | None = None,
    *,
    x=None,
    ylim: tuple[float, float] | None = None,
    marker: str | None = None,
    percent: bool = False,
) -> Path:
    """Save a line plot of a training curve (loss, perplexity, accuracy ...) as a PNG.

    Parameters
    ----------
    values : sequence of float or mapping of str to sequence of float
        One curve, or several curves keyed by their legend label.
    path : str or os.PathLike
        Output file; its directory is created if needed.
    xlabel, ylabel : str
        Axis labels.
    title : str, optional
        Title of the plot.
    x : sequence of float, optional
        Abscissae (default ``0, 1, 2, ...``; with a mapping, used for every
        curve of the same length).
    ylim : (float, float), optional
        Limits of the y axis, e.g. ``(0, 1)`` for an accuracy.
    marker : str, optional
        Matplotlib marker of the points (the book uses ``'o'`` for accuracies).
    percent : bool, default False
        The values are fractions (accuracies): label the y axis in percent
        (``0.5`` is shown as ``50%``; ``ylim`` stays in fractions).

    Notes
    -----
    When every abscissa is a whole number (epochs, evaluation counts), the x
    axis has integer ticks only.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        If a curve is empty or not one-dimensional, ``x`` does not match it,
        ``ylim`` is not a pair, or ``path`` does not end in ``.png``.
    """
    if isinstance(values, Mapping):
        if not values:
            raise ValueError("values is an empty mapping: nothing to plot")
        curves = {str(k): _series(v, f"values[{k!r}]") for k, v in values.items()}
    else:
        curves = {None: _series(values)}
    if ylim is not None and np.shape(ylim) != (2,):
        raise ValueError(f"ylim must be a pair (bottom, top), got {ylim!r}")
    xs = None if x is None else _series(x, "x")

    fig = _curve_figure(curves, xs, xlabel, ylabel, title, ylim, marker, percent)
    return _save(fig, path)


def _curve_figure(curves, xs, xlabel, ylabel, title, ylim, marker, percent):
    """The figure of :func:`plot_curve` (checked curves ``{label: ys}``), not saved."""
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    fig = _new_figure((6.4, 4.8))
    ax = fig.add_subplot()
    whole = True
    for label, ys in curves.items():
        if xs is None:
            xx = np.arange(len(ys))
        elif len(xs) == len(ys):
            xx = xs
        else:
            raise ValueError(f"x has {len(xs)} points but the curve has {len(ys)}")
        whole = whole and bool(np.all(np.asarray(xx) == np.round(xx)))
        finite = np.isfinite(ys)
        if not finite.any():
            warnings.warn(
                f"curve {label or ''}: no finite value to plot", UserWarning, stacklevel=3
            )
        # a point with no finite neighbour draws no line: mark the points then
        alone = finite & ~np.r_[False, finite[:-1]] & ~np.r_[finite[1:], False]
        ax.plot(xx, ys, marker=marker or ("o" if alone.any() else None), label=label)
    if whole:  # epochs and evaluation counts: no 1.5 ticks
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        lo, hi = ax.get_xlim()
        if hi - lo < 2:  # one abscissa: room for integer ticks around it
            mid = round((lo + hi) / 2)
            ax.set_xlim(mid - 1, mid + 1)
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if any(label is not None for label in curves):  # named curves (a mapping)
        ax.legend()
    ax.grid(True, alpha=0.3)
    return fig


def plot_attention(
    weights,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """Save an attention map as a gray heat map (the book's ``visualize_attention.py``).

    Row ``i`` holds the attention weights of decoder step ``i`` over the encoder
    steps; white is 1, black is 0.  Rows run from top to bottom.

    Parameters
    ----------
    weights : array_like, shape (T_dec, T_enc)
        Attention weights, usually in [0, 1].
    row_labels : sequence of str, length T_dec
        Labels of the rows (the decoder's output characters), on the y axis.
    col_labels : sequence of str, length T_enc
        Labels of the columns (the encoder's input characters), on the x axis.
    path : str or os.PathLike
        Output file; its directory is created if needed.
    title : str, optional
        Title of the plot.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        If ``weights`` is not 2-D or the label counts differ from its shape.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.size == 0:
        raise ValueError(f"weights must be a non-empty (T_dec, T_enc) array, got shape {w.shape}")
    row_labels = [str(s) for s in row_labels]
    col_labels = [str(s) for s in col_labels]
    if len(row_labels) != w.shape[0]:
        raise ValueError(f"row_labels has {len(row_labels)} labels, weights has {w.shape[0]} rows")
    if len(col_labels) != w.shape[1]:
        raise ValueError(
            f"col_labels has {len(col_labels)} labels, weights has {w.shape[1]} columns"
        )

    T_dec, T_enc = w.shape
    fig = _new_figure((max(4.0, 0.3 * T_enc + 1.5), max(3.0, 0.3 * T_dec + 1.2)))
    ax = fig.add_subplot()
    ax.pcolormesh(w, cmap="Greys_r", vmin=0.0, vmax=1.0)
    ax.set_facecolor("black")
    ax.set_xticks(np.arange(T_enc) + 0.5)
    ax.set_yticks(np.arange(T_dec) + 0.5)
    ax.set_xticklabels(col_labels)
    ax.set_yticklabels(row_labels)
    ax.invert_yaxis()
    ax.tick_params(length=0)
    if title:
        ax.set_title(title)
    return _save(fig, path)
