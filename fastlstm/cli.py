"""The ``fastlstm`` command: train, evaluate and use the book's models from a shell.

Subcommands::

    fastlstm train rnnlm|better-rnnlm|simple-rnnlm [options]   # PTB language models (ch05, ch06)
    fastlstm train seq2seq|peeky|attention [options]          # addition / date (ch07, ch08)
    fastlstm generate --checkpoint PATH [--start TEXT] ...    # text from a language model
    fastlstm eval --checkpoint PATH                            # test perplexity / accuracy
    fastlstm translate --checkpoint PATH "Mar 25, 2003"        # decode questions

Defaults are the hyperparameters of the book's scripts.  ``train`` writes into
its output directory (``runs/<model>`` by default):

``best.npz``
    parameters of the best epoch (validation perplexity or accuracy), with the
    model's class, constructor arguments and vocabulary in the metadata, so
    ``generate``, ``eval`` and ``translate`` need nothing else;
``last.ckpt.npz``
    the state after the last epoch (parameters, optimizer, epoch, random
    generators, history); ``--resume`` continues from it exactly;
``*.png``, ``summary.json``
    curves (and the attention map) and the final numbers.

Errors are reported on one line, ``fastlstm: error: ...``, with exit status 2
for bad command lines and 1 for failures while running; ``--debug`` shows the
traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import fastlstm

__all__ = ["main", "build_parser", "sample_words"]

PROG = "fastlstm"

# --------------------------------------------------------------------------- #
# models and their book defaults
# --------------------------------------------------------------------------- #
#: language models: class name and the hyperparameters of the book's script
LM_MODELS: dict[str, dict[str, Any]] = {
    "simple-rnnlm": {  # ch05/train.py
        "class": "SimpleRnnlm",
        "script": "ch05/train.py",
        "batch_size": 10,
        "wordvec": 100,
        "hidden": 100,
        "time_size": 5,
        "lr": 0.1,
        "epochs": 100,
        "max_grad": 0.0,
        "lr_decay": 0.0,
        "max_words": 1000,
    },
    "rnnlm": {  # ch06/train_rnnlm.py
        "class": "Rnnlm",
        "script": "ch06/train_rnnlm.py",
        "batch_size": 20,
        "wordvec": 100,
        "hidden": 100,
        "time_size": 35,
        "lr": 20.0,
        "epochs": 4,
        "max_grad": 0.25,
        "lr_decay": 0.0,
        "max_words": 0,
    },
    "better-rnnlm": {  # ch06/train_better_rnnlm.py
        "class": "BetterRnnlm",
        "script": "ch06/train_better_rnnlm.py",
        "batch_size": 20,
        "wordvec": 650,
        "hidden": 650,
        "time_size": 35,
        "lr": 20.0,
        "epochs": 40,
        "max_grad": 0.25,
        "lr_decay": 4.0,
        "max_words": 0,
        "dropout": 0.5,
    },
}

#: seq2seq models: class name and the hyperparameters of the book's script
SEQ_MODELS: dict[str, dict[str, Any]] = {
    "seq2seq": {  # ch07/train_seq2seq.py
        "class": "Seq2seq",
        "script": "ch07/train_seq2seq.py",
        "seed": "book",
        "data": "addition",
        "reverse": False,
        "batch_size": 128,
        "wordvec": 16,
        "hidden": 128,
        "epochs": 25,
        "max_grad": 5.0,
        "lr": 0.001,
    },
    "peeky": {  # ch07/train_seq2seq.py with PeekySeq2seq and is_reverse = True
        "class": "PeekySeq2seq",
        "script": "ch07/train_seq2seq.py (PeekySeq2seq, reversed input)",
        "seed": "book",
        "data": "addition",
        "reverse": True,
        "batch_size": 128,
        "wordvec": 16,
        "hidden": 128,
        "epochs": 25,
        "max_grad": 5.0,
        "lr": 0.001,
    },
    "attention": {  # ch08/train.py
        "class": "AttentionSeq2seq",
        "script": "ch08/train.py",
        "seed": "book",
        "data": "date",
        "reverse": True,
        "batch_size": 128,
        "wordvec": 16,
        "hidden": 256,
        "epochs": 10,
        "max_grad": 5.0,
        "lr": 0.001,
    },
}

# not in the book: ch08/train.py with the bidirectional encoder its section 8.4 suggests
SEQ_MODELS["attention-bi"] = {
    **{k: v for k, v in SEQ_MODELS["attention"].items() if k != "seed"},
    "class": "AttentionBiSeq2seq",
    "script": "ch08/train.py with a bidirectional encoder",
}

_ALL_MODELS = {**LM_MODELS, **SEQ_MODELS}
_CLASS_TO_MODEL = {spec["class"]: name for name, spec in _ALL_MODELS.items()}
_CLASS_TO_MODEL.update({"RnnlmGen": "rnnlm", "BetterRnnlmGen": "better-rnnlm"})
_BOOK_DATA = {"addition": "addition.txt", "date": "date.txt"}

# settings that may differ from the checkpoint when resuming (the rest may not)
_RESUME_MAY_CHANGE = {"epochs", "target_accuracy", "show"}

EVAL_BATCH_SIZE = 10  # eval_perplexity as the book calls it
EVAL_TIME_SIZE = 35
EVAL_INTERVAL = 20
BEST_FILE = "best.npz"
LAST_FILE = "last.ckpt.npz"


def _save_epoch(out, model, optimizer, epoch, improved, meta, model_class, kwargs, rng_state=None):
    """Write ``last.ckpt.npz`` (resumable) and, when the epoch improved, ``best.npz``; atomically."""
    from fastlstm import io as fio

    if improved:
        fio.save_checkpoint(
            out / BEST_FILE,
            params=model.params,
            epoch=epoch + 1,
            extra=meta,
            model_class=model_class,
            model_kwargs=kwargs,
        )
    fio.save_checkpoint(
        out / LAST_FILE,
        params=model.params,
        optimizer_state=optimizer.state_dict(),
        epoch=epoch + 1,
        rng_state=rng_state,
        extra=meta,
        model_class=model_class,
        model_kwargs=kwargs,
    )


CLI_FORMAT = 1


class CLIError(Exception):
    """A failure to report as one line (exit status 1)."""


def _models():
    """The module holding the model classes."""
    from fastlstm import models

    return models


def _model_class(name: str):
    cls = getattr(_models(), _ALL_MODELS[name]["class"], None)
    if cls is None:
        raise CLIError(f"fastlstm.models has no class {_ALL_MODELS[name]['class']!r}")
    return cls


# --------------------------------------------------------------------------- #
# argument parsing
# --------------------------------------------------------------------------- #
class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line: ``fastlstm: error: ...`` (exit 2)."""

    def error(self, message):
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


