"""Greedy decoding of the seq2seq models in one kernel (``fastlstm.models.greedy``).

The kernel must give what the step-by-step loop of layer calls gives (the same
ids and attention weights, bit for bit), and the book's answers of the
reference models; laid-out weights are reused only while the parameters are
unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm.models as F
import reference.models as R
from fastlstm._kernels import blas as kblas
from fastlstm._kernels import decode as kdec
from fastlstm.models import greedy
from tests._compare import assert_rows_alike

V, D = 19, 8
# name -> hidden size (the bidirectional encoder needs an even one)
SEQ2SEQ = {"Seq2seq": 12, "PeekySeq2seq": 12, "AttentionSeq2seq": 12, "AttentionBiSeq2seq": 14}


def _steps(model, xs, start_id, sample_size):
    """The answers of the layer-by-layer loop (the code the kernel replaces)."""
    h = model.encoder.forward(xs)
    out = model.decoder._generate_steps(h, start_id, sample_size)
    weights = getattr(getattr(model.decoder, "attention", None), "weights", None)
    return out, None if weights is None else weights.copy()


def _questions(N, T, seed=0):
    return np.random.default_rng(seed).integers(0, V, size=(N, T)).astype(np.int32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(SEQ2SEQ))
@pytest.mark.parametrize(("N", "T", "S"), [(1, 1, 1), (1, 6, 5), (5, 3, 9), (37, 7, 4), (3, 4, 0)])
def test_kernel_gives_the_step_loops_ids_and_weights(name, dtype, N, T, S):
    model = getattr(F, name)(V, D, SEQ2SEQ[name], seed=4, dtype=dtype)
    xs = _questions(N, T)
    got = model.generate_batch(xs, 3, S)
    assert got.shape == (N, S) and got.dtype == np.int64
    attention = getattr(model.decoder, "attention", None)
    got_w = None if attention is None else attention.weights.copy()
    got_state = (model.decoder.lstm.h.copy(), model.decoder.lstm.c.copy()) if S else None
    want, want_w = _steps(model, xs, 3, S)
    np.testing.assert_array_equal(got, want)
    if attention is not None:
        assert got_w.shape == (N, S, T)
        assert got_w.tobytes() == want_w.tobytes()
        assert len(attention.attention_weights) == S
    if S:
        assert got_state[0].tobytes() == model.decoder.lstm.h.tobytes()
        assert got_state[1].tobytes() == model.decoder.lstm.c.tobytes()
    for n in range(N):  # one question at a time, as the book's eval_seq2seq
        assert model.generate(xs[n : n + 1], 3, S) == list(got[n])


@pytest.mark.parametrize("name", list(SEQ2SEQ))
def test_an_end_symbol_gives_what_the_step_loop_gives(name):
    """With ``end_id`` the step loop stops once every answer has produced it and fills the
    rest with it (attention weights zero); the kernel decodes to the end and must agree."""
    xs = _questions(2, 5, seed=2)  # few answers: an id all of them produce stops early
    stopped = 0
    for seed in range(4):
        model = getattr(F, name)(V, D, SEQ2SEQ[name], seed=seed, dtype=np.float64)
        for p in model.params:
            p *= 8  # answers that vary from step to step
        full = model.generate_batch(xs, 3, 12)
        for end_id in range(V):
            got = model.generate_batch(xs, 3, 12, end_id=end_id)
            attention = getattr(model.decoder, "attention", None)
            got_w = None if attention is None else attention.weights.copy()
            h = model.encoder.forward(xs)
            want = model.decoder._generate_steps(h, 3, 12, end_id=end_id)
            np.testing.assert_array_equal(got, want)
            if attention is not None:
                assert got_w.tobytes() == attention.weights.tobytes()
            stopped += not np.array_equal(full, got)
    assert stopped, "no end symbol stopped the decoding early: the test shows nothing"


@pytest.mark.parametrize("name", list(SEQ2SEQ))
def test_one_question_at_a_time_gives_the_reference_answers(name):
    H = SEQ2SEQ[name]
    fast = getattr(F, name)(V, D, H, seed=9, dtype=np.float64)
    ref = getattr(R, name)(V, D, H, seed=9, dtype=np.float64)
    for p, q in zip(fast.params, ref.params):
        q *= 8  # larger weights: answers that vary from step to step
        p[...] = q
    xs = _questions(40, 6, seed=1)
    answers = [fast.generate(xs[n : n + 1], 2, 7) for n in range(len(xs))]
    assert answers == [list(ref.generate(xs[n : n + 1], 2, 7)) for n in range(len(xs))]
    assert len({tuple(a) for a in answers}) > 10  # not one answer for all
    np.testing.assert_array_equal(fast.generate_batch(xs, 2, 7), np.array(answers))


@pytest.mark.parametrize("name", list(SEQ2SEQ))
def test_ties_take_the_lowest_id(name):
    """Equal scores: the first of them, as ``np.argmax`` (and the book)."""
    model = getattr(F, name)(V, D, SEQ2SEQ[name], seed=1)
    W, b = model.decoder.affine.params
    W[...] = 0
    b[...] = 0
    b[[4, 9, 17]] = 2.5  # three equal maxima
    xs = _questions(6, 5)
    np.testing.assert_array_equal(model.generate_batch(xs, 0, 3), np.full((6, 3), 4))
    b[[4, 9, 17]] = 0  # all equal: id 0
    np.testing.assert_array_equal(model.generate_batch(xs, 0, 3), np.zeros((6, 3)))
    np.testing.assert_array_equal(model.generate_batch(xs, 0, 3), _steps(model, xs, 0, 3)[0])


@pytest.mark.parametrize("name", list(SEQ2SEQ))
def test_changed_parameters_are_laid_out_again(name):
    model = getattr(F, name)(V, D, SEQ2SEQ[name], seed=2)
    xs = _questions(4, 5)
    first = model.generate_batch(xs, 1, 3)
    for p in model.params:  # every parameter, changed in place
        saved = p.copy()
        p *= 3
        p += 0.5
        np.testing.assert_array_equal(model.generate_batch(xs, 1, 3), _steps(model, xs, 1, 3)[0])
        p[...] = saved
    model.decoder.affine.params[1][11] = 1e3  # the bias: id 11 everywhere
    np.testing.assert_array_equal(model.generate_batch(xs, 1, 3), np.full((4, 3), 11))
    model.decoder.affine.params[1][11] = 0
    np.testing.assert_array_equal(model.generate_batch(xs, 1, 3), first)


def test_the_sign_of_a_zero_counts_as_a_change():
    model = F.Seq2seq(V, D, 12, seed=2)
    b = model.decoder.lstm.params[2]
    model.generate_batch(_questions(2, 3), 1, 2)
    laid = model._greedy_laid
    b[0] = -0.0  # equal to 0.0, other bits
    model.generate_batch(_questions(2, 3), 1, 2)
    assert model._greedy_laid is not laid
    laid = model._greedy_laid
    model.generate_batch(_questions(2, 3), 1, 2)
    assert model._greedy_laid is laid  # unchanged: kept


def test_read_only_parameters_are_checked_for_changes_too():
    """A read-only parameter among writeable ones is compared for changes as well."""
    model = F.Seq2seq(V, D, 12, seed=2)
    xs = _questions(3, 4)
    model.params[1].flags.writeable = False  # before the weights are first laid out
    model.generate_batch(xs, 1, 3)
    laid = model._greedy_laid
    model.generate_batch(xs, 1, 3)
    assert model._greedy_laid is laid  # unchanged: kept
    b = model.decoder.affine.params[1]
    b[7] = 1e3  # a writeable parameter changed beside the read-only one
    np.testing.assert_array_equal(model.generate_batch(xs, 1, 3), np.full((3, 3), 7))
    assert model._greedy_laid is not laid


def test_unchanged_parameters_are_not_laid_out_again(monkeypatch):
    model = F.AttentionSeq2seq(V, D, 12, seed=2)
    xs = _questions(3, 4)
    model.generate_batch(xs, 1, 3)
    calls = []
    monkeypatch.setattr(greedy, "_lstm_weights", lambda *a: calls.append(a))
    for n in range(3):
        model.generate(xs[n : n + 1], 1, 3)
    assert calls == []


@pytest.mark.parametrize("kind", ["Decoder", "PeekyDecoder", "AttentionDecoder"])
def test_decoders_alone_give_the_step_loops_ids(kind):
    rng = np.random.default_rng(3)
    decoder = getattr(F, kind)(V, D, 10, seed=5)
    for N in (1, 6):
        shape = (N, 4, 10) if kind == "AttentionDecoder" else (N, 10)
        state = rng.standard_normal(shape).astype(np.float32)
        got = decoder.generate_batch(state, 2, 6)
        np.testing.assert_array_equal(got, decoder._generate_steps(state, 2, 6))
        assert decoder.generate(state[:1], 2, 6) == list(got[0])


def test_a_subclass_with_its_own_step_keeps_the_step_loop():
    class Louder(F.Decoder):
        def _step(self, ids, h):
            score = super()._step(ids, h)
            score[:, 5] += 1e3
            return score

    decoder = Louder(V, D, 10, seed=5)
    state = np.random.default_rng(0).standard_normal((3, 10)).astype(np.float32)
    np.testing.assert_array_equal(decoder.generate_batch(state, 2, 4), np.full((3, 4), 5))


@pytest.mark.parametrize("name", ["PeekySeq2seq", "AttentionSeq2seq"])
def test_serial_and_parallel_builds_give_the_same_ids(name, monkeypatch):
    model = getattr(F, name)(V, D, 16, seed=6)
    xs = _questions(50, 6)
    hs = model.encoder.forward(xs)
    want = model.generate_batch(xs, 1, 5)
    for build in (kdec.greedy_decode.serial, kdec.greedy_decode.parallel):
        monkeypatch.setattr(greedy, "_kernel", lambda *a, build=build: build)
        np.testing.assert_array_equal(model.decoder.generate_batch(hs, 1, 5), want)


@pytest.mark.parametrize("H", [8, 11])  # 4H in whole panels, and not
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_peeky_static_projection_has_the_bits_of_one_row(dtype, H):
    """A peeky decoder's ``static @ Ws`` (the layer's, from panels, for any number of rows, in
    any blocks of rows) has the bits of one row read from ``Ws`` as it is, as the one-question
    kernel reads it."""
    from fastlstm._kernels import lstm as klstm

    rng = np.random.default_rng(3)
    P = kblas.panel_width(dtype)
    npan = -(-4 * H // P)
    C, hc = klstm.split_units(H, 2, P // 4)
    Ws = rng.standard_normal((H, 4 * H)).astype(dtype)
    Wsp = np.empty((npan, H, P), dtype=dtype)
    kblas.pack_panels(Ws, Wsp)
    static = rng.standard_normal((13, H)).astype(dtype)
    proj = np.empty((13, npan * P), dtype=dtype)
    blocks = np.full((C, 13, 4 * hc), np.nan, dtype=dtype)
    klstm.static_projection(static, Wsp, H, proj, blocks)
    np.testing.assert_allclose(
        proj[:, : 4 * H], static @ Ws, rtol=1e-4 if dtype == np.float32 else 1e-12
    )
    cols = klstm.gate_columns(H, C, hc)
    for c in range(C):  # the blocks' gate order, padding zero
        for j, col in enumerate(cols[c]):
            want = proj[:, col] if col >= 0 else np.zeros(13, dtype=dtype)
            assert blocks[c, :, j].tobytes() == want.tobytes()
    if 4 * H % P == 0:
        for n in (0, 5, 12):
            row = np.full(4 * H, np.nan, dtype=dtype)
            kblas.matmul_row(static[n], Ws, row)
            assert row.tobytes() == proj[n, : 4 * H].tobytes()
    one = np.empty((1, npan * P), dtype=dtype)
    one_blocks = np.empty((C, 1, 4 * hc), dtype=dtype)
    klstm.static_projection(static[5:6], Wsp, H, one, one_blocks)
    assert one_blocks.tobytes() == blocks[:, 5:6].tobytes()
    for build in (klstm.static_projection_blocks.serial, klstm.static_projection_blocks.parallel):
        for nch in (1, 2, 3, 13, 20):  # blocks of rows (the layer's), more blocks than rows
            split = np.full_like(blocks, np.nan)
            build(static, Wsp, H, np.empty_like(proj), split, nch)
            assert split.tobytes() == blocks.tobytes()


def test_row_block_follows_the_l1_cache(tmp_path):
    """Rows of ``B`` read at a time by ``matmul_row``: 8 with a 12-way L1 data cache, 4 with
    an 8-way one or when ``sysfs`` tells nothing (the bits are the same either way)."""

    def cache(index, level, kind, ways):
        folder = tmp_path / index
        folder.mkdir()
        for name, value in (("level", level), ("type", kind), ("ways_of_associativity", ways)):
            (folder / name).write_text(f"{value}\n")

    cache("index0", 1, "Data", 12)
    cache("index1", 1, "Instruction", 8)
    cache("index2", 2, "Unified", 16)
    assert kblas._l1_ways(str(tmp_path)) == 12
    assert kblas._l1_ways(str(tmp_path / "none")) == 0
    (tmp_path / "index0" / "ways_of_associativity").write_text("many\n")
    assert kblas._l1_ways(str(tmp_path)) == 0
    assert [kblas._row_block(w) for w in (0, 8, 12, 16)] == [4, 4, 8, 8]
    assert kblas.ROW_BLOCK in (4, 8)


@pytest.mark.parametrize("K", [0, 1, kblas.ROW_BLOCK + 1, 37])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_row_product_has_the_bits_of_the_row_in_a_tile(dtype, K):
    """A single row runs several panels at once, and in its own layout ``ROW_BLOCK`` rows of
    ``B`` at a time; every sum keeps its order."""
    rng = np.random.default_rng(0)
    P = kblas.panel_width(dtype)
    M = 7 * P  # 7 panels: groups of ROW_PANELS and a rest
    A = rng.standard_normal((3, K)).astype(dtype)
    B = rng.standard_normal((K, M)).astype(dtype)
    Bp = np.empty((7, K, P), dtype=dtype)
    kblas.pack_panels(B, Bp)
    one = np.empty((1, M), dtype=dtype)
    three = np.empty((3, M), dtype=dtype)
    kblas.matmul_panels_wide(A[:1], Bp, one)
    kblas.matmul_panels(A, Bp, three)
    assert one.tobytes() == three[:1].tobytes()
    np.testing.assert_allclose(one, A[:1] @ B, rtol=1e-4 if dtype == np.float32 else 1e-12)
    book = np.full(M, np.nan, dtype=dtype)
    kblas.matmul_row(A[0], B, book)  # B in its own layout, not in panels
    assert book.tobytes() == one[0].tobytes()


# one question: the kernel reads the LSTMs' Wh as they are when 4H is a whole number of panels
# (H = 16, 24 on every machine; H = 12 only where a float32 panel holds 16 values or fewer)
ONE = [("Seq2seq", 16), ("PeekySeq2seq", 24), ("AttentionSeq2seq", 16), ("Seq2seq", 12)]


def _one(name, H, dtype=np.float32, seed=2):
    model = getattr(F, name)(V, D, H, seed=seed, dtype=dtype)
    return model, _questions(4, 6, seed=seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "H"), ONE)
def test_one_question_reads_changed_weights_without_laying_them_out(name, H, dtype):
    """Every parameter changed in place: one question at a time gives the step loop's ids.
    A change to a ``Wh`` (or a peeky ``Ws``) or the output layer alone is read as it is,
    without a new layout where the kernel reads ``Wh`` directly; a batch then lays the
    weights out again."""
    model, xs = _one(name, H, dtype)
    model.generate(xs[:1], 1, 4)
    raw = greedy._reads_raw(model.encoder.lstm)
    for i, p in enumerate(model.params):
        model.generate_batch(xs, 1, 4)  # laid out for the parameters as they are now
        laid = model._greedy_laid
        saved = p.copy()
        p *= 1.5
        p -= 0.25
        for n in range(len(xs)):
            want = _steps(model, xs[n : n + 1], 1, 4)[0][0].tolist()
            assert model.generate(xs[n : n + 1], 1, 4) == want, (i, n)
        is_Wh = any(p is m.params[1] for m in (model.encoder.lstm, model.decoder.lstm))
        read_as_is = is_Wh or any(p is q for q in model.decoder.affine.params)
        assert (model._greedy_laid is laid) == (raw and read_as_is), i
        np.testing.assert_array_equal(model.generate_batch(xs, 1, 4), _steps(model, xs, 1, 4)[0])
        p[...] = saved


@pytest.mark.parametrize(
    "where", ["encoder Wh", "decoder Wh", "decoder Wx", "encoder embedding", "output W", "output b"]
)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize(("name", "H"), ONE)
def test_one_question_finds_nan_or_inf_read_from_the_weights(name, H, value, where):
    """Also in the rows one question reads as they are: an infinite weight would otherwise
    only saturate the gates (finite answers), or give NaN scores without naming it."""
    model, xs = _one(name, H)
    model.generate(xs[:1], 1, 4)  # laid out while finite
    part = model.encoder if where.startswith("encoder") else model.decoder
    if where == "encoder embedding":
        part.embed.params[0][xs[0, 0], 3] = value  # a row the question reads
    elif where.startswith("output"):
        W, b = part.affine.params
        if where.endswith("W"):
            W[0, 3] = value
        else:
            b[3] = value
    else:
        p = part.lstm.params[1 if where.endswith("Wh") else 0]
        p[0, 3] = value  # a peeky decoder's Wx: its first rows read the encoder's state
    with pytest.raises(ValueError, match=r"params\[\d+\] .*contains NaN or inf"):
        model.generate(xs[:1], 1, 4)


@pytest.mark.parametrize("H", [12, 20])
def test_one_question_with_partial_panels_falls_back_to_the_layout(H, monkeypatch):
    """Where ``4H`` is not a whole number of panels the kernel does not read ``Wh`` as it is,
    even if asked to: it says so and the weights are read from their layout."""
    monkeypatch.setattr(greedy, "_reads_raw", lambda lstm: True)
    model, xs = _one("PeekySeq2seq", H)
    for n in range(3):
        want = _steps(model, xs[n : n + 1], 1, 4)[0][0].tolist()
        assert model.generate(xs[n : n + 1], 1, 4) == want


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "H"), ONE)
def test_one_question_keeps_input_projections_with_the_step_loops_bits(name, H, dtype):
    """One question at a time, the decoder's input projection of each id is kept for later
    calls: states and attention weights keep the step loop's bits, and a parameter the
    projections come from, changed in place, is read (the kept ones are dropped)."""
    model, xs = _one(name, H, dtype)
    xs = _questions(12, 6, seed=5)
    attention = getattr(model.decoder, "attention", None)
    emb = model.decoder.embed.params[0]
    Wx, _, b = model.decoder.lstm.params
    for change in (None, "emb", "Wx", "b"):
        if change == "emb":
            emb[:] = emb[::-1].copy()  # the ids' rows swapped: kept projections would be wrong
        elif change == "Wx":
            Wx[-1] *= -2  # a row of the embedded input (a peeky decoder's first rows read h)
        elif change == "b":
            b += 0.75
        for n in range(len(xs)):
            got = model.generate(xs[n : n + 1], 1, 8)
            state = (model.decoder.lstm.h.tobytes(), model.decoder.lstm.c.tobytes())
            weights = None if attention is None else attention.weights.tobytes()
            want, want_w = _steps(model, xs[n : n + 1], 1, 8)
            assert got == want[0].tolist(), (change, n)
            assert state == (model.decoder.lstm.h.tobytes(), model.decoder.lstm.c.tobytes())
            if attention is not None:
                assert weights == want_w.tobytes()
        table, known = model._greedy_laid.weights[1][-2:]
        assert 1 < known.sum() < V  # some ids read, and kept: later questions reused them
        assert table.shape[0] == V


def test_a_large_vocabulary_keeps_no_projections(monkeypatch):
    """Beyond ``TABLE_MAX_BYTES`` the table has no rows: every step computes its projection."""
    model, xs = _one("AttentionSeq2seq", 16)
    monkeypatch.setattr(greedy, "TABLE_MAX_BYTES", V * 4 * 16 * 4 - 1)
    for n in range(3):
        want = _steps(model, xs[n : n + 1], 1, 5)[0]
        assert model.generate(xs[n : n + 1], 1, 5) == want[0].tolist()
    table, known = model._greedy_laid.weights[1][-2:]
    assert table.shape[0] == known.shape[0] == 0


@pytest.mark.parametrize(("name", "H"), ONE)
def test_one_question_with_overflowing_products_gives_the_step_loops_ids(name, H):
    """Finite weights whose products overflow: no error, as in the step loop (and batches)."""
    model, xs = _one(name, H)
    model.encoder.lstm.params[1][...] = 3e38
    model.decoder.lstm.params[1][...] = -3e38
    for n in range(2):
        want = _steps(model, xs[n : n + 1], 1, 4)[0][0].tolist()
        assert model.generate(xs[n : n + 1], 1, 4) == want


@pytest.mark.parametrize("name", ["Seq2seq", "AttentionSeq2seq"])
def test_a_large_batch_gives_the_step_loops_ids(name):
    """From ``_PARALLEL_MIN_STEP`` on, the encoder runs as a layer before the decoding kernel."""
    model = getattr(F, name)(V, D, 12, seed=8)
    step = greedy._step_flops(12, D, model.decoder.affine.params[0].size)
    N = -(-greedy._PARALLEL_MIN_STEP // step) + 3
    xs = _questions(N, 5)
    got = model.generate_batch(xs, 1, 4)
    np.testing.assert_array_equal(got, _steps(model, xs, 1, 4)[0])
    np.testing.assert_array_equal(got[:7], model.generate_batch(xs[:7], 1, 4))


@pytest.mark.parametrize("name", ["PeekySeq2seq", "AttentionSeq2seq"])
def test_a_large_batch_is_encoded_in_blocks_of_rows_with_the_same_ids(name, monkeypatch):
    """Beyond ``ENCODER_ROWS`` questions the encoder runs block by block, through the layer's
    inference forward; the ids and the encoder's states are those of the step loop and of
    ``forward``, blocks or not (the states bit for bit where the BLAS rounds rows alike)."""
    model = getattr(F, name)(V, D, 12, seed=9)
    xs = _questions(50, 5)
    monkeypatch.setattr(greedy, "_PARALLEL_MIN_STEP", 1)  # the layer path at any size
    want, _ = _steps(model, xs, 1, 4)
    enc = model.encoder
    hs = enc.lstm.forward(enc.embed.forward(xs)).copy()  # (N, T, H), all rows at once
    rows = []
    states = model.encoder.lstm._states  # the inference forward
    monkeypatch.setattr(model.encoder.lstm, "_states", lambda x: rows.append(len(x)) or states(x))
    monkeypatch.setattr(greedy, "ENCODER_ROWS", 16)
    np.testing.assert_array_equal(model.generate_batch(xs, 1, 4), want)
    assert rows == [16, 16, 16, 2]
    assert_rows_alike(model.encoder.hs, hs, "encoder states")


@pytest.mark.parametrize("kind", ["Decoder", "PeekyDecoder", "AttentionDecoder"])
def test_a_large_batch_is_decoded_in_blocks_of_rows_with_the_same_ids(kind, monkeypatch):
    """Beyond ``DECODER_ROWS`` questions the kernel runs block by block; ids, attention
    weights and the final states are those of the step loop (bit for bit where the BLAS
    rounds rows alike)."""
    decoder = getattr(F, kind)(V, D, 10, seed=5)
    rng = np.random.default_rng(4)
    shape = (45, 4, 10) if kind == "AttentionDecoder" else (45, 10)
    state = rng.standard_normal(shape).astype(np.float32)
    want = decoder._generate_steps(state, 2, 6)
    weights = getattr(getattr(decoder, "attention", None), "weights", None)
    h, c = decoder.lstm.h.copy(), decoder.lstm.c.copy()
    calls = []
    kernel = greedy._kernel
    monkeypatch.setattr(greedy, "_kernel", lambda N, *a: calls.append(N) or kernel(N, *a))
    monkeypatch.setattr(greedy, "DECODER_ROWS", 20)
    np.testing.assert_array_equal(decoder.generate_batch(state, 2, 6), want)
    assert calls == [20, 20, 5]
    assert_rows_alike(decoder.lstm.h, h, "h")
    assert_rows_alike(decoder.lstm.c, c, "c")
    if weights is not None:
        assert_rows_alike(decoder.attention.weights, weights, "attention weights")


def test_a_copied_model_lays_its_own_weights_out():
    import copy
    import pickle

    model = F.AttentionSeq2seq(V, D, 12, seed=2)
    xs = _questions(3, 4)
    before = model.generate_batch(xs, 1, 3)
    for other in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        for lstm in (other.encoder.lstm, other.decoder.lstm):  # the copy's, laid-out weights
            lstm.params[1] *= -4
            lstm.params[0] *= -4
        got = other.generate_batch(xs, 1, 3)
        assert not np.array_equal(got, before)
        np.testing.assert_array_equal(got, _steps(other, xs, 1, 3)[0])
    np.testing.assert_array_equal(model.generate_batch(xs, 1, 3), before)


@pytest.mark.parametrize("name", list(SEQ2SEQ))
def test_a_rebound_parameter_is_read_and_checked(name):
    """The kernels read the layers' arrays: one rebound is used, and refused if it does not fit."""
    model = getattr(F, name)(V, D, SEQ2SEQ[name], seed=2)
    xs = _questions(4, 5)
    model.generate_batch(xs, 1, 3)  # laid out once
    lstm = model.decoder.lstm
    lstm.params[1] = lstm.params[1] * 3 + 0.5  # same shape: a new array (it read the old one)
    np.testing.assert_array_equal(model.generate_batch(xs, 1, 3), _steps(model, xs, 1, 3)[0])
    H = SEQ2SEQ[name]
    lstm.params[1] = np.ones((H + 3, 4 * H), lstm.params[1].dtype)  # it corrupted the heap
    with pytest.raises(ValueError, match=r"TimeLSTM.params\[1\] \(Wh\) has shape"):
        model.generate_batch(xs, 1, 3)
    other = getattr(F, name)(V, D, H, seed=2)
    other.decoder.affine.params[0] = np.ones(
        (other.decoder.affine.params[0].shape[0], 65), np.float32
    )  # fmt: skip  (it gave ids >= V)
    with pytest.raises(ValueError, match=r"TimeAffine.params\[0\] \(W\) has shape"):
        other.generate_batch(xs, 1, 3)


