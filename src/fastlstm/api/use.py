"""Using trained models: :func:`evaluate`, :func:`translate` and :func:`generate_text`."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from fastlstm import _notebook, evaluation
from fastlstm.api import _util as u
from fastlstm.api import data as d
from fastlstm.api import owndata
from fastlstm.api.loading import load_model
from fastlstm.api.specs import (
    ALL_MODELS,
    BOOK_DATA,
    EVAL_BATCH_SIZE,
    EVAL_TIME_SIZE,
    LM_MODELS,
    SEQ_MODELS,
    RunError,
)
from fastlstm.datasets.sequence import Vocab
from fastlstm.datasets.text import TokenVocab
from fastlstm.evaluation import _encode_question, _generate

__all__ = ["evaluate", "translate", "generate_text", "Evaluation", "Translation"]


@dataclass
class Evaluation:
    """The result of :func:`evaluate`.

    Attributes
    ----------
    metric : str
        ``'perplexity'`` (language models) or ``'accuracy'`` (seq2seq, a fraction).
    value : float
    size : int
        Words or questions evaluated.
    data : str
        What was evaluated (PTB split, or the file / generator of the questions).
    char_error_rate : float or None
        Models trained on a file of pairs: edits per target character (or word).
    confidence_auc : float or None
        Models trained on a file of pairs: how well the confidence of
        :func:`translate` ranks right answers above wrong ones (area under the
        ROC curve; 0.5 is chance, 1 perfect).
    unk_rate : float or None
        A language model on a file given as ``text``: the share of its tokens
        outside the model's vocabulary, each read as ``<unk>`` (perplexities
        compare only between texts with about the same share).
    """

    metric: str
    value: float
    size: int
    data: str
    char_error_rate: float | None = None
    confidence_auc: float | None = None
    unk_rate: float | None = None

    def more_lines(self) -> list[str]:
        """Lines for the measures beyond ``metric``.

        Returns
        -------
        list of str
            The share of unknown tokens (a language model on a file given as
            ``text``), the character error rate and the confidence AUC (models
            trained on pairs), when measured.
        """
        out = []
        if self.unk_rate is not None:
            out.append(f"tokens the model does not know (read as <unk>): {self.unk_rate:.2%}")
        if self.char_error_rate is not None:
            out.append(f"character error rate: {self.char_error_rate:.4f}")
        if self.confidence_auc is not None and not math.isnan(self.confidence_auc):
            out.append(
                f"confidence AUC (right answers above wrong ones): {self.confidence_auc:.3f}"
            )
        return out


@dataclass
class Translation:
    """One answer of :func:`translate`.

    Attributes
    ----------
    question, answer : str
        The answer is ``''`` when the question could not be answered (see ``error``).
    confidence : float
        The probability the model gives the whole answer it decoded: the
        product of its characters' probabilities (0-1; the end symbol counts
        for models trained on pairs).  One unsure character is enough to make
        it low; NaN if there is no answer.
    char_probs : ndarray
        The probability of each decoded character (book data: the answer
        width, padding included; pairs: the answer and its end symbol).
    warnings : list of str
        Why the answer may not be trusted (input unlike the training data, low confidence).
    error : str or None
        Why there is no answer (characters the model does not know, a
        question too long ...), or None.
    """

    question: str
    answer: str
    confidence: float
    char_probs: np.ndarray = field(repr=False)
    warnings: list = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True if the question was answered."""
        return self.error is None


# --------------------------------------------------------------------------- #
# evaluate
# --------------------------------------------------------------------------- #
def _lm_vocab(loaded, id_to_word=None) -> list[str]:
    """The vocabulary of a language model (its own, or the PTB's for the book's .pkl)."""
    vocab = loaded.extra.get("vocab")
    if not vocab:
        if id_to_word is None:
            id_to_word = d.ptb("train", 0)[2]
        vocab = [id_to_word[i] for i in range(len(id_to_word))]
    V = loaded.model.params[0].shape[0]
    if len(vocab) != V:
        raise RunError(f"{loaded.path}: the model has {V} words, the vocabulary {len(vocab)}")
    return list(vocab)


