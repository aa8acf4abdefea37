"""Reproduce the book's results quoted in the documentation (Quick start, docs/performance.md).

Every experiment runs through the Python API (:func:`fastlstm.train`,
:func:`fastlstm.evaluate`), exactly as the command named beside it in
docs/performance.md, and its numbers and wall time are written to ``bench/REPRODUCE.md``
(one section per experiment, newest run kept) and printed.

Usage::

    python bench/reproduce.py quickstart            # Quick start 1 (generated dates, no data)
    python bench/reproduce.py book-weights seq2seq reversed peeky attention
    python bench/reproduce.py all                   # everything (about 20 minutes on 2 cores)

The experiments other than ``quickstart`` need the book's data files
(``FASTLSTM_DATA``).  Runs go to a temporary folder and are deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPORT = HERE / "REPRODUCE.md"


@contextmanager
def _env(**values):
    """Set (or, with None, remove) environment variables for the block."""
    old = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _pct(values):
    return " → ".join(f"{100 * v:.3f}%" for v in values)


def _train(name, out, **kwargs):
    import fastlstm

    t0 = time.perf_counter()
    run = fastlstm.train(name, out=out, progress=False, verbose=False, **kwargs)
    return run, time.perf_counter() - t0


def quickstart(tmp):
    """Quick start 1: `fastlstm train attention --epochs 3` without the book's data."""
    # an empty cache: a date.txt kept there from earlier runs would be used
    with _env(FASTLSTM_DATA=None, FASTLSTM_OFFLINE="1", FASTLSTM_CACHE=str(tmp / "cache")):
        run, seconds = _train("attention", tmp / "qs", epochs=3)
    acc = run.history["accuracy"]
    return {
        "command": "fastlstm train attention --epochs 3  (FASTLSTM_DATA unset: generated dates)",
        "result": f"test accuracy by epoch {_pct(acc)}",
        "final": acc[-1],
        "seconds": seconds,
    }


def _seq(name, tmp, command, folder=None, **kwargs):
    run, seconds = _train(name, tmp / (folder or name), **kwargs)
    acc = run.history["accuracy"]
    best = max(acc)
    return {
        "command": command,
        "result": f"after the last epoch {100 * acc[-1]:.3f}% (best epoch {100 * best:.3f}%); "
        f"by epoch {_pct(acc)}",
        "final": acc[-1],
        "best": best,
        "seconds": seconds,
    }


def seq2seq(tmp):
    return _seq("seq2seq", tmp, "fastlstm train seq2seq")


def reversed_(tmp):
    return _seq("seq2seq", tmp, "fastlstm train seq2seq --reverse", folder="reversed", reverse=True)


def peeky(tmp):
    return _seq("peeky", tmp, "fastlstm train peeky")


def attention(tmp):
    return _seq(
        "attention",
        tmp,
        "fastlstm train attention --target-accuracy 0.999",
        target_accuracy=0.999,
    )


def rnnlm(tmp):
    run, seconds = _train("rnnlm", tmp / "rnnlm", seed=1)
    s = run.summary
    val = " → ".join(f"{v:.1f}" for v in s["val_perplexity"])
    return {
        "command": "fastlstm train rnnlm --seed 1",
        "result": f"test perplexity {s['test_perplexity']:.2f} (validation {val})",
        "final": s["test_perplexity"],
        "seconds": seconds,
    }


def better_rnnlm_epoch(tmp):
    """One epoch of BetterRnnlm at the book's settings (the book trains 40)."""
    run, seconds = _train("better-rnnlm", tmp / "better", epochs=1, seed=1)
    s = run.summary
    val = " → ".join(f"{v:.1f}" for v in s["val_perplexity"])
    return {
        "command": "fastlstm train better-rnnlm --epochs 1 --seed 1",
        "result": f"after one epoch: validation perplexity {val}, test perplexity "
        f"{s['test_perplexity']:.2f}",
        "final": s["test_perplexity"],
        "seconds": seconds,
    }


def book_weights(tmp):
    import fastlstm
    from fastlstm.config import data_file

    out = {}
    for name, model in (
        ("Rnnlm.pkl", "rnnlm"),
        ("AttentionSeq2seq.pkl", "attention"),
    ):
        path = data_file("book-weights", name)
        if path is None:
            raise SystemExit(f"{name} not found: set FASTLSTM_DATA to the book's data folder")
        t0 = time.perf_counter()
        ev = fastlstm.evaluate(path, model=model, verbose=False)
        out[name] = {
            "metric": ev.metric,
            "value": ev.value,
            "size": ev.size,
            "seconds": time.perf_counter() - t0,
        }
    r, a = out["Rnnlm.pkl"], out["AttentionSeq2seq.pkl"]
    return {
        "command": "fastlstm eval --checkpoint $FASTLSTM_DATA/book-weights/{Rnnlm,AttentionSeq2seq}.pkl",
        "result": f"Rnnlm.pkl test perplexity {r['value']:.4f}; AttentionSeq2seq.pkl "
        f"{100 * a['value']:.3f}% of {a['size']} test questions",
        "final": [r["value"], a["value"]],
        "seconds": r["seconds"] + a["seconds"],
    }


EXPERIMENTS = {
    "quickstart": quickstart,
    "book-weights": book_weights,
    "seq2seq": seq2seq,
    "reversed": reversed_,
    "peeky": peeky,
    "attention": attention,
    "rnnlm": rnnlm,
    "better-rnnlm-epoch": better_rnnlm_epoch,
}


def _write(results):
    """Merge ``results`` into REPORT (one section per experiment)."""
    sections = {}
    if REPORT.exists():
        for m in re.finditer(r"^## (\S+)\n(.*?)(?=^## |\Z)", REPORT.read_text(), re.S | re.M):
            sections[m.group(1)] = m.group(2).strip()
    for name, r in results.items():
        sections[name] = "\n".join(
            [
                f"- command: `{r['command']}`",
                f"- result: {r['result']}",
                f"- wall time: {r['seconds']:.1f} s",
                f"- measured: {r['when']} with fastlstm {r['version']} ({r['machine']})",
                "",
                "```json",
                json.dumps({k: r[k] for k in ("final", "best") if k in r}),
                "```",
            ]
        )
    head = (
        "# Reproduced results\n\n"
        "Written by `python bench/reproduce.py NAME...` (see its docstring); each section is "
        "the latest run of one experiment. The documentation's Quick start and performance page "
        "quote these.\n\n"
    )
    body = "\n\n".join(f"## {k}\n{v}" for k, v in sections.items() if k in EXPERIMENTS)
    REPORT.write_text(head + body + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="+", help="experiments: " + ", ".join(EXPERIMENTS) + ", or all"
    )
    args = parser.parse_args(argv)
    names = list(EXPERIMENTS) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        parser.error("unknown experiment(s): " + ", ".join(unknown))

    from conftest import cpu_model, kernels_blas, vector_isa  # what the benchmarks record

    import fastlstm

    machine = (
        f"{cpu_model()} ({vector_isa()['vector_isa']}), {os.cpu_count()} CPUs, "
        f"{platform.machine()}, Python {platform.python_version()}; "
        f"products by {kernels_blas()}"  # float32 bits depend on it
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            print(f"== {name}", flush=True)
            r = EXPERIMENTS[name](Path(tmp))
            r["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            r["version"] = fastlstm.__version__
            r["machine"] = machine
            print(f"   {r['result']}  ({r['seconds']:.1f} s)", flush=True)
            results[name] = r
            _write(results)  # keep what is done if a later experiment fails
    return 0


if __name__ == "__main__":
    sys.exit(main())
