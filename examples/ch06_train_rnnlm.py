"""ch06/train_rnnlm.py: the LSTM language model Rnnlm on PTB, with gradient clipping.

python examples/ch06_train_rnnlm.py [max_epoch]
"""

from _common import arg, out

from fastlstm.datasets import ptb
from fastlstm.models import Rnnlm
from fastlstm.optim import SGD
from fastlstm.trainer import RnnlmTrainer, eval_perplexity

# hyperparameters
batch_size = 20
wordvec_size = 100
hidden_size = 100  # elements of the LSTM's hidden state vector
time_size = 35  # size of the unrolled RNN
lr = 20.0
max_epoch = arg(1, 4)
max_grad = 0.25

# training data
corpus, word_to_id, id_to_word = ptb.load_data("train")
corpus_test, _, _ = ptb.load_data("test")
vocab_size = len(word_to_id)
xs = corpus[:-1]
ts = corpus[1:]

# model
model = Rnnlm(vocab_size, wordvec_size, hidden_size, seed=0)
optimizer = SGD(lr)
trainer = RnnlmTrainer(model, optimizer)

# train with gradient clipping
trainer.fit(xs, ts, max_epoch, batch_size, time_size, max_grad, eval_interval=20)
print("saved", trainer.plot(ylim=(0, 500), path=out("ch06_rnnlm_perplexity.png")))

# evaluate on the test data
model.reset_state()
ppl_test = eval_perplexity(model, corpus_test, progress=True)
print("test perplexity: ", ppl_test)

# save the parameters (used by ch07_generate_text.py)
print("saved", model.save_params(out("Rnnlm.npz")))