def _lm_token_vocab(loaded) -> TokenVocab:
    """A language model's vocabulary as a :class:`~fastlstm.datasets.text.TokenVocab`.

    Models of a text file record theirs; PTB models have the PTB's words, whose
    ``<unk>`` stands for every other word.
    """
    meta = loaded.extra.get("text")
    if meta:
        return TokenVocab.from_meta(meta["vocab"])
    try:
        return TokenVocab(_lm_vocab(loaded), "word")
    except ValueError as exc:
        raise RunError(f"{loaded.path}: its vocabulary cannot read a text ({exc})") from None


def _check_same_vocab(loaded, ptb_vocab: list[str]) -> None:
    model_vocab = _lm_vocab(loaded, dict(enumerate(ptb_vocab)))
    if model_vocab == ptb_vocab:
        return
    diff = next(
        (i for i, (a, b) in enumerate(zip(model_vocab, ptb_vocab)) if a != b),
        min(len(model_vocab), len(ptb_vocab)),
    )
    where = u.current_data_dir() or "the cache"
    trained = loaded.extra.get("data_dir")
    hint = f" (it was trained with the data in {trained})" if trained else ""
    raise RunError(
        f"the PTB files ({where}) have another vocabulary than the model: {len(ptb_vocab)} "
        f"words against its {len(model_vocab)}, first difference at id {diff}; the "
        f"perplexity would be meaningless. Evaluate on the PTB the model was trained on{hint}"
    )


def _evaluate_lm(loaded, split, max_words, text, encoding, say, data_dir) -> Evaluation:
    """A language model on ``text``, on its own text's ``split`` or on the PTB's."""
    if text is not None:
        ppl, size, unk = owndata.evaluate_lm_file(
            loaded, _lm_token_vocab(loaded), text, encoding or "utf-8", say, max_words
        )
        return Evaluation("perplexity", ppl, size, str(text), unk_rate=unk)
    if loaded.extra.get("text"):
        return Evaluation("perplexity", *owndata.evaluate_text_lm(loaded, split, say, max_words))
    with _recorded_data_dir(loaded, data_dir):
        return _evaluate_ptb(loaded, split, max_words)


def _evaluate_ptb(loaded, split, max_words) -> Evaluation:
    corpus, _, id_to_word = d.ptb(split, max_words or 0)
    _check_same_vocab(loaded, [id_to_word[i] for i in range(len(id_to_word))])
    from fastlstm.engine import perplexity  # numba: loaded on first use

    ppl = perplexity(loaded.model, corpus, EVAL_BATCH_SIZE, EVAL_TIME_SIZE, reset_state=True)
    return Evaluation("perplexity", ppl, len(corpus), f"PTB {split}")


def _seq_data(loaded, data, reverse, limit, say):
    """Test questions for a seq2seq model: the data it was trained on unless ``data`` is given."""
    info = loaded.extra.get("seq2seq")
    if not (info and loaded.extra.get("vocab")):  # the book's .pkl: data from the arguments
        spec = SEQ_MODELS[loaded.name]
        rev = spec["reverse"] if reverse is None else reverse
        _, test, vocab, _ = d.sequence(data or spec["data"], rev, limit)
        V = loaded.model.params[0].shape[0]
        if len(vocab) != V:  # a .pkl records no characters: their number must agree
            raise RunError(
                f"{loaded.path}: the model has {V} characters, the data {vocab.source} "
                f"{len(vocab)}; they are not the data it was trained on (give them with --data, "
                "data=)"
            )
        return test, vocab, rev, vocab
    _warn_ignored(loaded, reverse=reverse is not None and bool(reverse) != info["reverse"])
    rev = info["reverse"]
    model_vocab = Vocab(loaded.extra["vocab"], source=info.get("source", "checkpoint"))
    source = info.get("data_source")
    if data is not None:
        _, test, vocab, _ = d.sequence(data, rev, limit)
    elif source is not None:
        _, test, vocab, _ = d.recorded_sequence(source, rev, limit)
        say(f"data: {d.describe_source(source)}, as in training (give --data / data= to choose)")
    else:
        _, test, vocab, _ = d.sequence(info["data"], rev, limit)
        if vocab != model_vocab:
            raise RunError(
                f"the data {info['data']} found now ({vocab.source}) are not those the model "
                f"was trained on ({info.get('source')}); give --data NAME|PATH (data=) to "
                "choose the data"
            )
    if vocab != model_vocab:
        raise RunError(
            f"the data {vocab.source} have other characters than the model's "
            f"({info.get('source')}); choose data in the model's format with --data (data=)"
        )
    return test, vocab, rev, model_vocab


