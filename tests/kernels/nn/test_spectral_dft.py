"""Spectral convolutions through truncated DFT matrices: the matrices against numpy.fft, the DFT
paths against the FFT paths (values and gradients), and which path each platform lowers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import nn
from parallax.kernels.nn import _fno
from parallax.kernels.nn._dft import cos_sin_dft, cos_sin_idft, real_dft, real_idft

R = np.random.default_rng(7)


def _cplx(*shape):
    return R.standard_normal(shape) + 1j * R.standard_normal(shape)


@pytest.mark.parametrize("n, modes", [(16, 5), (15, 8), (10, 6), (7, 4)])
def test_real_dft_matrices_match_numpy_fft(n, modes):
    x = R.standard_normal(n)
    got = real_dft(n, modes) @ x
    want = np.fft.rfft(x)[:modes]
    np.testing.assert_allclose(got, np.concatenate([want.real, want.imag]), atol=1e-13)
    y = _cplx(modes)
    spectrum = np.zeros(n // 2 + 1, complex)
    spectrum[:modes] = y
    got = real_idft(n, modes) @ np.concatenate([y.real, y.imag])
    np.testing.assert_allclose(got, np.fft.irfft(spectrum, n), atol=1e-13)


@pytest.mark.parametrize("n, m", [(12, 3), (9, 4), (8, 4), (5, 1)])
def test_cos_sin_dft_matrices_match_numpy_fft(n, m):
    x = _cplx(n)
    rows = cos_sin_dft(n, m) @ x
    c, s = rows[: m + 1], np.concatenate([[0.0], rows[m + 1 :]])
    spectrum = np.fft.fft(x)
    np.testing.assert_allclose(c - 1j * s, spectrum[np.arange(m + 1)], atol=1e-12)
    np.testing.assert_allclose(c + 1j * s, spectrum[-np.arange(m + 1)], atol=1e-12)
    # a spectrum at k = -m … m-1 (both ends of an even n kept once), back through U and i V
    y = np.zeros(n, complex)
    y[np.arange(-m, m)] = _cplx(2 * m)
    pos, neg = np.append(y[:m], 0.0), y[-np.arange(m + 1)]
    pos[0], neg[0] = y[0], 0.0
    u, v = pos + neg, (pos - neg)[1:]
    got = cos_sin_idft(n, m) @ np.concatenate([u, 1j * v])
    np.testing.assert_allclose(got, np.fft.ifft(y), atol=1e-13)


def _close(got, want, tol, scale=None):
    """``|got - want| <= tol * scale``, ``scale`` by default ``max |want|``."""
    if scale is None:
        scale = max(float(jnp.max(jnp.abs(want))), 1e-30)
    assert float(jnp.max(jnp.abs(got - want))) <= tol * scale


def _close_grads(gots, wants, tol):
    """Gradients of one loss: round-off is relative to the largest of them (a small entry is a
    cancelling sum of terms as large as the others), not to each one's own size."""
    scale = max(float(jnp.max(jnp.abs(w))) for w in wants)
    for got, want in zip(gots, wants, strict=True):
        _close(got, want, tol, scale)


@pytest.mark.parametrize(
    "b, n, ci, co, modes", [(2, 32, 3, 4, 6), (1, 10, 2, 2, 6), (2, 11, 3, 2, 6), (3, 64, 4, 5, 33)]
)
def test_dft_path_equals_fft_path_1d(b, n, ci, co, modes):
    with jax.enable_x64(True):
        x = jnp.asarray(R.standard_normal((b, n, ci)))
        w = jnp.asarray(_cplx(modes, ci, co))
        _close(jax.jit(_fno._dft_1d)(x, w), jax.jit(_fno._fft_1d)(x, w), 1e-14)

        def loss(f):
            return jax.jit(jax.grad(lambda x, w: jnp.sum(jnp.sin(f(x, w))), (0, 1)))

        _close_grads(loss(_fno._dft_1d)(x, w), loss(_fno._fft_1d)(x, w), 3e-14)


