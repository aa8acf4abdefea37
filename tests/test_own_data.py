"""Text files and pair files of one's own: tokenising, vocabulary, bad input."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from fastlstm.datasets import pairs as P
from fastlstm.datasets import text as T


def _write(tmp_path, name, content, encoding="utf-8"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding=encoding)
    return path


# --------------------------------------------------------------------------- #
# text files
# --------------------------------------------------------------------------- #
def test_word_level_eos_vocab_size_and_ties(tmp_path):
    text = "b a c\nc a b\n" * 100 + "d e\n"
    path = _write(tmp_path, "t.txt", text)
    data = T.load_text(path, level="word", vocab_size=4, fractions=(0.0, 0.0))
    # <eos>: 201, a, b, c: 200 each (ties by code point), d, e: 1 -> <unk>
    assert data.vocab.tokens == ("<unk>", "<eos>", "a", "b")
    ids = data.train
    assert ids[:4].tolist() == [3, 2, 0, 1]  # b a c(<unk>) <eos>
    assert ids.dtype == np.int32 and len(ids) == 100 * 8 + 3
    assert data.vocab.decode(ids[:8]) == "b a <unk>\n<unk> a b\n"


def test_char_level_nfc_korean_and_line_ends(tmp_path):
    decomposed = unicodedata.normalize("NFD", "한국어 문장\n")
    assert len(decomposed) > len("한국어 문장\n")
    path = _write(tmp_path, "ko.txt", decomposed * 50)
    data = T.load_text(path, level="char", fractions=(0.0, 0.0))
    assert len(data.train) == 50 * len("한국어 문장\n")  # syllables are units after NFC
    assert "\n" in data.vocab.tokens and "한" in data.vocab.tokens
    assert data.vocab.decode(data.train[:7]) == "한국어 문장\n"


def test_contiguous_split_and_unknown_in_validation(tmp_path):
    path = _write(tmp_path, "t.txt", "a b\n" * 90 + "z z\n" * 10)
    data = T.load_text(path, level="word")
    n = 300
    assert (len(data.train), len(data.valid), len(data.test)) == (n - 30, 15, 15)
    assert "z" not in data.vocab.tokens  # vocabulary of the training part only
    assert data.test.tolist().count(data.vocab.unk_id) == 10


def test_separate_validation_and_test_files(tmp_path):
    tr = _write(tmp_path, "tr.txt", "a b\n" * 20)
    va = _write(tmp_path, "va.txt", "a q\n")
    te = _write(tmp_path, "te.txt", "b\n")
    data = T.load_text(tr, level="word", valid=va, test=te)
    assert len(data.train) == 60 and data.valid.tolist()[1] == 0
    assert data.source["valid"].endswith("va.txt")
    with pytest.raises(ValueError, match="both"):
        T.load_text(tr, valid=va)


def test_nul_characters_name_file_and_line(tmp_path):
    """UTF-16 read as UTF-8 decodes without error, a NUL in every other character."""
    u16 = _write(tmp_path, "u16.txt", ("the cat sat\n" * 50).encode("utf-16-le"))
    with pytest.raises(ValueError, match=r"u16\.txt, line 1: a NUL character.*utf-16"):
        T.load_text(u16, level="char")
    assert T.load_text(u16, level="char", encoding="utf-16-le", fractions=(0, 0)).vocab
    pairs = _write(tmp_path, "p.tsv", b"ab\tba\n" * 20 + b"a\x00b\tba\n")
    from fastlstm.datasets import pairs as P

    with pytest.raises(ValueError, match=r"p\.tsv, line 21: a NUL character"):
        P.load_pairs(pairs)


def test_not_utf8_names_file_and_line(tmp_path):
    path = _write(tmp_path, "bad.txt", b"fine\nalso fine\nbro\xffken\n")
    with pytest.raises(ValueError, match=r"bad\.txt, line 3: .*not utf-8"):
        T.load_text(path)
    latin = _write(tmp_path, "latin.txt", "café au lait\n" * 10, encoding="latin-1")
    with pytest.raises(ValueError, match="line 1"):
        T.load_text(latin)
    data = T.load_text(latin, level="char", encoding="latin-1", fractions=(0, 0))
    assert "é" in data.vocab.tokens
    with pytest.raises(ValueError, match="unknown text encoding"):
        T.load_text(latin, encoding="no-such-codec")


def test_error_line_counts_across_blocks(tmp_path):
    path = _write(tmp_path, "big.txt", b"x\n" * 5000 + b"\xc3(\n")
    blocks = T.read_blocks(path, block=1000)
    with pytest.raises(ValueError, match="line 5001"):
        list(blocks)


@pytest.mark.parametrize("content", ["", "\n\n  \n", "\ufeff"])
def test_empty_file(tmp_path, content):
    path = _write(tmp_path, "empty.txt", content)
    with pytest.raises(ValueError, match=r"empty\.txt: the file is empty"):
        T.load_text(path, level="word")


def test_too_small_for_one_batch(tmp_path):
    path = _write(tmp_path, "small.txt", "a b c\n" * 100)
    data = T.load_text(path, level="word")
    with pytest.raises(ValueError, match=r"small\.txt: the training text has 360 words") as info:
        T.check_lm_sizes(data, 20, 35, 351)
    # the minimum for the whole file, validation and test parts included (not 779 for training)
    assert "the file needs at least 7020 words; 351 for each of the validation" in str(info.value)
    with pytest.raises(
        ValueError, match=r"needs at least 779 words; lower batch_size / time_size \(--batch-size"
    ):
        T.check_lm_sizes(data, 20, 35, 10)
    with pytest.raises(
        ValueError,
        match="validation text .its last 5%. has 20 words.*at least 351; the file needs at least 7020",
    ):
        T.check_lm_sizes(data, 2, 5, 351)
    T.check_lm_sizes(data, 2, 5, 10)


def test_vocab_meta_round_trip_and_unknown():
    v = T.TokenVocab(["<unk>", "<eos>", "the", "cat"], "word")
    w = T.TokenVocab.from_meta(v.to_meta())
    assert w == v and w.encode("the dog\n").tolist() == [2, 0, 1]
    assert w.unknown("the dog dog bird") == ["dog", "bird"]


# --------------------------------------------------------------------------- #
# pair files
# --------------------------------------------------------------------------- #
def test_pairs_padding_start_end(tmp_path):
    path = _write(tmp_path, "p.tsv", "ab\tba\nabc\tcba\n" * 10)
    data = P.load_pairs(path, test_fraction=0.1, seed=0)
    assert data.vocab.tokens[:4] == ("<pad>", "<s>", "</s>", "<unk>")
    x = np.concatenate([data.x_train, data.x_test])
    t = np.concatenate([data.t_train, data.t_test])
    assert x.shape[1] == 3 and t.shape[1] == 5
    short = x[:, 2] == P.PAD_ID
    assert short.sum() == 10
    assert (t[:, 0] == P.BOS_ID).all()
    assert (t[short, 3] == P.EOS_ID).all() and (t[short, 4] == P.PAD_ID).all()
    assert P.decode_answers(data.vocab, t[:, 1:]) == [
        data.vocab.decode(row[1 : list(row).index(P.EOS_ID)]) for row in t
    ]
    rev = P.load_pairs(path, reverse=True)
    r = np.concatenate([rev.x_train, rev.x_test])
    assert set(P.decode_answers(rev.vocab, r)) == {"ba", "cba"}  # reversed, then padded


@pytest.mark.parametrize(
    ("line", "found"), [("no tab here", 0), ("a\tb\tc", 2)], ids=["no tab", "two tabs"]
)
def test_pairs_line_without_exactly_one_tab(tmp_path, line, found):
    path = _write(tmp_path, "p.tsv", "x\ty\n\n" + line + "\n")
    with pytest.raises(ValueError, match=rf"p\.tsv, line 3: expected one tab .* found {found}"):
        P.load_pairs(path)


def test_pairs_empty_side_and_empty_file(tmp_path):
    with pytest.raises(ValueError, match=r"line 2: the target is empty"):
        P.load_pairs(_write(tmp_path, "a.tsv", "x\ty\nx\t\n"))
    with pytest.raises(ValueError, match="the file is empty"):
        P.load_pairs(_write(tmp_path, "b.tsv", "\n"))
    with pytest.raises(ValueError, match=r"c\.tsv, line 2: .*not utf-8"):
        P.load_pairs(_write(tmp_path, "c.tsv", b"x\ty\n\xff\tz\n"))


def test_pairs_longer_than_the_limit_are_skipped_and_counted(tmp_path):
    path = _write(tmp_path, "p.tsv", "ab\tba\n" * 5 + "abcdef\tx\n" + "ab\tbbbbbbb\n")
    with pytest.warns(UserWarning, match=r"skipped 2 of 7 pairs longer than max_length=5 .*line 6"):
        data = P.load_pairs(path, max_length=5)
    assert data.skipped == 2 and len(data.x_train) + len(data.x_test) == 5
    with pytest.raises(ValueError, match="all 7 pairs are longer"):
        P.load_pairs(path, max_length=1)


def test_pairs_word_level(tmp_path):
    path = _write(tmp_path, "w.tsv", "the cat\tle chat\n" * 4)
    data = P.load_pairs(path, level="word")
    assert {"the", "cat", "le", "chat"} <= set(data.vocab.tokens)
    assert P.decode_answers(data.vocab, data.t_train[:, 1:])[0] == "le chat"


# --------------------------------------------------------------------------- #
# padding never changes an answer
# --------------------------------------------------------------------------- #
PADDED_MODELS = ["Seq2seq", "PeekySeq2seq", "AttentionSeq2seq"]


def _padded_model(name, seed=3):
    from fastlstm import models

    model = getattr(models, name)(13, 5, 6, seed=seed, dtype=np.float64, pad_id=0)
    rng = np.random.default_rng(seed)
    for p in model.params:  # O(1) weights: answers depend on every input
        p[...] = rng.standard_normal(p.shape) * 0.7
    return model


def _questions(rng, lengths, T):
    xs = np.zeros((len(lengths), T), dtype=np.int32)
    for n, L in enumerate(lengths):
        xs[n, :L] = rng.integers(1, 13, L)
    return xs


@pytest.mark.parametrize("name", PADDED_MODELS)
def test_a_question_alone_gets_the_answer_it_gets_in_a_batch(name):
    model = _padded_model(name)
    rng = np.random.default_rng(0)
    lengths = [2, 7, 4, 1, 7]
    xs = _questions(rng, lengths, 7)  # (N, T): padded on the right with 0
    batch = model.generate_batch(xs, 1, 6)
    for n, L in enumerate(lengths):
        alone = model.generate_batch(xs[n : n + 1, :L], 1, 6)
        np.testing.assert_array_equal(alone[0], batch[n])
        wider = np.zeros((1, 12), dtype=np.int32)
        wider[0, :L] = xs[n, :L]
        np.testing.assert_array_equal(model.generate_batch(wider, 1, 6)[0], batch[n])
    # scores with teacher forcing, row by row
    dec = rng.integers(1, 13, (len(lengths), 4))
    scores = model.scores(xs, dec)
    for n, L in enumerate(lengths):
        np.testing.assert_allclose(
            model.scores(xs[n : n + 1, :L], dec[n : n + 1])[0], scores[n], rtol=1e-12, atol=1e-13
        )


@pytest.mark.parametrize("name", PADDED_MODELS)
def test_answer_probabilities_in_batches_are_those_of_each_answer_alone(name, monkeypatch):
    from fastlstm.api import owndata
    from fastlstm.models.sampling import softmax64

    model = _padded_model(name)  # pad_id 0, as pairs' PAD_ID
    rng = np.random.default_rng(4)
    lengths = [5, 1, 3, 5, 2, 4, 3]
    xs = _questions(rng, lengths, 5)
    answers = [rng.integers(3, 13, k).tolist() for k in [3, 0, 6, 1, 4, 0, 2]]
    ended = [True, True, False, True, False, False, True]
    # at most 20 scores of 13 a batch: batches of one to three questions
    monkeypatch.setattr(owndata, "_SCORES_MAX", 20 * 13)
    got = owndata.answer_probs(model, xs, answers, ended, batch=3)
    for n, (L, ans, end) in enumerate(zip(lengths, answers, ended, strict=True)):
        target = [*ans, P.EOS_ID] if end else ans
        if not target:
            assert got[n].shape == (0,)
            continue
        dec = np.array([[P.BOS_ID, *target[:-1]]], dtype=np.int32)
        p = softmax64(model.scores(xs[n : n + 1, :L], dec))[0]  # (T_dec, V)
        np.testing.assert_allclose(got[n], p[np.arange(len(target)), target], rtol=1e-12)


@pytest.mark.parametrize("name", PADDED_MODELS)
def test_padding_is_out_of_loss_and_gradients(name):
    from fastlstm.gradcheck import gradcheck

    model = _padded_model(name)
    rng = np.random.default_rng(1)
    xs = _questions(rng, [3, 5, 1], 5)
    ts = np.array([[1, 4, 5, 2, 0, 0], [1, 6, 2, 0, 0, 0], [1, 7, 8, 9, 10, 2]])
    loss = model.forward(xs, ts)
    # the same loss as the three pairs alone, weighted by their real targets
    alone = [
        model.forward(xs[n : n + 1, :L], ts[n : n + 1, : k + 1])
        for n, (L, k) in enumerate([(3, 3), (5, 2), (1, 5)])
    ]
    assert loss == pytest.approx((3 * alone[0] + 2 * alone[1] + 5 * alone[2]) / 10, rel=1e-12)
    model.forward(xs, ts)
    model.backward()
    d_embed = model.grads[0]
    assert not d_embed[0].any()  # the padding's embedding gets no gradient
    gradcheck(model, xs, ts, eps=1e-5).assert_ok(1e-5)


def test_generation_stops_at_the_end_symbol():
    model = _padded_model("AttentionSeq2seq")
    xs = _questions(np.random.default_rng(2), [3, 2], 3)
    free = model.generate_batch(xs, 1, 8)
    end_id = int(free[0, 1])
    out = model.generate_batch(xs, 1, 8, end_id=end_id)
    np.testing.assert_array_equal(out[0, :2], free[0, :2])
    assert (out[0, 1:] == end_id).all()


def test_bidirectional_model_refuses_padded_questions():
    from fastlstm.models import AttentionBiSeq2seq

    model = AttentionBiSeq2seq(13, 5, 6, seed=0, pad_id=0)
    with pytest.raises(ValueError, match="cannot read questions of different lengths"):
        model.generate_batch(np.array([[3, 4, 0]]), 1, 3)


def test_encoding_with_a_given_vocabulary(tmp_path):
    path = _write(tmp_path, "t.txt", "b a c\nc a b\n" * 100)
    data = T.load_text(path, level="word", vocab_size=3)
    again = T.load_text(path, level="word", vocab=data.vocab)
    np.testing.assert_array_equal(again.train, data.train)
    np.testing.assert_array_equal(again.test, data.test)
    chars = T.load_text(path, level="char")
    other = _write(tmp_path, "o.txt", "a b x\n" * 200)
    enc = T.load_text(other, level="char", vocab=chars.vocab)
    assert enc.train[:6].tolist() == chars.vocab.encode("a b x\n").tolist()
    assert chars.vocab.encode("x").tolist() == [0]


def test_encoding_a_file_with_a_vocabulary_whose_unknown_token_is_not_id_0(tmp_path):
    """Unknown tokens take the vocabulary's ``unk_id``, wherever ``<unk>`` stands."""
    vocab = T.TokenVocab(["a", "<unk>", "b", "\n"], level="char")
    path = _write(tmp_path, "t.txt", "abz\n" * 3)
    assert T.encode_file(path, vocab).tolist() == [0, 2, 1, 3] * 3
    data = T.load_text(path, level="char", vocab=vocab, fractions=(0.0, 0.0))
    assert data.train.tolist() == [0, 2, 1, 3] * 3
    words = T.TokenVocab(["the", "<eos>", "<unk>"], level="word")
    path = _write(tmp_path, "w.txt", "the cat <unk>\nthe\n")
    assert T.encode_file(path, words).tolist() == [0, 2, 2, 1, 0, 1]
    with pytest.raises(ValueError, match="empty"):
        T.encode_file(_write(tmp_path, "e.txt", " \n"), words)
