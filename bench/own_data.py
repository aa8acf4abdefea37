"""Short training runs on data found on this machine (or generated): the figures of docs/own_data.md.

Usage::

    python bench/own_data.py [--out /tmp/own_data] [--only char word korean pairs] [--epochs N]

* ``char``, ``word``: Rnnlm on a prose text of a few hundred KB (Vim's
  ``version7.txt``, which must be installed: Debian's ``vim-runtime``), at
  character level and at word level (10 000 words); perplexity per epoch
  and a generated sample.
* ``korean``: Rnnlm at character level on Korean text gathered from the
  machine (Vim's Korean tutor, systemd's and Sphinx's Korean messages).
* ``pairs``: AttentionSeq2seq on a generated TSV of numbers spelled out in
  English words -> digits (1 to 6 digits: questions of 3 to 64 characters),
  the book's ch08 settings (H = 256, batch 128), held-out exact-match accuracy, character error rate, and the AUC of the
  confidence (the answer's sequence probability) separating right from wrong answers.

Every figure printed comes from the run's ``summary.json`` and checkpoint.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

import fastlstm

PROSE = [Path("/usr/share/vim/vim90/doc/version7.txt")]
KOREAN = [
    Path("/usr/share/vim/vim90/tutor/tutor.ko.utf-8"),
    Path("/usr/lib/systemd/catalog/systemd.ko.catalog"),
    *sorted(Path(sys.prefix).glob("lib/python3*/site-packages/sphinx*/**/ko/LC_MESSAGES/*.po")),
]


def _korean(out: Path) -> Path:
    parts = []
    for p in KOREAN:
        if not p.is_file():
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        if p.suffix == ".po":  # the translated messages only
            text = "\n".join(m for m in re.findall(r'^msgstr "(.+)"$', text, flags=re.M))
        parts.append(text)
    path = out / "korean.txt"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spell(n: int) -> str:
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else "-" + ONES[n % 10])
    if n < 1000:
        return ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + spell(n % 100))
    return spell(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + spell(n % 1000))


def _numbers(out: Path, n: int = 60000) -> Path:
    rng = np.random.default_rng(0)
    digits = rng.integers(1, 7, n)
    nums = sorted({int(rng.integers(10 ** (d - 1) if d > 1 else 0, 10**d)) for d in digits})
    nums = [nums[i] for i in rng.permutation(len(nums))]
    path = out / "numbers.tsv"
    path.write_text("".join(f"{spell(k)}\t{k}\n" for k in nums), encoding="utf-8")
    return path


def _lm(name, text, level, out, epochs, **kw):
    t0 = time.perf_counter()
    run = fastlstm.train("rnnlm", text=text, level=level, epochs=epochs, out=out / name,
                         overwrite=True, progress=False, verbose=False, seed=0, **kw)  # fmt: skip
    seconds = time.perf_counter() - t0
    start = "the " if level == "word" else "The "
    if name == "korean":
        start = "빔은 "
    sample = fastlstm.generate_text(run.best_path, start, length=300 if level == "char" else 60,
                                    seed=1, temperature=0.8)  # fmt: skip
    from fastlstm import io as fio

    meta = fio.load_checkpoint(run.best_path).extra["text"]
    return {
        "run": name,
        "text": str(text),
        "bytes": Path(text).stat().st_size,
        "level": level,
        "vocab": len(meta["vocab"]["tokens"]),
        "val_ppl": [round(p, 3) for p in run.history["val_ppl"]],
        "test_ppl": round(run.summary["test_perplexity"], 3),
        "seconds": round(seconds, 1),
        "sample": sample,
    }


def _pairs(out, epochs):
    data = _numbers(out)
    t0 = time.perf_counter()
    run = fastlstm.train("attention", data=data, epochs=epochs, seed=0, out=out / "pairs",
                         overwrite=True, progress=False, verbose=False)  # fmt: skip
    seconds = time.perf_counter() - t0
    qs = ["seven", "forty-two", "nine hundred one", "twelve thousand three hundred four",
          "six hundred fifty-five thousand two hundred ninety-nine", "seventy?"]  # fmt: skip
    answers = [
        (r.question, r.answer, None if not r.ok else round(r.confidence, 4), r.error)
        for r in fastlstm.translate(run.best_path, qs)
    ]
    return {
        "run": "pairs",
        "data": str(data),
        "pairs": sum(1 for _ in open(data, encoding="utf-8")),
        "accuracy": run.history["accuracy"],
        "best_accuracy": run.best,
        "char_error_rate": run.summary["char_error_rate"],
        "confidence_auc": run.summary["confidence_auc"],
        "seconds": round(seconds, 1),
        "translate": answers,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/own_data")
    runs = ["char", "word", "korean", "pairs"]
    ap.add_argument("--only", nargs="+", choices=runs, default=runs)
    ap.add_argument("--epochs", type=int, default=None)
    args = ap.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        ap.error(f"--epochs must be at least 1, got {args.epochs}")
    prose = next((p for p in PROSE if p.is_file()), None)
    if prose is None and {"char", "word"} & set(args.only):
        ap.error(f"char and word need a prose text: none of {[str(p) for p in PROSE]} is here")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for what in args.only:
        if what == "char":
            r = _lm("char", prose, "char", out, args.epochs or 6, hidden=256, wordvec=64)
        elif what == "word":
            r = _lm("word", prose, "word", out, args.epochs or 8, vocab_size=10000)
        elif what == "korean":
            r = _lm("korean", _korean(out), "char", out, args.epochs or 5, hidden=256,
                    wordvec=64, batch_size=10)  # fmt: skip
        else:
            r = _pairs(out, args.epochs or 10)
        print(json.dumps(r, ensure_ascii=False, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