class _Formatter(argparse.HelpFormatter):
    """Wraps plain paragraphs; keeps texts with line breaks (examples) as written."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=32)

    def _fill_text(self, text, width, indent):
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _seed_or_book(text: str) -> int | str:
    if text.strip().lower() == "book":
        return "book"
    try:
        return _nonneg_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 0 or 'book', got {text!r}"
        ) from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _float_or_off(text: str) -> float:
    """A positive float, or 0 / 'none' / 'off' for disabled (stored as 0.0)."""
    if text.strip().lower() in ("none", "off", "0", "0.0"):
        return 0.0
    return _positive_float(text)


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value}")
    return value


def _accuracy(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {value}")
    return value


def _common_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="data directory with ptb/, sequence/, book-weights/ (overrides $FASTLSTM_DATA)",
    )
    p.add_argument(
        "--threads",
        type=_positive_int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="threads of the numba kernels (default: all CPUs; 1 on a busy machine)",
    )
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error",
    )
    return p


def _add_train_common(p: argparse.ArgumentParser, spec: dict, name: str) -> None:
    g = p.add_argument_group("training")
    g.add_argument(
        "--epochs",
        type=_positive_int,
        metavar="N",
        help=f"epochs in total (book: {spec['epochs']})",
    )
    g.add_argument(
        "--batch-size",
        type=_positive_int,
        metavar="N",
        help=f"mini-batch size ({spec['batch_size']})",
    )
    g.add_argument(
        "--wordvec", type=_positive_int, metavar="D", help=f"word vector size ({spec['wordvec']})"
    )
    g.add_argument(
        "--hidden", type=_positive_int, metavar="H", help=f"hidden state size ({spec['hidden']})"
    )
    g.add_argument(
        "--lr", type=_positive_float, metavar="LR", help=f"learning rate ({spec['lr']:g})"
    )
    max_grad = spec["max_grad"] or "none"
    g.add_argument(
        "--max-grad",
        type=_float_or_off,
        metavar="NORM",
        help=f"clip the gradient norm to NORM, 'none' to not clip ({max_grad})",
    )
    if spec.get("seed") == "book":
        g.add_argument(
            "--seed",
            type=_seed_or_book,
            metavar="N|book",
            help="seed of the initial weights and of the shuffling; 'book' draws both from "
            "the random stream of the book's script (numpy seeded with 1984 by load_data), "
            "so the run is the book's run (default: book)",
        )
    else:
        g.add_argument(
            "--seed",
            type=_nonneg_int,
            metavar="N",
            help="seed of the initial weights and of the shuffling or dropout "
            "(default: random, recorded in the checkpoints)",
        )
    o = p.add_argument_group("output")
    o.add_argument(
        "--out",
        metavar="DIR",
        help=f"output directory (default: runs/{name}, or the directory of --resume)",
    )
    o.add_argument(
        "--resume",
        metavar="PATH",
        help=f"continue the training saved in PATH (a {LAST_FILE} written by this command)",
    )
    o.add_argument("--no-progress", action="store_true", help="do not show progress bars")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``fastlstm`` argument parser (subcommands train, generate, eval, translate)."""
    common = _common_parent()
    parser = _Parser(
        prog=PROG,
        formatter_class=_Formatter,
        description=(
            "Train and use the recurrent models of 'Deep Learning from Scratch 2' "
            "(chapters 5-8) fast on a CPU."
        ),
        epilog=(
            "examples:\n"
            "  fastlstm train rnnlm                      # ch06 train_rnnlm.py on PTB\n"
            "  fastlstm train better-rnnlm --epochs 10\n"
            "  fastlstm generate --checkpoint runs/rnnlm/best.npz --start 'the meaning of life is'\n"
            "  fastlstm train attention                  # ch08 on date.txt\n"
            "  fastlstm translate --checkpoint runs/attention/best.npz 'Mar 25, 2003'\n"
            "\n"
            "data are read from $FASTLSTM_DATA (ptb/, sequence/, book-weights/) or --data-dir.\n"
            "run 'fastlstm COMMAND --help' for the options of a command."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {fastlstm.__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # -- train ------------------------------------------------------------------
    train = sub.add_parser(
        "train",
        help="train a model (rnnlm, better-rnnlm, simple-rnnlm, seq2seq, peeky, attention)",
        description="Train a model with the book's hyperparameters (each can be changed).",
        formatter_class=_Formatter,
        parents=[common],
    )
    tsub = train.add_subparsers(dest="model", metavar="MODEL", required=True)
    for name, spec in LM_MODELS.items():
        p = tsub.add_parser(
            name,
            help=f"{spec['class']} on PTB ({spec['script']})",
            description=(
                f"Train {spec['class']} on the Penn Treebank with the hyperparameters of the "
                f"book's {spec['script']} (in parentheses below). Validation perplexity is "
                "measured after every epoch; the best epoch is kept in best.npz and the test "
                "perplexity of that model is reported at the end."
            ),
            formatter_class=_Formatter,
            parents=[common],
        )
        _add_train_common(p, spec, name)
        g = p.add_argument_group(f"{name} options")
        g.add_argument(
            "--time-size",
            type=_positive_int,
            metavar="T",
            help=f"truncated BPTT length ({spec['time_size']})",
        )
        if "dropout" in spec:
            g.add_argument(
                "--dropout", type=_ratio, metavar="P", help=f"dropout ratio ({spec['dropout']})"
            )
        g.add_argument(
            "--lr-decay",
            type=_float_or_off,
            metavar="F",
            help="divide the learning rate by F when the validation perplexity gets worse, "
            f"'none' to keep it ({spec['lr_decay'] or 'none'})",
        )
        g.add_argument(
            "--max-words",
            type=_nonneg_int,
            metavar="N",
            help="use only the first N words of each PTB split, for quick runs; 0 = all "
            f"({spec['max_words'] or 'all'})",
        )
        p.set_defaults(func=_cmd_train_lm)
    for name, spec in SEQ_MODELS.items():
        p = tsub.add_parser(
            name,
            help=f"{spec['class']} on {spec['data']} ({spec['script']})",
            description=(
                f"Train {spec['class']} with Adam and the hyperparameters of the book's "
                f"{spec['script']} (in parentheses below). The exact-match accuracy on the "
                "test split is measured after every epoch (greedy decoding); the best epoch "
                "is kept in best.npz. Without data files the built-in generators are used."
            ),
            formatter_class=_Formatter,
            parents=[common],
        )
        _add_train_common(p, spec, name)
        g = p.add_argument_group(f"{name} options")
        g.add_argument(
            "--data",
            metavar="NAME|PATH",
            help=f"'addition', 'date' or the path of a file in their format ({spec['data']})",
        )
        g.add_argument(
            "--reverse",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"reverse the questions ({'yes' if spec['reverse'] else 'no'})",
        )
        g.add_argument(
            "--target-accuracy",
            type=_accuracy,
            metavar="ACC",
            help="stop once the test accuracy reaches ACC, e.g. 0.999",
        )
        g.add_argument(
            "--limit",
            type=_positive_int,
            metavar="N",
            help="use only the first N training and N test questions (quick runs, tests)",
        )
        g.add_argument(
            "--show",
            type=_nonneg_int,
            metavar="N",
            help="print N test questions with their answers after each epoch (3)",
        )
        p.set_defaults(func=_cmd_train_seq)

    # -- generate ---------------------------------------------------------------
    p = sub.add_parser(
        "generate",
        help="generate text with a trained language model",
        description=(
            "Generate text with a language model: fastlstm checkpoints (best.npz, "
            "last.ckpt.npz) or the book's .pkl files (give --model then). The model reads "
            "every word of --start, then samples the next words; <eos> is printed as "
            "'.' and a line break, as in the book."
        ),
        formatter_class=_Formatter,
        parents=[common],
    )
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="model file (.npz or .pkl)")
    p.add_argument(
        "--model",
        choices=sorted(LM_MODELS),
        help="model of a book .pkl file (read from the metadata of .npz files)",
    )
    p.add_argument(
        "--start",
        default="the meaning of life is",
        metavar="TEXT",
        help="words to start with (default: %(default)r)",
    )
    p.add_argument(
        "--length",
        type=_positive_int,
        default=100,
        metavar="N",
        help="number of words to generate after TEXT (default: %(default)s)",
    )
    p.add_argument(
        "--temperature",
        type=_positive_float,
        default=1.0,
        metavar="T",
        help="divide the scores by T before sampling; < 1 is more conservative (default: 1)",
    )
    p.add_argument(
        "--top-k", type=_positive_int, metavar="K", help="sample among the K likeliest words only"
    )
    p.add_argument("--greedy", action="store_true", help="always take the likeliest word")
    p.add_argument(
        "--skip",
        default="N <unk> $",
        metavar="WORDS",
        help="words never generated, separated by spaces (default: %(default)r, as the book)",
    )
    p.add_argument("--seed", type=_nonneg_int, metavar="N", help="seed of the sampling")
    p.set_defaults(func=_cmd_generate)

    # -- eval -------------------------------------------------------------------
    p = sub.add_parser(
        "eval",
        help="test perplexity of a language model, accuracy of a seq2seq model",
        description=(
            "Evaluate a model file: the perplexity of a language model on a PTB split "
            "(eval_perplexity, batch 10, time 35, as the book), or the exact-match accuracy "
            "of a seq2seq model on the test split of its data."
        ),
        formatter_class=_Formatter,
        parents=[common],
    )
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="model file (.npz or .pkl)")
    p.add_argument("--model", choices=sorted(_ALL_MODELS), help="model of a book .pkl file")
    p.add_argument(
        "--split",
        choices=("test", "val", "train"),
        default="test",
        help="PTB split of a language model (default: %(default)s)",
    )
    p.add_argument(
        "--max-words", type=_nonneg_int, metavar="N", help="evaluate on the first N words only"
    )
    p.add_argument("--data", metavar="NAME|PATH", help="data of a seq2seq .pkl model")
    p.add_argument(
        "--reverse",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the seq2seq model of a .pkl reads reversed questions",
    )
    p.add_argument(
        "--limit", type=_positive_int, metavar="N", help="evaluate the first N test questions only"
    )
    p.add_argument(
        "--show", type=_nonneg_int, default=3, metavar="N", help="questions to print (default: 3)"
    )
    p.set_defaults(func=_cmd_eval)

    # -- translate --------------------------------------------------------------
    p = sub.add_parser(
        "translate",
        help="decode questions with a trained seq2seq model",
        description=(
            "Decode questions with a seq2seq model trained by 'fastlstm train' (vocabulary, "
            "widths and reversal are read from the checkpoint), or with the book's "
            "AttentionSeq2seq.pkl (--model attention)."
        ),
        epilog="example:\n  fastlstm translate --checkpoint runs/attention/best.npz 'Mar 25, 2003'",
        formatter_class=_Formatter,
        parents=[common],
    )
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="model file (.npz or .pkl)")
    p.add_argument("text", nargs="+", metavar="TEXT", help="question(s), e.g. 'Mar 25, 2003'")
    p.add_argument("--model", choices=sorted(SEQ_MODELS), help="model of a book .pkl file")
    p.add_argument("--data", metavar="NAME|PATH", help="data of a .pkl model (its vocabulary)")
    p.add_argument(
        "--reverse",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the model of a .pkl reads reversed questions",
    )
    p.set_defaults(func=_cmd_translate)
    return parser


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def _say(*args) -> None:
    print(*args, flush=True)


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _warnings_as_lines():
    """Show Python warnings as one ``fastlstm: warning: ...`` line each."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = lambda message, *a, **k: _warn(str(message))
        yield


@contextlib.contextmanager
def _numba_threads(n: int | None):
    """Run the numba kernels on ``n`` threads for the duration of the command."""
    if n is None:
        yield
        return
    import numba

    available = numba.config.NUMBA_NUM_THREADS
    if n > available:
        raise CLIError(f"--threads {n}: only {available} threads are available")
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(old)


@contextlib.contextmanager
def _data_dir(path: str | None):
    """Point ``FASTLSTM_DATA`` at ``path`` for the duration of the command."""
    if path is None:
        yield
        return
    p = Path(path).expanduser()
    if not p.is_dir():
        raise CLIError(f"--data-dir {path}: no such directory")
    old = os.environ.get("FASTLSTM_DATA")
    os.environ["FASTLSTM_DATA"] = str(p.resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("FASTLSTM_DATA", None)
        else:
            os.environ["FASTLSTM_DATA"] = old


def _current_data_dir() -> str | None:
    from fastlstm import config

    path = config.data_dir()
    return None if path is None else str(path.resolve())


def _resumed_data_dir(args, ckpt):
    """When resuming without --data-dir or $FASTLSTM_DATA, use the data directory saved."""
    saved = (ckpt.extra.get("data_dir") if ckpt is not None else None) or None
    if (
        saved is None
        or getattr(args, "data_dir", None) is not None
        or os.environ.get("FASTLSTM_DATA")
        or not Path(saved).is_dir()
    ):
        return contextlib.nullcontext()
    return _data_dir(saved)


def _seeds(seed: int, n: int) -> list[int]:
    """``n`` independent 32-bit seeds derived from ``seed``."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n)]


