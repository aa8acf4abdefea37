"""The benchmark records the CPU model and its vector width, and the report prints them."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from fastlstm._kernels import blas

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_machine_info_names_the_cpu_and_its_vector_width():
    info = _load("conftest").machine()
    assert info["cpu_model"] and isinstance(info["cpu_model"], str)
    assert info["vector_isa"] in ("AVX-512", "AVX2", "AVX", "SSE", "other")
    assert info["vector_bytes"] == blas.VECTOR_BYTES
    assert info["panel_width_float32"] == blas.panel_width(np.float32)
    assert info["tile_rows"] == blas.TILE_ROWS
    # the BLAS the kernels' products call
    assert info["kernels_blas"].startswith("NumPy's" if blas.NUMPY_GEMM else "SciPy's")


def test_report_header_shows_the_cpu_model_and_vector_width():
    report = _load("report")
    mine = {
        "cpu_count": 2,
        "cpu_model": "AMD EPYC 7B13",
        "vector_isa": "AVX2",
        "fma": True,
        "llvm_cpu": "znver3",
        "vector_bytes": 32,
        "panel_width_float32": 16,
        "tile_rows": 6,
    }
    data = {"machine_info": {"fastlstm_bench": mine}, "benchmarks": []}
    text = "\n".join(report._header(data, "min"))
    assert "AMD EPYC 7B13" in text
    assert "Vector width: AVX2 with FMA (LLVM CPU znver3)" in text
    assert "256-bit vectors: panels of 16 float32, tiles of up to 6 rows" in text
    assert "compiled for CPU" not in text
    mine.update(numba_cpu="haswell", numba_cpu_features="", vector_isa="AVX-512")
    text = "\n".join(report._header(data, "min"))
    assert "kernels compiled for CPU haswell with features ''" in text
    assert "matrix products: BLAS not recorded" in text
    mine["kernels_blas"] = "NumPy's OpenBLAS 0.3.31 (SkylakeX)"
    text = "\n".join(report._header(data, "min"))
    assert "The kernels' matrix products: NumPy's OpenBLAS 0.3.31 (SkylakeX)." in text
    old = {"machine_info": {"fastlstm_bench": {"cpu_count": 2}}, "benchmarks": []}
    assert "Vector width: not recorded" in "\n".join(report._header(old, "min"))


def test_interleave_makes_the_settle_calls_untimed_before_each_timed_one():
    conftest = _load("conftest")
    calls = []

    def runner(name):
        return lambda: calls.append(name)

    runners = {"a": runner("a"), "b": runner("b")}
    times = conftest.interleave(
        runners, min_rounds=2, max_rounds=2, pause_s=0, settle=2, settle_s=0
    )
    assert [len(v) for v in times.values()] == [2, 2]
    # one warm-up each, then per round and runner two untimed calls and the timed one
    assert calls == ["a", "b"] + ["a"] * 3 + ["b"] * 3 + ["b"] * 3 + ["a"] * 3
    calls.clear()
    conftest.interleave({"a": runner("a")}, min_rounds=1, max_rounds=1, pause_s=0)
    assert calls == ["a", "a"]
    # the untimed calls last settle_s at least: a call of 4 ms is made at least 5 times for 20 ms
    stamps = []

    def slow():
        stamps.append(time.perf_counter())
        time.sleep(0.004)

    conftest.interleave({"s": slow}, min_rounds=1, max_rounds=1, pause_s=0, settle=1, settle_s=0.02)
    assert len(stamps) >= 1 + 5 + 1 and stamps[-1] - stamps[1] >= 0.02


def test_a_group_is_timed_in_a_fresh_process_of_its_own():
    """``conftest.interleave_in_process`` makes the group's runners in a new Python, times
    them there and hands back their rounds; a group whose runners fail there is an error
    that names it.  Run from a process of its own that imports the benchmark modules under
    their names, as pytest does (the runners are pickled by name)."""
    code = (
        "import json, sys; sys.path[:0] = sys.argv[1:3]\n"
        "import conftest, test_bench_layers as t\n"
        "r = conftest.Runners(t.make_embedding, t.EMBEDDING_CASE, ['fastlstm'])\n"
        "times = conftest.interleave_in_process(r, min_rounds=2, max_rounds=2, pause_s=0)\n"
        "bad = conftest.Runners(t.make_embedding, t.EMBEDDING_CASE, ['no-such-impl'])\n"
        "try:\n"
        "    conftest.interleave_in_process(bad, min_rounds=1, max_rounds=1, pause_s=0)\n"
        "except RuntimeError as e:\n"
        "    times['error'] = str(e)\n"
        "print(json.dumps(times))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(BENCH), str(BENCH.parent)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    times = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(times) == ["error", "fastlstm"]
    assert len(times["fastlstm"]) == 2 and all(0 < t < 10 for t in times["fastlstm"])
    assert "make_embedding in its own process failed" in times["error"]
    assert "no-such-impl" in times["error"]  # the child's traceback


def test_report_says_the_groups_ran_in_processes_of_their_own():
    report = _load("report")

    def bench(group, own):
        extra = {"impl": "fastlstm", "kernel": "train", "timing": "interleaved"}
        if own is not None:
            extra["group_process"] = own
        return {"group": group, "extra_info": extra, "stats": {"min": 0.01, "median": 0.01}}

    def line(*benches):
        text = report.render({"machine_info": {}, "benchmarks": list(benches)})
        return next((x for x in text.splitlines() if "process of its own" in x), None)

    assert line(bench("train X", True), bench("eval Y", True)).startswith("Every group ran")
    mixed = line(bench("train X", True), bench("eval Y", False))
    assert mixed.startswith("The groups train X ran") and "eval Y" not in mixed
    assert line(bench("train X", None)) is None  # runs of before: nothing said


def test_report_says_which_groups_time_a_call_after_an_untimed_one():
    report = _load("report")

    def bench(group, settle):
        extra = {"impl": "fastlstm", "kernel": "train", "settle_calls": settle}
        return {"group": group, "extra_info": extra, "stats": {"min": 0.01, "median": 0.01}}

    data = {"machine_info": {}, "benchmarks": [bench("train X", 1), bench("softmax Y", 0)]}
    text = report.render(data)
    line = next(x for x in text.splitlines() if "untimed call" in x)
    assert "train X" in line and "softmax Y" not in line


def test_machine_info_and_report_name_the_allocator_settings(monkeypatch):
    conftest = _load("conftest")
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    for key in [k for k in os.environ if k.startswith("MALLOC_")]:
        monkeypatch.delenv(key)
    assert conftest.machine()["allocator_env"] == {}
    monkeypatch.setenv("MALLOC_TOP_PAD_", "1000000000")
    assert conftest.machine()["allocator_env"] == {"MALLOC_TOP_PAD_": "1000000000"}
    report = _load("report")

    def header(mine):
        data = {"machine_info": {"fastlstm_bench": mine}, "benchmarks": []}
        return "\n".join(report._header(data, "min"))

    assert "Memory allocator: `MALLOC_TOP_PAD_=1000000000`." in header(
        {"allocator_env": {"MALLOC_TOP_PAD_": "1000000000"}}
    )
    assert "the C library's defaults" in header({"allocator_env": {}})
    assert "settings not recorded" in header({})


def test_blas_shapes_study_times_the_same_products_in_every_library():
    """``bench/blas_shapes.py`` compares the BLAS libraries on the kernels' products: each
    library must compute the product it is timed on (a transposed first operand included).
    Run in a process of its own: the study may load a second OpenBLAS."""
    code = (
        "import sys; sys.path.insert(0, 'bench'); import blas_shapes as b\n"
        "rows, labels = b.measure([('t', (9, 5), (9, 6), True), ('n', (4, 3), (3, 7), False)], 1)\n"
        "assert 'numba' in labels and 'numpy' in labels, labels\n"
        "for name, rates in rows:\n"
        "    for lib, (rate, same, err) in rates.items():\n"
        "        assert rate > 0 and err < 1e-5, (name, lib, rate, err)\n"
        "        assert same or lib != 'numba'\n"
        "print('ok', len(rows), sorted(labels))\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok 2")


def test_separate_processes_report_each_library_alone(tmp_path):
    """``bench/separate.py`` times each library in a Python of its own: fastlstm's cannot
    import PyTorch, and the table's ratio and share come from the processes' figures."""
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "separate.py"), "Seq2seq", "--impls", "fastlstm",
         "--rounds", "1", "--seconds", "0.05", "--warmup", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(out.read_text())
    assert row["impl"] == "fastlstm" and row["model"] == "Seq2seq"
    assert row["torch_loaded"] is False and row["iterations"] >= 5
    assert 0 < row["min_ms"] <= row["median_ms"] and row["sgemm_gflops"] > 0
    assert row["cpu_model"] in proc.stdout and "| Seq2seq | 1 |" in proc.stdout

    separate = _load("separate")
    rows = [
        dict(row, median_ms=10.0, sgemm_gflops=100.0, gflop=0.5),
        dict(row, impl="pytorch", median_ms=12.0, torch="2.x", torch_threads=2),
    ]
    table = separate.report(rows)
    # ratio 12 / 10; share 0.5 GFLOP in 10 ms = 50 GFLOPS of 100
    assert "| Seq2seq | 1 | 10.00 |" in table and "| 12.00 | 1.20× | 50% |" in table


def test_separate_rejects_unknown_models():
    proc = subprocess.run([sys.executable, str(BENCH / "separate.py"), "Transformer"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 2 and "unknown model(s) ['Transformer']" in proc.stderr
