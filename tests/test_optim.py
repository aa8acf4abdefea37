"""fastlstm.optim against the NumPy reference (reference.optim, the book's rules)."""

from __future__ import annotations

import numpy as np
import pytest

import reference.optim as ref
from fastlstm import optim
from fastlstm._kernels import optim as kernels

# (name, constructor kwargs): non-default hyperparameters so that a swapped or
# ignored argument shows up
CASES = [
    ("SGD", {"lr": 0.1}),
    ("Momentum", {"lr": 0.05, "momentum": 0.8}),
    ("Nesterov", {"lr": 0.05, "momentum": 0.7}),
    ("AdaGrad", {"lr": 0.1}),
    ("RMSprop", {"lr": 0.01, "decay_rate": 0.9}),
    ("Adam", {"lr": 0.01, "beta1": 0.8, "beta2": 0.99}),
]
STATE = {"SGD": (), "Momentum": ("v",), "Nesterov": ("v",), "AdaGrad": ("h",)}
STATE.update({"RMSprop": ("h",), "Adam": ("m", "v")})
TOL = {np.float32: dict(rtol=1e-6, atol=1e-7), np.float64: dict(rtol=1e-12, atol=1e-14)}
# small shapes take the serial kernels; (300, 260) > kernels.UPDATE_PARALLEL_MIN the parallel ones
SHAPES = [(7, 12), (12,), (3, 4, 5), (1,)]
BIG = (300, 260)


def make_params(rng, dtype, shapes):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def make_grads(rng, params):
    return [rng.standard_normal(p.shape).astype(p.dtype) for p in params]


def run_both(name, kwargs, dtype, shapes, steps, seed=0):
    rng = np.random.default_rng(seed)
    params = make_params(rng, dtype, shapes)
    fast_p = [p.copy() for p in params]
    ref_p = [p.copy() for p in params]
    fast = getattr(optim, name)(**kwargs)
    oracle = getattr(ref, name)(**kwargs)
    fast_g = [np.empty_like(p) for p in params]  # the same arrays every step, as in a model
    for _ in range(steps):
        grads = make_grads(rng, params)
        for dst, src in zip(fast_g, grads):
            dst[...] = src
        fast.update(fast_p, fast_g)
        oracle.update(ref_p, grads)
    return fast, oracle, fast_p, ref_p, params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kwargs", CASES, ids=[c[0] for c in CASES])
def test_matches_reference(name, kwargs, dtype):
    fast, oracle, fast_p, ref_p, start = run_both(name, kwargs, dtype, SHAPES, steps=5)
    for f, r, s in zip(fast_p, ref_p, start):
        assert f.dtype == dtype
        assert not np.array_equal(f, s)  # the parameters did move
        np.testing.assert_allclose(f, r, **TOL[dtype])
    for attr in STATE[name]:
        for f, r in zip(getattr(fast, attr), getattr(oracle, attr)):
            assert f.dtype == dtype
            np.testing.assert_allclose(f, r, **TOL[dtype])
    if name == "Adam":
        assert fast.iter == oracle.iter == 5


@pytest.mark.parametrize("name,kwargs", CASES, ids=[c[0] for c in CASES])
def test_parallel_kernels_match_reference(name, kwargs):
    assert np.prod(BIG) > kernels.UPDATE_PARALLEL_MIN
    fast, oracle, fast_p, ref_p, _ = run_both(name, kwargs, np.float32, [BIG, (5,)], steps=3)
    for f, r in zip(fast_p, ref_p):
        np.testing.assert_allclose(f, r, **TOL[np.float32])


def test_parallel_equals_serial_bitwise():
    rng = np.random.default_rng(1)
    n = 3 * kernels.CHUNK + 17
    p, g, m, v = (rng.standard_normal(n).astype(np.float32) for _ in range(4))
    v = np.abs(v)
    f = np.float32
    args = (f(0.1), f(0.01), f(0.003), f(1e-7))
    a = [x.copy() for x in (p, g, m, v)]
    b = [x.copy() for x in (p, g, m, v)]
    kernels.adam(*a, *args)
    kernels.adam_parallel(*b, *args)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert kernels.sum_squares_parallel(g) == kernels.sum_squares_parallel(g.copy())
    assert kernels.sum_squares_parallel.serial(g) == kernels.sum_squares_parallel(g)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fortran_ordered_params(dtype):
    # a parameter stored in Fortran order (e.g. a transposed weight owned alone)
    rng = np.random.default_rng(2)
    p = np.asfortranarray(rng.standard_normal((6, 9)).astype(dtype))
    g = np.asfortranarray(rng.standard_normal((6, 9)).astype(dtype))
    p_ref = np.ascontiguousarray(p)
    optim.Adam(lr=0.1).update([p], [g])
    ref.Adam(lr=0.1).update([p_ref], [g.copy()])
    np.testing.assert_allclose(p, p_ref, **TOL[dtype])