def _rng_state(rng) -> dict:
    """The state of a ``Generator`` or a ``RandomState``, for a checkpoint."""
    if isinstance(rng, np.random.RandomState):
        return rng.get_state(legacy=False)
    return rng.bit_generator.state


def _set_rng_state(rng, state: dict) -> None:
    """Restore what :func:`_rng_state` saved."""
    if isinstance(rng, np.random.RandomState):
        state = dict(state)
        state["state"] = dict(state["state"], key=np.asarray(state["state"]["key"], np.uint32))
        rng.set_state(state)
    else:
        rng.bit_generator.state = state


def _model_generators(model) -> list[np.random.Generator]:
    """The random generators held by the model and its layers (dropout), each once.

    The objects reachable from ``model`` through attributes, lists and tuples
    are visited depth first in attribute order, so the order is the same for
    every instance of a model class.
    """
    found: list[np.random.Generator] = []
    seen: set[int] = set()

    def visit(obj, depth):
        if id(obj) in seen or depth > 4:
            return
        seen.add(id(obj))
        if isinstance(obj, np.random.Generator):
            found.append(obj)
        elif isinstance(obj, list | tuple):
            for item in obj:
                visit(item, depth + 1)
        elif not isinstance(obj, np.ndarray | str | bytes | int | float) and hasattr(
            obj, "__dict__"
        ):
            for value in vars(obj).values():
                visit(value, depth + 1)

    visit(model, 0)
    return found


