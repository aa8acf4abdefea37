"""Model benchmarks: :mod:`fastlstm.models` against :mod:`reference.models` (the book's names).

Groups, each timing ``fastlstm`` and ``reference``:

* ``train ...``: one training iteration as the book's trainers do it -
  ``forward``, ``backward``, shared weights merged (``unique_params`` /
  ``remove_duplicate``), ``clip_grads(grads, 0.25)``, optimizer ``update`` -
  for ``Rnnlm`` and ``BetterRnnlm`` (SGD) and ``Seq2seq``, ``PeekySeq2seq``
  (addition shapes) and ``AttentionSeq2seq`` (date shapes) with Adam.  The
  ``BetterRnnlm`` group also records the tracemalloc peak of one iteration.
* ``generate BetterRnnlm ...``: ``BetterRnnlmGen.generate`` of 100 words.
* ``eval ...``: greedy answers to 5000 questions; fastlstm decodes them all in
  one batched ``generate`` call, the reference one question at a time as the
  book does.  The reference is timed on the first 200 questions only and its
  time is scaled to 5000 in the report (``extra_info["time_scale"]``).  The
  sgemm yardstick runs in the same rounds; the flops of the encoder's and the
  decoder's products give fastlstm's share of its rate.
* ``eval1 ...``: the first 200 of those questions, one ``generate`` call per
  question for both implementations, as the book's ``eval_seq2seq`` loop does.

Inputs are seeded random ids, so no data files are needed.  The learning
rates are small because timing does not depend on them and the same model is
updated for every round.
"""

from __future__ import annotations

import tracemalloc
from typing import NamedTuple

import numpy as np
import pytest
from conftest import (
    IMPLS,
    SETTLE,
    WITH_TORCH,
    Runners,
    compare,
    grouped_params,
    record_gflops,
    skip_without_torch,
    snapshot,
    time_with_sgemm,
)
from conftest import torch as _torch

MAX_GRAD = 0.25
SEED = 1234


def _tools(impl):
    """``(models module, SGD, Adam, clip_grads, merge_shared)`` of ``impl``."""
    if impl == "fastlstm":
        import fastlstm.models as models
        from fastlstm.optim import SGD, Adam, clip_grads
        from fastlstm.optim import unique_params as merge_shared
    elif impl == "reference":
        import reference.models as models
        from reference.optim import SGD, Adam, clip_grads
        from reference.optim import remove_duplicate as merge_shared
    else:
        raise ValueError(f"impl must be 'fastlstm' or 'reference', got {impl!r}")
    return models, SGD, Adam, clip_grads, merge_shared


# --------------------------------------------------------------------------- #
# training iterations
# --------------------------------------------------------------------------- #
class TrainCase(NamedTuple):
    model: str  # class name in both models modules
    args: tuple  # book constructor arguments (V, D, H[, dropout])
    N: int
    T_in: int  # columns of xs
    T_out: int  # columns of ts (seq2seq: including the start symbol)
    optimizer: str  # "SGD" or "Adam"
    lr: float

    @property
    def V(self):
        return self.args[0]

    @property
    def group(self):
        V, D, H = self.args[:3]
        shapes = (
            f"N={self.N} T={self.T_in}"
            if self.model.endswith("Rnnlm")
            else f"N={self.N} T_in={self.T_in} T_out={self.T_out}"
        )
        return f"train {self.model} V={V} D={D} H={H} {shapes} {self.optimizer}"

    @property
    def flops(self):
        """Matrix-product flops of forward + backward (each product counted 3 times: out, dW, dx).

        Element-wise work, the embedding and the optimizer are ignored.
        """
        V, D, H = self.args[:3]
        N = self.N

        def lstm(T, d):  # 6 N T 4H (d + H)
            return 6.0 * N * T * 4 * H * (d + H)

        if self.model == "Rnnlm":
            return lstm(self.T_in, D) + 6.0 * N * self.T_in * H * V
        if self.model == "BetterRnnlm":
            return lstm(self.T_in, D) + lstm(self.T_in, H) + 6.0 * N * self.T_in * H * V
        Td = self.T_out - 1  # decoder steps
        encoder = lstm(self.T_in, D)
        if self.model == "Seq2seq":
            return encoder + lstm(Td, D) + 6.0 * N * Td * H * V
        if self.model == "PeekySeq2seq":  # LSTM input [h; x], Affine input [h; h_enc]
            # (the book's count: fastlstm multiplies h by Wx[:H] once, not at every step)
            return encoder + lstm(Td, D + H) + 6.0 * N * Td * 2 * H * V
        if self.model == "AttentionSeq2seq":  # Affine input [context; h]
            attention = 12.0 * N * Td * self.T_in * H
            return encoder + lstm(Td, D) + attention + 6.0 * N * Td * 2 * H * V
        raise ValueError(f"no flop count for model {self.model!r}")


