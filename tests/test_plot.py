"""Curves and attention maps are written as PNG files; bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm.plot import plot_attention, plot_curve

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _image(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_MAGIC
    return imread(path)


def test_plot_curve_writes_a_png_and_creates_the_directory(tmp_path):
    path = tmp_path / "deep" / "er" / "ppl.png"
    out = plot_curve([300.0, 200.0, 150.0], path, "epoch", "perplexity", "Rnnlm")
    assert out == path
    img = _image(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_plot_curve_draws_the_data(tmp_path):
    a = _image(plot_curve([0.0, 1.0], tmp_path / "a.png", ylim=(0, 1)))
    b = _image(plot_curve([1.0, 0.0], tmp_path / "b.png", ylim=(0, 1)))
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_plot_curve_several_curves_and_x(tmp_path):
    curves = {"baseline": [0.1, 0.2, 0.3], "peeky": [0.2, 0.6, 0.9]}
    path = plot_curve(
        curves, tmp_path / "acc.png", "epoch", "accuracy", x=[1, 2, 3], ylim=(0, 1), marker="o"
    )
    _image(path)


def test_plot_curve_replaces_an_existing_file(tmp_path):
    path = tmp_path / "c.png"
    path.write_bytes(b"old")
    plot_curve([1.0, 2.0], path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]  # no temporary file left


@pytest.mark.parametrize(
    ("values", "kwargs", "match"),
    [
        ([], {}, "empty"),
        ([[1.0, 2.0]], {}, "1-D"),
        ({}, {}, "empty mapping"),
        ([1.0, 2.0], {"ylim": (0,)}, "ylim"),
        ([1.0, 2.0], {"x": [1, 2, 3]}, "x has 3 points"),
    ],
)
def test_plot_curve_bad_input(tmp_path, values, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_curve(values, tmp_path / "x.png", **kwargs)
    assert not (tmp_path / "x.png").exists()


def test_plot_attention_writes_a_png(tmp_path):
    w = np.eye(4, 6)  # (T_dec, T_enc)
    path = plot_attention(w, list("abcd"), list("uvwxyz"), tmp_path / "att.png", "title")
    assert path == tmp_path / "att.png"
    _image(path)


def test_plot_attention_shows_the_weights(tmp_path):
    rows, cols = list("ab"), list("xyz")
    white = _image(plot_attention(np.ones((2, 3)), rows, cols, tmp_path / "w.png"))
    black = _image(plot_attention(np.zeros((2, 3)), rows, cols, tmp_path / "k.png"))
    # same layout, but the heat map is bright for weights 1 and dark for weights 0
    assert white.shape == black.shape
    assert white[..., :3].mean() > black[..., :3].mean() + 0.2


@pytest.mark.parametrize(
    ("w", "rows", "cols", "match"),
    [
        (np.ones(3), "a", "abc", "2-D|\\(T_dec, T_enc\\)"),
        (np.ones((2, 3)), "a", "abc", "row_labels"),
        (np.ones((2, 3)), "ab", "ab", "col_labels"),
    ],
)
def test_plot_attention_bad_input(tmp_path, w, rows, cols, match):
    with pytest.raises(ValueError, match=match):
        plot_attention(w, list(rows), list(cols), tmp_path / "x.png")


def _figure(values, **kwargs):
    from fastlstm.plot import _curve_figure, _series

    xs = kwargs.pop("x", None)
    curves = {None: _series(values)}
    return _curve_figure(
        curves,
        None if xs is None else _series(xs),
        "epoch",
        "accuracy",
        None,
        kwargs.get("ylim"),
        "o",
        kwargs.get("percent", False),
    )


def test_epochs_are_whole_numbers_on_the_x_axis():
    fig = _figure([0.1, 0.5, 0.9], x=[1, 2, 3])  # three epochs: matplotlib alone ticks 1.25 ...
    ax = fig.axes[0]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_accuracy_is_labelled_in_percent():
    fig = _figure([0.1, 0.5, 0.9], x=[1, 2, 3], percent=True, ylim=(-0.05, 1.05))
    ax = fig.axes[0]
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert "100%" in labels and "0%" in labels, labels
    plain = _figure([0.1, 0.5, 0.9], x=[1, 2, 3], ylim=(-0.05, 1.05))
    plain.canvas.draw()
    assert not any("%" in t.get_text() for t in plain.axes[0].get_yticklabels())


def test_plot_curve_percent_writes_a_png(tmp_path):
    _image(plot_curve([0.2, 0.8], tmp_path / "acc.png", x=[1, 2], percent=True, ylim=(0, 1)))


def test_a_point_with_no_neighbour_is_marked_and_one_epoch_has_integer_ticks():
    """One evaluation (an epoch of <= 20 iterations), or points between NaNs: no line to draw."""
    from fastlstm.plot import _curve_figure, _series

    def marker(values, x=None):
        fig = _curve_figure({None: _series(values)}, x, "epoch", "", None, None, None, False)
        fig.canvas.draw()
        return fig.axes[0]

    ax = marker([2.5], _series([1]))
    assert ax.lines[0].get_marker() == "o"
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert 1 in ticks and all(float(t).is_integer() for t in ticks), ticks
    assert marker([1.0, np.nan, 2.0]).lines[0].get_marker() == "o"
    assert marker([1.0, 2.0, 3.0]).lines[0].get_marker() in (None, "None", "")
    with pytest.warns(UserWarning, match="no finite value to plot"):
        marker([np.nan, np.inf])


def test_plot_paths_must_be_png_and_values_may_be_any_iterable(tmp_path):
    with pytest.raises(ValueError, match=r"the path must end in \.png, got .*loss\.pdf"):
        plot_curve([1.0, 2.0], tmp_path / "loss.pdf")
    assert not (tmp_path / "loss.pdf").exists()
    (tmp_path / "d.png").mkdir()
    with pytest.raises(IsADirectoryError, match=r"d\.png: it is a directory"):
        plot_curve([1.0, 2.0], tmp_path / "d.png")
    path = plot_curve((v for v in [1.0, 2.0]), tmp_path / "g.png", ylim=np.array([0.0, 3.0]))
    assert path.read_bytes()[:8] == PNG_MAGIC
