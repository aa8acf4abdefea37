"""ch08/train.py: AttentionSeq2seq on the date format data set (reversed input).

python examples/ch08_train_attention.py [max_epoch]
"""

import json

from _common import arg, out

from fastlstm.datasets import sequence
from fastlstm.evaluation import seq2seq_accuracy
from fastlstm.models import AttentionSeq2seq
from fastlstm.optim import Adam
from fastlstm.plot import plot_curve
from fastlstm.trainer import Trainer

# read the data
(x_train, t_train), (x_test, t_test), vocab = sequence.load_data("date.txt", return_vocab=True)

# reverse the input sentences
x_train, x_test = x_train[:, ::-1], x_test[:, ::-1]

# hyperparameters
vocab_size = len(vocab)
wordvec_size = 16
hidden_size = 256
batch_size = 128
max_epoch = arg(1, 10)
max_grad = 5.0

# The book's script draws its weights, then every epoch's shuffle, from numpy's
# global state, which load_data seeded with 1984: this RandomState is that stream,
# so the run is the book's run.
rng = sequence.book_random_state(len(x_train) + len(x_test))
model = AttentionSeq2seq(vocab_size, wordvec_size, hidden_size, seed=rng)
optimizer = Adam()
trainer = Trainer(model, optimizer, rng=rng)

acc_list = []
for epoch in range(max_epoch):
    trainer.fit(x_train, t_train, max_epoch=1, batch_size=batch_size, max_grad=max_grad)
    acc = seq2seq_accuracy(model, x_test, t_test, vocab, reverse=True, show=3)
    acc_list.append(acc)
    print("epoch %d: val acc %.3f%%" % (epoch + 1, acc * 100))

# used by ch08_visualize_attention.py, with the characters the ids stand for
print("saved", model.save_params(out("AttentionSeq2seq.npz")))
chars = [vocab.id_to_char[i] for i in range(len(vocab))]
out("AttentionSeq2seq.chars.json").write_text(json.dumps(chars), encoding="utf-8")

print(
    "saved",
    plot_curve(
        acc_list,
        out("ch08_attention_accuracy.png"),
        "epoch",
        "accuracy",
        "AttentionSeq2seq on date.txt",
        ylim=(-0.05, 1.05),
        marker="o",
    ),
)
