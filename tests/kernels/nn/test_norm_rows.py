"""LayerNorm and RMSNorm through the CPU handler (``parallax_norm_rows``): values against the
equations in float64 NumPy (row lengths off the vector width, one row, several blocks of rows,
rows with a large mean), derivatives against the XLA path and finite differences, vmap, and which
lowering each platform, dtype and switch gets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec
from jax.test_util import check_grads

from parallax.kernels import nn
from parallax.kernels.nn import _norm_rows

R = np.random.default_rng(11)
TARGET = _norm_rows.TARGET
TOL = {np.float32: 3e-6, np.float64: 1e-13}

# one row; rows off the 64-lane loop and the vector width; several blocks of rows over the pool;
# an 8 MiB float32 output, written with streaming stores
SHAPES = [(1, 130), (7,), (2, 5, 37), (3, 64), (300, 257), (2048, 1024)]


def _params(d, dtype, bias=True):
    p = {"scale": R.standard_normal(d).astype(dtype)}
    if bias:
        p["bias"] = R.standard_normal(d).astype(dtype)
    return {k: jnp.asarray(v) for k, v in p.items()}


def _equations(p, x, eps, centred):
    """The norm in float64 NumPy, from ``x`` as given."""
    x = np.asarray(x, np.float64)
    c = x - x.mean(-1, keepdims=True) if centred else x
    y = c / np.sqrt((c * c).mean(-1, keepdims=True) + eps) * np.asarray(p["scale"], np.float64)
    return y + np.asarray(p["bias"], np.float64) if "bias" in p else y


def _norm(centred):
    return nn.layer_norm if centred else nn.rms_norm


def _xla(p, x, eps, centred):
    """The norm through the equations in XLA's ops, the path everything but the handler takes."""
    return _norm_rows.reference(x, p["scale"], p.get("bias"), eps, centred)[0]


def _lowered(f, *args, platform: str = "cpu") -> str:
    return jax.jit(f).trace(*args).lower(lowering_platforms=(platform,)).as_text()


@pytest.fixture(autouse=True)
def _handler_built():
    assert _norm_rows.available(), _norm_rows.reason()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("centred", [True, False])
def test_values_match_the_equations(shape, centred, dtype, x64):
    x = jnp.asarray(R.standard_normal(shape).astype(dtype))
    p = _params(shape[-1], dtype, bias=centred)
    f = jax.jit(lambda p, x: _norm(centred)(p, x, eps=1e-5))
    assert TARGET in f.lower(p, x).as_text()
    got = f(p, x)
    assert got.dtype == dtype and got.shape == shape
    want = _equations(p, x, 1e-5, centred)
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=TOL[dtype] * np.abs(want).max())


@pytest.mark.parametrize(("dtype", "offset"), [(np.float32, 1e4), (np.float64, 1e8)])
def test_rows_with_a_large_mean_keep_their_variance(dtype, offset, x64):
    """One-pass moments ``mean(x²) - mean(x)²`` cancel catastrophically for these rows; the
    shifted two-pass sums do not."""
    x = (offset + R.standard_normal((6, 1000))).astype(dtype)
    p = _params(1000, dtype)
    got = np.asarray(jax.jit(lambda p, x: nn.layer_norm(p, x, eps=1e-5))(p, jnp.asarray(x)))
    want = _equations(p, x, 1e-5, True)
    x64_ = x.astype(np.float64)
    m, m2 = x.mean(-1, keepdims=True, dtype=dtype), (x * x).mean(-1, keepdims=True, dtype=dtype)
    naive = (x64_ - m) / np.sqrt(np.maximum(m2 - m * m, 0) + 1e-5) * np.asarray(p["scale"])
    assert np.abs(naive + np.asarray(p["bias"]) - want).max() > 0.1  # the case is hard
    tol = 1e-4 if dtype == np.float32 else 1e-7
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * np.abs(want).max())


def test_rows_whose_first_element_is_far_from_their_mean_keep_their_variance():
    """The moments are taken about a row's first element; cancellation grows with its distance
    from the mean in variances (here about 2000), so such rows are summed again about the mean."""
    x = R.standard_normal((5, 2000)).astype(np.float32)
    x[:, 0] = [1e3, -1e3, 3e2, 0.5, 1e4]
    p = _params(2000, np.float32)
    got = np.asarray(jax.jit(lambda p, x: nn.layer_norm(p, x, eps=1e-5))(p, jnp.asarray(x)))
    want = _equations(p, x, 1e-5, True)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL[np.float32] * np.abs(want).max())


@pytest.mark.parametrize("centred", [True, False])
def test_derivatives_match_the_xla_path_and_finite_differences(centred, x64):
    x = jnp.asarray(R.standard_normal((3, 4, 21)) * 2 + 0.5)
    p = _params(21, np.float64, bias=centred)

    def ours(p, x):
        return _norm(centred)(p, x, eps=1e-3)

    def ref(p, x):
        return _xla(p, x, 1e-3, centred)

    def loss(f):
        return lambda p, x: jnp.sum(jnp.sin(3 * f(p, x) + 1))

    assert TARGET in _lowered(jax.grad(loss(ours), (0, 1)), p, x)
    for g, w in zip(
        jax.tree.leaves(jax.jit(jax.grad(loss(ours), (0, 1)))(p, x)),
        jax.tree.leaves(jax.grad(loss(ref), (0, 1))(p, x)),
        strict=True,
    ):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-11, atol=1e-12)
    dp = jax.tree.map(jnp.cos, p)
    dx = jnp.sin(x)
    got = jax.jit(lambda p, x, dp, dx: jax.jvp(ours, (p, x), (dp, dx)))(p, x, dp, dx)
    want = jax.jvp(ref, (p, x), (dp, dx))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-11, atol=1e-12)
    h = jax.jit(jax.hessian(loss(ours), argnums=1))(p, x[0, 0])
    np.testing.assert_allclose(
        np.asarray(h), np.asarray(jax.hessian(loss(ref), argnums=1)(p, x[0, 0])), atol=1e-10
    )
    check_grads(ours, (p, x[:, :2]), order=2, modes=("fwd", "rev"), eps=1e-4)


