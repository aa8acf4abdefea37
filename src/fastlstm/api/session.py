"""The training loops of :func:`fastlstm.train`: one epoch at a time, stoppable at any iteration.

The loops are those of the book's ``Trainer`` / ``RnnlmTrainer`` (one ``fit``
call per epoch: a fresh permutation, or ``time_idx`` from 0, each epoch),
written out so that Ctrl-C stops between two iterations and the position can
be saved and resumed exactly.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from fastlstm.api import _util as u
from fastlstm.api.specs import (
    ALL_MODELS,
    BEST_FILE,
    EVAL_BATCH_SIZE,
    EVAL_INTERVAL,
    EVAL_TIME_SIZE,
    LAST_FILE,
    RUN_FORMAT,
    RunError,
)
from fastlstm.api.training import Run, StopFlag, TrainingInterrupted


def train_step(model, optimizer, x, t, max_grad) -> float:
    """One forward/backward/update (the book's trainers' step); the loss as a float."""
    from fastlstm.optim import clip_grads, unique_params

    loss = model.forward(x, t)
    model.backward()
    params, grads = unique_params(model.params, model.grads)  # shared weights -> one
    if max_grad:
        clip_grads(grads, max_grad)
    optimizer.update(params, grads)
    return float(loss)


class _Stopped(Exception):
    """Ctrl-C was honoured; ``position`` is the saved mid-epoch position (or None)."""

    def __init__(self, epoch: int, saved: str | None):
        super().__init__(saved)
        self.epoch = epoch
        self.saved = saved


def _bar(total, initial, progress, desc="train"):
    """A progress bar: a widget in a notebook with ipywidgets, text otherwise, none if not wanted."""
    from fastlstm._notebook import progress_bar

    return progress_bar(total=total, initial=initial, desc=desc, progress=progress)


class _Session:
    """State and steps shared by the two kinds of runs."""

    task = ""

    def __init__(self, name, cfg, out: Path, printer, progress):
        self.name = name
        self.spec = ALL_MODELS[name]
        self.cfg = cfg
        self.out = Path(out)
        self.say = printer
        self.progress = bool(progress) and printer.verbose
        self.start_epoch = 0
        self.position = None
        self.sample = None

    # -- driver ---------------------------------------------------------------
    def run(self, ckpt, resume_path) -> Run:
        self.load_data()
        self.build()
        if ckpt is not None:
            self.restore(ckpt, resume_path)
        from fastlstm import _warmup

        _warmup.warm_up(_warmup.run_key(self.name, self.kwargs, self.batch_shape()))
        try:
            with StopFlag(self.say) as stop:
                self.say(self.describe())  # Ctrl-C is handled from here on
                self.loop(stop)
        except _Stopped as s:
            raise self.interrupted(s) from None
        return self.finish()

    def loop(self, stop) -> None:
        if self.reached():
            return
        for epoch in range(self.start_epoch, self.cfg["epochs"]):
            t0 = time.perf_counter()
            position = self.position if epoch == self.start_epoch else None
            partial = self.train_epoch(position, stop)
            if partial is not None:  # stopped inside the epoch
                raise _Stopped(epoch, self.save_partial(epoch, partial))
            metric = self.evaluate_epoch()
            improved = self.record(metric)
            self.say(self.epoch_line(epoch, metric, improved, time.perf_counter() - t0))
            self.save(epoch + 1, improved)
            if stop.requested:
                raise _Stopped(epoch + 1, f"after epoch {epoch + 1}")
            if self.reached(epoch + 1):
                return

    def reached(self, epoch=None) -> bool:
        return False

    def model_run(self, interrupted=False) -> Run:
        return Run(
            name=self.name,
            model=self.model,
            history=self.history,
            out=self.out,
            config=dict(self.cfg),
            best=self.best,
            interrupted=interrupted,
            sample=self.sample,
        )

    def interrupted(self, s: _Stopped) -> TrainingInterrupted:
        run = self.model_run(interrupted=True)
        write_plots(run, self.out)
        if s.saved:
            message = (
                f"interrupted {s.saved}: saved a resumable checkpoint in "
                f"{self.out / LAST_FILE} and the curves so far in {self.out}\n"
                f"continue with: {run._continue_with()}"
            )
        else:
            last = self.out / LAST_FILE
            before = (
                f"; the last checkpoint ({last}) is from the end of epoch {s.epoch}"
                if last.is_file()
                else ""
            )
            message = (
                f"interrupted in epoch {s.epoch + 1}: nothing was saved (resuming "
                f"{self.spec['class']} from the middle of an epoch would not be exact){before}"
            )
            if last.is_file():
                message += f"\ncontinue with: {run._continue_with()}"
        return TrainingInterrupted(run, bool(s.saved), message)

    # -- checkpoints ----------------------------------------------------------
    def meta(self, position=None) -> dict:
        return {
            "cli_format": RUN_FORMAT,
            "task": self.task,
            "model": self.name,
            "config": self.cfg,
            "history": self.history,
            "best": self.best,
            "data_dir": u.current_data_dir(),
            "position": position,
            **self.task_meta(),
        }

    def save(self, epoch: int, improved: bool, position=None, rng_state=None) -> None:
        """``last.ckpt.npz`` (resumable) and, if ``improved``, ``best.npz``; atomically."""
        from fastlstm import io as fio

        meta = self.meta(position)
        common = {"extra": meta, "model_class": self.spec["class"], "model_kwargs": self.kwargs}
        if improved:
            fio.save_checkpoint(
                self.out / BEST_FILE, params=self.model.params, epoch=epoch, **common
            )
        fio.save_checkpoint(
            self.out / LAST_FILE,
            params=self.model.params,
            optimizer_state=self.optimizer.state_dict(),
            epoch=epoch,
            rng_state=self.rng_state() if rng_state is None else rng_state,
            **common,
        )

    def size_kwargs(self) -> dict:
        """The model's sizes from the data and the settings (V, D, H)."""
        return {
            "vocab_size": len(self.vocab),
            "wordvec_size": self.cfg["wordvec"],
            "hidden_size": self.cfg["hidden"],
        }

    def restore_common(self, ckpt, source) -> None:
        from fastlstm import io as fio

        fio.load_into(self.model.params, ckpt.params, source)
        self.optimizer.load_state_dict(ckpt.optimizer_state)
        self.history = {k: list(v) for k, v in ckpt.extra["history"].items()}
        self.best = float(ckpt.extra.get("best", self.best))
        self.start_epoch = ckpt.epoch
        self.position = ckpt.extra.get("position") or None
        where = f"after epoch {ckpt.epoch}"
        if self.position:
            where = f"in epoch {ckpt.epoch + 1} after iteration {self.position['iteration']}"
        self.say(f"resuming {self.name} from {source} {where}")

    def rng_state(self):
        return None

    def load_best(self) -> bool:
        from fastlstm import io as fio

        best_path = self.out / BEST_FILE
        if not best_path.is_file():
            return False
        fio.load_into(self.model.params, fio.load_checkpoint(best_path).params, best_path)
        return True


