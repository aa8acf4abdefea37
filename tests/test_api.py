"""The run API (fastlstm.train, evaluate, translate, generate_text) and what runs keep.

Trainings use tiny corpora and data files in a temporary directory; Ctrl-C is
simulated by raising SIGINT in the process after a chosen training step.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastlstm
from fastlstm import cli
from fastlstm import io as fio
from fastlstm.api import RunError, TrainingInterrupted, session
from fastlstm.api.specs import ALL_MODELS, LOCK_FILE
from fastlstm.datasets.sequence import make_date
from fastlstm.engine import step as engine_step
from fastlstm.evaluation import decode_one
from tests._compare import assert_rows_alike
from tests._runs import write_tiny_ptb

ROOT = Path(__file__).resolve().parent.parent
TINY_SEQ = {"hidden": 16, "wordvec": 8, "batch_size": 32, "limit": 160}
TINY_LM = {"hidden": 8, "wordvec": 8, "batch_size": 4, "time_size": 10}
QUIET = {"progress": False, "verbose": False}


@pytest.fixture(autouse=True)
def _isolated(offline_run):
    """Own cache, no data directory, no network, one kernel thread, a temporary cwd."""


def interrupt_at(monkeypatch, k, signum=signal.SIGINT):
    """Send SIGINT (or ``signum``) to this process right after training step ``k`` (1-based)."""
    real = engine_step.train_step
    calls = [0]

    def step(*args):
        loss = real(*args)
        calls[0] += 1
        if calls[0] == k:
            signal.raise_signal(signum)
        return loss

    monkeypatch.setattr(engine_step, "train_step", step)
    return calls


def assert_same_params(a, b):
    pa, pb = fio.load_checkpoint(a).params, fio.load_checkpoint(b).params
    assert len(pa) == len(pb)
    for p, q in zip(pa, pb):
        np.testing.assert_array_equal(p, q)


# --------------------------------------------------------------------------- #
# the API
# --------------------------------------------------------------------------- #
def test_import_fastlstm_is_light_and_exports_the_api():
    code = (
        "import sys, fastlstm; assert 'numba' not in sys.modules, 'numba imported'; "
        "import fastlstm.api; assert fastlstm.train is fastlstm.api.train; "
        "from fastlstm import train, evaluate, translate, generate_text, Run; print('ok')"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def _train_flags(model):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["train"]
    p = next(a for a in sub._actions if a.dest == "model").choices[model]
    return {a.dest: a.default for a in p._actions if a.dest not in ("help",)}


@pytest.mark.parametrize("model", list(ALL_MODELS))
def test_train_takes_every_flag_with_the_same_default(model):
    params = inspect.signature(fastlstm.train).parameters
    flags = _train_flags(model)
    renamed = {"no_progress": "progress"}
    for dest, default in flags.items():
        if dest == "debug":
            continue
        name = renamed.get(dest, dest)
        assert name in params, f"--{dest.replace('_', '-')} has no keyword in train()"
        if dest == "no_progress":
            assert params[name].default is True and default is False
        elif default is not argparse_suppress():
            assert params[name].default == default, dest


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def test_train_rejects_settings_of_other_models():
    with pytest.raises(TypeError, match="time_size"):
        fastlstm.train("attention", time_size=5, **QUIET)
    with pytest.raises(ValueError, match="epochs"):
        fastlstm.train("attention", epochs=0, **QUIET)
    with pytest.raises(ValueError, match="unknown model"):
        fastlstm.train("lstm", **QUIET)


def test_api_train_plot_resume_evaluate_silently(capsys, tmp_path, date_file):
    out = tmp_path / "att"
    run = fastlstm.train(
        "attention", data=date_file, epochs=1, seed=0, out=out, **TINY_SEQ, **QUIET
    )
    assert capsys.readouterr() == ("", "")  # verbose=False, progress=False: nothing at all
    assert run.name == "attention" and not run.interrupted
    assert run.best_path == out / "best.npz" and run.last_path == out / "last.ckpt.npz"
    assert len(run.history["accuracy"]) == 1 and run.history["loss"]
    assert run.model.params[0].shape[0] == len(fio.load_checkpoint(run.best_path).extra["vocab"])
    for f in out.glob("*.png"):
        f.unlink()
    written = run.plot()
    assert set(written) == {"loss", "accuracy", "attention"}
    assert all(p.is_file() for p in written.values())

    more = run.resume(epochs=2, **QUIET)
    assert len(more.history["accuracy"]) == 2
    assert more.history["accuracy"][0] == run.history["accuracy"][0]
    straight = fastlstm.train(
        "attention", data=date_file, epochs=2, seed=0, out=tmp_path / "b", **TINY_SEQ, **QUIET
    )
    assert_same_params(straight.last_path, more.last_path)
    result = fastlstm.evaluate(more.best_path, verbose=False)
    assert result.metric == "accuracy" and result.size == 40
    assert result.value == pytest.approx(more.best)
    assert capsys.readouterr() == ("", "")


def test_verbose_prints_epochs(capsys, tmp_path, date_file):
    fastlstm.train(
        "peeky", data=date_file, epochs=1, out=tmp_path / "p", progress=False, **TINY_SEQ
    )
    out = capsys.readouterr().out
    assert "epoch   1/1" in out and "best accuracy" in out


# --------------------------------------------------------------------------- #
# runs keep what they made
# --------------------------------------------------------------------------- #
def test_a_second_run_never_replaces_the_first(capsys, tmp_path, date_file):
    out = tmp_path / "run"
    args = ["train", "peeky", "--data", date_file, "--epochs", "1", "--no-progress",
            "--out", out, *sum(([f"--{k.replace('_', '-')}", v] for k, v in TINY_SEQ.items()), [])]  # fmt: skip
    assert cli.main([str(a) for a in args]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    code = cli.main([str(a) for a in [*args, "--seed", "7"]])
    err = capsys.readouterr().err
    assert code == 1
    assert "already holds an earlier run" in err and "--overwrite" in err
    assert f"--resume {out / 'last.ckpt.npz'}" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # untouched
    with pytest.raises(RunError, match="earlier run"):
        fastlstm.train("peeky", data=date_file, epochs=1, out=out, **TINY_SEQ, **QUIET)
    # told to: replaced
    run = fastlstm.train(
        "peeky", data=date_file, epochs=1, seed=7, out=out, overwrite=True, **TINY_SEQ, **QUIET
    )
    assert run.config["seed"] == 7
    assert (out / "best.npz").read_bytes() != before["best.npz"]
    assert not (out / LOCK_FILE).exists()


def test_overwrite_leaves_nothing_of_the_old_run_and_resume_keeps_to_its_folder(
    tmp_path, date_file
):
    kw = {"data": date_file, "epochs": 1, **TINY_SEQ, **QUIET}
    old = fastlstm.train("attention", out=tmp_path / "x", **kw)
    assert (old.out / "attention.png").is_file()
    (old.out / "notes.txt").write_text("mine")
    fastlstm.train("peeky", out=old.out, overwrite=True, **kw)
    assert not (old.out / "attention.png").exists()  # not left beside the new run's files
    assert (old.out / "notes.txt").read_text() == "mine"  # not a run's file: kept
    other = fastlstm.train("peeky", out=tmp_path / "y", **kw)
    before = (other.out / "best.npz").read_bytes()
    with pytest.raises(RunError, match="earlier run"):  # resuming x into y's folder
        fastlstm.train("peeky", resume=old.out / "last.ckpt.npz", out=other.out, epochs=2, **QUIET)
    assert (other.out / "best.npz").read_bytes() == before


def test_overwrite_keeps_the_old_run_until_the_new_one_saves(tmp_path, date_file, monkeypatch):
    """Bad data, or Ctrl-C before the first checkpoint, leave the run to be replaced whole."""
    kw = {"data": date_file, "epochs": 1, **TINY_SEQ, **QUIET}
    old = fastlstm.train("peeky", out=tmp_path / "x", **kw)
    before = {p.name: p.read_bytes() for p in old.out.iterdir()}
    bad = tmp_path / "bad.txt"
    bad.write_text("not a data file\n")
    with pytest.raises(ValueError, match="bad.txt, line 1"):
        fastlstm.train("peeky", out=old.out, overwrite=True, **{**kw, "data": bad})
    assert {p.name: p.read_bytes() for p in old.out.iterdir()} == before
    from fastlstm import _warmup

    def ctrl_c(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_warmup, "warm_up", ctrl_c)  # before the first training step
    with pytest.raises(KeyboardInterrupt):
        fastlstm.train("peeky", out=old.out, overwrite=True, seed=5, **kw)
    assert {p.name: p.read_bytes() for p in old.out.iterdir()} == before
    monkeypatch.undo()
    with pytest.raises(TypeError, match="overwrite must be True or False, got 'False'"):
        fastlstm.train("peeky", out=old.out, overwrite="False", **kw)
    with pytest.raises(TypeError, match="progress must be True or False"):
        fastlstm.train("peeky", out=tmp_path / "y", **{**kw, "progress": "no"})
    assert {p.name: p.read_bytes() for p in old.out.iterdir()} == before


def test_resuming_into_another_folder_keeps_the_best_epoch(tmp_path, date_file, monkeypatch):
    kw = {"data": date_file, **TINY_SEQ, **QUIET}
    first = fastlstm.train("peeky", out=tmp_path / "a", epochs=1, seed=3, **kw)
    best = (first.out / "best.npz").read_bytes()
    from fastlstm.api import session as _session

    monkeypatch.setattr(_session.SeqSession, "evaluate_epoch", lambda self: -0.5)  # never better
    run = fastlstm.train("peeky", resume=first.last_path, out=tmp_path / "b", epochs=2, **QUIET)
    assert run.best_path == tmp_path / "b" / "best.npz"
    assert run.best_path.read_bytes() == best  # epoch 1's, carried over
    for p, q in zip(run.model.params, fio.load_checkpoint(first.best_path).params):
        np.testing.assert_array_equal(p, q)  # Run.model holds the best epoch's weights
    assert (first.out / "best.npz").read_bytes() == best


def test_resuming_through_a_link_with_overwrite_keeps_the_runs_best_epoch(
    tmp_path, date_file, monkeypatch
):
    """A checkpoint named through a symlink in another folder is still the run's own."""
    kw = {"data": date_file, **TINY_SEQ, **QUIET}
    first = fastlstm.train("peeky", out=tmp_path / "a", epochs=1, seed=3, **kw)
    best = first.best_path.read_bytes()
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "ckpt.npz").symlink_to(first.last_path)
    from fastlstm.api import session as _session

    monkeypatch.setattr(_session.SeqSession, "evaluate_epoch", lambda self: -0.5)  # never better
    run = fastlstm.train("peeky", resume=tmp_path / "link" / "ckpt.npz", out=first.out,
                         overwrite=True, epochs=2, **QUIET)  # fmt: skip
    assert run.best_path.read_bytes() == best  # it was deleted, and nothing replaced it


