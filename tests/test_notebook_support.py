"""Behaviour in a Jupyter notebook: inline figures, progress bars, warnings, interrupts.

A kernel is simulated by replacing :func:`fastlstm._notebook.in_kernel` (and
``IPython.display.display``); ``tests/test_notebooks.py`` runs the tutorials in
a real kernel.
"""

from __future__ import annotations

import signal
import warnings

import numpy as np
import pytest

import fastlstm
from fastlstm import _notebook
from fastlstm.api import TrainingInterrupted
from fastlstm.engine import step as engine_step

TINY_SEQ = {"hidden": 16, "wordvec": 8, "batch_size": 32, "limit": 160}
QUIET = {"progress": False, "verbose": False}


@pytest.fixture(autouse=True)
def _isolated(offline_run):
    """Own cache, no data directory, no network, one kernel thread, a temporary cwd."""


@pytest.fixture
def kernel(monkeypatch):
    """Pretend to run in a Jupyter kernel; ``shown`` collects what is displayed."""
    display = pytest.importorskip("IPython.display")
    shown = []
    monkeypatch.setattr(_notebook, "in_kernel", lambda: True)
    monkeypatch.setattr(display, "display", lambda *objs, **kw: shown.extend(objs))
    return shown


def _png(obj) -> bytes:
    data = obj.data
    assert isinstance(data, bytes) and data[:8] == b"\x89PNG\r\n\x1a\n"
    return data


def test_not_a_kernel_here():
    assert _notebook.in_kernel() is False  # pytest is no Jupyter kernel


# --------------------------------------------------------------------------- #
# inline figures
# --------------------------------------------------------------------------- #
def test_run_plot_shows_the_figures_in_a_notebook(date_file, kernel):
    run = fastlstm.train("attention", data=date_file, epochs=1, seed=0, **TINY_SEQ, **QUIET)
    kernel.clear()
    written = run.plot()
    assert sorted(written) == ["accuracy", "attention", "loss"]  # the files, as before
    assert len(kernel) == 3 and all(_png(img) for img in kernel)
    kernel.clear()
    run.plot(show=False)
    assert kernel == []


def test_run_plot_shows_nothing_outside_a_notebook(date_file, monkeypatch):
    try:  # with IPython installed, displaying anything fails the test
        import IPython.display
    except ImportError:  # without it (the test extra alone) plot() must work as well
        pass
    else:
        monkeypatch.setattr(IPython.display, "display", lambda *a, **k: pytest.fail("displayed"))
    run = fastlstm.train("attention", data=date_file, epochs=1, seed=0, **TINY_SEQ, **QUIET)
    assert sorted(run.plot()) == ["accuracy", "attention", "loss"]


def _fitted_trainer():
    from fastlstm.models import SimpleRnnlm
    from fastlstm.optim import SGD
    from fastlstm.trainer import RnnlmTrainer

    corpus = np.random.default_rng(0).integers(0, 20, 400)
    trainer = RnnlmTrainer(SimpleRnnlm(20, 8, 8, seed=0), SGD(0.1), progress=False)
    trainer.fit(corpus[:-1], corpus[1:], max_epoch=2, batch_size=4, time_size=5, eval_interval=5)
    return trainer


def test_book_trainer_plot_shows_inline_in_a_notebook(kernel, monkeypatch, tmp_path):
    import matplotlib.pyplot as plt

    trainer = _fitted_trainer()
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plt.show() in a notebook"))
    assert trainer.plot() is None
    assert len(kernel) == 1 and _png(kernel[0])
    kernel.clear()
    path = trainer.plot(path=tmp_path / "ppl.png")  # saved, and shown as well
    assert path.is_file() and len(kernel) == 1 and _png(kernel[0]) == path.read_bytes()


def test_book_trainer_plot_outside_a_notebook_uses_plt_show(monkeypatch):
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(True))
    trainer = _fitted_trainer()
    try:
        assert trainer.plot() is None and shown == [True]
    finally:
        plt.close("all")


