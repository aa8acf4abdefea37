"""Runs on one's own data: language models on a text file, seq2seq on a file of pairs.

The training sessions, :func:`fastlstm.evaluate`, :func:`fastlstm.translate`
and :func:`fastlstm.generate_text` call the functions here when a run's data is
a text file (``text=``) or a tab-separated file of pairs (``data=`` a ``.tsv``);
the book's paths (PTB, ``addition``/``date``) do not come here.

Checkpoints of such runs hold (in their metadata)::

    "text":     {"vocab": TokenVocab.to_meta(), "data_source": {...}}     (language models)
    "seq2seq":  {"format": "pairs", "vocab": TokenVocab.to_meta(), "data_source": {...},
                 "reverse": bool, "answer_steps": int, ...}                (pairs)

so a model is used from its checkpoint alone, and evaluated on the very data
it was trained on (the files are checked by their sha256).

Confidence of an answer: its *sequence probability*, the product of the
probabilities the decoder gives its tokens (the end symbol included).  A
single unsure character pulls it down, unlike the mean character probability
of earlier versions.  Measured with ``bench/confidence_auc.py`` it ranks right
answers above wrong ones at least as well as the least sure token's
probability (the other candidate), and flags more of the wrong answers at
:data:`LOW_CONFIDENCE`; it falls with the answer's length (a long answer of
sure characters scores lower), which suits the short answers of seq2seq data.
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fastlstm.api import _util as u
from fastlstm.api.specs import EVAL_BATCH_SIZE, EVAL_TIME_SIZE, RunError
from fastlstm.datasets import pairs as _pairs
from fastlstm.datasets import text as _text
from fastlstm.datasets.pairs import BOS_ID, EOS_ID, PAD_ID, decode_answers, encode_questions
from fastlstm.datasets.text import UNK, TokenVocab
from fastlstm.evaluation import _marks

__all__ = [
    "is_pairs_file",
    "lm_text_data",
    "pairs_data",
    "decode_pairs",
    "answer_probs",
    "pairs_accuracy",
    "confidence_auc",
    "char_error_rate",
    "LOW_CONFIDENCE",
]

#: below this probability (of the whole answer) an answer is flagged as unsure
LOW_CONFIDENCE = 0.5


def low_confidence_notes(text: str, conf: float) -> list[str]:
    """The warning for an answer to ``text`` with confidence ``conf`` below
    :data:`LOW_CONFIDENCE` (one line), or none."""
    if not conf < LOW_CONFIDENCE:
        return []
    return [
        f"low confidence for {text!r}: the model gives this answer a probability of "
        f"{conf:.1%} (below {LOW_CONFIDENCE:.0%})"
    ]


def _check_recorded(path: str, digest: str | None, what: str, hint: str = "") -> None:
    p = Path(path)
    if not p.is_file():
        raise RunError(f"the model was trained on {path}, which is not found ({what}){hint}")
    if digest is not None and u.sha256(p) != digest:
        raise RunError(
            f"the model was trained on {path}, whose content has changed since (its sha256 "
            f"differs); the {what} would not be the model's{hint}"
        )


# --------------------------------------------------------------------------- #
# language models
# --------------------------------------------------------------------------- #
def lm_text_data(cfg: dict, eval_tokens: int, vocab=None):
    """The corpora of a text run: ``(TextData, data_source)``.

    Raises
    ------
    RunError
        For bad or too small files (the message names the file and the line).
    """
    try:
        data = _text.load_text(
            cfg["text"],
            level=cfg["level"],
            vocab_size=cfg["vocab_size"],
            valid=cfg["valid"],
            test=cfg["test"],
            encoding=cfg["encoding"],
            vocab=vocab,
        )
        if vocab is None:
            _text.check_lm_sizes(data, cfg["batch_size"], cfg["time_size"], eval_tokens)
    except (ValueError, FileNotFoundError) as exc:
        raise RunError(str(exc)) from None
    source = dict(data.source)
    source["sha256"] = u.sha256(cfg["text"])
    for key in ("valid", "test"):
        if cfg.get(key):
            source[f"{key}_sha256"] = u.sha256(cfg[key])
    return data, source


def text_settings(source: dict) -> dict:
    """Settings of :func:`lm_text_data` that re-read recorded data."""
    return {
        "text": source["path"],
        "level": source["level"],
        "vocab_size": source.get("vocab_size"),
        "valid": source.get("valid"),
        "test": source.get("test"),
        "encoding": source.get("encoding", "utf-8"),
    }


def evaluate_text_lm(loaded, split: str, say, max_words=None):
    """Perplexity of a text-file language model on a split of its recorded data.

    ``max_words``: only the first that many tokens of the split (0 or None: all).
    """
    meta = loaded.extra["text"]
    source = meta["data_source"]
    _check_recorded(source["path"], source.get("sha256"), "text")
    for key in ("valid", "test"):
        if source.get(key):
            _check_recorded(source[key], source.get(f"{key}_sha256"), f"{key} text")
    vocab = TokenVocab.from_meta(meta["vocab"])
    data, _ = lm_text_data(text_settings(source), EVAL_BATCH_SIZE * EVAL_TIME_SIZE, vocab)
    corpus = {"test": data.test, "val": data.valid, "train": data.train}[split]
    say(f"data: {source['path']} ({source['level']} level), as in training")
    ppl = _perplexity(loaded.model, corpus, max_words, f"the {split} split", source["level"])
    return ppl, min(len(corpus), max_words or len(corpus)), f"{source['path']} {split}"


def evaluate_lm_file(loaded, vocab, path, encoding, say, max_words=None):
    """Perplexity of a language model on a whole text file cut into ``vocab``'s tokens.

    Tokens outside the vocabulary are its ``<unk>``.  Returns
    ``(perplexity, tokens, unk_rate)``; ``max_words``: only the first that many tokens.
    """
    path = u.existing_file(path, "text file")
    try:
        ids = _text.encode_file(path, vocab, encoding)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    say(f"data: {path} ({vocab.level} level)")
    ppl = _perplexity(loaded.model, ids, max_words, str(path), vocab.level)
    ids = ids[:max_words] if max_words else ids
    return ppl, len(ids), float(np.count_nonzero(ids == vocab.unk_id)) / len(ids)


def _perplexity(model, corpus, max_words, what: str, level: str) -> float:
    """The book's perplexity (batch 10, time 35) of ``corpus[:max_words]``, from a reset state."""
    from fastlstm.trainer import eval_perplexity  # the models and kernels: at use

    if max_words:
        corpus = corpus[:max_words]
    need = EVAL_BATCH_SIZE * EVAL_TIME_SIZE + 1
    if len(corpus) < need:
        which = f"max_words={max_words}:" if max_words else f"{what}: {len(corpus)} {level}s,"
        raise RunError(
            f"{which} too few to evaluate (at least {need} {level}s: batch {EVAL_BATCH_SIZE} "
            f"x time {EVAL_TIME_SIZE} + 1)"
        )
    model.reset_state()
    try:
        return eval_perplexity(model, corpus, EVAL_BATCH_SIZE, EVAL_TIME_SIZE)
    finally:
        model.reset_state()