def evaluate(
    checkpoint,
    *,
    model: str | None = None,
    split: str = "test",
    max_words: int | None = None,
    text=None,
    data=None,
    reverse: bool | None = None,
    limit: int | None = None,
    show: int | None = None,
    encoding: str | None = None,
    data_dir=None,
    threads: int | None = None,
    verbose: bool = True,
) -> Evaluation:
    """Test perplexity of a language model, or exact-match accuracy of a seq2seq model.

    A seq2seq model trained by :func:`fastlstm.train` is evaluated on the test
    split of the very data it was trained on (recorded in its checkpoint: the
    file and its content hash, or the generator and its seed), whatever
    ``FASTLSTM_DATA`` says now; ``data`` chooses other data.  A language model
    is refused on PTB files whose vocabulary differs from its own.

    Parameters
    ----------
    checkpoint : str or os.PathLike
        ``best.npz`` / ``last.ckpt.npz`` of a run, or one of the book's ``.pkl`` files.
    model : str, optional
        The model of a ``.pkl`` file (``'rnnlm'``, ``'attention'`` ...).
    split : {'test', 'val', 'train'}, default 'test'
        Split of a language model's data (PTB, or the text it was trained on).
    max_words : int, optional
        Language models: evaluate on the first ``max_words`` words (or
        characters) of the split (or of ``text``) only.
    text : str or os.PathLike, optional
        Language models: score this whole text file instead, cut into the
        model's tokens; those it does not know are read as ``<unk>`` (their
        share is ``Evaluation.unk_rate``).
    data : str or os.PathLike, optional
        Seq2seq data: ``'addition'``, ``'date'`` or a file path.
    reverse : bool, optional
        The ``.pkl`` seq2seq model reads reversed questions.
    limit : int, optional
        Seq2seq models: evaluate the first ``limit`` test questions only.
    show : int, optional
        Seq2seq models: questions printed with their answers when ``verbose``
        (default 3).
    encoding : str, optional
        Encoding of a file given as ``text``, or of a file of pairs given as
        ``data`` (default: UTF-8).
    data_dir : str or os.PathLike, optional
        Data directory (overrides ``FASTLSTM_DATA``).
    threads : int, optional
        Threads of the numba kernels.
    verbose : bool, default True
        Print the data used and the sample questions.

    Returns
    -------
    Evaluation
        ``metric``, ``value``, ``size`` and ``data``.

    Raises
    ------
    ValueError
        For a setting that does not apply to the checkpoint's kind of model
        (``data``, ``reverse``, ``limit``, ``show``, ``encoding`` without
        ``text`` or ``split`` with it for a language model; ``split``,
        ``max_words`` or ``text`` for a seq2seq model; ``encoding`` without a
        file of pairs as ``data``).
    RunError
        For data that are not the model's or changed since training, and for
        a ``text`` file that is missing, unreadable or under 351 tokens.
    """
    if split not in ("test", "val", "train"):
        raise ValueError(f"split must be 'test', 'val' or 'train', got {split!r}")
    u.check_flag("reverse", reverse, none_ok=True)
    u.check_flag("verbose", verbose)
    say = u.Printer(verbose)
    with u.data_dir(data_dir), u.numba_threads(threads):
        loaded = load_model(checkpoint, model, ALL_MODELS)
        _check_eval_settings(loaded, split=split, max_words=max_words, text=text, data=data,
                             reverse=reverse, limit=limit, show=show, encoding=encoding)  # fmt: skip
        show = 3 if show is None else show
        if loaded.name in LM_MODELS:
            return _evaluate_lm(loaded, split, max_words, text, encoding, say, data_dir)
        info = loaded.extra.get("seq2seq") or {}
        if info.get("format") == "pairs":
            return _evaluate_pairs(loaded, data, limit, show, say, encoding, reverse)
        (x_test, t_test), vocab, rev, _ = _seq_data(loaded, data, reverse, limit, say)
        out = {"show": show, "file": say.stream} if verbose else {"show": 0}
        acc = evaluation.seq2seq_accuracy(loaded.model, x_test, t_test, vocab, reverse=rev, **out)
    return Evaluation("accuracy", acc, len(x_test), str(vocab.source))


