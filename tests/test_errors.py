"""No silent wrong answers, and errors that name the problem.

* NaN or inf parameters make seq2seq decoding and text generation raise
  instead of returning all-zero (or arbitrary) ids.
* The finiteness checks of the kernels hold for NaN, +inf and -inf at every
  position, also where the label is ignored (they are compiled without
  fast-math flags, under which a NaN can test as finite).
* Unusual float dtypes are cast by every layer (never a numba typing error);
  ``backward`` before ``forward`` says so; empty batches are refused.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm.layers as FL
from fastlstm import models as M

V, D, H = 6, 4, 4
BAD = [np.nan, np.inf, -np.inf]
BAD_IDS = ["nan", "+inf", "-inf"]


# --------------------------------------------------------------------------- #
# seq2seq decoding with diverged parameters
# --------------------------------------------------------------------------- #
SEQ2SEQ = [M.Seq2seq, M.PeekySeq2seq, M.AttentionSeq2seq, M.AttentionBiSeq2seq]


def _questions():
    return np.random.default_rng(0).integers(0, V, size=(3, 5))


def _decode(model, xs):
    """The batched decoding method, whatever it is called."""
    method = getattr(model, "generate_batch", model.generate)
    return method(xs, 0, 4)


@pytest.mark.parametrize("cls", SEQ2SEQ, ids=lambda c: c.__name__)
@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
@pytest.mark.parametrize("where", ["encoder", "decoder"])
def test_seq2seq_decoding_with_diverged_parameters_raises(cls, value, where):
    model = cls(V, D, H, seed=1, dtype=np.float64)
    xs = _questions()
    assert _decode(model, xs).shape == (3, 4)  # the clean model decodes
    part = model.encoder if where == "encoder" else model.decoder
    part.params[2][...] = value  # the LSTM's Wh: every state goes bad
    with pytest.raises(ValueError, match="NaN or inf"):
        _decode(model, xs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", SEQ2SEQ, ids=lambda c: c.__name__)
@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_seq2seq_decoding_with_any_bad_parameter_raises(cls, value, dtype):
    """Every parameter, even the LSTM biases whose infinities saturate to finite states."""
    for i in range(len(cls(V, D, H).params)):
        model = cls(V, D, H, seed=1, dtype=dtype)
        model.params[i].flat[0] = value
        with pytest.raises(ValueError, match="NaN or inf"):
            _decode(model, _questions())


@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
@pytest.mark.parametrize("cls", [M.Rnnlm, M.BetterRnnlm], ids=lambda c: c.__name__)
def test_generation_with_any_bad_parameter_raises(cls, value):
    for i in range(len(cls(V, D, D).params)):
        model = cls(V, D, D, seed=1)
        model.params[i].flat[-1] = value
        with pytest.raises(ValueError, match="NaN or inf"):
            model.generate(0, sample_size=4, rng=0)


@pytest.mark.parametrize("cls", SEQ2SEQ, ids=lambda c: c.__name__)
@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_seq2seq_decoding_with_one_bad_score_raises(cls, value):
    """A single bad output score (one bias entry) is found too, at every id."""
    for v in range(V):
        model = cls(V, D, H, seed=2, dtype=np.float64)
        model.decoder.params[-1][v] = value  # affine_b
        with pytest.raises(ValueError, match="NaN or inf"):
            _decode(model, _questions())


@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
@pytest.mark.parametrize("kind", ["Decoder", "PeekyDecoder", "AttentionDecoder"])
def test_decoder_level_decoding_checks_every_score(kind, value):
    """The decoders' own check: one bad output score at any id (parameters not scanned)."""
    rng = np.random.default_rng(0)
    for v in range(V):
        decoder = getattr(M, kind)(V, D, H, seed=1, dtype=np.float64)
        decoder.params[-1][v] = value  # affine_b
        state = rng.standard_normal((2, 3, H) if kind == "AttentionDecoder" else (2, H))
        with pytest.raises(ValueError, match="NaN or inf"):
            decoder.generate_batch(state, 0, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_generation_kernel_marks_any_bad_score(value, dtype):
    """``_score_block`` flags a block holding NaN/inf anywhere (a NaN is never a maximum)."""
    from fastlstm._kernels import generate as kgen

    Vk, Hk = 5, 3
    for pos in range(Vk):
        WoutT = np.ones((Vk, Hk), dtype=dtype)
        bout = np.zeros(Vk, dtype=dtype)
        bout[pos] = value
        bmax, barg, bsum = np.empty(1), np.zeros(1, dtype=np.int64), np.empty(1)
        for with_exp in (True, False):
            kgen._score_block(
                0, Vk, WoutT, bout, np.ones(Hk, dtype=dtype), 1.0, with_exp,
                np.empty(Vk, dtype=dtype), np.empty(Vk), np.empty(Vk), bmax, barg, bsum,
            )  # fmt: skip
            assert not np.isfinite(bmax[0]), (pos, with_exp, bmax[0])


def test_seq2seq_accuracy_with_diverged_parameters_raises():
    from fastlstm import evaluation

    score = getattr(evaluation, "seq2seq_accuracy", None) or evaluation.eval_seq2seq
    model = M.AttentionSeq2seq(V, D, H, seed=3)
    model.decoder.params[-2][...] = np.nan  # affine_W
    xs = _questions()
    ts = np.concatenate([np.zeros((3, 1), dtype=int), xs[:, :4]], axis=1)
    id_to_char = {i: "abcdef"[i] for i in range(V)}
    with pytest.raises(ValueError, match="NaN or inf"):
        score(model, xs, ts, id_to_char)


# --------------------------------------------------------------------------- #
# language-model generation: every bad score, every mode
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
@pytest.mark.parametrize("mode", ["greedy", "sample", "top_k"])
def test_generation_with_one_bad_score_raises(value, mode):
    kwargs = {"greedy": {"greedy": True}, "sample": {}, "top_k": {"top_k": 3}}[mode]
    for v in range(V):
        model = M.Rnnlm(V, D, H, seed=4, dtype=np.float64)
        model.params[-1][v] = value  # affine_b: the score of id v
        with pytest.raises(ValueError, match="NaN or inf"):
            model.generate(0, sample_size=5, rng=0, **kwargs)


@pytest.mark.parametrize("temperature", [5e-324, 1e-310])
def test_tiny_temperature_is_refused_as_such(temperature):
    model = M.Rnnlm(V, D, H, seed=5)
    with pytest.raises(ValueError, match="temperature .* too small"):
        model.generate(0, sample_size=5, temperature=temperature, rng=0)


def test_temperature_whose_scores_overflow_names_the_temperature():
    model = M.Rnnlm(V, D, H, seed=5, dtype=np.float64)
    model.params[-1][:] = np.arange(V) * 1e3  # large, finite scores
    with pytest.raises(ValueError, match="temperature"):
        model.generate(0, sample_size=5, temperature=1e-306, rng=0)
    # a small but workable temperature is (nearly) greedy
    ids = model.generate(0, sample_size=5, temperature=1e-3, rng=0)
    assert ids[1:] == [V - 1] * 4


# --------------------------------------------------------------------------- #
# softmax + cross-entropy: NaN, +inf, -inf at every position
# --------------------------------------------------------------------------- #
def _loss_layers():
    return [
        ("TimeSoftmaxWithLoss", FL.TimeSoftmaxWithLoss, 3),
        ("SoftmaxWithLoss", FL.SoftmaxWithLoss, 2),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
@pytest.mark.parametrize("ignore", [-1, 3], ids=["ignore=-1", "pad_id=3"])
def test_bad_scores_in_an_ignored_row_raise(dtype, value, ignore):
    """NaN/+inf anywhere in a row whose label is ignored; a row of -inf."""
    N, T = 2, 3
    for pos in range(V):
        xs = np.random.default_rng(pos).standard_normal((N, T, V)).astype(dtype)
        ts = np.ones((N, T), dtype=int)
        ts[1, 2] = ignore
        if value == -np.inf:
            xs[1, 2, :] = value  # -inf alone is a valid score; a row of them is not
        else:
            xs[1, 2, pos] = value
        layer = FL.TimeSoftmaxWithLoss()
        layer.ignore_label = ignore
        with pytest.raises(ValueError, match="NaN or inf"):
            layer.forward(xs, ts)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_bad_scores_in_a_counted_row_raise(dtype, value):
    """NaN/+inf at every position of a counted row (label or not), -inf at the label."""
    for _name, cls, ndim in _loss_layers():
        for label in range(V):
            for pos in range(V):
                if value == -np.inf and pos != label:
                    continue  # probability 0 away from the label: valid
                rng = np.random.default_rng(pos)
                x = rng.standard_normal((2, V) if ndim == 2 else (2, 2, V)).astype(dtype)
                t = np.full(x.shape[:-1], label)
                x.reshape(-1, V)[-1, pos] = value
                with pytest.raises(ValueError, match="NaN or inf"):
                    cls().forward(x, t)


def test_minus_inf_away_from_the_label_in_an_ignored_row_is_valid():
    xs = np.zeros((1, 2, V))
    xs[0, 0, 3] = -np.inf
    loss = FL.TimeSoftmaxWithLoss().forward(xs, np.array([[-1, 1]]))
    assert loss == pytest.approx(np.log(V))


# --------------------------------------------------------------------------- #
# dtypes: every layer casts, never a numba error
# --------------------------------------------------------------------------- #
ODD_DTYPES = [np.float16, np.dtype(">f4"), np.dtype(">f8"), np.longdouble, np.int64]


def _paramless_cases(dt):
    rng = np.random.default_rng(0)

    def a(*shape):
        x = rng.standard_normal(shape) * 2
        if np.dtype(dt).kind == "i":
            x = np.round(x)
        return x.astype(dt)

    ts = np.array([1, 2])
    return {
        "Softmax": (FL.Softmax(), (a(2, V),)),
        "Sigmoid": (FL.Sigmoid(), (a(2, V),)),
        "SoftmaxWithLoss": (FL.SoftmaxWithLoss(), (a(2, V), ts)),
        "TimeSoftmaxWithLoss": (FL.TimeSoftmaxWithLoss(), (a(2, 3, V), np.ones((2, 3), int))),
        "Dropout": (FL.Dropout(0.5, rng=np.random.default_rng(1)), (a(2, V),)),
        "TimeDropout": (FL.TimeDropout(0.5, rng=np.random.default_rng(1)), (a(2, 3, V),)),
        "WeightSum": (FL.WeightSum(), (a(2, 3, H), a(2, 3))),
        "AttentionWeight": (FL.AttentionWeight(), (a(2, 3, H), a(2, H))),
        "Attention": (FL.Attention(), (a(2, 3, H), a(2, H))),
        "TimeAttention": (FL.TimeAttention(), (a(2, 3, H), a(2, 2, H))),
    }


@pytest.mark.parametrize("dt", ODD_DTYPES, ids=lambda d: np.dtype(d).str)
@pytest.mark.parametrize("name", list(_paramless_cases(np.float64)))
def test_layers_without_parameters_cast_odd_dtypes(name, dt):
    layer, inputs = _paramless_cases(dt)[name]
    out = layer.forward(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    for o in outs:
        o = np.asarray(o)
        assert o.dtype in (np.float32, np.float64), f"{name}: output dtype {o.dtype}"
        assert o.dtype.isnative or o.ndim == 0
    # the same values as in float64, to the precision of the dtype used
    ref_layer, ref_inputs = _paramless_cases(np.float64)[name]
    labels = 1 if name.endswith("Loss") else 0
    n_float = len(inputs) - labels
    ref_inputs = tuple(np.asarray(x, dtype=np.float64) for x in inputs[:n_float]) + tuple(
        inputs[n_float:]
    )
    ref = ref_layer.forward(*ref_inputs)
    refs = ref if isinstance(ref, tuple) else (ref,)
    single = np.dtype(dt).kind == "f" and np.dtype(dt).itemsize <= 4
    single = single or (np.dtype(dt).kind == "i" and not name.endswith("Loss"))
    tol = 1e-5 if single else 1e-12
    for o, r_ in zip(outs, refs):
        np.testing.assert_allclose(np.asarray(o, dtype=np.float64), r_, rtol=tol, atol=tol)
    if name.endswith("Loss"):
        back = layer.backward()
    else:
        back = layer.backward(*(np.ones_like(o) for o in outs))
    for b in back if isinstance(back, tuple) else (back,):
        assert np.asarray(b).dtype in (np.float32, np.float64)


@pytest.mark.parametrize("dt", [np.float16, np.dtype(">f4"), np.longdouble], ids=str)
def test_layers_with_parameters_cast_odd_dtypes(dt):
    rng = np.random.default_rng(0)
    layer = FL.TimeLSTM(
        rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)), np.zeros(4 * H)
    )
    xs = rng.standard_normal((2, 3, D))
    out = layer.forward(xs.astype(dt))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, FL.TimeLSTM(*layer.params).forward(xs.astype(dt).astype(float)))


