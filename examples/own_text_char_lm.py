"""A character-level language model on a text file of your own, then text generated from it.

python examples/own_text_char_lm.py [max_epoch]

The script writes its own text (rhymes made from a few templates) to
runs/examples/rhymes.txt; put the path of any UTF-8 text in its place
(a novel, your notes, a corpus in Korean or Japanese).  The same from a shell:

    fastlstm train rnnlm --text runs/examples/rhymes.txt --level char --out runs/rhymes
    fastlstm generate --checkpoint runs/rhymes/best.npz --start "the cat" --length 200
"""

import numpy as np
from _common import arg, out

import fastlstm

max_epoch = arg(1, 4)

# 1. a text file (any UTF-8 text will do)
rng = np.random.default_rng(0)
who = ["the cat", "a little dog", "the old man", "my sister", "the baker", "a mouse"]
did = ["sat on", "jumped over", "looked at", "ran to", "sang to", "slept by"]
what = ["the moon", "a red hat", "the garden wall", "the river", "a loaf of bread", "the door"]
lines = [f"{rng.choice(who)} {rng.choice(did)} {rng.choice(what)}" for _ in range(3000)]
path = out("rhymes.txt")
path.write_text("\n".join(lines) + "\n", encoding="utf-8")

# 2. train: characters are the units (NFC), the last 5% validate and 5% test
run = fastlstm.train(
    "rnnlm",
    text=path,
    level="char",
    epochs=max_epoch,
    hidden=128,
    wordvec=32,
    lr=20.0,
    out=out("rhymes"),
    seed=0,
    overwrite=True,
)
print("validation perplexity per epoch:", [round(p, 3) for p in run.history["val_ppl"]])

# 3. generate from the checkpoint alone (the vocabulary is in it)
print(fastlstm.generate_text(run.best_path, "the cat", length=200, seed=1))