def _skip_tokens(skip, level: str) -> list[str]:
    """The tokens of ``skip``: a list as given, a str cut at spaces.

    At character level an item of the str that starts with a backslash is an
    escape (``\\n``, ``\\t``, ``\\r``, ``\\\\``, ``\\xHH``, ``\\uHHHH``; a space is
    ``\\x20``), so that every character can be named on a command line.
    """
    if not isinstance(skip, str):
        return list(skip)
    items = skip.split()
    if level != "char":
        return items
    out = []
    for item in items:
        if item.startswith("\\"):
            code = _ESCAPE.fullmatch(item)
            if code is None:
                raise ValueError(
                    f"skip: {item!r} is not an escape of a character: use \\n, \\t, \\r, "
                    "\\\\, \\xHH or \\uHHHH (\\x20 is a space)"
                )
            item = _ESCAPES.get(item) or chr(int(code.group(1) or code.group(2), 16))
        out.append(item)
    return out


_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\r": "\r", "\\\\": "\\"}
_ESCAPE = re.compile(r"\\[ntr\\]|\\x([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})")


def generate(loaded, start, length, skip, temperature, top_k, greedy, rng) -> str:
    """Text from a text-file language model, from its checkpoint alone."""
    from fastlstm.models.sampling import generate_words  # the kernels: at use

    vocab = TokenVocab.from_meta(loaded.extra["text"]["vocab"])
    V = loaded.model.params[0].shape[0]
    if len(vocab) != V:
        raise RunError(f"{loaded.path}: the model has {V} tokens, the vocabulary {len(vocab)}")
    tokens = vocab.split(start)
    if not tokens:
        raise ValueError(f"start needs at least one {vocab.level}")
    unknown = vocab.unknown(start)
    if unknown:
        warnings.warn(
            f"start: {len(unknown)} {vocab.level}(s) not in the model's vocabulary, read as "
            f"{UNK}: {' '.join(repr(t) for t in unknown[:10])}",
            UserWarning,
            stacklevel=3,
        )
    start_ids = vocab.encode(tokens).tolist()
    skip_words = [UNK] if skip is None else _skip_tokens(skip, vocab.level)
    not_tokens = [w for w in skip_words if w not in vocab.token_to_id]
    if not_tokens:
        raise ValueError(
            f"skip: {vocab.level}s not in the model's vocabulary: "
            + " ".join(repr(w) for w in not_tokens[:10])
        )
    ids = generate_words(
        loaded.model,
        start_ids,
        length,
        skip_ids=[vocab.token_to_id[w] for w in skip_words],
        temperature=temperature,
        top_k=top_k,
        greedy=greedy,
        rng=rng,
    )
    if vocab.level == "char":  # the start as written, its unknown characters included
        return "".join(tokens) + vocab.decode(ids)
    return vocab.decode(start_ids + list(ids))


