"""Text generation of the language models and batched decoding of the seq2seq models."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import fastlstm.models as F
import reference.models as R
from fastlstm.models import MAX_SKIPPED_DRAWS, sample_from_scores, sampling, softmax64
from reference.functions import softmax

V = 40


def lm_pair(name, seed=3, dtype=np.float64, scale=1.0):
    """Fast and reference language models with identical parameters.

    The reference is always the book's generator class (``...Gen``).  ``scale``
    multiplies the weights so the next-word distributions are far from
    uniform (as for a trained model) and the tests can tell ids apart.
    """
    args = (V, 9, 9) if name.startswith("Better") else (V, 8, 7)
    fast = getattr(F, name)(*args, seed=seed, dtype=dtype)
    ref = getattr(R, name if name.endswith("Gen") else name + "Gen")(*args, seed=seed, dtype=dtype)
    for p, q in zip(fast.params, ref.params):
        np.testing.assert_array_equal(p, q)
        p *= scale
        q *= scale
    return fast, ref


def step_scores(ref, x):
    """Scores ``(V,)`` of the reference model after feeding one id (advances its state)."""
    return ref.predict(np.array([[x]]))[0, 0].astype(np.float64)


# --------------------------------------------------------------------------- #
# sampling rule
# --------------------------------------------------------------------------- #
def test_sample_from_scores_reproduces_generator_choice():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((200, 50)).astype(np.float32) * 3
    g1, g2 = np.random.default_rng(42), np.random.default_rng(42)
    ours = [sample_from_scores(s, g1) for s in scores]
    theirs = [int(g2.choice(50, size=1, p=softmax(s.astype(np.float64)))[0]) for s in scores]
    assert ours == theirs
    assert len(set(ours)) > 10
    assert g1.random() == g2.random()  # one uniform per draw, as rng.choice


def test_sample_from_scores_options():
    s = np.array([0.0, 3.0, 1.0, 3.0, -2.0])
    assert sample_from_scores(s, greedy=True) == 1  # first maximum
    assert all(sample_from_scores(s, rng=k, top_k=1) == 1 for k in range(20))
    drawn = {sample_from_scores(s, rng=k, top_k=3) for k in range(200)}
    assert drawn == {1, 2, 3}
    np.testing.assert_allclose(softmax64(s, 2.0), softmax(s / 2.0), rtol=1e-15)
    cold = [sample_from_scores(s, rng=k, temperature=0.05) for k in range(50)]
    assert set(cold) == {1, 3}
    with pytest.raises(ValueError, match="temperature"):
        sample_from_scores(s, temperature=0)
    with pytest.raises(ValueError, match="top_k"):
        sample_from_scores(s, top_k=0)
    with pytest.raises(ValueError, match="NaN"):
        sample_from_scores(np.array([0.0, np.nan]))


# --------------------------------------------------------------------------- #
# language models vs the reference generator
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", ["RnnlmGen", "BetterRnnlmGen", "Rnnlm", "BetterRnnlm"])
def test_generate_matches_reference_generator(name):
    fast, ref = lm_pair(name, scale=3.0)
    skip = [0, 5, 7]
    g_fast, g_ref = np.random.default_rng(9), np.random.default_rng(9)
    # two calls in a row: the state and the generator carry over, as in the book
    for start, size in ((2, 60), (11, 35)):
        ours = fast.generate(start, skip, sample_size=size, rng=g_fast)
        theirs = ref.generate(start, skip, sample_size=size, rng=g_ref)
        assert ours == theirs
        assert all(type(i) is int for i in ours)
        assert len(ours) == size and ours[0] == start
        assert not set(ours[1:]) & set(skip)
    assert g_fast.random() == g_ref.random()  # same number of draws
    lstms = fast.lstm_layers if name.startswith("Better") else [fast.lstm_layer]
    ref_lstms = ref.lstm_layers if name.startswith("Better") else [ref.lstm_layer]
    for lf, lr in zip(lstms, ref_lstms):
        np.testing.assert_allclose(lf.h, lr.h, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(lf.c, lr.c, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["RnnlmGen", "BetterRnnlmGen"])
def test_same_seed_same_text(name):
    fast, _ = lm_pair(name, dtype=np.float32, scale=3.0)
    a = fast.generate(1, sample_size=50, rng=5)
    fast.reset_state()
    b = fast.generate(1, sample_size=50, rng=np.random.default_rng(5))
    c = fast.generate(1, sample_size=50, rng=5)  # state carried over: differs
    fast.reset_state()
    d = fast.generate(1, sample_size=50, rng=6)
    assert a == b
    assert a != c and a != d


def test_skipped_draws_feed_the_same_input_again():
    # strongly favour the skipped ids: many redraws, none emitted
    fast, ref = lm_pair("RnnlmGen", scale=2.0)
    skip = [3, 4]
    for m in (fast, ref):
        m.params[-1][skip] += 2.5  # affine bias
    ours = fast.generate(1, skip, sample_size=40, rng=0)
    theirs = ref.generate(1, skip, sample_size=40, rng=np.random.default_rng(0))
    assert ours == theirs
    assert not set(ours[1:]) & set(skip)


def test_skip_ids_validation():
    fast, _ = lm_pair("RnnlmGen")
    with pytest.raises(ValueError, match="covers all"):
        fast.generate(1, skip_ids=range(V), sample_size=5)
    with pytest.raises(ValueError, match="skip_ids"):
        fast.generate(1, skip_ids=[V], sample_size=5)
    with pytest.raises(TypeError, match="skip_ids"):
        fast.generate(1, skip_ids=[1.5], sample_size=5)


def test_all_mass_on_skipped_ids_stops_with_an_error():
    fast, _ = lm_pair("BetterRnnlmGen")
    skip = [2, 3]
    fast.params[-1][skip] = 1000.0  # output bias: every draw is a skipped id
    with pytest.raises(RuntimeError, match=f"{MAX_SKIPPED_DRAWS} consecutive.*greedy=True"):
        fast.generate(1, skip, sample_size=5, rng=0)
    fast.reset_state()
    # greedy takes the best id outside skip_ids (it fed the same word again and gave up)
    fed, ids = [1], fast.generate(1, skip, sample_size=5, greedy=True)
    _, ref = lm_pair("BetterRnnlmGen")
    ref.params[-1][skip] = 1000.0
    for _ in range(4):  # the book's generate returns the start id and 4 more
        s = step_scores(ref, fed[-1]).astype(np.float64)
        s[skip] = -np.inf
        fed.append(int(np.argmax(s)))
    assert ids == fed and not set(ids) & set(skip)


@pytest.mark.parametrize("name", ["RnnlmGen", "BetterRnnlmGen"])
def test_greedy_is_the_argmax_and_top_k_1_is_greedy(name):
    fast, ref = lm_pair(name, scale=3.0)
    ours = fast.generate(4, sample_size=30, greedy=True)
    ids = [4]
    for _ in range(29):
        ids.append(int(np.argmax(step_scores(ref, ids[-1]))))
    assert ours == ids
    fast.reset_state()
    assert fast.generate(4, sample_size=30, top_k=1, rng=3) == ours
    fast.reset_state()
    everything = fast.generate(4, sample_size=30, top_k=V, rng=3)
    fast.reset_state()
    assert fast.generate(4, sample_size=30, rng=3) == everything != ours


@pytest.mark.parametrize("name", ["RnnlmGen", "BetterRnnlmGen"])
@pytest.mark.parametrize(("temperature", "top_k"), [(0.7, None), (1.5, 5), (1.0, 3)])
def test_temperature_and_top_k_follow_the_sampling_rule(name, temperature, top_k):
    fast, ref = lm_pair(name, scale=3.0)
    ours = fast.generate(4, sample_size=40, temperature=temperature, top_k=top_k, rng=8)
    g = np.random.default_rng(8)
    ids = [4]
    for _ in range(39):
        s = step_scores(ref, ids[-1])
        nxt = sample_from_scores(s, g, temperature=temperature, top_k=top_k)
        if top_k is not None:
            assert nxt in np.argsort(-s, kind="stable")[:top_k]
        ids.append(nxt)
    assert ours == ids


def test_prime_is_the_books_priming():
    fast, ref = lm_pair("BetterRnnlmGen", scale=3.0)
    start_ids = [6, 1, 9, 3, 12]
    fast.prime(start_ids[:-1])
    ours = fast.generate(start_ids[-1], sample_size=30, rng=2)
    for x in start_ids[:-1]:  # generate_better_text.py
        ref.predict(np.array(x).reshape(1, 1))
    theirs = ref.generate(start_ids[-1], sample_size=30, rng=np.random.default_rng(2))
    assert ours == theirs
    fast.reset_state()
    assert fast.generate(start_ids[-1], sample_size=30, rng=2) != ours
    fast.prime([])  # nothing to feed
    with pytest.raises(ValueError, match="word_ids"):
        fast.prime([V])


def test_generate_argument_checks():
    fast, _ = lm_pair("RnnlmGen")
    assert fast.generate(3, sample_size=1) == [3]
    with pytest.raises(ValueError, match="start_id"):
        fast.generate(V)
    with pytest.raises(ValueError, match="sample_size"):
        fast.generate(1, sample_size=0)
    with pytest.raises(ValueError, match="temperature"):
        fast.generate(1, temperature=-1.0)
    with pytest.raises(ValueError, match="top_k"):
        fast.generate(1, top_k=0)
    fast.reset_state()
    fast.forward(np.zeros((3, 4), dtype=int), np.zeros((3, 4), dtype=int))  # batch of 3
    with pytest.raises(ValueError, match="reset_state"):
        fast.generate(1)
    fast.reset_state()
    assert len(fast.generate(1, sample_size=5, rng=0)) == 5


def test_generation_does_not_depend_on_the_thread_count(monkeypatch):
    fast, _ = lm_pair("BetterRnnlmGen", dtype=np.float32, scale=3.0)
    serial = fast.generate(2, sample_size=40, rng=4)
    monkeypatch.setattr(sampling, "_PARALLEL_MIN_BYTES", 0)  # use the threads even here
    monkeypatch.setattr(sampling, "_PARALLEL_MIN_RUN_BYTES", 0)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        fast.reset_state()
        one = fast.generate(2, sample_size=40, rng=4)
    finally:
        numba.set_num_threads(before)
    fast.reset_state()
    assert fast.generate(2, sample_size=40, rng=4) == one == serial


def test_float32_generation_follows_the_reference_closely():
    fast, ref = lm_pair("BetterRnnlmGen", dtype=np.float32, scale=3.0)
    ours = fast.generate(2, sample_size=40, greedy=True)
    ids = [2]
    for _ in range(39):
        ids.append(int(np.argmax(step_scores(ref, ids[-1]))))
    assert ours == ids


# --------------------------------------------------------------------------- #
# seq2seq: batched greedy decoding
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "name", ["Seq2seq", "PeekySeq2seq", "AttentionSeq2seq", "AttentionBiSeq2seq"]
)
def test_batched_decoding_equals_reference_per_question(name):
    Vs, D, H = 13, 6, 10
    fast = getattr(F, name)(Vs, D, H, seed=2, dtype=np.float64)
    ref = getattr(R, name)(Vs, D, H, seed=2, dtype=np.float64)
    rng = np.random.default_rng(1)
    for p, q in zip(fast.params, ref.params):
        np.testing.assert_array_equal(p, q)
        noise = rng.standard_normal(p.shape) * 0.8  # a decisive, non-trivial decoder
        p[...] = noise
        q[...] = noise
    xs = rng.integers(0, Vs, (9, 7))
    out = fast.generate_batch(xs, 3, 6)
    assert isinstance(out, np.ndarray) and out.shape == (9, 6) and out.dtype.kind == "i"
    rows = [ref.generate(xs[n : n + 1], 3, 6) for n in range(len(xs))]
    np.testing.assert_array_equal(out, np.array(rows))
    assert len({tuple(r) for r in rows}) > 1
    one = fast.generate(xs[:1], 3, 6)  # the book's type for one question
    assert type(one) is list and all(type(i) is int for i in one)
    assert one == list(rows[0])
    with pytest.raises(ValueError, match="generate_batch"):
        fast.generate(xs, 3, 6)


def test_attention_weights_of_generate():
    Vs, D, H = 13, 6, 10
    model = F.AttentionSeq2seq(Vs, D, H, seed=2, dtype=np.float64)
    rng = np.random.default_rng(3)
    for p in model.params:
        p[...] = rng.standard_normal(p.shape) * 0.8
    xs = rng.integers(0, Vs, (4, 7))
    out = model.generate_batch(xs, 3, 5)
    att = model.decoder.attention
    assert att.weights.shape == (4, 5, 7)
    np.testing.assert_allclose(att.weights.sum(axis=2), 1.0, rtol=1e-12)
    assert len(att.attention_weights) == 5
    np.testing.assert_array_equal(att.attention_weights[2], att.weights[:, 2])
    # the same weights as teacher forcing on the generated answer
    decoded = att.weights.copy()
    ts = np.concatenate([np.full((4, 1), 3), out], axis=1)
    model.forward(xs, ts)
    np.testing.assert_allclose(model.decoder.attention.weights, decoded, rtol=1e-10, atol=1e-14)


def test_seq2seq_generate_checks_its_input():
    model = F.Seq2seq(13, 6, 10, seed=0)
    with pytest.raises(ValueError, match="xs"):
        model.generate(np.zeros(5, dtype=int), 0, 3)
    with pytest.raises(TypeError, match="xs"):
        model.generate(np.zeros((1, 5)), 0, 3)
    with pytest.raises(ValueError, match="start_id"):
        model.generate(np.zeros((1, 5), dtype=int), 13, 3)


@pytest.mark.parametrize("rows", [1, 60])  # a few ids (found in a list) and many (in NumPy)
def test_seq2seq_ids_and_arguments_are_checked_alike_for_few_and_many(rows):
    model = F.Seq2seq(13, 6, 10, seed=0)
    for dtype in (np.int32, np.int64, np.uint8):
        xs = np.full((rows, 5), 3, dtype=dtype)
        xs[-1, 2] = 13
        with pytest.raises(ValueError, match=r"xs must hold ids in \[0, 13\), got \[3, 13\]"):
            model.generate_batch(xs, 0, 3)
    xs = np.full((rows, 5), 3)
    xs[0, 0] = -2
    with pytest.raises(ValueError, match=r"got \[-2, 3\]"):
        model.generate_batch(xs, 0, 3)
    xs[0, 0] = 4
    want = model.generate_batch(xs, 1, 3)
    # the book reads start_id from a NumPy array; every integer type gives the same answers
    for start, size in ((np.int64(1), np.int32(3)), (np.uint8(1), 3), (1, np.int16(3))):
        np.testing.assert_array_equal(model.generate_batch(xs, start, size), want)
    for start, size, error, match in (
        (True, 3, TypeError, "start_id must be an int, got bool"),
        (1.0, 3, TypeError, "start_id must be an int, got float"),
        (1, np.float64(3), TypeError, "sample_size must be an int"),
        (np.int64(13), 3, ValueError, "start_id must be in"),
        (np.int32(-1), 3, ValueError, "start_id must be in"),
        (1, np.int64(-1), ValueError, "sample_size must be >= 0"),
    ):
        with pytest.raises(error, match=match):
            model.generate_batch(xs, start, size)


def test_generation_checks_the_layers_and_takes_read_only_weights():
    g = F.RnnlmGen(15, 5, 6, seed=0)
    g.lstm_layer.params[1] = np.ones((9, 24), np.float32)  # it gave ids silently
    with pytest.raises(ValueError, match=r"TimeLSTM.params\[1\] \(Wh\) has shape"):
        g.generate(1, None, 5, rng=0)
    g = F.RnnlmGen(15, 5, 6, seed=0)
    g.lstm_layer.params[1] = g.lstm_layer.params[1].astype(np.float64)  # a numba TypingError
    with pytest.raises(TypeError, match=r"TimeLSTM.params\[1\] \(Wh\) has dtype float64"):
        g.generate(1, None, 5, rng=0)
    with pytest.raises(TypeError, match="greedy must be True or False, got 'False'"):
        F.RnnlmGen(15, 5, 6, seed=0).generate(1, None, 5, greedy="False")
    a, b = F.BetterRnnlmGen(19, 6, 6, seed=1), F.BetterRnnlmGen(19, 6, 6, seed=1)
    b.params[1].flags.writeable = False  # one of the LSTM layers' (a TypingError)
    assert b.generate(3, None, 8, rng=0) == a.generate(3, None, 8, rng=0)