def test_float32_gradients_match_the_xla_path():
    x = jnp.asarray(R.standard_normal((2, 9, 70)), jnp.float32)
    p = _params(70, np.float32)

    def loss(f):
        return lambda p, x: jnp.sum(jnp.tanh(f(p, x)))

    got = jax.jit(jax.grad(loss(lambda p, x: nn.layer_norm(p, x, eps=1e-5)), (0, 1)))(p, x)
    want = jax.grad(loss(lambda p, x: _xla(p, x, 1e-5, True)), (0, 1))(p, x)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("centred", [True, False])
def test_vmap_over_inputs_parameters_and_both(centred, x64):
    xs = jnp.asarray(R.standard_normal((5, 3, 300)))  # batch axis 1 below: 3 of (5, 300)
    keys = ("scale", "bias") if centred else ("scale",)
    ps = {k: jnp.asarray(R.standard_normal((3, 300))) for k in keys}
    norm = _norm(centred)

    def one(p, x):
        return norm(p, x, eps=1e-5)

    want = np.stack(
        [_equations({k: v[i] for k, v in ps.items()}, xs[:, i], 1e-5, centred) for i in range(3)]
    )
    p0 = {k: v[0] for k, v in ps.items()}
    got = jax.jit(jax.vmap(one, (None, 1)))(p0, xs)
    want0 = np.stack([_equations(p0, xs[:, i], 1e-5, centred) for i in range(3)])
    np.testing.assert_allclose(np.asarray(got), want0, rtol=0, atol=1e-12)
    got = jax.jit(jax.vmap(one, (0, 1)))(ps, xs)
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-12)
    got = jax.jit(jax.vmap(one, (0, None)))(ps, xs[:, 0])
    want1 = np.stack(
        [_equations({k: v[i] for k, v in ps.items()}, xs[:, 0], 1e-5, centred) for i in range(3)]
    )
    np.testing.assert_allclose(np.asarray(got), want1, rtol=0, atol=1e-12)
    nested = jax.jit(jax.vmap(jax.vmap(one, (None, 0)), (0, 1)))(ps, xs)
    np.testing.assert_allclose(np.asarray(nested), want, rtol=0, atol=1e-12)
    per_batch = jax.vmap(jax.grad(lambda p, x: jnp.sum(jnp.sin(one(p, x)))), (0, 1))(ps, xs)
    for i in range(3):
        g = jax.grad(lambda p, x: jnp.sum(jnp.sin(_xla(p, x, 1e-5, centred))))(
            {k: v[i] for k, v in ps.items()}, xs[:, i]
        )
        for k in ps:
            np.testing.assert_allclose(np.asarray(per_batch[k][i]), np.asarray(g[k]), atol=1e-11)


def test_other_platforms_low_precision_and_sharded_inputs_keep_xlas_ops():
    x = jnp.asarray(R.standard_normal((8, 16)), jnp.float32)
    p = _params(16, np.float32)

    def f(p, x):
        return nn.layer_norm(p, x, eps=1e-5)

    assert TARGET in _lowered(f, p, x)
    for target in ("cuda", "tpu"):
        assert TARGET not in _lowered(f, p, x, platform=target)
    for low in (jnp.bfloat16, jnp.float16):
        pl = jax.tree.map(lambda a, t=low: a.astype(t), p)
        assert TARGET not in _lowered(f, pl, x.astype(low))
        got = jax.jit(f)(pl, x.astype(low))
        want = _xla(
            jax.tree.map(lambda a: a.astype(jnp.float32), pl),
            x.astype(low).astype(jnp.float32),
            1e-5,
            True,
        )
        assert got.dtype == low
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want.astype(low)))
    mesh = jax.make_mesh((8,), ("b",), axis_types=(jax.sharding.AxisType.Auto,))
    sharded = jax.device_put(x, NamedSharding(mesh, PartitionSpec("b")))
    assert TARGET not in jax.jit(f).lower(p, sharded).as_text()
    np.testing.assert_allclose(
        np.asarray(jax.jit(f)(p, sharded)), _equations(p, x, 1e-5, True), atol=2e-5
    )


def test_turned_off_it_keeps_xlas_ops_with_the_same_values(monkeypatch):
    x = jnp.asarray(R.standard_normal((4, 33)), jnp.float32)
    p = _params(33, np.float32, bias=False)
    on = np.asarray(jax.jit(lambda p, x: nn.rms_norm(p, x, eps=1e-6))(p, x))
    monkeypatch.setenv("PARALLAX_NORM_ROWS", "0")
    fresh = lambda p, x: nn.rms_norm(p, x, eps=1e-6)  # noqa: E731 (jit caches lowerings per function)
    assert TARGET not in _lowered(fresh, p, x)
    assert _norm_rows.reason() == "turned off by PARALLAX_NORM_ROWS=0"
    np.testing.assert_allclose(np.asarray(jax.jit(fresh)(p, x)), on, rtol=1e-6, atol=1e-6)
