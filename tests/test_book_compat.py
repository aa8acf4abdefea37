"""Book semantics the chapter 5-8 scripts rely on, checked without the book's files.

With no ``seed``/``rng``, models, trainers, dropout and generation draw from
NumPy's global random state exactly as the book's calls; ``save_params()`` /
``load_params()`` use the book's file names in fastlstm's format;
``sequence.get_vocab()`` and ``load_data`` behave as the book's; the trainers
print the book's lines and ``plot()`` shows the figure; ``fastlstm.util`` and
``fastlstm.config`` stand in for ``common.util`` and ``common.config``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from fastlstm import config, util
from fastlstm import models as fm
from fastlstm import trainer as ftrainer
from fastlstm.datasets import sequence
from fastlstm.io import load_params as read_npz
from fastlstm.io import read_book_pkl
from fastlstm.layers import Dropout, TimeDropout
from fastlstm.optim import SGD, Adam
from fastlstm.trainer import RnnlmTrainer, Trainer
from tests._runs import BatchRecorder

V, D, H = 13, 8, 12


@pytest.fixture(autouse=True)
def global_state():
    """Restore NumPy's global random state after every test."""
    saved = np.random.get_state()  # noqa: NPY002
    yield
    np.random.set_state(saved)  # noqa: NPY002


def _book_rnnlm_params(V, D, H):
    """The book's ch06 Rnnlm constructor, drawing with np.random.randn."""
    rn = np.random.randn  # noqa: NPY002
    return [
        (rn(V, D) / 100).astype("f"),
        (rn(D, 4 * H) / np.sqrt(D)).astype("f"),
        (rn(H, 4 * H) / np.sqrt(H)).astype("f"),
        np.zeros(4 * H).astype("f"),
        (rn(H, V) / np.sqrt(H)).astype("f"),
        np.zeros(V).astype("f"),
    ]


# --------------------------------------------------------------------------- #
# NumPy's global random state
# --------------------------------------------------------------------------- #
def test_rnnlm_without_seed_draws_the_books_weights_from_the_global_state():
    np.random.seed(11)  # noqa: NPY002
    want = _book_rnnlm_params(V, D, H)
    after_book = np.random.rand()  # noqa: NPY002
    np.random.seed(11)  # noqa: NPY002
    model = fm.Rnnlm(V, D, H)
    for got, exp in zip(model.params, want, strict=True):
        np.testing.assert_array_equal(got, exp)
    assert np.random.rand() == after_book  # noqa: NPY002  (the same draws were consumed)


@pytest.mark.parametrize(
    "name",
    ["SimpleRnnlm", "Rnnlm", "BetterRnnlm", "Seq2seq", "PeekySeq2seq", "AttentionSeq2seq"],
)
def test_models_without_seed_follow_np_random_seed(name):
    cls = getattr(fm, name)
    size = (V, H, H) if name == "BetterRnnlm" else (V, D, H)
    np.random.seed(5)  # noqa: NPY002
    a = cls(*size)
    np.random.seed(5)  # noqa: NPY002
    b = cls(*size)
    c = cls(*size)  # the stream went on: other weights
    for pa, pb in zip(a.params, b.params, strict=True):
        np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(a.params[0], c.params[0])
    # the explicit seed path is unchanged: its own generator, the global state untouched
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    d, e = cls(*size, seed=3), cls(*size, seed=3)
    np.testing.assert_array_equal(d.params[1], e.params[1])
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_dropout_without_rng_draws_np_random_rand():
    x = np.ones((3, 4, 5), dtype=np.float32)
    np.random.seed(2)  # noqa: NPY002
    out = TimeDropout(0.3).forward(x)
    np.random.seed(2)  # noqa: NPY002
    flg = np.random.rand(*x.shape) > 0.3  # noqa: NPY002  (the book's TimeDropout)
    np.testing.assert_array_equal(out, x * (flg.astype(np.float32) * (1.0 / (1.0 - 0.3))))
    np.random.seed(2)  # noqa: NPY002
    out = Dropout(0.3).forward(x)
    np.testing.assert_array_equal(out, x * flg)


