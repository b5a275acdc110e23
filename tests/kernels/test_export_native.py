"""Programs that use parallax's C++ handlers on CPU (FFT, dense products, MLPs, attention,
norms, convolution) export with ``jax.export``: the exported module lowers them to XLA's ops, and
the artifact computes what the jitted function does, forward and backward."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import fft, nn
from parallax.kernels.nn._mkl_matmul import dense

R = np.random.default_rng(5)


def _normal(*shape):
    return jnp.asarray(R.standard_normal(shape), jnp.float32)


def _attention(q, k, v):
    return nn.dot_product_attention(q, k, v, causal=True)


def _gated_mlp(x, w_gate, w_up, w_down):
    params = {"w_gate": w_gate, "w_up": w_up, "w_down": w_down}
    return nn.gated_mlp(params, x, activation="silu")


def _layer_norm(x, scale, bias):
    return nn.layer_norm({"scale": scale, "bias": bias}, x, eps=1e-5)


def _rms_norm(x, scale):
    return nn.rms_norm({"scale": scale}, x, eps=1e-6)


def _conv_2d(x, k, b):
    return nn.conv_2d({"kernel": k, "bias": b}, x, padding="SAME", stride=(2, 1))


CASES = {
    "fft": (lambda x: fft.irfftn(fft.rfftn(x) * 0.5, (16,)), (_normal(3, 16),)),
    "dense": (dense, (_normal(4, 8), _normal(8, 5))),
    "gated_mlp": (
        _gated_mlp,
        (_normal(3, 5, 8), _normal(8, 6) / 3, _normal(8, 6) / 3, _normal(6, 4) / 3),
    ),
    "conv_2d": (_conv_2d, (_normal(2, 7, 6, 3), _normal(3, 3, 3, 5), _normal(5))),
    "attention": (_attention, (_normal(2, 9, 4, 8), _normal(2, 9, 2, 8), _normal(2, 9, 2, 8))),
    "layer_norm": (_layer_norm, (_normal(3, 5, 40), _normal(40), _normal(40))),
    "rms_norm": (_rms_norm, (_normal(6, 33), _normal(33))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_exported_program_has_no_custom_call_and_matches(name):
    f, args = CASES[name]

    def loss(*a):
        return jnp.sum(jnp.sin(f(*a)))

    for fn in (f, jax.grad(loss, argnums=tuple(range(len(args))))):
        exported = jax.export.export(jax.jit(fn))(*args)
        assert "custom_call @parallax_" not in exported.mlir_module()
        restored = jax.export.deserialize(exported.serialize())
        for got, want in zip(
            jax.tree.leaves(restored.call(*args)), jax.tree.leaves(jax.jit(fn)(*args)), strict=True
        ):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-5, atol=2e-5)


def test_exported_value_checks_poison_the_result_with_nan():
    """A traced value check exports too; in the artifact a failed check gives NaN, as
    ``value_checks("nan")`` does, since the artifact runs without the CPU handler."""
    from parallax.kernels import pde

    def rollout(u0, dt):
        return pde.heat_rollout(u0, dt, jnp.float32(0.5), num_steps=3)

    u0 = _normal(2, 16)
    exported = jax.export.export(jax.jit(rollout))(u0, jnp.float32(1e-3))
    assert "custom_call @parallax_" not in exported.mlir_module()
    restored = jax.export.deserialize(exported.serialize())
    for got, want in zip(
        jax.tree.leaves(restored.call(u0, jnp.float32(1e-3))),
        jax.tree.leaves(jax.jit(rollout)(u0, jnp.float32(1e-3))),
        strict=True,
    ):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-6, atol=2e-6)
    bad = jax.tree.leaves(restored.call(u0, jnp.float32(-1.0)))
    assert all(np.isnan(np.asarray(leaf)).all() for leaf in bad if leaf.dtype.kind == "f")
    with pytest.raises(Exception, match="dt: expected a value > 0"):
        jax.block_until_ready(jax.jit(rollout)(u0, jnp.float32(-1.0)))
