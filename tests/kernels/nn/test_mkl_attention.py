"""Attention through the MKL custom calls (CPU): values and all three gradients against the
einsum path at float32 and float64, grouped heads, ragged and unequal lengths, vmap, the
choice ``"auto"`` makes, bad requests, and the fallback when it is turned off."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import nn
from parallax.kernels.nn import _mkl_attention

MKL_PLATFORM = platform.system() == "Linux" and platform.machine() == "x86_64"
needs_mkl = pytest.mark.skipif(not MKL_PLATFORM, reason="MKL's wheels are x86-64 Linux only")

CASES = [  # b, sq, sk, h, kvh, d, dv, causal
    (2, 70, 70, 4, 2, 16, 16, True),
    (2, 70, 70, 4, 2, 16, 16, False),
    (1, 33, 300, 3, 3, 8, 12, False),  # several key blocks, head_dim_v != head_dim
    (2, 300, 65, 4, 1, 8, 8, True),  # causal with seq_q > seq_k, several query blocks
    (1, 129, 129, 2, 2, 32, 32, True),
    # Non-causal with more than one full 128-row query block per kv head: K is packed once and
    # shared; the ragged last block multiplies it unpacked.
    (1, 300, 200, 4, 2, 16, 24, False),
    (2, 128, 50, 2, 1, 8, 8, False),  # exactly one block per head, shared by a group of two
    # Causal over more than one 256-row backward block: the first block's dK, dV products see
    # only part of the keys, and the group's second head adds to them.
    (1, 300, 300, 2, 1, 8, 8, True),
    # Causal with seq_q < seq_k (the last keys seen by no query), and seq_k ending inside the
    # second query block.
    (1, 150, 300, 2, 2, 16, 16, True),
    (2, 200, 170, 2, 1, 8, 8, True),
]
TOL = {jnp.float32: 2e-6, jnp.float64: 5e-14}


def _arrays(case, dtype, seed=0):
    b, sq, sk, h, kvh, d, dv, _ = case
    r = np.random.default_rng(seed)
    shapes = [(b, sq, h, d), (b, sk, kvh, d), (b, sk, kvh, dv), (b, sq, h, dv)]
    return [jnp.asarray(r.standard_normal(s), dtype) for s in shapes]


def _rel(got, want) -> float:
    return float(jnp.max(jnp.abs(got - want)) / jnp.max(jnp.abs(want)))


def _mkl_and_einsum(q, k, v, ct, causal):
    """(out, dq, dk, dv) through the MKL calls (jitted) and through the einsum path."""

    def run(impl):
        def f(q, k, v):
            return nn.dot_product_attention(q, k, v, causal=causal, implementation=impl)

        out, pull = jax.vjp(f, q, k, v)
        return (out, *pull(ct))

    return jax.jit(lambda: run("mkl"))(), run("einsum")


def test_cpu_has_it_where_mkl_is_installed():
    """scripts/test installs the ``cpu-fft`` extra, which carries MKL: a missing or broken
    build fails here, not as slow attention."""
    assert _mkl_attention.available() == MKL_PLATFORM, _mkl_attention.reason()


@needs_mkl
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:7])) + f"-{c[7]}")
def test_values_and_gradients_equal_the_einsum_path(case, dtype):
    causal = case[-1]
    with jax.enable_x64(dtype == jnp.float64):
        q, k, v, ct = _arrays(case, dtype)
        got, want = _mkl_and_einsum(q, k, v, ct, causal)
        for name, a, w in zip(("out", "dq", "dk", "dv"), got, want, strict=True):
            assert a.dtype == dtype
            assert _rel(a, w) < TOL[dtype], name


@needs_mkl
@pytest.mark.parametrize("causal", [False, True])
def test_peaked_softmax_where_most_weights_underflow(causal):
    """Logits spread over about 250: most of each row's exp(s - max) underflows to 0 or lands in
    float32's subnormals, the range where an exp's scaling by 2^n must not overflow or wrap. The
    logits' own rounding (about eps32 * |s| ~ 1e-5) bounds how closely two paths agree."""
    case = (1, 150, 150, 2, 2, 16, 16, causal)
    q, k, v, ct = _arrays(case, jnp.float32, seed=2)
    got, want = _mkl_and_einsum(25 * q, k, v, ct, causal)
    for name, a, w in zip(("out", "dq", "dk", "dv"), got, want, strict=True):
        assert bool(jnp.all(jnp.isfinite(a))), name
        assert _rel(a, w) < 3e-5, name


