"""Runs on one's own data through fastlstm.train and the command line: round trips and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import fastlstm
from fastlstm import cli
from fastlstm import io as fio
from fastlstm.api.specs import RunError

QUIET = {"progress": False, "verbose": False}
TINY_LM = {"epochs": 1, "hidden": 8, "wordvec": 8, "batch_size": 4, "time_size": 5, "seed": 0}
TINY_SEQ = {"epochs": 1, "hidden": 8, "wordvec": 8, "batch_size": 16, "seed": 0}


def _text(path, lines=800):
    rng = np.random.default_rng(0)
    words = "the cat sat on a mat and dog ran far away".split()
    body = "\n".join(" ".join(rng.choice(words, 6)) for _ in range(lines)) + "\n"
    path.write_text(body, encoding="utf-8")
    return path


def _pairs(path, n=300):
    rng = np.random.default_rng(1)
    lines = []
    for _ in range(n):
        s = "".join(rng.choice(list("abcde"), rng.integers(1, 9)))
        lines.append(f"{s}\t{s[::-1]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cli(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("model", ["rnnlm", "simple-rnnlm", "better-rnnlm"])
def test_char_model_round_trip_without_the_text(tmp_path, model):
    text = _text(tmp_path / "novel.txt")
    run = fastlstm.train(model, text=text, level="char", out=tmp_path / "r", **TINY_LM, **QUIET)
    meta = fio.load_checkpoint(run.best_path).extra
    assert meta["text"]["vocab"]["level"] == "char"
    assert meta["text"]["vocab"]["normalization"] == "NFC"
    assert meta["text"]["data_source"]["path"] == str(text.resolve())
    ev = fastlstm.evaluate(run.best_path, verbose=False)  # no flags: the recorded text
    assert ev.metric == "perplexity" and math.isfinite(ev.value)
    assert ev.value == pytest.approx(run.summary["test_perplexity"], rel=1e-6)
    text.rename(tmp_path / "moved.txt")
    out = fastlstm.generate_text(run.best_path, "the cat", length=30, seed=1)
    assert out.startswith("the cat") and len(out) == len("the cat") + 30  # chars, no spaces added
    with pytest.warns(UserWarning, match=r"1 char\(s\) not in the model's vocabulary.*'T'"):
        out = fastlstm.generate_text(run.best_path, "The cat", length=5, seed=1)
    assert out.startswith("The cat") and len(out) == len("The cat") + 5  # the start as written
    with pytest.raises(RunError, match="not found"):
        fastlstm.evaluate(run.best_path, verbose=False)


def test_word_model_unknown_prompt_words_and_cli(tmp_path, capsys):
    text = _text(tmp_path / "t.txt", lines=1200)
    out_dir = tmp_path / "w"
    code, _, err = _cli(
        capsys, "train", "rnnlm", "--text", text, "--level", "word", "--vocab-size", "6",
        "--epochs", "1", "--hidden", "8", "--wordvec", "8", "--batch-size", "4",
        "--time-size", "5", "--out", out_dir, "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    vocab = fio.load_checkpoint(out_dir / "best.npz").extra["vocab"]
    assert len(vocab) == 6 and vocab[0] == "<unk>"
    with pytest.warns(UserWarning, match="not in the model's vocabulary, read as <unk>: 'zebra'"):
        words = fastlstm.generate_text(out_dir / "best.npz", "the zebra", length=10, seed=0)
    assert words.split()[:2] == ["the", "<unk>"]
    code, out, err = _cli(capsys, "generate", "--checkpoint", out_dir / "best.npz",
                          "--start", "the zebra", "--length", "5")  # fmt: skip
    assert code == 0 and "warning" in err and out.startswith("the <unk>")
    code, out, err = _cli(capsys, "eval", "--checkpoint", out_dir / "best.npz")
    assert code == 0 and "test perplexity" in out, err


def test_korean_char_level(tmp_path):
    path = tmp_path / "ko.txt"
    path.write_text("나는 학교에 갑니다. 오늘은 날씨가 좋습니다.\n" * 300, encoding="utf-8")
    run = fastlstm.train("rnnlm", text=path, level="char", out=tmp_path / "k", **TINY_LM, **QUIET)
    out = fastlstm.generate_text(run.best_path, "나는", length=5, seed=0)
    assert out.startswith("나는") and len(out) == 7


def test_pairs_round_trip_without_the_file(tmp_path, capsys):
    data = _pairs(tmp_path / "rev.tsv")
    run = fastlstm.train("attention", data=data, out=tmp_path / "a", **TINY_SEQ, **QUIET)
    info = fio.load_checkpoint(run.best_path).extra["seq2seq"]
    assert info["format"] == "pairs" and info["level"] == "char"
    ev = fastlstm.evaluate(run.best_path, verbose=False)
    assert ev.metric == "accuracy" and 0 <= ev.char_error_rate
    assert ev.size == 30
    code, out, err = _cli(capsys, "eval", "--checkpoint", run.best_path, "--show", "0")
    assert code == 0 and "test accuracy" in out and "character error rate" in out, err
    code, out, err = _cli(capsys, "eval", "--checkpoint", run.best_path, "--show", "3")
    marks = [line.split(" ")[0] for line in out.splitlines() if line and line[0] in "☑☒OX"]
    assert code == 0 and len(marks) == 3 and set(marks) <= {"☑", "☒"}, out  # the book's marks
    data.rename(tmp_path / "gone.tsv")
    code, _, err = _cli(capsys, "eval", "--checkpoint", run.best_path)
    assert code == 1 and "rev.tsv, which is not found" in err
    results = fastlstm.translate(run.best_path, ["abc", "xyz", "", "dcba"])
    assert [r.ok for r in results] == [True, False, False, True]
    assert "'x', 'y', 'z'" in results[1].error and "empty" in results[2].error
    for r in (results[0], results[3]):
        assert 0 < r.confidence <= 1 and r.confidence == pytest.approx(float(r.char_probs.prod()))
    code, out, err = _cli(capsys, "translate", "--checkpoint", run.best_path, "abc", "xyz", "ab")
    assert code == 1
    lines = out.split("\n")
    assert lines[1] == "" and "(confidence" in lines[0] and "(confidence" in lines[2]
    assert "'xyz'" in err and "does not know" in err


def test_confidence_auc_without_right_answers_is_none_in_strict_json(tmp_path, capsys):
    """Held-out answers all wrong (one epoch of a tiny model): the AUC is not defined, so
    summary.json holds null (not NaN, which is no JSON) and the run says why."""
    data = _pairs(tmp_path / "rev.tsv")
    settings = dict(TINY_SEQ, verbose=True, progress=False, show=0)
    run = fastlstm.train("attention", data=data, out=tmp_path / "a", **settings)
    assert run.best == 0.0
    text = (tmp_path / "a" / "summary.json").read_text()

    def refuse(name):
        raise AssertionError(f"summary.json holds {name}")

    summary = json.loads(text, parse_constant=refuse)
    assert summary["confidence_auc"] is None and summary["char_error_rate"] > 0
    assert "confidence AUC not defined (no right or no wrong answers" in capsys.readouterr().out


def test_pairs_with_word_level_and_peeky(tmp_path):
    path = tmp_path / "w.tsv"
    path.write_text("".join(f"a b {'c ' * k}\t{'c ' * k}b a\n" for k in range(1, 6)) * 20)
    run = fastlstm.train("peeky", data=path, level="word", out=tmp_path / "p", **TINY_SEQ, **QUIET)
    (res,) = fastlstm.translate(run.best_path, "a b c c")
    assert res.ok and all(w in ("a", "b", "c") for w in res.answer.split())


def test_attention_bi_refuses_pairs(tmp_path):
    with pytest.raises(RunError, match="attention-bi cannot train on pairs"):
        fastlstm.train("attention-bi", data=_pairs(tmp_path / "p.tsv"), out=tmp_path / "b",
                       **TINY_SEQ, **QUIET)  # fmt: skip


# --------------------------------------------------------------------------- #
# bad input through the command line: one line naming the file and the line
# --------------------------------------------------------------------------- #
LM_ARGS = ("--epochs", "1", "--hidden", "8", "--wordvec", "8", "--no-progress")


def test_cli_text_not_utf8(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"good line\n" * 3 + b"caf\xe9\n" + b"more\n" * 5000)
    code, _, err = _cli(capsys, "train", "rnnlm", "--text", bad, "--out", tmp_path / "o", *LM_ARGS)
    assert code == 1 and f"{bad}, line 4" in err and "not utf-8" in err
    code, _, err = _cli(capsys, "train", "rnnlm", "--text", bad, "--encoding", "latin-1",
                        "--out", tmp_path / "o2", *LM_ARGS)  # fmt: skip
    assert code == 0, err
    assert not (tmp_path / "o" / "best.npz").exists()


def test_cli_text_empty_and_too_small(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, _, err = _cli(
        capsys, "train", "rnnlm", "--text", empty, "--out", tmp_path / "o", *LM_ARGS
    )
    assert code == 1 and "empty.txt: the file is empty" in err
    small = tmp_path / "small.txt"
    small.write_text("a few words\n" * 20)
    code, _, err = _cli(capsys, "train", "rnnlm", "--text", small, "--out", tmp_path / "o",
                        *LM_ARGS)  # fmt: skip
    assert code == 1 and "small.txt: the training text has" in err and "too few" in err


def test_cli_pairs_bad_lines(tmp_path, capsys):
    bad = tmp_path / "p.tsv"
    bad.write_text("ab\tba\n" * 5 + "abc cba\n")
    args = ("--epochs", "1", "--hidden", "8", "--no-progress", "--batch-size", "2")
    code, _, err = _cli(capsys, "train", "attention", "--data", bad, "--out", tmp_path / "o", *args)
    assert code == 1 and f"{bad}, line 6: expected one tab" in err
    long = tmp_path / "long.tsv"
    long.write_text("ab\tba\n" * 40 + "abcdefgh\thgfedcba\n")
    code, _, err = _cli(capsys, "train", "attention", "--data", long, "--max-length", "4",
                        "--out", tmp_path / "o2", *args)  # fmt: skip
    assert code == 0 and "skipped 1 of 41 pairs longer than max_length=4" in err


def test_text_run_resumes(tmp_path):
    text = _text(tmp_path / "t.txt")
    first = fastlstm.train("rnnlm", text=text, level="char", out=tmp_path / "r", **TINY_LM, **QUIET)
    again = first.resume(epochs=2, progress=False, verbose=False)
    assert len(again.history["val_ppl"]) == 2
    assert again.history["val_ppl"][0] == first.history["val_ppl"][0]


def test_ptb_model_evaluates_with_the_data_it_was_trained_on(tmp_path, data_dir, monkeypatch):
    monkeypatch.delenv("FASTLSTM_DATA", raising=False)
    monkeypatch.setenv("FASTLSTM_OFFLINE", "1")  # no download in place of the recorded files
    run = fastlstm.train("simple-rnnlm", data_dir=data_dir, epochs=1, out=tmp_path / "s", **QUIET)
    ev = fastlstm.evaluate(run.best_path, max_words=1000, verbose=False)  # no data_dir
    assert ev.metric == "perplexity" and ev.value == pytest.approx(run.summary["test_perplexity"])


def test_own_data_settings_without_own_data_are_refused(tmp_path, capsys):
    with pytest.raises(
        ValueError, match=r"vocab_size= \(--vocab-size\): only for training on your own data"
    ):
        fastlstm.train("rnnlm", vocab_size=100, out=tmp_path / "a", **QUIET)
    with pytest.raises(
        ValueError, match=r"level= \(--level\), max_length= \(--max-length\): only for .*pairs"
    ):
        fastlstm.train("attention", level="word", max_length=9, out=tmp_path / "b", **QUIET)
    text = _text(tmp_path / "t.txt")
    with pytest.raises(ValueError, match=r"valid= and test= \(--valid, --test\) go together"):
        fastlstm.train("rnnlm", text=text, valid=text, out=tmp_path / "c", **QUIET)
    code, _, err = _cli(capsys, "train", "rnnlm", "--level", "char", "--out", tmp_path / "d")
    assert code == 1 and "level= (--level): only for training on your own data; give text=" in err


# --------------------------------------------------------------------------- #
# data that are not the model's are refused, never scored
# --------------------------------------------------------------------------- #
def test_resuming_after_the_data_file_changed_is_refused(tmp_path):
    text = _text(tmp_path / "t.txt")
    first = fastlstm.train("rnnlm", text=text, level="char", out=tmp_path / "r", **TINY_LM, **QUIET)
    with open(text, "a", encoding="utf-8") as f:
        f.write("the the the\n")  # the same characters: only the content hash tells
    with pytest.raises(RunError, match=r"t\.txt: changed since .*last\.ckpt\.npz was saved"):
        first.resume(epochs=2, progress=False, verbose=False)
    pairs = _pairs(tmp_path / "p.tsv")
    run = fastlstm.train("attention", data=pairs, out=tmp_path / "a", **TINY_SEQ, **QUIET)
    pairs.write_text(pairs.read_text(encoding="utf-8") + "abc\tcba\n", encoding="utf-8")
    with pytest.raises(RunError, match=r"p\.tsv: changed since"):
        run.resume(epochs=2, progress=False, verbose=False)


def test_eval_of_a_text_model_takes_max_words(tmp_path, capsys):
    text = _text(tmp_path / "t.txt")
    run = fastlstm.train("rnnlm", text=text, level="char", out=tmp_path / "r", **TINY_LM, **QUIET)
    whole = fastlstm.evaluate(run.best_path, split="train", verbose=False)
    part = fastlstm.evaluate(run.best_path, split="train", max_words=400, verbose=False)
    assert part.size == 400 < whole.size and part.value != whole.value
    with pytest.raises(RunError, match="max_words=100: too few to evaluate .at least 351"):
        fastlstm.evaluate(run.best_path, max_words=100, verbose=False)
    code, out, err = _cli(capsys, "eval", "--checkpoint", run.best_path, "--split", "train",
                          "--max-words", "400")  # fmt: skip
    assert code == 0 and f"train perplexity: {part.value:.2f}" in out, err


def test_eval_settings_for_another_kind_of_model_are_refused(tmp_path, capsys):
    lm = fastlstm.train("rnnlm", text=_text(tmp_path / "t.txt"), level="char",
                        out=tmp_path / "r", **TINY_LM, **QUIET)  # fmt: skip
    pairs = _pairs(tmp_path / "p.tsv")
    seq = fastlstm.train("attention", data=pairs, out=tmp_path / "a", **TINY_SEQ, **QUIET)
    for kw in ({"data": pairs}, {"limit": 5}, {"reverse": True}, {"encoding": "latin-1"},
               {"show": 2}):  # fmt: skip
        with pytest.raises(ValueError, match=f"{next(iter(kw))}=.*not a setting for a language"):
            fastlstm.evaluate(lm.best_path, verbose=False, **kw)
    code, _, err = _cli(capsys, "eval", "--checkpoint", lm.best_path, "--show", "2")
    assert code == 1 and "show= (--show): not a setting for a language model" in err, err
    for kw in ({"split": "val"}, {"max_words": 100}):
        with pytest.raises(ValueError, match=f"{next(iter(kw))}=.*not a setting for a seq2seq"):
            fastlstm.evaluate(seq.best_path, verbose=False, **kw)
    with pytest.raises(ValueError, match="encoding= .--encoding. is for a file given with data="):
        fastlstm.evaluate(seq.best_path, encoding="latin-1", verbose=False)
    with pytest.raises(RunError, match="trained on a file of pairs; the book's 'addition'"):
        fastlstm.evaluate(seq.best_path, data="addition", verbose=False)
    code, _, err = _cli(capsys, "eval", "--checkpoint", seq.best_path, "--split", "val")
    assert code == 1 and "split= (--split): not a setting for a seq2seq model" in err


def test_eval_on_pairs_with_characters_the_model_does_not_know_is_refused(tmp_path, capsys):
    run = fastlstm.train("attention", data=_pairs(tmp_path / "p.tsv"), out=tmp_path / "a",
                         **TINY_SEQ, **QUIET)  # fmt: skip
    other = tmp_path / "other.tsv"
    other.write_text("abc\tcba\n" * 20 + "hello\tWORLD\n" + "abc\tcba\n" * 20, encoding="utf-8")
    code, out, err = _cli(capsys, "eval", "--checkpoint", run.best_path, "--data", other)
    assert code == 1 and "accuracy" not in out
    assert f"{other}, line 21: characters the model does not know: 'h', 'l', 'o'" in err


def test_eval_on_pairs_in_another_encoding(tmp_path, capsys):
    rows = [f"{s}é\té{s[::-1]}" for s in ("ab", "abc", "ba", "cab", "bca", "acb") * 10]
    data = tmp_path / "p.tsv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    run = fastlstm.train("attention", data=data, out=tmp_path / "a", **TINY_SEQ, **QUIET)
    same = fastlstm.evaluate(run.best_path, verbose=False)
    latin = tmp_path / "latin.tsv"
    latin.write_bytes(data.read_text(encoding="utf-8").encode("latin-1"))
    code, _, err = _cli(capsys, "eval", "--checkpoint", run.best_path, "--data", latin)
    assert code == 1 and "latin.tsv, line 1: bytes" in err and "not utf-8" in err
    ev = fastlstm.evaluate(run.best_path, data=latin, encoding="latin-1", verbose=False)
    assert (ev.value, ev.size, ev.char_error_rate) == (same.value, same.size, same.char_error_rate)
    code, out, err = _cli(capsys, "eval", "--checkpoint", run.best_path, "--data", latin,
                          "--encoding", "latin-1", "--show", "0")  # fmt: skip
    assert code == 0 and f"({same.size} questions)" in out, err


def test_a_file_of_one_pair_leaves_no_test_pairs_and_is_refused(tmp_path):
    one = tmp_path / "one.tsv"
    one.write_text("one\t1\n", encoding="utf-8")
    with pytest.raises(RunError, match=r"one\.tsv: 1 pair\(s\) leave none to hold out"):
        fastlstm.train("attention", data=one, out=tmp_path / "a", **dict(TINY_SEQ, batch_size=1),
                       **QUIET)  # fmt: skip
    assert not (tmp_path / "a").exists()
    with pytest.raises(RunError, match=r"data='.*' \(--data\): is a folder, not a file"):
        fastlstm.train("attention", data=tmp_path, out=tmp_path / "b", **TINY_SEQ, **QUIET)
    few = tmp_path / "few.tsv"
    few.write_text("".join(f"{i}\t{i}\n" for i in range(4)), encoding="utf-8")
    with pytest.raises(RunError, match=r"batch_size=128 is larger .* lower batch_size= \(--batch-"):
        fastlstm.train("seq2seq", data=few, out=tmp_path / "c", **QUIET)


def test_max_words_with_a_text_file_is_refused(tmp_path):
    with pytest.raises(
        ValueError, match="--max-words .max_words=. takes the first words of the PTB"
    ):
        fastlstm.train("rnnlm", text=_text(tmp_path / "t.txt"), max_words=50,
                       out=tmp_path / "r", **TINY_LM, **QUIET)  # fmt: skip


def test_translate_warns_of_a_question_longer_than_every_training_question(tmp_path):
    run = fastlstm.train("attention", data=_pairs(tmp_path / "p.tsv"), out=tmp_path / "a",
                         **TINY_SEQ, **QUIET)  # fmt: skip
    short, long = fastlstm.translate(run.best_path, ["abc", "abcde" * 4])
    assert not any("longer than every training question" in w for w in short.warnings)
    assert any(
        "'abcdeabcdeabcdeabcde' is longer than every training question (20 chars, the "
        "longest had 8)" in w
        for w in long.warnings
    ), long.warnings
    with pytest.raises(TypeError, match="texts must be a question .str. or a list of them"):
        fastlstm.translate(run.best_path, None)
    with pytest.raises(TypeError, match="texts must hold questions .str., got a bytes: b'abc'"):
        fastlstm.translate(run.best_path, ["abc", b"abc"])
    as_array = fastlstm.translate(run.best_path, np.array(["abc", "abcde" * 4]))
    assert [r.answer for r in as_array] == [short.answer, long.answer]


def test_generate_text_checks_its_arguments(tmp_path):
    run = fastlstm.train("rnnlm", text=_text(tmp_path / "t.txt"), level="char",
                         out=tmp_path / "r", **TINY_LM, **QUIET)  # fmt: skip
    for kw, exc, match in [
        ({"start": None}, TypeError, "start must be a str of words, got NoneType"),
        ({"start": b"the"}, TypeError, "start must be a str of words, got bytes"),
        ({"skip": ["t", 3]}, TypeError, "skip must be a str of words separated by spaces or a"),
        ({"greedy": "False"}, TypeError, "greedy must be True or False, got 'False'"),
        ({"seed": "x"}, TypeError, "seed must be an int or None, got str"),
        ({"seed": -1}, ValueError, "seed must be >= 0, got -1"),
        ({"skip": "<UNK>"}, ValueError, "skip: chars not in the model's vocabulary: '<UNK>'"),
        ({"length": 10**20}, ValueError, "length must be < 100000001"),
    ]:
        with pytest.raises(exc, match=match):
            fastlstm.generate_text(run.best_path, **{"start": "the", "length": 5, **kw})
    assert fastlstm.generate_text(run.best_path, start="the", length=5, skip="t", greedy=True)


def test_reserved_words_in_a_word_level_file_of_pairs_are_refused(tmp_path):
    from fastlstm.datasets import pairs as P

    path = tmp_path / "w.tsv"
    path.write_text("a b\tb a\n" * 3 + "a b\tb </s> a\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"w\.tsv, line 4: '</s>' is a reserved word"):
        P.load_pairs(path, level="word")
    P.load_pairs(path, level="char")  # characters: '<', '/' ... are ordinary tokens


def test_a_file_of_pairs_with_a_bom_and_a_blank_first_line_is_a_file_of_pairs(tmp_path):
    from fastlstm.api.owndata import is_pairs_file

    path = tmp_path / "b.tsv"
    path.write_bytes(b"\xef\xbb\xbf\r\n" + _pairs(tmp_path / "p.tsv").read_bytes())
    assert is_pairs_file(path)


def test_an_unended_answer_is_the_same_alone_and_beside_a_longer_question(tmp_path):
    """The decode budget is each question's own (it was the batch's longest question's)."""
    from fastlstm.datasets.pairs import EOS_ID

    out = tmp_path / "a"
    run = fastlstm.train("attention", data=_pairs(tmp_path / "p.tsv"), out=out, **TINY_SEQ, **QUIET)
    ck = fio.load_checkpoint(run.best_path)
    ck.params[-1][EOS_ID] = -1e4  # the decoder's output bias: the end symbol never comes
    fio.save_checkpoint(
        run.best_path, params=ck.params, epoch=ck.epoch, extra=ck.extra,
        model_class=ck.model_class, model_kwargs=ck.model_kwargs,
    )  # fmt: skip
    (alone,) = fastlstm.translate(run.best_path, ["abc"])
    together = fastlstm.translate(run.best_path, ["abc", "abcde" * 3])[0]
    assert any("no end symbol" in w for w in alone.warnings)  # the case of the defect
    assert together.answer == alone.answer
    assert together.confidence == pytest.approx(alone.confidence, rel=1e-5)  # batches: rounding
    with pytest.warns(UserWarning, match="data/reverse ignored"):
        fastlstm.translate(run.best_path, ["abc"], reverse=True)