def _json_safe(value):
    """JSON-friendly copy (numpy scalars to Python)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _resolve(defaults: dict, args: argparse.Namespace, saved: dict | None) -> dict:
    """Settings: book defaults, then the resumed checkpoint's, then the command line's."""
    cfg = {k: v for k, v in defaults.items() if k not in ("class", "script")}
    cfg.setdefault("seed", None)
    if saved is not None:
        cfg.update({k: saved[k] for k in cfg if k in saved})
    for key in list(cfg):
        value = getattr(args, key, None)
        if value is None:
            continue
        if saved is not None and key not in _RESUME_MAY_CHANGE and value != saved.get(key):
            flag = "--" + key.replace("_", "-")
            raise CLIError(
                f"{flag} {value} differs from the resumed training's {saved.get(key)}; "
                "it cannot change when resuming"
            )
        cfg[key] = value
    if cfg["seed"] is None:
        cfg["seed"] = int(np.random.SeedSequence().generate_state(1)[0])
    return cfg


def _load_resume(path: str, model_name: str):
    from fastlstm import io as fio

    ckpt = fio.load_checkpoint(_existing(path, "checkpoint"))
    extra = ckpt.extra or {}
    if extra.get("model") != model_name or "config" not in extra:
        what = extra.get("model") or ckpt.model_class or "an unknown model"
        raise CLIError(f"{path} is a checkpoint of {what}, not of {model_name}")
    if not ckpt.optimizer_state:
        raise CLIError(f"{path} has no optimizer state (resume from {LAST_FILE}, not {BEST_FILE})")
    return ckpt


def _existing(path: str, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise CLIError(f"{what} not found: {path}")
    if not p.is_file():
        raise CLIError(f"{what} is not a file: {path}")
    return p


def _out_dir(args, name: str) -> Path:
    if args.out:
        out = Path(args.out).expanduser()
    elif args.resume:
        out = Path(args.resume).expanduser().parent
    else:
        out = Path("runs") / name
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create the output directory {out}: {exc.strerror}") from None
    return out


def _write_json(path: Path, data: dict) -> None:
    from fastlstm.io import atomic_write

    text = json.dumps(_json_safe(data), indent=2) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _try_plot(fn, *args, **kwargs) -> Path | None:
    """Make a plot; a failure is a warning, not an error (the training is saved)."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001
        _warn(f"could not save the plot {args[1] if len(args) > 1 else ''}: {exc}")
        return None


# --------------------------------------------------------------------------- #
# loading models from files
# --------------------------------------------------------------------------- #
@dataclass
class _Loaded:
    model: Any
    name: str
    path: Path
    extra: dict = field(default_factory=dict)


def _infer_kwargs(name: str, arrays: list[np.ndarray]) -> dict:
    """Constructor sizes of a model from its parameter shapes (book's order)."""
    if len(arrays) < 3 or arrays[0].ndim != 2 or arrays[2].ndim != 2:
        raise CLIError(f"the parameters do not look like a {name} model")
    V, D = arrays[0].shape  # embed_W (V, D)
    H = arrays[2].shape[0]  # Wh (H, 4H) or (H, H)
    return {"vocab_size": int(V), "wordvec_size": int(D), "hidden_size": int(H)}