# --------------------------------------------------------------------------- #
# backward before forward
# --------------------------------------------------------------------------- #
def _fresh_layers():
    rng = np.random.default_rng(0)

    def w(*shape):
        return rng.standard_normal(shape)

    lstm = [w(D, 4 * H), w(H, 4 * H), w(4 * H)]
    gru = [w(D, 3 * H), w(H, 3 * H)]
    rnn = [w(D, H), w(H, H), w(H)]
    dh = w(2, H)
    return {
        "MatMul": (FL.MatMul(w(D, H)), (w(2, H),)),
        "Affine": (FL.Affine(w(D, H), w(H)), (w(2, H),)),
        "Softmax": (FL.Softmax(), (w(2, V),)),
        "SoftmaxWithLoss": (FL.SoftmaxWithLoss(), ()),
        "Sigmoid": (FL.Sigmoid(), (w(2, V),)),
        "Dropout": (FL.Dropout(), (w(2, V),)),
        "Embedding": (FL.Embedding(w(V, D)), (w(2, D),)),
        "RNN": (FL.RNN(*rnn), (dh,)),
        "TimeRNN": (FL.TimeRNN(*rnn), (w(2, 3, H),)),
        "LSTM": (FL.LSTM(*lstm), (dh, dh)),
        "TimeLSTM": (FL.TimeLSTM(*lstm), (w(2, 3, H),)),
        "GRU": (FL.GRU(*gru), (dh,)),
        "TimeGRU": (FL.TimeGRU(*gru), (w(2, 3, H),)),
        "TimeBiLSTM": (FL.TimeBiLSTM(*lstm, *lstm), (w(2, 3, 2 * H),)),
        "TimeEmbedding": (FL.TimeEmbedding(w(V, D)), (w(2, 3, D),)),
        "TimeAffine": (FL.TimeAffine(w(D, V), w(V)), (w(2, 3, V),)),
        "TimeSoftmaxWithLoss": (FL.TimeSoftmaxWithLoss(), ()),
        "TimeDropout": (FL.TimeDropout(), (w(2, 3, H),)),
        "WeightSum": (FL.WeightSum(), (dh,)),
        "AttentionWeight": (FL.AttentionWeight(), (w(2, 3),)),
        "Attention": (FL.Attention(), (dh,)),
        "TimeAttention": (FL.TimeAttention(), (w(2, 3, H),)),
    }


