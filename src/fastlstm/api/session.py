"""The runs of :func:`fastlstm.train` as clients of the engine (:func:`fastlstm.engine.fit`).

A session loads the data, builds the model and optimizer, and hands the
engine a batch source and its hooks: the book's evaluation after every epoch,
checkpoints, the epoch lines and the progress bars.  The engine's
:class:`~fastlstm.engine.StopFlag` stops a run between two iterations (Ctrl-C);
the position is saved and resumed exactly.  Each epoch reads its batches as
one call of the book's ``Trainer.fit`` / ``RnnlmTrainer.fit`` would (a fresh
permutation, or the streams from their beginnings).
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

import numpy as np

from fastlstm import _notebook, _warmup, engine, evaluation
from fastlstm import io as fio
from fastlstm.api import _util as u
from fastlstm.api import data, owndata
from fastlstm.api.loading import model_class
from fastlstm.api.plots import write_plots
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
from fastlstm.datasets import sequence
from fastlstm.datasets.pairs import PAD_ID
from fastlstm.layers import NonFiniteScores
from fastlstm.optim import SGD, Adam, PlateauDecay


class RunStopped(Exception):
    """Ctrl-C stopped a session; ``saved``: a resumable checkpoint was written."""

    def __init__(self, saved: bool, message: str):
        super().__init__(message)
        self.saved = saved
        self.message = message


class _Session(engine.Callback):
    """State and hooks shared by the two kinds of runs."""

    task = ""

    def __init__(self, name, cfg, out: Path, printer, progress, folder=None):
        self.name = name
        self.folder = folder  # the RunFolder held (None: no earlier run to clear)
        self.resume_path = None
        self.wrote = False
        self.spec = ALL_MODELS[name]
        self.cfg = cfg
        self.out = Path(out)
        self.say = printer
        self.progress = bool(progress) and printer.verbose
        self.start_epoch = 0
        self.position = None
        self.sample = None
        self.bar = None

    # -- driver ---------------------------------------------------------------
    def run(self, ckpt, resume_path) -> dict:
        """Train; the summary.  Raises :class:`RunStopped` on Ctrl-C."""
        self.load_data()
        self.build()
        if ckpt is not None:
            self.restore(ckpt, resume_path)
            self.resume_path = Path(resume_path).expanduser()
        _warmup.warm_up(_warmup.run_key(self.name, self.kwargs, self.batch_shape()))
        with engine.StopFlag(self.say) as stop:
            self.say(self.describe())  # Ctrl-C is handled from here on
            stopped = self.loop(stop)
        if stopped is not None:
            raise self.interrupted(*stopped) from None
        try:
            return self.finish()
        except KeyboardInterrupt:
            raise self.interrupted_finishing() from None

    def loop(self, stop):
        """Run the engine; ``(epoch, saved)`` if stopped, else None."""
        if self.reached():
            return None
        self.stop = stop
        self.interval = engine.IntervalMean(
            EVAL_INTERVAL, self.history[self.curve], transform=self.transform,
            per_epoch=True, on_record=self.recorded,
        )  # fmt: skip
        try:
            where = engine.fit(
                self.model,
                self.optimizer,
                self.batches(),
                epochs=self.cfg["epochs"],
                start_epoch=self.start_epoch,
                start_iteration=self.position["iteration"] if self.position else 0,
                max_grad=self.cfg["max_grad"],
                callbacks=[self.interval, self],
                stop=stop,
            )
        except NonFiniteScores as exc:
            raise self.diverged(str(exc)) from None
        if where is None:
            return None
        if where.iteration is None:
            return where.epoch, f"after epoch {where.epoch}"
        partial = self.partial(where.iteration)
        return where.epoch, self.save_partial(where.epoch, partial)

    # -- the engine's hooks ---------------------------------------------------
    def on_epoch_begin(self, epoch, iteration):
        self.t0 = time.perf_counter()
        self.epoch = epoch
        resumed = epoch == self.start_epoch and bool(self.position)  # inside the epoch
        if resumed:
            self.interval.total = self.position["total"]
            self.interval.count = self.position["count"]
        self.begin_epoch(resumed)
        n = self.iterations()
        self.bar = _notebook.progress_bar(
            total=n, initial=iteration, desc="train", progress=self.progress
        )

    def recorded(self, epoch, iteration, value):
        self.bar.set_postfix(**{self.postfix: self.postfix_format % value})

    def on_batch_end(self, epoch, iteration, loss):
        self.bar.update(1)

    def diverged(self, why: str) -> RunError:
        """The error that ends a diverged run (nothing of the epoch is saved)."""
        self.close_bar()
        return RunError(
            f"training diverged in epoch {self.epoch + 1} ({why}): lower the learning rate "
            "(--lr, lr=) or clip the gradients (--max-grad, max_grad=); the last "
            "checkpoint, if any, is from before"
        )

    def on_epoch_end(self, epoch):
        self.close_bar()
        metric = self.evaluate_epoch()
        if not math.isfinite(metric):  # a perplexity past float64: a mean loss above 709
            raise self.diverged(f"the validation {self.metric} is {metric}")
        improved = self.record(metric)
        self.say(self.epoch_line(epoch, metric, improved, time.perf_counter() - self.t0))
        self.save(epoch + 1, improved)
        if self.stop.requested:
            return False  # the engine stops (the run is interrupted)
        return self.reached(epoch + 1)

    def on_train_end(self):
        self.close_bar()

    def close_bar(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def reached(self, epoch=None) -> bool:
        return False

    @property
    def iterations_per_epoch(self) -> int | None:
        """Training iterations per epoch (None before the data are loaded)."""
        try:
            return self.iterations()
        except AttributeError:
            return None

    def before_write(self) -> None:
        """Ready the output folder for this run's first file (called before every write).

        Deletes the files of a run being replaced (``overwrite``) only now, so
        bad data or a Ctrl-C before anything is saved leave it whole; a run
        resumed into another folder gets the resumed run's ``best.npz`` there,
        so that its best epoch so far is not lost.
        """
        if self.wrote:
            return
        self.wrote = True
        best = None
        if self.resume_path is not None:  # read before anything is deleted
            src, dst = self.resume_path.resolve().parent / BEST_FILE, self.out / BEST_FILE
            if src.is_file() and not (dst.exists() and dst.samefile(src)):
                best = src.read_bytes()
        if self.folder is not None:
            self.folder.clear_earlier()
        if best is not None:
            fio.atomic_write(self.out / BEST_FILE, lambda f: f.write(best))

    def interrupted(self, epoch: int, saved: str | None) -> RunStopped:
        if self.folder is not None and self.folder.pending_clear:
            # nothing of this run saved: the run it was to replace stays whole
            return RunStopped(
                False,
                f"interrupted in epoch {epoch + 1}: nothing was saved (resuming "
                f"{self.spec['class']} from the middle of an epoch would not be exact); "
                f"the earlier run in {self.out} is left as it was",
            )
        try:
            write_plots(self, self.out)
            curves = f" and the curves so far in {self.out}"
        except KeyboardInterrupt:  # interrupted again: the checkpoint is saved, keep the run
            curves = " (the curves were not written: interrupted again)"
        resume = u.continue_with(self.name, self.out)
        if saved:
            message = (
                f"interrupted {saved}: saved a resumable checkpoint in "
                f"{self.out / LAST_FILE}{curves}\n"
                f"continue with: {resume}"
            )
        else:
            last = self.out / LAST_FILE
            before = (
                f"; the last checkpoint ({last}) is from the end of epoch {epoch}"
                if last.is_file()
                else ""
            )
            message = (
                f"interrupted in epoch {epoch + 1}: nothing was saved (resuming "
                f"{self.spec['class']} from the middle of an epoch would not be exact){before}"
            )
            if last.is_file():
                message += f"\ncontinue with: {resume}"
        return RunStopped(bool(saved), message)

    def interrupted_finishing(self) -> RunStopped:
        """Ctrl-C after the training, while the final evaluation, plots or summary were made.

        Every epoch's checkpoint was saved at its end, so the run is complete;
        only what :meth:`finish` writes may be missing.
        """
        last, best = self.out / LAST_FILE, self.out / BEST_FILE
        saved = [str(p) for p in (last, best) if p.is_file()]
        message = "interrupted after the training, while its final results were made"
        if not saved:  # a run that trained no epoch here (its target was already reached)
            return RunStopped(False, message)
        message += (
            f": the training is complete and saved ({' and '.join(saved)}); summary.json "
            f"and the plots in {self.out} may be missing"
        )
        if best.is_file():
            message += f"\nevaluate the best model with: {u.evaluate_with(best)}"
        return RunStopped(True, message)

    def summarize(self, summary: dict) -> dict:
        """Write the plots and ``summary.json``; ``summary``."""
        self.before_write()
        write_plots(self, self.out)
        u.write_json(self.out / "summary.json", summary)
        return summary

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
        self.before_write()
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

    def check_same_files(self, saved: dict | None, now: dict | None, source) -> None:
        """Refuse to resume when a data file changed since the checkpoint (sha256 recorded)."""
        saved, now = saved or {}, now or {}
        changed = [
            str(saved.get("path" if key == "sha256" else key[: -len("_sha256")]))
            for key in saved
            if (key == "sha256" or key.endswith("_sha256")) and saved[key] != now.get(key)
        ]
        if changed:
            raise RunError(
                f"{', '.join(changed)}: changed since {source} was saved (its sha256 differs); "
                "resuming would not continue the same training (start a new run instead)"
            )

    def restore_common(self, ckpt, source) -> None:
        fio.load_into(self.model.params, ckpt.params, source)
        self.optimizer.load_state_dict(ckpt.optimizer_state)
        self.history = {k: list(v) for k, v in ckpt.extra["history"].items()}
        self.best = float(ckpt.extra.get("best", self.best))
        self.start_epoch = ckpt.epoch
        self.position = ckpt.extra.get("position") or None
        self.check_position(ckpt.epoch, source)
        where = f"after epoch {ckpt.epoch}"
        if self.position:
            where = f"in epoch {ckpt.epoch + 1} after iteration {self.position['iteration']}"
        self.say(f"resuming {self.name} from {source} {where}")

    def check_position(self, epoch, source) -> None:
        """Refuse a saved position no run writes (a damaged or edited checkpoint)."""
        per_epoch = self.iterations()
        it = (self.position or {}).get("iteration", 0)
        bad = isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0
        bad = bad or isinstance(it, bool) or not isinstance(it, int) or not 0 <= it < per_epoch
        if bad:
            raise RunError(
                f"{source}: the saved position (epoch {epoch!r}, iteration {it!r}) is not one "
                f"of this training's ({per_epoch} iterations per epoch): a damaged checkpoint?"
            )

    def rng_state(self):
        return None

    def load_best(self) -> bool:
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
        cfg = self.cfg
        self.text_meta = self.ptb_meta = None
        if cfg.get("text"):  # a text file of one's own
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
                    f"(at least {EVAL_BATCH_SIZE * EVAL_TIME_SIZE + 1}); raise max_words= "
                    "(--max-words)"
                )
        self.xs, self.ts = corpus[:-1], corpus[1:]  # inputs, targets
        # what resuming must find again: the ids of the three splits as trained on
        self.ptb_meta = {}
        for split, c in (("train", corpus), ("valid", self.corpus_val), ("test", self.corpus_test)):
            self.ptb_meta[split] = f"the PTB {split} split"
            self.ptb_meta[f"{split}_sha256"] = hashlib.sha256(c.tobytes()).hexdigest()
        if len(self.xs) < cfg["batch_size"] * cfg["time_size"]:
            raise RunError(
                f"the training corpus has {len(corpus)} words, too few for one batch of "
                f"batch_size * time_size + 1 = {cfg['batch_size'] * cfg['time_size'] + 1}"
            )
        self.vocab = [id_to_word[i] for i in range(len(id_to_word))]

    def build(self):
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
        if self.text_meta:
            saved = (ckpt.extra.get("text") or {}).get("data_source")
            self.check_same_files(saved, self.text_meta["data_source"], source)
        else:  # PTB files edited since (the vocabulary can stay the same)
            self.check_same_files(ckpt.extra.get("ptb"), self.ptb_meta, source)
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
            **({"ptb": self.ptb_meta} if self.ptb_meta else {}),
        }

    curve, postfix, postfix_format = "train_ppl", "ppl", "%.2f"
    metric = "perplexity"
    transform = staticmethod(engine.perplexity_of)  # a function, not a method

    def iterations(self) -> int:
        return len(self.xs) // (self.cfg["batch_size"] * self.cfg["time_size"])

    def batches(self):
        return engine.BpttBatches(self.xs, self.ts, self.cfg["batch_size"], self.cfg["time_size"])

    def begin_epoch(self, resumed):
        """Carry the saved hidden states into a resumed epoch; else start from zero states."""
        if resumed:
            for layer, (h, c) in zip(_state_layers(self.model), self.position["states"]):
                layer.h = h
                if hasattr(layer, "c"):
                    layer.c = c
        else:
            self.model.reset_state()

    def partial(self, iteration):
        """The position of a run stopped before ``iteration`` ({} if it cannot be saved)."""
        layers = _state_layers(self.model)
        if layers is None:
            return {}
        states = [[lay.h, getattr(lay, "c", None)] for lay in layers]
        total, count = self.interval.total, self.interval.count
        return {"iteration": iteration, "total": total, "count": count, "states": states}

    def save_partial(self, epoch, partial) -> str | None:
        if not partial:
            return None
        self.save(epoch, False, position=partial)
        return f"in epoch {epoch + 1} after iteration {partial['iteration']}"

    def perplexity(self, corpus) -> float:
        return engine.perplexity(
            self.model, corpus, EVAL_BATCH_SIZE, EVAL_TIME_SIZE, reset_state=True
        )

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

    def finish(self) -> dict:
        """Test perplexity of the best model (the book's final eval), plots, summary."""
        self.before_write()
        self.load_best()
        test_ppl = self.perplexity(self.corpus_test)
        self.say(f"test perplexity: {test_ppl:.2f}  (best validation perplexity {self.best:.2f})")
        return self.summarize(
            {
                "model": self.name,
                "config": self.cfg,
                "epochs": len(self.history["val_ppl"]),
                "best_val_perplexity": self.best,
                "test_perplexity": test_ppl,
                "val_perplexity": self.history["val_ppl"],
            }
        )


# --------------------------------------------------------------------------- #
# seq2seq models
# --------------------------------------------------------------------------- #
class SeqSession(_Session):
    """A seq2seq run (``Trainer`` with Adam, exact-match accuracy after every epoch)."""

    task = "seq2seq"

    def batch_shape(self) -> tuple:
        return (self.cfg["batch_size"], self.x_train.shape[1], self.t_train.shape[1])

    def load_data(self):
        cfg = self.cfg
        self.pad_id = None
        if owndata.is_pairs_file(cfg["data"]):  # source<TAB>target lines of any lengths
            pairs, source = owndata.pairs_data(cfg)
            self.x_train, self.t_train = pairs.x_train, pairs.t_train
            self.x_test, self.t_test = pairs.x_test, pairs.t_test
            self.vocab, self.n_lines = pairs.vocab, source["pairs"]
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
                    f"data ({len(self.x_train)} training pairs); lower batch_size= (--batch-size)"
                )
            return
        (x, t), (xt, tt), vocab, self.n_lines = data.sequence(
            cfg["data"], cfg["reverse"], cfg["limit"]
        )
        self.x_train, self.t_train, self.x_test, self.t_test, self.vocab = x, t, xt, tt, vocab
        if len(x) < cfg["batch_size"]:
            raise RunError(
                f"batch_size={cfg['batch_size']} is larger than the data ({len(x)} training "
                "questions); lower batch_size= (--batch-size) or raise limit= (--limit)"
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
        saved = (ckpt.extra.get("seq2seq") or {}).get("data_source")
        self.check_same_files(saved, self.info.get("data_source"), source)
        if ckpt.extra.get("vocab") != self.vocab_record():
            raise RunError(
                f"the data {self.cfg['data']} ({self.vocab.source}) differ from those of "
                "the resumed training"
            )
        self.restore_common(ckpt, source)
        if ckpt.rng_state is not None:
            u.set_rng_state(self.rng, ckpt.rng_state)

    def describe(self) -> str:
        kw = ", ".join(f"{k}={v}" for k, v in self.kwargs.items() if v is not None)
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

    curve, transform, postfix, postfix_format = "loss", None, "loss", "%.3f"
    metric = "accuracy"

    def iterations(self) -> int:
        return len(self.x_train) // self.cfg["batch_size"]

    def batches(self):
        batches = engine.ShuffledBatches(
            self.x_train, self.t_train, self.cfg["batch_size"], self.rng
        )
        if self.pad_id is not None:  # columns of padding only: the same loss, faster
            return owndata.TrimmedBatches(batches, self.pad_id)
        return batches

    def begin_epoch(self, resumed):
        self.epoch_rng = u.rng_state(self.rng)  # a stopped epoch resumes from here

    def partial(self, iteration):
        """The position of a run stopped before ``iteration``."""
        return {"iteration": iteration, "total": self.interval.total, "count": self.interval.count}

    def save_partial(self, epoch, partial) -> str:
        self.save(epoch, False, position=partial, rng_state=self.epoch_rng)
        return f"in epoch {epoch + 1} after iteration {partial['iteration']}"

    def evaluate_epoch(self) -> float:
        if self.pad_id is not None:
            score = owndata.pairs_accuracy(
                self.model, self.x_test, self.t_test, self.vocab, reverse=self.cfg["reverse"],
                show=self.cfg["show"] if self.say.verbose else 0,
                **({"file": self.say.stream} if self.say.verbose else {}),
            )  # fmt: skip
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

    def finish(self) -> dict:
        self.say(f"best accuracy: {self.best * 100:.3f}%")
        self.before_write()
        self.load_best()
        summary = {
            "model": self.name,
            "config": self.cfg,
            "data_source": self.vocab.source,
            "epochs": len(self.history["accuracy"]),
            "best_accuracy": self.best,
            "accuracy": self.history["accuracy"],
        }
        if self.pad_id is not None:
            score = owndata.pairs_accuracy(self.model, self.x_test, self.t_test, self.vocab,
                                           reverse=self.cfg["reverse"], confidence=True)  # fmt: skip
            auc = score.confidence_auc
            if math.isnan(auc):  # every held-out answer right, or every one wrong
                auc, auc_text = None, "not defined (no right or no wrong answers to rank)"
            else:
                auc_text = f"{auc:.3f} (right answers ranked above wrong ones)"
            summary.update(char_error_rate=score.char_error_rate, confidence_auc=auc)
            self.say(
                f"best model: character error rate {score.char_error_rate:.4f}, "
                f"confidence AUC {auc_text}"
            )
        return self.summarize(summary)
