"""ch05/train.py: SimpleRnnlm on the first 1000 words of PTB.

python examples/ch05_train_simple_rnnlm.py [max_epoch]
"""

from _common import arg, out

from fastlstm.datasets import ptb
from fastlstm.models import SimpleRnnlm
from fastlstm.optim import SGD
from fastlstm.trainer import RnnlmTrainer

# hyperparameters
batch_size = 10
wordvec_size = 100
hidden_size = 100  # elements of the RNN's hidden state vector
time_size = 5  # size of the unrolled RNN
lr = 0.1
max_epoch = arg(1, 100)

# training data (made small)
corpus, word_to_id, id_to_word = ptb.load_data("train")
corpus_size = 1000
corpus = corpus[:corpus_size]
vocab_size = int(max(corpus) + 1)
xs = corpus[:-1]  # inputs
ts = corpus[1:]  # outputs (targets)

# model
model = SimpleRnnlm(vocab_size, wordvec_size, hidden_size, seed=0)
optimizer = SGD(lr)
trainer = RnnlmTrainer(model, optimizer)

trainer.fit(xs, ts, max_epoch, batch_size, time_size)
print("perplexity at the end:", trainer.ppl_list[-1])
print("saved", trainer.plot(path=out("ch05_simple_rnnlm_perplexity.png")))
