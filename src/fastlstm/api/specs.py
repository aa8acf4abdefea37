"""The models the command line and :func:`fastlstm.train` know, with the book's settings."""

from __future__ import annotations

import numbers
from typing import Any

from fastlstm._validate import is_nonneg_int, is_positive_int, is_positive_number

__all__ = [
    "LM_MODELS",
    "SEQ_MODELS",
    "ALL_MODELS",
    "RunError",
    "settings",
    "check_setting",
]


class RunError(Exception):
    """A failure of a run or a command that is the user's to fix (bad file, folder in use ...)."""


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

_SEQ_COMMON = {"batch_size": 128, "wordvec": 16, "epochs": 25, "max_grad": 5.0, "lr": 0.001}
#: seq2seq models: class name and the hyperparameters of the book's script
SEQ_MODELS: dict[str, dict[str, Any]] = {
    "seq2seq": {  # ch07/train_seq2seq.py
        **_SEQ_COMMON,
        "class": "Seq2seq",
        "script": "ch07/train_seq2seq.py",
        "seed": "book",
        "data": "addition",
        "reverse": False,
        "hidden": 128,
    },
    "peeky": {  # ch07/train_seq2seq.py with PeekySeq2seq and is_reverse = True
        **_SEQ_COMMON,
        "class": "PeekySeq2seq",
        "script": "ch07/train_seq2seq.py with PeekySeq2seq and reversed input",
        "seed": "book",
        "data": "addition",
        "reverse": True,
        "hidden": 128,
    },
    "attention": {  # ch08/train.py
        **_SEQ_COMMON,
        "class": "AttentionSeq2seq",
        "script": "ch08/train.py",
        "seed": "book",
        "data": "date",
        "reverse": True,
        "hidden": 256,
        "epochs": 10,
    },
}
# not in the book: ch08/train.py with the bidirectional encoder its section 8.4 suggests
SEQ_MODELS["attention-bi"] = {
    **{k: v for k, v in SEQ_MODELS["attention"].items() if k != "seed"},
    "class": "AttentionBiSeq2seq",
    "script": "ch08/train.py with a bidirectional encoder",
}

ALL_MODELS = {**LM_MODELS, **SEQ_MODELS}
CLASS_TO_MODEL = {spec["class"]: name for name, spec in ALL_MODELS.items()}
CLASS_TO_MODEL.update({"RnnlmGen": "rnnlm", "BetterRnnlmGen": "better-rnnlm"})
BOOK_DATA = {"addition": "addition.txt", "date": "date.txt"}

#: settings that may differ from the checkpoint when resuming (the rest may not)
RESUME_MAY_CHANGE = {"epochs", "target_accuracy", "show"}

EVAL_BATCH_SIZE = 10  # eval_perplexity as the book calls it
EVAL_TIME_SIZE = 35
EVAL_INTERVAL = 20
BEST_FILE = "best.npz"
LAST_FILE = "last.ckpt.npz"
LOCK_FILE = ".fastlstm.lock"
#: version of the metadata a run writes into its checkpoints (key ``cli_format``)
RUN_FORMAT = 1


def settings(name: str) -> dict[str, Any]:
    """The training settings of model ``name`` with the book's values (``None``: not set).

    Parameters
    ----------
    name : str
        One of :data:`ALL_MODELS` (``'rnnlm'``, ``'attention'`` ...).

    Returns
    -------
    dict
        Setting name to default value; the keys are the keyword arguments of
        :func:`fastlstm.train` for this model.
    """
    if name not in ALL_MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(ALL_MODELS)}")
    spec = ALL_MODELS[name]
    cfg = {k: v for k, v in spec.items() if k not in ("class", "script")}
    cfg.setdefault("seed", None)
    if name in SEQ_MODELS:
        cfg.update(target_accuracy=None, limit=None, show=3)
        cfg.update(OWN_SEQ_SETTINGS)
    else:
        cfg.update(OWN_LM_SETTINGS)
    return cfg


