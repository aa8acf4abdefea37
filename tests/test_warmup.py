"""Compiling a run's kernels in several processes (``fastlstm._warmup``).

The manifest must list exactly what a default run's first iteration compiles:
after a warm-up into a scratch cache, that iteration (in a fresh process)
compiles nothing and loads every listed kernel.  Helper processes write to one
cache at once, so the cache must keep every entry of a kernel saved by two
processes together.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from numba import typeof

from fastlstm import _numba, _warmup
from fastlstm._warm_manifest import JOBS

ROOT = Path(__file__).resolve().parent.parent


def _env(cache, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    env["FASTLSTM_NUMBA_CACHE"] = str(cache)
    env.update(extra)
    return env


def _python(cache, code, *args, **extra):
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=_env(cache, **extra),
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize(
    "value",
    [
        np.zeros((2, 3), np.float32),
        np.zeros((2, 3)).T,
        np.zeros(9)[::2],
        np.zeros((1, 2, 3, 4), np.int64),
        np.zeros(3, np.int32),
        np.int64(3),
        np.float32(1.5),
        1.5,
        True,
    ],
)
def test_type_strings_round_trip(value):
    t = typeof(value)
    assert _warmup.decode_type(_warmup.encode_type(t)) == t


@pytest.mark.parametrize("value", [np.zeros(3, np.complex64), (1, 2), None])
def test_other_types_are_refused(value):
    with pytest.raises(ValueError, match="cannot record"):
        _warmup.encode_type(typeof(value))


@pytest.mark.parametrize("text", ["float16", "float32[2X]", "object[1C]"])
def test_unknown_type_strings_are_refused(text):
    with pytest.raises(ValueError):
        _warmup.decode_type(text)


def test_split_balances_and_covers_everything():
    seconds = [5.0, 3.0, 2.0, 1.4, 1.2, 1.2, 0.8, 0.7, 0.3, 0.2, 0.2]
    for n in (1, 2, 3, 4):
        shares = _warmup.split(seconds, n)
        assert sorted(i for s in shares for i in s) == list(range(len(seconds)))
        loads = [sum(seconds[i] for i in s) for s in shares]
        assert max(loads) - min(loads) <= max(seconds)
        assert shares == _warmup.split(seconds, n)  # the helpers compute the same split


def test_claimed_entries_are_compiled_once_whoever_is_free_takes_the_next(tmp_path):
    """Processes compiling before the first iteration take the next entry as they come
    free: every entry is compiled by exactly one of them, whatever each one takes."""
    compiled = []
    lock = threading.Lock()

    class Dispatcher:
        def __init__(self, i):
            self.i = i

        def compile(self, argtypes):
            time.sleep(0.001 * (self.i % 5))
            with lock:
                compiled.append((self.i, threading.get_ident()))

    entries = [(i, (f"k{i}", Dispatcher(i), (), 1.0)) for i in range(60)]
    claims = tmp_path / "claims"
    claims.mkdir()
    (claims / "7").touch()  # claimed by a process that is not one of these
    workers = [
        threading.Thread(target=_warmup._compile_claimed, args=(entries, str(claims)))
        for _ in range(4)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    done = sorted(i for i, _ in compiled)
    assert done == [i for i in range(60) if i != 7]  # each once, none claimed twice
    assert len({t for _, t in compiled}) > 1  # shared between the workers
    _warmup._compile_claimed(entries, str(claims))  # all claimed: nothing more
    assert len(compiled) == 59


def test_manifest_names_existing_kernels_and_types():
    assert JOBS, "the manifest is empty: run python tools/record_warm_manifest.py"
    for key, entries in JOBS.items():
        job = json.loads(key)
        assert job["model"] in _warmup.MODELS
        resolved = _warmup._entries(key)
        assert [e[0] for e in resolved] == [e[0] for e in entries], (
            f"stale entries for {job['model']}"
        )
        for (_, dispatcher, argtypes, seconds), (name, _, _) in zip(resolved, entries):
            assert dispatcher is _numba.KERNELS[name]
            assert len(argtypes) == dispatcher.py_func.__code__.co_argcount
            assert seconds > 0


def test_nothing_to_do_without_a_manifest_entry(monkeypatch):
    def no_helpers(*a, **k):
        raise AssertionError("no helper may start")

    monkeypatch.setattr(subprocess, "Popen", no_helpers)
    assert _warmup.warm_up(_warmup.run_key("attention", {"hidden_size": 3}, (1, 2, 3))) == 0.0


_SAVE = """
    import sys
    import numpy as np
    from fastlstm._kernels import optim
    dtype = np.dtype(sys.argv[1])
    p, g = np.zeros(5, dtype), np.ones(5, dtype)
    optim.sgd(p, g, dtype.type(0.5))
    assert (p == -0.5).all()
