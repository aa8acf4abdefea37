"""fastlstm.models against the NumPy reference: parameters, losses, every gradient, I/O."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import fastlstm.models as F
import reference.models as R
from fastlstm import gradcheck
from fastlstm.io import CheckpointError, read_book_pkl, save_params
from fastlstm.optim import unique_params
from reference.optim import remove_duplicate

V, D, H = 23, 8, 7
TOL = {np.float64: 1e-10, np.float32: 1e-4}

# name -> (constructor args, is a seq2seq model)
MODELS = {
    "SimpleRnnlm": ((V, D, H), False),
    "Rnnlm": ((V, D, H), False),
    "RnnlmGen": ((V, D, H), False),
    "BetterRnnlm": ((V, H, H), False),
    "BetterRnnlmGen": ((V, H, H), False),
    "Seq2seq": ((V, D, H), True),
    "PeekySeq2seq": ((V, D, H), True),
    "AttentionSeq2seq": ((V, D, H), True),
    "AttentionBiSeq2seq": ((V, D, 2 * H), True),  # H // 2 units each way: H even
}
LANGUAGE_MODELS = [n for n, (_, s2s) in MODELS.items() if not s2s]
SEQ2SEQ_MODELS = [n for n, (_, s2s) in MODELS.items() if s2s]


def rel_err(a, b):
    """``max|a - b| / max|b|`` in float64 (0 when both are zero)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = np.max(np.abs(b), initial=0.0)
    diff = np.max(np.abs(a - b), initial=0.0)
    return diff / scale if scale > 0 else diff


def build_pair(name, dtype, seed=7, args=None):
    args = MODELS[name][0] if args is None else args
    fast = getattr(F, name)(*args, seed=seed, dtype=dtype)
    ref = getattr(R, name)(*args, seed=seed, dtype=dtype)
    return fast, ref


def batch(name, rng, N=3, T=5, Te=6):
    """Inputs ``xs`` and targets ``ts`` for a model (seq2seq targets carry the start symbol)."""
    if MODELS[name][1]:
        return rng.integers(0, V, (N, Te)), rng.integers(0, V, (N, T + 1))
    return rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))


def assert_params_equal(fast, ref):
    assert len(fast.params) == len(ref.params)
    for i, (p, q) in enumerate(zip(fast.params, ref.params)):
        assert p.shape == q.shape and p.dtype == q.dtype, i
        np.testing.assert_array_equal(p, q, err_msg=f"params[{i}]")


def assert_grads_close(fast, ref, tol):
    assert len(fast.grads) == len(ref.grads)
    for i, (g, r) in enumerate(zip(fast.grads, ref.grads)):
        assert g.shape == r.shape and g.dtype == r.dtype, i
        assert rel_err(g, r) <= tol, f"grads[{i}] {g.shape}: rel err {rel_err(g, r):.3e}"
        assert np.any(r != 0), f"grads[{i}] of the reference is all zero: test is too weak"


# --------------------------------------------------------------------------- #
# construction
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(MODELS))
def test_same_seed_gives_the_reference_parameters(name, dtype):
    fast, ref = build_pair(name, dtype)
    assert_params_equal(fast, ref)
    assert fast.dtype == np.dtype(dtype)
    other = getattr(F, name)(*MODELS[name][0], seed=8, dtype=dtype)
    assert not np.array_equal(other.params[0], fast.params[0])


def test_better_rnnlm_ties_the_output_weights_to_the_embedding():
    model = F.BetterRnnlm(V, H, H, seed=0)
    embed_W, tied = model.params[0], model.params[7]
    assert tied.shape == embed_W.T.shape and np.shares_memory(tied, embed_W)
    assert len(model.params) == 9
    kept, _ = unique_params(model.params, model.grads)
    assert len(kept) == 8


def test_constructor_validation():
    with pytest.raises(ValueError, match="wordvec_size"):
        F.BetterRnnlm(V, 8, 7)
    with pytest.raises(ValueError, match="hidden_size"):
        F.Rnnlm(V, D, 0)
    with pytest.raises(TypeError, match="dtype"):
        F.Seq2seq(V, D, H, dtype=np.int32)
    with pytest.raises(TypeError):
        F.Rnnlm(V, D, H, 0)  # the seed is keyword-only


