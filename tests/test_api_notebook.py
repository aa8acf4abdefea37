"""A notebook session with the Python API alone: train, plot, resume, evaluate, use.

Written as notebook cells (``# %%``); tiny sizes so it runs in seconds.  Only
``fastlstm``'s top-level functions are used, as a reader of the book would.
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _isolated(isolated_run):
    """Own cache, no data directory, one kernel thread, a temporary cwd."""


def test_notebook_session(tmp_path, capsys):
    # %% some data in the book's format (a reader would use "date", the book's file)
    from fastlstm.datasets.sequence import make_date

    (tmp_path / "dates.txt").write_text("\n".join(make_date(600, seed=3)) + "\n")

    # %% train the attention model of chapter 8
    import fastlstm

    tiny = {"hidden": 16, "wordvec": 8, "batch_size": 32, "limit": 320}
    run = fastlstm.train("attention", data="dates.txt", epochs=2, seed=0, show=1, **tiny)
    printed = capsys.readouterr().out
    assert "epoch   2/2" in printed and "best accuracy" in printed
    assert len(run.history["accuracy"]) == 2
    assert run.best == max(run.history["accuracy"])

    # %% the curves, in a folder of our own
    figures = run.plot("figures")
    assert sorted(figures) == ["accuracy", "attention", "loss"]
    assert all(p.parent.name == "figures" and p.stat().st_size > 0 for p in figures.values())

    # %% two more epochs, quietly
    run = run.resume(epochs=4, verbose=False, progress=False)
    assert len(run.history["accuracy"]) == 4 and capsys.readouterr().out == ""
    assert run.history["loss"][0] > run.history["loss"][-1]  # it learns
    assert repr(run) == f"Run('attention', out='runs/attention', epochs=4, best={run.best:.6g})"

    # %% evaluate the best model on the data it was trained on
    result = fastlstm.evaluate(run.best_path, show=0)
    assert result.metric == "accuracy" and result.value == pytest.approx(run.best)

    # %% ask it something
    (answer,) = fastlstm.translate(run.best_path, "Mar 25, 2003")
    assert len(answer.answer) == 10 and 0 < answer.confidence <= 1
    assert np.isfinite(answer.char_probs).all()

    # %% a second run into the same folder is refused: nothing is lost
    with pytest.raises(fastlstm.RunError, match="earlier run"):
        fastlstm.train("attention", data="dates.txt", epochs=1, **tiny)
