"""The compiled-kernel cache: where it lives, what survives, what repeats.

Every case runs fresh Python processes with ``FASTLSTM_NUMBA_CACHE`` pointing
at a scratch folder, so the kernels they use are compiled (cold) or loaded
(warm) exactly as a user's first and later runs.  The kernels used are small
(an SGD update, the softmax-loss pair) to keep the compile cost low.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "fastlstm"

# float64 softmax-loss forward and backward (serial builds), an SGD update;
# prints a digest of every result's bits
_SCRIPT = textwrap.dedent(
    """
    import hashlib, sys
    import numpy as np
    from fastlstm._kernels import optim, softmax as K

    if "helpers-first" in sys.argv:  # load the helpers on their own first
        K.shifted_exp(np.ones(3), np.empty(3))
        K.softmax_row(np.ones(3), np.empty(3))
    rng = np.random.default_rng(3)
    M, V = 40, 30
    x = rng.standard_normal((M, V))
    t = rng.integers(0, V, M)
    e, sums, losses, dx = np.empty_like(x), np.empty(M), np.empty(M), np.empty_like(x)
    K.softmax_ce_forward.serial(x, t, -1, e, sums, losses)
    K.softmax_ce_backward.serial(e, t, -1, sums, 0.025, dx)
    p, g = rng.standard_normal(100), rng.standard_normal(100)
    optim.sgd(p, g, 0.1)
    assert np.allclose(e, np.exp(x - x.max(1, keepdims=True)), rtol=1e-14, atol=0)
    # parallel builds with sums (their loaded copies once differed from compiled ones)
    from fastlstm._kernels import attention as A
    e2, sums2, losses2 = np.empty_like(x), np.empty(M), np.empty(M)
    K.softmax_ce_forward.parallel(x, t, -1, e2, sums2, losses2)
    hs, hd = rng.standard_normal((3, 7, 40)), rng.standard_normal((3, 5, 40))
    att, ctx = np.empty((3, 5, 7)), np.empty((3, 5, 40))
    A.attention_forward.parallel(hs, hd, att, ctx)
    for name, a in dict(
        e=e, sums=sums, losses=losses, dx=dx, p=p, sums2=sums2, att=att, ctx=ctx
    ).items():
        print(name, hashlib.sha256(a.tobytes()).hexdigest()[:16])
    """
)


def _run(cache, *args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    env["FASTLSTM_NUMBA_CACHE"] = str(cache)
    env["PYTHONWARNINGS"] = "default"
    env.update(env_extra or {})
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def _package_cache_files():
    return {p: p.stat().st_mtime_ns for ext in ("*.nbi", "*.nbc") for p in PACKAGE.rglob(ext)}


def _entries(cache, pattern):
    return sorted(Path(cache).rglob(pattern))


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    """A scratch kernel cache filled by one cold run: (folder, cold run's stdout)."""
    cache = tmp_path_factory.mktemp("kernels") / "cache"
    before = _package_cache_files()
    cold = _run(cache)
    assert _package_cache_files() == before, "kernels were written into the package"
    return cache, cold


def test_kernels_cached_in_the_user_folder(warm_cache):
    cache, cold = warm_cache
    assert cold.stderr.count("fastlstm: compiling numba kernels") == 1, cold.stderr
    index = _entries(cache, "*.nbi")
    data = _entries(cache, "*.nbc")
    names = {p.name.split("-")[0] for p in index}
    assert {"softmax.softmax_ce_forward_serial", "optim.sgd"} <= names, names
    assert data
    # one sub-folder per fastlstm/numba/Python version and installed copy
    import numba

    import fastlstm

    (version_dir,) = Path(cache).iterdir()
    assert fastlstm.__version__ in version_dir.name
    assert numba.__version__ in version_dir.name
    warm = _run(cache)
    assert warm.stdout == cold.stdout
    assert "compiling" not in warm.stderr, warm.stderr  # loaded, not compiled


def test_float64_bits_equal_cold_and_warm(warm_cache):
    """The same bits whether the kernels were just compiled or loaded from the
    cache, and whatever was loaded before them."""
    cache, cold = warm_cache
    assert _run(cache).stdout == cold.stdout
    assert _run(cache, "helpers-first").stdout == cold.stdout


def _corrupt_runs(tmp_path, damage, pattern):
    cache = tmp_path / "cache"
    first = _run(cache)
    targets = [p for p in _entries(cache, pattern) if "softmax_ce_forward_serial" in p.name]
    assert targets
    for path in targets:
        damage(path)
    again = _run(cache)
    assert again.stdout == first.stdout
    assert "KernelCacheWarning" in again.stderr and "corrupted" in again.stderr, again.stderr
    assert "softmax_ce_forward_serial" in again.stderr
    # the warning names the line of the calling code, not one inside numba or fastlstm
    assert re.search(r"^<string>:\d+: KernelCacheWarning", again.stderr, re.M), again.stderr
    third = _run(cache)  # the entry was rewritten: loaded without a word
    assert third.stdout == first.stdout
    assert third.stderr == "", third.stderr


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) * 2 // 3] ^= 0x55
    path.write_bytes(bytes(data))