def test_resume_with_no_epochs_left_is_refused(tmp_path, date_file):
    run = fastlstm.train("peeky", data=date_file, out=tmp_path / "a", epochs=2, **TINY_SEQ, **QUIET)
    summary = (run.out / "summary.json").read_bytes()
    for epochs in (1, 2):
        with pytest.raises(RunError, match="already holds 2 epoch.s. of the %d asked" % epochs):
            run.resume(epochs=epochs, progress=False, verbose=False)
    assert (run.out / "summary.json").read_bytes() == summary


def test_unusable_files_and_paths_raise_the_documented_errors(tmp_path, date_file):
    junk = tmp_path / "junk.npz"
    np.savez(junk, a=np.zeros((3, 3)))
    for call in (
        lambda: fastlstm.load_model(junk),
        lambda: fastlstm.translate(junk, "1+1"),
        lambda: fastlstm.evaluate(junk, verbose=False),
        lambda: fastlstm.train("peeky", resume=junk, out=tmp_path / "r", **QUIET),
    ):
        with pytest.raises(RunError, match="junk.npz"):
            call()
    with pytest.raises(TypeError, match="out must be a path .str or os.PathLike., got int"):
        fastlstm.train("peeky", data=date_file, out=123, **QUIET)
    with pytest.raises(TypeError, match="checkpoint must be a path"):
        fastlstm.load_model(123)
    run = fastlstm.Run("peeky", None, {}, tmp_path, {}, None)  # a run is not its checkpoint
    with pytest.raises(TypeError, match="got Run: give run.best_path .* or run.last_path"):
        fastlstm.translate(run, "1+1")