# --------------------------------------------------------------------------- #
# language models
# --------------------------------------------------------------------------- #
def _state_layers(model):
    """The stateful recurrent layers of a language model, or None if unknown."""
    layers = getattr(model, "layers", None)
    if layers is None:
        return None
    return [layer for layer in layers if getattr(layer, "stateful", False) and hasattr(layer, "h")]


class LMSession(_Session):
    """A PTB language-model run (``RnnlmTrainer`` with SGD and the book's evaluation)."""

    task = "lm"

    def batch_shape(self) -> tuple:
        return (self.cfg["batch_size"], self.cfg["time_size"])

    def load_data(self):
        from fastlstm.api import data

        cfg = self.cfg
        self.text_meta = None
        if cfg.get("text"):  # a text file of one's own
            from fastlstm.api import owndata

            need = EVAL_BATCH_SIZE * EVAL_TIME_SIZE + 1
            text, source = owndata.lm_text_data(cfg, need)
            self.corpus_val, self.corpus_test = text.valid, text.test
            self.xs, self.ts = text.train[:-1], text.train[1:]  # inputs, targets
            self.vocab = list(text.vocab.tokens)
            self.text_meta = {"vocab": text.vocab.to_meta(), "data_source": source}
            return
        corpus, word_to_id, id_to_word = data.ptb("train", cfg["max_words"])
        self.corpus_val = data.ptb("val", cfg["max_words"])[0]
        self.corpus_test = data.ptb("test", cfg["max_words"])[0]
        for split, c in (("validation", self.corpus_val), ("test", self.corpus_test)):
            if len(c) - 1 < EVAL_BATCH_SIZE * EVAL_TIME_SIZE:
                raise RunError(
                    f"the {split} corpus has {len(c)} words, too few to evaluate "
                    f"(at least {EVAL_BATCH_SIZE * EVAL_TIME_SIZE + 1}); raise --max-words"
                )
        self.xs, self.ts = corpus[:-1], corpus[1:]  # inputs, targets
        if len(self.xs) < cfg["batch_size"] * cfg["time_size"]:
            raise RunError(
                f"the training corpus has {len(corpus)} words, too few for one batch of "
                f"batch_size * time_size = {cfg['batch_size'] * cfg['time_size']}"
            )
        self.vocab = [id_to_word[i] for i in range(len(id_to_word))]

    def build(self):
        from fastlstm.api.loading import model_class
        from fastlstm.optim import SGD, PlateauDecay

        cfg = self.cfg
        kwargs = self.size_kwargs()
        if "dropout" in cfg:
            kwargs["dropout_ratio"] = cfg["dropout"]
        self.model = model_class(self.name)(**kwargs, seed=u.seeds(cfg["seed"], 1)[0])
        self.kwargs = dict(getattr(self.model, "config", None) or kwargs)
        self.optimizer = SGD(lr=cfg["lr"])
        self.decay = (
            PlateauDecay(self.optimizer, factor=cfg["lr_decay"]) if cfg["lr_decay"] else None
        )
        self.history = {"train_ppl": [], "val_ppl": [], "lr": []}
        self.best = math.inf

    def restore(self, ckpt, source):
        if ckpt.extra.get("vocab") != self.vocab:
            what = "the text's" if self.text_meta else "the PTB"
            raise RunError(f"{what} vocabulary differs from that of the resumed training")
        self.restore_common(ckpt, source)
        u.restore_generators(self.model, ckpt.extra.get("model_rng_states"), source)
        if self.decay is not None and ckpt.extra.get("decay"):
            self.decay.load_state_dict(ckpt.extra["decay"])
        if self.best is None:
            self.best = math.inf

    def describe(self) -> str:
        kw = ", ".join(f"{k}={v}" for k, v in self.kwargs.items())
        unit = f"{self.text_meta['vocab']['level']}s" if self.text_meta else "words"
        return (
            f"{self.spec['class']}({kw}), {len(self.xs) + 1} training {unit}, "
            f"seed {self.cfg['seed']}, output in {self.out}"
        )

    def task_meta(self) -> dict:
        return {
            "decay": self.decay.state_dict() if self.decay is not None else None,
            "model_rng_states": [g.bit_generator.state for g in u.model_generators(self.model)],
            "vocab": self.vocab,
            **({"text": self.text_meta} if self.text_meta else {}),
        }

    def train_epoch(self, position, stop):
        """Train one epoch (from ``position`` if given); the position if stopped, else None."""
        cfg, model = self.cfg, self.model
        N, T = cfg["batch_size"], cfg["time_size"]
        data_size = len(self.xs)
        max_iters, jump = data_size // (N * T), data_size // N
        layers = _state_layers(model)
        start, total, count = 0, 0.0, 0
        if position:
            start, total, count = position["iteration"], position["total"], position["count"]
            for layer, (h, c) in zip(layers, position["states"]):
                layer.h = h
                if hasattr(layer, "c"):
                    layer.c = c
        else:
            model.reset_state()
        ppl_list = self.history["train_ppl"]
        with _bar(max_iters, start, self.progress) as bar:
            for iters in range(start, max_iters):
                if stop.requested:
                    if layers is None:
                        return {}
                    states = [[lay.h, getattr(lay, "c", None)] for lay in layers]
                    return {"iteration": iters, "total": total, "count": count, "states": states}
                idx = np.arange(N)[:, None] * jump + np.arange(T) + iters * T  # (N, T)
                np.remainder(idx, data_size, out=idx)
                total += train_step(
                    model, self.optimizer, self.xs[idx], self.ts[idx], cfg["max_grad"]
                )
                count += 1
                if iters % EVAL_INTERVAL == 0:
                    ppl_list.append(math.exp(total / count))
                    total, count = 0.0, 0
                    bar.set_postfix(ppl=f"{ppl_list[-1]:.2f}")
                bar.update(1)
        return None

    def save_partial(self, epoch, partial) -> str | None:
        if not partial:
            return None
        self.save(epoch, False, position=partial)
        return f"in epoch {epoch + 1} after iteration {partial['iteration']}"

    def perplexity(self, corpus) -> float:
        from fastlstm.trainer import eval_perplexity

        self.model.reset_state()
        try:
            return eval_perplexity(self.model, corpus, EVAL_BATCH_SIZE, EVAL_TIME_SIZE)
        finally:
            self.model.reset_state()

    def evaluate_epoch(self) -> float:
        return self.perplexity(self.corpus_val)

    def record(self, ppl) -> bool:
        self.lr_used = self.optimizer.lr
        self.history["val_ppl"].append(ppl)
        self.history["lr"].append(self.lr_used)
        improved = ppl < self.best
        if improved:
            self.best = ppl
        if self.decay is not None:
            self.decay.step(ppl)  # divides optimizer.lr if ppl is not the best so far
        return improved

    def epoch_line(self, epoch, ppl, improved, seconds) -> str:
        return (
            f"epoch {epoch + 1:>3}/{self.cfg['epochs']}  val perplexity {ppl:10.2f}  "
            f"lr {self.lr_used:<8g}  {seconds:6.1f}s{'  (best)' if improved else ''}"
        )

    def finish(self) -> Run:
        """Test perplexity of the best model (the book's final eval), plots, summary."""
        self.load_best()
        test_ppl = self.perplexity(self.corpus_test)
        self.say(f"test perplexity: {test_ppl:.2f}  (best validation perplexity {self.best:.2f})")
        run = self.model_run()
        run.summary = {
            "model": self.name,
            "config": self.cfg,
            "epochs": len(self.history["val_ppl"]),
            "best_val_perplexity": self.best,
            "test_perplexity": test_ppl,
            "val_perplexity": self.history["val_ppl"],
        }
        write_plots(run, self.out)
        u.write_json(self.out / "summary.json", run.summary)
        return run