@pytest.mark.parametrize("name,kwargs", CASES, ids=[c[0] for c in CASES])
def test_state_dict_round_trip(name, kwargs):
    rng = np.random.default_rng(3)
    params = make_params(rng, np.float32, SHAPES)
    a = getattr(optim, name)(**kwargs)
    for _ in range(3):
        a.update(params, make_grads(rng, params))
    saved = a.state_dict()
    assert saved["name"] == name
    assert saved["lr"] == kwargs["lr"]
    b = getattr(optim, name)()  # default hyperparameters, overwritten by the load
    b.load_state_dict(saved)
    params_b = [p.copy() for p in params]
    for _ in range(3):
        grads = make_grads(rng, params)
        a.update(params, [g.copy() for g in grads])
        b.update(params_b, grads)
    for x, y in zip(params, params_b):
        assert np.array_equal(x, y)
    # the snapshot is a copy: later updates did not change it
    for attr in STATE[name]:
        for snap, live in zip(saved[attr], getattr(a, attr)):
            assert not np.array_equal(snap, live)


def test_new_state_arrays_are_picked_up():
    # the flat views are cached per set of arrays; replacing the state must not
    # leave the optimizer writing into the old arrays
    p = [np.ones(4)]
    g = [np.ones(4)]
    opt = optim.Momentum(lr=0.5, momentum=0.5)
    opt.update(p, g)
    old = opt.v[0]
    opt.v = [np.zeros(4)]  # reset the velocity by hand
    opt.update(p, g)
    np.testing.assert_array_equal(opt.v[0], -0.5)
    np.testing.assert_array_equal(old, -0.5)  # untouched by the second update
    np.testing.assert_array_equal(p[0], 0.0)


def test_state_dict_before_first_update_and_wrong_class():
    d = optim.Adam(lr=0.5).state_dict()
    assert d["m"] is None and d["v"] is None and d["iter"] == 0
    opt = optim.Adam()
    opt.load_state_dict(d)
    assert opt.lr == 0.5 and opt.m is None
    with pytest.raises(ValueError, match="Adam"):
        optim.SGD().load_state_dict(d)
    with pytest.raises(ValueError, match="lacks"):
        optim.Adam().load_state_dict({"name": "Adam", "lr": 0.1})


def test_loaded_float64_state_adapts_to_float32_params():
    rng = np.random.default_rng(4)
    params = make_params(rng, np.float32, [(4, 3)])
    grads = make_grads(rng, params)
    a = optim.Momentum(lr=0.1)
    a.update(params, grads)
    d = a.state_dict()
    d["v"] = [v.astype(np.float64) for v in d["v"]]  # e.g. read back from a file
    b = optim.Momentum()
    b.load_state_dict(d)
    p2 = [params[0].copy()]
    a.update(params, grads)
    b.update(p2, grads)
    assert b.v[0].dtype == np.float32
    np.testing.assert_array_equal(params[0], p2[0])


def test_update_validates_input():
    p = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="same length"):
        optim.SGD().update([p], [])
    with pytest.raises(ValueError, match="shape"):
        optim.SGD().update([p], [np.zeros((4, 3), np.float32)])
    with pytest.raises(TypeError, match="dtype"):
        optim.SGD().update([p], [np.zeros((3, 4), np.float64)])
    with pytest.raises(TypeError, match="float32 or float64"):
        optim.SGD().update([np.zeros(3, np.int64)], [np.zeros(3, np.int64)])
    with pytest.raises(TypeError, match="numpy array"):
        optim.SGD().update([[1.0, 2.0]], [np.zeros(2)])
    # a transposed view with a C-ordered gradient cannot be updated through a flat view
    W = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="unique_params"):
        optim.SGD().update([W.T], [np.zeros((3, 4), np.float32)])
    # the state no longer matches the parameter list
    opt = optim.Adam()
    opt.update([p], [np.ones_like(p)])
    with pytest.raises(ValueError, match="shape"):
        opt.update([p.T.copy()], [np.ones((4, 3), np.float32)])
    with pytest.raises(ValueError, match="holds 1 arrays"):
        opt.update([p, p], [np.ones_like(p), np.ones_like(p)])
    assert opt.iter == 1  # failed updates do not count