def _load_model(path: str, model: str | None, allowed: dict) -> _Loaded:
    """Build a model from a fastlstm ``.npz`` (metadata) or a book ``.pkl`` (``model``)."""
    from fastlstm import io as fio

    p = _existing(path, "checkpoint")
    with open(p, "rb") as f:
        head = f.read(4)
    extra: dict = {}
    kwargs = None
    if head[:2] == b"PK":
        meta = fio.read_params_meta(p)
        if meta.get("format") == fio.CHECKPOINT_FORMAT:
            ckpt = fio.load_checkpoint(p)
            arrays, extra = ckpt.params, ckpt.extra or {}
        else:
            arrays = fio.load_params(p)
        cls_name = meta.get("model_class")
        kwargs = meta.get("model_kwargs")
        saved_name = extra.get("model") or _CLASS_TO_MODEL.get(cls_name or "")
        if saved_name is None and model is None:
            raise CLIError(f"{path} does not say which model it holds; give --model")
        if model is not None and saved_name is not None and model != saved_name:
            raise CLIError(f"{path} holds a {saved_name} model, not {model}")
        name = saved_name or model
    elif head[:1] == b"\x80":
        if model is None:
            raise CLIError(
                f"{path} is one of the book's .pkl files: give --model "
                f"({'|'.join(sorted(allowed))})"
            )
        arrays = fio.read_book_pkl(p)
        name = model
    elif not head:
        raise CLIError(f"{path} is empty")
    else:
        raise CLIError(f"{path} is neither a fastlstm .npz file nor a book .pkl file")
    if name not in allowed:
        raise CLIError(
            f"{path} holds a {name} model; this command needs one of: {', '.join(sorted(allowed))}"
        )
    if not kwargs:
        kwargs = _infer_kwargs(name, arrays)
    cls = _model_class(name)
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"{path}: cannot build {cls.__name__}({kwargs}): {exc}") from None
    fio.load_into(obj.params, arrays, p)
    return _Loaded(obj, name, p, extra)


# --------------------------------------------------------------------------- #
# data
# --------------------------------------------------------------------------- #
def _ptb(split: str, max_words: int):
    from fastlstm.datasets import ptb

    corpus, word_to_id, id_to_word = ptb.load_data(split)
    if max_words:
        corpus = corpus[:max_words]
    return corpus, word_to_id, id_to_word


def _data_file(spec: str) -> str:
    """Book data name ('addition', 'date') to its file name; paths made absolute."""
    if spec in _BOOK_DATA:
        return _BOOK_DATA[spec]
    if spec in _BOOK_DATA.values():
        return spec
    p = Path(spec).expanduser()
    if not p.is_file():
        raise CLIError(
            f"--data {spec}: no such file (use 'addition', 'date' or the path of a data file)"
        )
    return str(p.resolve())


def _sequence(spec: str, reverse: bool, limit: int | None):
    from fastlstm.datasets import sequence

    (x_train, t_train), (x_test, t_test), vocab = sequence.load_data(
        _data_file(spec), return_vocab=True
    )
    n_lines = len(x_train) + len(x_test)
    if limit:
        x_train, t_train = x_train[:limit], t_train[:limit]
        x_test, t_test = x_test[:limit], t_test[:limit]
    if reverse:  # the book's x[:, ::-1]
        x_train = np.ascontiguousarray(x_train[:, ::-1])
        x_test = np.ascontiguousarray(x_test[:, ::-1])
    return (x_train, t_train), (x_test, t_test), vocab, n_lines


# --------------------------------------------------------------------------- #
# train: language models
# --------------------------------------------------------------------------- #
def _cmd_train_lm(args) -> int:
    name = args.model
    spec = LM_MODELS[name]
    ckpt = _load_resume(args.resume, name) if args.resume else None
    cfg = _resolve(spec, args, ckpt.extra["config"] if ckpt else None)
    out = _out_dir(args, name)
    with _resumed_data_dir(args, ckpt):
        return _train_lm(args, name, spec, ckpt, cfg, out)


def _train_lm(args, name, spec, ckpt, cfg, out) -> int:
    from fastlstm import io as fio
    from fastlstm.optim import SGD, PlateauDecay
    from fastlstm.plot import plot_curve
    from fastlstm.trainer import RnnlmTrainer, eval_perplexity

    corpus, word_to_id, id_to_word = _ptb("train", cfg["max_words"])
    corpus_val = _ptb("val", cfg["max_words"])[0]
    corpus_test = _ptb("test", cfg["max_words"])[0]
    for split, c in (("validation", corpus_val), ("test", corpus_test)):
        if len(c) - 1 < EVAL_BATCH_SIZE * EVAL_TIME_SIZE:
            raise CLIError(
                f"the {split} corpus has {len(c)} words, too few to evaluate "
                f"(at least {EVAL_BATCH_SIZE * EVAL_TIME_SIZE + 1}); raise --max-words"
            )
    xs, ts = corpus[:-1], corpus[1:]  # inputs, targets
    vocab = [id_to_word[i] for i in range(len(id_to_word))]
    if ckpt is not None and ckpt.extra.get("vocab") != vocab:
        raise CLIError("the PTB vocabulary differs from that of the resumed training")

    kwargs = {
        "vocab_size": len(word_to_id),
        "wordvec_size": cfg["wordvec"],
        "hidden_size": cfg["hidden"],
    }
    if "dropout" in cfg:
        kwargs["dropout_ratio"] = cfg["dropout"]
    model = _model_class(name)(**kwargs, seed=_seeds(cfg["seed"], 1)[0])
    kwargs = dict(getattr(model, "config", None) or kwargs)  # what rebuilds the model
    optimizer = SGD(lr=cfg["lr"])
    decay = PlateauDecay(optimizer, factor=cfg["lr_decay"]) if cfg["lr_decay"] else None
    trainer = RnnlmTrainer(model, optimizer, progress=not args.no_progress)
    history = {"train_ppl": [], "val_ppl": [], "lr": []}
    best = math.inf
    start = 0
    if ckpt is not None:
        fio.load_into(model.params, ckpt.params, args.resume)
        optimizer.load_state_dict(ckpt.optimizer_state)
        _restore_generators(model, ckpt.extra.get("model_rng_states"), args.resume)
        if decay is not None and ckpt.extra.get("decay"):
            decay.load_state_dict(ckpt.extra["decay"])
        history = {k: list(v) for k, v in ckpt.extra["history"].items()}
        best = float(ckpt.extra.get("best", math.inf))
        trainer.ppl_list = list(history["train_ppl"])
        trainer.current_epoch = start = ckpt.epoch
        _say(f"resuming {name} from {args.resume} after epoch {start}")

    _say(
        f"{spec['class']}({', '.join(f'{k}={v}' for k, v in kwargs.items())}), "
        f"{len(corpus)} training words, seed {cfg['seed']}, output in {out}"
    )

    def extra():
        return {
            "cli_format": CLI_FORMAT,
            "task": "lm",
            "model": name,
            "config": cfg,
            "history": history,
            "best": best,
            "decay": decay.state_dict() if decay is not None else None,
            "model_rng_states": [g.bit_generator.state for g in _model_generators(model)],
            "vocab": vocab,
            "data_dir": _current_data_dir(),
        }

    for epoch in range(start, cfg["epochs"]):
        t0 = time.perf_counter()
        trainer.fit(
            xs,
            ts,
            max_epoch=1,
            batch_size=cfg["batch_size"],
            time_size=cfg["time_size"],
            max_grad=cfg["max_grad"] or None,
            eval_interval=EVAL_INTERVAL,
        )
        model.reset_state()
        ppl = eval_perplexity(model, corpus_val, EVAL_BATCH_SIZE, EVAL_TIME_SIZE)
        model.reset_state()
        lr = optimizer.lr
        history["train_ppl"] = list(trainer.ppl_list)
        history["val_ppl"].append(ppl)
        history["lr"].append(lr)
        improved = ppl < best
        if improved:
            best = ppl
        if decay is not None:
            decay.step(ppl)  # divides optimizer.lr if ppl is not the best so far
        _say(
            f"epoch {epoch + 1:>3}/{cfg['epochs']}  val perplexity {ppl:10.2f}  lr {lr:<8g}"
            f"  {time.perf_counter() - t0:6.1f}s{'  (best)' if improved else ''}"
        )
        _save_epoch(out, model, optimizer, epoch, improved, extra(), spec["class"], kwargs)

    # test perplexity of the best model (the book's final eval_perplexity on corpus_test)
    best_path = out / BEST_FILE
    if best_path.is_file():
        fio.load_into(model.params, fio.load_checkpoint(best_path).params, best_path)
    model.reset_state()
    test_ppl = eval_perplexity(model, corpus_test, EVAL_BATCH_SIZE, EVAL_TIME_SIZE)
    model.reset_state()
    _say(f"test perplexity: {test_ppl:.2f}  (best validation perplexity {best:.2f})")

    if history["train_ppl"]:
        _try_plot(
            plot_curve,
            history["train_ppl"],
            out / "perplexity.png",
            f"iterations (x{EVAL_INTERVAL})",
            "perplexity",
            f"{spec['class']}: training perplexity",
        )
    if history["val_ppl"]:
        _try_plot(
            plot_curve,
            history["val_ppl"],
            out / "val_perplexity.png",
            "epoch",
            "perplexity",
            f"{spec['class']}: validation perplexity",
            x=np.arange(1, len(history["val_ppl"]) + 1),
            marker="o",
        )
    _write_json(
        out / "summary.json",
        {
            "model": name,
            "config": cfg,
            "epochs": len(history["val_ppl"]),
            "best_val_perplexity": best,
            "test_perplexity": test_ppl,
            "val_perplexity": history["val_ppl"],
        },
    )
    return 0


