"""seq2seq_accuracy, eval_seq2seq (the book's), decode_one and attention_weights with stub models."""

from __future__ import annotations

import io

import numpy as np
import pytest

from fastlstm.datasets.sequence import Vocab
from fastlstm.evaluation import attention_weights, decode_one, eval_seq2seq, seq2seq_accuracy

VOCAB = Vocab("0123456789+ _")


def _addition_data(pairs):
    """Questions 'a+b' padded to 7 and targets '_' + sum padded to 5, as addition.txt."""
    qs = [f"{a}+{b}".ljust(7) for a, b in pairs]
    ts = ["_" + str(a + b).ljust(4) for a, b in pairs]
    return VOCAB.encode(qs), VOCAB.encode(ts)


class AddingModel:
    """Answers addition questions with the right sum, except when ``a == wrong_a``.

    ``generate`` takes a batch ``(N, T)`` and returns ``(N, sample_size)``, like
    fastlstm's models; it records the batch sizes it saw.
    """

    def __init__(self, wrong_a=None, reverse=False):
        self.wrong_a = wrong_a
        self.reverse = reverse
        self.calls = []

    def _answer(self, row, sample_size):
        text = VOCAB.decode(row[::-1] if self.reverse else row).strip()
        a, b = (int(s) for s in text.split("+"))
        value = a + b + (1 if a == self.wrong_a else 0)
        return VOCAB.encode(str(value).ljust(sample_size))

    def generate(self, xs, start_id, sample_size):
        assert start_id == VOCAB.char_to_id["_"]
        xs = np.asarray(xs)
        self.calls.append(xs.shape[0])
        return np.stack([self._answer(row, sample_size) for row in xs])


class BookStyleModel(AddingModel):
    """The book's contract: one question ``(1, T)`` per call, answer as a list."""

    def generate(self, xs, start_id, sample_size):
        xs = np.asarray(xs)
        if xs.shape[0] != 1:
            raise ValueError("could not broadcast input array")
        self.calls.append(1)
        return [int(i) for i in self._answer(xs[0], sample_size)]


PAIRS = [(16, 75), (3, 4), (52, 8), (3, 120), (999, 1), (7, 7), (3, 0)]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 1000])
def test_accuracy_counts_exact_matches(batch_size):
    x, t = _addition_data(PAIRS)
    model = AddingModel(wrong_a=3)  # three of the seven questions start with 3
    acc = seq2seq_accuracy(model, x, t, VOCAB, batch_size=batch_size, show=0)
    assert acc == pytest.approx(4 / 7)
    expected_calls = [min(batch_size, len(x) - lo) for lo in range(0, len(x), batch_size)]
    assert model.calls == expected_calls


def test_all_right_and_all_wrong():
    x, t = _addition_data(PAIRS)
    assert seq2seq_accuracy(AddingModel(), x, t, VOCAB, show=0) == 1.0
    t_bad = t.copy()
    t_bad[:, 1] = VOCAB.char_to_id["+"]  # no model answers '+' first
    assert seq2seq_accuracy(AddingModel(), x, t_bad, VOCAB, show=0) == 0.0


def test_book_style_model_is_asked_one_question_at_a_time():
    x, t = _addition_data(PAIRS)
    model = BookStyleModel(wrong_a=52)
    acc = seq2seq_accuracy(model, x, t, VOCAB, batch_size=4, show=0)
    assert acc == pytest.approx(6 / 7)
    assert model.calls == [1] * len(x)


def test_reversed_questions_are_shown_the_right_way_round():
    x, t = _addition_data(PAIRS[:3])
    model = AddingModel(wrong_a=3, reverse=True)
    out = io.StringIO()
    acc = seq2seq_accuracy(model, x[:, ::-1], t, VOCAB, reverse=True, show=2, file=out)
    assert acc == pytest.approx(2 / 3)
    lines = out.getvalue().splitlines()
    assert lines == [
        "Q 16+75  ",
        "T 91  ",
        "☑ 91  ",
        "---",
        "Q 3+4    ",
        "T 7   ",
        "☒ 8   ",
        "---",
    ]