def test_sampling_at_a_temperature_that_overflows_says_so():
    from fastlstm.models.sampling import sample_from_scores

    with pytest.raises(ValueError, match="divided by temperature 1e-308 overflow float64"):
        sample_from_scores(np.array([1.0, 2.0, 3.0]), 0, temperature=1e-308)


def test_character_models_skip_whitespace_named_by_escapes_or_a_list(tmp_path):
    run = fastlstm.train("rnnlm", text=_text(tmp_path / "t.txt"), level="char",
                         out=tmp_path / "r", **TINY_LM, **QUIET)  # fmt: skip
    kw = {"start": "the", "length": 200, "seed": 3}
    free = fastlstm.generate_text(run.best_path, **kw)[3:]
    assert " " in free and "\n" in free  # the case of the test: both are drawn
    kw["greedy"] = True  # sampling redraws as the book does: this model would give up
    escaped = fastlstm.generate_text(run.best_path, skip=r"\n \x20 <unk>", **kw)
    listed = fastlstm.generate_text(run.best_path, skip=["\n", " ", "<unk>"], **kw)
    assert escaped == listed and not set(escaped[3:]) & {" ", "\n"}
    with pytest.raises(ValueError, match=r"skip: '\\\\q' is not an escape of a character"):
        fastlstm.generate_text(run.best_path, skip=r"\q", **kw)


