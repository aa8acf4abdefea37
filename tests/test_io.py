"""Tests of fastlstm.io: own format round trips, atomicity, corrupt files, the book's pickles."""

from __future__ import annotations

import io as stdio
import json
import os
import pickle
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fastlstm import io as fio
from fastlstm.io import CheckpointError
from fastlstm.io.files import _writer_tag

RNNLM_SHAPES = [(10000, 100), (100, 400), (100, 400), (400,), (100, 10000), (10000,)]


def _params(seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [
        rng.standard_normal((5, 8)).astype(dtype),
        rng.standard_normal((2, 8)).astype(dtype),
        rng.standard_normal(8).astype(dtype),
    ]


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- #
# atomic_write
# --------------------------------------------------------------------------- #
def test_atomic_write_replaces_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    fio.atomic_write(path, lambda f: f.write(b"new content"))
    assert path.read_bytes() == b"new content"
    assert _no_temp_files(tmp_path)


def test_atomic_write_to_a_directory_names_it(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match=r"cannot write .*d: it is a directory"):
        fio.atomic_write(tmp_path / "d", lambda f: f.write(b"x"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_atomic_write_crash_keeps_old_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def crash(f):
        f.write(b"half of the new")
        raise KeyboardInterrupt  # not even an Exception

    with pytest.raises(KeyboardInterrupt):
        fio.atomic_write(path, crash)
    assert path.read_bytes() == b"old"
    assert _no_temp_files(tmp_path)


def test_atomic_write_crash_without_previous_file(tmp_path):
    path = tmp_path / "f.bin"

    def crash(f):
        f.write(b"x")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        fio.atomic_write(path, crash)
    assert not path.exists()
    assert _no_temp_files(tmp_path)


def test_save_params_crash_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    old = _params(0)
    fio.save_params(old, path)

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        fio.save_params(_params(1), path)
    monkeypatch.undo()
    for a, b in zip(fio.load_params(path), old, strict=True):
        np.testing.assert_array_equal(a, b)
    assert _no_temp_files(tmp_path)


# --------------------------------------------------------------------------- #
# save_params / load_params
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_params_round_trip_full_precision(tmp_path, dtype):
    params = _params(0, dtype)
    params[0][0, 0] = 1.0 + np.finfo(dtype).eps  # lost in float16
    path = fio.save_params(params, tmp_path / "p.npz", model_class="Rnnlm", model_kwargs={"H": 8})
    loaded = fio.load_params(path)
    assert len(loaded) == len(params)
    for a, b in zip(loaded, params, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    meta = fio.read_params_meta(path)
    assert meta["format"] == "fastlstm-params" and meta["version"] == 1
    assert meta["model_class"] == "Rnnlm" and meta["model_kwargs"] == {"H": 8}
    assert meta["params"]["shapes"] == [list(p.shape) for p in params]
    # plain numpy can read it without pickle
    with np.load(path, allow_pickle=False) as npz:
        assert {"param_000", "param_001", "param_002", "__meta__"} == set(npz.files)


def test_params_tied_by_identity(tmp_path):
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.ones(3, dtype=np.float32)
    path = fio.save_params([w, b, w], tmp_path / "tied.npz")
    loaded = fio.load_params(path)
    assert len(loaded) == 3 and loaded[2] is loaded[0]
    with np.load(path) as npz:
        assert "param_002" not in npz.files  # stored once
    model = [np.zeros((2, 3), np.float32), np.zeros(3, np.float32)]
    model.append(model[0])
    fio.load_into(model, loaded, path)
    np.testing.assert_array_equal(model[0], w)
    assert model[2] is model[0]


def test_save_params_rejects_bad_input(tmp_path):
    with pytest.raises(TypeError, match="params"):
        fio.save_params(np.zeros(3), tmp_path / "x.npz")
    with pytest.raises(TypeError, match="numeric"):
        fio.save_params([np.array(["a"])], tmp_path / "x.npz")
    with pytest.raises(TypeError, match="JSON"):
        fio.save_params([np.zeros(2)], tmp_path / "x.npz", model_kwargs={"f": object()})
    assert not (tmp_path / "x.npz").exists()


# --------------------------------------------------------------------------- #
# corrupt and foreign files
# --------------------------------------------------------------------------- #
@pytest.fixture
def good_file(tmp_path):
    return fio.save_params(_params(0), tmp_path / "good.npz")


@pytest.mark.parametrize("loader", [fio.load_params, fio.load_any, fio.load_checkpoint])
def test_truncated_file(tmp_path, good_file, loader):
    data = good_file.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        path = tmp_path / f"cut{cut}.npz"
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=str(path.name)):
            loader(path)


def test_flipped_byte_in_array_data(tmp_path, good_file):
    data = bytearray(good_file.read_bytes())
    with zipfile.ZipFile(good_file) as zf:
        info = zf.getinfo("param_000.npy")
    data[info.header_offset + 200] ^= 0xFF  # inside the stored array bytes
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        fio.load_params(path)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", "empty"),
        (b"hello world, not a checkpoint", "unrecognised"),
        (b"\x93NUMPY\x01\x00", "unrecognised"),
    ],
)
def test_foreign_files(tmp_path, content, pattern):
    path = tmp_path / "foreign.bin"
    path.write_bytes(content)
    for loader in (fio.load_params, fio.load_any, fio.load_checkpoint):
        with pytest.raises(CheckpointError, match=pattern):
            loader(path)


def test_npz_without_metadata_or_with_future_version(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a fastlstm file"):
        fio.load_params(plain)
    future = tmp_path / "future.npz"
    meta = np.frombuffer(b'{"format": "fastlstm-params", "version": 99}', dtype=np.uint8)
    np.savez(future, __meta__=meta)
    with pytest.raises(CheckpointError, match="version 99"):
        fio.load_any(future)
    bad_json = tmp_path / "badjson.npz"
    np.savez(bad_json, __meta__=np.frombuffer(b"{not json", dtype=np.uint8))
    with pytest.raises(CheckpointError, match="JSON"):
        fio.load_params(bad_json)


def test_missing_param_entry(tmp_path, good_file):
    with np.load(good_file) as npz:
        members = {k: npz[k] for k in npz.files if k != "param_001"}
    path = tmp_path / "missing.npz"
    np.savez(path, **members)
    with pytest.raises(CheckpointError, match="parameter 1"):
        fio.load_params(path)


def test_missing_file_is_file_not_found(tmp_path):
    for loader in (fio.load_params, fio.load_any, fio.read_book_pkl, fio.load_checkpoint):
        with pytest.raises(FileNotFoundError):
            loader(tmp_path / "nope.npz")


def test_load_params_on_pickle_points_to_reader(tmp_path):
    path = tmp_path / "book.pkl"
    path.write_bytes(pickle.dumps([np.zeros(2, np.float16)]))
    with pytest.raises(CheckpointError, match="read_book_pkl"):
        fio.load_params(path)


# --------------------------------------------------------------------------- #
# the book's pickles
# --------------------------------------------------------------------------- #
class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_malicious_pickle_refused(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([np.zeros(2, np.float16), _Evil(marker)], protocol=protocol))
    for loader in (fio.read_book_pkl, fio.load_any):
        with pytest.raises(CheckpointError, match=r"forbidden global '(posix|nt|os)\.system'"):
            loader(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("obj", "pattern"),
    [
        ({"W": np.zeros(2)}, "dict"),
        ([np.zeros(2), "text"], "item 1 is a str"),
        ([np.array([1, "a"], dtype=object)], r"forbidden global|non-numeric"),
        (np.zeros(3), "forbidden|expected a list"),
    ],
)
def test_pickles_that_are_not_lists_of_arrays(tmp_path, obj, pattern):
    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=3))
    with pytest.raises(CheckpointError, match=pattern):
        fio.read_book_pkl(path)


