"""Fixed-seed training runs of every model, saved whole, to show that a change keeps the bits.

A change of shape (a refactoring, a move of the training loop) must leave every trained
array as it was. This script trains each model briefly on a fixed seed, through the book's
trainers (``Trainer``, ``RnnlmTrainer``), through :func:`fastlstm.train` (checkpoints
included, a resumed run, and a run stopped by Ctrl-C inside an epoch then resumed), and writes every parameter, checkpoint
member and loss curve into one ``.npz``; ``--compare`` tells which arrays differ::

    python bench/fingerprint.py before.npz                 # on the old code
    python bench/fingerprint.py after.npz --compare before.npz

The language models need PTB (``FASTLSTM_DATA``); without it they are left out.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np


def _book_trainers(out: dict) -> None:
    from fastlstm import models
    from fastlstm.datasets import sequence
    from fastlstm.optim import SGD, Adam
    from fastlstm.trainer import RnnlmTrainer, Trainer

    (x_train, t_train), _ = sequence.load_data("addition.txt", seed=1984)
    x, t = x_train[:640], t_train[:640]
    V = 13
    for cls in ("Seq2seq", "PeekySeq2seq", "AttentionSeq2seq"):
        np.random.seed(7)  # noqa: NPY002 (the book seeds the global stream)
        model = getattr(models, cls)(V, 16, 32)
        trainer = Trainer(model, Adam(), rng=np.random.RandomState(3), progress=False)
        trainer.fit(x, t, max_epoch=2, batch_size=64, max_grad=5.0, eval_interval=3)
        for i, p in enumerate(model.params):
            out[f"book/{cls}/param{i}"] = p
        out[f"book/{cls}/loss"] = np.asarray(trainer.loss_list)

    ptb_dir = os.environ.get("FASTLSTM_DATA")
    if not ptb_dir:
        return
    from fastlstm.datasets import ptb

    corpus, _, _ = ptb.load_data("train")
    corpus = corpus[:4000]
    V = int(corpus.max()) + 1
    for cls, kwargs in (
        ("SimpleRnnlm", {}),
        ("Rnnlm", {}),
        ("BetterRnnlm", {"dropout_ratio": 0.5}),
    ):
        np.random.seed(11)  # noqa: NPY002 (the book seeds the global stream)
        model = getattr(models, cls)(V, 32, 32, **kwargs)
        trainer = RnnlmTrainer(model, SGD(1.0), progress=False)
        trainer.fit(
            corpus[:-1], corpus[1:], max_epoch=1, batch_size=8, time_size=10,
            max_grad=0.25, eval_interval=5,
        )  # fmt: skip
        for i, p in enumerate(model.params):
            out[f"book/{cls}/param{i}"] = p
        out[f"book/{cls}/ppl"] = np.asarray(trainer.ppl_list)


def _collect_folder(out: dict, key: str, folder: Path) -> None:
    for name in ("best.npz", "last.ckpt.npz"):
        path = folder / name
        if not path.exists():
            continue
        with np.load(path, allow_pickle=False) as z:
            for member in z.files:
                out[f"{key}/{name}/{member}"] = z[member]


def _api_runs(out: dict, tmp: Path) -> None:
    import fastlstm

    quiet = {"progress": False, "verbose": False}
    seq = {"epochs": 2, "limit": 512, "batch_size": 64, "hidden": 32, "show": 0}
    runs = {
        "seq2seq": dict(seq, seed=5),
        "peeky": dict(seq, seed="book"),
        "attention": dict(seq, seed=6),
        "attention-bi": dict(seq, seed=7),
    }
    if os.environ.get("FASTLSTM_DATA"):
        lm = {"epochs": 2, "max_words": 3000, "hidden": 32, "wordvec": 32, "seed": 4}
        runs.update(
            {
                "simple-rnnlm": dict(lm, time_size=5, batch_size=10),
                "rnnlm": dict(lm, time_size=10),
                "better-rnnlm": dict(lm, time_size=10, dropout=0.5),
            }
        )
    for model, settings in runs.items():
        run = fastlstm.train(model, out=tmp / model, **settings, **quiet)
        _collect_folder(out, f"api/{model}", tmp / model)
        for k, v in run.history.items():
            out[f"api/{model}/history/{k}"] = np.asarray(v, dtype=float)
        # two more epochs from the last checkpoint: exact resume
        resumed = fastlstm.train(
            model, resume=tmp / model / "last.ckpt.npz", epochs=settings["epochs"] + 1, **quiet
        )
        _collect_folder(out, f"api-resumed/{model}", tmp / model)
        for k, v in resumed.history.items():
            out[f"api-resumed/{model}/history/{k}"] = np.asarray(v, dtype=float)
    for model, settings in runs.items():
        _interrupted_run(out, tmp / f"{model}-stopped", model, settings, quiet)


def _interrupted_run(out: dict, folder: Path, model: str, settings: dict, quiet: dict) -> None:
    """A run stopped by Ctrl-C inside an epoch (after update :data:`STOP_AFTER`), then resumed."""
    import signal

    import fastlstm
    from fastlstm import optim

    count = [0]
    originals = {cls: cls.update for cls in (optim.SGD, optim.Adam)}

    def counting(original):
        def update(self, params, grads):
            original(self, params, grads)
            count[0] += 1
            if count[0] == STOP_AFTER:  # as a Ctrl-C during this iteration
                os.kill(os.getpid(), signal.SIGINT)

        return update

    for cls, original in originals.items():
        cls.update = counting(original)
    try:
        fastlstm.train(model, out=folder, **settings, **quiet)
        raise AssertionError(f"{model}: the run was not interrupted")
    except fastlstm.TrainingInterrupted:
        pass
    finally:
        for cls, original in originals.items():
            cls.update = original
    _collect_folder(out, f"api-stopped/{model}", folder)
    resumed = fastlstm.train(model, resume=folder / "last.ckpt.npz", **quiet)
    _collect_folder(out, f"api-stopped-resumed/{model}", folder)
    for k, v in resumed.history.items():
        out[f"api-stopped-resumed/{model}/history/{k}"] = np.asarray(v, dtype=float)


#: The optimizer update after which :func:`_interrupted_run` stops a run (inside epoch 1 or 2).
STOP_AFTER = 11


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("output", help="the .npz to write")
    p.add_argument("--compare", help="an earlier output to compare with, array by array")
    args = p.parse_args(argv)
    if not args.output.endswith(".npz"):
        args.output += ".npz"  # the name np.savez writes
    if args.compare and not os.path.isfile(args.compare):
        p.error(f"--compare {args.compare}: no such file")
    out: dict[str, np.ndarray] = {}
    _book_trainers(out)
    with tempfile.TemporaryDirectory() as tmp:
        _api_runs(out, Path(tmp))
    np.savez(args.output, **out)
    print(f"{len(out)} arrays written to {args.output}")
    if not args.compare:
        return 0
    with np.load(args.compare, allow_pickle=False) as old:
        names = set(old.files) | set(out)
        missing = sorted(names - set(out))
        added = sorted(names - set(old.files))
        differ = sorted(
            n
            for n in names & set(old.files) & set(out)
            if old[n].shape != out[n].shape
            or old[n].dtype != out[n].dtype
            or old[n].tobytes() != np.asarray(out[n]).tobytes()
        )
    for what, items in (("missing", missing), ("different", differ)):
        for n in items:
            print(f"{what}: {n}")
    both = len(names) - len(missing) - len(added)
    print(f"{both - len(differ)} of {both} arrays in both files equal bit for bit")
    if added:  # runs the earlier file did not record (an older version of this script)
        print(f"{len(added)} arrays only in {args.output} (runs {args.compare} lacks)")
    return 1 if (missing or differ) else 0


if __name__ == "__main__":
    sys.exit(main())