def test_show_prints_o_x_when_the_stream_cannot_encode_the_marks():
    x, t = _addition_data(PAIRS[:2])
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    seq2seq_accuracy(AddingModel(wrong_a=3), x, t, VOCAB, show=5, file=out)
    out.flush()
    lines = raw.getvalue().decode("ascii").splitlines()
    assert lines[2] == "O 91  " and lines[6] == "X 8   "
    assert len(lines) == 8  # show larger than the data prints every question once


def test_show_zero_prints_nothing(capsys):
    x, t = _addition_data(PAIRS)
    seq2seq_accuracy(AddingModel(), x, t, VOCAB, show=0)
    assert capsys.readouterr().out == ""


def test_id_to_char_dict_works_as_vocab():
    x, t = _addition_data(PAIRS[:2])
    out = io.StringIO()
    seq2seq_accuracy(AddingModel(), x, t, dict(VOCAB.id_to_char), show=1, file=out)
    assert out.getvalue().startswith("Q 16+75")


@pytest.mark.parametrize(
    ("x", "t", "match"),
    [
        (np.zeros((2, 7), np.int32), np.zeros((3, 5), np.int32), "same number of rows"),
        (np.zeros((0, 7), np.int32), np.zeros((0, 5), np.int32), "empty"),
        (np.zeros((2, 7), np.int32), np.zeros((2, 1), np.int32), "at least one answer"),
        (np.zeros(7, np.int32), np.zeros((1, 5), np.int32), "2-D"),
    ],
)
def test_bad_arrays(x, t, match):
    with pytest.raises(ValueError, match=match):
        seq2seq_accuracy(AddingModel(), x, t, VOCAB, show=0)


def test_float_ids_and_bad_batch_size():
    x, t = _addition_data(PAIRS)
    with pytest.raises(TypeError, match="integer"):
        seq2seq_accuracy(AddingModel(), x.astype(float), t, VOCAB)
    with pytest.raises(ValueError, match="batch_size"):
        seq2seq_accuracy(AddingModel(), x, t, VOCAB, batch_size=0)


def test_wrong_shape_from_generate_is_reported():
    class Short:
        def generate(self, xs, start_id, sample_size):
            return np.zeros((len(xs), sample_size - 1), dtype=np.int64)

    x, t = _addition_data(PAIRS)
    with pytest.raises(ValueError, match="model.generate returned shape"):
        seq2seq_accuracy(Short(), x[:1], t[:1], VOCAB)


# --------------------------------------------------------------------------- #
# decode_one
# --------------------------------------------------------------------------- #
class RecordingModel:
    def __init__(self):
        self.seen = []

    def generate(self, xs, start_id, sample_size):
        self.seen.append((np.array(xs), start_id, sample_size))
        return np.full((len(xs), sample_size), VOCAB.char_to_id["7"])


def test_decode_one_pads_reverses_and_decodes():
    model = RecordingModel()
    out = decode_one(model, "1+2", VOCAB, reverse=True, width=7, start_char="_", sample_size=4)
    assert out == "7777"
    xs, start_id, sample_size = model.seen[0]
    assert VOCAB.decode(xs[0]) == "    2+1"
    assert (start_id, sample_size) == (VOCAB.char_to_id["_"], 4)


def test_decode_one_with_the_book_style_model():
    out = decode_one(BookStyleModel(), "16+75", VOCAB, width=7, sample_size=4)
    assert out == "91  "


