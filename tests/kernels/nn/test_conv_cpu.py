"""The CPU forms of ``nn.conv_2d`` against XLA's 2D convolution: the MKL im2col handler and the
stacked-rows 1D convolution it falls back to (the handler off, float16). Values and
gradients at float64 over strides, dilations, paddings and groups; forward-mode and second
derivatives; vmap; and which form each platform, dtype and switch lowers to."""

from __future__ import annotations

import platform
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from parallax.kernels import nn
from parallax.kernels.nn import _conv_rows, _mkl_conv
from parallax.kernels.nn._conv import conv_padding

R = np.random.default_rng(11)
MKL_PLATFORM = platform.system() == "Linux" and platform.machine() == "x86_64"

CASES = [
    # x shape (n, h, w, c_in), window (k_h, k_w), c_out, stride, padding, dilation, groups
    ((2, 7, 6, 4), (3, 3), 6, 1, "SAME", 1, 1),
    ((2, 9, 8, 4), (3, 2), 6, (2, 1), "SAME", 1, 2),
    ((1, 11, 10, 3), (2, 3), 5, (1, 2), [(2, 0), (1, 3)], (2, 3), 1),
    ((2, 6, 7, 6), (1, 3), 6, 1, "VALID", 1, 3),
    ((2, 6, 7, 4), (3, 1), 4, (3, 2), 1, 1, 4),
    ((3, 5, 5, 2), (5, 5), 3, 1, "VALID", 1, 1),
    ((2, 8, 9, 3), (2, 2), 3, (3, 3), "VALID", 1, 1),
    # pads wider than the kernel (its transpose crops), a 1x1 kernel read in place, one image
    # with c_out off any tile, and one cut into several blocks over the pool
    ((2, 5, 6, 3), (2, 2), 4, (2, 3), [(4, 0), (0, 5)], 1, 1),
    ((2, 5, 7, 3), (1, 1), 5, 1, "VALID", 1, 1),
    ((1, 9, 13, 5), (3, 5), 17, 1, "SAME", (1, 2), 1),
    ((3, 40, 36, 4), (3, 3), 19, (1, 2), "SAME", 1, 1),
    # depthwise, and groups over several blocks
    ((2, 6, 5, 3), (3, 3), 6, 1, "SAME", 1, 3),
    ((2, 30, 31, 6), (2, 3), 9, (2, 1), [(1, 0), (2, 2)], (1, 2), 3),
]


def _xla(x, k, b, stride, padding, dilation, groups):
    strides = (stride,) * 2 if isinstance(stride, int) else tuple(stride)
    dil = (dilation,) * 2 if isinstance(dilation, int) else tuple(dilation)
    pads = conv_padding(padding, x.shape[1:-1], k.shape[:2], strides, dil)
    y = lax.conv_general_dilated(
        x,
        k,
        strides,
        pads,
        rhs_dilation=dil,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=groups,
    )
    return y + b.reshape(1, 1, 1, -1)