@pytest.mark.parametrize(
    "b, n1, n2, ci, co, m1, m2",
    [(2, 12, 10, 3, 2, 3, 4), (1, 9, 7, 2, 3, 4, 4), (2, 8, 8, 2, 2, 4, 5), (1, 5, 6, 1, 2, 1, 1)],
)
def test_dft_path_equals_fft_path_2d(b, n1, n2, ci, co, m1, m2):
    with jax.enable_x64(True):
        x = jnp.asarray(R.standard_normal((b, n1, n2, ci)))
        wp, wn = jnp.asarray(_cplx(m1, m2, ci, co)), jnp.asarray(_cplx(m1, m2, ci, co))
        _close(jax.jit(_fno._dft_2d)(x, wp, wn), jax.jit(_fno._fft_2d)(x, wp, wn), 1e-14)

        def grads(f):
            return jax.jit(jax.grad(lambda *a: jnp.sum(jnp.sin(f(*a))), (0, 1, 2)))(x, wp, wn)

        _close_grads(grads(_fno._dft_2d), grads(_fno._fft_2d), 3e-14)


@pytest.mark.parametrize("path", ["1d", "2d"])
def test_dft_path_forward_mode_and_second_order_equal_fft_path(path):
    """The DFT products carry a custom JVP (its transpose multiplies by the stored transposed
    matrix): forward mode, forward-over-reverse and vmap of the gradient must match the FFT."""
    with jax.enable_x64(True):
        if path == "1d":
            args = (jnp.asarray(R.standard_normal((2, 12, 3))), jnp.asarray(_cplx(5, 3, 2)))
            dft, fft_ = _fno._dft_1d, _fno._fft_1d
        else:
            x = jnp.asarray(R.standard_normal((2, 8, 6, 2)))
            w = [jnp.asarray(_cplx(3, 4, 2, 3)) for _ in range(2)]
            args, dft, fft_ = (x, *w), _fno._dft_2d, _fno._fft_2d
        tangents = tuple(jnp.asarray(R.standard_normal(a.shape)).astype(a.dtype) for a in args)

        def check(op):
            for got, want in zip(
                jax.tree.leaves(jax.jit(op(dft))()), jax.tree.leaves(op(fft_)()), strict=True
            ):
                _close(got, want, 1e-13)

        def loss(f):
            return lambda *a: jnp.sum(jnp.sin(f(*a)))

        check(lambda f: lambda: jax.jvp(loss(f), args, tangents))
        argnums = tuple(range(len(args)))
        check(lambda f: lambda: jax.jvp(jax.grad(loss(f), argnums), args, tangents))
        stacked = (jnp.stack([args[0], 2 * args[0]]), *args[1:])
        in_axes = (0,) + (None,) * (len(args) - 1)
        check(lambda f: lambda: jax.vmap(jax.grad(loss(f), argnums), in_axes)(*stacked))


def _lowered(fn, *args, platform: str) -> str:
    return jax.jit(fn).trace(*args).lower(lowering_platforms=(platform,)).as_text()


def _fft(text: str) -> bool:
    """An FFT in lowered text: XLA's op, or on CPU the MKL custom call (parallax.kernels.fft)."""
    return "stablehlo.fft" in text or "parallax_mkl_fft" in text


def test_cpu_lowers_few_modes_to_matrix_products_and_other_platforms_keep_the_fft():
    x = jax.ShapeDtypeStruct((4, 256, 8), jnp.float32)
    few = {"weight": jax.ShapeDtypeStruct((8, 8, 8), jnp.complex64)}
    many = {"weight": jax.ShapeDtypeStruct((129, 8, 8), jnp.complex64)}
    assert not _fft(_lowered(nn.spectral_conv_1d, few, x, platform="cpu"))
    assert "stablehlo.fft" in _lowered(nn.spectral_conv_1d, few, x, platform="cuda")
    assert _fft(_lowered(nn.spectral_conv_1d, many, x, platform="cpu"))
    x2 = jax.ShapeDtypeStruct((2, 64, 64, 4), jnp.float32)
    w2 = jax.ShapeDtypeStruct((12, 12, 4, 4), jnp.complex64)
    params = {"w_pos": w2, "w_neg": w2}
    assert not _fft(_lowered(nn.spectral_conv_2d, params, x2, platform="cpu"))
    assert "stablehlo.fft" in _lowered(nn.spectral_conv_2d, params, x2, platform="tpu")