def _check_eval_settings(loaded, **given) -> None:
    """Refuse settings of :func:`evaluate` that do not apply to ``loaded`` (never ignored)."""
    lm = loaded.name in LM_MODELS
    if lm:
        kind = "a language model"
        unused = [k for k in ("data", "reverse", "limit", "show") if given[k] is not None]
        unused += ["encoding"] if given["encoding"] is not None and given["text"] is None else []
        hint = (
            "; a language model is evaluated on PTB, on the text it was trained on or on a "
            "text file given with text= (--text)"
        )
        if given["limit"] is not None:
            hint += ", max_words= (--max-words) takes its first words"
        if given["text"] is not None and given["split"] != "test":
            raise ValueError(
                "split= (--split): not a setting with text= (--text), whose whole file is "
                f"evaluated ({loaded.path})"
            )
    else:
        kind = "a seq2seq model"
        unused = ["split"] if given["split"] != "test" else []
        unused += [k for k in ("max_words", "text") if given[k] is not None]
        hint = "; a seq2seq model is scored on test questions, limit= (--limit) takes the first"
        if given["encoding"] is not None:
            info = loaded.extra.get("seq2seq") or {}
            if info.get("format") != "pairs":
                raise ValueError(
                    "encoding= (--encoding) is for files of pairs; the book's format is ASCII"
                )
            if given["data"] is None:
                raise ValueError(
                    "encoding= (--encoding) is for a file given with data= (--data); the "
                    "training data are read with their recorded encoding "
                    f"({info['data_source'].get('encoding', 'utf-8')})"
                )
    if unused:
        names = ", ".join(f"{k}= (--{k.replace('_', '-')})" for k in unused)
        raise ValueError(f"{names}: not a setting for {kind} ({loaded.path}){hint}")


def _warn_ignored(loaded, **ignored) -> None:
    """Warn that the settings true in ``ignored`` are not used: the checkpoint records its own."""
    names = [k for k, given in ignored.items() if given]
    if names:
        _notebook.warn(f"{'/'.join(names)} ignored: {loaded.path} records its own")


def _recorded_data_dir(loaded, data_dir):
    """The data directory a PTB model was trained with, when none is given now."""
    import contextlib
    import os
    from pathlib import Path

    saved = loaded.extra.get("data_dir")
    if data_dir is not None or os.environ.get("FASTLSTM_DATA") or not saved:
        return contextlib.nullcontext()
    if not Path(saved).is_dir():
        return contextlib.nullcontext()
    return u.data_dir(saved)