def _arrays(shape, window, co, groups, dtype: type = np.float64):
    x = jnp.asarray(R.standard_normal(shape), dtype)
    k = jnp.asarray(R.standard_normal((*window, shape[-1] // groups, co)), dtype)
    return x, k, jnp.asarray(R.standard_normal(co), dtype)


def _close(got, want, tol):
    scale = max(1.0, float(np.abs(np.asarray(want)).max(initial=0.0)))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=tol * scale)


@pytest.mark.parametrize(
    ("shape", "window", "co", "stride", "padding", "dilation", "groups"), CASES
)
def test_values_and_gradients_equal_xla_2d_convolution(
    shape, window, co, stride, padding, dilation, groups, x64
):
    x, k, b = _arrays(shape, window, co, groups)
    opts = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}

    def ours(x, k, b):
        return nn.conv_2d({"kernel": k, "bias": b}, x, **opts)

    def xla(x, k, b):
        return _xla(x, k, b, stride, padding, dilation, groups)

    want = xla(x, k, b)
    got = jax.jit(ours)(x, k, b)
    assert got.shape == want.shape and got.dtype == want.dtype
    _close(got, want, 1e-13)

    cot = jnp.asarray(R.standard_normal(want.shape))
    grads = jax.jit(jax.grad(lambda *a: jnp.sum(ours(*a) * cot), argnums=(0, 1, 2)))(x, k, b)
    wants = jax.grad(lambda *a: jnp.sum(xla(*a) * cot), argnums=(0, 1, 2))(x, k, b)
    for g, w in zip(grads, wants, strict=True):
        _close(g, w, 1e-13)


def test_float32_over_several_blocks_and_without_bias():
    x, k, _ = _arrays((4, 33, 40, 8), (3, 3), 24, 1, np.float32)
    b = jnp.zeros(24, jnp.float32)

    def ours(x, k):
        return nn.conv_2d({"kernel": k}, x, padding="SAME")

    got = jax.jit(ours)(x, k)
    assert got.dtype == jnp.float32
    _close(got, _xla(x, k, b, 1, "SAME", 1, 1), 2e-6)
    cot = jnp.asarray(R.standard_normal(got.shape), jnp.float32)
    grads = jax.jit(jax.grad(lambda x, k: jnp.sum(ours(x, k) * cot), (0, 1)))(x, k)
    wants = jax.grad(lambda x, k: jnp.sum(_xla(x, k, b, 1, "SAME", 1, 1) * cot), (0, 1))(x, k)
    for g, w in zip(grads, wants, strict=True):
        _close(g, w, 2e-6)


@pytest.mark.parametrize(("stride", "dilation", "groups"), [(1, 1, 1), ((2, 3), (1, 2), 2)])
def test_forward_mode_and_second_derivatives(stride, dilation, groups, x64):
    """jvp, and forward over reverse: the transposes of the transposes (an input-dilated
    convolution and the kernel gradient's own transposes)."""
    x, k, b = _arrays((2, 9, 10, 4), (3, 2), 6, groups)
    opts = {"stride": stride, "padding": [(1, 2), (2, 0)], "dilation": dilation, "groups": groups}

    def ours(x, k, b):
        return nn.conv_2d({"kernel": k, "bias": b}, x, **opts)

    def xla(x, k, b):
        return _xla(x, k, b, stride, opts["padding"], dilation, groups)

    tangents = tuple(jnp.cos(a) for a in (x, k, b))
    for got, want in zip(
        jax.jit(lambda: jax.jvp(ours, (x, k, b), tangents))(),
        jax.jvp(xla, (x, k, b), tangents),
        strict=True,
    ):
        _close(got, want, 1e-13)

    def hvp(f):
        def loss(*a):
            return jnp.sum(jnp.sin(f(*a)))

        return jax.jvp(jax.grad(loss, (0, 1, 2)), (x, k, b), tangents)[1]

    for got, want in zip(jax.jit(lambda: hvp(ours))(), hvp(xla), strict=True):
        _close(got, want, 1e-12)
    grad2 = jax.grad(lambda k: jnp.sum(jax.grad(lambda x: jnp.sum(ours(x, k, b) ** 2))(x) ** 2))
    want2 = jax.grad(lambda k: jnp.sum(jax.grad(lambda x: jnp.sum(xla(x, k, b) ** 2))(x) ** 2))
    _close(jax.jit(grad2)(k), want2(k), 1e-12)


def test_vmap_over_images_over_kernels_and_per_example_gradients(x64):
    x = jnp.asarray(R.standard_normal((3, 2, 6, 5, 4)))
    k = jnp.asarray(R.standard_normal((3, 3, 4, 6)))
    ks = jnp.asarray(R.standard_normal((3, 3, 3, 4, 6)))
    b = jnp.asarray(R.standard_normal(6))

    def ours(x, k):
        return nn.conv_2d({"kernel": k, "bias": b}, x, padding="SAME", stride=(1, 2))

    def xla(x, k):
        return _xla(x, k, b, (1, 2), "SAME", 1, 1)

    want = jnp.stack([xla(xi, k) for xi in x])
    _close(jax.jit(jax.vmap(ours, (0, None)))(x, k), want, 1e-13)
    _close(jax.vmap(ours, (2, None))(jnp.moveaxis(x, 0, 2), k), want, 1e-13)
    want = jnp.stack([xla(xi, ki) for xi, ki in zip(x, ks, strict=True)])
    _close(jax.jit(jax.vmap(ours))(x, ks), want, 1e-13)

    def per_example(f):
        return jax.vmap(jax.grad(lambda x, k: jnp.sum(jnp.sin(f(x, k))), (0, 1)), (0, None))

    for got, want in zip(per_example(ours)(x, k), per_example(xla)(x, k), strict=True):
        _close(got, want, 1e-13)


def _lowered(fn, *args, platform: str = "cpu") -> str:
    return jax.jit(fn).trace(*args).lower(lowering_platforms=(platform,)).as_text()


def _conv_ranks(text: str) -> set[int]:
    """Ranks of the ``stablehlo.convolution`` results in a lowering."""
    return {
        len(m.group(1).split("x")) - 1
        for m in re.finditer(r"stablehlo\.convolution.*-> tensor<([0-9x]+f\d+)>", text)
    }


def _conv(groups: int = 1):
    def f(x, k):
        return nn.conv_2d({"kernel": k}, x, padding="SAME", groups=groups)

    return f


def _grad(f):
    return jax.value_and_grad(lambda x, k: jnp.sum(f(x, k)), (0, 1))


def test_cpu_has_the_handler_where_mkl_is_installed():
    assert _mkl_conv.available() == MKL_PLATFORM, _mkl_conv.reason()


def test_which_form_each_platform_dtype_and_switch_lowers_to(monkeypatch):
    x = jnp.ones((2, 8, 8, 4), jnp.float32)
    k = jnp.ones((3, 3, 4, 8), jnp.float32)
    kg = jnp.ones((3, 3, 2, 8), jnp.float32)
    for f, kernel in ((_conv(), k), (_conv(groups=2), kg)):
        cpu = _lowered(_grad(f), x, kernel)
        if MKL_PLATFORM:
            assert f"custom_call @{_mkl_conv.TARGET}(" in cpu
            assert f"custom_call @{_mkl_conv.WEIGHT_TARGET}(" in cpu
            assert f"custom_call @{_mkl_conv.INPUT_TARGET}(" in cpu
            assert "stablehlo.convolution" not in cpu
        for other in ("cuda", "tpu"):
            text = _lowered(_grad(f), x, kernel, platform=other)
            assert "custom_call @parallax_" not in text and _conv_ranks(text) == {4}
    half = _lowered(_conv(), x.astype(jnp.float16), k.astype(jnp.float16))
    assert "custom_call @parallax_" not in half and _conv_ranks(half) == {3}

    monkeypatch.setenv("PARALLAX_MKL_CONV", "0")
    off = _lowered(_grad(_conv()), x, k)
    assert "custom_call @parallax_" not in off and _conv_ranks(off) == {3, 4}


def test_switched_off_values_equal_the_handlers(monkeypatch, x64):
    x, k, b = _arrays((2, 7, 9, 3), (3, 2), 5, 1)

    def run():
        def f(x, k, b):
            return nn.conv_2d({"kernel": k, "bias": b}, x, padding="SAME", stride=(2, 1))

        return jax.jit(jax.value_and_grad(lambda *a: jnp.sum(jnp.sin(f(*a))), (0, 1, 2)))(x, k, b)

    on = run()
    monkeypatch.setenv("PARALLAX_MKL_CONV", "0")
    for got, want in zip(jax.tree.leaves(run()), jax.tree.leaves(on), strict=True):
        _close(got, want, 1e-13)


def test_stacked_rows_in_chunks_of_images_with_bias(monkeypatch, x64):
    """Batches whose stacked rows exceed ``CHUNK_BYTES`` run a few images at a time."""
    monkeypatch.setattr(_conv_rows, "CHUNK_BYTES", 6000)
    monkeypatch.setenv("PARALLAX_MKL_CONV", "0")
    x, k, b = _arrays((6, 5, 4, 3), (3, 2), 4, 1)
    assert _conv_rows.images_per_chunk(x.shape, k.shape, (5, 4), ((1, 1), (0, 1)), 8) == 2

    def ours(x, k, b):
        return nn.conv_2d({"kernel": k, "bias": b}, x, padding="SAME")

    def xla(x, k, b):
        return _xla(x, k, b, 1, "SAME", 1, 1)

    assert "stablehlo.while" in _lowered(ours, x, k, b)
    _close(jax.jit(ours)(x, k, b), xla(x, k, b), 1e-13)
    grads = jax.grad(lambda *a: jnp.sum(jnp.sin(ours(*a))), argnums=(0, 1, 2))(x, k, b)
    wants = jax.grad(lambda *a: jnp.sum(jnp.sin(xla(*a))), argnums=(0, 1, 2))(x, k, b)
    for g, w in zip(grads, wants, strict=True):
        _close(g, w, 1e-13)


@pytest.mark.parametrize(
    ("shape", "window", "stride", "dilation"),
    [((1, 100, 20, 16), (3, 3), 1, 1), ((1, 60, 200, 16), (5, 3), (2, 1), (3, 1))],
)
def test_input_gradient_of_one_image_in_bands_over_the_pool(shape, window, stride, dilation, x64):
    """One image's input gradient runs as bands of output rows, alternate bands at once: the
    bands here are set by the block size and by the kernel's reach (12 rows)."""
    x, k, b = _arrays(shape, window, 8, 1)
    opts = {"stride": stride, "padding": "SAME", "dilation": dilation}

    def ours(x):
        return nn.conv_2d({"kernel": k, "bias": b}, x, **opts)

    y, pull = jax.vjp(ours, x)
    cot = jnp.asarray(R.standard_normal(y.shape))
    want = jax.vjp(lambda x: _xla(x, k, b, stride, "SAME", dilation, 1), x)[1](cot)[0]
    for _ in range(3):
        _close(jax.jit(pull)(cot)[0], want, 1e-13)


def test_the_primitive_names_mismatched_operands():
    x = jnp.ones((2, 6, 6, 4), jnp.float32)
    opts = {"strides": (1, 1), "padding": ((1, 1), (1, 1)), "dilation": (1, 1)}
    with pytest.raises(ValueError, match=r"kernel \(k_h, k_w, c / 2, o\)"):
        _mkl_conv.conv_2d(x, jnp.ones((3, 3, 4, 6)), jnp.ones(6), groups=2, **opts)
    with pytest.raises(ValueError, match="bias of shape"):
        _mkl_conv.conv_2d(x, jnp.ones((3, 3, 4, 6)), jnp.ones(5), **opts)
    with pytest.raises(TypeError, match="differ in dtype"):
        _mkl_conv.conv_2d(x, jnp.ones((3, 3, 4, 6), jnp.float16), jnp.ones(6), **opts)
