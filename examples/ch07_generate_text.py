"""ch07/generate_text.py: sample text from a trained Rnnlm.

Uses runs/examples/Rnnlm.npz written by ch06_train_rnnlm.py, else the book's
Rnnlm.pkl from $FASTLSTM_DATA/book-weights/.

    python examples/ch07_generate_text.py [seed]
"""

import sys

import numpy as np
from _common import OUT, arg, out

from fastlstm import config
from fastlstm.datasets import ptb
from fastlstm.models import RnnlmGen
from fastlstm.plot import plot_curve

seed = arg(1, 0, lowest=0)
corpus, word_to_id, id_to_word = ptb.load_data("train")
vocab_size = len(word_to_id)

path = OUT / "Rnnlm.npz"  # written by ch06_train_rnnlm.py
if not path.exists():
    path = config.data_file("book-weights", "Rnnlm.pkl")
if path is None:
    sys.exit("no parameters: run examples/ch06_train_rnnlm.py first, or set FASTLSTM_DATA")
model = RnnlmGen(vocab_size, 100, 100)
model.load_params(path)
print("parameters from", path)

# start word and skipped words
start_word = "you"
start_id = word_to_id[start_word]
skip_words = ["N", "<unk>", "$"]
skip_ids = [word_to_id[w] for w in skip_words]

# generate text
rng = np.random.default_rng(seed)
word_ids = model.generate(start_id, skip_ids, rng=rng)
txt = " ".join([id_to_word[i] for i in word_ids])
txt = txt.replace(" <eos>", ".\n")
print(txt)

# how likely is each generated word?  (log probability under the model, read again)
model.reset_state()
scores = model.predict(np.array(word_ids[:-1]).reshape(1, -1))[0].astype(np.float64)  # (T, V)
scores -= scores.max(axis=1, keepdims=True)
logp = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
logp_words = logp[np.arange(len(word_ids) - 1), word_ids[1:]]
print(
    "saved",
    plot_curve(
        logp_words,
        out("ch07_generated_logprob.png"),
        "word",
        "log probability",
        "Rnnlm: generated words",
    ),
)