# --------------------------------------------------------------------------- #
# seq2seq models
# --------------------------------------------------------------------------- #
class SeqSession(_Session):
    """A seq2seq run (``Trainer`` with Adam, exact-match accuracy after every epoch)."""

    task = "seq2seq"

    def batch_shape(self) -> tuple:
        return (self.cfg["batch_size"], self.x_train.shape[1], self.t_train.shape[1])

    def load_data(self):
        from fastlstm.api import data

        cfg = self.cfg
        self.pad_id = None
        from fastlstm.api import owndata

        if owndata.is_pairs_file(cfg["data"]):  # source<TAB>target lines of any lengths
            pairs, source = owndata.pairs_data(cfg)
            self.x_train, self.t_train = pairs.x_train, pairs.t_train
            self.x_test, self.t_test = pairs.x_test, pairs.t_test
            self.vocab, self.n_lines = pairs.vocab, source["pairs"]
            from fastlstm.datasets.pairs import PAD_ID

            self.pad_id = PAD_ID
            if self.name == "attention-bi":
                raise RunError(
                    "attention-bi cannot train on pairs of different lengths (its "
                    "right-to-left LSTM would read the padding first); use attention"
                )
            self.info = owndata.pairs_info(pairs, source, cfg["reverse"])
            if len(self.x_train) < cfg["batch_size"]:
                raise RunError(
                    f"{source['path']}: batch_size={cfg['batch_size']} is larger than the "
                    f"data ({len(self.x_train)} training pairs); lower --batch-size"
                )
            return
        (x, t), (xt, tt), vocab, self.n_lines = data.sequence(
            cfg["data"], cfg["reverse"], cfg["limit"]
        )
        self.x_train, self.t_train, self.x_test, self.t_test, self.vocab = x, t, xt, tt, vocab
        if len(x) < cfg["batch_size"]:
            raise RunError(
                f"batch_size={cfg['batch_size']} is larger than the data ({len(x)} training "
                "questions); lower --batch-size or raise --limit"
            )
        self.info = {
            "data": cfg["data"],
            "source": vocab.source,
            "data_source": data.record_source(cfg["data"], vocab),
            "reverse": bool(cfg["reverse"]),
            "question_width": int(x.shape[1]),
            "answer_width": int(t.shape[1]),
            "start_char": vocab.id_to_char[int(t[0, 0])],
            "question_shapes": data.question_shapes(x, vocab, cfg["reverse"]),
        }
        if len(xt):
            self.sample = (xt[0], tt[0], "".join(vocab.chars), bool(cfg["reverse"]))

    def build(self):
        from fastlstm.api.loading import model_class
        from fastlstm.datasets import sequence
        from fastlstm.optim import Adam

        cfg = self.cfg
        kwargs = self.size_kwargs()
        if self.pad_id is not None:
            kwargs["pad_id"] = self.pad_id
        if cfg["seed"] == "book":
            # the book's scripts draw the weights, then every epoch's shuffle, from the
            # global state load_data seeded: one RandomState replays that stream
            model_seed = shuffle_seed = sequence.book_random_state(self.n_lines)
            self.seed_text = "the book's random stream (load_data's seed 1984)"
        else:
            model_seed, shuffle_seed = u.seeds(cfg["seed"], 2)
            self.seed_text = f"seed {cfg['seed']}"
        self.model = model_class(self.name)(**kwargs, seed=model_seed)
        self.kwargs = dict(getattr(self.model, "config", None) or kwargs)
        self.optimizer = Adam(lr=cfg["lr"])
        self.rng = shuffle_seed
        if not isinstance(self.rng, np.random.RandomState):
            self.rng = np.random.default_rng(shuffle_seed)
        self.history = {"loss": [], "accuracy": []}
        self.best = -1.0

    def vocab_record(self):
        """The vocabulary as checkpoints record it."""
        if self.pad_id is not None:
            return list(self.vocab.tokens)
        return "".join(self.vocab.chars)

    def restore(self, ckpt, source):
        if ckpt.extra.get("vocab") != self.vocab_record():
            raise RunError(
                f"the data {self.cfg['data']} ({self.vocab.source}) differ from those of "
                "the resumed training"
            )
        self.restore_common(ckpt, source)
        if ckpt.rng_state is not None:
            u.set_rng_state(self.rng, ckpt.rng_state)

    def describe(self) -> str:
        kw = ", ".join(f"{k}={v}" for k, v in self.kwargs.items())
        rev = ", reversed" if self.cfg["reverse"] else ""
        return (
            f"{self.spec['class']}({kw}), {len(self.x_train)} training / {len(self.x_test)} "
            f"test questions from {self.vocab.source}{rev}, {self.seed_text}, output in {self.out}"
        )

    def task_meta(self) -> dict:
        return {"vocab": self.vocab_record(), "seq2seq": self.info}

    def rng_state(self):
        return u.rng_state(self.rng)

    def reached(self, epoch=None) -> bool:
        target = self.cfg["target_accuracy"]
        if target is None or self.best < target:
            return False
        if epoch is None:
            self.say(f"the resumed training already reached accuracy {self.best:.4f} >= {target}")
        else:
            self.say(f"target accuracy {target} reached after epoch {epoch}")
        return True

    def train_epoch(self, position, stop):
        """Train one epoch (from ``position`` if given); the position if stopped, else None."""
        cfg, x, t = self.cfg, self.x_train, self.t_train
        N, n = cfg["batch_size"], len(self.x_train)
        max_iters = n // N
        start, total, count = 0, 0.0, 0
        if position:
            start, total, count = position["iteration"], position["total"], position["count"]
        self.epoch_rng = u.rng_state(self.rng)  # a stopped epoch resumes from here
        order = self.rng.permutation(n)
        loss_list = self.history["loss"]
        with _bar(max_iters, start, self.progress) as bar:
            for iters in range(start, max_iters):
                if stop.requested:
                    return {"iteration": iters, "total": total, "count": count}
                idx = order[iters * N : (iters + 1) * N]
                xb, tb = x[idx], t[idx]
                if self.pad_id is not None:  # columns of padding only: the same loss, faster
                    from fastlstm.api.owndata import trim_padding

                    xb, tb = trim_padding(xb, tb, self.pad_id)
                total += train_step(self.model, self.optimizer, xb, tb, cfg["max_grad"])
                count += 1
                if iters % EVAL_INTERVAL == 0:
                    loss_list.append(total / count)
                    total, count = 0.0, 0
                    bar.set_postfix(loss=f"{loss_list[-1]:.3f}")
                bar.update(1)
        return None

    def save_partial(self, epoch, partial) -> str:
        self.save(epoch, False, position=partial, rng_state=self.epoch_rng)
        return f"in epoch {epoch + 1} after iteration {partial['iteration']}"

    def evaluate_epoch(self) -> float:
        from fastlstm import evaluation  # looked up at call time (tests replace it)

        if self.pad_id is not None:
            from fastlstm.api.owndata import pairs_accuracy

            score = pairs_accuracy(
                self.model, self.x_test, self.t_test, self.vocab, reverse=self.cfg["reverse"],
                show=self.cfg["show"] if self.say.verbose else 0,
                **({"file": self.say.stream} if self.say.verbose else {}),
            )  # fmt: skip
            self.last_cer = score.char_error_rate
            return score.accuracy

        return evaluation.seq2seq_accuracy(
            self.model,
            self.x_test,
            self.t_test,
            self.vocab,
            reverse=self.cfg["reverse"],
            show=self.cfg["show"] if self.say.verbose else 0,
            **({"file": self.say.stream} if self.say.verbose else {}),
        )

    def record(self, acc) -> bool:
        self.history["accuracy"].append(acc)
        improved = acc > self.best
        if improved:
            self.best = acc
        return improved

    def epoch_line(self, epoch, acc, improved, seconds) -> str:
        n = len(self.x_train) // self.cfg["batch_size"]
        losses = self.history["loss"][-((n + EVAL_INTERVAL - 1) // EVAL_INTERVAL) :]
        loss_text = f"loss {np.mean(losses):.4f}  " if losses else ""
        return (
            f"epoch {epoch + 1:>3}/{self.cfg['epochs']}  {loss_text}val accuracy "
            f"{acc * 100:7.3f}%  {seconds:6.1f}s{'  (best)' if improved else ''}"
        )

    def finish(self) -> Run:
        self.say(f"best accuracy: {self.best * 100:.3f}%")
        self.load_best()
        run = self.model_run()
        run.summary = {
            "model": self.name,
            "config": self.cfg,
            "data_source": self.vocab.source,
            "epochs": len(self.history["accuracy"]),
            "best_accuracy": self.best,
            "accuracy": self.history["accuracy"],
        }
        if self.pad_id is not None:
            from fastlstm.api.owndata import pairs_accuracy

            score = pairs_accuracy(self.model, self.x_test, self.t_test, self.vocab,
                                   reverse=self.cfg["reverse"], confidence=True)  # fmt: skip
            run.summary.update(
                char_error_rate=score.char_error_rate, confidence_auc=score.confidence_auc
            )
            self.say(
                f"best model: character error rate {score.char_error_rate:.4f}, confidence "
                f"AUC {score.confidence_auc:.3f} (right answers ranked above wrong ones)"
            )
        write_plots(run, self.out)
        u.write_json(self.out / "summary.json", run.summary)
        return run


# --------------------------------------------------------------------------- #
# plots
# --------------------------------------------------------------------------- #
def _attention_png(model, path, sample):
    """Attention map of one test question, question shown the right way round."""
    from fastlstm.evaluation import attention_weights
    from fastlstm.plot import plot_attention

    x, t, chars, reverse = sample
    w = attention_weights(model, x, t)  # (T_dec, T_enc)
    if reverse:
        w, x = w[:, ::-1], x[::-1]
    cols = [chars[int(i)] for i in x]
    rows = [chars[int(i)] for i in t[1:]]
    return plot_attention(w, rows, cols, path, "".join(cols).rstrip())


def write_plots(run: Run, folder: Path) -> dict[str, Path]:
    """The curves of ``run.history`` (and the attention map) as PNG files in ``folder``."""
    from fastlstm.plot import plot_curve

    cls = ALL_MODELS[run.name]["class"]
    h = run.history
    iters = f"iterations (x{EVAL_INTERVAL})"
    curves = {  # name: (values, file, xlabel, ylabel, title, options)
        "perplexity": (h.get("train_ppl"), "perplexity.png", iters, "perplexity",
                       "training perplexity", {}),
        "val_perplexity": (h.get("val_ppl"), "val_perplexity.png", "epoch", "perplexity",
                           "validation perplexity", {"epochs": True}),
        "accuracy": (h.get("accuracy"), "accuracy.png", "epoch", "accuracy",
                     "test accuracy", {"epochs": True, "percent": True}),
        "loss": (h.get("loss"), "loss.png", iters, "loss", "training loss", {}),
    }  # fmt: skip
    written = {}
    for key, (values, file, xlabel, ylabel, title, opt) in curves.items():
        if not values:
            continue
        kwargs = {"marker": "o", "x": np.arange(1, len(values) + 1)} if opt.get("epochs") else {}
        if opt.get("percent"):
            kwargs.update(percent=True, ylim=(-0.05, 1.05))
        path = u.try_plot(
            plot_curve, folder / file, values, xlabel=xlabel, ylabel=ylabel,
            title=f"{cls}: {title}", **kwargs,
        )  # fmt: skip
        if path is not None:
            written[key] = path
    if run.sample is not None and run.name.startswith("attention"):
        path = u.try_plot(_attention_png, folder / "attention.png", run.model, sample=run.sample)
        if path is not None:
            written["attention"] = path
    return written