"""


def test_two_processes_saving_one_kernel_keep_both_entries(tmp_path):
    """Different signatures of one kernel, compiled and saved at the same time."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_SAVE), dtype],
            env=_env(tmp_path),
            stderr=subprocess.PIPE,
            text=True,
        )
        for dtype in ("float32", "float64")
    ]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    out = _python(
        tmp_path,
        """
        import numpy as np
        from numba import typeof
        from fastlstm import _numba
        from fastlstm._kernels import optim
        for dt in (np.float32, np.float64):
            a = np.zeros(5, dt)
            sig = (typeof(a), typeof(a), typeof(dt(0.5)))
            assert _numba.cache_index_has(optim.sgd, sig), dt
            optim.sgd(a, np.ones(5, dt), dt(0.5))
        print(sorted(optim.sgd.stats.cache_hits.values()), dict(optim.sgd.stats.cache_misses))
        """,
    )
    assert out.split("\n")[0] == "[1, 1] {}"
    assert len(list(tmp_path.rglob("optim.sgd-*.nbc"))) == 2


def _attention_key():
    keys = [k for k in JOBS if json.loads(k)["model"] == "attention"]
    assert len(keys) == 1
    return keys[0]


def _first_iteration(cache, serial):
    argv = [
        sys.executable,
        str(ROOT / "tools" / "record_warm_manifest.py"),
        "record-one",
        "attention",
    ]
    proc = subprocess.run(
        argv + (["--serial"] if serial else []),
        capture_output=True,
        text=True,
        env=_env(cache),
        timeout=900,
        cwd=cache,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.slow
def test_warm_up_then_the_first_iteration_compiles_nothing(tmp_path):
    """The attention run of Quick start.  Warm-up compiles the serial builds in
    two processes, then the parallel builds in the background.  Afterwards a
    fresh process runs the first iteration on either build without compiling
    anything and loads every kernel listed; a second warm-up has nothing to do."""
    key = _attention_key()
    warm = """
        import sys, subprocess
        from fastlstm import _numba, _warmup
        started = []
        real = subprocess.Popen
        def popen(*a, **k):
            started.append(a)
            return real(*a, **k)
        subprocess.Popen = popen
        _warmup._processes = lambda: 2
        seconds = _warmup.warm_up(sys.argv[1])
        print(len(started), seconds > 0, _numba._SerialBuilds.on)
        assert _warmup.wait_background(600)
        print(_numba._SerialBuilds.on)
    """
    assert _python(tmp_path, warm, key).split() == ["2", "True", "True", "False"]
    for serial in (True, False):
        result = _first_iteration(tmp_path, serial)
        assert result["key"] == key
        assert result["compiled"] == [], f"serial={serial}"
        assert sorted(result["loaded"]) == sorted(result["wanted"])
        listed = {name for name, _, _ in JOBS[key]}
        assert set(result["wanted"]) <= listed
        for name in result["wanted"]:  # TWINS knows the kernels of the modules imported here
            importlib.import_module(name.partition(":")[0])
        assert any(name in _numba.TWINS for name in result["wanted"]) != serial
    assert _python(tmp_path, warm, key).split() == ["0", "False", "False", "False"]


def test_no_warm_up_when_the_cache_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    code = """
        import sys, subprocess, warnings
        warnings.simplefilter("ignore")
        from fastlstm import _warmup
        _warmup._processes = lambda: 2
        def popen(*a, **k):
            raise AssertionError("no helper may start")
        subprocess.Popen = popen
        print(_warmup.warm_up(sys.argv[1]))
    """
    assert _python(blocker / "cache", code, _attention_key()).strip() == "0.0"


def test_ctrl_c_during_warm_up_stops_the_helpers(monkeypatch):
    """Ctrl-C while this process compiles: the helpers are killed at once, not waited for,
    and the run is not left on serial builds."""
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    dispatcher = next(iter(_numba.KERNELS.values()))
    entries = [("a:serial", dispatcher, (), 1.0), ("b:serial", dispatcher, (), 1.0)]
    entries.append((next(iter(_numba.TWINS)), dispatcher, (), 1.0))  # a parallel build
    monkeypatch.setattr(_warmup, "_entries", lambda key: entries)
    monkeypatch.setattr(_numba, "cache_index_has", lambda d, a: False)
    monkeypatch.setattr(_warmup, "_cache_writable", lambda: True)
    monkeypatch.setattr(_warmup, "_processes", lambda: 2)
    folders = []

    def start(key, shares, claims=None):
        folders.append(claims)
        return [helper]

    monkeypatch.setattr(_warmup, "_start_helpers", start)

    def interrupted(entries):
        raise KeyboardInterrupt

    monkeypatch.setattr(_warmup, "_compile_all", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            _warmup.warm_up("key")
        assert helper.wait(timeout=5) != 0  # killed
        assert not _numba._SerialBuilds.on
        assert len(folders) == 1 and not os.path.exists(folders[0])  # claims removed
    finally:
        if helper.poll() is None:
            helper.kill()


def test_decoding_kernels_compile_in_the_background(monkeypatch):
    """Greedy decoding is first run after the first epoch: neither of its builds, nor the
    parameter check, holds up the first iteration."""
    names = [
        "fastlstm._kernels.lstm:lstm_forward_serial",
        "fastlstm._kernels.decode:encode_and_decode",
        "fastlstm._kernels.decode:greedy_decode",
        "fastlstm.models.greedy:_same_bits",
    ]
    entries = [(name, None, (), 1.0) for name in names]
    before, background = [], []
    monkeypatch.setattr(_warmup, "_entries", lambda key: entries)
    monkeypatch.setattr(_numba, "cache_index_has", lambda d, a: False)
    monkeypatch.setattr(_warmup, "_processes", lambda: 2)
    monkeypatch.setattr(_warmup, "_cache_writable", lambda: True)
    monkeypatch.setattr(_warmup, "_compile_all", lambda es: before.extend(e[0] for e in es))
    monkeypatch.setattr(_warmup, "_wait", lambda procs, timeout: None)
    monkeypatch.setattr(_warmup, "wait_background", lambda timeout=None: True)

    def helpers(key, shares, claims=None):
        if claims is None:  # not the helpers taking claims before the first iteration
            background.extend(names[i] for share in shares for i in share)
        return []

    monkeypatch.setattr(_warmup, "_start_helpers", helpers)
    _warmup.warm_up("key")
    assert before == names[:1]
    assert sorted(background) == sorted(names[1:])
    assert not _numba._SerialBuilds.on  # no parallel build of the iteration is pending
    _warmup._Background.thread.join(5)


def test_compiling_processes_follow_the_kernels_threads():
    """``--threads 1`` keeps a first run's compiling on one core too."""
    import numba

    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert _warmup._processes() == 1  # it was min(4, cpu_count)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        cores = os.cpu_count() or 1
        assert _warmup._processes() == min(_warmup.MAX_PROCESSES, cores, numba.get_num_threads())
    finally:
        numba.set_num_threads(old)


def test_recording_some_models_keeps_the_manifest_entries_of_the_others(tmp_path, monkeypatch):
    """``tools/record_warm_manifest.py MODEL`` replaces that model's entries only: written back
    with nothing recorded, the manifest is the same, byte for byte."""
    import shutil

    root = Path(__file__).resolve().parent.parent
    monkeypatch.syspath_prepend(str(root / "tools"))
    monkeypatch.delitem(sys.modules, "record_warm_manifest", raising=False)
    import record_warm_manifest as rec

    copy = tmp_path / "_warm_manifest.py"
    shutil.copy(rec.MANIFEST, copy)
    assert rec._record([], copy) == 0
    assert copy.read_text() == rec.MANIFEST.read_text()
    assert {model for model, _ in rec._existing(copy).values()} == set(rec._warmup.MODELS)
    assert rec.main(["no-such-model"]) == 2 and rec.main(["record-one", "seq2seq", "-x"]) == 2