def _restore_generators(model, states, source) -> None:
    gens = _model_generators(model)
    states = states or []
    if len(states) != len(gens):
        raise CLIError(
            f"{source}: holds {len(states)} random generator states, the model has {len(gens)}"
        )
    for g, s in zip(gens, states):
        g.bit_generator.state = s


# --------------------------------------------------------------------------- #
# train: seq2seq models
# --------------------------------------------------------------------------- #
def _cmd_train_seq(args) -> int:
    name = args.model
    spec = SEQ_MODELS[name]
    ckpt = _load_resume(args.resume, name) if args.resume else None
    if args.data is not None and args.data not in _BOOK_DATA:
        args.data = _data_file(args.data)  # absolute path, so a resume finds it
    cfg = _resolve(
        {**spec, "target_accuracy": None, "limit": None, "show": 3},
        args,
        ckpt.extra["config"] if ckpt else None,
    )
    out = _out_dir(args, name)
    with _resumed_data_dir(args, ckpt):
        return _train_seq(args, name, spec, ckpt, cfg, out)


def _train_seq(args, name, spec, ckpt, cfg, out) -> int:
    from fastlstm import io as fio
    from fastlstm.datasets import sequence
    from fastlstm.evaluation import attention_weights, seq2seq_accuracy
    from fastlstm.optim import Adam
    from fastlstm.plot import plot_attention, plot_curve
    from fastlstm.trainer import Trainer

    (x_train, t_train), (x_test, t_test), vocab, n_lines = _sequence(
        cfg["data"], cfg["reverse"], cfg["limit"]
    )
    if ckpt is not None and ckpt.extra.get("vocab") != "".join(vocab.chars):
        raise CLIError(
            f"the data {cfg['data']} ({vocab.source}) differ from those of the resumed training"
        )
    kwargs = {
        "vocab_size": len(vocab),
        "wordvec_size": cfg["wordvec"],
        "hidden_size": cfg["hidden"],
    }
    if cfg["seed"] == "book":
        # the book's scripts draw the weights, then every epoch's shuffle, from the
        # global state load_data seeded: one RandomState replays that stream
        model_seed = shuffle_seed = sequence.book_random_state(n_lines)
        seed_text = "the book's random stream (load_data's seed 1984)"
    else:
        model_seed, shuffle_seed = _seeds(cfg["seed"], 2)
        seed_text = f"seed {cfg['seed']}"
    model = _model_class(name)(**kwargs, seed=model_seed)
    kwargs = dict(getattr(model, "config", None) or kwargs)  # what rebuilds the model
    optimizer = Adam(lr=cfg["lr"])
    trainer = Trainer(model, optimizer, rng=shuffle_seed, progress=not args.no_progress)
    history = {"loss": [], "accuracy": []}
    best = -1.0
    start = 0
    if ckpt is not None:
        fio.load_into(model.params, ckpt.params, args.resume)
        optimizer.load_state_dict(ckpt.optimizer_state)
        if ckpt.rng_state is not None:
            _set_rng_state(trainer.rng, ckpt.rng_state)
        history = {k: list(v) for k, v in ckpt.extra["history"].items()}
        best = float(ckpt.extra.get("best", -1.0))
        trainer.loss_list = list(history["loss"])
        trainer.current_epoch = start = ckpt.epoch
        _say(f"resuming {name} from {args.resume} after epoch {start}")

    seq_info = {
        "data": cfg["data"],
        "source": vocab.source,
        "reverse": bool(cfg["reverse"]),
        "question_width": int(x_train.shape[1]),
        "answer_width": int(t_train.shape[1]),
        "start_char": vocab.id_to_char[int(t_train[0, 0])],
    }
    _say(
        f"{spec['class']}({', '.join(f'{k}={v}' for k, v in kwargs.items())}), "
        f"{len(x_train)} training / {len(x_test)} test questions from {vocab.source}"
        f"{', reversed' if cfg['reverse'] else ''}, {seed_text}, output in {out}"
    )

    def extra():
        return {
            "cli_format": CLI_FORMAT,
            "task": "seq2seq",
            "model": name,
            "config": cfg,
            "history": history,
            "best": best,
            "vocab": "".join(vocab.chars),
            "seq2seq": seq_info,
            "data_dir": _current_data_dir(),
        }

    target = cfg["target_accuracy"]
    if target is not None and best >= target:
        _say(f"the resumed training already reached accuracy {best:.4f} >= {target}")
    else:
        for epoch in range(start, cfg["epochs"]):
            t0 = time.perf_counter()
            n_loss = len(trainer.loss_list)
            trainer.fit(
                x_train,
                t_train,
                max_epoch=1,
                batch_size=cfg["batch_size"],
                max_grad=cfg["max_grad"] or None,
                eval_interval=EVAL_INTERVAL,
            )
            acc = seq2seq_accuracy(
                model, x_test, t_test, vocab, reverse=cfg["reverse"], show=cfg["show"]
            )
            history["loss"] = list(trainer.loss_list)
            history["accuracy"].append(acc)
            improved = acc > best
            if improved:
                best = acc
            losses = trainer.loss_list[n_loss:]
            loss_text = f"loss {np.mean(losses):.4f}  " if losses else ""
            _say(
                f"epoch {epoch + 1:>3}/{cfg['epochs']}  {loss_text}val accuracy "
                f"{acc * 100:7.3f}%  {time.perf_counter() - t0:6.1f}s"
                f"{'  (best)' if improved else ''}"
            )
            _save_epoch(
                out,
                model,
                optimizer,
                epoch,
                improved,
                extra(),
                spec["class"],
                kwargs,
                rng_state=_rng_state(trainer.rng),
            )
            if target is not None and acc >= target:
                _say(f"target accuracy {target} reached after epoch {epoch + 1}")
                break
    _say(f"best accuracy: {best * 100:.3f}%")

    if history["accuracy"]:
        _try_plot(
            plot_curve,
            history["accuracy"],
            out / "accuracy.png",
            "epoch",
            "accuracy",
            f"{spec['class']}: test accuracy",
            x=np.arange(1, len(history["accuracy"]) + 1),
            ylim=(-0.05, 1.05),
            marker="o",
        )
    if history["loss"]:
        _try_plot(
            plot_curve,
            history["loss"],
            out / "loss.png",
            f"iterations (x{EVAL_INTERVAL})",
            "loss",
            f"{spec['class']}: training loss",
        )
    best_path = out / BEST_FILE
    if name.startswith("attention") and best_path.is_file() and len(x_test):
        fio.load_into(model.params, fio.load_checkpoint(best_path).params, best_path)
        _try_plot(
            _attention_png,
            model,
            out / "attention.png",
            x_test[0],
            t_test[0],
            vocab,
            cfg["reverse"],
            attention_weights=attention_weights,
            plot_attention=plot_attention,
        )
    _write_json(
        out / "summary.json",
        {
            "model": name,
            "config": cfg,
            "data_source": vocab.source,
            "epochs": len(history["accuracy"]),
            "best_accuracy": best,
            "accuracy": history["accuracy"],
        },
    )
    return 0