@pytest.mark.parametrize(
    "decoder, states, match",
    [
        (F.Decoder, np.ones((2, 2)), r"h must be \(N, H\) with H=6, got shape \(2, 2\)"),
        (F.PeekyDecoder, np.ones((2, 56)), r"h must be \(N, H\) with H=6, got shape \(2, 56\)"),
        (F.AttentionDecoder, np.ones((2, 3, 56)), r"enc_hs must be \(N, T_enc, H\) with H=6"),
        (F.AttentionDecoder, np.ones((2, 3, 2)), r"enc_hs must be \(N, T_enc, H\) with H=6"),
        (F.AttentionDecoder, np.ones((2, 0, 6)), "enc_hs has no time steps to attend to"),
    ],
)
def test_decoders_refuse_states_that_do_not_fit(decoder, states, match):
    """A wrong H crashed the process (heap corruption) or gave ids silently."""
    with pytest.raises(ValueError, match=match):
        decoder(13, 5, 6, seed=0).generate_batch(states.astype(np.float32), 1, 5)
    with pytest.raises(TypeError, match="must hold real numbers, got dtype complex128"):
        shape = (2, 3, 6) if decoder is F.AttentionDecoder else (2, 6)
        decoder(13, 5, 6, seed=0).generate_batch(np.ones(shape, complex), 1, 5)


def test_question_lengths_are_checked():
    enc = F.Encoder(13, 5, 6, seed=0)
    xs = np.ones((2, 4), dtype=np.int64)
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 4\]"):
        enc.forward(xs, np.array([0, 4]))  # it read index -1: the last step
    np.testing.assert_array_equal(enc.forward(xs, [1, 4]), enc.forward(xs, np.array([1, 4])))
    dec = F.AttentionDecoder(13, 5, 6, seed=0)
    hs = np.ones((2, 3, 6), np.float32)
    assert dec.generate_batch(hs, 1, 5, lengths=[1, 3]).shape == (2, 5)  # a list failed
