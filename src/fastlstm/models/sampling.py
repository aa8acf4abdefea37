"""Sampling of word ids and text generation for the LSTM language models.

The rule, shared by the fused kernel and :func:`sample_from_scores`:

1. scores are cast to float64 and divided by ``temperature``;
2. with ``top_k``, only the ``top_k`` largest scores stay (ties broken by the
   lower id, so exactly ``top_k`` ids remain and ``top_k=1`` is the argmax);
3. a stable softmax (maximum subtracted) gives the probabilities;
4. one uniform ``u`` is drawn from the ``numpy.random.Generator`` and the id is
   the first whose cumulative probability exceeds ``u``
   (``searchsorted(cdf, u, side='right')``).

Step 4 is what ``rng.choice(V, p=p)`` does, so for the same generator state
the ids are those of the book's ``np.random.choice(len(p), size=1, p=p)``
(up to float64 rounding at a bucket boundary).  ``greedy=True`` takes the
argmax of the ids not skipped and draws nothing (a skipped draw, fed again
as in the book's loop, exists only when drawing).
"""

from __future__ import annotations

import numbers
import time

import numpy as np

from fastlstm._kernels import generate as _kgen
from fastlstm._numba import CHUNKS
from fastlstm._validate import check_flag, check_int
from fastlstm.layers import TimeAffine, TimeDropout, TimeEmbedding, TimeLSTM
from fastlstm.layers._checks import _check_params
from fastlstm.models.base import as_rng, check_finite_params

__all__ = [
    "MAX_LENGTH",
    "MAX_SKIPPED_DRAWS",
    "softmax64",
    "sample_from_scores",
    "LanguageModelSampler",
    "generate_words",
]

MAX_LENGTH = 100_000_000
"""Most ids one :func:`generate_words` call draws (the ids are kept in memory: 800 MB)."""

MAX_SKIPPED_DRAWS = 1000
"""Consecutive draws of skipped ids after which :meth:`~LanguageModelSampler.generate` gives up."""
_GREEDY_HINT = (
    " (with top_k=1 or a small temperature, greedy=True (--greedy) takes the likeliest id"
    " outside skip_ids)"
)

# Below this many bytes of weights read per step, the kernel runs its blocks
# serially: thread synchronisation would cost more than it saves.  The blocks,
# and so the results, are the same either way.
_PARALLEL_MIN_BYTES = 1 << 21
# Below this many bytes of weights read over the whole call (words x bytes per
# step), only the serial build runs: a short text takes well under a second
# serially, while the first use of the parallel build compiles it (about 10 s,
# once per machine).
_PARALLEL_MIN_RUN_BYTES = 1 << 31
# Words per kernel call when serial and parallel runs are being compared.
_CHUNK_WORDS = 8
# Every this many chunks, the slower of the two ways is timed again.
_REPROBE_EVERY = 6


class _ModeChooser:
    """Pick serial or parallel kernel runs by their measured time per step.

    Parallel regions pay off on an idle machine; when other processes compete
    for the cores, every barrier may wait for a descheduled thread and the
    serial run is faster.  Both give the same ids, so the choice only affects
    speed.  Each way is timed once, the faster is used, and the other is
    timed again every ``_REPROBE_EVERY`` chunks.
    """

    def __init__(self, allow_parallel):
        self.allow_parallel = allow_parallel
        self.per_step = {}
        self.calls = 0

    def pick(self):
        if not self.allow_parallel:
            return False
        for mode in (True, False):
            if mode not in self.per_step:
                return mode
        self.calls += 1
        best = min(self.per_step, key=self.per_step.get)
        return (not best) if self.calls % _REPROBE_EVERY == 0 else best

    def record(self, mode, seconds, steps):
        if steps > 0:
            self.per_step[mode] = seconds / steps


# --------------------------------------------------------------------------- #
# argument checks
# --------------------------------------------------------------------------- #


#: Below this temperature ``1 / temperature`` overflows float64.
_MIN_TEMPERATURE = 1.0 / np.finfo(np.float64).max


def _check_temperature(temperature):
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a positive number, got {type(temperature).__name__}")
    temperature = float(temperature)
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature}")
    if temperature < _MIN_TEMPERATURE:
        raise ValueError(
            f"temperature {temperature!r} is too small: 1/temperature overflows float64 "
            "(use greedy=True for the limit of a vanishing temperature)"
        )
    return temperature