@needs_mkl
def test_vmap_over_a_leading_axis_values_and_gradients():
    case = (2, 40, 40, 4, 2, 8, 8, True)
    q, k, v, _ = _arrays(case, jnp.float32, seed=1)
    stack = [jnp.stack([x, 2 * x]) for x in (q, k, v)]

    def f(q, k, v):
        return nn.dot_product_attention(q, k, v, causal=True, implementation="mkl")

    batched = jax.jit(jax.vmap(f))(*stack)
    np.testing.assert_allclose(np.asarray(batched[0]), np.asarray(f(q, k, v)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(batched[1]), np.asarray(f(2 * q, 2 * k, 2 * v)), rtol=1e-6, atol=1e-6
    )

    def loss(q, k, v):
        return jnp.sum(f(q, k, v) ** 2)

    grads = jax.jit(jax.vmap(jax.grad(loss, (0, 1, 2))))(*stack)
    for i, scale in enumerate((1.0, 2.0)):
        single = jax.grad(loss, (0, 1, 2))(scale * q, scale * k, scale * v)
        for got, want in zip(grads, single, strict=True):
            np.testing.assert_allclose(np.asarray(got[i]), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_auto_takes_it_on_cpu_only_without_masks():
    spec = jax.ShapeDtypeStruct((1, 64, 2, 16), jnp.float32)
    plain = jax.jit(lambda q, k, v: nn.dot_product_attention(q, k, v)).lower(spec, spec, spec)
    pad = jnp.ones((1, 64), bool)
    masked = jax.jit(lambda q, k, v: nn.dot_product_attention(q, k, v, padding_mask=pad)).lower(
        spec, spec, spec
    )
    assert (_mkl_attention.FORWARD in plain.as_text()) == MKL_PLATFORM
    assert _mkl_attention.FORWARD not in masked.as_text()
    half = jax.ShapeDtypeStruct((1, 64, 2, 16), jnp.bfloat16)
    low = jax.jit(lambda q, k, v: nn.dot_product_attention(q, k, v)).lower(half, half, half)
    assert _mkl_attention.FORWARD not in low.as_text()


def test_explicit_requests_it_cannot_serve_name_why():
    q = jnp.ones((1, 8, 2, 4), jnp.float32)
    with pytest.raises(ValueError, match="implementation: 'mkl' takes float32/float64"):
        nn.dot_product_attention(q, q, q, padding_mask=jnp.ones((1, 8), bool), implementation="mkl")
    with pytest.raises(ValueError, match="implementation: 'mkl' takes float32/float64"):
        h = q.astype(jnp.bfloat16)
        nn.dot_product_attention(h, h, h, implementation="mkl")


def test_turned_off_auto_keeps_the_blocked_path_with_the_same_values():
    code = """
        import jax, jax.numpy as jnp, numpy as np
        from parallax.kernels import nn
        r = np.random.default_rng(0)
        q, k, v = (jnp.asarray(r.standard_normal((1, 40, 2, 8)), jnp.float32) for _ in range(3))
        f = jax.jit(lambda q, k, v: nn.dot_product_attention(q, k, v, causal=True))
        want = nn.dot_product_attention(q, k, v, causal=True, implementation="einsum")
        np.testing.assert_allclose(np.asarray(f(q, k, v)), np.asarray(want), rtol=1e-5, atol=1e-6)
        print("mkl" if "parallax_mkl_attention" in f.lower(q, k, v).as_text() else "blocked")
    """
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, "PARALLAX_MKL_ATTENTION": "0"},
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "blocked"
