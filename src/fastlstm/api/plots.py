"""The PNG files of a training run: its curves and, for attention models, an attention map."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fastlstm.api import _util as u
from fastlstm.api.specs import ALL_MODELS, EVAL_INTERVAL
from fastlstm.evaluation import attention_weights
from fastlstm.plot import plot_attention, plot_curve


def _attention_png(model, path, sample):
    """Attention map of one test question, question shown the right way round."""
    x, t, chars, reverse = sample
    w = attention_weights(model, x, t)  # (T_dec, T_enc)
    if reverse:
        w, x = w[:, ::-1], x[::-1]
    cols = [chars[int(i)] for i in x]
    rows = [chars[int(i)] for i in t[1:]]
    return plot_attention(w, rows, cols, path, "".join(cols).rstrip())


def record_iterations(count: int, per_epoch: int) -> np.ndarray:
    """The iteration (from 1, over all epochs) of each of the first ``count`` recorded means.

    A mean is recorded at the iterations ``i % EVAL_INTERVAL == 0`` of every
    epoch, ``i`` counted from 0 (:class:`fastlstm.engine.IntervalMean`), so an
    epoch shorter than the interval gives one point, not one per interval.
    """
    within = np.arange(0, per_epoch, EVAL_INTERVAL)  # (points per epoch,)
    epochs = -(-count // len(within))
    at = (np.arange(epochs)[:, None] * per_epoch + within[None, :] + 1).reshape(-1)
    return at[:count]


def write_plots(run, folder: Path) -> dict[str, Path]:
    """The curves of a run's history (and the attention map) as PNG files in ``folder``.

    Parameters
    ----------
    run : Run or session
        Anything with the attributes ``name``, ``history``, ``model`` and
        ``sample`` of a :class:`fastlstm.api.training.Run`.
    folder : pathlib.Path
        Where the files go.

    Returns
    -------
    dict of str to pathlib.Path
        The files written, by name (``'loss'``, ``'accuracy'`` ...).
    """
    cls = ALL_MODELS[run.name]["class"]
    h = run.history
    n = getattr(run, "iterations_per_epoch", None)
    iters = "iteration" if n else f"iterations (x{EVAL_INTERVAL})"
    curves = {  # name: (values, file, xlabel, ylabel, title, options)
        "perplexity": (h.get("train_ppl"), "perplexity.png", iters, "perplexity",
                       "training perplexity", {}),
        "val_perplexity": (h.get("val_ppl"), "val_perplexity.png", "epoch", "perplexity",
                           "validation perplexity", {"epochs": True}),
        "accuracy": (h.get("accuracy"), "accuracy.png", "epoch", "accuracy",
                     "test accuracy", {"epochs": True, "percent": True}),
        "loss": (h.get("loss"), "loss.png", iters, "loss", "training loss", {}),
    }  # fmt: skip
    written = {}
    for key, (values, file, xlabel, ylabel, title, opt) in curves.items():
        if not values:
            continue
        if opt.get("epochs"):
            kwargs = {"marker": "o", "x": np.arange(1, len(values) + 1)}
        else:
            kwargs = {"x": record_iterations(len(values), n)} if n else {}
        if opt.get("percent"):
            kwargs.update(percent=True, ylim=(-0.05, 1.05))
        path = u.try_plot(
            plot_curve, folder / file, values, xlabel=xlabel, ylabel=ylabel,
            title=f"{cls}: {title}", **kwargs,
        )  # fmt: skip
        if path is not None:
            written[key] = path
    if run.sample is not None and run.name.startswith("attention"):
        path = u.try_plot(_attention_png, folder / "attention.png", run.model, sample=run.sample)
        if path is not None:
            written["attention"] = path
    return written