def _check_top_k(top_k, V):
    """``top_k`` as an int in [1, V], or 0 for "no restriction"."""
    if top_k is None:
        return 0
    top_k = check_int(top_k, "top_k", lo=1)
    return 0 if top_k >= V else top_k


def _skip_mask(skip_ids, V):
    """Boolean mask ``(V,)`` of the ids never to emit."""
    mask = np.zeros(V, dtype=np.bool_)
    if skip_ids is None:
        return mask
    if isinstance(skip_ids, numbers.Integral) and not isinstance(skip_ids, bool):
        skip_ids = [skip_ids]
    ids = np.asarray(list(skip_ids) if not isinstance(skip_ids, np.ndarray) else skip_ids)
    if ids.size == 0:
        return mask
    if ids.dtype.kind not in "iu":
        raise TypeError(f"skip_ids must be integer ids, got dtype {ids.dtype}")
    ids = ids.reshape(-1)
    bad = ids[(ids < 0) | (ids >= V)]
    if bad.size:
        raise ValueError(f"skip_ids contains id {int(bad[0])}; ids must be in [0, {V})")
    mask[ids] = True
    if mask.all():
        raise ValueError(f"skip_ids covers all {V} ids: nothing could ever be generated")
    return mask


# --------------------------------------------------------------------------- #
# one draw in NumPy
# --------------------------------------------------------------------------- #
def softmax64(scores, temperature=1.0):
    """Stable softmax of ``scores / temperature`` in float64 over the last axis.

    Parameters
    ----------
    scores : array_like (..., V)
    temperature : float, default 1.0
        Positive; below 1 sharpens, above 1 flattens the distribution.

    Returns
    -------
    ndarray (..., V) float64
    """
    temperature = _check_temperature(temperature)
    s = np.asarray(scores, dtype=np.float64) / temperature
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


