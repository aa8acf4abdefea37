"""ch07/train_seq2seq.py: addition with Seq2seq, reversed input, and PeekySeq2seq.

Trains the chapter's three variants one after the other and plots their test
accuracy together (the book's figures 7-23 and 7-26).

    python examples/ch07_train_seq2seq.py [max_epoch]
"""

from _common import arg, out

from fastlstm.datasets import sequence
from fastlstm.evaluation import seq2seq_accuracy
from fastlstm.models import PeekySeq2seq, Seq2seq
from fastlstm.optim import Adam
from fastlstm.plot import plot_curve
from fastlstm.trainer import Trainer

# read the data set
(x_train, t_train), (x_test, t_test), vocab = sequence.load_data("addition.txt", return_vocab=True)

# hyperparameters
vocab_size = len(vocab)
wordvec_size = 16
hidden_size = 128
batch_size = 128
max_epoch = arg(1, 25)
max_grad = 5.0

variants = {
    "baseline": (Seq2seq, False),
    "reverse": (Seq2seq, True),
    "reverse + peeky": (PeekySeq2seq, True),
}
curves = {}
for label, (model_class, is_reverse) in variants.items():
    print("=" * 20, label)
    xtr, xte = (x_train[:, ::-1], x_test[:, ::-1]) if is_reverse else (x_train, x_test)

    # each variant is a fresh run of the book's script: weights and shuffles from
    # the global stream load_data seeded with 1984
    rng = sequence.book_random_state(len(x_train) + len(x_test))
    model = model_class(vocab_size, wordvec_size, hidden_size, seed=rng)
    optimizer = Adam()
    trainer = Trainer(model, optimizer, rng=rng)

    acc_list = []
    for epoch in range(max_epoch):
        trainer.fit(xtr, t_train, max_epoch=1, batch_size=batch_size, max_grad=max_grad)
        # the whole test set at once (batched greedy decoding), 3 questions shown
        acc = seq2seq_accuracy(model, xte, t_test, vocab, reverse=is_reverse, show=3)
        acc_list.append(acc)
        print("epoch %d: val acc %.3f%%" % (epoch + 1, acc * 100))
    curves[label] = acc_list

print(
    "saved",
    plot_curve(
        curves,
        out("ch07_seq2seq_accuracy.png"),
        "epoch",
        "accuracy",
        "addition.txt",
        ylim=(0, 1.0),
        marker="o",
    ),
)
