"""The one-pass MLP handler on CPU (``parallax_token_mlp``): values of ``nn.mlp`` and
``nn.gated_mlp`` against NumPy for every activation, with and without biases, over token counts
that leave ragged blocks and use packed weights; derivatives equal to those of the same layers
in JAX's ops; vmap; and which lowering each platform, dtype and sharding gets."""

from __future__ import annotations

import platform

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec
from scipy.special import ndtr

from parallax.kernels import nn
from parallax.kernels.nn import _mkl_mlp

MKL_PLATFORM = platform.system() == "Linux" and platform.machine() == "x86_64"
TOL = {np.float32: 3e-5, np.float64: 1e-12}

NUMPY_ACTIVATIONS = {
    "identity": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "gelu_exact": lambda x: x * ndtr(x),
    "gelu_tanh": lambda x: 0.5 * x * (1.0 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
}


def _params(rng, d_in, hidden, d_out, dtype, *, gated, biases):
    names = ("gate", "up", "down") if gated else ("1", "2")
    shapes = (
        [(d_in, hidden), (d_in, hidden), (hidden, d_out)]
        if gated
        else [
            (d_in, hidden),
            (hidden, d_out),
        ]
    )
    p = {}
    for name, (k, n) in zip(names, shapes, strict=True):
        w, b = (f"w_{name}", f"b_{name}") if gated else (f"w{name}", f"b{name}")
        p[w] = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(dtype)
        if biases:
            p[b] = rng.standard_normal(n).astype(dtype)
    return p


def _numpy(p, x, activation, gated):
    act = NUMPY_ACTIVATIONS[activation]
    x = x.astype(np.float64)

    def affine(x, w, b):
        return x @ p[w].astype(np.float64) + (p[b].astype(np.float64) if b in p else 0.0)

    if gated:
        h = act(affine(x, "w_gate", "b_gate")) * affine(x, "w_up", "b_up")
        return affine(h, "w_down", "b_down")
    return affine(act(affine(x, "w1", "b1")), "w2", "b2")


def _kernel(gated, activation):
    f = nn.gated_mlp if gated else nn.mlp
    return lambda p, x: f(p, x, activation=activation)


def _lowered(f, *args, platform: str = "cpu") -> str:
    return jax.jit(f).trace(*args).lower(lowering_platforms=(platform,)).as_text()


# token counts: fewer than one block; two full blocks and a ragged one (packed weights); one
# token as a vector; none
SHAPES = [(2, 5, 8), (300, 8), (8,), (0, 8)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", sorted(NUMPY_ACTIVATIONS))
@pytest.mark.parametrize("gated", [False, True])
def test_values_match_numpy(activation, gated, dtype, x64):
    rng = np.random.default_rng(11)
    for shape in SHAPES:
        for biases in (True, False):
            p = _params(rng, shape[-1], 40, 12, dtype, gated=gated, biases=biases)
            x = (1.5 * rng.standard_normal(shape)).astype(dtype)
            got = jax.jit(_kernel(gated, activation))(p, x)
            want = _numpy(p, x, activation, gated)
            assert got.dtype == dtype and got.shape == want.shape
            scale = max(1.0, float(np.abs(want).max(initial=0.0)))
            np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=TOL[dtype] * scale)


def test_cpu_lowers_to_the_handler_and_everything_else_to_the_layers():
    rng = np.random.default_rng(0)
    p = _params(rng, 8, 16, 4, np.float32, gated=True, biases=False)
    x = jnp.ones((6, 8), jnp.float32)
    f = _kernel(True, "silu")
    if _mkl_mlp.available():
        assert "parallax_mkl_glu" in _lowered(f, p, x)
        assert "parallax_mkl_mlp" in _lowered(
            _kernel(False, "relu"), _params(rng, 8, 16, 4, np.float32, gated=False, biases=True), x
        )
    else:
        assert not MKL_PLATFORM or _mkl_mlp.reason()
    for target in ("cuda", "tpu"):
        assert "parallax_mkl" not in _lowered(f, p, x, platform=target)
    low = jax.tree.map(lambda a: a.astype(jnp.bfloat16), (p, x))
    assert "parallax_mkl_glu" not in _lowered(f, *low)
    mesh = jax.make_mesh((8,), ("b",), axis_types=(jax.sharding.AxisType.Auto,))
    ones = jnp.ones((16, 8), jnp.float32)
    sharded = jax.device_put(ones, NamedSharding(mesh, PartitionSpec("b")))
    assert "parallax_mkl_glu" not in jax.jit(f).lower(p, sharded).as_text()
    np.testing.assert_allclose(
        np.asarray(jax.jit(f)(p, sharded)), np.asarray(f(p, ones)), rtol=1e-5
    )


def test_turned_off_it_lowers_to_the_layers(monkeypatch):
    monkeypatch.setenv("PARALLAX_MKL_MLP", "0")
    p = _params(np.random.default_rng(1), 8, 16, 4, np.float32, gated=False, biases=True)
    fresh = lambda p, x: nn.mlp(p, x, activation="gelu_exact")  # noqa: E731 (a new jit cache)
    assert "parallax_mkl_mlp" not in _lowered(fresh, p, jnp.ones((5, 8), jnp.float32))
    assert _mkl_mlp.reason() == "turned off by PARALLAX_MKL_MLP=0"


@pytest.mark.parametrize("gated", [False, True])
def test_derivatives_are_those_of_the_layers(gated, x64, monkeypatch):
    rng = np.random.default_rng(2)
    p = _params(rng, 6, 20, 5, np.float64, gated=gated, biases=True)
    x = rng.standard_normal((4, 70, 6))
    f = _kernel(gated, "gelu_exact")

    def loss(p, x):
        return jnp.sum(jnp.sin(f(p, x)))

    def derivatives():
        t = jax.tree.map(jnp.cos, (p, x))
        grads = jax.jit(jax.grad(loss, (0, 1)))(p, x)
        tangent = jax.jvp(f, (p, x), t)[1]
        hvp = jax.jvp(jax.grad(loss, (0, 1)), (p, x), t)[1]
        return grads, tangent, hvp

    ours = derivatives()
    monkeypatch.setenv("PARALLAX_MKL_MLP", "0")
    f = _kernel(gated, "gelu_exact")  # a new function: a new jit cache
    reference = derivatives()
    for got, want in zip(jax.tree.leaves(ours), jax.tree.leaves(reference), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-12)


def test_vmap_with_shared_or_batched_weights(x64):
    rng = np.random.default_rng(3)
    p = _params(rng, 6, 20, 5, np.float64, gated=True, biases=True)
    xs = rng.standard_normal((3, 7, 6))
    f = _kernel(True, "silu")
    want = np.stack([_numpy(p, x, "silu", True) for x in xs])
    np.testing.assert_allclose(np.asarray(jax.vmap(f, (None, 0))(p, xs)), want, rtol=1e-12)
    moved = np.moveaxis(xs, 0, 1)  # batch axis in the middle
    np.testing.assert_allclose(np.asarray(jax.vmap(f, (None, 1))(p, moved)), want, rtol=1e-12)
    if _mkl_mlp.available():
        assert "parallax_mkl_glu" in _lowered(jax.vmap(f, (None, 0)), p, xs)
    ps = [_params(rng, 6, 20, 5, np.float64, gated=True, biases=True) for _ in range(3)]
    stacked = jax.tree.map(lambda *a: np.stack(a), *ps)
    want = np.stack([_numpy(q, x, "silu", True) for q, x in zip(ps, xs, strict=True)])
    np.testing.assert_allclose(np.asarray(jax.vmap(f)(stacked, xs)), want, rtol=1e-12)


def test_bad_parameter_count_is_named():
    x = jnp.ones((4, 3), jnp.float32)
    with pytest.raises(ValueError, match=r"params: expected 4 \(plain\) or 6 \(gated\) arrays"):
        _mkl_mlp.token_mlp(x, (x, x), activation="relu", reference=lambda *a: a[0])