# --------------------------------------------------------------------------- #
# losses and gradients vs reference
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(MODELS))
def test_loss_and_every_gradient_match_reference(name, dtype):
    tol = TOL[dtype]
    fast, ref = build_pair(name, dtype)
    assert_params_equal(fast, ref)
    rng = np.random.default_rng(3)
    # two consecutive batches: stateful language models carry h (and c) over
    for _ in range(2):
        xs, ts = batch(name, rng)
        loss_f = fast.forward(xs, ts)
        loss_r = ref.forward(xs, ts)
        assert isinstance(loss_f, float)
        assert abs(loss_f - loss_r) <= tol * abs(loss_r)
        assert fast.backward() is None
        ref.backward()
        assert_grads_close(fast, ref, tol)
    # merged (tied) gradients as the trainers see them
    pf, gf = unique_params(fast.params, fast.grads)
    pr, gr = remove_duplicate(ref.params, ref.grads)
    assert len(pf) == len(pr)
    for i, (p, q, g, r) in enumerate(zip(pf, pr, gf, gr)):
        np.testing.assert_array_equal(p, q, err_msg=f"unique params[{i}]")
        assert rel_err(g, r) <= tol, f"unique grads[{i}]: {rel_err(g, r):.3e}"


@pytest.mark.parametrize("name", ["BetterRnnlm", "BetterRnnlmGen"])
def test_better_rnnlm_dropout_masks_follow_the_seed(name):
    fast, ref = build_pair(name, np.float64, seed=11)
    rng = np.random.default_rng(4)
    xs, ts = batch(name, rng)
    assert fast.forward(xs, ts) == pytest.approx(ref.forward(xs, ts), rel=1e-12)  # train mode
    for lf, lr in zip(fast.drop_layers, ref.drop_layers):
        np.testing.assert_array_equal(lf.mask != 0, lr.mask != 0)
    fast.backward()
    ref.backward()
    assert_grads_close(fast, ref, 1e-10)
    # eval mode ignores dropout: scores equal the reference's
    np.testing.assert_allclose(
        fast.predict(xs, train_flg=False), ref.predict(xs, train_flg=False), rtol=1e-10, atol=0
    )


@pytest.mark.parametrize("name", LANGUAGE_MODELS)
def test_reset_state_forgets_the_state(name):
    fast, ref = build_pair(name, np.float64)
    rng = np.random.default_rng(5)
    xs, ts = batch(name, rng)
    first = fast.predict(xs)
    second = fast.predict(xs)
    assert rel_err(second, first) > 1e-6  # the state carried over
    fast.reset_state()
    np.testing.assert_allclose(fast.predict(xs), first, rtol=1e-12, atol=0)
    np.testing.assert_allclose(first, ref.predict(xs), rtol=1e-10, atol=0)