def test_pickle_of_builtin_refused(tmp_path):
    path = tmp_path / "eval.pkl"
    path.write_bytes(b"\x80\x03cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R.")
    with pytest.raises(CheckpointError, match="builtins.eval"):
        fio.read_book_pkl(path)


def test_truncated_pickle(tmp_path):
    data = pickle.dumps([np.ones((4, 4), np.float16)], protocol=3)
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        fio.load_any(path)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickled_arrays_round_trip(tmp_path, protocol):
    arrays = [p.astype(np.float16) for p in _params(3)]
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=protocol))
    for loaded in (fio.read_book_pkl(path), fio.load_any(path)):
        assert [a.dtype for a in loaded] == [np.float16] * 3
        for a, b in zip(loaded, arrays, strict=True):
            np.testing.assert_array_equal(a, b)


def test_book_rnnlm_pkl(book_weights_dir):
    arrays = fio.read_book_pkl(book_weights_dir / "Rnnlm.pkl")
    assert [a.shape for a in arrays] == RNNLM_SHAPES
    assert all(a.dtype == np.float16 for a in arrays)
    assert all(np.isfinite(a).all() and np.abs(a).max() > 0 for a in arrays)
    again = fio.load_any(book_weights_dir / "Rnnlm.pkl")
    for a, b in zip(arrays, again, strict=True):
        np.testing.assert_array_equal(a, b)
    params = [np.zeros(s, np.float32) for s in RNNLM_SHAPES]
    fio.load_into(params, arrays, "Rnnlm.pkl")
    for p, a in zip(params, arrays, strict=True):
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p, a.astype(np.float32))