def test_every_layer_is_covered_by_the_backward_first_test():
    assert set(_fresh_layers()) == set(FL.__all__)


@pytest.mark.parametrize("name", list(_fresh_layers()))
def test_layer_backward_before_forward_says_so(name):
    layer, dout = _fresh_layers()[name]
    with pytest.raises(RuntimeError, match="call forward first"):
        layer.backward(*dout)


def _models():
    return {
        "SimpleRnnlm": M.SimpleRnnlm(V, D, H),
        "Rnnlm": M.Rnnlm(V, D, H),
        "BetterRnnlm": M.BetterRnnlm(V, D, H),
        "RnnlmGen": M.RnnlmGen(V, D, H),
        "BetterRnnlmGen": M.BetterRnnlmGen(V, D, H),
        "Seq2seq": M.Seq2seq(V, D, H),
        "PeekySeq2seq": M.PeekySeq2seq(V, D, H),
        "AttentionSeq2seq": M.AttentionSeq2seq(V, D, H),
        "AttentionBiSeq2seq": M.AttentionBiSeq2seq(V, D, H),
    }


@pytest.mark.parametrize("name", list(_models()))
def test_model_backward_before_forward_says_so(name):
    model = _models()[name]
    with pytest.raises(RuntimeError, match="call forward first"):
        model.backward()