def test_a_book_pkl_on_data_of_another_size_is_refused(tmp_path):
    from fastlstm.models import AttentionSeq2seq

    pkl = fio.write_book_pkl(AttentionSeq2seq(59, 16, 256, seed=0).params, tmp_path / "a.pkl")
    with (
        pytest.warns(UserWarning, match="addition.txt not found"),  # generated instead
        pytest.raises(RunError, match="the model has 59 characters, the data .* 13; they are"),
    ):
        fastlstm.evaluate(pkl, model="attention", data="addition", limit=50, verbose=False)


def test_a_folder_in_use_is_refused_at_once(tmp_path, date_file, monkeypatch):
    out = tmp_path / "busy"
    out.mkdir()
    (out / LOCK_FILE).write_text(f"{os.getppid()} {os.uname().nodename}\n")  # a live process

    from fastlstm.api import data

    def never(*a, **k):
        raise AssertionError("data loaded although the folder is in use")

    monkeypatch.setattr(data, "sequence", never)
    with pytest.raises(RunError, match=f"another run \\(process {os.getppid()}\\) is writing"):
        fastlstm.train("peeky", data=date_file, out=out, **QUIET)
    assert (out / LOCK_FILE).read_text().split()[0] == str(os.getppid())  # not taken


def test_a_stale_lock_is_taken_over(tmp_path, date_file, monkeypatch):
    out = tmp_path / "stale"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / LOCK_FILE).write_text(f"{dead.pid} {os.uname().nodename}\n")
    seen = {}
    real = engine_step.train_step

    def step(*args):
        seen.setdefault("lock", (out / LOCK_FILE).read_text().split()[0])
        return real(*args)

    monkeypatch.setattr(engine_step, "train_step", step)
    fastlstm.train("peeky", data=date_file, epochs=1, out=out, **TINY_SEQ, **QUIET)
    assert seen["lock"] == str(os.getpid())  # held by this run while training
    assert not (out / LOCK_FILE).exists() and (out / "best.npz").is_file()


def test_an_unwritable_folder_is_found_before_training(tmp_path, date_file, monkeypatch):
    from fastlstm.api import data, folder

    real_open = os.open

    def denied(path, *args, **kwargs):
        if str(path).endswith(LOCK_FILE):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    def never(*a, **k):
        raise AssertionError("data loaded before the folder was checked")

    monkeypatch.setattr(folder.os, "open", denied)
    monkeypatch.setattr(data, "sequence", never)
    with pytest.raises(RunError, match="cannot write into the output folder .*Permission denied"):
        fastlstm.train("peeky", data=date_file, out=tmp_path / "ro", **QUIET)


# --------------------------------------------------------------------------- #
# Ctrl-C
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("seed", [3, "book"])
def test_ctrl_c_in_the_first_epoch_saves_and_resumes_exactly(
    tmp_path, date_file, monkeypatch, seed
):
    kw = {"data": date_file, "seed": seed, **TINY_SEQ, **QUIET}
    straight = fastlstm.train("peeky", epochs=2, out=tmp_path / "a", **kw)
    calls = interrupt_at(monkeypatch, 3)  # 5 iterations per epoch
    with pytest.raises(TrainingInterrupted) as info:
        fastlstm.train("peeky", epochs=2, out=tmp_path / "b", **kw)
    assert calls[0] == 3  # stopped at once
    exc = info.value
    assert isinstance(exc, KeyboardInterrupt) and exc.saved and exc.run.interrupted
    assert "in epoch 1 after iteration 3" in exc.message
    assert f"--resume {tmp_path / 'b' / 'last.ckpt.npz'}" in exc.message
    ckpt = fio.load_checkpoint(tmp_path / "b" / "last.ckpt.npz")
    assert ckpt.epoch == 0 and ckpt.extra["position"]["iteration"] == 3
    assert (tmp_path / "b" / "loss.png").is_file()  # the curve so far
    assert not (tmp_path / "b" / LOCK_FILE).exists()
    monkeypatch.undo()
    resumed = exc.run.resume(**QUIET)
    assert resumed.history == straight.history
    assert_same_params(straight.last_path, resumed.last_path)
    assert_same_params(straight.best_path, resumed.best_path)


def test_ctrl_c_between_two_epochs_saves_and_resumes_exactly(tmp_path, date_file, monkeypatch):
    """Ctrl-C after epoch 1 was saved and before epoch 2's first step: a checkpoint at
    iteration 0 of epoch 2, which resumes to the bits of an unbroken run."""
    kw = {"data": date_file, "seed": 3, **TINY_SEQ, **QUIET}
    straight = fastlstm.train("peeky", epochs=3, out=tmp_path / "a", **kw)
    real = session._Session.on_epoch_begin

    def begin(self, epoch, iteration):
        real(self, epoch, iteration)
        if epoch == 1:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(session._Session, "on_epoch_begin", begin)
    with pytest.raises(TrainingInterrupted) as info:
        fastlstm.train("peeky", epochs=3, out=tmp_path / "b", **kw)
    exc = info.value
    assert exc.saved and "in epoch 2 after iteration 0" in exc.message, exc.message
    ckpt = fio.load_checkpoint(tmp_path / "b" / "last.ckpt.npz")
    assert ckpt.epoch == 1 and ckpt.extra["position"]["iteration"] == 0
    monkeypatch.undo()
    resumed = exc.run.resume(**QUIET)
    assert resumed.history == straight.history
    assert_same_params(straight.last_path, resumed.last_path)
    assert_same_params(straight.best_path, resumed.best_path)


def test_a_second_interrupt_while_the_curves_are_written_keeps_the_run(
    tmp_path, date_file, monkeypatch
):
    """The checkpoint is saved before the curves: interrupted again there, the run is kept."""
    kw = {"data": date_file, "seed": 3, **TINY_SEQ, **QUIET}
    earlier = fastlstm.train("peeky", epochs=1, out=tmp_path / "a", **kw)
    assert fastlstm.last_run() is earlier
    interrupt_at(monkeypatch, 3)

    def second_interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(session, "write_plots", second_interrupt)
    with pytest.raises(TrainingInterrupted) as info:
        fastlstm.train("peeky", epochs=2, out=tmp_path / "b", **kw)
    exc = info.value
    assert exc.saved and "the curves were not written: interrupted again" in exc.message
    assert fastlstm.last_run() is exc.run and exc.run.out == tmp_path / "b"
    assert (tmp_path / "b" / "last.ckpt.npz").is_file()