@pytest.mark.parametrize("call", ["predict", "forward"])
@pytest.mark.parametrize("name", LANGUAGE_MODELS)
def test_a_batch_of_another_size_is_refused_before_any_layer_runs(name, call):
    """A refused batch leaves the model as it was: the pending ``backward`` gives the grads
    of the last ``forward``, and the dropout layers keep their mode."""
    rng = np.random.default_rng(4)
    xs, ts = batch(name, rng, N=4)
    clean, model = (getattr(F, name)(*MODELS[name][0], seed=3, dtype=np.float64) for _ in "ab")
    for m in (clean, model):
        m.forward(xs, ts)
    other = batch(name, rng, N=3)
    args = (other[0],) if call == "predict" else other
    with pytest.raises(
        ValueError, match=r"state h has shape \(4, \d+\), but this batch needs \(3,"
    ):
        getattr(model, call)(*args)
    for layer in getattr(model, "drop_layers", []):
        assert layer.train_flg  # still training, as forward left them
    clean.backward()
    model.backward()
    for got, want in zip(model.grads, clean.grads, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", list(MODELS))
def test_gradcheck(name):
    args = (11, 3, 3) if name.startswith("Better") else (11, 4, 3)
    if name == "AttentionBiSeq2seq":
        args = (11, 4, 4)  # an even hidden size
    model = getattr(F, name)(*args, seed=1, dtype=np.float64)
    rng = np.random.default_rng(2)
    for p in model.params:  # O(1) weights: gradients well above round-off
        p[...] = rng.standard_normal(p.shape) * 0.5
    if MODELS[name][1]:
        xs, ts = rng.integers(0, 11, (2, 3)), rng.integers(0, 11, (2, 4))
    else:
        xs, ts = rng.integers(0, 11, (2, 3)), rng.integers(0, 11, (2, 3))
    result = gradcheck(model, xs, ts, eps=1e-4)
    assert len(result.errors) >= len(model.params) - (1 if name.startswith("Better") else 0)
    result.assert_ok(1e-5)


# --------------------------------------------------------------------------- #
# seq2seq details
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", SEQ2SEQ_MODELS)
def test_pad_id_leaves_padding_out_of_the_loss(name):
    fast, ref = build_pair(name, np.float64)
    assert fast.pad_id is None and fast.softmax.ignore_label == -1
    rng = np.random.default_rng(6)
    xs, ts = batch(name, rng)
    pad = 5
    ts[:, -2:] = pad
    ts[0, 1] = pad
    base = fast.forward(xs, ts)
    assert base == pytest.approx(ref.forward(xs, ts), rel=1e-10)  # default: pads count

    fast.pad_id = pad
    ref.softmax.ignore_label = pad
    loss = fast.forward(xs, ts)
    assert loss == pytest.approx(ref.forward(xs, ts), rel=1e-10)
    assert abs(loss - base) > 1e-6
    fast.backward()
    ref.backward()
    assert_grads_close(fast, ref, 1e-10)
    built = getattr(F, name)(*MODELS[name][0], seed=7, dtype=np.float64, pad_id=pad)
    assert built.forward(xs, ts) == pytest.approx(loss, rel=1e-12)
    with pytest.raises(ValueError, match="pad_id"):
        fast.pad_id = V


@pytest.mark.parametrize(
    ("name", "padded"),
    [("AttentionSeq2seq", False), ("AttentionSeq2seq", True), ("AttentionBiSeq2seq", False)],
)
def test_attention_model_backward_keeps_its_encoder_gradient_inside(name, padded):
    """The model's ``backward`` hands the encoder a work array of the attention layer: every
    gradient has the bits of the public chain ``decoder.backward`` then ``encoder.backward``,
    and an array that chain returned to a caller is not overwritten by later backwards."""
    model = getattr(F, name)(
        *MODELS[name][0], seed=3, dtype=np.float32, pad_id=0 if padded else None
    )
    rng = np.random.default_rng(8)
    batches = [batch(name, rng) for _ in range(2)]
    if padded:
        for xs, _ in batches:
            xs[0, -2:] = 0  # one shorter question
    grads = []
    for xs, ts in batches:
        model.forward(xs, ts)
        dhs = model.decoder.backward(model.softmax.backward())  # a caller's array
        model.encoder.backward(dhs)
        grads.append([g.copy() for g in model.grads])
        if len(grads) == 1:
            kept, kept_before = dhs, dhs.copy()
    for _ in range(2):
        for (xs, ts), want in zip(batches, grads):
            model.forward(xs, ts)
            model.backward()
            for k, (g, w) in enumerate(zip(model.grads, want)):
                np.testing.assert_array_equal(g, w, err_msg=f"grads[{k}]")
    np.testing.assert_array_equal(kept, kept_before)


@pytest.mark.parametrize("impl", [F, R], ids=["fastlstm", "reference"])
def test_bidirectional_encoder_needs_an_even_hidden_size(impl):
    with pytest.raises(ValueError, match="even"):
        impl.AttentionBiSeq2seq(V, D, 7)


def test_bidirectional_encoder_reads_both_ways():
    """The encoder's states: left-to-right half, then the right-to-left half."""
    model = F.AttentionBiSeq2seq(V, D, 2 * H, seed=0, dtype=np.float64)
    xs = np.random.default_rng(0).integers(0, V, (2, 6))
    hs = model.encoder.forward(xs)
    assert hs.shape == (2, 6, 2 * H)
    # the left-to-right half at position t sees xs[:, :t+1], the right-to-left half xs[:, t:]
    changed = xs.copy()
    changed[:, -1] = (changed[:, -1] + 1) % V
    hs2 = model.encoder.forward(changed)
    np.testing.assert_array_equal(hs2[:, :-1, :H], hs[:, :-1, :H])
    assert not np.allclose(hs2[:, -1, :H], hs[:, -1, :H])
    for t in range(6):
        assert not np.allclose(hs2[:, t, H:], hs[:, t, H:])


def test_seq2seq_rejects_short_targets():
    model = F.Seq2seq(V, D, H, seed=0)
    with pytest.raises(ValueError, match="ts"):
        model.forward(np.zeros((2, 3), dtype=int), np.zeros((2, 1), dtype=int))
    with pytest.raises(TypeError, match="ts"):
        model.forward(np.zeros((2, 3), dtype=int), np.zeros((2, 3)))


# --------------------------------------------------------------------------- #
# saving and loading
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", list(MODELS))
def test_save_load_round_trip(name, tmp_path):
    args = MODELS[name][0]
    model = getattr(F, name)(*args, seed=1, dtype=np.float64)
    path = model.save_params(tmp_path / "model.npz")
    other = getattr(F, name)(*args, seed=2, dtype=np.float64)
    ids_before = [id(p) for p in other.params]
    other.load_params(path)
    assert [id(p) for p in other.params] == ids_before  # copied in place
    for p, q in zip(other.params, model.params):
        np.testing.assert_array_equal(p, q)

    rebuilt = F.BaseModel.from_checkpoint(path)
    assert type(rebuilt) is type(model)
    assert rebuilt.config == model.config
    for p, q in zip(rebuilt.params, model.params):
        assert p.dtype == q.dtype
        np.testing.assert_array_equal(p, q)
    as32 = type(model).from_checkpoint(path, dtype=np.float32)
    assert as32.dtype == np.float32
    np.testing.assert_allclose(as32.params[0], model.params[0], rtol=1e-6)


def test_tied_weights_stay_tied_after_loading(tmp_path):
    model = F.BetterRnnlm(V, H, H, seed=1)
    path = model.save_params(tmp_path / "b.npz")
    other = F.BetterRnnlmGen.from_checkpoint(path)
    assert isinstance(other, F.BetterRnnlmGen)
    assert np.shares_memory(other.params[7], other.params[0])
    np.testing.assert_array_equal(other.params[7], model.params[0].T)
    assert other.config["dropout_ratio"] == 0.5


def test_default_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = F.Rnnlm(V, D, H, seed=1)
    assert model.save_params().name == "Rnnlm.pkl"  # the book's name and format (float16)
    other = F.Rnnlm(V, D, H, seed=2)
    other.load_params()
    np.testing.assert_array_equal(other.params[0], model.params[0].astype(np.float16))
    with pytest.raises(FileNotFoundError):
        F.Seq2seq(V, D, H, seed=0).load_params()
    # a file of an earlier version, Rnnlm.npz, is still found when there is no Rnnlm.pkl
    (tmp_path / "Rnnlm.pkl").rename(tmp_path / "Rnnlm.npz")
    F.Rnnlm(V, D, H, seed=3).load_params()


def test_loading_a_wrong_shape_is_refused(tmp_path):
    path = F.Rnnlm(V, D, H, seed=1).save_params(tmp_path / "rnnlm.npz")
    target = F.Rnnlm(V + 1, D, H, seed=2)
    before = [p.copy() for p in target.params]
    with pytest.raises(CheckpointError, match="rnnlm.npz"):
        target.load_params(path)
    for p, q in zip(target.params, before):  # nothing copied
        np.testing.assert_array_equal(p, q)
    # a list of the right length and shapes but saved by an unrelated model
    seq = F.Seq2seq(V, D, H, seed=1)
    path2 = seq.save_params(tmp_path / "seq.npz")
    with pytest.raises(CheckpointError, match="seq.npz"):
        F.AttentionSeq2seq(V, D, H).load_params(path2)
    with pytest.raises(CheckpointError, match="Seq2seq"):
        F.Rnnlm.from_checkpoint(path2)


def test_foreign_files_are_refused(tmp_path):
    model = F.Rnnlm(V, D, H, seed=1)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a parameter file at all")
    with pytest.raises(CheckpointError, match="junk.npz"):
        model.load_params(junk)
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"params": [np.zeros(3)]}))
    with pytest.raises(CheckpointError, match="evil.pkl"):
        model.load_params(evil)
    evil.write_bytes(pickle.dumps([print]))  # a pickle that would reference code
    with pytest.raises(CheckpointError, match="forbidden"):
        model.load_params(evil)
    # the book's format (pickled list of float16 arrays) loads, but records no model
    book = tmp_path / "Rnnlm.pkl"
    book.write_bytes(pickle.dumps([p.astype(np.float16) for p in model.params]))
    other = F.Rnnlm(V, D, H, seed=2)
    other.load_params(book)
    np.testing.assert_array_equal(other.params[1], model.params[1].astype(np.float16))
    with pytest.raises(CheckpointError, match="load_params"):
        F.Rnnlm.from_checkpoint(book)
    # parameters without a model description
    bare = save_params(model.params, tmp_path / "bare.npz")
    with pytest.raises(CheckpointError, match="no model"):
        F.BaseModel.from_checkpoint(bare)