# --------------------------------------------------------------------------- #
# pairs
# --------------------------------------------------------------------------- #
def is_pairs_file(spec) -> bool:
    """True if ``spec`` is a file whose first non-blank line holds a tab."""
    p = Path(str(spec)).expanduser()
    if not p.is_file():
        return False
    with open(p, "rb") as f:
        for raw in f:
            if raw.strip().removeprefix(b"\xef\xbb\xbf").strip():  # a UTF-8 BOM is no content
                return b"\t" in raw
            if f.tell() > 1 << 20:
                break
    return False


def pairs_data(cfg: dict, vocab=None):
    """``(PairData, data_source)`` of a run on a file of pairs.

    With ``vocab`` (a trained model's), a file with a token outside it is
    refused (the model could not read it, nor give answers that hold it).
    """
    try:
        data = _pairs.load_pairs(
            cfg["data"],
            level=cfg["level"],
            encoding=cfg["encoding"],
            max_length=cfg["max_length"],
            reverse=bool(cfg["reverse"]),
            vocab=vocab,
            unknown="unk" if vocab is None else "error",
        )
    except (ValueError, FileNotFoundError) as exc:
        raise RunError(str(exc)) from None
    if not len(data.x_test):
        raise RunError(
            f"{cfg['data']}: {len(data.x_train)} pair(s) leave none to hold out for testing; "
            "a file of pairs needs at least 2 (10% of them, at least one, are the test pairs)"
        )
    source = dict(data.source)
    source["sha256"] = u.sha256(cfg["data"])
    data.vocab.source = source["path"]
    if cfg.get("limit"):
        n = cfg["limit"]
        data.x_train, data.t_train = data.x_train[:n], data.t_train[:n]
        data.x_test, data.t_test = data.x_test[:n], data.t_test[:n]
    return data, source


