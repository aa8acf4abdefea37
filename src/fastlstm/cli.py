"""The ``fastlstm`` command: train, evaluate and use the book's models from a shell.

Subcommands::

    fastlstm train MODEL [options]                          # MODEL: see 'fastlstm train --help'
    fastlstm generate --checkpoint PATH [--start TEXT] ...  # text from a language model
    fastlstm eval --checkpoint PATH                         # test perplexity / accuracy
    fastlstm translate --checkpoint PATH "Mar 25, 2003"     # decode questions

This module only parses arguments and prints: the work is done by the Python
API (:func:`fastlstm.train`, :func:`fastlstm.evaluate`,
:func:`fastlstm.translate`, :func:`fastlstm.generate_text`), whose keyword
arguments are the flags below with the same names and defaults.  What a run
writes, and when it refuses an output folder, is described in
:mod:`fastlstm.api.training` and :mod:`fastlstm.api.folder`.

Errors are reported on one line, ``fastlstm: error: ...``, with exit status 2
for bad command lines, 1 for failures while running and 130 when interrupted
(Ctrl-C saves a resumable checkpoint first and prints the ``--resume``
command); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import sys
import threading
import traceback
import warnings

from fastlstm._validate import is_nonneg_int, is_positive_int
from fastlstm._version import __version__
from fastlstm.api.specs import ALL_MODELS, LAST_FILE, LM_MODELS, OWN_DATA, SEQ_MODELS, RunError

__all__ = ["main", "build_parser"]

PROG = "fastlstm"
CLIError = RunError  # the name of earlier versions


# --------------------------------------------------------------------------- #
# argument parsing
# --------------------------------------------------------------------------- #
class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line: ``fastlstm: error: ...`` (exit 2)."""

    def error(self, message, prog=None):
        self.exit(2, f"{PROG}: error: {message} (see '{prog or self.prog} --help')\n")

    def parse_args(self, args=None, namespace=None):
        ns, extra = self.parse_known_args(args, namespace)
        if extra:  # name the help of the command they were given to
            cmd = f"{ns.command} {ns.model}" if ns.command == "train" else ns.command
            self.error(f"unrecognized arguments: {' '.join(extra)}", f"{PROG} {cmd}")
        return ns