# --------------------------------------------------------------------------- #
# the book's trained weights
# --------------------------------------------------------------------------- #
def test_book_rnnlm_weights(book_weights_dir):
    path = book_weights_dir / "Rnnlm.pkl"
    model = F.RnnlmGen(10000, 100, 100)
    model.load_params(path)
    for p, a in zip(model.params, read_book_pkl(path)):
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p, a.astype(np.float32))
    # a trained model prefers frequent continuations: generation runs and is reproducible
    ids = model.generate(0, sample_size=20, rng=1)
    model.reset_state()
    assert model.generate(0, sample_size=20, rng=1) == ids


def test_book_rnnlm_perplexity_on_ptb(book_weights_dir, ptb_dir):
    from fastlstm.datasets import ptb

    corpus, _, _ = ptb.load_data("test")
    xs = np.asarray(corpus[:2000]).reshape(10, 200)  # (N, T)
    trained = F.Rnnlm()
    trained.load_params(book_weights_dir / "Rnnlm.pkl")
    perplexity = np.exp(trained.forward(xs[:, :-1], xs[:, 1:]))
    assert 60 < perplexity < 200  # the book reports about 136 on the whole test set
    untrained = np.exp(F.Rnnlm(seed=0).forward(xs[:, :-1], xs[:, 1:]))
    assert untrained > 5000  # about V