def pairs_info(data, source, reverse) -> dict:
    """What a checkpoint records of a run on pairs."""
    return {
        "format": "pairs",
        "data": source["path"],
        "source": source["path"],
        "data_source": source,
        "vocab": data.vocab.to_meta(),
        "level": data.vocab.level,
        "reverse": bool(reverse),
        "pad_id": _pairs.PAD_ID,
        "start_id": _pairs.BOS_ID,
        "end_id": _pairs.EOS_ID,
        # tokens of the longest training answer + its end symbol (translate allows more)
        "answer_steps": int(data.t_train.shape[1] - 1),
        "question_tokens": int(data.x_train.shape[1]),
    }


def trim_padding(x, t, pad_id):
    """Drop the columns of a batch that hold only padding (the answers do not change)."""
    keep_x = int(np.flatnonzero((x != pad_id).any(axis=0)).max(initial=0)) + 1
    keep_t = int(np.flatnonzero((t != pad_id).any(axis=0)).max(initial=1)) + 1
    return x[:, :keep_x], t[:, :keep_t]


class TrimmedBatches:
    """A batch source whose batches lose their columns of padding only (:func:`trim_padding`)."""

    def __init__(self, inner, pad_id):
        self.inner, self.pad_id = inner, pad_id

    def __len__(self) -> int:
        return len(self.inner)

    def start_epoch(self, iteration=0) -> None:
        self.inner.start_epoch(iteration)

    def batch(self, iteration):
        x, t = self.inner.batch(iteration)
        return trim_padding(x, t, self.pad_id)


def _lengths(x, pad_id):
    real = x != pad_id
    return x.shape[1] - np.argmax(real[:, ::-1], axis=1)


_SCORES_MAX = 1 << 22  # scores per batch of answer_probs: 32 MB in float64


def _length_batches(lengths, batch: int, keep=None, rows=None, max_cells: int = 0):
    """Batches of questions of similar lengths, as models of pairs decode and score them.

    The questions (those with ``keep[n]`` true, if given) in the stable order of
    ``lengths``, cut into batches of at most ``batch``.  With ``rows(n)`` (the rows a
    question pads its batch to) a batch also ends before its number of questions times
    their largest ``rows`` would exceed ``max_cells``; its first question always goes in.  Yields ``(idx, w)``:
    the questions' indices and the length of the longest.
    """
    order = np.argsort(lengths, kind="stable").tolist()
    if keep is not None:
        order = [n for n in order if keep[n]]
    i = 0
    while i < len(order):
        idx = [order[i]]
        T = rows(order[i]) if rows is not None else 0
        for n in order[i + 1 : i + batch]:
            if rows is not None:
                T_n = max(T, rows(n))
                if (len(idx) + 1) * T_n > max_cells:
                    break
                T = T_n
            idx.append(n)
        i += len(idx)
        yield idx, int(lengths[idx].max())


def decode_pairs(model, x, steps: int, batch: int = 256) -> np.ndarray:
    """Greedy answers ``(N, steps)`` to padded questions ``x (N, T)``, in batches of similar lengths."""
    out = np.full((len(x), steps), EOS_ID, dtype=np.int64)
    for idx, w in _length_batches(_lengths(x, PAD_ID), batch):
        out[idx] = model.generate_batch(x[idx, :w], BOS_ID, steps, end_id=EOS_ID)
    return out


def _answer_tokens(ids_row, end_id):
    row = list(ids_row)
    return row[: row.index(end_id)] if end_id in row else row