TRAIN_CASES = [
    TrainCase("Rnnlm", (10000, 100, 100), 20, 35, 35, "SGD", 0.1),
    TrainCase("BetterRnnlm", (10000, 650, 650, 0.5), 20, 35, 35, "SGD", 0.1),
    TrainCase("Seq2seq", (13, 16, 128), 128, 7, 5, "Adam", 1e-3),
    TrainCase("PeekySeq2seq", (13, 16, 128), 128, 7, 5, "Adam", 1e-3),
    TrainCase("AttentionSeq2seq", (59, 16, 256), 128, 29, 11, "Adam", 1e-3),
]


def _train_data(c: TrainCase, seed=SEED):
    rng = np.random.default_rng(seed)
    xs = rng.integers(0, c.V, size=(c.N, c.T_in)).astype(np.int32)  # (N, T_in)
    ts = rng.integers(0, c.V, size=(c.N, c.T_out)).astype(np.int32)  # (N, T_out)
    return xs, ts


def make_train(impl, c: TrainCase, seed=SEED):
    """A seeded model and its optimizer; returns ``(model, step)``.

    ``step()`` is one training iteration on fixed data and returns the loss.
    For ``"pytorch"`` the model is fastlstm's seeded model carried over by
    :func:`fastlstm.interop.to_torch`, trained with ``torch.optim`` and
    ``torch.nn.utils.clip_grad_norm_``; ``model`` is then the fastlstm one
    it was made from (for its sizes).
    """
    if impl == "pytorch":
        return _torch_train(c, seed)
    models, SGD, Adam, clip_grads, merge_shared = _tools(impl)
    model = getattr(models, c.model)(*c.args, seed=seed)
    optimizer = (SGD if c.optimizer == "SGD" else Adam)(lr=c.lr)
    xs, ts = _train_data(c)

    def step():
        loss = model.forward(xs, ts)
        model.backward()
        params, grads = merge_shared(model.params, model.grads)
        clip_grads(grads, MAX_GRAD)
        optimizer.update(params, grads)
        return loss

    return model, step


def _one_iteration(impl, c: TrainCase) -> dict:
    """Loss, every gradient and every parameter after one update, from a fresh seeded model."""
    models, SGD, Adam, clip_grads, merge_shared = _tools(impl)
    model = getattr(models, c.model)(*c.args, seed=SEED)
    optimizer = (SGD if c.optimizer == "SGD" else Adam)(lr=c.lr)
    xs, ts = _train_data(c)
    out = {"loss": model.forward(xs, ts)}
    model.backward()
    out.update(snapshot({f"grads[{i}]": g for i, g in enumerate(model.grads)}))
    params, grads = merge_shared(model.params, model.grads)
    clip_grads(grads, MAX_GRAD)
    optimizer.update(params, grads)
    out.update(snapshot({f"params[{i}] updated": p for i, p in enumerate(model.params)}))
    return out


def _torch_train(c: TrainCase, seed=SEED, train=True):
    """PyTorch's ``(fastlstm model, step)``; ``step()`` returns the loss tensor."""
    import torch

    from fastlstm import interop

    models = _tools("fastlstm")[0]
    model = getattr(models, c.model)(*c.args, seed=seed)
    module = interop.to_torch(model)
    module.train(train)
    params = list(module.parameters())  # tied weights appear once
    if c.optimizer == "SGD":
        optimizer = torch.optim.SGD(params, lr=c.lr)
    else:
        optimizer = torch.optim.Adam(params, lr=c.lr)
    xs, ts = (torch.from_numpy(a.astype(np.int64)) for a in _train_data(c))

    def step():
        optimizer.zero_grad()
        loss = module(xs, ts)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD)
        optimizer.step()
        return loss.item()

    step.module = module
    return model, step