# --------------------------------------------------------------------------- #
# progress bars
# --------------------------------------------------------------------------- #
def test_book_trainer_shows_a_text_bar_in_a_notebook_without_ipywidgets(monkeypatch, capsys):
    from fastlstm.models import SimpleRnnlm
    from fastlstm.optim import SGD
    from fastlstm.trainer import RnnlmTrainer

    monkeypatch.setattr(_notebook, "in_kernel", lambda: True)
    monkeypatch.setattr(_notebook, "widgets_available", lambda: False)
    corpus = np.random.default_rng(0).integers(0, 20, 400)
    trainer = RnnlmTrainer(SimpleRnnlm(20, 8, 8, seed=0), SGD(0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no TqdmWarning: IProgress not found
        trainer.fit(corpus[:-1], corpus[1:], max_epoch=1, batch_size=4, time_size=5)
    captured = capsys.readouterr()
    assert "| epoch 1 |  iter 1 / 19" in captured.out  # the book's lines
    assert "train: 100%" in captured.err  # a text bar, although stderr is no terminal


def test_widget_bars_only_with_ipywidgets(monkeypatch):
    import tqdm
    import tqdm.notebook

    monkeypatch.setattr(_notebook, "in_kernel", lambda: True)
    monkeypatch.setattr(_notebook, "widgets_available", lambda: False)
    assert _notebook.tqdm_class() is tqdm.tqdm
    monkeypatch.setattr(_notebook, "widgets_available", lambda: True)
    assert _notebook.tqdm_class() is tqdm.notebook.tqdm
    monkeypatch.setattr(_notebook, "in_kernel", lambda: False)
    assert _notebook.tqdm_class() is tqdm.tqdm


# --------------------------------------------------------------------------- #
# warnings name the caller's line
# --------------------------------------------------------------------------- #
def test_data_warning_points_at_the_callers_line():
    from fastlstm.api import data
    from fastlstm.datasets import sequence

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sequence.load_data("addition.txt")  # directly, as the book's scripts
        data.sequence("addition", False, 10)  # through the run API, as fastlstm.train
    assert len(caught) == 2
    for w in caught:
        assert "addition.txt not found" in str(w.message)
        assert w.filename == __file__  # not sequence.py or api/data.py


def test_caller_stacklevel_skips_the_package_frames():
    from fastlstm.api import _util

    def failing(*args, path):
        raise OSError("disk full")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _util.try_plot(failing, "x.png") is None
    assert caught[0].filename == __file__ and "disk full" in str(caught[0].message)


# --------------------------------------------------------------------------- #
# interrupting the kernel
# --------------------------------------------------------------------------- #
def _interrupt_at(monkeypatch, k):
    real = engine_step.train_step
    calls = [0]

    def step(*args):
        loss = real(*args)
        calls[0] += 1
        if calls[0] == k:
            signal.raise_signal(signal.SIGINT)  # what "interrupt kernel" sends
        return loss

    monkeypatch.setattr(engine_step, "train_step", step)
    return real


def test_interrupt_kernel_says_which_call_resumes(date_file, kernel, monkeypatch, tmp_path):
    real_step = _interrupt_at(monkeypatch, 3)
    with pytest.raises(TrainingInterrupted) as info:
        run = fastlstm.train(  # noqa: F841  (never assigned: the cell is interrupted)
            "attention", data=date_file, epochs=2, seed=0, **TINY_SEQ, **QUIET
        )
    exc = info.value
    call = "run = fastlstm.train('attention', resume='runs/attention/last.ckpt.npz')"
    assert call in exc.message and "fastlstm.last_run()" in exc.message
    assert "--resume" not in exc.message  # no shell command in a notebook
    assert exc._render_traceback_() == [f"TrainingInterrupted: {exc.message}"]
    assert fastlstm.last_run() is exc.run and exc.run.interrupted
    monkeypatch.setattr(engine_step, "train_step", real_step)
    resumed = eval(call.split(" = ", 1)[1], {"fastlstm": fastlstm})  # the call works as printed
    assert len(resumed.history["accuracy"]) == 2 and not resumed.interrupted
    assert fastlstm.last_run() is resumed


def test_interrupt_outside_a_notebook_gives_the_shell_command(date_file, monkeypatch):
    _interrupt_at(monkeypatch, 3)
    with pytest.raises(TrainingInterrupted) as info:
        fastlstm.train("attention", data=date_file, epochs=2, seed=0, **TINY_SEQ, **QUIET)
    assert "continue with: fastlstm train attention --resume runs/attention/last.ckpt.npz" in (
        info.value.message
    )
    assert fastlstm.last_run() is info.value.run


def test_first_interrupt_says_how_to_quit_in_a_notebook(kernel, capsys):
    from fastlstm.api._util import Printer
    from fastlstm.engine import StopFlag

    flag = StopFlag(Printer(True))
    flag._handler(signal.SIGINT, None)
    err = capsys.readouterr().err
    assert flag.requested and "interrupt the kernel again to quit without saving" in err
    with pytest.raises(KeyboardInterrupt):
        flag._handler(signal.SIGINT, None)  # the second one quits at once


def test_interrupt_after_the_training_gives_the_evaluate_call(date_file, kernel, monkeypatch):
    """Interrupted while the results of a finished run are made: in a notebook the message
    gives the ``fastlstm.evaluate`` call, which runs as printed."""
    from fastlstm.api import session

    def interrupted(*args):
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(session, "write_plots", interrupted)
    with pytest.raises(TrainingInterrupted) as info:
        fastlstm.train("attention", data=date_file, epochs=1, seed=0, **TINY_SEQ, **QUIET)
    message = info.value.message
    call = "fastlstm.evaluate('runs/attention/best.npz')"
    assert call in message and "eval --checkpoint" not in message, message
    result = eval(call, {"fastlstm": fastlstm})
    assert result.metric == "accuracy" and 0 <= result.value <= 1