def test_book_attention_seq2seq_weights(book_weights_dir, sequence_dir):
    from fastlstm.datasets import sequence

    path = book_weights_dir / "AttentionSeq2seq.pkl"
    model = F.AttentionSeq2seq(59, 16, 256)
    model.load_params(path)
    for p, a in zip(model.params, read_book_pkl(path)):
        np.testing.assert_array_equal(p, a.astype(np.float32))
    # the book trained it on reversed date questions (ch08/train.py): it answers them
    (_, _), (x_test, t_test), vocab = sequence.load_data("date.txt", return_vocab=True)
    assert len(vocab) == 59
    xs, ts = x_test[:200, ::-1], t_test[:200]
    guess = model.generate_batch(xs, int(ts[0, 0]), ts.shape[1] - 1)
    accuracy = np.mean(np.all(guess == ts[:, 1:], axis=1))
    assert accuracy > 0.95
    weights = model.decoder.attention.weights
    assert weights.shape == (200, ts.shape[1] - 1, xs.shape[1])


def test_a_model_class_of_ones_own_never_takes_the_name_of_fastlstms(tmp_path):
    """The book's model files define their own Rnnlm, AttentionSeq2seq ... on BaseModel."""
    from fastlstm.models.base import BaseModel, model_class

    fast = F.Rnnlm(30, 8, 6, seed=0)
    fast.save_params(tmp_path / "fl.npz")

    class Rnnlm(BaseModel):  # as the book's ch06/rnnlm.py with its imports switched
        def __init__(self):
            super().__init__()
            assert self.params is None and self.grads is None  # the book's BaseModel
            self.params = [np.ones((30, 8), np.float32)]
            self.grads = [np.zeros((30, 8), np.float32)]

    assert model_class("Rnnlm") is F.Rnnlm
    F.Rnnlm(30, 8, 6, seed=1).load_params(tmp_path / "fl.npz")  # it was refused
    assert type(BaseModel.from_checkpoint(tmp_path / "fl.npz")) is F.Rnnlm
    own = Rnnlm()
    assert own.config == {}
    own.save_params(tmp_path / "own.npz")  # it raised AttributeError: _config
    own.params[0][...] = 0
    own.load_params(tmp_path / "own.npz")
    assert (own.params[0] == 1).all()
    with pytest.raises(CheckpointError, match="records no model class"):
        BaseModel.from_checkpoint(tmp_path / "own.npz")


def test_a_seq2seq_built_as_the_books_subclasses_build_it_runs():
    """The book's PeekySeq2seq and AttentionSeq2seq set their parts without super().__init__."""

    class Mine(F.Seq2seq):
        def __init__(self):
            base = F.Seq2seq(13, 8, 6, seed=0)
            self.encoder, self.decoder = base.encoder, base.decoder
            self.softmax = base.softmax
            self.params, self.grads = base.params, base.grads

    model, same = Mine(), F.Seq2seq(13, 8, 6, seed=0)
    xs, ts = np.zeros((2, 3), int), np.ones((2, 4), int)
    assert model.forward(xs, ts) == same.forward(xs, ts)
    model.backward()
