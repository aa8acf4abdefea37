"""The main jobs as Python functions: train, resume, evaluate, translate, generate text.

What ``fastlstm train|eval|translate|generate`` do on the command line, for
scripts and notebooks::

    import fastlstm

    run = fastlstm.train("attention", epochs=3)          # checkpoints in runs/attention/
    run.history["accuracy"], run.best_path
    run.plot()                                           # loss.png, accuracy.png, attention.png
    run = run.resume(epochs=5)                           # continue exactly
    run = fastlstm.last_run()                            # after Ctrl-C / "interrupt kernel"
    fastlstm.evaluate(run.best_path).value               # test accuracy
    fastlstm.translate(run.best_path, "Mar 25, 2003")[0].answer
    fastlstm.generate_text("runs/rnnlm/best.npz", "the meaning of life is")

Each keyword of :func:`train` is a flag of ``fastlstm train`` with the same
name and default (``batch_size`` is ``--batch-size``; ``progress=False`` is
``--no-progress``).
"""

from fastlstm.api.loading import LoadedModel, load_model
from fastlstm.api.specs import ALL_MODELS, LM_MODELS, SEQ_MODELS, RunError, settings
from fastlstm.api.training import Run, TrainingInterrupted, last_run, train
from fastlstm.api.use import Evaluation, Translation, evaluate, generate_text, translate

__all__ = [
    "train",
    "Run",
    "TrainingInterrupted",
    "last_run",
    "evaluate",
    "Evaluation",
    "translate",
    "Translation",
    "generate_text",
    "load_model",
    "LoadedModel",
    "settings",
    "RunError",
    "ALL_MODELS",
    "LM_MODELS",
    "SEQ_MODELS",
]