def _attention_png(model, path, x, t, vocab, reverse, *, attention_weights, plot_attention):
    """Attention map of one test question, question shown the right way round."""
    w = attention_weights(model, x, t)  # (T_dec, T_enc)
    if reverse:
        w, x = w[:, ::-1], x[::-1]
    cols = [vocab.id_to_char[int(i)] for i in x]
    rows = [vocab.id_to_char[int(i)] for i in t[1:]]
    return plot_attention(w, rows, cols, path, "".join(cols).rstrip())


# --------------------------------------------------------------------------- #
# generate
# --------------------------------------------------------------------------- #
def _softmax64(scores: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64).ravel()
    s = s - s.max()
    e = np.exp(s)
    return e / e.sum()


def _next_word(scores, *, temperature, top_k, greedy, skip_ids, rng) -> int:
    """Choose the next id from the last scores (V,)."""
    s = np.asarray(scores, dtype=np.float64).ravel().copy()  # (V,)
    if skip_ids:
        s[skip_ids] = -np.inf
    if greedy:
        return int(np.argmax(s))
    if top_k is not None and top_k < s.size:
        kth = np.partition(s, -top_k)[-top_k]
        s[s < kth] = -np.inf
    p = _softmax64(s / temperature)
    return int(rng.choice(s.size, p=p))


def sample_words(
    model,
    start_ids,
    length: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    greedy: bool = False,
    skip_ids=(),
    rng=None,
) -> list[int]:
    """Read ``start_ids`` with a language model, then draw ``length`` more word ids.

    Parameters
    ----------
    model : Rnnlm, BetterRnnlm or SimpleRnnlm
        Model with ``predict(xs (1, T)) -> scores (1, T, V)`` and ``reset_state``.
    start_ids : sequence of int
        Words read first (at least one).
    length : int
        Number of ids to draw.
    temperature : float, default 1.0
        Scores are divided by it before the softmax.
    top_k : int, optional
        Draw among the ``top_k`` highest scores only.
    greedy : bool, default False
        Take the highest score instead of drawing.
    skip_ids : sequence of int
        Ids never drawn (the book's ``skip_ids``).
    rng : numpy.random.Generator, optional
        Source of the draws.

    Returns
    -------
    list of int
        The ``length`` drawn ids (without ``start_ids``).
    """
    rng = np.random.default_rng(rng)
    skip = sorted({int(i) for i in skip_ids})
    model.reset_state()
    xs = np.asarray(start_ids, dtype=np.int32).reshape(1, -1)  # (1, T)
    scores = np.asarray(model.predict(xs))[0, -1]  # (V,)
    out = []
    for _ in range(length):
        word = _next_word(
            scores, temperature=temperature, top_k=top_k, greedy=greedy, skip_ids=skip, rng=rng
        )
        out.append(word)
        scores = np.asarray(model.predict(np.array([[word]], dtype=np.int32)))[0, -1]
    model.reset_state()
    return out


