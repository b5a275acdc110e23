"""Per-platform code paths: the CPU form where it applies, the default form on other platforms
and in sharded programs, same values either way (token-chunked MLPs as the example)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import nn
from parallax.kernels._platform import cpu_or_default, unsharded
from parallax.kernels.nn._mlp import _chunk_size


def _lowered(fn, *args, platform: str) -> str:
    return jax.jit(fn).trace(*args).lower(lowering_platforms=(platform,)).as_text()


def test_cpu_form_on_cpu_default_elsewhere():
    x = jnp.ones((4,))

    def f(x):
        return cpu_or_default(True, jnp.sin, jnp.cos, x)

    assert "sine" in _lowered(f, x, platform="cpu") and "cosine" not in _lowered(
        f, x, platform="cpu"
    )
    assert "cosine" in _lowered(f, x, platform="tpu")
    assert "cosine" in _lowered(
        lambda x: cpu_or_default(False, jnp.sin, jnp.cos, x), x, platform="cpu"
    )


def test_sharded_programs_take_the_default_form():
    mesh = jax.make_mesh((2,), ("data",), axis_types=(jax.sharding.AxisType.Explicit,))
    x = jax.device_put(jnp.ones((4, 3)), jax.NamedSharding(mesh, jax.P("data")))
    with jax.set_mesh(mesh):
        assert not unsharded()
        got = jax.jit(lambda x: cpu_or_default(True, jnp.sin, jnp.cos, x))(x)
    np.testing.assert_allclose(np.asarray(got), np.cos(1.0) * np.ones((4, 3)), rtol=1e-6)
    assert unsharded(jnp.ones(3))


@pytest.mark.parametrize("tokens, chunk", [(4096, 512), (1000, 500), (300, 150), (130, None)])
def test_chunk_size(tokens, chunk):
    assert _chunk_size(tokens) == chunk


@pytest.mark.parametrize("gated", [False, True])
def test_token_chunked_mlp_equals_the_whole_batch(gated):
    """(3, 400, 8) -> 1200 tokens: three chunks of 400 on CPU (a loop in the lowered program:
    the derivative always, the forward pass where the one-pass MLP handler is off), the whole
    batch on TPU; values and gradients equal the unchunked formula."""
    r = np.random.default_rng(0)
    x = jnp.asarray(r.standard_normal((3, 400, 8)), jnp.float32)
    w = {
        k: jnp.asarray(r.standard_normal(s) / 4, jnp.float32)
        for k, s in (
            ("w_gate", (8, 16)),
            ("w_up", (8, 16)),
            ("w_down", (16, 8)),
            ("w1", (8, 16)),
            ("w2", (16, 8)),
        )
    }
    if gated:
        params = {k: w[k] for k in ("w_gate", "w_up", "w_down")}

        def f(params, x):
            return nn.gated_mlp(params, x, activation="silu")

        def ref(p, x):
            return (jax.nn.silu(x @ p["w_gate"]) * (x @ p["w_up"])) @ p["w_down"]
    else:
        params = {k: w[k] for k in ("w1", "w2")}

        def f(params, x):
            return nn.mlp(params, x, activation="tanh")

        def ref(p, x):
            return jnp.tanh(x @ p["w1"]) @ p["w2"]

    def loss(p, x):
        return jnp.sum(f(p, x) ** 2)

    assert "stablehlo.while" in _lowered(jax.grad(loss), params, x, platform="cpu")
    assert "stablehlo.while" not in _lowered(jax.grad(loss), params, x, platform="tpu")
    with pytest.MonkeyPatch.context() as m:
        m.setenv("PARALLAX_MKL_MLP", "0")
        assert "stablehlo.while" in _lowered(lambda p, x: f(p, x), params, x, platform="cpu")
    np.testing.assert_allclose(
        np.asarray(jax.jit(f)(params, x)), np.asarray(ref(params, x)), rtol=1e-5, atol=1e-6
    )
    g = jax.jit(jax.grad(loss, (0, 1)))(params, x)
    g_ref = jax.grad(lambda p, x: jnp.sum(ref(p, x) ** 2), (0, 1))(params, x)
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
