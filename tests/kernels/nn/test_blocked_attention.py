"""Blocked (flash-style) attention: values and gradients against the einsum path, masks, grouped
heads, ragged lengths, low precision, transformations, memory, and the per-platform choice."""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import nn
from parallax.kernels.nn import _mkl_attention
from parallax.kernels.nn._blocked import blocked_attention


def _arrays(shapes, seed, dtype):
    r = np.random.default_rng(seed)
    return [jnp.asarray(r.standard_normal(s), dtype) for s in shapes]


def _mask(kind: str, b: int, h: int, sq: int, sk: int, seed: int = 0) -> np.ndarray | None:
    r = np.random.default_rng(seed)
    if kind == "none":
        return None
    if kind == "padding":  # (b, 1, 1, sk): the last keys of batch 1 padded
        return (np.arange(sk)[None, :] < np.array([[sk], [sk - 5]]))[:, None, None, :]
    shape = {"per_head": (b, h, sq, sk), "batch": (b, 1, sq, sk), "head_row": (1, h, 1, sk)}[kind]
    m = r.random(shape) < 0.6
    m[..., 0] = True  # every query keeps a key
    return m


CASES = [  # b, sq, sk, h, kvh, d, dv, causal, block_q, block_k, mask
    (2, 16, 16, 4, 2, 8, 8, False, 4, 8, "none"),
    (2, 16, 16, 4, 2, 8, 8, True, 4, 8, "none"),
    (2, 16, 16, 4, 4, 8, 8, True, 8, 4, "none"),
    (1, 13, 13, 2, 1, 4, 6, True, 4, 4, "none"),  # lengths not multiples of the blocks
    (2, 12, 20, 4, 4, 4, 4, False, 8, 8, "padding"),
    (2, 12, 12, 4, 2, 4, 4, True, 4, 8, "per_head"),
    (2, 12, 12, 4, 2, 4, 4, False, 4, 8, "batch"),
    (2, 12, 12, 4, 2, 4, 4, True, 8, 4, "head_row"),
    (1, 20, 12, 2, 1, 4, 4, True, 8, 8, "none"),  # causal with seq_q > seq_k
]


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"{'causal' if c[7] else 'full'}-{c[10]}-{c[8]}x{c[9]}"
)
def test_values_and_gradients_equal_the_einsum_path_float64(case):
    b, sq, sk, h, kvh, d, dv, causal, bq, bk, kind = case
    with jax.enable_x64(True):
        q, k, v, ct = _arrays(
            [(b, sq, h, d), (b, sk, kvh, d), (b, sk, kvh, dv), (b, sq, h, dv)], 1, jnp.float64
        )
        m = _mask(kind, b, h, sq, sk)
        mask = None if m is None else jnp.asarray(m)

        def blocked(q, k, v):
            return blocked_attention(
                q, k, v, mask, causal=causal, scale=0.3, block_q=bq, block_k=bk
            )

        def einsum(q, k, v):
            return nn.dot_product_attention(
                q, k, v, causal=causal, mask=mask, scale=0.3, implementation="einsum"
            )

        got, want = jax.jit(blocked)(q, k, v), jax.jit(einsum)(q, k, v)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-13)
        g_got = jax.jit(jax.grad(lambda *a: jnp.sum(ct * blocked(*a)), (0, 1, 2)))(q, k, v)
        g_want = jax.jit(jax.grad(lambda *a: jnp.sum(ct * einsum(*a)), (0, 1, 2)))(q, k, v)
        for a, w in zip(g_got, g_want, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(w), rtol=1e-11, atol=1e-12)


def test_default_blocks_through_the_public_api():
    """``implementation="blocked"`` with its default blocks over several blocks each way."""
    with jax.enable_x64(True):
        q, k, v = _arrays([(1, 600, 4, 8), (1, 600, 2, 8), (1, 600, 2, 8)], 2, jnp.float64)
        pad = jnp.asarray(np.arange(600)[None, :] < 550)
        for causal in (False, True):
            got = nn.dot_product_attention(
                q, k, v, causal=causal, padding_mask=pad, implementation="blocked"
            )
            want = nn.dot_product_attention(
                q, k, v, causal=causal, padding_mask=pad, implementation="einsum"
            )
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-13)


def test_row_without_allowed_keys_averages_the_values_like_the_einsum_path():
    q, k, v = _arrays([(1, 8, 2, 4), (1, 8, 2, 4), (1, 8, 2, 4)], 3, jnp.float32)
    m = np.ones((1, 1, 8, 8), bool)
    m[0, 0, 3] = False
    mask = jnp.asarray(m)
    got = blocked_attention(q, k, v, mask, causal=False, scale=0.5, block_q=4, block_k=4)
    want = nn.dot_product_attention(q, k, v, mask=mask, scale=0.5, implementation="einsum")
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got[0, 3]), np.asarray(v[0].mean(0)), rtol=1e-6)