def test_book_attention_pkl(book_weights_dir):
    arrays = fio.load_any(book_weights_dir / "AttentionSeq2seq.pkl")
    assert len(arrays) > 0
    assert all(isinstance(a, np.ndarray) and a.dtype == np.float16 for a in arrays)


# --------------------------------------------------------------------------- #
# load_into
# --------------------------------------------------------------------------- #
def test_load_into_copies_in_place_with_cast():
    params = _params(0)
    ids = [id(p) for p in params]
    arrays = [p.astype(np.float64) * 2 for p in _params(1)]
    fio.load_into(params, arrays, "x.npz")
    assert [id(p) for p in params] == ids
    for p, a in zip(params, arrays, strict=True):
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p, a.astype(np.float32))


def test_load_into_shape_mismatch_changes_nothing():
    params = _params(0)
    before = [p.copy() for p in params]
    arrays = _params(1)
    arrays[2] = np.zeros(9, np.float32)
    with pytest.raises(
        CheckpointError, match=r"model\.npz: parameter 2 has shape \(9,\), the model expects \(8,\)"
    ):
        fio.load_into(params, arrays, "model.npz")
    for p, b in zip(params, before, strict=True):
        np.testing.assert_array_equal(p, b)


def test_load_into_count_mismatch():
    with pytest.raises(CheckpointError, match="holds 2 arrays but the model has 3"):
        fio.load_into(_params(0), _params(1)[:2], "m.pkl")


def test_load_into_tied_params_must_agree():
    w = np.zeros((2, 3), np.float32)
    params = [w, w]
    with pytest.raises(CheckpointError, match="tied"):
        fio.load_into(params, [np.ones((2, 3)), np.zeros((2, 3))], "f")
    fio.load_into(params, [np.ones((2, 3)), np.ones((2, 3))], "f")
    np.testing.assert_array_equal(w, 1)


def test_load_into_transposed_view():
    embed = np.zeros((4, 3), np.float32)
    params = [embed, embed.T]  # weight tying as in BetterRnnlm
    values = np.arange(12, dtype=np.float32).reshape(4, 3)
    fio.load_into(params, [values, values.T.copy()], "f")
    np.testing.assert_array_equal(embed, values)