@pytest.mark.parametrize(
    "part",
    [
        lambda: (M.Encoder(V, D, H), np.ones((2, H))),
        lambda: (M.Decoder(V, D, H), np.ones((2, 3, V))),
        lambda: (M.PeekyDecoder(V, D, H), np.ones((2, 3, V))),
        lambda: (M.AttentionEncoder(V, D, H), np.ones((2, 3, H))),
        lambda: (M.AttentionDecoder(V, D, H), np.ones((2, 3, V))),
    ],
    ids=["Encoder", "Decoder", "PeekyDecoder", "AttentionEncoder", "AttentionDecoder"],
)
def test_model_parts_backward_before_forward_says_so(part):
    obj, dout = part()
    with pytest.raises(RuntimeError, match="call forward first"):
        obj.backward(dout)


# --------------------------------------------------------------------------- #
# empty batches
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("shape", [(0, 3), (2, 0)], ids=["N=0", "T=0"])
def test_time_affine_refuses_an_empty_batch(shape):
    layer = FL.TimeAffine(np.ones((D, V)), np.zeros(V))
    with pytest.raises(ValueError, match=r"at least one sequence \(N >= 1\).*\(T >= 1\)"):
        layer.forward(np.ones(shape + (D,)))


@pytest.mark.parametrize("shape", [(0, 3), (2, 0)], ids=["N=0", "T=0"])
@pytest.mark.parametrize("cls", [M.SimpleRnnlm, M.Rnnlm, M.BetterRnnlm], ids=lambda c: c.__name__)
def test_language_models_refuse_an_empty_batch(cls, shape):
    model = cls(V, D, H)
    with pytest.raises(ValueError, match=r"xs has shape .*N >= 1"):
        model.forward(np.zeros(shape, dtype=int), np.zeros(shape, dtype=int))
    # and the model is still usable afterwards
    assert np.isfinite(model.forward(np.ones((2, 3), int), np.ones((2, 3), int)))


