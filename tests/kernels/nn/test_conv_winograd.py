"""The MKL handler's Winograd F(2x2, 3x3) form of ``nn.conv_2d`` (3x3 kernels, stride 1,
dilation 1, one group) against XLA's 2D convolution: partial tiles at odd heights and widths,
SAME, VALID and asymmetric pads (pads past the kernel too), one image, output channels off any
SIMD width, several blocks over the pool, and a bias; float64 to round-off and float32 to its
own precision. Its gradients run the im2col handlers, checked here once against XLA's."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from parallax.kernels import nn

R = np.random.default_rng(23)

CASES = [
    # x shape (n, h, w, c_in), c_out, padding
    ((2, 7, 9, 4), 6, "SAME"),
    ((2, 8, 8, 3), 5, "VALID"),
    ((1, 9, 11, 5), 17, "SAME"),
    ((1, 5, 6, 2), 3, ((2, 0), (0, 1))),
    ((2, 6, 5, 3), 4, ((0, 3), (4, 1))),
    ((1, 3, 3, 1), 1, "VALID"),
    ((1, 2, 1, 2), 3, "SAME"),
    ((3, 21, 19, 12), 33, "SAME"),
]


def _xla(x, k, b, padding):
    y = lax.conv_general_dilated(x, k, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + b.reshape(1, 1, 1, -1)


def _arrays(shape, co, dtype):
    x = jnp.asarray(R.standard_normal(shape), dtype)
    k = jnp.asarray(R.standard_normal((3, 3, shape[-1], co)), dtype)
    return x, k, jnp.asarray(R.standard_normal(co), dtype)


def _ours(x, k, b, padding):
    return nn.conv_2d({"kernel": k, "bias": b}, x, padding=padding)


def _relative(got, want):
    want = np.asarray(want)
    return np.abs(np.asarray(got) - want).max() / max(1.0, np.abs(want).max())


@pytest.mark.parametrize(("shape", "co", "padding"), CASES)
def test_float64_values_equal_xla_to_round_off(shape, co, padding, x64):
    x, k, b = _arrays(shape, co, np.float64)
    got = jax.jit(_ours, static_argnums=3)(x, k, b, padding)
    want = _xla(x, k, b, padding)
    assert got.shape == want.shape and got.dtype == jnp.float64
    assert _relative(got, want) < 3e-14 * np.sqrt(9 * shape[-1])


@pytest.mark.parametrize(("shape", "co", "padding"), CASES)
def test_float32_values_equal_xla(shape, co, padding):
    x, k, b = _arrays(shape, co, np.float32)
    got = jax.jit(_ours, static_argnums=3)(x, k, b, padding)
    with jax.enable_x64(True):
        xd, kd, bd = (a.astype(jnp.float64) for a in (x, k, b))
        want = _xla(xd, kd, bd, padding)
    assert got.dtype == jnp.float32
    assert _relative(got, want) < 1e-6 * np.sqrt(9 * shape[-1])


def test_gradients_through_the_winograd_forward(x64):
    x, k, b = _arrays((2, 7, 8, 3), 5, np.float64)
    cot = jnp.asarray(R.standard_normal((2, 7, 8, 5)))

    def loss(f):
        return jax.grad(lambda *a: jnp.sum(f(*a, "SAME") * cot), argnums=(0, 1, 2))

    for got, want in zip(jax.jit(loss(_ours))(x, k, b), loss(_xla)(x, k, b), strict=True):
        assert _relative(got, want) < 1e-13