def _evaluate_pairs(loaded, data, limit, show, say, encoding=None, reverse=None) -> Evaluation:
    info = loaded.extra["seq2seq"]
    _warn_ignored(loaded, reverse=reverse is not None and reverse != info["reverse"])
    source = info["data_source"]
    vocab = TokenVocab.from_meta(info["vocab"])
    if isinstance(data, str) and data in BOOK_DATA:
        raise RunError(
            f"{loaded.path} was trained on a file of pairs; the book's {data!r} data are "
            "not in its format or vocabulary (give a file of pairs)"
        )
    cfg = {
        "data": data if data is not None else source["path"],
        "level": source["level"],
        "encoding": encoding or (source.get("encoding", "utf-8") if data is None else "utf-8"),
        "max_length": source.get("max_length", 200),
        "reverse": info["reverse"],
        "limit": limit,
    }
    if data is None:
        owndata._check_recorded(source["path"], source.get("sha256"), "pairs",
                                "; give a file of pairs with --data PATH (data=)")  # fmt: skip
        say(f"data: {source['path']}, as in training (give --data / data= to choose)")
    pairs, _ = owndata.pairs_data(cfg, vocab=vocab)
    score = owndata.pairs_accuracy(
        loaded.model, pairs.x_test, pairs.t_test, vocab, reverse=info["reverse"],
        show=show if say.verbose else 0, confidence=True,
        **({"file": say.stream} if say.verbose else {}),
    )  # fmt: skip
    return Evaluation(
        "accuracy", score.accuracy, score.size, cfg["data"],
        char_error_rate=score.char_error_rate, confidence_auc=score.confidence_auc,
    )  # fmt: skip


# --------------------------------------------------------------------------- #
# translate
# --------------------------------------------------------------------------- #
def _translate_settings(loaded, data, reverse):
    """Vocabulary, data info and training-question formats of a seq2seq model."""
    info = loaded.extra.get("seq2seq")
    if info and loaded.extra.get("vocab"):
        _warn_ignored(loaded, **{"data/reverse": data is not None or reverse is not None})
        return Vocab(loaded.extra["vocab"], source=info.get("source", "checkpoint")), info
    spec = SEQ_MODELS[loaded.name]
    spec_data = data or spec["data"]
    rev = spec["reverse"] if reverse is None else reverse
    (x_train, t_train), _, vocab, _ = d.sequence(spec_data, False, None)
    info = {
        "data": spec_data,
        "source": vocab.source,
        "reverse": rev,
        "question_width": int(x_train.shape[1]),
        "answer_width": int(t_train.shape[1]),
        "start_char": vocab.id_to_char[int(t_train[0, 0])],
        "question_shapes": d.question_shapes(x_train, vocab, False),
    }
    return vocab, info


def _char_probs(model, xs, start_id, ids) -> np.ndarray:
    """Probability of each decoded id ``ids`` (N, T_dec) to the questions ``xs`` (N, T_enc),
    from the decoder's scores with teacher forcing (``model.scores``): (N, T_dec)."""
    from fastlstm.models.sampling import softmax64  # numba: loaded on first use

    ts = np.concatenate([np.full((len(ids), 1), start_id), ids[:, :-1]], axis=1)  # (N, T_dec)
    p = softmax64(np.asarray(model.scores(xs, ts.astype(np.int32))))  # (N, T_dec, V)
    return np.take_along_axis(p, ids[:, :, None], axis=2)[:, :, 0]


def _input_warnings(text, info) -> list[str]:
    out = []
    shapes = info.get("question_shapes")
    shape = d.question_shape(text)
    if shapes and shape not in shapes:
        examples = ", ".join(repr(s) for s in shapes[:3])
        out.append(
            f"{text!r} is unlike the training questions: its format {shape!r} (9 = digits, "
            f"a = letters) is none of the {len(shapes)} seen in training (e.g. {examples})"
        )
    return out