@pytest.mark.parametrize("cls", SEQ2SEQ, ids=lambda c: c.__name__)
def test_seq2seq_refuses_questions_without_time_steps(cls):
    model = cls(V, D, H)
    with pytest.raises(ValueError, match=r"xs has shape \(2, 0\).*T >= 1"):
        model.forward(np.zeros((2, 0), dtype=int), np.ones((2, 4), dtype=int))
    with pytest.raises(ValueError, match=r"T >= 1|length >= 1"):
        _decode(model, np.zeros((2, 0), dtype=int))


# --------------------------------------------------------------------------- #
# data files with a UTF-8 byte-order mark
# --------------------------------------------------------------------------- #
def test_sequence_file_with_a_bom_reads_as_without(tmp_path):
    from fastlstm.datasets import sequence

    lines = sequence.make_addition(40, seed=0)
    plain = tmp_path / "plain.txt"
    bom = tmp_path / "bom.txt"
    plain.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bom.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    assert bom.read_bytes().startswith(b"\xef\xbb\xbf")
    (x0, t0), (xt0, tt0), v0 = sequence.load_data(plain, return_vocab=True)
    (x1, t1), (xt1, tt1), v1 = sequence.load_data(bom, return_vocab=True)
    assert v1 == v0 and "\ufeff" not in v1
    for a, b in ((x0, x1), (t0, t1), (xt0, xt1), (tt0, tt1)):
        np.testing.assert_array_equal(a, b)