def test_an_interrupt_after_the_last_epoch_says_the_training_is_saved(
    tmp_path, date_file, monkeypatch
):
    """Ctrl-C while the plots and summary of a finished run are written: the message says
    the trained model is saved (not only "interrupted") and how to evaluate it."""
    kw = {"data": date_file, "seed": 3, **TINY_SEQ, **QUIET}

    def interrupted(*args):
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(session, "write_plots", interrupted)
    with pytest.raises(TrainingInterrupted) as info:
        fastlstm.train("peeky", epochs=2, out=tmp_path / "b", **kw)
    exc = info.value
    out = tmp_path / "b"
    assert exc.saved and "the training is complete and saved" in exc.message, exc.message
    assert str(out / "last.ckpt.npz") in exc.message and str(out / "best.npz") in exc.message
    assert f"fastlstm eval --checkpoint {out / 'best.npz'}" in exc.message
    assert fio.load_checkpoint(out / "last.ckpt.npz").epoch == 2
    assert fastlstm.last_run() is exc.run and len(exc.run.history["accuracy"]) == 2
    assert not (out / "summary.json").exists()


def test_an_interrupt_during_the_final_evaluation_via_the_cli(
    tmp_path, tiny_ptb, monkeypatch, capsys
):
    """A language model's run ends with the test perplexity (seconds on PTB): Ctrl-C there exits
    130 with what was saved, and the evaluation it suggests runs."""

    real = session.LMSession.perplexity

    def perplexity(self, corpus):
        if corpus is self.corpus_test:  # the final evaluation, after the training loop
            signal.raise_signal(signal.SIGINT)
        return real(self, corpus)

    monkeypatch.setattr(session.LMSession, "perplexity", perplexity)
    out = tmp_path / "r"
    flags = ["--data-dir", str(tiny_ptb), "--hidden", "8", "--wordvec", "8", "--batch-size", "4"]
    code = cli.main(["train", "rnnlm", "--epochs", "1", "--out", str(out), "--no-progress", *flags])
    err = capsys.readouterr().err
    assert code == 130 and "interrupted after the training" in err, err
    assert "the training is complete and saved" in err and (out / "best.npz").is_file()
    command = err.strip().splitlines()[-1].split("evaluate the best model with: ")[1]
    monkeypatch.undo()
    assert cli.main([*shlex.split(command)[1:], "--data-dir", str(tiny_ptb)]) == 0
    assert "perplexity" in capsys.readouterr().out


def test_sigterm_saves_releases_the_lock_and_resumes_exactly(tmp_path, date_file, monkeypatch):
    """SIGTERM (schedulers, ``docker stop``, ``timeout``) takes Ctrl-C's path."""
    kw = {"data": date_file, "seed": 3, **TINY_SEQ, **QUIET}
    straight = fastlstm.train("peeky", epochs=2, out=tmp_path / "a", **kw)
    seen = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        calls = interrupt_at(monkeypatch, 3, signal.SIGTERM)
        with pytest.raises(TrainingInterrupted) as info:
            fastlstm.train("peeky", epochs=2, out=tmp_path / "b", **kw)
        assert calls[0] == 3 and not seen  # stopped at once, by fastlstm's handler
        exc = info.value
        assert exc.saved and "in epoch 1 after iteration 3" in exc.message
        assert exc.run.best is None and repr(exc.run).endswith("best=None, interrupted)")
        assert f"--resume {tmp_path / 'b' / 'last.ckpt.npz'}" in exc.message
        assert not (tmp_path / "b" / LOCK_FILE).exists()
        signal.raise_signal(signal.SIGTERM)  # the previous handler is back
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, before)
    monkeypatch.undo()
    resumed = exc.run.resume(**QUIET)
    assert resumed.history == straight.history
    assert_same_params(straight.last_path, resumed.last_path)


def test_ctrl_c_language_model_mid_epoch_resumes_exactly(tmp_path, tiny_ptb, monkeypatch):
    kw = {"data_dir": tiny_ptb, "seed": 5, "lr": 5.0, **TINY_LM, **QUIET}
    straight = fastlstm.train("better-rnnlm", epochs=2, out=tmp_path / "a", **kw)
    interrupt_at(monkeypatch, 90)  # 62 iterations per epoch: in the second epoch
    with pytest.raises(TrainingInterrupted) as info:
        fastlstm.train("better-rnnlm", epochs=2, out=tmp_path / "b", **kw)
    assert "in epoch 2 after iteration 28" in info.value.message
    monkeypatch.undo()
    resumed = fastlstm.train(
        "better-rnnlm", resume=tmp_path / "b" / "last.ckpt.npz", data_dir=tiny_ptb, **QUIET
    )
    assert resumed.history == straight.history
    assert_same_params(straight.last_path, resumed.last_path)


def test_ctrl_c_says_when_nothing_could_be_saved(tmp_path, tiny_ptb, monkeypatch):
    monkeypatch.setattr(session, "_state_layers", lambda model: None)  # state unknown
    interrupt_at(monkeypatch, 5)
    with pytest.raises(TrainingInterrupted) as info:
        fastlstm.train("rnnlm", data_dir=tiny_ptb, epochs=1, out=tmp_path / "n", **TINY_LM, **QUIET)
    assert not info.value.saved and "nothing was saved" in info.value.message
    assert not (tmp_path / "n" / "last.ckpt.npz").exists()


def test_ctrl_c_with_nothing_saved_leaves_the_run_to_be_replaced(tmp_path, tiny_ptb, monkeypatch):
    kw = {"data_dir": tiny_ptb, "epochs": 1, **TINY_LM, **QUIET}
    old = fastlstm.train("rnnlm", out=tmp_path / "n", seed=1, **kw)
    before = {p.name: p.read_bytes() for p in old.out.iterdir()}
    monkeypatch.setattr(session, "_state_layers", lambda model: None)  # state unknown
    interrupt_at(monkeypatch, 5)
    with pytest.raises(TrainingInterrupted) as info:
        fastlstm.train("rnnlm", out=old.out, overwrite=True, seed=2, **kw)
    assert not info.value.saved and "the earlier run in" in info.value.message
    assert {p.name: p.read_bytes() for p in old.out.iterdir()} == before


