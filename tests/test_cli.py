"""The ``fastlstm`` command: help, errors, tiny end-to-end trainings, resume, decoding.

Commands run in process through ``main([...])``; one test runs the command in
a subprocess.  Trainings use tiny synthetic corpora and data files written to
a temporary directory, so no data directory or network is needed (except for
the tests of the book's weights, which skip without ``FASTLSTM_DATA``).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastlstm import cli
from fastlstm import io as fio
from fastlstm.datasets.sequence import make_addition

ROOT = Path(__file__).resolve().parent.parent
TINY_LM = ["--hidden", "8", "--wordvec", "8", "--batch-size", "4", "--time-size", "10"]
TINY_SEQ = ["--hidden", "16", "--wordvec", "8", "--batch-size", "32", "--limit", "160"]


@pytest.fixture(autouse=True)
def _isolated(isolated_run):
    """Own cache, no data directory, one kernel thread, a temporary cwd."""


@pytest.fixture
def addition_file(tmp_path):
    path = tmp_path / "addition_small.txt"
    path.write_text("\n".join(make_addition(400, seed=1)) + "\n")
    return path


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("fastlstm: error: ")
    assert "Traceback" not in err


# --------------------------------------------------------------------------- #
# help and errors
# --------------------------------------------------------------------------- #
HELP_CASES = [
    [],
    ["train"],
    *[["train", m] for m in ("rnnlm", "better-rnnlm", "simple-rnnlm", "seq2seq", "peeky")],
    ["train", "attention"],
    ["generate"],
    ["eval"],
    ["translate"],
]


@pytest.mark.parametrize("words", HELP_CASES, ids=lambda w: " ".join(w) or "fastlstm")
def test_help(capsys, words):
    code, out, err = run(capsys, *words, "--help")
    assert code == 0 and err == ""
    assert out.startswith("usage: fastlstm")


def test_help_shows_the_book_defaults(capsys):
    _, out, _ = run(capsys, "train", "better-rnnlm", "--help")
    for text in ("(650)", "(0.25)", "(0.5)", "book: 40", "train_better_rnnlm.py"):
        assert text in out
    _, out, _ = run(capsys, "train", "attention", "--help")
    assert "(256)" in out and "book: 10" in out and "--limit" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "rnnlm", "--bogus"],
        ["train", "attention", "--epochs", "0"],
        ["train", "rnnlm", "--lr", "fast"],
        ["train", "rnnlm", "--threads", "0"],
        ["train", "attention", "--seed", "bookish"],
        ["train", "rnnlm", "--seed", "book"],  # the LM scripts have no book stream
        ["train", "lstm"],
        ["train"],
        ["generate"],
        ["generate", "--checkpoint", "x.npz", "--model", "attention"],
        [],
    ],
)
def test_bad_command_lines_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert_one_line_error(err)


def test_missing_checkpoint_exits_1(capsys, tmp_path):
    code, out, err = run(capsys, "generate", "--checkpoint", tmp_path / "nope.npz")
    assert code == 1
    assert_one_line_error(err)
    assert "nope.npz" in err and "not found" in err


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
@pytest.mark.parametrize("command", ["generate", "eval", "translate"])
def test_unreadable_checkpoint_exits_1(capsys, tmp_path, content, command):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    extra = ["1+2"] if command == "translate" else []
    code, out, err = run(capsys, command, "--checkpoint", path, *extra)
    assert code == 1
    assert_one_line_error(err)
    assert "bad.npz" in err


def test_book_pickle_needs_model(capsys, tmp_path):
    import pickle

    path = tmp_path / "Rnnlm.pkl"
    path.write_bytes(pickle.dumps([np.zeros((3, 2), np.float16)], protocol=2))
    code, _, err = run(capsys, "generate", "--checkpoint", path)
    assert code == 1
    assert_one_line_error(err)
    assert "--model" in err


def test_debug_shows_the_traceback(capsys, tmp_path):
    code, _, err = run(capsys, "generate", "--checkpoint", tmp_path / "nope.npz", "--debug")
    assert code == 1
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("fastlstm: error:")


def test_threads(capsys, tmp_path):
    import numba

    code, _, err = run(capsys, "eval", "--checkpoint", tmp_path / "x.npz", "--threads", "100000")
    assert code == 1 and "--threads" in err
    n = str(numba.config.NUMBA_NUM_THREADS)
    code, _, err = run(capsys, "eval", "--checkpoint", tmp_path / "x.npz", "--threads", n)
    assert code == 1 and "not found" in err  # accepted; the missing file is the error
    assert numba.get_num_threads() == 1  # restored (the fixture's setting)


def test_missing_data_dir_exits_1(capsys, tmp_path):
    code, _, err = run(capsys, "train", "rnnlm", "--data-dir", tmp_path / "nowhere")
    assert code == 1
    assert_one_line_error(err)
    assert "nowhere" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "train", "rnnlm", "--data-dir", tmp_path / "empty")
    assert code == 1 and "--data-dir" in err and "FASTLSTM_DATA" not in err, err
    assert f"{tmp_path / 'empty'} is an empty folder" in err


def test_a_text_file_given_as_the_data_folder_points_to_text(capsys, tmp_path):
    """``--data my.txt`` on a language model is argparse's short form of ``--data-dir``:
    the error says how a text of one's own is given."""
    text = tmp_path / "my.txt"
    text.write_text("a b c\n")
    code, _, err = run(capsys, "train", "rnnlm", "--data", text)
    assert code == 1
    assert_one_line_error(err)
    assert f"{text} (not a directory)" in err and "--text" in err, err
    code, _, err = run(capsys, "train", "rnnlm", "--data-dir", tmp_path / "nowhere")
    assert code == 1 and "--text" not in err, err  # a missing path: no hint