def test_bfloat16_inputs_accumulate_in_float32():
    q, k, v = _arrays([(2, 64, 4, 16), (2, 64, 2, 16), (2, 64, 2, 16)], 4, jnp.bfloat16)

    @jax.jit
    def f(q, k, v):
        return blocked_attention(q, k, v, None, causal=True, scale=0.25, block_q=16, block_k=32)

    out = f(q, k, v)
    assert out.dtype == jnp.bfloat16
    f32 = [a.astype(jnp.float32) for a in (q, k, v)]
    want = nn.dot_product_attention(*f32, causal=True, scale=0.25, implementation="einsum")
    np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(want), atol=2e-2)
    grads = jax.jit(jax.grad(lambda *a: jnp.sum(f(*a).astype(jnp.float32)), (0, 1, 2)))(q, k, v)
    g32 = jax.grad(
        lambda *a: jnp.sum(
            nn.dot_product_attention(*a, causal=True, scale=0.25, implementation="einsum")
        ),
        (0, 1, 2),
    )(*f32)
    for a, w in zip(grads, g32, strict=True):
        assert a.dtype == jnp.bfloat16
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(w), atol=6e-2)


def test_vmap_and_jit_compose():
    q, k, v = _arrays([(3, 2, 12, 2, 4), (3, 2, 12, 1, 4), (3, 2, 12, 1, 4)], 5, jnp.float32)

    def f(q, k, v):
        return blocked_attention(q, k, v, None, causal=True, scale=0.5, block_q=4, block_k=4)

    batched = jax.jit(jax.vmap(f))(q, k, v)
    single = jax.jit(f)
    for i in range(3):
        np.testing.assert_allclose(
            np.asarray(batched[i]), np.asarray(single(q[i], k[i], v[i])), rtol=1e-6, atol=1e-7
        )
    gv = jax.jit(jax.vmap(jax.grad(lambda q, k, v: jnp.sum(f(q, k, v) ** 2))))(q, k, v)
    g0 = jax.jit(jax.grad(lambda q: jnp.sum(f(q, k[0], v[0]) ** 2)))(q[0])
    np.testing.assert_allclose(np.asarray(gv[0]), np.asarray(g0), rtol=1e-5, atol=1e-6)


def _grad_temp_bytes(s: int, implementation: Literal["auto", "blocked", "einsum", "mkl"]) -> int:
    spec = jax.ShapeDtypeStruct((1, s, 2, 32), jnp.float32)

    def loss(q, k, v):
        out = nn.dot_product_attention(q, k, v, causal=True, implementation=implementation)
        return jnp.sum(out)

    compiled = jax.jit(jax.grad(loss, (0, 1, 2))).lower(spec, spec, spec).compile()
    memory = compiled.memory_analysis()
    assert memory is not None
    return memory.temp_size_in_bytes


def test_gradient_memory_is_linear_in_the_sequence_length():
    """Compiled temporaries of value-and-grad at S = 4096: the einsum path stores the
    (S, S) probabilities per head; the blocked and MKL paths only O(S) rows and statistics
    (the MKL handlers' per-thread blocks are O(S) too, outside XLA's accounting)."""
    einsum = _grad_temp_bytes(4096, "einsum")
    paths: list[Literal["blocked", "mkl"]] = ["blocked"]
    if _mkl_attention.available():
        paths.append("mkl")
    used = {path: {s: _grad_temp_bytes(s, path) for s in (2048, 4096)} for path in paths}
    for path in paths:
        assert used[path][4096] < einsum / 20
        assert used[path][4096] < 2.5 * used[path][2048]  # linear, not quadratic, growth
    # "auto" on CPU is the MKL path where it is available, else the blocked path
    assert _grad_temp_bytes(4096, "auto") == used[paths[-1]][4096]


def test_auto_lowers_per_platform():
    """One traced function: the MKL custom calls (blocked loops without MKL) when lowered for
    CPU, the Pallas (Triton) kernel when lowered for CUDA."""
    spec = jax.ShapeDtypeStruct((1, 256, 2, 64), jnp.float32)
    traced = jax.jit(lambda q, k, v: nn.dot_product_attention(q, k, v, causal=True)).trace(
        spec, spec, spec
    )
    cpu = traced.lower(lowering_platforms=("cpu",)).as_text()
    cuda = traced.lower(lowering_platforms=("cuda",)).as_text()
    if _mkl_attention.available():
        assert _mkl_attention.FORWARD in cpu and _mkl_attention.BACKWARD not in cpu
    else:
        assert "stablehlo.while" in cpu
    assert "triton" not in cpu.lower()
    assert "triton" in cuda.lower() and "parallax_mkl" not in cuda