def _translate_book(loaded, vocab, info, texts, batch: int = 256) -> list[Translation]:
    """Answers of a model of the book's format, ``batch`` questions decoded at a time.

    A question not answered gets a :class:`Translation` holding why.  Every question is
    padded to the training width, so the others in its batch change neither its answer nor,
    but for float rounding (a BLAS may round a row of a batch apart from a row alone), its
    confidence.
    """
    width, reverse = int(info["question_width"]), bool(info["reverse"])
    start_id = int(vocab.char_to_id[info["start_char"]])
    steps = int(info["answer_width"]) - 1
    out: list = [None] * len(texts)
    ok, rows = [], []
    for i, text in enumerate(texts):
        try:
            if not text.strip():
                raise ValueError("the question is empty")  # as for models of pairs: no answer
            rows.append(_encode_question(text, vocab, width, reverse)[0])
            ok.append(i)
        except ValueError as exc:
            out[i] = Translation(text, "", float("nan"), np.ones(0), [], error=str(exc))
    chars = vocab.id_to_char
    for k in range(0, len(ok), batch):
        xs = np.stack(rows[k : k + batch])  # (B, width)
        ids = _generate(loaded.model, xs, start_id, steps, {})  # (B, steps)
        probs = _char_probs(loaded.model, xs, start_id, ids)
        for j, i in enumerate(ok[k : k + batch]):
            p = probs[j]
            conf = float(np.prod(p))
            notes = _input_warnings(texts[i], info) + owndata.low_confidence_notes(texts[i], conf)
            answer = "".join(chars[int(c)] for c in ids[j]).rstrip()
            out[i] = Translation(texts[i], answer, conf, p, notes)
    return out


def _questions(texts) -> list[str]:
    """``texts`` (a str, or an iterable of str) as a list; TypeError for anything else."""
    if isinstance(texts, str):
        return [texts]
    try:
        out = list(texts)
    except TypeError:
        out = None
    if out is None or isinstance(texts, (bytes, bytearray)):
        raise TypeError(
            f"texts must be a question (str) or a list of them, got {type(texts).__name__}"
        )
    for t in out:
        if not isinstance(t, str):
            raise TypeError(f"texts must hold questions (str), got a {type(t).__name__}: {t!r}")
    return out


def translate(
    checkpoint,
    texts,
    *,
    model: str | None = None,
    data=None,
    reverse: bool | None = None,
    data_dir=None,
    threads: int | None = None,
) -> list[Translation]:
    """Answer questions (``'Mar 25, 2003'``, ``'16+75'``) with a trained seq2seq model.

    Each answer comes with the model's confidence (the probability it gives
    the whole answer, the product of its characters': one doubtful character
    is enough to doubt the answer) and warnings when the question is unlike the training
    data (another format than every training question, empty) or the
    confidence is below 50%.  A question that cannot be answered (characters
    the model does not know, too long) gets a result with its ``error`` and
    no answer; the other questions are answered.

    Models trained on a tab-separated file of pairs decode until their end
    symbol; they read unknown characters as nothing they know and refuse them.

    Parameters
    ----------
    checkpoint : str or os.PathLike
        ``best.npz`` of a run (vocabulary, widths and reversal are read from
        it), or the book's ``AttentionSeq2seq.pkl`` (give ``model``).
    texts : str or sequence of str
        The question(s).
    model : str, optional
        The model of a ``.pkl`` file (``'attention'`` ...).
    data : str, optional
        Data of a ``.pkl`` model (for its vocabulary and widths).
    reverse : bool, optional
        The ``.pkl`` model reads reversed questions.
    data_dir, threads : optional
        Data directory and kernel threads, as in :func:`train`.

    Returns
    -------
    list of Translation
        One per question, in order; ``error`` is set for those not answered.

    Raises
    ------
    RunError
        If the checkpoint cannot be used (missing, another model ...).
    """
    texts = _questions(texts)
    u.check_flag("reverse", reverse, none_ok=True)
    with u.data_dir(data_dir), u.numba_threads(threads):
        loaded = load_model(checkpoint, model, SEQ_MODELS)
        if (loaded.extra.get("seq2seq") or {}).get("format") == "pairs":
            _warn_ignored(loaded, **{"data/reverse": data is not None or reverse is not None})
            return owndata.translate_pairs(loaded, texts, Translation)
        vocab, info = _translate_settings(loaded, data, reverse)
        V = loaded.model.params[0].shape[0]
        if len(vocab) != V:
            raise RunError(
                f"{loaded.path}: the model has {V} characters, the vocabulary {len(vocab)}"
            )
        return _translate_book(loaded, vocab, info, texts)


# --------------------------------------------------------------------------- #
# generate_text
# --------------------------------------------------------------------------- #
def format_words(words: list[str]) -> str:
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