# --------------------------------------------------------------------------- #
# checkpoints
# --------------------------------------------------------------------------- #
def test_checkpoint_round_trip(tmp_path):
    params = _params(0)
    m = [np.full_like(p, 0.5) for p in params]
    v = [np.full_like(p, 0.25) for p in params]
    rng = np.random.default_rng(42)
    rng.random(10)
    state = rng.bit_generator.state
    path = fio.save_checkpoint(
        tmp_path / "ckpt.npz",
        params=params,
        optimizer_state={"lr": 0.001, "iter": 17, "m": m, "v": v, "h": None, "empty": [None, m[0]]},
        epoch=3,
        rng_state=state,
        extra={"ppl": [412.5, np.float64(300.25)], "note": "x", "best": np.int64(2)},
        model_class="Rnnlm",
        model_kwargs={"vocab_size": 10000},
    )
    ckpt = fio.load_checkpoint(path)
    assert isinstance(ckpt, fio.Checkpoint)
    assert ckpt.epoch == 3
    assert ckpt.model_class == "Rnnlm" and ckpt.model_kwargs == {"vocab_size": 10000}
    for a, b in zip(ckpt.params, params, strict=True):
        np.testing.assert_array_equal(a, b)
    opt = ckpt.optimizer_state
    assert opt["lr"] == 0.001 and opt["iter"] == 17 and opt["h"] is None
    assert opt["empty"][0] is None
    np.testing.assert_array_equal(opt["empty"][1], m[0])
    for name, ref in (("m", m), ("v", v)):
        for a, b in zip(opt[name], ref, strict=True):
            np.testing.assert_array_equal(a, b)
    assert ckpt.extra == {"ppl": [412.5, 300.25], "note": "x", "best": 2}
    restored = np.random.default_rng()
    restored.bit_generator.state = ckpt.rng_state
    np.testing.assert_array_equal(restored.random(5), rng.random(5))
    assert fio.load_params(path)[0].shape == (5, 8)
    with np.load(path, allow_pickle=False) as npz:  # no pickle anywhere
        for name in npz.files:
            assert npz[name].dtype != object


def test_checkpoint_mt19937_state(tmp_path):
    rng = np.random.Generator(np.random.MT19937(5))
    rng.random(3)
    path = fio.save_checkpoint(tmp_path / "c.npz", params=[], rng_state=rng.bit_generator.state)
    restored = np.random.Generator(np.random.MT19937())
    restored.bit_generator.state = fio.load_checkpoint(path).rng_state
    np.testing.assert_array_equal(restored.random(4), rng.random(4))


def test_checkpoint_errors(tmp_path):
    params_only = fio.save_params(_params(0), tmp_path / "p.npz")
    with pytest.raises(CheckpointError, match="load_params"):
        fio.load_checkpoint(params_only)
    with pytest.raises(TypeError, match="epoch"):
        fio.save_checkpoint(tmp_path / "c.npz", params=_params(0), epoch=1.5)
    with pytest.raises(TypeError, match="JSON"):
        fio.save_checkpoint(tmp_path / "c.npz", params=_params(0), extra={"f": print})
    assert not (tmp_path / "c.npz").exists()


def test_download_is_atomic(tmp_path):
    source = tmp_path / "source.txt"
    source.write_bytes(b"some data\n" * 1000)
    dest = tmp_path / "sub" / "dest.txt"
    fio.download(source.as_uri(), dest)
    assert dest.read_bytes() == source.read_bytes()
    dest.write_bytes(b"previous")
    with pytest.raises(OSError):
        fio.download((tmp_path / "missing.txt").as_uri(), dest)
    assert dest.read_bytes() == b"previous"
    assert _no_temp_files(dest.parent)


