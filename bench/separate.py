"""fastlstm and PyTorch each in a process of its own: one training iteration of the book's models.

The pytest benchmark (``pytest bench``) holds both libraries in one process, so both thread
pools run on the GNU OpenMP library loaded first, PyTorch's, with its long spin: that hides
what numba's idle threads cost fastlstm between kernels and flatters its small models.  Here
every (library, model) pair runs in a fresh Python that imports only its library, as a user
runs it (fastlstm's process cannot import PyTorch), on the benchmark's cases and data
(``test_bench_models.TRAIN_CASES``, ``make_train``).  Each process measures the 2048³ sgemm
rate, warms up, times back-to-back iterations for a few seconds and prints its median and
minimum; rounds alternate which library goes first.  The table gives each library's median
iteration (median over rounds, with the range), PyTorch time / fastlstm time per round and
fastlstm's share of the sgemm rate measured in its own process::

    python bench/separate.py                          # five models, three rounds
    python bench/separate.py Seq2seq PeekySeq2seq --rounds 5 --seconds 6
    FASTLSTM_TBB=1 python bench/separate.py           # settings reach every process

Run it on a quiet machine: the processes run one after another, never two at once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMPLS = ("fastlstm", "pytorch")


def _child(impl: str, model: str, seconds: float, warmup: int) -> dict:
    """Time one library's training iteration in this process; return the figures."""
    if impl == "fastlstm":
        sys.modules["torch"] = None  # fastlstm alone, as without PyTorch installed
    else:
        import torch  # noqa: F401  (first, as a PyTorch user's process loads it)
    sys.path.insert(0, str(HERE))
    from conftest import cpu_model, measure_sgemm_gflops
    from test_bench_models import TRAIN_CASES, make_train

    case = next(c for c in TRAIN_CASES if c.model == model)
    rate = measure_sgemm_gflops()
    _, step = make_train(impl, case)
    for _ in range(warmup):
        step()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    figures = {
        "impl": impl,
        "model": model,
        "iterations": len(times),
        "median_ms": statistics.median(times) * 1e3,
        "min_ms": min(times) * 1e3,
        "sgemm_gflops": rate,
        "gflop": case.flops / 1e9,
        "cpu_model": cpu_model(),
        "torch_loaded": sys.modules.get("torch") is not None,
    }
    if impl == "fastlstm":
        import numba
        from conftest import vector_isa

        figures["threading_layer"] = numba.threading_layer()
        figures["vector_isa"] = vector_isa()["vector_isa"]
    else:
        import torch

        figures["torch"] = torch.__version__
        figures["torch_threads"] = torch.get_num_threads()
    return figures


def _run_child(impl: str, model: str, seconds: float, warmup: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", impl, model,
           "--seconds", str(seconds), "--warmup", str(warmup)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{impl} {model} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _span(values, fmt="{:.2f}") -> str:
    """``median (min–max)`` of ``values``."""
    values = sorted(values)
    mid = fmt.format(statistics.median(values))
    if len(values) == 1:
        return mid
    return f"{mid} ({fmt.format(values[0])}–{fmt.format(values[-1])})"


def report(rows: list[dict]) -> str:
    """The markdown table of the children's figures (any number of rounds)."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    fast = [r for r in rows if r["impl"] == "fastlstm"]
    torch_rows = [r for r in rows if r["impl"] == "pytorch"]
    lines = []
    if fast:
        f = fast[0]
        lines.append(f"CPU: {f['cpu_model']} ({f['vector_isa']}); numba's threading layer "
                     f"{f['threading_layer']}; sgemm {_span([r['sgemm_gflops'] for r in rows], '{:.0f}')} "
                     "GFLOPS (each process's own measurement)")  # fmt: skip
    if torch_rows:
        t = torch_rows[0]
        lines.append(f"PyTorch {t['torch']}, {t['torch_threads']} threads")
    lines += ["", "Each library in a process of its own; milliseconds per training iteration, "
              "median over rounds of each process's median (range); ratio = PyTorch / fastlstm "
              "per round; share = fastlstm's flops per second / its process's sgemm rate.", "",
              "| model | rounds | fastlstm ms | fastlstm min ms | PyTorch ms | ratio | share |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for model in models:
        fr = [r for r in fast if r["model"] == model]
        tr = [r for r in torch_rows if r["model"] == model]
        share = [r["gflop"] / (r["median_ms"] / 1e3) / r["sgemm_gflops"] * 100 for r in fr]
        ratio = [t["median_ms"] / f["median_ms"] for f, t in zip(fr, tr)]
        cells = [
            model,
            str(len(fr)),
            _span([r["median_ms"] for r in fr]) if fr else "–",
            f"{min(r['min_ms'] for r in fr):.2f}" if fr else "–",
            _span([r["median_ms"] for r in tr]) if tr else "–",
            _span(ratio) + "×" if ratio else "–",
            _span(share, "{:.0f}") + "%" if share else "–",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="models of TRAIN_CASES (default: all five)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per process")
    parser.add_argument("--warmup", type=int, default=10, help="iterations before timing")
    parser.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    parser.add_argument("--json", type=Path, help="also write every process's figures here")
    parser.add_argument("--child", nargs=2, metavar=("IMPL", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(*args.child, args.seconds, args.warmup)))
        return 0
    sys.path.insert(0, str(HERE))
    from test_bench_models import TRAIN_CASES

    known = [c.model for c in TRAIN_CASES]
    models = args.models or known
    unknown = sorted(set(models) - set(known))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {known}")
    if args.rounds < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--rounds must be at least 1, --seconds positive, --warmup not negative")
    rows = []
    for r in range(args.rounds):
        for model in models:
            impls = args.impls if r % 2 == 0 else args.impls[::-1]
            for impl in impls:
                rows.append(_run_child(impl, model, args.seconds, args.warmup))
                print(f"round {r + 1} {model:>16} {impl:>8}: "
                      f"{rows[-1]['median_ms']:.2f} ms", file=sys.stderr, flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', 'unset')}, "
          f"FASTLSTM_TBB={os.environ.get('FASTLSTM_TBB', 'unset')}")  # fmt: skip
    print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