def _merged(model, grads):
    """``grads`` (aligned with ``model.params``) without the tied duplicates, keyed by index."""
    _, _, _, _, merge_shared = _tools("fastlstm")
    kept, _ = merge_shared(model.params, model.grads)
    index = [next(i for i, q in enumerate(model.params) if q is p) for p in kept]
    return {f"grads[{i}]": np.array(grads[i], copy=True) for i in index}


def _check_torch(c: TrainCase) -> dict:
    """PyTorch's loss and gradients against fastlstm's (dropout off: masks cannot agree)."""
    from fastlstm import interop

    models = _tools("fastlstm")[0]
    fast = getattr(models, c.model)(*c.args, seed=SEED)
    xs, ts = _train_data(c)
    kwargs = {"train_flg": False} if c.model == "BetterRnnlm" else {}
    expected = {"loss": fast.forward(xs, ts, **kwargs)}
    fast.backward()
    expected.update(_merged(fast, fast.grads))
    model, step = _torch_train(c, train=c.model != "BetterRnnlm")
    module = step.module
    module.zero_grad()
    loss = module(*(_torch.from_numpy(a.astype(np.int64)) for a in (xs, ts)))
    loss.backward()
    got = {"loss": loss.item()}
    got.update(_merged(model, interop.grads_from_torch(module, model)))
    return compare(got, expected)


def check_train(c: TrainCase) -> dict:
    errors = compare(_one_iteration("fastlstm", c), _one_iteration("reference", c))
    if _torch is not None:
        errors.update({f"pytorch:{k}": v for k, v in _check_torch(c).items()})
    return errors


