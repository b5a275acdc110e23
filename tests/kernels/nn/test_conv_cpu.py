"""The CPU form of ``nn.conv_2d`` (a 1D convolution over stacked input rows) against XLA's 2D
convolution: values and gradients at float64 over strides, dilations, paddings and groups, under
vmap, and which form each platform lowers."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from parallax.kernels import nn
from parallax.kernels.nn._conv import conv_padding

R = np.random.default_rng(11)

CASES = [
    # x shape (n, h, w, c_in), window (k_h, k_w), c_out, stride, padding, dilation, groups
    ((2, 7, 6, 4), (3, 3), 6, 1, "SAME", 1, 1),
    ((2, 9, 8, 4), (3, 2), 6, (2, 1), "SAME", 1, 2),
    ((1, 11, 10, 3), (2, 3), 5, (1, 2), [(2, 0), (1, 3)], (2, 3), 1),
    ((2, 6, 7, 6), (1, 3), 6, 1, "VALID", 1, 3),
    ((2, 6, 7, 4), (3, 1), 4, (3, 2), 1, 1, 4),
    ((3, 5, 5, 2), (5, 5), 3, 1, "VALID", 1, 1),
    ((2, 8, 9, 3), (2, 2), 3, (3, 3), "VALID", 1, 1),
]


def _direct(x, k, stride, padding, dilation, groups):
    nd = 2
    strides = (stride,) * nd if isinstance(stride, int) else tuple(stride)
    dil = (dilation,) * nd if isinstance(dilation, int) else tuple(dilation)
    pads = conv_padding(padding, x.shape[1:-1], k.shape[:nd], strides, dil)
    return lax.conv_general_dilated(
        x,
        k,
        strides,
        pads,
        rhs_dilation=dil,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=groups,
    )


@pytest.mark.parametrize(
    ("shape", "window", "co", "stride", "padding", "dilation", "groups"), CASES
)
def test_cpu_form_equals_xla_2d_convolution(
    shape, window, co, stride, padding, dilation, groups, x64
):
    x = jnp.asarray(R.standard_normal(shape))
    k = jnp.asarray(R.standard_normal((*window, shape[-1] // groups, co)))
    opts = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}

    def ours(x, k):
        return nn.conv_2d({"kernel": k}, x, **opts)

    def xla(x, k):
        return _direct(x, k, stride, padding, dilation, groups)

    want = xla(x, k)
    got = jax.jit(ours)(x, k)
    assert got.shape == want.shape
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-12)

    cot = jnp.asarray(R.standard_normal(want.shape))
    grads = jax.jit(jax.grad(lambda x, k: jnp.sum(ours(x, k) * cot), argnums=(0, 1)))(x, k)
    wants = jax.grad(lambda x, k: jnp.sum(xla(x, k) * cot), argnums=(0, 1))(x, k)
    for g, w in zip(grads, wants, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-12)


def test_cpu_form_under_vmap_and_float32():
    x = jnp.asarray(R.standard_normal((3, 2, 6, 5, 4)), jnp.float32)
    k = jnp.asarray(R.standard_normal((3, 3, 2, 6)), jnp.float32)
    got = jax.jit(jax.vmap(lambda x: nn.conv_2d({"kernel": k}, x, padding="SAME", groups=2)))(x)
    want = jnp.stack([_direct(xi, k, 1, "SAME", 1, 2) for xi in x])
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-6, atol=2e-6)


def _conv_ranks(fn, *args, platform: str) -> set[int]:
    """Ranks of the ``stablehlo.convolution`` results in ``fn``'s lowering for ``platform``."""
    text = jax.jit(fn).trace(*args).lower(lowering_platforms=(platform,)).as_text()
    return {
        len(m.group(1).split("x")) - 1
        for m in re.finditer(r"stablehlo\.convolution.*-> tensor<([0-9x]+f\d+)>", text)
    }


def test_cpu_lowers_to_a_1d_convolution_and_other_platforms_keep_the_2d_one():
    x = jnp.ones((2, 8, 8, 4), jnp.float32)
    k = jnp.ones((3, 3, 4, 8), jnp.float32)

    def f(x, k):
        return nn.conv_2d({"kernel": k}, x, padding="SAME")

    assert _conv_ranks(f, x, k, platform="cpu") == {3}
    assert _conv_ranks(f, x, k, platform="cuda") == {4}
    assert _conv_ranks(f, x, k, platform="tpu") == {4}


def test_cpu_form_in_chunks_of_images_with_bias(monkeypatch, x64):
    """Batches whose stacked rows exceed ``CHUNK_BYTES`` run a few images at a time."""
    from parallax.kernels.nn import _conv

    monkeypatch.setattr(_conv, "CHUNK_BYTES", 6000)
    x = jnp.asarray(R.standard_normal((6, 5, 4, 3)))
    k = jnp.asarray(R.standard_normal((3, 2, 3, 4)))
    b = jnp.asarray(R.standard_normal(4))
    assert _conv._images_per_chunk(x.shape, k.shape, (5, 4), ((1, 1), (0, 1)), 8) == 2

    def ours(x, k, b):
        return nn.conv_2d({"kernel": k, "bias": b}, x, padding="SAME")

    def xla(x, k, b):
        return _direct(x, k, 1, "SAME", 1, 1) + b.reshape(1, 1, 1, -1)

    np.testing.assert_allclose(np.asarray(jax.jit(ours)(x, k, b)), np.asarray(xla(x, k, b)))
    grads = jax.grad(lambda *a: jnp.sum(jnp.sin(ours(*a))), argnums=(0, 1, 2))(x, k, b)
    wants = jax.grad(lambda *a: jnp.sum(jnp.sin(xla(*a))), argnums=(0, 1, 2))(x, k, b)
    for g, w in zip(grads, wants, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-12)