def test_ptb_files_with_a_bom_read_as_without(tmp_path, monkeypatch):
    import urllib.error

    from fastlstm.datasets import ptb

    def offline(url, dest):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(ptb, "_download", offline)
    texts = {"train": " a b a \n b c \n", "valid": " d a \n", "test": " e \n d \n"}
    loaded = {}
    for kind, encoding in (("plain", "utf-8"), ("bom", "utf-8-sig")):
        d = tmp_path / kind / "ptb"
        d.mkdir(parents=True)
        for name, text in texts.items():
            (d / f"ptb.{name}.txt").write_text(text, encoding=encoding)
        monkeypatch.setenv("FASTLSTM_DATA", str(tmp_path / kind))
        monkeypatch.setenv("FASTLSTM_CACHE", str(tmp_path / kind / "cache"))
        loaded[kind] = {s: ptb.load_data(s) for s in ("train", "val", "test")}
    for split in ("train", "val", "test"):
        corpus0, w2i0, _ = loaded["plain"][split]
        corpus1, w2i1, _ = loaded["bom"][split]
        assert w2i1 == w2i0
        np.testing.assert_array_equal(corpus1, corpus0)


# --------------------------------------------------------------------------- #
# the command line refuses impossible model sizes before allocating them
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("flag", ["--wordvec", "--hidden"])
def test_command_line_refuses_a_model_too_large_for_memory(tmp_path, monkeypatch, capsys, flag):
    import time

    from fastlstm import cli
    from fastlstm.datasets.sequence import make_addition

    monkeypatch.setenv("FASTLSTM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FASTLSTM_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "addition_small.txt"
    data.write_text("\n".join(make_addition(200, seed=1)) + "\n")
    t0 = time.perf_counter()
    code = cli.main(["train", "seq2seq", "--data", str(data), flag, "100000000", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code != 0
    assert "GiB" in err and "100000000" in err and "Traceback" not in err
    assert time.perf_counter() - t0 < 30


# --------------------------------------------------------------------------- #
# a data set too small for one batch is refused before any training
# --------------------------------------------------------------------------- #
def test_trainers_refuse_too_little_data_before_training():
    from fastlstm.optim import SGD
    from fastlstm.trainer import RnnlmTrainer, Trainer

    calls = []

    def counting(model):
        forward = model.forward
        model.forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
        return model

    model = counting(M.Seq2seq(V, D, H))
    x, t = np.ones((5, 3), dtype=int), np.ones((5, 4), dtype=int)
    with pytest.raises(ValueError, match=r"batch_size=8 is larger than the data \(5\)"):
        Trainer(model, SGD(), progress=False).fit(x, t, max_epoch=2, batch_size=8)
    model = counting(M.Rnnlm(V, D, H))
    corpus = np.ones(50, dtype=int)
    with pytest.raises(ValueError, match=r"batch_size \* time_size = 60 .* \(50 ids\)"):
        RnnlmTrainer(model, SGD(), progress=False).fit(
            corpus, corpus, max_epoch=2, batch_size=2, time_size=30
        )
    assert not calls, "training started before the data size was checked"


# --------------------------------------------------------------------------- #
# environment variables
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("value", ["abc", "-1", "2.5"])
@pytest.mark.parametrize("name", ["FASTLSTM_CHUNKS", "FASTLSTM_PARALLEL_MIN_WORK"])
def test_bad_integer_environment_variables_are_named(name, value):
    """``FASTLSTM_CHUNKS=abc`` used to fail with "invalid literal for int()" and ``-1``
    was silently 1: both are errors naming the variable and its value."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, name: value}
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), str(root)])
    proc = subprocess.run(
        [sys.executable, "-c", "import fastlstm._numba"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: environment variable " + name), proc.stderr
    assert repr(value) in last, proc.stderr


def test_chunks_zero_or_unset_is_one_block_per_cpu():
    import os

    from fastlstm import _numba

    if os.environ.get("FASTLSTM_CHUNKS", "0").strip() in ("", "0"):
        assert _numba.CHUNKS == (os.cpu_count() or 1)