def _peak_bytes(step) -> int:
    """Peak of memory allocated (as traced by tracemalloc) while ``step()`` runs."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        step()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("case", "impl"), grouped_params([(c.group, c.model, c) for c in TRAIN_CASES], WITH_TORCH)
)
def test_train_iteration(benchmark, info, checks, timings, case, impl):
    skip_without_torch(impl)
    errors = checks.get(case.group, lambda: check_train(case))
    model, step = make_train(impl, case)
    V, D, H = case.args[:3]
    info.update(
        impl=impl,
        kernel="train",
        model=case.model,
        V=V,
        D=D,
        H=H,
        N=case.N,
        T_in=case.T_in,
        T_out=case.T_out,
        optimizer=case.optimizer,
        max_rel_err=max(v for k, v in errors.items() if not k.startswith("pytorch:")),
        param_mb=sum(p.nbytes for p in model.params) / 2**20,
    )
    torch_err = [v for k, v in errors.items() if k.startswith("pytorch:")]
    info["torch_max_rel_err"] = max(torch_err) if torch_err else None
    impls = WITH_TORCH if _torch is not None else IMPLS
    time_with_sgemm(
        benchmark,
        info,
        timings,
        case.group,
        Runners(make_train, case, impls, part=1),
        budget_s=3.0,
        max_rounds=15,
        settle=SETTLE,
    )
    record_gflops(benchmark, case.flops)
    assert np.isfinite(float(step()))
    if case.model == "BetterRnnlm" and impl != "pytorch":
        info["tracemalloc_peak_mb"] = _peak_bytes(step) / 2**20


# --------------------------------------------------------------------------- #
# generation
# --------------------------------------------------------------------------- #
class GenCase(NamedTuple):
    V: int
    D: int
    H: int
    words: int
    start_id: int
    skip_ids: tuple

    @property
    def group(self):
        return f"generate BetterRnnlm V={self.V} D={self.D} H={self.H} words={self.words}"


GEN_CASE = GenCase(10000, 650, 650, 100, 7, (0, 1, 2))


def make_gen(impl, c: GenCase, seed=SEED):
    """A seeded ``BetterRnnlmGen``; returns ``(model, run)``, ``run()`` giving the ids."""
    models = _tools(impl)[0]
    model = models.BetterRnnlmGen(c.V, c.D, c.H, seed=seed)

    def run():
        model.reset_state()
        return model.generate(
            c.start_id,
            skip_ids=list(c.skip_ids),
            sample_size=c.words,
            rng=np.random.default_rng(seed),
        )

    return model, run


def check_gen(c: GenCase) -> dict:
    """Scores of ``predict`` must agree; the sampled words are compared and counted."""
    xs = np.random.default_rng(5).integers(0, c.V, size=(1, 10)).astype(np.int32)  # (1, T)
    scores, words = {}, {}
    for impl in ("fastlstm", "reference"):
        model, run = make_gen(impl, c)
        model.reset_state()
        scores[impl] = {"predict": np.array(model.predict(xs), copy=True)}
        words[impl] = [int(w) for w in run()]
    errors = compare(scores["fastlstm"], scores["reference"])
    fast, ref = words["fastlstm"], words["reference"]
    if len(fast) != c.words or any(w in c.skip_ids or not 0 <= w < c.V for w in fast):
        raise AssertionError(f"fastlstm generated an invalid sequence: {fast}")
    same = [a == b for a, b in zip(fast, ref)]
    first_diff = same.index(False) if not all(same) else len(same)
    if first_diff < 10:
        raise AssertionError(
            f"generated words differ from the reference at position {first_diff}: "
            f"{fast[:12]} vs {ref[:12]}"
        )
    errors["same_words_frac"] = float(np.mean(same))
    errors["first_different_word"] = first_diff
    return errors


@pytest.mark.parametrize(("case", "impl"), grouped_params([(GEN_CASE.group, "words100", GEN_CASE)]))
def test_generate(benchmark, info, checks, timings, case, impl):
    result = checks.get(case.group, lambda: check_gen(case))
    _, run = make_gen(impl, case)
    info.update(impl=impl, kernel="generate", **case._asdict())
    info["skip_ids"] = list(case.skip_ids)
    info.update(
        max_rel_err=result["predict"],
        same_words_frac=result["same_words_frac"],
        first_different_word=result["first_different_word"],
    )
    # float32 weights read per word: LSTM 1 (D+H, 4H), LSTM 2 (2H, 4H), output (H, V)
    D, H, V = case.D, case.H, case.V
    info["weight_bytes_per_word"] = 4 * ((D + H) * 4 * H + 2 * H * 4 * H + H * V)
    timings.get(benchmark, case.group, Runners(make_gen, case, IMPLS, part=1), max_rounds=10)


# --------------------------------------------------------------------------- #
# batched evaluation
# --------------------------------------------------------------------------- #
class EvalCase(NamedTuple):
    model: str
    V: int
    D: int
    H: int
    T_in: int
    sample_size: int
    questions: int
    ref_questions: int

    @property
    def group(self):
        return (
            f"eval {self.model} V={self.V} D={self.D} H={self.H} T_in={self.T_in} "
            f"answer={self.sample_size} questions={self.questions}"
        )

    @property
    def group_one(self):
        return (
            f"eval1 {self.model} V={self.V} D={self.D} H={self.H} T_in={self.T_in} "
            f"answer={self.sample_size} one question per call"
        )

    @property
    def flops(self):
        """Matrix-product flops of answering all questions: encoder and decoder steps."""
        G, D, H = 4 * self.H, self.D, self.H
        K = H if self.model == "Seq2seq" else 2 * H  # the output layer reads h, or 2H values
        once = G * H if self.model == "PeekySeq2seq" else 0  # h_enc @ Wx[:H], once
        per_row = self.T_in * G * (D + H) + once + self.sample_size * (G * (D + H) + K * self.V)
        return 2.0 * self.questions * per_row


EVAL_CASES = [
    EvalCase("Seq2seq", 13, 16, 128, 7, 4, 5000, 200),
    EvalCase("PeekySeq2seq", 13, 16, 128, 7, 4, 5000, 200),
    EvalCase("AttentionSeq2seq", 59, 16, 256, 29, 10, 5000, 200),
]


def _questions(c: EvalCase, seed=SEED):
    rng = np.random.default_rng(seed)
    return rng.integers(0, c.V, size=(c.questions, c.T_in)).astype(np.int32)  # (Q, T_in)


def make_eval_one(impl, c: EvalCase, seed=SEED):
    """``run()`` answering the first ``ref_questions`` one question per ``generate`` call,
    as the book's ``eval_seq2seq`` loop does, with either implementation."""
    models = _tools(impl)[0]
    model = getattr(models, c.model)(c.V, c.D, c.H, seed=seed)
    xs = _questions(c)[: c.ref_questions]
    start_id = c.V - 1

    def run():
        out = [model.generate(xs[i : i + 1], start_id, c.sample_size) for i in range(len(xs))]
        return np.asarray(out).reshape(len(xs), c.sample_size)

    return run