def test_a_question_with_a_line_break_is_refused_as_such(tmp_path):
    run = fastlstm.train("attention", data=_pairs(tmp_path / "p.tsv"), out=tmp_path / "a",
                         **TINY_SEQ, **QUIET)  # fmt: skip
    broken, whole = fastlstm.translate(run.best_path, ["ab\ncd", "abcd"])
    assert broken.error == "'ab\\ncd' has a line break: a question is one line"
    assert whole.error is None


def test_an_empty_data_dir_is_named_as_given(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match=r"data_dir \(--data-dir\) .*empty is an empty folder"):
        fastlstm.evaluate(tmp_path / "x.npz", data_dir=tmp_path / "empty")


# --------------------------------------------------------------------------- #
# a language model scored on another text file (text=, --text)
# --------------------------------------------------------------------------- #
def test_eval_of_a_text_model_on_another_file(tmp_path, capsys):
    text = _text(tmp_path / "t.txt")
    run = fastlstm.train("rnnlm", text=text, level="char", out=tmp_path / "r", **TINY_LM, **QUIET)
    # the recorded test split (the file's last 5%) written to a file of its own: the same score
    body = text.read_text(encoding="utf-8")
    n_test = int(len(body) * 0.05)
    part = tmp_path / "part.txt"
    part.write_text(body[len(body) - n_test :], encoding="utf-8")
    split = fastlstm.evaluate(run.best_path, verbose=False)
    ev = fastlstm.evaluate(run.best_path, text=part, verbose=False)
    assert (ev.metric, ev.size, ev.data) == ("perplexity", split.size, str(part))
    assert ev.value == split.value and ev.unk_rate == 0.0
    # characters the model never saw are <unk>, and counted
    other = tmp_path / "other.txt"
    other.write_text("The cat sat, Zed.\n" * 40, encoding="latin-1")
    ev = fastlstm.evaluate(run.best_path, text=other, encoding="latin-1", verbose=False)
    assert ev.size == 18 * 40 and ev.unk_rate == pytest.approx(4 / 18)  # 'T', ',', 'Z', '.'
    assert math.isfinite(ev.value) and ev.value != split.value
    cut = fastlstm.evaluate(run.best_path, text=other, encoding="latin-1", max_words=400,
                            verbose=False)  # fmt: skip
    assert cut.size == 400 and cut.value != ev.value
    code, out, err = _cli(capsys, "eval", "--checkpoint", run.best_path, "--text", part)
    assert code == 0 and f"perplexity of {part}: {split.value:.2f}\n" in out
    assert "tokens the model does not know (read as <unk>): 0.00%" in out, err


