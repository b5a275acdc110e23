"""Property-based bad-input contract over the public kernel API (hypothesis).

Each kernel below has a spec: a strategy for valid arguments and an independent NumPy
reference that REFUSES (``Refused``, naming the arguments at fault) whatever the kernel's
documented domain excludes and otherwise computes the expected result. Hypothesis draws valid
arguments, then at most one mutation of one argument (another rank or size, an integer, bool,
float16 or complex dtype, a list, NaN, Inf, a negative or zero value, reversed save times), and
calls the kernel eagerly or under ``jax.jit``. The property:

* the spec refuses -> the kernel raises ``ValueError`` / ``TypeError`` (or, under ``jit``, the
  run-time check's error) whose first line starts with ``<an argument the spec named>:``;
* the spec accepts -> the kernel returns what the reference computes (finite wherever the
  reference is finite).

Documented exceptions are part of the specs: the finite-difference Laplacian does not check the
values of ``u`` (NaN in, NaN out: it is an operator applied inside loops), and the nn kernels
check shapes and dtypes but not values (they run inside training loops; NaN propagates to the
loss, where the run's NaN guard stops). The ``ci`` profile (default) runs a fixed, derandomized
set of examples; ``PARALLAX_HYPOTHESIS_PROFILE=explore`` draws many more at random.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from parallax.kernels import nn, ode, particles, pde, sde

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "explore",
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = os.environ.get("PARALLAX_HYPOTHESIS_PROFILE", "ci")


class Refused(Exception):  # the spec's verdict: these arguments are outside the domain
    def __init__(self, *names: str):
        super().__init__(", ".join(names))
        self.names = names


# -- the spec's vocabulary -------------------------------------------------------------------
def _dtype(x: Any) -> np.dtype | None:
    return np.asarray(x).dtype if isinstance(x, np.ndarray | jax.Array) else None


def state(name: str, x: Any, *, min_ndim: int = 0, finite: bool = True) -> np.ndarray:
    """A simulation state: an array of float32/float64 (float64 runs as float32 here)."""
    if not isinstance(x, np.ndarray | jax.Array):
        raise Refused(name)
    if np.asarray(x).dtype not in (np.float32, np.float64) or x.ndim < min_ndim:
        raise Refused(name)
    a = np.asarray(x, np.float64)
    if finite and not np.all(np.isfinite(a)):
        raise Refused(name)
    return a


def floating(name: str, x: Any) -> np.ndarray:
    """Any floating array (nn and geometry kernels)."""
    if not isinstance(x, np.ndarray | jax.Array) or not np.issubdtype(x.dtype, np.floating):
        raise Refused(name)
    return np.asarray(x, np.float64)


def scalar(name: str, x: Any, *, positive: bool = False, nonneg: bool = False) -> float:
    """A real number of rank 0 (Python or NumPy int/float; not bool, not complex), finite."""
    a = np.asarray(x) if isinstance(x, int | float | np.ndarray | np.generic) else None
    if a is None or isinstance(x, bool) or a.ndim != 0:
        raise Refused(name)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise Refused(name)
    v = float(a)
    if not np.isfinite(v) or (positive and v <= 0) or (nonneg and v < 0):
        raise Refused(name)
    return v


# -- mutations ---------------------------------------------------------------------------------
def _nan_at_0(x: np.ndarray, v: float) -> np.ndarray:
    y = np.array(x, copy=True)
    y.flat[0] = v
    return y


ARRAY_MUTATIONS: dict[str, Callable[[np.ndarray], Any]] = {
    "rank_up": lambda x: x[None],
    "rank_down": lambda x: x[..., 0],
    "shrink": lambda x: x[..., :-1],
    "grow": lambda x: np.concatenate([x, x[..., :1]], axis=-1),
    "int32": lambda x: x.astype(np.int32),
    "bool": lambda x: x > 0,
    "float16": lambda x: x.astype(np.float16),
    "complex": lambda x: x.astype(np.complex64),
    "list": lambda x: x.tolist(),
    "nan": lambda x: _nan_at_0(x, np.nan),
    "inf": lambda x: _nan_at_0(x, np.inf),
    "negate": lambda x: -np.abs(x) - 0.5,
    "zero": np.zeros_like,
    "reverse": lambda x: x[..., ::-1].copy(),
}
SCALAR_MUTATIONS: dict[str, Callable[[float], Any]] = {
    "rank_up": lambda v: np.asarray([v, v], np.float32),
    "int": lambda v: round(v),
    "bool": lambda v: True,
    "complex": lambda v: complex(v, 1.0),
    "nan": lambda v: float("nan"),
    "inf": lambda v: float("inf"),
    "negate": lambda v: -abs(v) - 0.5,
    "zero": lambda v: 0.0,
}
STATE = ("rank_up", "shrink", "int32", "bool", "float16", "complex", "list", "nan", "inf")
PARAMS = tuple(m for m in STATE if m != "list")  # parameter arrays also take lists
NUMBER = tuple(SCALAR_MUTATIONS)


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _array(data: st.DataObject, shape: tuple[int, ...], lo: float, hi: float) -> np.ndarray:
    seed = data.draw(st.integers(0, 2**16), label="seed")
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(np.float32)


@dataclass
class Spec:
    """One kernel: ``draw`` valid arguments, ``call`` the kernel, ``reference`` the verdict."""

    name: str
    draw: Callable[[st.DataObject], dict[str, Any]]
    call: Callable[..., Any]
    reference: Callable[..., Any]
    mutable: dict[str, tuple[str, ...]]
    rtol: float = 2e-4
    eager: bool = True  # also call it eagerly (False: jit only, where eager calls are slow)
    jitted: Any = field(default=None, repr=False)

    def run(self, args: dict[str, Any], eager: bool) -> Any:
        if eager and self.eager:
            return self.call(**args)
        if self.jitted is None:
            self.jitted = jax.jit(lambda kw: self.call(**kw))
        return self.jitted(args)


# -- pde ---------------------------------------------------------------------------------------
def _heat_draw(data):
    shape = (data.draw(st.sampled_from([1, 2])), data.draw(st.sampled_from([8, 12])))
    return {
        "u0": _array(data, shape, -1, 1),
        "dt": data.draw(_floats(1e-3, 0.5)),
        "nu": data.draw(_floats(0.0, 1.0)),
    }


def _heat_ref(u0, dt, nu):
    u = state("u0", u0, min_ndim=1)
    dt, nu = scalar("dt", dt, positive=True), scalar("nu", nu, nonneg=True)
    n = u.shape[-1]
    if n < 4:
        raise Refused("u0")
    k = np.fft.rfftfreq(n, 1.0 / n)
    return np.fft.irfft(np.exp(-nu * k**2 * dt * 3) * np.fft.rfft(u, axis=-1), n, axis=-1)


def _advection_draw(data):
    shape = (data.draw(st.sampled_from([1, 2])), data.draw(st.sampled_from([8, 12])))
    return {
        "u0": _array(data, shape, -1, 1),
        "c": data.draw(_floats(-1.0, 1.0)),
        "dt": data.draw(_floats(1e-3, 0.1)),
        "dx": data.draw(_floats(0.1, 1.0)),
    }


def _advection_ref(u0, c, dt, dx):
    u = state("u0", u0, min_ndim=1)
    c, dt = scalar("c", c), scalar("dt", dt, positive=True)
    dx = scalar("dx", dx, positive=True)
    if u.shape[-1] < 3:
        raise Refused("u0")
    if abs(c) * dt / dx > 1:
        raise Refused("c")
    for _ in range(3):
        back, fwd = u - np.roll(u, 1, -1), np.roll(u, -1, -1) - u
        u = u - dt * (max(c, 0) * back + min(c, 0) * fwd) / dx
    return u


def _laplacian_draw(data):
    shape = data.draw(st.sampled_from([(8, 8), (2, 6, 8)]))
    return {"u": _array(data, shape, -1, 1), "dx": data.draw(_floats(0.1, 1.0))}


def _laplacian_ref(u, dx):
    u = state("u", u, min_ndim=2, finite=False)  # values are not checked (documented)
    if isinstance(dx, np.ndarray) and dx.shape == (2,):  # one spacing per axis
        h = [scalar("dx", d, positive=True) for d in dx]
    else:
        h = [scalar("dx", dx, positive=True)] * 2
    if min(u.shape[-2:]) < 3:
        raise Refused("u")
    axes = (-2, -1)  # h[0] spaces the first grid axis, h[1] the second
    return sum(
        (np.roll(u, 1, ax) + np.roll(u, -1, ax) - 2 * u) / h[i] ** 2 for i, ax in enumerate(axes)
    )


# -- ode ---------------------------------------------------------------------------------------
def _decay(t, y, k):
    return -k * y


def _rk4_draw(data):
    shape = data.draw(st.sampled_from([(3,), (2, 3)]))
    return {
        "y0": _array(data, shape, -1, 1),
        "dt": data.draw(_floats(1e-3, 0.5)),
        "k": data.draw(_floats(0.0, 2.0)),
    }


def _rk4_ref(y0, dt, k):
    y, dt = state("y0", y0), scalar("dt", dt, positive=True)
    z = -k * dt
    return y * (1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24) ** 4


def _dopri_draw(data):
    return {
        "y0": _array(data, (2,), 0.5, 2.0),
        "ts": np.linspace(0.0, data.draw(_floats(0.5, 2.0)), 4).astype(np.float32),
        "k": data.draw(_floats(0.0, 2.0)),
        "rtol": data.draw(_floats(1e-6, 1e-3)),
        "atol": data.draw(_floats(1e-6, 1e-3)),
        "dt0": data.draw(_floats(1e-3, 0.1)),
    }


def _dopri_ref(y0, ts, k, rtol, atol, dt0):
    y = state("y0", y0)
    ts = np.asarray(ts) if isinstance(ts, list) else ts  # save times may be a list
    if not isinstance(ts, np.ndarray | jax.Array) or ts.ndim != 1 or len(ts) < 1:
        raise Refused("ts")
    if not (np.issubdtype(ts.dtype, np.floating) or np.issubdtype(ts.dtype, np.integer)):
        raise Refused("ts")
    t = np.asarray(ts, np.float64)
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise Refused("ts")
    for n, v in (("rtol", rtol), ("atol", atol), ("dt0", dt0)):
        scalar(n, v, positive=True)
    return np.exp(-k * (t - t[0])).reshape(-1, *[1] * y.ndim) * y[None]


# -- sde ---------------------------------------------------------------------------------------
def _gbm_draw(data):
    n = data.draw(st.sampled_from([3, 5]))
    return {
        "x0": _array(data, (n,), 0.5, 2.0),
        "mu": data.draw(_floats(-0.5, 0.5)),
        "sigma": data.draw(_floats(0.0, 1.0)),
        "t": data.draw(_floats(0.0, 2.0)),
        "w": _array(data, (n,), -2.0, 2.0),
    }


def _gbm_ref(x0, mu, sigma, t, w):
    x = state("x0", x0)
    w_ = state("w", w)
    if w_.shape != x.shape or np.asarray(w).dtype != np.asarray(x0).dtype:
        raise Refused("w")
    mu, sigma = scalar("mu", mu), scalar("sigma", sigma, nonneg=True)
    t = scalar("t", t, nonneg=True)
    return x * np.exp((mu - 0.5 * sigma**2) * t + sigma * w_)


def _ou_draw(data):
    n = data.draw(st.sampled_from([3, 5]))
    dt = data.draw(_floats(1e-3, 0.2))
    return {
        "x0": _array(data, (n,), -1, 1),
        "theta": data.draw(_floats(0.1, 2.0)),
        "mu": data.draw(_floats(-1.0, 1.0)),
        "sigma": data.draw(_floats(0.0, 1.0)),
        "dt": dt,
        "dW": _array(data, (4, n), -1, 1) * np.float32(np.sqrt(dt)),
    }


def _ou_ref(x0, theta, mu, sigma, dt, dW):
    x = state("x0", x0)
    dw = state("dW", dW, min_ndim=1, finite=False)  # NaN/Inf noise: NaN/Inf in the path
    if np.asarray(dW).dtype != np.asarray(x0).dtype:
        raise Refused("dW")
    if dw.ndim != x.ndim + 1 or any(
        a not in (1, b) for a, b in zip(dw.shape[1:], x.shape, strict=True)
    ):
        raise Refused("dW")
    theta, mu = scalar("theta", theta, positive=True), scalar("mu", mu)
    sigma, dt = scalar("sigma", sigma, nonneg=True), scalar("dt", dt, positive=True)
    for step in dw:
        x = x + theta * (mu - x) * dt + sigma * step
    return x


# -- particles ---------------------------------------------------------------------------------
def _lattice(data, box: float) -> np.ndarray:
    cells = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    return (cells * (box / 2) + _array(data, (8, 3), -0.2, 0.2)).astype(np.float32)


def _lj_draw(data):
    box = data.draw(_floats(3.2, 5.0))
    return {
        "positions": _lattice(data, box),
        "box": box,
        "sigma": data.draw(_floats(0.8, 1.2)),
        "epsilon": data.draw(_floats(0.0, 2.0)),
    }


def _lj_ref(positions, box, sigma, epsilon):
    x = state("positions", positions, min_ndim=2)
    if x.ndim != 2:
        raise Refused("positions")
    b = scalar("box", box, positive=True)
    sigma, eps = scalar("sigma", sigma, positive=True), scalar("epsilon", epsilon, nonneg=True)
    r_cut = 1.5
    if r_cut > b / 2:
        raise Refused("r_cut")
    dr = x[:, None] - x[None]
    dr -= b * np.round(dr / b)
    r2 = np.sum(dr**2, -1)[np.triu_indices(len(x), 1)]
    s6, c6 = (sigma**2 / r2) ** 3, (sigma**2 / r_cut**2) ** 3
    u = 4 * eps * ((s6**2 - s6) - (c6**2 - c6))
    return np.sum(np.where(r2 < r_cut**2, u, 0.0))


def _wrap_draw(data):
    return {"positions": _array(data, (5, 3), -10, 10), "box": data.draw(_floats(1.0, 5.0))}


def _wrap_ref(positions, box):
    x = floating("positions", positions)
    if x.ndim < 1 or not np.all(np.isfinite(x)):
        raise Refused("positions")
    b = scalar("box", box, positive=True)
    return np.mod(np.asarray(positions), np.asarray(b, np.asarray(positions).dtype))


def _nbody_draw(data):
    return {
        "positions": _lattice(data, 3.0)[:4],
        "masses": _array(data, (4,), 0.5, 2.0),
        "softening": data.draw(_floats(0.05, 0.5)),
    }


def _nbody_ref(positions, masses, softening):
    x = state("positions", positions, min_ndim=2)
    if x.ndim != 2:
        raise Refused("positions")
    masses = np.asarray(masses) if isinstance(masses, list) else masses
    if not isinstance(masses, np.ndarray | jax.Array) or masses.shape != (len(x),):
        raise Refused("masses")
    if not (np.issubdtype(masses.dtype, np.floating) or np.issubdtype(masses.dtype, np.integer)):
        raise Refused("masses")  # parameter arrays take real numbers: integer or floating
    m = np.asarray(masses, np.float64)
    if not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise Refused("masses")
    eps = scalar("softening", softening, nonneg=True)
    dr = x[None] - x[:, None]  # r_j - r_i
    r2 = np.sum(dr**2, -1) + eps**2
    np.fill_diagonal(r2, 1.0)  # no self-force (and no 0 ** -1.5 when eps = 0)
    inv = r2**-1.5
    np.fill_diagonal(inv, 0.0)
    return np.einsum("ij,j,ijd->id", inv, m, dr)


# -- nn ----------------------------------------------------------------------------------------
def _norm_draw(data):
    b, d = data.draw(st.sampled_from([1, 3])), data.draw(st.sampled_from([4, 8]))
    return {
        "x": _array(data, (b, d), -2, 2),
        "scale": _array(data, (d,), 0.5, 1.5),
        "bias": _array(data, (d,), -1, 1),
    }


def _layer_norm_call(x, scale, bias):
    return nn.layer_norm({"scale": scale, "bias": bias}, x, eps=1e-5)


def _layer_norm_ref(x, scale, bias):
    xa = floating("x", x)
    if xa.ndim < 1:
        raise Refused("x")
    for n, p in (("params['scale']", scale), ("params['bias']", bias)):
        pa = floating(n, p)
        if pa.shape != (xa.shape[-1],) or np.asarray(p).dtype != np.asarray(x).dtype:
            raise Refused(n, "x")
    mean = xa.mean(-1, keepdims=True)
    var = ((xa - mean) ** 2).mean(-1, keepdims=True)
    return (xa - mean) / np.sqrt(var + 1e-5) * np.asarray(scale) + np.asarray(bias)


def _attention_draw(data):
    b, s, kvh = (data.draw(st.sampled_from(v)) for v in ([1, 2], [3, 4], [1, 2]))
    h, d = kvh * data.draw(st.sampled_from([1, 2])), data.draw(st.sampled_from([4, 8]))
    return {
        "q": _array(data, (b, s, h, d), -1, 1),
        "k": _array(data, (b, s, kvh, d), -1, 1),
        "v": _array(data, (b, s, kvh, d), -1, 1),
    }


def _attention_ref(q, k, v):
    qa, ka, va = floating("q", q), floating("k", k), floating("v", v)
    if qa.ndim != 4:
        raise Refused("q")
    if ka.ndim != 4 or ka.shape[0] != qa.shape[0] or ka.shape[3] != qa.shape[3]:
        raise Refused("k")
    if qa.shape[2] % ka.shape[2]:
        raise Refused("k", "q")
    if va.ndim != 4 or va.shape[:3] != ka.shape[:3]:
        raise Refused("v")
    if not (np.asarray(q).dtype == np.asarray(k).dtype == np.asarray(v).dtype):
        raise Refused("k", "v")
    rep = qa.shape[2] // ka.shape[2]
    kr, vr = np.repeat(ka, rep, axis=2), np.repeat(va, rep, axis=2)
    logits = np.einsum("bqhd,bkhd->bhqk", qa, kr) / np.sqrt(qa.shape[-1])
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bhqk,bkhd->bqhd", p, vr)


SPECS = [
    Spec(
        "pde.heat_rollout",
        _heat_draw,
        lambda u0, dt, nu: pde.heat_rollout(u0, dt, nu, num_steps=3)[0],
        _heat_ref,
        {"u0": (*STATE, "rank_down", "zero"), "dt": NUMBER, "nu": NUMBER},
    ),
    Spec(
        "pde.advection_1d_rollout",
        _advection_draw,
        lambda u0, c, dt, dx: pde.advection_1d_rollout(u0, c, dt, dx, num_steps=3)[0],
        _advection_ref,
        {"u0": STATE, "c": NUMBER, "dt": NUMBER, "dx": NUMBER},
    ),
    Spec(
        "pde.laplacian_2d",
        _laplacian_draw,
        pde.laplacian_2d,
        _laplacian_ref,
        {"u": (*STATE, "rank_down"), "dx": NUMBER},
    ),
    Spec(
        "ode.rk4_rollout",
        _rk4_draw,
        lambda y0, dt, k: ode.rk4_rollout(_decay, y0, dt, k, num_steps=4)[0],
        _rk4_ref,
        {"y0": (*STATE, "rank_down"), "dt": NUMBER},
    ),
    Spec(
        "ode.dopri5",
        _dopri_draw,
        lambda y0, ts, k, rtol, atol, dt0: (
            ode.dopri5(_decay, y0, ts, k, rtol, atol, dt0, max_steps=256).ys
        ),
        _dopri_ref,
        {
            "y0": STATE,
            "ts": (*PARAMS, "list", "reverse"),
            "rtol": NUMBER,
            "atol": NUMBER,
            "dt0": NUMBER,
        },
        rtol=5e-3,
        eager=False,
    ),
    Spec(
        "sde.gbm_exact",
        _gbm_draw,
        sde.gbm_exact,
        _gbm_ref,
        {"x0": STATE, "w": STATE, "mu": NUMBER, "sigma": NUMBER, "t": NUMBER},
    ),
    Spec(
        "sde.ou_euler_maruyama",
        _ou_draw,
        lambda x0, theta, mu, sigma, dt, dW: sde.ou_euler_maruyama(x0, theta, mu, sigma, dt, dW)[0],
        _ou_ref,
        {
            "x0": STATE,
            "dW": (*STATE, "rank_down"),
            "theta": NUMBER,
            "mu": NUMBER,
            "sigma": NUMBER,
            "dt": NUMBER,
        },
    ),
    Spec(
        "particles.lj_energy",
        _lj_draw,
        lambda positions, box, sigma, epsilon: particles.lj_energy(
            positions, box, sigma, epsilon, r_cut=1.5
        ),
        _lj_ref,
        {"positions": (*STATE, "rank_down"), "box": NUMBER, "sigma": NUMBER, "epsilon": NUMBER},
    ),
    Spec(
        "particles.wrap",
        _wrap_draw,
        particles.wrap,
        _wrap_ref,
        {"positions": (*STATE, "rank_up"), "box": NUMBER},
    ),
    Spec(
        "particles.nbody_accelerations",
        _nbody_draw,
        particles.nbody_accelerations,
        _nbody_ref,
        {"positions": STATE, "masses": PARAMS, "softening": NUMBER},
    ),
    Spec(
        "nn.layer_norm",
        _norm_draw,
        _layer_norm_call,
        _layer_norm_ref,
        {
            "x": ("rank_down", "shrink", "int32", "float16", "complex", "list"),
            "scale": ("shrink", "rank_up", "int32", "float16", "complex"),
            "bias": ("grow", "int32", "float16"),
        },
    ),
    Spec(
        "nn.dot_product_attention",
        _attention_draw,
        nn.dot_product_attention,
        _attention_ref,
        {
            "q": ("rank_down", "shrink", "int32", "float16", "complex"),
            "k": ("rank_up", "shrink", "float16", "bool"),
            "v": ("rank_down", "grow", "float16", "int32"),
        },
    ),
]


def _mutate(data: st.DataObject, spec: Spec, args: dict[str, Any]) -> str:
    name = data.draw(st.sampled_from([None, *spec.mutable]), label="argument")
    if name is None:
        return "valid"
    value = args[name]
    scalar = isinstance(value, float)
    table = SCALAR_MUTATIONS if scalar else ARRAY_MUTATIONS
    kind = data.draw(st.sampled_from([m for m in spec.mutable[name] if m in table]), label="how")
    args[name] = table[kind](value)
    return f"{name}: {kind}"


def _first_line(e: BaseException) -> str:
    line = str(e).splitlines()[0] if str(e) else ""
    return line.removeprefix("INVALID_ARGUMENT: ")


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
@settings(settings.get_profile(PROFILE))
@given(data=st.data())
def test_bad_input_is_named_or_the_answer_is_right(spec: Spec, data: st.DataObject):
    args = spec.draw(data)
    what = _mutate(data, spec, args)
    eager = data.draw(st.booleans(), label="eager")
    try:
        expected, refused = spec.reference(**args), ()
    except Refused as r:
        expected, refused = None, r.names
    try:
        out = jax.block_until_ready(spec.run(args, eager))
    except (ValueError, TypeError, jax.errors.JaxRuntimeError) as e:
        line = _first_line(e)
        assert refused, f"{spec.name} ({what}) refused input its spec accepts: {line}"
        assert line.startswith(tuple(f"{n}:" for n in refused)), (
            f"{spec.name} ({what}): expected an error naming {' or '.join(refused)}, got {line}"
        )
        event("a named error")
        return
    assert not refused, f"{spec.name} ({what}) accepted input its spec refuses ({refused})"
    out, expected = np.asarray(out, np.float64), np.asarray(expected, np.float64)
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(1.0, float(finite.max(initial=0.0)))
    np.testing.assert_allclose(out, expected, rtol=spec.rtol, atol=spec.rtol * scale)
    event("the reference result" + ("" if what == "valid" else " (mutated, still valid)"))