# -- clip_grads --------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grads_matches_reference(dtype, max_norm):
    rng = np.random.default_rng(5)
    grads = [rng.standard_normal(s).astype(dtype) for s in [(30, 40), (40,), BIG]]
    original = [g.copy() for g in grads]
    expected = [g.copy() for g in grads]
    ref.clip_grads(expected, max_norm)
    norm = optim.clip_grads(grads, max_norm)
    exact = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in original))
    np.testing.assert_allclose(norm, exact, rtol=1e-12)
    for g, e, o in zip(grads, expected, original):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, e, **TOL[dtype])
        assert np.array_equal(g, o) == (max_norm > exact)
    clipped_norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads))
    assert clipped_norm <= max_norm * (1 + 1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grads_scales_like_numpy_in_every_layout(dtype):
    """Large contiguous gradients are scaled in parallel chunks, others by NumPy: the same
    ``g * rate`` in ``g``'s dtype either way, bit for bit; the norm sums the same chunks
    in the same order whether they run in parallel (large) or one after another (medium)."""
    from fastlstm._kernels import optim as ko

    rng = np.random.default_rng(9)
    big = rng.standard_normal(ko.NORM_PARALLEL_MIN + 7).astype(dtype)
    medium = rng.standard_normal(3 * ko.CHUNK + 7).astype(dtype)
    strided = rng.standard_normal((ko.CHUNK // 64 + 3, 130)).astype(dtype).T  # not contiguous
    small = rng.standard_normal((7, 5)).astype(dtype)
    grads = [big, medium, strided, small]
    squares = [ko.sum_squares_parallel(big), ko.sum_squares_parallel(medium)]
    squares += [ko.sum_squares(g.ravel(order="K")) for g in (strided, small)]
    original = [g.copy() for g in grads]
    norm = optim.clip_grads(grads, 0.5)
    assert norm == np.sqrt(((squares[0] + squares[1]) + squares[2]) + squares[3])
    rate = dtype(0.5 / (norm + 1e-6))
    for g, o in zip(grads, original):
        expected = np.multiply(o, rate)
        assert g.tobytes() == np.ascontiguousarray(expected).reshape(g.shape).tobytes()
        assert not np.array_equal(g, o)


def test_clip_grads_scales_and_validates():
    g = [np.full((2, 2), 3.0), np.full(1, 4.0)]  # norm sqrt(4 * 9 + 16) = sqrt(52)
    norm = optim.clip_grads(g, 1.0)
    assert norm == pytest.approx(np.sqrt(52.0), rel=1e-15)
    rate = 1.0 / (np.sqrt(52.0) + 1e-6)
    np.testing.assert_allclose(g[0], 3.0 * rate, rtol=1e-15)
    np.testing.assert_allclose(g[1], 4.0 * rate, rtol=1e-15)
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_grads(g, 0.0)
    with pytest.raises(TypeError, match="grads"):
        optim.clip_grads(np.zeros(3), 1.0)
    with pytest.raises(TypeError, match="max_norm must be a positive number, got '2'"):
        optim.clip_grads(g, "2")  # it was read as 2.0
    ro = np.full(3 * 16384, 2.0, np.float32)
    ro.flags.writeable = False
    g = [np.full(5, 3.0), ro]
    with pytest.raises(ValueError, match=r"grads\[1\] is read-only"):
        optim.clip_grads(g, 1.0)
    assert np.all(g[0] == 3.0)  # none scaled
    assert optim.clip_grads(g, 1e6) > 0  # no scaling needed: read-only is fine


# -- unique_params -----------------------------------------------------------
def test_unique_params_tied_transpose_and_repeated_object():
    rng = np.random.default_rng(6)
    E = rng.standard_normal((5, 3))  # embedding (V, D)
    b = rng.standard_normal(5)
    R = rng.standard_normal((3, 3))
    params = [E, R, E.T, b, R]  # E.T: TimeAffine(E.T, b) weight tying; R repeated
    grads = [rng.standard_normal(p.shape) for p in params]
    expected_E = grads[0] + grads[2].T
    expected_R = grads[1] + grads[4]
    ref_params, ref_grads = ref.remove_duplicate(params, [g.copy() for g in grads])

    p_u, g_u = optim.unique_params(params, grads)
    assert len(p_u) == 3
    assert p_u[0] is E and p_u[1] is R and p_u[2] is b
    np.testing.assert_allclose(g_u[0], expected_E, rtol=1e-15)
    np.testing.assert_allclose(g_u[1], expected_R, rtol=1e-15)
    assert g_u[0] is grads[0]  # added in place into the kept gradient, as the book does
    for got, want in zip(g_u, ref_grads):
        np.testing.assert_allclose(got, want, rtol=1e-15)
    assert [p is q for p, q in zip(p_u, ref_params)] == [True] * 3


def test_unique_params_keeps_the_weight_when_its_view_comes_first():
    rng = np.random.default_rng(7)
    W = rng.standard_normal((4, 6)).astype(np.float32)
    params = [W.T, W]
    grads = [np.zeros_like(W.T), rng.standard_normal(W.shape).astype(np.float32)]
    grads[0][...] = rng.standard_normal(W.T.shape)
    expected = grads[1] + grads[0].T
    p_u, g_u = optim.unique_params(params, grads)
    assert len(p_u) == 1 and p_u[0] is W
    np.testing.assert_allclose(g_u[0], expected, rtol=1e-6)


def test_unique_params_uses_identity_not_values():
    # equal values but distinct memory: never merged (the book merges by value)
    A = np.zeros((3, 3))
    B = np.zeros((3, 3))
    params = [A, B, A.T.copy()]
    grads = [np.ones((3, 3)) for _ in params]
    p_u, g_u = optim.unique_params(params, grads)
    assert len(p_u) == 3
    for g in g_u:
        np.testing.assert_array_equal(g, 1.0)
    # a square weight and its transpose view are merged with a transpose
    S = np.arange(9.0).reshape(3, 3)
    gs = [np.arange(9.0).reshape(3, 3), 10 * np.arange(9.0).reshape(3, 3)]
    p_u, g_u = optim.unique_params([S, S.T], gs)
    assert len(p_u) == 1
    np.testing.assert_array_equal(
        g_u[0], np.arange(9.0).reshape(3, 3) + 10 * np.arange(9.0).reshape(3, 3).T
    )


def test_unique_params_cache_follows_the_arrays():
    W = np.ones((2, 3))
    p1 = [W, W.T]
    for _ in range(3):  # cached plan, grads recomputed each call
        grads = [np.ones((2, 3)), np.full((3, 2), 2.0)]
        p_u, g_u = optim.unique_params(p1, grads)
        assert len(p_u) == 1
        np.testing.assert_array_equal(g_u[0], 3.0)
    # a different list with no sharing
    p2 = [np.ones((2, 3)), np.ones((3, 2))]
    p_u, _ = optim.unique_params(p2, [np.ones((2, 3)), np.ones((3, 2))])
    assert len(p_u) == 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["tied F-order view", "tied C-order copy", "repeated"])
def test_unique_params_large_sums_have_the_bits_of_numpy(dtype, layout):
    """Above ``NORM_PARALLEL_MIN`` elements the sums run on both cores: the same bits as
    ``np.add``, whether the transposed gradient is contiguous in the same order (the
    BetterRnnlm case: an F-ordered gradient of ``embed_W.T``) or not (then NumPy adds)."""
    rng = np.random.default_rng(9)
    V, D = 1031, kernels.NORM_PARALLEL_MIN // 1000 + 7  # more than NORM_PARALLEL_MIN elements
    E = rng.standard_normal((V, D)).astype(dtype)
    if layout == "repeated":
        params = [E, E]
        g1 = rng.standard_normal((V, D)).astype(dtype)
    else:
        params = [E, E.T]
        g1 = rng.standard_normal((D, V)).astype(dtype)
        if layout == "tied F-order view":
            g1 = np.asfortranarray(g1)
    g0 = rng.standard_normal((V, D)).astype(dtype)
    expected = g0.copy()
    np.add(expected, g1.T if layout != "repeated" else g1, out=expected)
    grads = [g0, g1]
    before = g1.copy()
    p_u, g_u = optim.unique_params(params, grads)
    assert len(p_u) == 1 and g_u[0] is g0
    np.testing.assert_array_equal(g_u[0], expected)  # every bit
    np.testing.assert_array_equal(g1, before)  # the dropped gradient is not modified
    # the same gradient object twice doubles it (as np.add(g, g, out=g))
    g = rng.standard_normal((V, D)).astype(dtype)
    doubled = g + g
    _, (got,) = optim.unique_params([E, E], [g, g])
    np.testing.assert_array_equal(got, doubled)


def test_unique_params_large_read_only_gradient_is_numpys_error():
    E = np.ones((1100, 1000), dtype=np.float32)
    g0 = np.ones_like(E)
    g0.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        optim.unique_params([E, E.T], [g0, np.ones((1000, 1100), dtype=np.float32)])


def test_unique_params_validates():
    W = np.ones((2, 3))
    with pytest.raises(ValueError, match="same length"):
        optim.unique_params([W], [])
    with pytest.raises(ValueError, match="shape"):
        optim.unique_params([W], [np.ones((3, 2))])


def test_optimizer_after_unique_params_updates_the_tied_weight():
    rng = np.random.default_rng(8)
    E = rng.standard_normal((5, 3)).astype(np.float32)
    params = [E, E.T]
    grads = [rng.standard_normal((5, 3)).astype(np.float32), np.zeros_like(E.T)]
    grads[1][...] = rng.standard_normal((3, 5))
    total = grads[0] + grads[1].T
    before = E.copy()
    optim.SGD(lr=0.5).update(*optim.unique_params(params, grads))
    np.testing.assert_allclose(E, before - np.float32(0.5) * total, rtol=1e-6)


# -- PlateauDecay -------------------------------------------------------------
def test_plateau_decay():
    opt = optim.SGD(lr=20.0)
    decay = optim.PlateauDecay(opt, factor=4.0)
    assert decay.step(300.0) is True
    assert decay.step(250.0) is True
    assert opt.lr == 20.0
    assert decay.step(260.0) is False
    assert opt.lr == 5.0
    assert decay.best == 250.0
    acc = optim.PlateauDecay(opt, factor=2.0, mode="max")
    assert acc.step(0.5) and not acc.step(0.4)
    assert opt.lr == 2.5
    with pytest.raises(ValueError, match="factor"):
        optim.PlateauDecay(opt, factor=1.0)
    with pytest.raises(TypeError, match="lr"):
        optim.PlateauDecay(object())


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: optim.SGD(lr=None), r"SGD\.lr must be a real number, got NoneType"),
        (lambda: optim.Momentum(momentum=None), r"Momentum\.momentum must be a real number"),
        (lambda: optim.SGD(lr=[0.1]), r"SGD\.lr must be a real number, got list"),
        (lambda: optim.Adam(lr=np.array([1e-3])), r"Adam\.lr must be a real number, got ndarray"),
        (
            lambda: optim.RMSprop(decay_rate=True),
            r"RMSprop\.decay_rate must be a real number, got bool",
        ),
    ],
)
def test_hyperparameters_that_are_not_numbers_are_refused(make, match):
    W, g = np.ones(3, np.float32), np.ones(3, np.float32)
    with pytest.raises(TypeError, match=match):
        make().update([W], [g])
    assert (W == 1).all()


def test_a_nan_learning_rate_set_between_updates_is_refused():
    W, g = np.ones(3, np.float32), np.ones(3, np.float32)
    opt = optim.AdaGrad(lr=0.1)
    opt.update([W], [g])
    before = W.copy()
    opt.lr = float("nan")  # as the book's trainers change lr between updates
    with pytest.raises(ValueError, match=r"AdaGrad\.lr must be finite, got nan"):
        opt.update([W], [g])
    np.testing.assert_array_equal(W, before)


def test_parameters_made_read_only_after_an_update_are_refused():
    W, g = np.ones(3, np.float32), np.ones(3, np.float32)
    opt = optim.SGD(0.1)
    opt.update([W], [g])
    W.setflags(write=False)
    with pytest.raises(ValueError, match=r"params\[0\] is read-only"):
        opt.update([W], [g])