def test_decode_one_errors():
    with pytest.raises(ValueError, match="at most 7"):
        decode_one(RecordingModel(), "123+4567", VOCAB, width=7, sample_size=4)
    with pytest.raises(ValueError, match="'x'"):
        decode_one(RecordingModel(), "1x2", VOCAB, width=7, sample_size=4)
    with pytest.raises(ValueError, match="start_char"):
        decode_one(RecordingModel(), "1+2", VOCAB, width=7, start_char="$", sample_size=4)
    with pytest.raises(ValueError, match="sample_size"):
        decode_one(RecordingModel(), "1+2", VOCAB, width=7, sample_size=0)


# --------------------------------------------------------------------------- #
# attention_weights
# --------------------------------------------------------------------------- #
class _Attention:
    attention_weights = None


class _Decoder:
    def __init__(self):
        self.attention = _Attention()


class AttentionStub:
    """Attention puts weight 1 on input position ``(t + shift) % T_enc`` at output step t."""

    def __init__(self, shift):
        self.shift = shift
        self.decoder = _Decoder()

    def forward(self, xs, ts):
        N, Te = xs.shape
        Td = ts.shape[1] - 1
        ws = []
        for step in range(Td):
            w = np.zeros((N, Te), dtype=np.float32)
            w[:, (step + self.shift) % Te] = 1.0
            ws.append(w)
        self.decoder.attention.attention_weights = ws
        return 0.0


def test_attention_weights_stack_the_decoder_steps():
    x, t = _addition_data(PAIRS[:1])
    w = attention_weights(AttentionStub(shift=2), x[0], t[0])
    assert w.shape == (4, 7)
    np.testing.assert_array_equal(np.argmax(w, axis=1), [2, 3, 4, 5])


def test_attention_weights_need_an_attention_model():
    x, t = _addition_data(PAIRS[:1])
    with pytest.raises(TypeError, match="attention"):
        attention_weights(AddingModel(), x, t)


@pytest.mark.parametrize("model_class", [AddingModel, BookStyleModel])
def test_eval_seq2seq_has_the_books_signature_and_output(model_class, capsys):
    x, t = _addition_data(PAIRS[:3])
    model = model_class(wrong_a=3, reverse=True)
    id_to_char = dict(VOCAB.id_to_char)
    xr = x[:, ::-1]
    # positional, as the book's scripts call it: (model, question, correct, id_to_char, verbose, is_reverse)
    got = [eval_seq2seq(model, xr[[i]], t[[i]], id_to_char, i < 2, True) for i in range(3)]
    assert got == [1, 0, 1] and all(type(g) is int for g in got)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == ["Q 16+75  ", "T 91  ", "☑ 91  ", "---"]
    assert lines[4:6] == ["Q 3+4    ", "T 7   "] and lines[6].startswith("☒ ") and len(lines) == 8
    assert eval_seq2seq(model, xr[[0]], t[[0]], id_to_char) == 1  # verbose=False prints nothing
    assert capsys.readouterr().out == ""
    for q, c in ((xr[:2], t[[0]]), (xr[[0]], t[:2])):  # it flattened them into one question
        with pytest.raises(ValueError, match=r"eval_seq2seq scores one question: .* shape \(2,"):
            eval_seq2seq(model, q, c, id_to_char)


def test_eval_seq2seq_on_a_fastlstm_model_equals_its_batched_answer():
    from fastlstm.models import Seq2seq

    x, t = _addition_data(PAIRS)
    model = Seq2seq(len(VOCAB), 4, 6, seed=3)
    guesses = model.generate_batch(x, int(t[0, 0]), t.shape[1] - 1)
    expected = [int(np.array_equal(g, a)) for g, a in zip(guesses, t[:, 1:])]
    got = [eval_seq2seq(model, x[[i]], t[[i]], VOCAB.id_to_char) for i in range(len(x))]
    assert got == expected
    t_right = np.concatenate([t[:, :1], guesses], axis=1)  # the model's own answers count as right
    assert [eval_seq2seq(model, x[[i]], t_right[[i]], VOCAB) for i in range(len(x))] == [1] * 7