def answer_probs(
    model, x, answers: list[list[int]], ended: list[bool], batch: int = 256
) -> list[np.ndarray]:
    """Probability the model gives each token of each answer (and its end symbol).

    Teacher forcing on ``[<s>, answer]``: the same scores as greedy decoding saw.
    The questions are scored up to ``batch`` at a time, in batches of similar
    lengths (as :func:`decode_pairs` decodes them) holding at most ``_SCORES_MAX``
    scores: a question's probabilities agree with those it gets alone to float
    rounding (about 1e-6 in float32), not bit for bit.
    """
    from fastlstm.models.sampling import softmax64  # the kernels: at use

    targets = [[*a, EOS_ID] if e else list(a) for a, e in zip(answers, ended, strict=True)]
    out = [np.ones(0)] * len(targets)
    V = int(model.params[0].shape[0])
    batches = _length_batches(
        _lengths(x, PAD_ID), batch, keep=targets, rows=lambda n: len(targets[n]),
        max_cells=_SCORES_MAX // V,
    )  # fmt: skip
    for idx, w in batches:
        T = max(len(targets[n]) for n in idx)
        dec = np.full((len(idx), T), PAD_ID, dtype=np.int32)  # (B, T_dec)
        for k, n in enumerate(idx):  # padded on the right: after every real input
            dec[k, : len(targets[n])] = [BOS_ID, *targets[n][:-1]]
        p = softmax64(np.asarray(model.scores(x[idx, :w], dec)))  # (B, T_dec, V)
        for k, n in enumerate(idx):
            out[n] = p[k, np.arange(len(targets[n])), targets[n]]
    return out


def edit_distance(a, b) -> int:
    """Levenshtein distance between two sequences."""
    if a == b:
        return 0
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_error_rate(answers, targets) -> float:
    """Edits (insertions, deletions, substitutions) per target token, over all pairs."""
    edits = sum(edit_distance(a, t) for a, t in zip(answers, targets, strict=True))
    return edits / max(sum(len(t) for t in targets), 1)


