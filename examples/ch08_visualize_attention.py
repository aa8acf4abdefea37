"""ch08/visualize_attention.py: attention maps of five random test questions.

Uses runs/examples/AttentionSeq2seq.npz from ch08_train_attention.py, else the
book's AttentionSeq2seq.pkl from $FASTLSTM_DATA/book-weights/.

    python examples/ch08_visualize_attention.py
"""

import json
import sys

import numpy as np
from _common import OUT, no_arguments, out

from fastlstm import config
from fastlstm.datasets import sequence
from fastlstm.evaluation import attention_weights
from fastlstm.models import AttentionSeq2seq
from fastlstm.plot import plot_attention

no_arguments()
(x_train, t_train), (x_test, t_test), vocab = sequence.load_data("date.txt", return_vocab=True)
id_to_char = vocab.id_to_char

# reverse input
x_train, x_test = x_train[:, ::-1], x_test[:, ::-1]

vocab_size = len(vocab)
wordvec_size = 16
hidden_size = 256

path = OUT / "AttentionSeq2seq.npz"
if path.exists():  # trained on the date.txt loaded here? (the book's and the generated differ)
    saved = OUT / "AttentionSeq2seq.chars.json"
    if not saved.exists():
        sys.exit(f"{saved} is missing, so the characters of {path} are not known: run "
                 "examples/ch08_train_attention.py again")  # fmt: skip
    chars = json.loads(saved.read_text(encoding="utf-8"))
    if chars != [id_to_char[i] for i in range(vocab_size)]:
        sys.exit(f"{path} was trained on another date.txt than {vocab.source}: run "
                 "examples/ch08_train_attention.py again")  # fmt: skip
else:
    path = config.data_file("book-weights", "AttentionSeq2seq.pkl")
if path is None:
    sys.exit("no parameters: run examples/ch08_train_attention.py first, or set FASTLSTM_DATA")
model = AttentionSeq2seq(vocab_size, wordvec_size, hidden_size)
model.load_params(path)
print("parameters from", path)

rng = np.random.RandomState(1984)  # the book's np.random.seed(1984)
for k in range(5):
    idx = [rng.randint(0, len(x_test))]
    x = x_test[idx]
    t = t_test[idx]

    attention_map = attention_weights(model, x, t)  # (T_dec, T_enc)

    # reverse for print
    attention_map = attention_map[:, ::-1]
    x = x[:, ::-1]

    col_labels = [id_to_char[int(i)] for i in x[0]]  # the question, along the x axis
    row_labels = [id_to_char[int(i)] for i in t[0, 1:]]  # the answer, along the y axis
    title = "".join(col_labels).rstrip()
    print(
        "saved",
        plot_attention(
            attention_map, row_labels, col_labels, out(f"ch08_attention_{k}.png"), title
        ),
    )
