"""Time and peak memory of :func:`fastlstm.datasets.text.load_text` on generated corpora.

Usage::

    python bench/text_tokenize.py [--sizes 10 100] [--levels word char] [--dir /tmp]

For every size (MB) a corpus of Zipf-distributed words (50 000 distinct,
Latin letters plus some Korean syllables, 5-20 words a line) is written once,
then each level is loaded in a fresh process; that process reports the seconds
of ``load_text`` and its peak resident memory (``ru_maxrss``) above the memory
it had before loading, next to the size of the ids it returns.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def make_corpus(path: Path, megabytes: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz") + ["가", "나", "다", "한", "국"])
    lens = rng.integers(1, 10, 50000)
    words = ["".join(rng.choice(letters, n)) for n in lens]
    target = megabytes * 1_000_000
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target:
            ids = np.minimum(rng.zipf(1.3, 200_000), 50000) - 1
            n_line = rng.integers(5, 21, 20_000)
            pos = np.concatenate(([0], np.cumsum(n_line)))
            pos = pos[pos <= len(ids)]
            toks = [words[i] for i in ids.tolist()]
            lines = [" ".join(toks[a:b]) for a, b in zip(pos[:-1], pos[1:], strict=True)]
            block = "\n".join(lines) + "\n"
            f.write(block)
            written += len(block.encode("utf-8"))


_CHILD = r"""
import json, resource, sys, time
from fastlstm.datasets.text import load_text
path, level = sys.argv[1], sys.argv[2]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
data = load_text(path, level=level, vocab_size=10000 if level == "word" else None)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ids = data.train.nbytes + data.valid.nbytes + data.test.nbytes
print(json.dumps({"seconds": seconds, "peak_mb": (peak - before) / 1024, "ids_mb": ids / 1e6,
                  "tokens": (len(data.train) + len(data.valid) + len(data.test)),
                  "vocab": len(data.vocab)}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--levels", nargs="+", choices=["word", "char"], default=["word", "char"])
    ap.add_argument("--dir", default="/tmp")
    args = ap.parse_args(argv)
    if min(args.sizes) < 1:
        ap.error(f"--sizes are MB of text, at least 1: got {args.sizes}")
    for mb in args.sizes:
        path = Path(args.dir) / f"fastlstm_bench_text_{mb}mb.txt"
        if not path.is_file():
            t0 = time.perf_counter()
            make_corpus(path, mb)
            print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
        for level in args.levels:
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, str(path), level],
                capture_output=True, text=True,
            )  # fmt: skip
            if out.returncode != 0:
                sys.stderr.write(out.stderr)
                return out.returncode
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{mb:>4} MB {level:<5} {r['tokens']:>11,} tokens  vocab {r['vocab']:>6}  "
                f"{r['seconds']:6.1f} s  peak +{r['peak_mb']:7.0f} MB  (ids {r['ids_mb']:.0f} MB)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
