"""ch06/train_better_rnnlm.py: two LSTM layers, dropout and weight tying on PTB.

The learning rate is divided by 4 whenever the validation perplexity gets worse.

    python examples/ch06_train_better_rnnlm.py [max_epoch]
"""

from _common import arg, out

from fastlstm.datasets import ptb
from fastlstm.models import BetterRnnlm
from fastlstm.optim import SGD, PlateauDecay
from fastlstm.plot import plot_curve
from fastlstm.trainer import RnnlmTrainer, eval_perplexity

# hyperparameters
batch_size = 20
wordvec_size = 650
hidden_size = 650
time_size = 35
lr = 20.0
max_epoch = arg(1, 40)
max_grad = 0.25
dropout = 0.5

# training data
corpus, word_to_id, id_to_word = ptb.load_data("train")
corpus_val, _, _ = ptb.load_data("val")
corpus_test, _, _ = ptb.load_data("test")
vocab_size = len(word_to_id)
xs = corpus[:-1]
ts = corpus[1:]

model = BetterRnnlm(vocab_size, wordvec_size, hidden_size, dropout, seed=0)
optimizer = SGD(lr)
trainer = RnnlmTrainer(model, optimizer)
decay = PlateauDecay(optimizer, factor=4.0)  # the book's "else: lr /= 4.0"

ppl_list = []
for epoch in range(max_epoch):
    trainer.fit(xs, ts, max_epoch=1, batch_size=batch_size, time_size=time_size, max_grad=max_grad)

    model.reset_state()
    ppl = eval_perplexity(model, corpus_val)
    ppl_list.append(ppl)
    print("epoch %d: valid perplexity %.2f" % (epoch + 1, ppl))

    if decay.step(ppl):  # best so far: keep these parameters
        model.save_params(out("BetterRnnlm.npz"))
    model.reset_state()
    print("-" * 50)

print("best parameters in", out("BetterRnnlm.npz"))
print(
    "saved",
    plot_curve(
        ppl_list,
        out("ch06_better_rnnlm_val_perplexity.png"),
        "epoch",
        "perplexity",
        "BetterRnnlm: validation perplexity",
        marker="o",
    ),
)

# evaluate the best parameters on the test data
model.load_params(out("BetterRnnlm.npz"))
model.reset_state()
ppl_test = eval_perplexity(model, corpus_test)
print("test perplexity: ", ppl_test)