def sample_from_scores(scores, rng=None, *, temperature=1.0, top_k=None, greedy=False):
    """Draw one id from the scores of one step (the module's sampling rule, in NumPy).

    Parameters
    ----------
    scores : array_like
        Scores of one step; flattened to ``(V,)``.
    rng : numpy.random.Generator, numpy.random.RandomState, int or None
        Source of the uniform; None draws from NumPy's global random state (as
        the book's ``np.random.choice``), an int seeds ``np.random.default_rng``.
        Unused if ``greedy``.
    temperature : float, default 1.0
        Scores are divided by it before the softmax.
    top_k : int, optional
        Draw only among the ``top_k`` largest scores.
    greedy : bool, default False
        Return the argmax (first one on ties).

    Returns
    -------
    int
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    V = s.shape[0]
    if V == 0:
        raise ValueError("scores is empty")
    temperature = _check_temperature(temperature)
    top_k = _check_top_k(top_k, V)
    check_flag("greedy", greedy)
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or inf")
    if greedy:
        return int(np.argmax(s))
    with np.errstate(over="ignore"):
        s = s / temperature
    if not np.isfinite(s).all():
        raise ValueError(
            f"the scores divided by temperature {temperature!r} overflow float64: use a larger "
            "temperature, or greedy=True"
        )
    if top_k:
        order = np.argsort(-s, kind="stable")  # ties: lower id first
        masked = np.full(V, -np.inf)
        masked[order[:top_k]] = s[order[:top_k]]
        s = masked
    e = np.exp(s - s.max())
    cdf = np.cumsum(e)
    cdf /= cdf[-1]
    u = as_rng(rng).random()
    return int(min(np.searchsorted(cdf, u, side="right"), V - 1))


# --------------------------------------------------------------------------- #
# the language models' generate / prime
# --------------------------------------------------------------------------- #
class LanguageModelSampler:
    """Text generation for ``Embedding -> (Dropout) -> LSTM ... -> Affine`` models.

    Mixed into :class:`~fastlstm.models.Rnnlm` and
    :class:`~fastlstm.models.BetterRnnlm` (so also their ``...Gen`` classes).
    The model must hold its layers in ``self.layers``: a
    :class:`~fastlstm.layers.TimeEmbedding` first, a
    :class:`~fastlstm.layers.TimeAffine` last, stateful
    :class:`~fastlstm.layers.TimeLSTM` layers and (ignored, as at test time)
    :class:`~fastlstm.layers.TimeDropout` layers in between.
    """

    def _lm_parts(self):
        layers = self.layers
        embed, affine = layers[0], layers[-1]
        if not isinstance(embed, TimeEmbedding) or not isinstance(affine, TimeAffine):
            raise TypeError(
                f"{type(self).__name__} cannot generate: expected TimeEmbedding first and "
                "TimeAffine last in self.layers"
            )
        lstms = []
        for layer in layers[1:-1]:
            if isinstance(layer, TimeLSTM):
                lstms.append(layer)
            elif not isinstance(layer, TimeDropout):
                raise TypeError(
                    f"{type(self).__name__} cannot generate: unsupported layer "
                    f"{type(layer).__name__} (only TimeLSTM and TimeDropout)"
                )
        if not lstms:
            raise TypeError(f"{type(self).__name__} cannot generate: it has no TimeLSTM layer")
        for layer in (embed, *lstms, affine):  # as their forward does: the kernel trusts them
            _check_params(layer)
        return embed, lstms, affine

    @staticmethod
    def _state_row(value, H, dtype, name):
        if value is None:
            return np.zeros(H, dtype=dtype)
        value = np.asarray(value)
        if value.shape != (1, H):
            raise ValueError(
                f"the LSTM state {name} has shape {value.shape}, but generation runs one "
                f"sequence (1, {H}); call reset_state() (or set_state) before generate"
            )
        return value[0]

    def prime(self, word_ids):
        """Feed words through the model to set its state, without sampling.

        This is the priming of the book's ``generate_better_text.py``::

            model.reset_state()
            model.prime(start_ids[:-1])          # "the meaning of life"
            word_ids = model.generate(start_ids[-1], skip_ids)   # "is ..."

        The state is kept (the LSTMs are stateful); dropout is off.

        Parameters
        ----------
        word_ids : sequence of int
            Ids to feed, in order; may be empty.
        """
        embed, lstms, _ = self._lm_parts()
        V = embed.params[0].shape[0]
        ids = np.asarray(word_ids)
        if ids.size == 0:
            return
        if ids.dtype.kind not in "iu":
            raise TypeError(f"word_ids must be integer ids, got dtype {ids.dtype}")
        ids = ids.reshape(1, -1)
        if ids.min() < 0 or ids.max() >= V:
            raise ValueError(
                f"word_ids must be in [0, {V}), got values in [{ids.min()}, {ids.max()}]"
            )
        check_finite_params(self.params, type(self).__name__)
        emb, Wxs, Whs, bs = self._fused_weights(embed, lstms)
        hs, cs = self._fused_state(lstms, emb.dtype)
        _kgen.lm_feed(emb, Wxs, Whs, bs, hs, cs, ids.reshape(-1).astype(np.int64), CHUNKS)
        self._store_state(lstms, hs, cs)

    def generate(
        self,
        start_id,
        skip_ids=None,
        sample_size=100,
        *,
        temperature=1.0,
        top_k=None,
        greedy=False,
        rng=None,
    ):
        """Generate word ids one at a time, starting from ``start_id`` (book semantics).

        The model is stateful across calls, as in the book: the LSTM state
        left by the previous call (or by :meth:`prime`) is the starting state;
        call ``reset_state()`` to start afresh.  The whole loop runs in one
        compiled kernel (dropout off).

        Parameters
        ----------
        start_id : int
            First word id; it is the first element of the result.
        skip_ids : sequence of int, optional
            Ids never emitted.  When one is drawn, the same input is fed again
            (the state advances) and a new draw is made, as in the book.
        sample_size : int, default 100
            Length of the result (``sample_size - 1`` ids are generated).
        temperature : float, default 1.0
            Scores are divided by it before the softmax.
        top_k : int, optional
            Draw only among the ``top_k`` most likely ids (``top_k=1`` is greedy).
        greedy : bool, default False
            Take the most likely id outside ``skip_ids`` at every step instead
            of drawing.
        rng : numpy.random.Generator, numpy.random.RandomState, int or None
            Source of the draws: one uniform per draw, as ``rng.choice(V, p=p)``,
            so the same generator state gives the ids of the book's generator.
            None draws from NumPy's global random state, as the book's
            ``np.random.choice`` (``np.random.seed(n)`` repeats the text); an
            int seeds ``np.random.default_rng``.

        Returns
        -------
        list of int
            ``sample_size`` ids.

        Raises
        ------
        ValueError
            For invalid arguments, if ``skip_ids`` covers every id, or if the
            scores become NaN or inf.
        RuntimeError
            If ``MAX_SKIPPED_DRAWS`` consecutive draws hit ``skip_ids`` (e.g. all
            the probability is on skipped ids).
        """
        embed, lstms, affine = self._lm_parts()
        check_finite_params(self.params, type(self).__name__)
        emb = embed.params[0]
        V = emb.shape[0]
        start_id = check_int(start_id, "start_id", lo=0, hi=V)
        sample_size = check_int(sample_size, "sample_size", lo=1)
        temperature = _check_temperature(temperature)
        top_k = _check_top_k(top_k, V)
        check_flag("greedy", greedy)
        skip = _skip_mask(skip_ids, V)
        if not greedy:
            rng = as_rng(rng)

        out, status, n_out = self._sample_fused(
            embed, lstms, affine, start_id, sample_size, (temperature, top_k, greedy), skip, rng
        )
        if status == _kgen.TOO_MANY_SKIPS:
            raise RuntimeError(
                f"generate gave up after {MAX_SKIPPED_DRAWS} consecutive draws of skipped ids "
                f"({n_out} of {sample_size} ids generated): the model puts (almost) all "
                "probability on skip_ids" + _GREEDY_HINT
            )
        if status == _kgen.BAD_SCORES:
            if temperature < 1.0 and all(np.isfinite(p).all() for p in self.params):
                raise ValueError(
                    f"the scores divided by temperature {temperature!r} overflow float64 "
                    "during generation: use a larger temperature, or greedy=True"
                )
            raise ValueError(
                "the model's scores contain NaN or inf during generation (diverged parameters?)"
            )
        return [int(i) for i in out]

    def _sample_fused(self, embed, lstms, affine, start_id, sample_size, rule, skip, rng):
        """Run the fused sampling kernel; ``(ids, status, n_out)``, LSTM states updated."""
        temperature, top_k, greedy = rule
        emb, Wxs, Whs, bs = self._fused_weights(embed, lstms)
        W_out, b_out = affine.params
        WoutT = np.ascontiguousarray(W_out.T)  # (V, H); the embedding itself when tied
        b_out = np.ascontiguousarray(b_out)
        hs, cs = self._fused_state(lstms, emb.dtype)

        step_bytes = WoutT.nbytes + sum(w.nbytes for w in Wxs + Whs)
        chooser = _ModeChooser(
            CHUNKS > 1
            and step_bytes >= _PARALLEL_MIN_BYTES
            and step_bytes * sample_size >= _PARALLEL_MIN_RUN_BYTES
        )

        out = np.empty(sample_size, dtype=np.int64)
        out[0] = start_id
        n_out, x, skipped = 1, start_id, 0
        # uniforms: exactly as many are drawn as the book's generator would draw
        u = np.empty(0, dtype=np.float64)
        u_pos = 0
        status = _kgen.DONE
        while n_out < sample_size:
            if not greedy and u_pos == u.shape[0]:
                # what the remaining words need; a skipped draw asks for more later
                u = rng.random(sample_size - n_out)
                u_pos = 0
            stop = min(sample_size, n_out + _CHUNK_WORDS) if chooser.allow_parallel else sample_size
            parallel = chooser.pick()
            t0 = time.perf_counter()
            kernel = _kgen.lm_sample.parallel if parallel else _kgen.lm_sample.serial
            n_out, n_used, steps, x, skipped, status = kernel(
                emb,
                Wxs,
                Whs,
                bs,
                WoutT,
                b_out,
                hs,
                cs,
                x,
                u[u_pos:],
                skip,
                temperature,
                top_k,
                greedy,
                MAX_SKIPPED_DRAWS,
                skipped,
                out[:stop],
                n_out,
                CHUNKS,
            )
            chooser.record(parallel, time.perf_counter() - t0, steps)
            u_pos += n_used
            if status not in (_kgen.DONE, _kgen.NEED_UNIFORMS):
                break

        self._store_state(lstms, hs, cs)
        return out, status, n_out

    @staticmethod
    def _fused_weights(embed, lstms):
        """Embedding and LSTM weights as the fused kernels take them (no copies for
        C-contiguous arrays): ``emb (V, D)`` and tuples ``Wx``, ``Wh``, ``b`` per layer."""
        Wxs = _same_type(np.ascontiguousarray(layer.params[0]) for layer in lstms)
        Whs = _same_type(np.ascontiguousarray(layer.params[1]) for layer in lstms)
        bs = _same_type(np.ascontiguousarray(layer.params[2]) for layer in lstms)
        return np.ascontiguousarray(embed.params[0]), Wxs, Whs, bs

    def _fused_state(self, lstms, dtype):
        """The LSTM layers' states as ``(L, H)`` arrays ``hs``, ``cs`` (zeros when unset)."""
        H = lstms[0].H
        hs = np.empty((len(lstms), H), dtype=dtype)
        cs = np.empty((len(lstms), H), dtype=dtype)
        for k, layer in enumerate(lstms):
            hs[k] = self._state_row(layer.h, H, dtype, "h")
            cs[k] = self._state_row(layer.c, H, dtype, "c")
        return hs, cs

    @staticmethod
    def _store_state(lstms, hs, cs):
        for k, layer in enumerate(lstms):
            layer.set_state(hs[k : k + 1].copy(), cs[k : k + 1].copy())