def _empty(path):
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [_truncate, _flip_byte, _empty])
@pytest.mark.parametrize("pattern", ["*.nbi", "*.nbc"])
def test_corrupted_entry_is_recompiled(tmp_path, damage, pattern):
    _corrupt_runs(tmp_path, damage, pattern)


def test_well_formed_but_wrong_entry_is_recompiled(tmp_path):
    """A data file with a valid checksum but content numba cannot rebuild (as a
    bad LLVM bitcode would be) is discarded too."""
    import hashlib
    import pickle

    from fastlstm._kernel_cache import _MAGIC

    def rewrite(path):
        payload = pickle.dumps(("not", "a", "compiled", "kernel"))
        path.write_bytes(_MAGIC + hashlib.sha256(payload).digest() + payload)

    _corrupt_runs(tmp_path, rewrite, "*.nbc")


def test_same_bits_on_either_threading_layer(warm_cache):
    """The parallel kernels give the same bits on TBB (``FASTLSTM_TBB=1`` with the ``tbb``
    package) as on OpenMP: the work is split into the same blocks whichever pool runs them."""
    cache, cold = warm_cache
    tbb = _run(cache, env_extra={"FASTLSTM_TBB": "1"})
    assert tbb.stdout == cold.stdout


def test_a_threading_layer_that_cannot_load_keeps_the_cache(tmp_path):
    """numba cannot start its threads (a layer it cannot load): not a corrupt entry.

    The layer is TBB, and numba's module for it cannot be imported (as where no TBB
    library can be found), whatever this machine has installed.
    """
    cache = tmp_path / "cache"
    first = _run(cache)
    before = {p: p.read_bytes() for p in _entries(cache, "*.nb*")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
               FASTLSTM_NUMBA_CACHE=str(cache), NUMBA_THREADING_LAYER="tbb")  # fmt: skip
    no_tbb = 'import sys; sys.modules["numba.np.ufunc.tbbpool"] = None\n'
    proc = subprocess.run([sys.executable, "-c", no_tbb + _SCRIPT], capture_output=True,
                          text=True, env=env, cwd=tempfile.gettempdir(), timeout=600)  # fmt: skip
    assert proc.returncode != 0 and "threading layer" in proc.stderr, proc.stderr
    assert "corrupted" not in proc.stderr, proc.stderr  # valid entries were deleted as such
    assert {p: p.read_bytes() for p in _entries(cache, "*.nb*")} == before
    again = _run(cache)
    assert again.stdout == first.stdout and again.stderr == "", again.stderr


