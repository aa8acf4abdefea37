"""The attention model on a tab-separated file of pairs of any lengths, then translate.

python examples/own_pairs_attention.py [max_epoch]

The script writes numbers spelled out in words and their digits, one pair a
line (``seven hundred three<TAB>703``), to runs/examples/numbers.tsv; any
``source<TAB>target`` file will do.  The same from a shell:

    fastlstm train attention --data runs/examples/numbers.tsv --out runs/numbers
    fastlstm translate --checkpoint runs/numbers/best.npz "forty-two" "nine hundred one"
"""

import numpy as np
from _common import arg, out

import fastlstm

max_epoch = arg(1, 30)

ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spell(n):
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else "-" + ONES[n % 10])
    return ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + spell(n % 100))


# 1. a file of pairs of different lengths ("seven" -> "7", "nine hundred ninety-one" -> "991")
path = out("numbers.tsv")
numbers = np.random.default_rng(0).permutation(1000)
path.write_text("".join(f"{spell(int(n))}\t{n}\n" for n in numbers), encoding="utf-8")

# 2. train: characters, padded per batch; padding never changes an answer, and the
#    decoder learns an end symbol; 10% of the pairs are held out for the accuracy
run = fastlstm.train(
    "attention", data=path, epochs=max_epoch, hidden=128, batch_size=32, seed=0,
    out=out("numbers"), overwrite=True,
)  # fmt: skip
print(
    f"held-out accuracy {run.best:.1%}, character error rate {run.summary['char_error_rate']:.3f}"
)

# 3. translate: one result per question, with its confidence or its error
for r in fastlstm.translate(run.best_path, ["forty-two", "nine hundred one", "seven", "12?"]):
    if r.ok:
        print(f"{r.question!r} -> {r.answer!r} (confidence {r.confidence:.1%})", *r.warnings)
    else:
        print(f"{r.question!r}: {r.error}")