#: language models on a text file of one's own (``text=None``: PTB)
OWN_LM_SETTINGS = {
    "text": None,
    "level": "word",
    "vocab_size": None,
    "valid": None,
    "test": None,
    "encoding": "utf-8",
}
#: seq2seq models on a tab-separated file of pairs (used when ``data`` is one)
OWN_SEQ_SETTINGS = {"level": "char", "encoding": "utf-8", "max_length": 200}
#: every setting of one's own data (keyword arguments of :func:`fastlstm.train`)
OWN_DATA_KEYS = (*OWN_LM_SETTINGS, "max_length")
# fmt: off
#: command-line flags of the settings above (checked by :func:`check_setting`)
OWN_DATA_FLAGS = {
    "text": (
        ("--text", {"metavar": "PATH", "help": "train on this text file (UTF-8 unless "
         "--encoding); validation and test are its last 5%% and 5%% unless --valid and "
         "--test are given"}),
        ("--level", {"choices": ("word", "char"), "help": "word: whitespace-separated words, "
         "a line end is <eos> (default); char: Unicode characters after NFC normalisation, "
         "the line end is one"}),
        ("--vocab-size", {"type": int, "metavar": "N",
                          "help": "keep the N most frequent tokens, <unk> included (all)"}),
        ("--valid", {"metavar": "PATH", "help": "validation text file"}),
        ("--test", {"metavar": "PATH", "help": "test text file"}),
        ("--encoding", {"metavar": "ENC", "help": "encoding of the files (utf-8)"}),
    ),
    "pairs": (
        ("--level", {"choices": ("char", "word"),
                     "help": "tokens of a file of pairs: characters (default) or words"}),
        ("--encoding", {"metavar": "ENC", "help": "encoding of a file of pairs (utf-8)"}),
        ("--max-length", {"type": int, "metavar": "N", "help": "skip (and count) the pairs "
                          "with a side longer than N tokens (200)"}),
    ),
}
# fmt: on
#: the command line's view of the above: flags of text and pairs runs, and every key
OWN_DATA = {**OWN_DATA_FLAGS, "keys": OWN_DATA_KEYS}
#: settings naming files: made absolute, so that a run can be resumed from elsewhere
PATH_SETTINGS = ("data", "text", "valid", "test")


def _off_or_positive(v):
    return (
        v is None
        or (isinstance(v, numbers.Real) and not isinstance(v, bool) and v == 0)
        or (is_positive_number(v))
    )


_CHECKS = {
    "epochs": (is_positive_int, "a positive integer"),
    "batch_size": (is_positive_int, "a positive integer"),
    "wordvec": (is_positive_int, "a positive integer"),
    "hidden": (is_positive_int, "a positive integer"),
    "time_size": (is_positive_int, "a positive integer"),
    "limit": (is_positive_int, "a positive integer"),
    "max_words": (is_nonneg_int, "an integer >= 0"),
    "show": (is_nonneg_int, "an integer >= 0"),
    "lr": (is_positive_number, "a positive number"),
    "max_grad": (_off_or_positive, "a positive number, or 0/None for no clipping"),
    "lr_decay": (_off_or_positive, "a positive number, or 0/None for no decay"),
    "dropout": (lambda v: is_positive_number(v + 1) and 0 <= v < 1, "a number in [0, 1)"),
    "target_accuracy": (lambda v: is_positive_number(v) and v <= 1, "a number in (0, 1]"),
    "reverse": (lambda v: isinstance(v, bool), "True or False"),
    "data": (lambda v: isinstance(v, str) and v != "", "'addition', 'date' or a file path"),
    "text": (lambda v: isinstance(v, str) and v != "", "the path of a text file"),
    "valid": (lambda v: isinstance(v, str) and v != "", "the path of a text file"),
    "test": (lambda v: isinstance(v, str) and v != "", "the path of a text file"),
    "level": (lambda v: v in ("word", "char"), "'word' or 'char'"),
    "encoding": (lambda v: isinstance(v, str) and _known_encoding(v), "a known text encoding"),
    "vocab_size": (lambda v: is_positive_int(v) and v >= 2, "an integer >= 2"),
    "max_length": (is_positive_int, "a positive integer"),
}


def _known_encoding(name: str) -> bool:
    import codecs

    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def check_setting(name: str, key: str, value):
    """Return ``value`` checked (and normalised) as setting ``key`` of model ``name``.

    Raises
    ------
    ValueError
        If the value is out of range or of the wrong kind.
    """
    if key == "seed":
        if value == "book" and ALL_MODELS[name].get("seed") == "book":
            return value
        if is_nonneg_int(value):
            return int(value)
        book = " or 'book'" if ALL_MODELS[name].get("seed") == "book" else ""
        raise ValueError(f"seed must be an integer >= 0{book}, got {value!r}")
    test, expected = _CHECKS[key]
    if hasattr(value, "__fspath__") and key in PATH_SETTINGS:
        value = str(value)
    try:
        ok = bool(test(value))
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{key} must be {expected}, got {value!r}")
    if key in ("max_grad", "lr_decay"):
        return float(value or 0.0)
    if key in ("lr", "dropout", "target_accuracy"):
        return float(value)
    if key in ("data", "reverse", "text", "valid", "test", "level", "encoding"):
        return value
    return int(value)