# --------------------------------------------------------------------------- #
# every unreadable file is a CheckpointError
# --------------------------------------------------------------------------- #
def _patch_zip_headers(path: Path, flag_bits: int = 0, method: int | None = None) -> None:
    """Set general-purpose flag bits and/or the compression method of every zip entry."""
    data = bytearray(path.read_bytes())
    for sig, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        pos = data.find(sig)
        while pos >= 0:
            flags = int.from_bytes(data[pos + flag_at : pos + flag_at + 2], "little")
            data[pos + flag_at : pos + flag_at + 2] = (flags | flag_bits).to_bytes(2, "little")
            if method is not None:
                data[pos + method_at : pos + method_at + 2] = method.to_bytes(2, "little")
            pos = data.find(sig, pos + 4)
    path.write_bytes(bytes(data))


def _all_readers(path):
    from fastlstm.models import Rnnlm

    model = Rnnlm(6, 4, 4)
    return [
        lambda: fio.load_params(path),
        lambda: fio.load_checkpoint(path),
        lambda: fio.load_any(path),
        lambda: fio.read_params_meta(path),
        lambda: model.load_params(path),
        lambda: Rnnlm.from_checkpoint(path),
    ]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param({"flag_bits": 0x1}, id="encrypted-entry"),
        pytest.param({"method": 99}, id="unknown-compression"),
        pytest.param({"method": 14}, id="lzma-without-header"),
    ],
)
def test_unreadable_zip_entries_are_checkpoint_errors(tmp_path, damage):
    from fastlstm.models import Rnnlm

    path = tmp_path / "m.npz"
    Rnnlm(6, 4, 4).save_params(path)
    _patch_zip_headers(path, **damage)
    for read in _all_readers(path):
        with pytest.raises(CheckpointError, match=str(path.name)):
            read()


def test_deeply_nested_metadata_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "deep.npz"
    text = '{"format": "fastlstm-params", "version": 1, "x": ' + "[" * 200_000 + "]" * 200_000
    np.savez(path, __meta__=np.frombuffer((text + "}").encode(), dtype=np.uint8))
    for read in _all_readers(path):
        with pytest.raises(CheckpointError, match="nested too deeply"):
            read()