def test_cli_ctrl_c_prints_the_resume_command_that_works(capsys, tmp_path, date_file, monkeypatch):
    tiny = sum(([f"--{k.replace('_', '-')}", str(v)] for k, v in TINY_SEQ.items()), [])
    args = ["train", "peeky", "--data", str(date_file), "--epochs", "2", "--seed", "1",
            "--no-progress", "--show", "0", *tiny]  # fmt: skip
    assert cli.main([*args, "--out", str(tmp_path / "a")]) == 0
    interrupt_at(monkeypatch, 7)
    capsys.readouterr()
    assert cli.main([*args, "--out", str(tmp_path / "b")]) == 130
    err = capsys.readouterr().err
    assert "saved a resumable checkpoint" in err
    command = re.search(r"continue with: (.*)", err).group(1)
    monkeypatch.undo()
    argv = shlex.split(command)
    assert argv[:3] == ["fastlstm", "train", "peeky"]
    assert cli.main(argv[1:] + ["--no-progress"]) == 0
    assert_same_params(tmp_path / "a" / "last.ckpt.npz", tmp_path / "b" / "last.ckpt.npz")


# --------------------------------------------------------------------------- #
# evaluate: the data a model was trained on
# --------------------------------------------------------------------------- #
def test_eval_of_a_model_trained_on_generated_dates_uses_them(capsys, tmp_path, monkeypatch):
    with pytest.warns(UserWarning, match="make_date"):
        run = fastlstm.train("attention", epochs=1, seed=0, out=tmp_path / "g", **TINY_SEQ, **QUIET)
    source = fio.load_checkpoint(run.best_path).extra["seq2seq"]["data_source"]
    assert source == {"kind": "generated", "data": "date", "generator": "make_date",
                      "n": 50000, "seed": 0}  # fmt: skip
    # the book's date.txt (here: other dates) appears in FASTLSTM_DATA afterwards
    other = tmp_path / "data" / "sequence"
    other.mkdir(parents=True)
    (other / "date.txt").write_text("\n".join(make_date(600, seed=5)) + "\n")
    monkeypatch.setenv("FASTLSTM_DATA", str(tmp_path / "data"))
    code = cli.main(["eval", "--checkpoint", str(run.best_path), "--limit", "40", "--show", "0"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "data: generated make_date(n=50000, seed=0), as in training" in out
    assert f"test accuracy: {run.best * 100:.3f}% (40 questions)" in out
    # --data chooses other data; characters numbered otherwise are refused, not mis-scored
    with pytest.raises(RunError, match="other characters than the model's"):
        fastlstm.evaluate(run.best_path, data=other / "date.txt", verbose=False)
    same = tmp_path / "same.txt"
    same.write_text("\n".join(make_date(50000, seed=0)) + "\n")
    result = fastlstm.evaluate(run.best_path, data=same, limit=40, verbose=False)
    assert result.size == 40 and result.value == run.best and str(same) in result.data


def test_eval_refuses_a_changed_training_file_and_says_what_to_do(tmp_path, date_file):
    run = fastlstm.train("peeky", data=date_file, epochs=1, out=tmp_path / "f", **TINY_SEQ, **QUIET)
    assert fastlstm.evaluate(run.best_path, verbose=False).size == 40
    date_file.write_text("\n".join(make_date(400, seed=2)) + "\n")
    with pytest.raises(RunError, match="content has changed.*--data"):
        fastlstm.evaluate(run.best_path, verbose=False)
    date_file.unlink()
    with pytest.raises(RunError, match="not found.*--data"):
        fastlstm.evaluate(run.best_path, verbose=False)


def test_eval_of_a_language_model_on_another_vocabulary_fails(capsys, tmp_path, tiny_ptb):
    run = fastlstm.train("rnnlm", data_dir=tiny_ptb, epochs=1, seed=0, out=tmp_path / "lm",
                         **TINY_LM, **QUIET)  # fmt: skip
    same = fastlstm.evaluate(run.best_path, data_dir=tiny_ptb, verbose=False)
    assert same.value == pytest.approx(run.summary["test_perplexity"])
    words = [f"v{i}" for i in range(30)] + "N <unk> $ the meaning of life is".split()
    other = write_tiny_ptb(tmp_path / "other", words, seed=3)
    code = cli.main(["eval", "--checkpoint", str(run.best_path), "--data-dir", str(other)])
    err = capsys.readouterr().err
    assert code == 1 and "another vocabulary than the model" in err
    assert "perplexity" not in capsys.readouterr().out


# --------------------------------------------------------------------------- #
# translate: how sure, and warnings
# --------------------------------------------------------------------------- #
def test_translate_reports_confidence_and_warns_on_unusual_questions(tmp_path, date_file, capsys):
    run = fastlstm.train("attention", data=date_file, epochs=1, seed=0, out=tmp_path / "t",
                         **TINY_SEQ, **QUIET)  # fmt: skip
    good, hello, empty, answer_like = fastlstm.translate(
        run.best_path, ["Mar 25, 2003", "hello", "", "1999-12-31"]
    )
    assert not empty.ok and empty.error == "the question is empty" and empty.answer == ""
    for t in (good, hello, answer_like):
        assert 0.0 < t.confidence <= 1.0
        assert t.confidence == pytest.approx(float(np.prod(t.char_probs)))  # the answer's
    assert not [w for w in good.warnings if "unlike" in w]
    assert any("unlike the training questions" in w for w in hello.warnings)
    assert any("'9-9-9'" in w for w in answer_like.warnings)
    # the probabilities are the model's: -mean(log p) is its teacher-forced loss on the answer
    from fastlstm.datasets.sequence import Vocab

    meta = fio.load_checkpoint(run.best_path).extra
    vocab = Vocab(meta["vocab"])
    answer = good.answer.ljust(10)
    xs = np.array([[vocab.char_to_id[c] for c in "Mar 25, 2003".ljust(29)][::-1]], np.int32)
    ts = np.array([[vocab.char_to_id[c] for c in "_" + answer]], np.int32)
    loss = run.model.forward(xs, ts)
    assert -np.mean(np.log(good.char_probs)) == pytest.approx(float(loss), rel=1e-4)
    # many questions are decoded in batches: each gets the answer it gets alone, and the same
    # probabilities (bit for bit where the BLAS rounds rows alike, else to float rounding)
    lines = date_file.read_text().splitlines()[:300]
    questions = [line.split("_")[0].rstrip() for line in lines] + ["", "Mar 25, 2003 ?", "x" * 30]
    together = fastlstm.translate(run.best_path, questions)  # two batches and errors
    for q, t in zip(questions, together, strict=True):
        (alone,) = fastlstm.translate(run.best_path, q)
        assert (t.question, t.answer, t.error, t.warnings) == (q, alone.answer, alone.error,
                                                               alone.warnings)  # fmt: skip
        assert_rows_alike(t.char_probs, alone.char_probs, q, atol=0)
        assert_rows_alike(t.confidence, alone.confidence, q, atol=0)
        if t.ok:  # the answer of the book's evaluation loop, one question per call
            want = decode_one(run.model, q, vocab, reverse=True, width=29, sample_size=10)
            assert t.answer == want.rstrip()
    assert [t.ok for t in together[-3:]] == [False, False, False]
    # the command line: answers with confidence on stdout, warnings on stderr
    code = cli.main(["translate", "--checkpoint", str(run.best_path), "Mar 25, 2003", "hello"])
    out, err = capsys.readouterr()
    assert code == 0
    assert re.fullmatch(r".*  \(confidence \d+\.\d%\)\n.*  \(confidence \d+\.\d%\)\n", out)
    assert "warning: 'hello' is unlike the training questions" in err


# --------------------------------------------------------------------------- #
# help, README, sizes
# --------------------------------------------------------------------------- #
def test_help_and_readme_list_every_model(capsys):
    cli.main(["--help"])
    top = capsys.readouterr().out
    cli.main(["train", "--help"])
    train_help = capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    for name in ALL_MODELS:
        assert re.search(rf"\b{re.escape(name)}\b(?!-)", top), name
        assert re.search(rf"\b{re.escape(name)}\b(?!-)", train_help), name
        assert f"train {name}" in readme, name


def _functions(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            yield node.name, node.end_lineno - start + 1


def test_the_command_line_is_a_thin_shell():
    cli_path = ROOT / "src" / "fastlstm" / "cli.py"
    assert len(cli_path.read_text().splitlines()) <= 600
    text = cli_path.read_text()
    assert (
        "def sample_words" not in text and "Trainer" not in text and "save_checkpoint" not in text
    )
    for path in [cli_path, *(ROOT / "src" / "fastlstm" / "api").glob("*.py")]:
        for name, n in _functions(path):
            assert n <= 100, f"{path.name}: {name} has {n} lines"


# --------------------------------------------------------------------------- #
# one sampler
# --------------------------------------------------------------------------- #
def test_one_sampler_for_every_language_model():
    from fastlstm.models import Rnnlm, SimpleRnnlm
    from fastlstm.models.sampling import _generate_by_predict, generate_words

    model = Rnnlm(40, 8, 12, seed=0, dtype=np.float64)
    start, skip = [3, 5, 7], [0, 1]
    fused = generate_words(model, start, 30, skip_ids=skip, rng=np.random.default_rng(4))
    model.reset_state()
    options = {"rng": np.random.default_rng(4), "temperature": 1.0, "top_k": None, "greedy": False}
    generic = _generate_by_predict(model, start, 30, skip, options)
    assert fused == generic  # the same rule, the same uniforms: the same words
    assert len(fused) == 30 and not set(fused) & set(skip)

    simple = SimpleRnnlm(40, 8, 12, seed=0)
    a = generate_words(simple, start, 25, skip_ids=skip, rng=np.random.default_rng(1))
    b = generate_words(simple, start, 25, skip_ids=skip, rng=np.random.default_rng(1))
    assert a == b and len(a) == 25 and not set(a) & set(skip)
    assert generate_words(simple, start, 5, greedy=True) == generate_words(
        simple, start, 5, top_k=1, rng=0
    )


# --------------------------------------------------------------------------- #
# progress bars
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("where", ["terminal", "kernel", "kernel without ipywidgets"])
@pytest.mark.parametrize("progress", [True, False])
def test_progress_bars_in_a_terminal_and_in_a_notebook(monkeypatch, where, progress):
    import tqdm
    import tqdm.notebook

    from fastlstm import _notebook

    made = []

    def bar(kind):
        class Bar:
            def __init__(self, iterable=None, **kwargs):
                made.append((kind, kwargs))

        return Bar

    monkeypatch.setattr(tqdm, "tqdm", bar("text"))
    monkeypatch.setattr(tqdm.notebook, "tqdm", bar("widget"))
    monkeypatch.setattr(_notebook, "in_kernel", lambda: where != "terminal")
    monkeypatch.setattr(_notebook, "widgets_available", lambda: where == "kernel")
    _notebook.progress_bar(total=10, initial=0, desc="train", progress=progress)
    kind, kwargs = made[0]
    disable = kwargs["disable"]
    assert kind == ("widget" if where == "kernel" else "text")  # no "IProgress not found"
    if not progress:
        assert disable is True
    elif where.startswith("kernel"):
        assert disable is False  # a notebook's output is no terminal: shown anyway
    else:
        assert disable is None  # shown in a terminal, hidden when piped


# --------------------------------------------------------------------------- #
# saved settings are checked as given ones
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "key, value, match",
    [
        ("time_size", -1, r"time_size must be a positive integer, got -1"),
        ("batch_size", 0, r"batch_size must be a positive integer, got 0"),
        ("lr", "fast", r"lr must be a positive number, got 'fast'"),
        ("epochs", None, r"epochs must be a positive integer, got None"),
    ],
)
def test_resume_refuses_saved_settings_out_of_range(tmp_path, date_file, key, value, match):
    """A checkpoint whose saved settings say ``time_size: -1`` (or ``batch_size: 0``) is
    refused, naming the file, before anything is trained or written."""
    kw = {"data": date_file, "seed": 3, **TINY_SEQ, **QUIET}
    if key == "time_size":
        run = fastlstm.train("rnnlm", epochs=1, out=tmp_path / "a", **_tiny_lm_kw(tmp_path))
    else:
        run = fastlstm.train("peeky", epochs=1, out=tmp_path / "a", **kw)
    ckpt = fio.load_checkpoint(run.last_path)
    extra = dict(ckpt.extra)
    extra["config"] = {**extra["config"], key: value}
    edited = tmp_path / "edited" / "last.ckpt.npz"
    edited.parent.mkdir()
    fio.save_checkpoint(
        edited, params=ckpt.params, optimizer_state=ckpt.optimizer_state, epoch=ckpt.epoch,
        rng_state=ckpt.rng_state, extra=extra, model_class=ckpt.model_class,
        model_kwargs=ckpt.model_kwargs,
    )  # fmt: skip
    before = sorted(p.name for p in edited.parent.iterdir())
    extra_kw = {"data_dir": tmp_path / "ptb"} if key == "time_size" else {}
    with pytest.raises(RunError, match=re.escape(str(edited)) + r".*not valid.*" + match):
        fastlstm.train(run.name, resume=edited, epochs=3, **QUIET, **extra_kw)
    assert sorted(p.name for p in edited.parent.iterdir()) == before


def _tiny_lm_kw(tmp_path):
    write_tiny_ptb(tmp_path / "ptb")
    return {"data_dir": tmp_path / "ptb", "seed": 5, **TINY_LM, **QUIET}


# --------------------------------------------------------------------------- #
# data refused before training; a failed run leaves no folder behind
# --------------------------------------------------------------------------- #
def test_data_without_test_questions_is_refused_before_training(tmp_path, monkeypatch):
    """Nine lines leave no test question: refused at once, not after an epoch."""
    path = tmp_path / "nine.txt"
    path.write_text("\n".join(make_date(9, seed=1)) + "\n")
    calls = interrupt_at(monkeypatch, 10**9)  # counts training steps
    out = tmp_path / "new" / "run"
    with pytest.raises(RunError, match=rf"{path}: 9 line\(s\) leave no test questions"):
        fastlstm.train("peeky", data=path, epochs=1, out=out, batch_size=2, **QUIET)
    assert calls[0] == 0
    assert not (tmp_path / "new").exists()  # the folders it created are gone


def test_failed_train_command_leaves_no_empty_output_folder(tmp_path, capsys):
    path = tmp_path / "nine.txt"
    path.write_text("\n".join(make_date(9, seed=1)) + "\n")
    out = tmp_path / "runs" / "x"
    code = cli.main(["train", "peeky", "--data", str(path), "--out", str(out), "--no-progress"])
    assert code == 1 and "error" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    kept = tmp_path / "kept"  # a folder that existed before is left as it was
    kept.mkdir()
    assert cli.main(["train", "peeky", "--data", str(path), "--out", str(kept), "--no-progress"])
    assert kept.is_dir() and not any(kept.iterdir())


def test_flags_of_evaluate_and_translate_must_be_bools(tmp_path, date_file):
    run = fastlstm.train("peeky", data=date_file, out=tmp_path / "a", epochs=1, **TINY_SEQ, **QUIET)
    with pytest.raises(TypeError, match="reverse must be True or False, got 'False'"):
        fastlstm.evaluate(run.best_path, reverse="False", verbose=False)
    with pytest.raises(TypeError, match="verbose must be True or False, got 0"):
        fastlstm.evaluate(run.best_path, verbose=0)
    with pytest.raises(TypeError, match="reverse must be True or False, got 'no'"):
        fastlstm.translate(run.best_path, "Mar 25, 2003", reverse="no")


def test_a_ptb_corpus_too_small_to_evaluate_says_so(tmp_path, tiny_ptb, capsys):
    run = fastlstm.train(
        "rnnlm", data_dir=tiny_ptb, out=tmp_path / "n", epochs=1, **TINY_LM, **QUIET
    )
    with pytest.raises(ValueError, match=r"too few to evaluate \(at least batch_size \* time_size"):
        fastlstm.evaluate(run.best_path, data_dir=tiny_ptb, max_words=100, verbose=False)


def test_curves_are_drawn_at_the_iterations_their_points_were_recorded(tmp_path, date_file):
    from fastlstm.api.plots import record_iterations

    assert record_iterations(4, 5).tolist() == [1, 6, 11, 16]  # one point per short epoch
    assert record_iterations(5, 45).tolist() == [1, 21, 41, 46, 66]
    run = fastlstm.train("peeky", data=date_file, out=tmp_path / "a", epochs=2, **TINY_SEQ, **QUIET)
    n = run.iterations_per_epoch  # known to the Run, for Run.plot()
    assert isinstance(n, int) and n > 0
    per_epoch = -(-n // 20)
    assert len(run.history["loss"]) == 2 * per_epoch
    assert record_iterations(len(run.history["loss"]), n)[-1] == n + 20 * (per_epoch - 1) + 1


# the book's perplexity is np.exp, which warns as it overflows to inf (the run then ends)
@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")
def test_a_diverging_run_says_so(tmp_path, tiny_ptb):
    """Which sign of divergence comes first depends on the CPU's rounding: scores that overflow
    during the epoch (seen on an AMD EPYC) or weights near 1e30 whose validation perplexity
    overflows (seen on an Intel Xeon)."""
    with pytest.raises(
        RunError,
        match=r"training diverged in epoch 1 \((the scores .* NaN or inf|the validation "
        r"perplexity is inf)\): lower the learning rate",
    ):
        fastlstm.train("rnnlm", data_dir=tiny_ptb, out=tmp_path / "d", epochs=1, lr=1e30,
                       max_grad=0, **TINY_LM, **QUIET)  # fmt: skip
    assert not (tmp_path / "d" / "best.npz").exists()  # nothing of the epoch is saved


def test_scores_that_turn_nan_during_training_end_the_run_as_diverged(
    tmp_path, tiny_ptb, monkeypatch
):
    real = engine_step.train_step
    calls = [0]

    def step(model, *args):
        loss = real(model, *args)
        calls[0] += 1
        if calls[0] == 2:  # the output bias goes NaN, as an overflowing update leaves it
            model.params[-1][0] = np.nan
        return loss

    monkeypatch.setattr(engine_step, "train_step", step)
    with pytest.raises(
        RunError, match=r"training diverged in epoch 1 \(the scores .* NaN or inf\)"
    ):
        fastlstm.train("rnnlm", data_dir=tiny_ptb, out=tmp_path / "d", epochs=1, **TINY_LM,
                       **QUIET)  # fmt: skip
    assert calls[0] == 2  # the third iteration's forward found it


def test_a_validation_perplexity_past_float64_stops_the_run_as_diverged(
    tmp_path, tiny_ptb, monkeypatch
):
    """A mean loss above 709 gives perplexity inf: a diverged run, not a finished one."""
    kw = {"data_dir": tiny_ptb, "seed": 5, **TINY_LM, **QUIET}
    monkeypatch.setattr(session.LMSession, "evaluate_epoch", lambda self: float("inf"))
    with pytest.raises(RunError, match=r"diverged in epoch 1 \(the validation perplexity is inf"):
        fastlstm.train("rnnlm", epochs=2, out=tmp_path / "r", **kw)
    assert not (tmp_path / "r" / "best.npz").exists()


def test_summary_json_is_strict_json(tmp_path, tiny_ptb):
    import json

    from fastlstm.api._util import write_json

    run = fastlstm.train("rnnlm", epochs=1, out=tmp_path / "r", data_dir=tiny_ptb, **TINY_LM,
                         **QUIET)  # fmt: skip
    run.summary["val_perplexity"] = [float("inf"), float("nan"), 2.0]
    write_json(tmp_path / "s.json", run.summary)
    text = (tmp_path / "s.json").read_text()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c))["val_perplexity"] == [
        None, None, 2.0,
    ]  # fmt: skip


@pytest.mark.parametrize("seed", [5, "book"])
def test_training_leaves_numpys_global_random_state_alone(tmp_path, date_file, seed):
    """The book's load_data seeds np.random with 1984; a run draws from streams of its own."""
    np.random.seed(123)  # noqa: NPY002  (the caller's own global stream)
    expected = np.random.random(3)  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    fastlstm.train("peeky", data=date_file, seed=seed, epochs=1, out=tmp_path / "r",
                   **TINY_SEQ, **QUIET)  # fmt: skip
    np.testing.assert_array_equal(np.random.random(3), expected)  # noqa: NPY002


def test_a_setting_changed_on_resume_is_named_in_both_spellings(tmp_path, date_file):
    kw = {"data": date_file, "seed": 3, **TINY_SEQ, **QUIET}
    run = fastlstm.train("peeky", epochs=1, out=tmp_path / "r", **kw)
    with pytest.raises(RunError, match=r"hidden=32 \(--hidden\) differs from the resumed .* 16"):
        fastlstm.train("peeky", resume=run.last_path, epochs=2, hidden=32, **QUIET)


def test_resume_refuses_ptb_files_changed_with_the_same_vocabulary(tmp_path, tiny_ptb):
    kw = {"data_dir": tiny_ptb, "seed": 5, **TINY_LM, **QUIET}
    run = fastlstm.train("rnnlm", epochs=1, out=tmp_path / "r", **kw)
    valid = tiny_ptb / "ptb" / "ptb.valid.txt"
    lines = valid.read_text().splitlines()
    valid.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")  # the same words
    with pytest.raises(RunError, match="the PTB valid split: changed since"):
        fastlstm.train("rnnlm", resume=run.last_path, epochs=2, data_dir=tiny_ptb, **QUIET)


@pytest.mark.parametrize("value, match", [(np.inf, "holds NaN or inf"), (np.nan, "holds NaN or inf"),
                                          (None, "is int64, not floating point")])  # fmt: skip
def test_a_checkpoint_with_parameters_that_are_no_numbers_is_refused_by_name(
    tmp_path, date_file, value, match
):
    """evaluate scored a model with an infinite bias (generate and translate refused it)."""
    run = fastlstm.train("peeky", data=date_file, epochs=1, out=tmp_path / "r", **TINY_SEQ,
                         **QUIET)  # fmt: skip
    ck = fio.load_checkpoint(run.best_path)
    params = [p.copy() for p in ck.params]
    if value is None:
        params[3] = params[3].astype(np.int64)
    else:
        params[3][0] = value
    bad = tmp_path / "bad.npz"
    fio.save_checkpoint(bad, params=params, epoch=ck.epoch, extra=ck.extra,
                        model_class=ck.model_class, model_kwargs=ck.model_kwargs)  # fmt: skip
    with pytest.raises(RunError, match=f"bad.npz: parameter 3 .*{match}"):
        fastlstm.evaluate(bad, verbose=False)


@pytest.mark.parametrize(
    "epoch, position",
    [(1, {"iteration": 10**9}), (1, {"iteration": -50}), (-3, None), (1, {"iteration": "3"})],
)
def test_resume_refuses_a_position_no_run_writes(tmp_path, date_file, epoch, position):
    """Such positions skipped an epoch, trained 50 extra batches or 4 epochs instead of 1."""
    run = fastlstm.train("peeky", data=date_file, seed=3, epochs=1, out=tmp_path / "a",
                         **TINY_SEQ, **QUIET)  # fmt: skip
    ckpt = fio.load_checkpoint(run.last_path)
    extra = {**ckpt.extra, "position": position}
    edited = tmp_path / "edited" / "last.ckpt.npz"
    edited.parent.mkdir()
    fio.save_checkpoint(
        edited, params=ckpt.params, optimizer_state=ckpt.optimizer_state, epoch=epoch,
        rng_state=ckpt.rng_state, extra=extra, model_class=ckpt.model_class,
        model_kwargs=ckpt.model_kwargs,
    )  # fmt: skip
    with pytest.raises(RunError, match="the saved position .* is not one of this training's"):
        fastlstm.train("peeky", resume=edited, epochs=3, **QUIET)


def test_question_shapes_are_the_shapes_of_the_rows():
    """``question_shapes`` (marks per vocabulary entry, runs collapsed per row) gives the
    distinct ``question_shape`` of each row's text, reversed or not, and None past
    ``MAX_SHAPES``: entries of several characters, trailing blanks and non-ASCII digits too."""
    import types

    from fastlstm.api import data

    assert data.question_shape("Mar 25, 2003  ") == "a 9, 9"
    assert data.question_shape("٣٣ab²x 9a") == "9a9a 9a"
    chars = list("ab9Z0 ,-_²٣é.") + ["ab 12", "  ", "9a", "x "]
    vocab = types.SimpleNamespace(chars=chars)
    rng = np.random.default_rng(0)
    x = rng.integers(0, len(chars), size=(60, 9))
    for reverse in (False, True):
        rows = x[:, ::-1] if reverse else x
        want = sorted({data.question_shape("".join(chars[i] for i in row)) for row in rows})
        assert data.question_shapes(x, vocab, reverse) == want
    many = rng.integers(0, len(chars), size=(2 * data.MAX_SHAPES + 50, 12))
    assert data.question_shapes(many, vocab, False) is None