def make_eval(impl, c: EvalCase, seed=SEED):
    """``run()`` answering the questions: all at once (fastlstm) or the first ``ref_questions``
    one at a time (reference).  Returns the answers ``(n, sample_size)``."""
    models = _tools(impl)[0]
    model = getattr(models, c.model)(c.V, c.D, c.H, seed=seed)
    xs = _questions(c)
    start_id = c.V - 1

    if impl == "fastlstm":

        def run():
            out = model.generate_batch(xs, start_id, c.sample_size)
            return np.asarray(out).reshape(c.questions, c.sample_size)

    else:

        def run():
            out = [
                model.generate(xs[i : i + 1], start_id, c.sample_size)
                for i in range(c.ref_questions)
            ]
            return np.asarray(out).reshape(c.ref_questions, c.sample_size)

    return run


def check_eval(c: EvalCase) -> dict:
    """The batched answers must match the one-at-a-time reference on >= 99% of the questions."""
    fast = make_eval("fastlstm", c)()[: c.ref_questions]
    ref = make_eval("reference", c)()
    same = float(np.mean(np.all(fast == ref, axis=1)))
    if same < 0.99:
        raise AssertionError(f"only {same:.1%} of the batched answers equal the reference's")
    return {"same_answers_frac": same}


@pytest.mark.parametrize(
    ("case", "impl"), grouped_params([(c.group, c.model, c) for c in EVAL_CASES])
)
def test_eval(benchmark, info, checks, timings, case, impl):
    result = checks.get(case.group, lambda: check_eval(case))
    timed_questions = case.questions if impl == "fastlstm" else case.ref_questions
    info.update(
        impl=impl,
        kernel="eval",
        **case._asdict(),
        questions_timed=timed_questions,
        time_scale=case.questions / timed_questions,
        same_answers_frac=result["same_answers_frac"],
    )
    # the sgemm yardstick runs in the same rounds: the report's share of the sgemm rate
    time_with_sgemm(
        benchmark,
        info,
        timings,
        case.group,
        Runners(make_eval, case, IMPLS),
        max_rounds=10,
    )
    if impl == "fastlstm":
        record_gflops(benchmark, case.flops)


def check_eval_one(c: EvalCase) -> dict:
    """One question per call: fastlstm's answers must equal the reference's on >= 99%."""
    fast = make_eval_one("fastlstm", c)()
    ref = make_eval_one("reference", c)()
    same = float(np.mean(np.all(fast == ref, axis=1)))
    if same < 0.99:
        raise AssertionError(f"only {same:.1%} of the answers equal the reference's")
    return {"same_answers_frac": same}


@pytest.mark.parametrize(
    ("case", "impl"), grouped_params([(c.group_one, c.model, c) for c in EVAL_CASES])
)
def test_eval_one_question_per_call(benchmark, info, checks, timings, case, impl):
    """The book's ``eval_seq2seq`` loop: ``model.generate(question, start_id, size)`` per question."""
    result = checks.get(case.group_one, lambda: check_eval_one(case))
    info.update(
        impl=impl,
        kernel="eval1",
        **case._asdict(),
        questions_timed=case.ref_questions,
        same_answers_frac=result["same_answers_frac"],
    )
    timings.get(
        benchmark,
        case.group_one,
        Runners(make_eval_one, case, IMPLS),
        max_rounds=10,
    )