def _same_type(arrays) -> tuple:
    """``arrays`` as a tuple the kernel can index: read-only ones copied when some are not."""
    arrays = tuple(arrays)
    if len({a.flags.writeable for a in arrays}) > 1:
        arrays = tuple(a if a.flags.writeable else a.copy() for a in arrays)
    return arrays


# --------------------------------------------------------------------------- #
# any language model: read words, then draw
# --------------------------------------------------------------------------- #
def _generate_by_predict(model, start_ids, length, skip_ids, options):
    """The book's generate loop over ``model.predict`` (models without the fused kernel)."""
    scores = np.asarray(model.predict(np.asarray([start_ids], dtype=np.int32)))[0, -1]  # (V,)
    skip = _skip_mask(skip_ids, scores.shape[-1])
    x, out, skipped = start_ids[-1], [], 0
    while len(out) < length:
        if options.get("greedy"):  # the best id outside skip_ids: never a skipped draw
            s = np.asarray(scores, dtype=np.float64).reshape(-1)
            if not np.isfinite(s).all():
                raise ValueError("scores contain NaN or inf")
            word = int(np.argmax(np.where(skip, -np.inf, s)))
        else:
            word = sample_from_scores(scores, **options)
        if skip[word]:  # the book: feed the same word again and draw anew
            skipped += 1
            if skipped >= MAX_SKIPPED_DRAWS:
                raise RuntimeError(
                    f"generation gave up after {MAX_SKIPPED_DRAWS} consecutive draws of "
                    "skipped ids: the model puts (almost) all probability on skip_ids"
                    + _GREEDY_HINT
                )
        else:
            x, skipped = word, 0
            out.append(word)
        scores = np.asarray(model.predict(np.array([[x]], dtype=np.int32)))[0, -1]
    return out


