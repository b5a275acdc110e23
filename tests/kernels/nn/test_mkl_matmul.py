"""The ``parallax_matmul`` primitive (MKL's GEMM on CPU): values against NumPy for every
transpose pair and for shapes cut into blocks by rows or by columns, derivatives of first and
second order against ``jnp.matmul``, vmap, and which lowering each platform and dtype gets."""

from __future__ import annotations

import platform

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from parallax.kernels.nn import _mkl_matmul
from parallax.kernels.nn._mkl_matmul import dense, matmul

R = np.random.default_rng(3)
MKL_PLATFORM = platform.system() == "Linux" and platform.machine() == "x86_64"
TOL = {np.float32: 2e-5, np.float64: 1e-13}

# (m, k, n): one block; more rows than columns, cut by rows; more columns, cut by columns;
# sizes off the 16-row tile; a single row; an empty contraction
SHAPES = [(5, 7, 3), (300, 64, 130), (37, 300, 700), (129, 33, 17), (1, 40, 9), (6, 0, 4)]


def _stored(x: np.ndarray, transposed: bool) -> np.ndarray:
    return np.ascontiguousarray(x.T) if transposed else x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("m", "k", "n"), SHAPES)
@pytest.mark.parametrize(("ta", "tb"), [(False, False), (True, False), (False, True), (True, True)])
def test_values_match_numpy(m, k, n, ta, tb, dtype, x64):
    a, b = R.standard_normal((m, k)).astype(dtype), R.standard_normal((k, n)).astype(dtype)
    f = jax.jit(lambda a, b: matmul(a, b, transpose_a=ta, transpose_b=tb))
    got = f(_stored(a, ta), _stored(b, tb))
    assert got.dtype == dtype and got.shape == (m, n)
    want = a.astype(np.float64) @ b.astype(np.float64)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=TOL[dtype] * scale * 10)


@pytest.mark.parametrize(("ta", "tb"), [(False, False), (True, False), (False, True), (True, True)])
def test_derivatives_match_jnp_matmul(ta, tb, x64):
    a = jnp.asarray(R.standard_normal((40, 24) if ta else (24, 40)))
    b = jnp.asarray(R.standard_normal((30, 40) if tb else (40, 30)))

    def ours(a, b):
        return matmul(a, b, transpose_a=ta, transpose_b=tb)

    def ref(a, b):
        return (a.T if ta else a) @ (b.T if tb else b)

    def loss(f):
        return lambda a, b: jnp.sum(jnp.sin(f(a, b)))

    for g, w in zip(
        jax.jit(jax.grad(loss(ours), (0, 1)))(a, b), jax.grad(loss(ref), (0, 1))(a, b), strict=True
    ):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-12)
    da, db = jnp.ones_like(a), jnp.cos(b)
    got = jax.jvp(ours, (a, b), (da, db))[1]
    np.testing.assert_allclose(np.asarray(got), np.asarray(jax.jvp(ref, (a, b), (da, db))[1]))

    def hvp(f):  # forward over reverse: transposes of the transposes
        return jax.jvp(jax.grad(loss(f), (0, 1)), (a, b), (da, db))[1]

    for g, w in zip(jax.jit(lambda: hvp(ours))(), hvp(ref), strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-11, atol=1e-11)


def test_vmap_of_either_operand_or_both(x64):
    a = jnp.asarray(R.standard_normal((3, 6, 5)))
    b = jnp.asarray(R.standard_normal((5, 4)))
    bs = jnp.asarray(R.standard_normal((3, 5, 4)))
    want = jnp.einsum("bmk,kn->bmn", a, b)
    np.testing.assert_allclose(np.asarray(jax.vmap(matmul, (0, None))(a, b)), np.asarray(want))
    moved = jnp.moveaxis(a, 0, 2)  # batch axis last
    got = jax.vmap(matmul, (2, None))(moved, b)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want))
    got = jax.vmap(lambda a: matmul(a, b, transpose_a=True))(jnp.swapaxes(a, 1, 2))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want))
    got = jax.vmap(matmul, (None, 0))(a[0], bs)
    np.testing.assert_allclose(np.asarray(got), np.asarray(jnp.einsum("mk,bkn->bmn", a[0], bs)))
    got = jax.vmap(matmul)(a, bs)
    np.testing.assert_allclose(np.asarray(got), np.asarray(jnp.einsum("bmk,bkn->bmn", a, bs)))


def test_dense_flattens_leading_axes_and_keeps_vectors():
    x = jnp.asarray(R.standard_normal((2, 3, 5)), jnp.float32)
    w = jnp.asarray(R.standard_normal((5, 4)), jnp.float32)
    np.testing.assert_allclose(np.asarray(dense(x, w)), np.asarray(x @ w), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(dense(x[0, 0], w)), np.asarray(x[0, 0] @ w), rtol=1e-5)


def _lowered(f, *args, platform: str = "cpu") -> str:
    return jax.jit(f).trace(*args).lower(lowering_platforms=(platform,)).as_text()


def test_cpu_lowers_to_mkl_and_everything_else_to_xlas_dot():
    a = jnp.ones((8, 16), jnp.float32)
    w = jnp.ones((16, 4), jnp.float32)
    if _mkl_matmul.available():
        assert "parallax_mkl_matmul" in _lowered(dense, a, w)
    else:
        assert not MKL_PLATFORM or _mkl_matmul.reason()
    for target in ("cuda", "tpu"):
        text = _lowered(dense, a, w, platform=target)
        assert "stablehlo.dot_general" in text and "parallax_mkl_matmul" not in text
    low = _lowered(dense, a.astype(jnp.bfloat16), w.astype(jnp.bfloat16))
    assert "parallax_mkl_matmul" not in low
    mesh = jax.make_mesh((8,), ("b",), axis_types=(jax.sharding.AxisType.Auto,))
    sharded = jax.device_put(a, NamedSharding(mesh, PartitionSpec("b")))
    text = jax.jit(matmul).lower(sharded, w).as_text()
    assert "parallax_mkl_matmul" not in text
    np.testing.assert_allclose(np.asarray(jax.jit(matmul)(sharded, w)), 16.0)


def test_turned_off_it_lowers_to_xla(monkeypatch):
    monkeypatch.setenv("PARALLAX_MKL_MATMUL", "0")
    a, w = jnp.ones((8, 16), jnp.float32), jnp.ones((16, 4), jnp.float32)
    fresh = lambda a, w: dense(a, w)  # noqa: E731 (jit caches lowerings per function)
    assert "parallax_mkl_matmul" not in _lowered(fresh, a, w)
    assert _mkl_matmul.reason() == "turned off by PARALLAX_MKL_MATMUL=0"


def test_bad_operands_name_what_was_expected():
    a = jnp.ones((4, 5), jnp.float32)
    with pytest.raises(ValueError, match="matmul: expected rank-2 operands"):
        matmul(a[0], a)
    with pytest.raises(TypeError, match="matmul: operands differ in dtype"):
        matmul(a, jnp.ones((5, 2), jnp.int32))
    with pytest.raises(ValueError, match=r"matmul: contracted sizes differ: 5 and 4"):
        matmul(a, a)