def test_array_header_promising_more_than_the_file_holds(tmp_path):
    """A crafted header asking for 80 GB is refused before numpy allocates it."""
    path = tmp_path / "crafted.npz"
    header = {"descr": "<f8", "fortran_order": False, "shape": (10_000_000_000,)}
    buf = stdio.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    meta = {"format": "fastlstm-params", "version": 1,
            "params": {"count": 1, "shapes": [[10_000_000_000]], "dtypes": ["<f8"], "tied": []}}  # fmt: skip
    meta_buf = stdio.BytesIO()
    np.save(meta_buf, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    with zipfile.ZipFile(path, "w") as zf:  # the metadata names the member, with its shape
        zf.writestr("param_000.npy", buf.getvalue() + b"\0" * 64)
        zf.writestr("__meta__.npy", meta_buf.getvalue())
    for read in _all_readers(path)[:3]:
        with pytest.raises(CheckpointError, match="declares shape"):
            read()
    assert fio.read_params_meta(path)["params"]["count"] == 1  # reads the metadata only


@pytest.mark.parametrize("which", ["load_params", "from_checkpoint", "io"])
def test_directory_is_reported_as_a_directory(tmp_path, which):
    from fastlstm.models import Rnnlm

    target = tmp_path / "runs"
    target.mkdir()
    call = {
        "load_params": lambda: Rnnlm(6, 4, 4).load_params(target),
        "from_checkpoint": lambda: Rnnlm.from_checkpoint(target),
        "io": lambda: fio.load_any(target),
    }[which]
    with pytest.raises(IsADirectoryError, match="is a directory"):
        call()


# --------------------------------------------------------------------------- #
# sizes are checked before anything is allocated
# --------------------------------------------------------------------------- #
def _craft_kwargs(path: Path, **changes):
    """Rewrite the saved ``model_kwargs`` of a parameter file."""
    members = dict(np.load(path))
    meta = json.loads(members["__meta__"].tobytes())
    meta["model_kwargs"].update(changes)
    members["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **members)


@pytest.mark.parametrize(
    "changes",
    [
        {"vocab_size": 100_000_000},
        {"wordvec_size": 100_000},
        {"hidden_size": 1_000_000},
        {"vocab_size": 7},
    ],
    ids=["vocab-1e8", "wordvec-1e5", "hidden-1e6", "vocab-off-by-one"],
)
@pytest.mark.parametrize("cls_name", ["Rnnlm", "AttentionSeq2seq"])
def test_crafted_model_kwargs_are_refused_before_allocation(
    tmp_path, monkeypatch, cls_name, changes
):
    from fastlstm import models
    from fastlstm.models import base

    cls = getattr(models, cls_name)
    path = tmp_path / "m.npz"
    cls(6, 4, 4).save_params(path)
    _craft_kwargs(path, **changes)
    built = []
    monkeypatch.setattr(base, "_randn", lambda *a: built.append(a) or np.zeros(1))
    with pytest.raises(CheckpointError, match="saved arguments"):
        cls.from_checkpoint(path)
    assert not built, "the model was being built before the sizes were checked"


@pytest.mark.parametrize(
    "sizes",
    [(10_000, 100_000_000, 100), (100_000_000_000, 16, 16), (10, 10, 10_000_000)],
    ids=["wordvec-1e8", "vocab-1e11", "hidden-1e7"],
)
def test_models_too_large_for_memory_are_refused_before_allocation(sizes):
    from fastlstm import models
    from fastlstm.models.base import ModelTooLargeError

    for cls in (models.SimpleRnnlm, models.Rnnlm, models.Seq2seq, models.AttentionBiSeq2seq):
        with pytest.raises(ModelTooLargeError, match=r"GiB.*available") as info:
            cls(*sizes)
        assert isinstance(info.value, MemoryError) and isinstance(info.value, ValueError)
        assert f"wordvec_size={sizes[1]}" in str(info.value)


# --------------------------------------------------------------------------- #
# temporary files of killed saves
# --------------------------------------------------------------------------- #
_KILLED_SAVE = """
import os, signal, sys
from fastlstm import io
def write(f):
    f.write(b"x" * 100000)
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
io.atomic_write(sys.argv[1], write)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_temporary_file_of_a_killed_save_is_removed_by_the_next_save(tmp_path):
    import subprocess
    import sys

    target = tmp_path / "model.npz"
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "src"), str(root)]))
    previous = None
    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(target)], env=env)
        assert proc.returncode < 0  # killed
        left = [p for p in tmp_path.iterdir() if p.name.endswith(fio.TEMP_SUFFIX)]
        # each killed save leaves its own file but removed the one before: no pile-up
        assert len(left) == 1 and left[0] != previous and not target.exists()
        assert left[0].stat().st_size == 100000
        previous = left[0]
    fio.save_params(_params(), tmp_path / "other.npz")  # any save to the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.npz"]


def test_temporary_files_of_running_saves_are_kept(tmp_path):
    mine = tmp_path / f".a.npz.{_writer_tag()}.abcd1234{fio.TEMP_SUFFIX}"
    mine.write_bytes(b"in progress")
    # a save of a process on another host sharing the folder: its pid means nothing here
    elsewhere = tmp_path / f".a.npz.other-host-1.abcd1234{fio.TEMP_SUFFIX}"
    elsewhere.write_bytes(b"in progress elsewhere")
    unrelated = tmp_path / ".notes.tmp"
    unrelated.write_bytes(b"not ours")
    fio.save_params(_params(), tmp_path / "b.npz")
    assert mine.exists() and unrelated.exists() and elsewhere.exists()
    # ... unless they are older than a day (the process id may have been reused)
    old = time.time() - fio.STALE_TEMP_AGE - 60
    for path in (mine, elsewhere):
        os.utime(path, (old, old))
    fio.save_params(_params(), tmp_path / "b.npz")
    assert not mine.exists() and not elsewhere.exists() and unrelated.exists()


def test_member_shape_disagreeing_with_metadata_is_refused_before_reading(tmp_path):
    from fastlstm.models import Rnnlm

    path = tmp_path / "m.npz"
    Rnnlm(6, 4, 4).save_params(path)
    members = dict(np.load(path))
    members["param_000"] = np.zeros((600, 4), dtype=np.float32)  # consistent header, wrong shape
    np.savez(path, **members)
    for read in (lambda: fio.load_params(path), lambda: Rnnlm(6, 4, 4).load_params(path)):
        with pytest.raises(CheckpointError, match=r"parameter 0 .*\(600, 4\)"):
            read()


def test_load_params_compares_shapes_before_reading_arrays(tmp_path, monkeypatch):
    from fastlstm.models import Rnnlm

    path = tmp_path / "big.npz"
    Rnnlm(60, 4, 4).save_params(path)

    def no_arrays(*args, **kwargs):
        raise AssertionError("the arrays were read before the shapes were compared")

    monkeypatch.setattr(fio, "load_any", no_arrays)
    with pytest.raises(CheckpointError, match=r"parameter 0 has shape \(60, 4\).*\(6, 4\)"):
        Rnnlm(6, 4, 4).load_params(path)


@pytest.mark.skipif(os.name != "posix", reason="processes are probed on POSIX only")
@pytest.mark.parametrize(
    ("error", "alive"),
    [
        (ProcessLookupError(3, "No such process"), False),
        (PermissionError(1, "Operation not permitted"), True),  # EPERM: another user's
        (OSError(22, "Invalid argument"), True),  # any other error: it may exist
        (None, True),
    ],
)
def test_pid_alive_only_no_such_process_means_gone(monkeypatch, error, alive):
    """One answer for the temporary files' clean-up and the run folders' lock: only
    "no such process" means the process is gone."""
    from fastlstm.api import folder
    from fastlstm.io import files

    def kill(pid, sig):
        assert sig == 0
        if error is not None:
            raise error

    monkeypatch.setattr(os, "kill", kill)
    assert files.pid_alive(os.getpid() + 1) is alive
    assert folder.pid_alive is files.pid_alive


# --------------------------------------------------------------------------- #
# only what the metadata names is read, within the sizes it declares
# --------------------------------------------------------------------------- #
def _checkpoint(tmp_path):
    from fastlstm.models import Rnnlm

    model = Rnnlm(6, 4, 4)
    opt = {"m": [np.zeros_like(p) for p in model.params], "lr": 0.1}
    return fio.save_checkpoint(
        tmp_path / "best.npz", params=model.params, optimizer_state=opt, epoch=1,
        model_class="Rnnlm", model_kwargs={"vocab_size": 6, "wordvec_size": 4, "hidden_size": 4},
    )  # fmt: skip


def _append_member(path: Path, name: str, data: bytes, compress=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "a", compression=compress) as zf:
        zf.writestr(name, data)


def _opened_members(monkeypatch):
    opened = []
    real = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    return opened


def test_members_the_metadata_does_not_name_are_never_read(tmp_path, monkeypatch):
    """An appended member of 3 GB of zeros (an 11.6 MB file) used to be decompressed by
    every reader (44 s, 3.2 GB resident); 20,000 tiny unused members took 28 s."""
    import time

    path = _checkpoint(tmp_path)
    header = stdio.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (64 << 20,)}
    )
    _append_member(path, "junk.npy", header.getvalue() + bytes(64 << 20))  # 64 MB of zeros
    with zipfile.ZipFile(path, "a") as zf:
        for k in range(2000):
            zf.writestr(f"tiny_{k:05d}.npy", b"x")
    opened = _opened_members(monkeypatch)
    t0 = time.perf_counter()
    for read in _all_readers(path):
        read()
    assert time.perf_counter() - t0 < 10
    assert opened and all(n.startswith(("param_", "opt/", "__meta__")) for n in opened), sorted(
        set(opened)
    )[:5]


def test_duplicate_member_names_are_refused(tmp_path):
    path = _checkpoint(tmp_path)
    with np.load(path) as npz:
        first = npz["param_000"]
    buf = stdio.BytesIO()
    np.save(buf, np.ones_like(first))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile: "Duplicate name"
        _append_member(path, "param_000.npy", buf.getvalue(), zipfile.ZIP_STORED)
    for read in _all_readers(path):
        with pytest.raises(CheckpointError, match=r"'param_000.npy' appears more than once"):
            read()


def test_optimizer_member_larger_than_any_parameter_is_refused(tmp_path):
    """The metadata declares no optimizer shapes: each array may be at most as large as
    the largest parameter in float64 (Adam's m and v have the parameters' shapes)."""
    path = _checkpoint(tmp_path)
    with np.load(path) as npz:
        members = {k: npz[k] for k in npz.files}
    members["opt/m/000"] = np.zeros(10**6)  # 8 MB for a 6 x 4 parameter
    np.savez(path, **members)
    with pytest.raises(CheckpointError, match=r"optimizer state 'm/000'.*more than"):
        fio.load_checkpoint(path)


@pytest.mark.parametrize("meta", [b"[1, 2]", b'"text"', b"3"])
def test_metadata_that_is_not_a_json_object_is_a_checkpoint_error(tmp_path, meta):
    """A JSON list used to raise AttributeError."""
    path = tmp_path / "list.npz"
    np.savez(path, __meta__=np.frombuffer(meta, dtype=np.uint8))
    for read in _all_readers(path):
        with pytest.raises(CheckpointError, match="expected an object"):
            read()


def test_full_disk_names_the_file_and_keeps_the_previous_one(tmp_path):
    """``[Errno 28] No space left on device`` used to name no file."""
    import errno

    path = fio.save_params(_params(0), tmp_path / "model.npz")
    before = path.read_bytes()

    def full(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError, match=rf"No space left on device \(writing {path}") as info:
        fio.atomic_write(path, full)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert path.read_bytes() == before
    assert _no_temp_files(tmp_path)


def test_weights_tied_by_a_transposed_view_must_agree_in_the_file(tmp_path):
    """BetterRnnlm's output W is the embedding's transpose: two different arrays in a file."""
    import fastlstm.models as F

    model = F.BetterRnnlm(20, 6, 6, seed=0)
    arrays = [p.copy() for p in model.params]
    fio.load_into(model.params, arrays, "same.npz")  # agreeing copies load
    arrays[7] = np.full_like(arrays[7], 0.5)  # whichever loaded last won, silently
    before = [p.copy() for p in model.params]
    with pytest.raises(CheckpointError, match="bad.npz: parameter 7 is tied to parameter 0"):
        fio.load_into(model.params, arrays, "bad.npz")
    for p, q in zip(model.params, before):
        np.testing.assert_array_equal(p, q)  # nothing copied


def test_an_epoch_past_any_integer_is_malformed_metadata(tmp_path):
    """JSON's 1e400 reads as inf: int() of it raised OverflowError from inside the reader."""
    path = tmp_path / "c.npz"
    fio.save_checkpoint(path, params=[np.ones(3, np.float32)], epoch=1, extra={})
    members = dict(np.load(path))
    text = members["__meta__"].tobytes().decode().replace('"epoch": 1', '"epoch": 1e400')
    assert "1e400" in text
    members["__meta__"] = np.frombuffer(text.encode(), dtype=np.uint8)
    np.savez(path, **members)
    with pytest.raises(CheckpointError, match=r"c\.npz: malformed"):
        fio.load_checkpoint(path)