def generate_words(
    model,
    start_ids,
    length,
    *,
    skip_ids=None,
    temperature=1.0,
    top_k=None,
    greedy=False,
    rng=None,
):
    """Read ``start_ids`` with a language model, then draw ``length`` more word ids.

    The one text generator of fastlstm: models with the fused kernel
    (:class:`LanguageModelSampler`: ``Rnnlm``, ``BetterRnnlm``) use
    :meth:`~LanguageModelSampler.prime` and
    :meth:`~LanguageModelSampler.generate`; others (``SimpleRnnlm``, any model
    with ``predict(xs (1, T)) -> scores (1, T, V)`` and ``reset_state``) run the
    same rule (:func:`sample_from_scores`, one uniform per draw, skipped words
    drawn again as in the book) in NumPy.  The model's state is reset before and
    after.

    Parameters
    ----------
    model : object
        A language model.
    start_ids : sequence of int
        Words read first (at least one).
    length : int
        Number of ids to draw (>= 0).
    skip_ids : sequence of int, optional
        Ids never drawn (the book's ``skip_ids``).
    temperature, top_k, greedy, rng
        As in :meth:`LanguageModelSampler.generate`.

    Returns
    -------
    list of int
        The ``length`` drawn ids (without ``start_ids``).
    """
    start_ids = [int(i) for i in np.asarray(start_ids).reshape(-1)]
    if not start_ids:
        raise ValueError("start_ids must hold at least one word id")
    length = check_int(length, "length", lo=0, hi=MAX_LENGTH + 1)
    check_flag("greedy", greedy)
    options = {"temperature": temperature, "top_k": top_k, "greedy": greedy}
    if not greedy:
        rng = np.random.default_rng(rng)
    model.reset_state()
    try:
        if length == 0:
            return []
        if isinstance(model, LanguageModelSampler):
            model.prime(start_ids[:-1])
            ids = model.generate(start_ids[-1], skip_ids, length + 1, rng=rng, **options)
            return ids[1:]
        return _generate_by_predict(model, start_ids, length, skip_ids, {"rng": rng, **options})
    finally:
        model.reset_state()