class _Formatter(argparse.HelpFormatter):
    """Wraps plain paragraphs; keeps texts with line breaks (examples) as written."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=32)

    def _fill_text(self, text, width, indent):
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _typed(convert, ok, expected):
    """An argparse ``type``: ``convert(text)`` if ``ok`` of it, else ``expected ..., got ...``."""

    def parse(text: str):
        try:
            value = convert(text)
            good = ok(value)
        except (ValueError, TypeError):
            good = False
        if not good:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def _off(text: str) -> float:
    """0 / 'none' / 'off' as 0.0 (disabled, as stored), else ``float(text)``."""
    return 0.0 if text.strip().lower() in ("none", "off") else float(text)


def _finite_positive(v) -> bool:
    return v > 0 and math.isfinite(v)


_positive_int = _typed(int, is_positive_int, "a positive integer")
_nonneg_int = _typed(int, is_nonneg_int, "an integer >= 0")
_positive_float = _typed(float, _finite_positive, "a positive number")
_float_or_off = _typed(_off, lambda v: v == 0 or _finite_positive(v), "a positive number or 'none'")
_ratio = _typed(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
_accuracy = _typed(float, lambda v: 0 < v <= 1, "a number in (0, 1]")
_seed_or_book = _typed(
    lambda t: "book" if t.strip().lower() == "book" else int(t),
    lambda v: v == "book" or is_nonneg_int(v),
    "an integer >= 0 or 'book'",
)


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
    add = g.add_argument
    add(
        "--epochs",
        type=_positive_int,
        metavar="N",
        help=f"epochs in total (book: {spec['epochs']})",
    )
    add(
        "--batch-size",
        type=_positive_int,
        metavar="N",
        help=f"mini-batch size ({spec['batch_size']})",
    )
    add("--wordvec", type=_positive_int, metavar="D", help=f"word vector size ({spec['wordvec']})")
    add("--hidden", type=_positive_int, metavar="H", help=f"hidden state size ({spec['hidden']})")
    add("--lr", type=_positive_float, metavar="LR", help=f"learning rate ({spec['lr']:g})")
    add(
        "--max-grad",
        type=_float_or_off,
        metavar="NORM",
        help=f"clip the gradient norm to NORM, 'none' to not clip ({spec['max_grad'] or 'none'})",
    )
    if spec.get("seed") == "book":
        add(
            "--seed",
            type=_seed_or_book,
            metavar="N|book",
            help="seed of the initial weights and of the shuffling; 'book' draws both from "
            "the random stream of the book's script (numpy seeded with 1984 by load_data), "
            "so the run is the book's run (default: book)",
        )
    else:
        add(
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
        help=f"output folder (default: runs/{name}, or the folder of --resume); a folder "
        "holding an earlier run is refused unless --resume or --overwrite",
    )
    o.add_argument(
        "--resume",
        metavar="PATH",
        help=f"continue the training saved in PATH (a {LAST_FILE} written by this command)",
    )
    o.add_argument(
        "--overwrite", action="store_true", help="replace the files of an earlier run in --out"
    )
    o.add_argument("--no-progress", action="store_true", help="do not show progress bars")


def _add_lm_options(p, name, spec) -> None:
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
    t = p.add_argument_group("your own text (instead of PTB)")
    for flag, options in OWN_DATA["text"]:
        t.add_argument(flag, **options)


def _add_seq_options(p, name, spec) -> None:
    g = p.add_argument_group(f"{name} options")
    pairs = "" if name == "attention-bi" else " or of 'source<TAB>target' lines of any lengths"
    g.add_argument("--data", metavar="NAME|PATH", help=f"'addition', 'date' or a file in their "
                   f"format{pairs} ({spec['data']})")  # fmt: skip
    for flag, options in OWN_DATA["pairs"]:
        g.add_argument(flag, **options)
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


def _add_train(sub, common) -> None:
    train = sub.add_parser(
        "train",
        help=f"train a model ({', '.join(ALL_MODELS)})",
        description="Train a model with the book's hyperparameters (each can be changed).",
        formatter_class=_Formatter,
        parents=[common],
    )
    tsub = train.add_subparsers(dest="model", metavar="MODEL", required=True)
    for name, spec in ALL_MODELS.items():
        lm = name in LM_MODELS
        if lm:
            what = "Validation perplexity is measured after every epoch"
            final = "; the test perplexity of the best model is reported at the end."
        else:
            what = "The exact-match test accuracy is measured after every epoch (greedy decoding)"
            final = ". Without data files the built-in generators are used."
        p = tsub.add_parser(
            name,
            help=f"{spec['class']} on {'PTB' if lm else spec['data']} ({spec['script']})",
            description=(
                f"Train {spec['class']} with the hyperparameters of the book's "
                f"{spec['script']} (in parentheses below). {what}; the best epoch is kept "
                f"in best.npz{final} Python: fastlstm.train({name!r}, epochs=..., ...)."
            ),
            formatter_class=_Formatter,
            parents=[common],
        )
        _add_train_common(p, spec, name)
        (_add_lm_options if lm else _add_seq_options)(p, name, spec)
        p.set_defaults(func=_cmd_train)


def _add_generate(sub, common) -> None:
    p = sub.add_parser(
        "generate",
        help="generate text with a trained language model",
        description=(
            "Generate text with a language model: fastlstm checkpoints (best.npz, "
            "last.ckpt.npz) or the book's .pkl files (give --model then). The model reads "
            "every word of --start, then samples the next words; <eos> is printed as "
            "'.' and a line break, as in the book. Python: fastlstm.generate_text(...)."
        ),
        formatter_class=_Formatter,
        parents=[common],
    )
    add = p.add_argument
    add("--checkpoint", required=True, metavar="PATH", help="model file (.npz or .pkl)")
    add("--model", choices=list(LM_MODELS), help="model of a book .pkl file")
    add("--start", default="the meaning of life is", metavar="TEXT",
        help="words to start with (default: %(default)r)")  # fmt: skip
    add("--length", type=_positive_int, default=100, metavar="N",
        help="number of words to generate after TEXT (default: %(default)s)")  # fmt: skip
    add("--temperature", type=_positive_float, default=1.0, metavar="T",
        help="divide the scores by T before sampling; < 1 is more conservative (default: 1)")  # fmt: skip
    add("--top-k", type=_positive_int, metavar="K", help="sample among the K likeliest words only")
    add("--greedy", action="store_true", help="always take the likeliest word")
    add("--skip", default=None, metavar="WORDS", help="words never generated, separated by "
        "spaces (default: 'N <unk> $' as the book; '<unk>' for models of a text file); "
        r"characters may be escapes: \n, \t, \x20 (a space)")  # fmt: skip
    add("--seed", type=_nonneg_int, metavar="N", help="seed of the sampling")
    p.set_defaults(func=_cmd_generate)


def _add_eval(sub, common) -> None:
    p = sub.add_parser(
        "eval",
        help="test perplexity of a language model, accuracy of a seq2seq model",
        description=(
            "Evaluate a model file: a language model's perplexity on a split of PTB or of its "
            "text (batch 10, time 35, as the book) or on a --text file; a seq2seq model's "
            "exact-match accuracy on the test split of the data it was trained on (recorded in "
            "the checkpoint; --data chooses others). Python: fastlstm.evaluate(...)."
        ),
        formatter_class=_Formatter,
        parents=[common],
    )
    add = p.add_argument
    add("--checkpoint", required=True, metavar="PATH", help="model file (.npz or .pkl)")
    add("--model", choices=list(ALL_MODELS), help="model of a book .pkl file")
    add("--split", choices=("test", "val", "train"), default="test",
        help="split of a language model's data (default: %(default)s)")  # fmt: skip
    add("--max-words", type=_nonneg_int, metavar="N", help="evaluate on the first N words only")
    add("--text", metavar="PATH", help="language models: the perplexity of this text file, "
        "its tokens the model does not know read as <unk> (their share printed)")  # fmt: skip
    add("--data", metavar="NAME|PATH",
        help="seq2seq data: 'addition', 'date' or a file (default: the training data)")  # fmt: skip
    add("--reverse", action=argparse.BooleanOptionalAction, default=None,
        help="the seq2seq model of a .pkl reads reversed questions")  # fmt: skip
    add("--limit", type=_positive_int, metavar="N", help="evaluate the first N test questions only")
    add("--show", type=_nonneg_int, metavar="N", help="seq2seq questions to print (default: 3)")
    add("--encoding", metavar="ENC", help="encoding of a --text file or a --data file of pairs")
    p.set_defaults(func=_cmd_eval)


def _add_translate(sub, common) -> None:
    p = sub.add_parser(
        "translate",
        help="decode questions with a trained seq2seq model",
        description=(
            "Decode questions with a seq2seq model trained by 'fastlstm train' (vocabulary, "
            "widths and reversal are read from the checkpoint), or with the book's "
            "AttentionSeq2seq.pkl (--model attention). Each answer is followed by the "
            "model's confidence (the probability of the whole answer); a warning says when a "
            "question is unlike the training questions or the confidence is below 50%. A "
            "question not answered (unknown characters) gets an empty line and its error on "
            "stderr (exit status 1). Python: fastlstm.translate(...)."
        ),
        epilog="example:\n  fastlstm translate --checkpoint runs/attention/best.npz 'Mar 25, 2003'",
        formatter_class=_Formatter,
        parents=[common],
    )
    add = p.add_argument
    add("--checkpoint", required=True, metavar="PATH", help="model file (.npz or .pkl)")
    add("text", nargs="*", metavar="TEXT", help="question(s), e.g. 'Mar 25, 2003'")
    add("--file", metavar="PATH", help="questions one per line, after any TEXT, '-' for "
        "standard input (one answer line per line)")  # fmt: skip
    add("--encoding", metavar="ENC", help="encoding of the --file (utf-8)")
    add("--model", choices=list(SEQ_MODELS), help="model of a book .pkl file")
    add("--data", metavar="NAME|PATH", help="data of a .pkl model (its vocabulary)")
    add("--reverse", action=argparse.BooleanOptionalAction, default=None,
        help="the model of a .pkl reads reversed questions")  # fmt: skip
    p.set_defaults(func=_cmd_translate)


def build_parser() -> argparse.ArgumentParser:
    """Build the ``fastlstm`` argument parser (subcommands train, generate, eval, translate).

    The documentation's command-line reference is generated from it.

    Returns
    -------
    argparse.ArgumentParser
        The parser; ``parser.parse_args(argv)`` gives the namespace :func:`main` runs.
    """
    common = _common_parent()
    parser = _Parser(
        prog=PROG,
        formatter_class=_Formatter,
        description=(
            "Train and use the recurrent models of 'Deep Learning from Scratch 2' "
            "(chapters 5-8) fast on a CPU."
        ),
        epilog=(
            "models:\n"
            + "".join(f"  {n:<14}{s['class']} ({s['script']})\n" for n, s in ALL_MODELS.items())
            + "\nexamples:\n"
            "  fastlstm train rnnlm                      # ch06 train_rnnlm.py on PTB\n"
            "  fastlstm generate --checkpoint runs/rnnlm/best.npz --start 'the meaning of life is'\n"
            "  fastlstm train attention                  # ch08 on date.txt\n"
            "  fastlstm translate --checkpoint runs/attention/best.npz 'Mar 25, 2003'\n"
            "\n"
            "data are read from $FASTLSTM_DATA (ptb/, sequence/, book-weights/) or --data-dir.\n"
            "the same in Python: fastlstm.train(...), evaluate, translate, generate_text.\n"
            "run 'fastlstm COMMAND --help' for the options of a command."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_train(sub, common)
    _add_generate(sub, common)
    _add_eval(sub, common)
    _add_translate(sub, common)
    return parser


# --------------------------------------------------------------------------- #
# commands: call the API, print
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
def _terminate_as_interrupt():
    """SIGTERM as Ctrl-C (training saves; before it, files and helpers are cleaned up)."""
    ours = threading.current_thread() is threading.main_thread()
    if not ours or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _env(args) -> dict:
    return {"data_dir": getattr(args, "data_dir", None), "threads": getattr(args, "threads", None)}


_TRAIN_KEYS = (
    "epochs", "batch_size", "wordvec", "hidden", "lr", "max_grad", "seed", "time_size",
    "dropout", "lr_decay", "max_words", "data", "reverse", "target_accuracy", "limit", "show",
    *OWN_DATA["keys"])  # fmt: skip


def _cmd_train(args) -> int:
    from fastlstm.api import train

    settings = {k: getattr(args, k) for k in _TRAIN_KEYS if getattr(args, k, None) is not None}
    train(
        args.model,
        out=args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        **settings,
        **_env(args),
    )
    return 0


def _cmd_generate(args) -> int:
    from fastlstm.api import generate_text

    _say(
        generate_text(
            args.checkpoint,
            args.start,
            length=args.length,
            temperature=args.temperature,
            top_k=args.top_k,
            greedy=args.greedy,
            skip=args.skip,
            seed=args.seed,
            model=args.model,
            **_env(args),
        )
    )
    return 0


def _cmd_eval(args) -> int:
    from fastlstm.api import evaluate

    keys = ("model", "split", "max_words", "text", "data", "reverse", "limit", "show", "encoding")
    result = evaluate(args.checkpoint, **{k: getattr(args, k) for k in keys}, **_env(args))
    if result.metric == "perplexity":
        what = f"{args.split} perplexity" if args.text is None else f"perplexity of {args.text}"
        _say(f"{what}: {result.value:.2f}")
    else:
        _say(f"test accuracy: {result.value * 100:.3f}% ({result.size} questions)")
    for line in result.more_lines():  # unknown tokens of --text; error rate, AUC of pairs
        _say(line)
    return 0


def _cmd_translate(args) -> int:
    from fastlstm.api import translate
    from fastlstm.datasets.text import read_lines

    texts = list(args.text)
    if args.file is not None:
        texts += read_lines(args.file, args.encoding or "utf-8")
    elif args.encoding is not None:
        raise ValueError("--encoding: only for a file of questions given with --file")
    if not texts:
        raise ValueError("no questions: give them as TEXT arguments or with --file PATH")
    kw = {"model": args.model, "data": args.data, "reverse": args.reverse}
    answers = translate(args.checkpoint, texts, **kw, **_env(args))
    for a in answers:  # one line per question on stdout, errors on stderr
        sure = "" if math.isnan(a.confidence) else f"  (confidence {a.confidence:.1%})"
        _say(f"{a.answer}{sure}")
        if not a.ok:
            print(f"{PROG}: error: {a.question!r}: {a.error}", file=sys.stderr, flush=True)
        for note in a.warnings:
            _warn(note)
    return 0 if all(a.ok for a in answers) else 1


# --------------------------------------------------------------------------- #
# entry point
# --------------------------------------------------------------------------- #
def _one_line(exc: BaseException) -> str:
    if isinstance(exc, RunError | ValueError | OSError | TypeError | LookupError):
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
    from fastlstm.api import TrainingInterrupted

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, bad flags
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    debug = bool(getattr(args, "debug", False))
    try:
        with _warnings_as_lines(), _terminate_as_interrupt():
            return int(args.func(args) or 0)
    except TrainingInterrupted as exc:
        print(f"{PROG}: {exc.message}", file=sys.stderr, flush=True)
        return 130
    except KeyboardInterrupt:
        # (an interrupted training says above what it saved; this one came before or after)
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  (one line, no traceback, unless --debug)
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