def test_trainer_without_rng_shuffles_with_np_random_permutation():
    n, batch = 40, 8
    x = np.arange(n).reshape(n, 1)
    recorder = BatchRecorder()
    seen = recorder.seen

    np.random.seed(9)  # noqa: NPY002
    Trainer(recorder, Adam(), progress=False).fit(x, x, max_epoch=2, batch_size=batch)
    np.random.seed(9)  # noqa: NPY002
    expected, xx = [], x
    for _ in range(2):  # the book's Trainer.fit
        idx = np.random.permutation(np.arange(n))  # noqa: NPY002
        xx = xx[idx]
        expected += [xx[i * batch : (i + 1) * batch, 0] for i in range(n // batch)]
    assert len(seen) == len(expected)
    for got, want in zip(seen, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_generate_without_rng_follows_np_random_seed():
    model = fm.RnnlmGen(V, D, H, seed=0)
    np.random.seed(4)  # noqa: NPY002
    a = model.generate(1, skip_ids=[2], sample_size=30)
    model.reset_state()
    np.random.seed(4)  # noqa: NPY002
    b = model.generate(1, skip_ids=[2], sample_size=30)
    model.reset_state()
    c = model.generate(1, skip_ids=[2], sample_size=30, rng=np.random.RandomState(4))  # noqa: NPY002
    assert a == b == c
    assert 2 not in a[1:]


# --------------------------------------------------------------------------- #
# save_params / load_params with the book's names
# --------------------------------------------------------------------------- #
def test_save_and_load_params_use_the_books_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = fm.Rnnlm(V, D, H, seed=1)
    written = model.save_params()
    assert written.name == "Rnnlm.pkl" and (tmp_path / "Rnnlm.pkl").is_file()
    # the book's format under the book's name: a pickled list of float16 arrays
    stored = read_book_pkl(tmp_path / "Rnnlm.pkl")
    assert [a.dtype for a in stored] == [np.float16] * len(model.params)
    half = [p.astype(np.float16).astype(np.float32) for p in model.params]

    other = fm.Rnnlm(V, D, H, seed=2)
    other.load_params()  # the book's default: Rnnlm.pkl in the current folder
    for a, b in zip(half, other.params, strict=True):
        np.testing.assert_array_equal(a, b)

    gen = fm.RnnlmGen(V, D, H, seed=3)  # ch07/generate_text.py reads ../ch06/Rnnlm.pkl
    gen.load_params("Rnnlm.pkl")
    np.testing.assert_array_equal(gen.params[1], half[1])
    with pytest.raises(FileNotFoundError, match="RnnlmGen.pkl"):
        gen.load_params()
    # fastlstm's own format, full precision, under any other name
    model.save_params("Rnnlm.npz")
    assert len(read_npz(tmp_path / "Rnnlm.npz")) == len(model.params)
    other.load_params("Rnnlm.npz")
    for a, b in zip(model.params, other.params, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", ["BetterRnnlm", "AttentionSeq2seq"])
def test_a_pkl_written_by_fastlstm_loads_in_the_books_own_code(tmp_path, book_dir, cls):
    """ch08/train.py run with fastlstm writes AttentionSeq2seq.pkl; the book's own
    ``visualize_attention.py`` loads it with the book's ``BaseModel.load_params``."""
    import pickle
    import subprocess
    import sys

    kw = {"dropout_ratio": 0.5} if cls == "BetterRnnlm" else {}
    model = getattr(fm, cls)(V, H, H, seed=4, **kw)  # (tied weights: D = H)
    path = model.save_params(tmp_path / f"{cls}.pkl")
    with open(path, "rb") as f:
        plain = pickle.load(f)  # what the book's load_params does
    assert isinstance(plain, list) and len(plain) == len(model.params)
    for a, p in zip(plain, model.params, strict=True):
        assert a.dtype == np.float16 and a.shape == p.shape
        np.testing.assert_array_equal(a, p.astype(np.float16))
    code = (
        "import sys, numpy as np; sys.path.insert(0, sys.argv[1]); "
        "from common.base_model import BaseModel\n"
        "m = BaseModel(); m.params = [np.zeros(s, 'f') for s in eval(sys.argv[3])]\n"
        "m.load_params(sys.argv[2]); print(sum(float(np.abs(p).sum()) for p in m.params))"
    )
    shapes = repr([p.shape for p in model.params])
    out = subprocess.run(
        [sys.executable, "-c", code, str(book_dir), str(path), shapes],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    expected = sum(float(np.abs(p.astype(np.float16).astype("f")).sum()) for p in model.params)
    assert float(out.stdout) == pytest.approx(expected, rel=1e-6)


def test_book_default_sizes():
    assert fm.Rnnlm().params[0].shape == (10000, 100)
    model = fm.BetterRnnlmGen()
    assert model.params[0].shape == (10000, 650)
    assert model.drop_layers[0].dropout_ratio == 0.5


# --------------------------------------------------------------------------- #
# sequence: get_vocab() and load_data's seeding
# --------------------------------------------------------------------------- #
@pytest.fixture
def addition_file(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(60):
        a, b = rng.integers(0, 100, 2)
        lines.append(f"{a}+{b}".ljust(5) + "_" + str(a + b).ljust(3))
    path = tmp_path / "tiny_addition.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_get_vocab_without_argument_unpacks_as_the_book(addition_file, monkeypatch):
    monkeypatch.setattr(sequence, "_last_vocab", None)
    with pytest.raises(RuntimeError, match="load_data"):
        sequence.get_vocab()
    *_, vocab = sequence.load_data(addition_file, return_vocab=True)
    char_to_id, id_to_char = sequence.get_vocab()
    assert dict(char_to_id) == dict(vocab.char_to_id)
    assert dict(id_to_char) == dict(vocab.id_to_char)
    assert sequence.get_vocab(addition_file) == vocab  # with a file: the Vocab, as before


def test_load_data_seeds_the_global_state_as_the_book(addition_file):
    (x, t), (xt, tt) = sequence.load_data(addition_file, seed=1984)
    after = np.random.rand()  # noqa: NPY002
    indices = np.arange(60)
    np.random.seed(1984)  # noqa: NPY002  (the book's dataset/sequence.py)
    np.random.shuffle(indices)  # noqa: NPY002
    assert np.random.rand() == after  # noqa: NPY002
    (x0, _), _ = sequence.load_data(addition_file, seed=None)  # global state as it is
    np.random.seed(1984)  # noqa: NPY002
    (x1, _), _ = sequence.load_data(addition_file, seed=None)
    np.testing.assert_array_equal(x1, x)
    assert not np.array_equal(x0, x)


# --------------------------------------------------------------------------- #
# trainers: the book's lines, plot()
# --------------------------------------------------------------------------- #
class _Softmax:
    """A linear softmax classifier (the book's model contract)."""

    def __init__(self):
        from fastlstm.layers import Affine, SoftmaxWithLoss

        self.affine = Affine(np.full((2, 3), 0.1), np.zeros(3))
        self.loss = SoftmaxWithLoss()
        self.params, self.grads = self.affine.params, self.affine.grads

    def forward(self, x, t):
        return self.loss.forward(self.affine.forward(x), t)

    def backward(self, dout=1):
        return self.affine.backward(self.loss.backward(dout))


def test_trainer_prints_the_books_lines_when_not_a_terminal(capsys):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 2))
    t = (x[:, 0] > 0).astype(int)
    trainer = Trainer(_Softmax(), SGD(lr=0.5), rng=0)
    trainer.fit(x, t, max_epoch=2, batch_size=10, eval_interval=4)
    lines = capsys.readouterr().out.splitlines()
    pattern = re.compile(r"\| epoch (\d) \|  iter (\d+) / 10 \| time \d+\[s\] \| loss (\d+\.\d\d)")
    found = [pattern.fullmatch(line) for line in lines]
    assert all(found), lines
    assert [(m.group(1), m.group(2)) for m in found] == [
        (e, i) for e in "12" for i in ("1", "5", "9")
    ]
    assert [m.group(3) for m in found] == [f"{v:.2f}" for v in trainer.loss_list]

    Trainer(_Softmax(), SGD(), rng=0, progress=False).fit(x, t, max_epoch=1, batch_size=10)
    assert capsys.readouterr().out == ""


def test_rnnlm_trainer_prints_perplexity_lines(capsys):
    corpus = np.arange(400) % 7
    model = fm.Rnnlm(7, 4, 5, seed=0)
    trainer = RnnlmTrainer(model, SGD(lr=0.1))
    trainer.fit(corpus[:-1], corpus[1:], max_epoch=1, batch_size=2, time_size=5, eval_interval=30)
    lines = capsys.readouterr().out.splitlines()
    assert [line[: line.index("time")] for line in lines] == [
        "| epoch 1 |  iter 1 / 39 | ",
        "| epoch 1 |  iter 31 / 39 | ",
    ]
    assert lines[0].endswith(f"| perplexity {trainer.ppl_list[0]:.2f}")


def test_plot_shows_the_figure_and_saves_only_with_a_path(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(plt.gca().get_ylabel()))
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 2))
    trainer = Trainer(_Softmax(), SGD(), rng=0, progress=False)
    trainer.fit(x, (x[:, 0] > 0).astype(int), max_epoch=1, batch_size=4, eval_interval=2)
    assert trainer.plot(ylim=(0, 2)) is None
    assert shown == ["loss"] and list(tmp_path.iterdir()) == []
    plt.close("all")
    out = trainer.plot(path=tmp_path / "curve.png")
    assert out.read_bytes()[:4] == b"\x89PNG" and shown == ["loss"]
    with pytest.raises(TypeError, match="path="):
        trainer.plot(tmp_path / "old-style.png")


# --------------------------------------------------------------------------- #
# common.util / common.config stand-ins
# --------------------------------------------------------------------------- #
def test_util_and_config(capsys):
    assert config.GPU is False
    x = np.arange(4.0)
    assert util.to_gpu(x) is x and util.to_cpu(x) is x
    np.testing.assert_array_equal(util.to_gpu([1, 2]), [1, 2])
    corpus = np.arange(200) % 7
    model = fm.Rnnlm(7, 4, 5, seed=0)
    ppl = util.eval_perplexity(model, corpus, batch_size=2, time_size=5)
    assert capsys.readouterr().out.splitlines()[0] == "evaluating perplexity ..."
    model.reset_state()
    assert ppl == ftrainer.eval_perplexity(model, corpus, 2, 5)
    grads = [np.full(3, 10.0)]
    util.clip_grads(grads, 1.0)
    assert np.linalg.norm(grads[0]) == pytest.approx(1.0, rel=1e-5)


def test_attention_weights_as_the_books_visualize_attention():
    model = fm.AttentionSeq2seq(V, D, H, seed=0)
    x = np.arange(7).reshape(1, 7) % V
    t = np.arange(5).reshape(1, 5) % V
    model.forward(x, t)
    d = np.array(model.decoder.attention.attention_weights)
    assert d.shape == (4, 1, 7)  # T_dec arrays (N, T_enc)
    attention_map = d.reshape(d.shape[0], d.shape[2])
    np.testing.assert_allclose(attention_map.sum(axis=1), 1.0, rtol=1e-5)


_BOOK_NAMES = """
import inspect, json, sys
sys.path.insert(0, sys.argv[1])
import common.base_model, common.functions, common.layers, common.optimizer, common.time_layers
import common.trainer, common.util, dataset.ptb, dataset.sequence
out = {}
for mod in (common.layers, common.time_layers, common.optimizer, common.trainer, common.base_model,
            common.util, common.functions, dataset.ptb, dataset.sequence):
    for name, obj in vars(mod).items():
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ == mod.__name__:
            if not name.startswith("_"):
                out[f"{mod.__name__}.{name}"] = [
                    [p.name, None if p.default is p.empty else repr(p.default)]
                    for p in inspect.signature(obj).parameters.values()
                ]
print(json.dumps(out))
"""
# what from-the-book.md lists as not provided
_NOT_PROVIDED = {"SigmoidWithLoss", "TimeSigmoidWithLoss", "Simple_TimeSoftmaxWithLoss"}
_NOT_PROVIDED |= {"Simple_TimeAffine", "preprocess", "cos_similarity", "most_similar"}
_NOT_PROVIDED |= {"convert_one_hot", "create_co_matrix", "ppmi", "create_contexts_target"}
_NOT_PROVIDED |= {"analogy", "normalize"}


def test_every_book_class_and_function_takes_the_books_arguments(book_dir, tmp_path):
    """The classes and functions of the book's ``common/`` and ``dataset/`` take the book's
    arguments, in its order and with its defaults (fastlstm may add parameters with defaults,
    and defaults where the book has none)."""
    import inspect
    import json
    import subprocess
    import sys

    from fastlstm import functions, layers, optim
    from fastlstm.datasets import ptb

    out = subprocess.run(
        [sys.executable, "-c", _BOOK_NAMES, str(book_dir)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    book = json.loads(out.stdout)
    assert {"common.time_layers.TimeGRU", "common.util.eval_seq2seq"} <= set(book)
    ours = {
        "common.layers": vars(layers), "common.time_layers": vars(layers),
        "common.optimizer": vars(optim), "common.trainer": vars(ftrainer),
        "common.base_model": vars(fm), "common.util": vars(util),
        "common.functions": vars(functions), "dataset.ptb": vars(ptb),
        "dataset.sequence": vars(sequence),
    }  # fmt: skip
    for key, params in sorted(book.items()):
        module, name = key.rsplit(".", 1)
        if name in _NOT_PROVIDED:
            assert name not in ours[module], key
            continue
        assert name in ours[module], key
        mine = list(inspect.signature(ours[module][name]).parameters.values())
        assert [p.name for p in mine[: len(params)]] == [n for n, _ in params], key
        for p, (_, default) in zip(mine, params):
            if default is not None:
                assert repr(p.default) == default, (key, p.name)
        assert all(p.default is not p.empty for p in mine[len(params) :]), key


_BOOK_GRU = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from common.time_layers import TimeGRU
f = np.load(sys.argv[2])
layer = TimeGRU(f["Wx"], f["Wh"], f["b"], stateful=True)
layer.set_state(f["h0"])
hs = layer.forward(f["xs"])
dxs = layer.backward(f["dhs"])
np.savez(sys.argv[3], hs=hs, dxs=dxs, dh=layer.dh, h=layer.h, dWx=layer.grads[0],
         dWh=layer.grads[1], db=layer.grads[2])
"""


def test_time_gru_with_a_bias_computes_what_the_books_does(book_dir, tmp_path):
    """``TimeGRU(Wx, Wh, b, stateful=True)`` as the book's current ``common/time_layers.py``
    calls it: the same outputs, state and gradients (float32 rounding apart)."""
    import subprocess
    import sys

    from fastlstm.layers import TimeGRU

    rng = np.random.default_rng(5)
    N, T = 3, 4
    arrays = {
        "Wx": rng.standard_normal((D, 3 * H)) * D**-0.5,
        "Wh": rng.standard_normal((H, 3 * H)) * H**-0.5,
        "b": rng.standard_normal(3 * H),
        "h0": rng.standard_normal((N, H)) * 0.5,
        "xs": rng.standard_normal((N, T, D)),
        "dhs": rng.standard_normal((N, T, H)),
    }
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    np.savez(tmp_path / "in.npz", **arrays)
    out = subprocess.run(
        [sys.executable, "-c", _BOOK_GRU, str(book_dir), "in.npz", "out.npz"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    book = np.load(tmp_path / "out.npz")
    layer = TimeGRU(arrays["Wx"], arrays["Wh"], arrays["b"], stateful=True)
    assert len(layer.params) == 3 and layer.db is layer.grads[2]
    layer.set_state(arrays["h0"])
    got = {"hs": layer.forward(arrays["xs"]), "dxs": layer.backward(arrays["dhs"])}
    got.update(dh=layer.dh, h=layer.h, dWx=layer.dWx, dWh=layer.dWh, db=layer.db)
    for key, value in got.items():
        np.testing.assert_allclose(value, book[key], rtol=1e-5, atol=1e-5, err_msg=key)


def test_a_flag_in_place_of_the_gru_bias_is_refused():
    """``TimeGRU(Wx, Wh, True)`` (stateful given by position) names the bias, not a dtype."""
    from fastlstm.layers import GRU, TimeGRU

    Wx, Wh = np.zeros((D, 3 * H), "f"), np.zeros((H, 3 * H), "f")
    with pytest.raises(TypeError, match="third argument .* is the bias b"):
        TimeGRU(Wx, Wh, True)
    with pytest.raises(TypeError, match="pass stateful by name"):
        GRU(Wx, Wh, np.False_)


def test_relu_and_remove_duplicate_as_the_books():
    """``functions.relu`` is ``max(0, x)``; ``trainer.remove_duplicate`` merges a tied
    (transposed) weight as the book's does: one parameter, the gradients added."""
    from fastlstm.functions import relu
    from fastlstm.trainer import remove_duplicate

    x = np.array([[-1.5, 0.0, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(relu(x), [[0.0, 0.0, 2.0]])
    assert relu(x).dtype == np.float32 and relu(-3.0) == 0.0
    W = np.arange(6.0).reshape(2, 3)
    gW, gWT = np.ones((2, 3)), np.full((3, 2), 2.0)
    params, grads = remove_duplicate([W, W.T], [gW, gWT])
    assert len(params) == 1 and params[0] is W and grads[0] is gW
    np.testing.assert_array_equal(gW, np.full((2, 3), 3.0))