@pytest.mark.parametrize(
    "argv, help_of",
    [
        (["train", "attention", "--lr-decay", "0.5"], "fastlstm train attention --help"),
        (["eval", "--checkpoint", "x.npz", "--bogus"], "fastlstm eval --help"),
        (["translate", "--checkpoint", "x.npz", "1+2", "--temperature", "2"], "fastlstm translate"),
    ],
)
def test_an_unknown_option_points_to_the_help_of_its_command(capsys, argv, help_of):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "unrecognized arguments" in err and f"(see '{help_of}" in err, err


@pytest.mark.parametrize("option", ["--lr-decay", "--max-grad"])
def test_a_setting_that_can_be_off_says_so_when_refused(capsys, option):
    code, _, err = run(capsys, "train", "rnnlm", option, "-1")
    assert code == 2 and f"{option}: expected a positive number or 'none', got '-1'" in err, err


def test_console_script(tmp_path):
    exe = shutil.which("fastlstm")
    cmd = [exe] if exe else [sys.executable, "-m", "fastlstm.cli"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    bad = subprocess.run(
        [*cmd, "train", "rnnlm", "--bogus"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2
    assert_one_line_error(bad.stderr)
    missing = subprocess.run(
        [*cmd, "translate", "--checkpoint", str(tmp_path / "none.npz"), "1+2"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert missing.returncode == 1
    assert_one_line_error(missing.stderr)


def _count_words(text):
    """Words of generated text, counting each '.' ending a line as one <eos>."""
    n = 0
    for line in text.splitlines():
        if line.endswith("."):
            line, n = line[:-1], n + 1
        n += len(line.split())
    return n


# --------------------------------------------------------------------------- #
# language models
# --------------------------------------------------------------------------- #
def _params(path):
    return fio.load_checkpoint(path).params


def test_train_rnnlm_generate_and_eval(capsys, tiny_ptb, tmp_path):
    out_dir = tmp_path / "run"
    code, out, err = run(
        capsys, "train", "rnnlm", "--data-dir", tiny_ptb, "--epochs", "2", "--seed", "0",
        "--out", out_dir, "--no-progress", *TINY_LM,
    )  # fmt: skip
    assert code == 0, err
    for name in ("best.npz", "last.ckpt.npz", "perplexity.png", "val_perplexity.png"):
        assert (out_dir / name).is_file(), name
    summary = json.loads((out_dir / "summary.json").read_text())
    vocab_size = fio.read_params_meta(out_dir / "best.npz")["model_kwargs"]["vocab_size"]
    tokens = {w for f in (tiny_ptb / "ptb").iterdir() for w in f.read_text().split()}
    assert vocab_size == len(tokens) + 1  # and <eos>
    assert len(summary["val_perplexity"]) == 2
    assert 1 < summary["test_perplexity"] < 3 * vocab_size  # learned something, not diverged
    assert summary["best_val_perplexity"] == min(summary["val_perplexity"])
    assert "test perplexity" in out

    # eval of the best checkpoint gives the test perplexity reported by train
    code, out, err = run(
        capsys, "eval", "--checkpoint", out_dir / "best.npz", "--data-dir", tiny_ptb
    )
    assert code == 0, err
    assert out.strip() == f"test perplexity: {summary['test_perplexity']:.2f}"

    # generation: the start words, then --length words of the vocabulary
    code, out, err = run(
        capsys, "generate", "--checkpoint", out_dir / "best.npz", "--start", "the meaning",
        "--length", "30", "--seed", "1",
    )  # fmt: skip
    assert code == 0, err
    words = out.replace(".", " ").split()
    assert words[:2] == ["the", "meaning"]
    assert _count_words(out) == 2 + 30
    assert not {"N", "<unk>", "$"} & set(words)  # the book's skipped words
    code2, out2, _ = run(
        capsys, "generate", "--checkpoint", out_dir / "best.npz", "--start", "the meaning",
        "--length", "30", "--seed", "1",
    )  # fmt: skip
    assert out2 == out  # seeded

    code, _, err = run(capsys, "generate", "--checkpoint", out_dir / "best.npz", "--start", "zzz")
    assert code == 1 and "zzz" in err


def test_resume_continues_exactly(capsys, tiny_ptb, tmp_path):
    common = ["--data-dir", tiny_ptb, "--seed", "5", "--lr", "5", "--no-progress", *TINY_LM]
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(capsys, "train", "better-rnnlm", *common, "--epochs", "2", "--out", a)[0] == 0
    assert run(capsys, "train", "better-rnnlm", *common, "--epochs", "1", "--out", b)[0] == 0
    one = fio.load_checkpoint(b / "last.ckpt.npz")
    assert one.epoch == 1
    code, out, err = run(
        capsys, "train", "better-rnnlm", "--resume", b / "last.ckpt.npz", "--epochs", "2"
    )
    assert code == 0, err
    assert "resuming" in out
    straight, resumed = (
        fio.load_checkpoint(a / "last.ckpt.npz"),
        fio.load_checkpoint(b / "last.ckpt.npz"),
    )
    assert resumed.epoch == straight.epoch == 2
    assert resumed.extra["history"] == straight.extra["history"]
    for p, q in zip(straight.params, resumed.params):
        np.testing.assert_array_equal(p, q)
    # and the second epoch did change the parameters (the check above is not vacuous)
    assert not all(np.array_equal(p, q) for p, q in zip(one.params, resumed.params))


def test_resume_refuses_changes_and_best_files(capsys, tiny_ptb, tmp_path):
    out_dir = tmp_path / "r"
    common = ["--data-dir", tiny_ptb, "--seed", "0", "--no-progress", *TINY_LM]
    assert run(capsys, "train", "rnnlm", *common, "--epochs", "1", "--out", out_dir)[0] == 0
    code, _, err = run(
        capsys, "train", "rnnlm", "--resume", out_dir / "last.ckpt.npz", "--hidden", "16"
    )
    assert code == 1 and "--hidden" in err
    assert_one_line_error(err)
    code, _, err = run(capsys, "train", "rnnlm", "--resume", out_dir / "best.npz")
    assert code == 1 and "optimizer state" in err
    code, _, err = run(capsys, "train", "better-rnnlm", "--resume", out_dir / "last.ckpt.npz")
    assert code == 1 and "not of better-rnnlm" in err


def test_max_words_too_small(capsys, tiny_ptb):
    code, _, err = run(capsys, "train", "rnnlm", "--data-dir", tiny_ptb, "--max-words", "200")
    assert code == 1
    assert_one_line_error(err)
    assert "--max-words" in err


# --------------------------------------------------------------------------- #
# seq2seq models
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("command", ["attention", "attention-bi"])
def test_train_attention_then_translate(capsys, tmp_path, date_file, command, monkeypatch):
    from fastlstm.evaluation import decode_one
    from fastlstm.models import model_class

    out_dir = tmp_path / "att"
    code, out, err = run(
        capsys, "train", command, "--data", date_file, "--epochs", "1", "--seed", "0",
        "--out", out_dir, "--no-progress", *TINY_SEQ,
    )  # fmt: skip
    assert code == 0, err
    assert out.count("\nQ ") + out.startswith("Q ") == 3  # the default --show 3
    for name in ("best.npz", "last.ckpt.npz", "accuracy.png", "loss.png", "attention.png"):
        assert (out_dir / name).is_file(), name
    meta = fio.load_checkpoint(out_dir / "best.npz").extra
    assert meta["seq2seq"]["reverse"] is True  # the book's default for attention
    assert (meta["seq2seq"]["question_width"], meta["seq2seq"]["answer_width"]) == (29, 11)

    code, out, err = run(
        capsys, "translate", "--checkpoint", out_dir / "best.npz", "Mar 25, 2003", "1/2/99"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    answers = [line.split("  (confidence ")[0] for line in lines]
    for line in lines:  # each answer with how sure the model is
        assert re.fullmatch(r".*  \(confidence \d+\.\d%\)", line), line
    # the same as decoding with the model rebuilt from the file by the models' own loader
    from fastlstm.datasets.sequence import Vocab

    class_name = fio.load_checkpoint(out_dir / "best.npz").model_class
    assert (
        class_name
        == {"attention": "AttentionSeq2seq", "attention-bi": "AttentionBiSeq2seq"}[command]
    )
    model = model_class(class_name).from_checkpoint(out_dir / "best.npz")
    vocab = Vocab(meta["vocab"])
    for text, answer in zip(["Mar 25, 2003", "1/2/99"], answers):
        expected = decode_one(
            model, text, vocab, reverse=True, width=29, start_char="_", sample_size=10
        )
        assert answer == expected.rstrip()

    # questions from a file (any line ends, the last one missing) or standard input, after TEXT
    questions = tmp_path / "q.txt"
    questions.write_bytes(b"1/2/99\r\nMar 25, 2003")
    code, out, err = run(capsys, "translate", "--checkpoint", out_dir / "best.npz", "1/2/99",
                         "--file", questions)  # fmt: skip
    assert code == 0 and out.splitlines() == [lines[1], lines[1], lines[0]], err
    questions.write_text("Mar 25, 2003\n\n1/2/99\n", encoding="utf-16")
    monkeypatch.setattr("sys.stdin", io.StringIO("1/2/99\n"))
    code, out, err = run(capsys, "translate", "--checkpoint", out_dir / "best.npz", "--file",
                         questions, "--encoding", "utf-16")  # fmt: skip
    assert code == 1 and out.splitlines() == [lines[0], "", lines[1]]  # the blank line: no answer
    assert "'': the question is empty" in err
    code, out, err = run(capsys, "translate", "--checkpoint", out_dir / "best.npz", "--file", "-")
    assert code == 0 and out.splitlines() == [lines[1]], err
    for args, message in [([], "no questions: give them as TEXT"),
                          (["x", "--encoding", "latin-1"], "--encoding: only for a file"),
                          (["--file", questions], "are not utf-8 text")]:  # fmt: skip
        code, _, err = run(capsys, "translate", "--checkpoint", out_dir / "best.npz", *args)
        assert code == 1 and message in err, err

    code, _, err = run(capsys, "translate", "--checkpoint", out_dir / "best.npz", "Mar 25, 2003 ?")
    assert code == 1 and "'?'" in err
    code, out, err = run(capsys, "eval", "--checkpoint", out_dir / "best.npz", "--limit", "20")
    assert code == 0, err
    assert "test accuracy" in out and "(20 questions)" in out
    code, _, err = run(capsys, "generate", "--checkpoint", out_dir / "best.npz")
    assert code == 1 and f"holds a model '{command}'; this command needs one of: " in err, err


def test_target_accuracy_stops_early(capsys, tmp_path, addition_file, monkeypatch):
    import fastlstm.evaluation

    calls = []

    def perfect(model, x, t, vocab, **kwargs):
        calls.append(len(x))
        return 1.0

    monkeypatch.setattr(fastlstm.evaluation, "seq2seq_accuracy", perfect)
    out_dir = tmp_path / "s"
    code, out, err = run(
        capsys, "train", "seq2seq", "--data", addition_file, "--epochs", "3", "--seed", "0",
        "--target-accuracy", "0.999", "--out", out_dir, "--no-progress", *TINY_SEQ,
    )  # fmt: skip
    assert code == 0, err
    assert calls == [40]  # one evaluation, on the 10% test split
    assert "target accuracy 0.999 reached after epoch 1" in out
    assert fio.load_checkpoint(out_dir / "last.ckpt.npz").epoch == 1


def test_seq2seq_default_seed_replays_the_books_stream(capsys, tmp_path, addition_file):
    """Without --seed the weights and shuffles come from the book's stream (seed 1984)."""
    from fastlstm.datasets.sequence import book_random_state, load_data
    from fastlstm.models import PeekySeq2seq
    from fastlstm.optim import Adam
    from fastlstm.trainer import Trainer

    argv = ["--data", addition_file, "--no-progress", "--show", "0", *TINY_SEQ, "--epochs", "2"]
    code, out, err = run(capsys, "train", "peeky", *argv, "--out", tmp_path / "a")
    assert code == 0, err
    assert "the book's random stream" in out
    got = fio.load_checkpoint(tmp_path / "a" / "last.ckpt.npz")
    assert got.extra["config"]["seed"] == "book"
    code, _, err = run(capsys, "train", "peeky", *argv, "--seed", "book", "--out", tmp_path / "b")
    assert code == 0, err
    again = fio.load_checkpoint(tmp_path / "b" / "last.ckpt.npz")

    # the book's ch07 script, written with the API
    (x, t), (x_test, _), vocab = load_data(addition_file, return_vocab=True)
    rs = book_random_state(len(x) + len(x_test))
    model = PeekySeq2seq(len(vocab), 8, 16, seed=rs)
    trainer = Trainer(model, Adam(), rng=rs, progress=False)
    for _ in range(2):
        trainer.fit(x[:160, ::-1], t[:160], max_epoch=1, batch_size=32, max_grad=5.0)
    for p, q, r in zip(model.params, got.params, again.params):
        np.testing.assert_array_equal(q, p)
        np.testing.assert_array_equal(r, p)


@pytest.mark.parametrize("seed", ["3", "book"])
def test_seq2seq_resume_continues_exactly(capsys, tmp_path, addition_file, seed):
    common = ["--data", addition_file, "--seed", seed, "--no-progress", "--show", "0", *TINY_SEQ]
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(capsys, "train", "peeky", *common, "--epochs", "2", "--out", a)[0] == 0
    assert run(capsys, "train", "peeky", *common, "--epochs", "1", "--out", b)[0] == 0
    code, _, err = run(capsys, "train", "peeky", "--resume", b / "last.ckpt.npz", "--epochs", "2")
    assert code == 0, err
    straight, resumed = (
        fio.load_checkpoint(a / "last.ckpt.npz"),
        fio.load_checkpoint(b / "last.ckpt.npz"),
    )
    assert resumed.extra["history"] == straight.extra["history"]
    assert resumed.optimizer_state["iter"] == straight.optimizer_state["iter"] == 10
    for p, q in zip(straight.params, resumed.params):
        np.testing.assert_array_equal(p, q)


def test_seq2seq_errors(capsys, tmp_path, addition_file):
    code, _, err = run(capsys, "train", "seq2seq", "--data", tmp_path / "none.txt")
    assert code == 1 and "none.txt" in err
    assert_one_line_error(err)
    code, _, err = run(
        capsys, "train", "seq2seq", "--data", addition_file, "--limit", "50", "--epochs", "1",
        "--out", tmp_path / "e", "--no-progress",
    )  # fmt: skip
    assert code == 1 and "batch_size" in err
    assert_one_line_error(err)


# --------------------------------------------------------------------------- #
# the book's weights (need FASTLSTM_DATA)
# --------------------------------------------------------------------------- #
def test_generate_from_the_books_rnnlm(capsys, book_weights_dir, ptb_dir):
    code, out, err = run(
        capsys, "generate", "--checkpoint", book_weights_dir / "Rnnlm.pkl", "--model", "rnnlm",
        "--data-dir", ptb_dir.parent, "--length", "20", "--seed", "0",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("the meaning of life is")
    assert _count_words(out) == 5 + 20


def test_translate_with_the_books_attention_model(capsys, book_weights_dir, sequence_dir):
    code, out, err = run(
        capsys, "translate", "--checkpoint", book_weights_dir / "AttentionSeq2seq.pkl",
        "--model", "attention", "--data-dir", sequence_dir.parent,
        "Mar 25, 2003", "TUESDAY, SEPTEMBER 25, 1984",
    )  # fmt: skip
    assert code == 0, err
    answers = [line.split("  (confidence ")[0] for line in out.splitlines()]
    assert answers == ["2003-03-25", "1984-09-25"]
    assert err == ""  # date questions in the training formats, answered with confidence


def test_top_level_help_lists_every_model(capsys):
    _, out, _ = run(capsys, "--help")
    for name in cli.ALL_MODELS:
        assert f"  {name} " in out, name
    _, out, _ = run(capsys, "train", "peeky", "--help")
    assert "--overwrite" in out and "fastlstm.train('peeky'" in " ".join(out.split())


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_in_a_real_process(tmp_path, date_file, signame):
    """SIGINT or SIGTERM to a running ``fastlstm train``: exit 130, a checkpoint, the resume
    command, the lock released."""
    import signal
    import time

    out_dir = tmp_path / "sig"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "FASTLSTM_CACHE": str(tmp_path / "cache"),
    }
    cmd = [sys.executable, "-m", "fastlstm.cli", "train", "peeky", "--data", str(date_file),
           "--epochs", "100000", "--out", str(out_dir), "--show", "0", "--threads", "1",
           "--hidden", "16", "--wordvec", "8", "--batch-size", "8"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()  # printed once Ctrl-C is handled
    assert "output in" in line, line + proc.stderr.read()
    time.sleep(2.0)
    proc.send_signal(getattr(signal, signame))
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert "saved a resumable checkpoint" in stderr
    assert f"continue with: fastlstm train peeky --resume {out_dir / 'last.ckpt.npz'}" in stderr
    ckpt = fio.load_checkpoint(out_dir / "last.ckpt.npz")
    # None: stopped at the end of an epoch; else the iteration to resume at, 0 when the
    # signal came after an epoch's end and before the next one's first iteration
    position = ckpt.extra["position"]
    assert position is None or 0 <= position["iteration"] < 360 // 8, position
    assert (out_dir / "loss.png").is_file() and not (out_dir / ".fastlstm.lock").exists()


def test_sigterm_outside_training_is_an_interrupt(capsys):
    """Loading data or compiling kernels: SIGTERM unwinds (the run folder and helpers go)."""
    import os
    import signal

    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("SIGTERM is handled by the test runner")
    with pytest.raises(KeyboardInterrupt), cli._terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)  # it ended the process: no cleanup at all
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_an_interrupt_outside_the_training_loop_claims_nothing(monkeypatch, capsys):
    """Ctrl-C (or SIGTERM) after a run saved its files, while the curves are drawn say, must
    not report that nothing was saved."""
    import fastlstm.api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fastlstm.api, "train", interrupted)
    assert cli.main(["train", "seq2seq", "--epochs", "1"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "fastlstm: interrupted", err


def test_a_compiling_helper_ends_when_its_parent_is_gone():
    import subprocess
    import sys

    code = "from fastlstm._warmup import _exit_with; _exit_with(-1)"  # not its parent
    proc = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert proc.returncode == 1