def test_each_forced_vector_width_has_its_own_kernels(tmp_path):
    """Kernels compiled for one FASTLSTM_VECTOR_BYTES have its panel width built in."""
    script = (
        "import numpy as np; from fastlstm._kernels import blas; "
        "blas.check_panel_width(blas.panel_width(np.float32), 4); print(blas.VECTOR_BYTES)"
    )
    cache = tmp_path / "cache"
    for width in ("32", "64", None, "32"):
        env = {k: v for k, v in os.environ.items() if k != "FASTLSTM_VECTOR_BYTES"}
        env.update(PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
                   FASTLSTM_NUMBA_CACHE=str(cache), **({"FASTLSTM_VECTOR_BYTES": width}
                                                      if width else {}))  # fmt: skip
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=env, cwd=tempfile.gettempdir(), timeout=600)  # fmt: skip
        assert proc.returncode == 0, (width, proc.stderr)  # 'panel width differs from ...'
        assert width is None or proc.stdout.split()[-1] == width


def test_unwritable_cache_compiles_in_memory(tmp_path):
    """No writable cache location: imports and runs, one warning."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache = blocker / "kernels"  # cannot be created, not even by root
    reference = _run(tmp_path / "ok")
    run = _run(cache)
    assert run.stdout == reference.stdout
    assert run.stderr.count("KernelCacheWarning") == 1, run.stderr
    assert "compiled in memory" in run.stderr
    assert re.search(r"^<string>:\d+: KernelCacheWarning", run.stderr, re.M), run.stderr
    assert not blocker.with_name("kernels").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores modes")
def test_read_only_cache_folder(tmp_path):
    cache = tmp_path / "ro"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        run = _run(cache / "kernels")
    finally:
        cache.chmod(0o755)
    assert run.stderr.count("KernelCacheWarning") == 1, run.stderr


def test_cache_folder_setting(tmp_path, monkeypatch):
    from fastlstm import config
    from fastlstm._numba import kernel_cache_dir

    monkeypatch.setenv("FASTLSTM_NUMBA_CACHE", str(tmp_path / "k"))
    assert config.numba_cache_dir() == tmp_path / "k"
    assert kernel_cache_dir().parent.parent == tmp_path / "k"
    monkeypatch.delenv("FASTLSTM_NUMBA_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert config.numba_cache_dir() == tmp_path / "xdg" / "fastlstm" / "numba"
    assert PACKAGE not in kernel_cache_dir().parents
    monkeypatch.setenv("FASTLSTM_NUMBA_CACHE", "  ")  # blank: unset (it made a folder '  ')
    if sys.platform.startswith("linux"):
        assert config.numba_cache_dir() == tmp_path / "xdg" / "fastlstm" / "numba"


_MODELS_SCRIPT = textwrap.dedent(
    """
    import hashlib
    import numpy as np
    import fastlstm.layers as FL
    from fastlstm.models import AttentionSeq2seq, BetterRnnlm
    from fastlstm.optim import SGD, Adam

    rng = np.random.default_rng(3)
    out = []
    N, T, D, H = 8, 7, 16, 32
    lstm = FL.TimeLSTM(rng.standard_normal((D, 4 * H)) * 0.3,
                       rng.standard_normal((H, 4 * H)) * 0.3, rng.standard_normal(4 * H))
    out.append(lstm.forward(rng.standard_normal((N, T, D))))
    out.append(lstm.backward(rng.standard_normal((N, T, H))))
    out += [g.copy() for g in lstm.grads]
    N, T, D, H = 32, 8, 64, 64  # big enough for the parallel builds
    big = FL.TimeLSTM(rng.standard_normal((D, 4 * H)) * 0.1,
                      rng.standard_normal((H, 4 * H)) * 0.1, rng.standard_normal(4 * H))
    out.append(big.forward(rng.standard_normal((N, T, D))))
    out.append(big.backward(rng.standard_normal((N, T, H))))
    out += [g.copy() for g in big.grads]
    N = 8
    m = AttentionSeq2seq(30, 8, 32, seed=1, dtype=np.float64)
    xs, ts = rng.integers(0, 30, (N, 9)), rng.integers(0, 30, (N, 5))
    opt = Adam()
    for _ in range(2):
        out.append(np.float64(m.forward(xs, ts)))
        m.backward()
        opt.update(m.params, m.grads)
    out += [p.copy() for p in m.params]
    m = BetterRnnlm(50, 16, 16, seed=1, dtype=np.float64)
    xs, ts = rng.integers(0, 50, (N, 6)), rng.integers(0, 50, (N, 6))
    opt = SGD(1.0)
    for _ in range(2):
        out.append(np.float64(m.forward(xs, ts)))
        m.backward()
        opt.update(m.params, m.grads)
    out += [p.copy() for p in m.params]
    for k, a in enumerate(out):
        print(k, hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16])
    """
)


@pytest.mark.slow
def test_float64_models_bits_equal_cold_and_warm(tmp_path):
    """float64 TimeLSTM forward and backward (serial and parallel builds), and training
    steps of two models: the run that compiles and the runs that load the cache give the
    same bits, and the parallel loops compile as parallel loops."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    env["FASTLSTM_NUMBA_CACHE"] = str(tmp_path / "cache")
    runs = []
    for layer in ({}, {}, {"FASTLSTM_TBB": "1"}):
        proc = subprocess.run(
            [sys.executable, "-c", _MODELS_SCRIPT],
            capture_output=True,
            text=True,
            env={**env, **layer},
            cwd=tempfile.gettempdir(),
            timeout=900,
        )
        assert proc.returncode == 0, proc.stderr
        runs.append(proc)
    assert "compiling" in runs[0].stderr and "compiling" not in runs[1].stderr
    assert runs[0].stdout == runs[1].stdout
    assert runs[2].stdout == runs[0].stdout  # on TBB as on the default layer (OpenMP)
    # every prange loop compiled really runs in parallel (a raise inlined into a loop
    # body, for one, makes numba run it serially with only a performance warning)
    assert "will not be executed in parallel" not in runs[0].stderr, runs[0].stderr