def test_eval_on_a_text_file_refuses_what_it_cannot_score(tmp_path, capsys):
    text = _text(tmp_path / "t.txt", lines=1100)  # 7 700 words with the <eos>: enough to train
    run = fastlstm.train("rnnlm", text=text, level="word", out=tmp_path / "r", **TINY_LM, **QUIET)
    short = tmp_path / "short.txt"
    short.write_text("the cat sat\n" * 80, encoding="utf-8")  # 320 words with the <eos>
    with pytest.raises(RunError, match=r"short\.txt: 320 words, too few to evaluate .at least 351"):
        fastlstm.evaluate(run.best_path, text=short, verbose=False)
    with pytest.raises(RunError, match="max_words=350: too few"):
        fastlstm.evaluate(run.best_path, text=text, max_words=350, verbose=False)
    with pytest.raises(RunError, match="text file not found"):
        fastlstm.evaluate(run.best_path, text=tmp_path / "missing.txt", verbose=False)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"the cat\nsat \xff\n")
    with pytest.raises(RunError, match=r"bad\.txt, line 2: .* not utf-8 text"):
        fastlstm.evaluate(run.best_path, text=bad, verbose=False)
    with pytest.raises(ValueError, match=r"split= \(--split\): not a setting with text="):
        fastlstm.evaluate(run.best_path, text=text, split="val", verbose=False)
    with pytest.raises(ValueError, match=r"encoding= .*a text file given with text="):
        fastlstm.evaluate(run.best_path, encoding="latin-1", verbose=False)
    seq = fastlstm.train("attention", data=_pairs(tmp_path / "p.tsv"), out=tmp_path / "a",
                         **TINY_SEQ, **QUIET)  # fmt: skip
    with pytest.raises(ValueError, match=r"text= \(--text\): not a setting for a seq2seq model"):
        fastlstm.evaluate(seq.best_path, text=text, verbose=False)
    code, _, err = _cli(capsys, "eval", "--checkpoint", run.best_path, "--text", short)
    assert code == 1 and "short.txt: 320 words, too few to evaluate" in err


def test_book_rnnlm_on_the_ptb_test_file_as_a_text(book_weights_dir, ptb_dir):
    """The PTB test file read as any text gives the ids and the perplexity of the PTB split."""
    path = book_weights_dir / "Rnnlm.pkl"
    split = fastlstm.evaluate(path, model="rnnlm", verbose=False)
    ev = fastlstm.evaluate(path, model="rnnlm", text=ptb_dir / "ptb.test.txt", verbose=False)
    assert (ev.value, ev.size) == (split.value, split.size)
    assert 0 < ev.unk_rate < 0.1  # the PTB's own <unk> words