def confidence_auc(confidence, correct) -> float:
    """Area under the ROC curve of ``confidence`` ranking right answers above wrong ones.

    The probability that a right answer has a higher confidence than a wrong
    one (ties count half); NaN if all answers are right or all wrong.
    """
    c = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    n1, n0 = int(ok.sum()), int((~ok).sum())
    if not n1 or not n0:
        return math.nan
    from scipy.stats import rankdata

    r = rankdata(c)
    return float((r[ok].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


@dataclass
class PairsScore:
    """Exact-match accuracy, error rate and confidence ranking of a model on pairs."""

    accuracy: float
    char_error_rate: float
    confidence_auc: float
    size: int
    answers: list = field(default_factory=list, repr=False)


def pairs_accuracy(
    model, x, t, vocab, *, reverse=False, show=0, file=None, confidence=False
) -> PairsScore:
    """Decode the questions ``x`` and compare with the answers ``t`` (``<s> ... </s>``).

    Returns
    -------
    PairsScore
        ``accuracy`` (exact match), ``char_error_rate`` (edits per target token)
        and, if ``confidence``, the AUC of the confidence (sequence probability).
    """
    steps = int(t.shape[1] - 1)
    out = decode_pairs(model, x, steps)
    got = [_answer_tokens(row, EOS_ID) for row in out.tolist()]
    want = [_answer_tokens(row[1:], EOS_ID) for row in t.tolist()]
    correct = [g == w for g, w in zip(got, want, strict=True)]
    acc = float(np.mean(correct)) if correct else 0.0
    cer = char_error_rate(got, want)
    auc = math.nan
    if confidence:
        ended = [EOS_ID in row for row in out.tolist()]
        probs = answer_probs(model, x, got, ended)
        conf = [float(np.prod(p)) for p in probs]
        auc = confidence_auc(conf, correct)
    if show:
        texts_q = decode_answers(vocab, _unreverse(x[:show], reverse))
        texts_a = decode_answers(vocab, out[:show])
        texts_t = decode_answers(vocab, t[:show, 1:])
        f = file or sys.stdout
        good, bad = _marks(f)  # the book's ☑/☒, as for its data sets
        for q, a, w in zip(texts_q, texts_a, texts_t, strict=True):
            print(f"Q {q}\nT {w}\n{good if a == w else bad} {a}\n---", file=f)
    return PairsScore(acc, cer, auc, len(x), got)


def _unreverse(x, reverse):
    if not reverse:
        return x
    out = np.full_like(x, PAD_ID)
    for n, L in enumerate(_lengths(x, PAD_ID)):
        out[n, :L] = x[n, :L][::-1]
    return out


# --------------------------------------------------------------------------- #
# translate
# --------------------------------------------------------------------------- #
def translate_pairs(loaded, texts, translation_cls):
    """Answers of a pairs model to ``texts``, one :class:`Translation` each (errors kept)."""
    info = loaded.extra["seq2seq"]
    vocab = TokenVocab.from_meta(info["vocab"])
    V = loaded.model.params[0].shape[0]
    if len(vocab) != V:
        raise RunError(f"{loaded.path}: the model has {V} tokens, the vocabulary {len(vocab)}")
    if loaded.model.pad_id != PAD_ID:
        loaded.model.pad_id = PAD_ID
    results: list = [None] * len(texts)
    ok = []
    for i, text in enumerate(texts):
        unknown = vocab.unknown(text) or [t for t in vocab.split(text) if t in _pairs.SPECIALS]
        if not vocab.split(text):
            results[i] = translation_cls(text, "", math.nan, np.ones(0), [],
                                         error="the question is empty")  # fmt: skip
        elif "\n" in text or "\r" in text:  # pairs are lines: no model saw a line break
            results[i] = translation_cls(text, "", math.nan, np.ones(0), [],
                                         error=f"{text!r} has a line break: a question is one line")  # fmt: skip
        elif unknown:
            what = "characters" if vocab.level == "char" else "words"
            results[i] = translation_cls(
                text, "", math.nan, np.ones(0), [],
                error=f"{text!r} has {what} the model does not know: "
                + ", ".join(repr(c) for c in unknown[:10]),
            )  # fmt: skip
        else:
            ok.append(i)
    if ok:
        x = encode_questions(vocab, [texts[i] for i in ok], reverse=bool(info["reverse"]))
        # each question's own budget, so that its answer does not depend on the others
        budget = np.maximum(int(info["answer_steps"]), 2 * _lengths(x, PAD_ID) + 2)
        steps = int(budget.max())
        out = decode_pairs(loaded.model, x, steps)  # greedy: the first k steps are k steps
        beyond = np.arange(steps)[None, :] >= budget[:, None]  # (N, steps)
        ended = ((out == EOS_ID) & ~beyond).any(axis=1).tolist()
        out[beyond] = EOS_ID  # each answer cut where it would be cut alone
        answers = [_answer_tokens(r, EOS_ID) for r in out.tolist()]
        probs = answer_probs(loaded.model, x, answers, ended)
        texts_out = decode_answers(vocab, out)
        for k, i in enumerate(ok):
            p = probs[k]
            conf = float(np.prod(p)) if len(p) else 0.0
            notes = []
            n_tokens, longest = len(vocab.split(texts[i])), info.get("question_tokens")
            if longest and n_tokens > longest:
                notes.append(
                    f"{texts[i]!r} is longer than every training question ({n_tokens} "
                    f"{vocab.level}s, the longest had {longest}): the answer may be wrong "
                    "however sure the model is"
                )
            if not ended[k]:
                notes.append(
                    f"no end symbol within {budget[k]} tokens for {texts[i]!r}: the answer is cut"
                )
            notes += low_confidence_notes(texts[i], conf)
            results[i] = translation_cls(texts[i], texts_out[k], conf, p, notes)
    return results