# --------------------------------------------------------------------------- #
# cache files are read with a bound
# --------------------------------------------------------------------------- #
def _dev_zero(path):
    path.unlink()
    path.symlink_to("/dev/zero")


def _sparse_3gb(path):
    with open(path, "r+b") as f:
        f.truncate(3 << 30)  # sparse: no disk space used


@pytest.mark.parametrize(
    "damage, pattern", [(_dev_zero, "*.nbi"), (_sparse_3gb, "*.nbc")], ids=["dev-zero", "sparse"]
)
def test_oversized_or_special_cache_file_is_not_read(tmp_path, damage, pattern):
    """An index replaced by a symlink to /dev/zero, or a 3 GB sparse data file, used to
    be read whole before being discarded."""
    _corrupt_runs(tmp_path, damage, pattern)


def test_read_bounded_refuses_without_reading(tmp_path):
    import time

    from fastlstm._kernel_cache import MAX_CACHE_FILE_BYTES, _CorruptEntry, _read_bounded

    good = tmp_path / "good.nbi"
    good.write_bytes(b"x" * 1000)
    assert _read_bounded(good) == b"x" * 1000
    zero = tmp_path / "zero.nbi"
    zero.symlink_to("/dev/zero")
    sparse = tmp_path / "sparse.nbc"
    with open(sparse, "wb") as f:
        f.truncate(MAX_CACHE_FILE_BYTES + 1)
    fifo = tmp_path / "fifo.nbi"
    os.mkfifo(fifo)  # no writer: a blocking open would hang
    t0 = time.perf_counter()
    for path, why in ((zero, "not a regular file"), (sparse, "larger"), (fifo, "not a regular")):
        with pytest.raises(_CorruptEntry, match=why):
            _read_bounded(path)
    assert time.perf_counter() - t0 < 1.0
    with pytest.raises(FileNotFoundError):
        _read_bounded(tmp_path / "missing.nbi")