def _check_generate_args(start, skip, greedy, seed) -> None:
    """TypeError naming the argument of :func:`generate_text` that has a wrong type."""
    if not isinstance(start, str):
        raise TypeError(f"start must be a str of words, got {type(start).__name__}")
    if skip is not None and not (
        isinstance(skip, str)
        or (isinstance(skip, list | tuple) and all(isinstance(w, str) for w in skip))
    ):
        raise TypeError(
            f"skip must be a str of words separated by spaces or a list of str, got {skip!r}"
        )
    u.check_flag("greedy", greedy)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")


def generate_text(
    checkpoint,
    start: str = "the meaning of life is",
    *,
    length: int = 100,
    temperature: float = 1.0,
    top_k: int | None = None,
    greedy: bool = False,
    skip: str | list[str] | None = None,
    seed: int | None = None,
    model: str | None = None,
    data_dir=None,
    threads: int | None = None,
) -> str:
    """Text from a language model: it reads ``start``, then draws ``length`` more words.

    Parameters
    ----------
    checkpoint : str or os.PathLike
        ``best.npz`` of a language-model run, or the book's ``Rnnlm.pkl`` /
        ``BetterRnnlm.pkl`` (give ``model``; the vocabulary is the PTB's).
    start : str, default 'the meaning of life is'
        Words to start with (PTB models: all in the vocabulary).  A model of a
        text file cuts it as its training text (characters at character
        level); tokens it does not know are read as ``<unk>`` with a warning.
    length : int, default 100
        Words (characters, at character level) generated after ``start``.
    temperature : float, default 1.0
        Scores are divided by it before sampling; below 1 is more conservative.
    top_k : int, optional
        Draw among the ``top_k`` likeliest words only.
    greedy : bool, default False
        Always take the likeliest word.
    skip : str or list of str, optional
        Words never generated (the book's ``skip_ids``), separated by spaces,
        or a list of them; default ``'N <unk> $'`` for PTB models (the book's),
        ``'<unk>'`` for models of a text file.  At character level a list can
        name any character (``[' ', '\\n']``), and in the str an item starting
        with a backslash is a Python escape (``'\\n \\x20'``).
    seed : int, optional
        Seed of the draws.
    model : str, optional
        The model of a ``.pkl`` file.
    data_dir, threads : optional
        As in :func:`train`.

    Returns
    -------
    str
        ``start`` and the generated words; ``<eos>`` ends a line with ``'.'``
        (PTB) or is a line break (text files); characters are joined as they are.
    """
    from fastlstm.models.sampling import generate_words  # numba: loaded on first use

    _check_generate_args(start, skip, greedy, seed)
    with u.data_dir(data_dir), u.numba_threads(threads):
        loaded = load_model(checkpoint, model, LM_MODELS)
        if loaded.extra.get("text"):
            rng = np.random.default_rng(seed)
            return owndata.generate(loaded, start, length, skip, temperature, top_k, greedy, rng)
        skip = "N <unk> $" if skip is None else skip
        skip = skip.split() if isinstance(skip, str) else list(skip)
        vocab = _lm_vocab(loaded)
        word_to_id = {w: i for i, w in enumerate(vocab)}
        words = start.split()
        if not words:
            raise ValueError("start needs at least one word")
        unknown = [w for w in words if w not in word_to_id]
        if unknown:
            raise ValueError(f"start: words not in the vocabulary: {' '.join(unknown)}")
        start_ids = [word_to_id[w] for w in words]
        not_words = [w for w in skip if w not in word_to_id]
        if not_words:
            raise ValueError(f"skip: words not in the vocabulary: {' '.join(not_words)}")
        ids = generate_words(
            loaded.model,
            start_ids,
            length,
            skip_ids=[word_to_id[w] for w in skip],
            temperature=temperature,
            top_k=top_k,
            greedy=greedy,
            rng=np.random.default_rng(seed),
        )
    return format_words([vocab[i] for i in start_ids + ids])