def _lm_vocab(loaded: _Loaded) -> list[str]:
    vocab = loaded.extra.get("vocab")
    if not vocab:
        _, _, id_to_word = _ptb("train", 0)
        vocab = [id_to_word[i] for i in range(len(id_to_word))]
    V = loaded.model.params[0].shape[0]
    if len(vocab) != V:
        raise CLIError(f"{loaded.path}: the model has {V} words, the vocabulary {len(vocab)}")
    return list(vocab)


def _cmd_generate(args) -> int:
    loaded = _load_model(args.checkpoint, args.model, LM_MODELS)
    vocab = _lm_vocab(loaded)
    word_to_id = {w: i for i, w in enumerate(vocab)}
    words = args.start.split()
    if not words:
        raise CLIError("--start needs at least one word")
    unknown = [w for w in words if w not in word_to_id]
    if unknown:
        raise CLIError(f"--start: words not in the vocabulary: {' '.join(unknown)}")
    skip_ids = [word_to_id[w] for w in args.skip.split() if w in word_to_id]
    start_ids = [word_to_id[w] for w in words]
    options = {
        "temperature": args.temperature,
        "top_k": args.top_k,
        "greedy": args.greedy,
        "rng": np.random.default_rng(args.seed),
    }
    model = loaded.model
    if hasattr(model, "prime") and hasattr(model, "generate"):
        # the models' own generator (book semantics: a skipped word is drawn again)
        model.reset_state()
        model.prime(start_ids[:-1])
        ids = list(model.generate(start_ids[-1], skip_ids, args.length + 1, **options))[1:]
        model.reset_state()
    else:
        ids = sample_words(model, start_ids, args.length, skip_ids=skip_ids, **options)
    _say(_format_words([vocab[i] for i in start_ids + ids]))
    return 0


def _format_words(words: list[str]) -> str:
    """Words joined by spaces, ``<eos>`` ending a sentence with '.' and a line break."""
    lines, current = [], []
    for word in words:
        if word == "<eos>":
            lines.append(" ".join(current) + ".")
            current = []
        else:
            current.append(word)
    if current:
        lines.append(" ".join(current))
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# eval and translate
# --------------------------------------------------------------------------- #
def _seq_settings(loaded: _Loaded, args):
    """Vocabulary and widths of a seq2seq model: from its metadata, else from --data."""
    from fastlstm.datasets.sequence import Vocab

    info = loaded.extra.get("seq2seq")
    if info and loaded.extra.get("vocab"):
        if args.data is not None or args.reverse is not None:
            _warn(f"--data/--reverse ignored: {loaded.path} records its own")
        return Vocab(loaded.extra["vocab"], source=info.get("source", "checkpoint")), info
    spec = SEQ_MODELS[loaded.name]
    data = args.data or spec["data"]
    reverse = spec["reverse"] if args.reverse is None else args.reverse
    (x_train, t_train), _, vocab, _ = _sequence(data, False, None)
    info = {
        "data": data,
        "source": vocab.source,
        "reverse": reverse,
        "question_width": int(x_train.shape[1]),
        "answer_width": int(t_train.shape[1]),
        "start_char": vocab.id_to_char[int(t_train[0, 0])],
    }
    return vocab, info


def _cmd_eval(args) -> int:
    from fastlstm.trainer import eval_perplexity

    loaded = _load_model(args.checkpoint, args.model, _ALL_MODELS)
    if loaded.name in LM_MODELS:
        vocab = _lm_vocab(loaded)
        corpus = _ptb(args.split, args.max_words or 0)[0]
        if corpus.size and int(corpus.max()) >= len(vocab):
            raise CLIError(
                f"the PTB {args.split} corpus has word ids beyond the model's vocabulary"
            )
        loaded.model.reset_state()
        try:
            ppl = eval_perplexity(loaded.model, corpus, EVAL_BATCH_SIZE, EVAL_TIME_SIZE)
        finally:
            loaded.model.reset_state()
        _say(f"{args.split} perplexity: {ppl:.2f}")
        return 0

    from fastlstm.evaluation import seq2seq_accuracy

    vocab, info = _seq_settings(loaded, args)
    _, (x_test, t_test), data_vocab, _ = _sequence(info["data"], info["reverse"], args.limit)
    if data_vocab != vocab:
        raise CLIError(f"the data {info['data']} ({data_vocab.source}) are not the model's")
    acc = seq2seq_accuracy(
        loaded.model, x_test, t_test, vocab, reverse=info["reverse"], show=args.show
    )
    _say(f"test accuracy: {acc * 100:.3f}% ({len(x_test)} questions)")
    return 0


def _cmd_translate(args) -> int:
    from fastlstm.evaluation import decode_one

    loaded = _load_model(args.checkpoint, args.model, SEQ_MODELS)
    vocab, info = _seq_settings(loaded, args)
    if len(vocab) != loaded.model.params[0].shape[0]:
        raise CLIError(
            f"{loaded.path}: the model has {loaded.model.params[0].shape[0]} characters, "
            f"the vocabulary {len(vocab)}"
        )
    for text in args.text:
        answer = decode_one(
            loaded.model,
            text,
            vocab,
            reverse=bool(info["reverse"]),
            width=int(info["question_width"]),
            start_char=info["start_char"],
            sample_size=int(info["answer_width"]) - 1,
        )
        _say(answer.rstrip())
    return 0


# --------------------------------------------------------------------------- #
# entry point
# --------------------------------------------------------------------------- #
def _one_line(exc: BaseException) -> str:
    if isinstance(exc, CLIError | ValueError | OSError | TypeError | LookupError):
        text = str(exc) or type(exc).__name__
        if isinstance(exc, KeyError) and exc.args:
            text = f"KeyError: {exc.args[0]!r}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Run the ``fastlstm`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 1 if the command failed, 2 for a bad command
        line, 130 if interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, bad flags
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    debug = bool(getattr(args, "debug", False))
    try:
        with (
            _warnings_as_lines(),
            _data_dir(getattr(args, "data_dir", None)),
            _numba_threads(getattr(args, "threads", None)),
        ):
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  (one line, no traceback, unless --debug)
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
