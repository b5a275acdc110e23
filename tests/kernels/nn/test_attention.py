"""Attention kernels: GQA, masks, RoPE, the Pallas flash path (interpret mode) and bad input.

``implementation="xla"`` (``jax.nn.dot_product_attention``) is never chosen by ``"auto"``: for
float64 it converts the logits to float32 (checked below). The blocked path has its own tests.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import nn


def _qkv(b=2, s=8, h=4, kvh=2, d=4, seed=0, dtype=jnp.float32):
    r = np.random.default_rng(seed)
    mk = lambda *shape: jnp.asarray(r.standard_normal(shape), dtype)  # noqa: E731
    return mk(b, s, h, d), mk(b, s, kvh, d), mk(b, s, kvh, d)


def _naive(q, k, v, allowed):
    """Per-head loops in NumPy float64: softmax over allowed keys only."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    b, sq, h, d = q.shape
    g = h // k.shape[2]
    out = np.zeros((b, sq, h, v.shape[-1]))
    for bi in range(b):
        for hi in range(h):
            logits = q[bi, :, hi] @ k[bi, :, hi // g].T / np.sqrt(d)
            logits = np.where(allowed[bi], logits, -np.inf)
            p = np.exp(logits - logits.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            out[bi, :, hi] = p @ v[bi, :, hi // g]
    return out


@pytest.mark.parametrize("impl", ["xla", "einsum"])
def test_gqa_causal_padding_matches_naive(impl):
    q, k, v = _qkv()
    pad = jnp.asarray(np.arange(8)[None, :] < np.array([[8], [5]]))
    f = jax.jit(nn.dot_product_attention, static_argnames=("causal", "implementation"))
    got = f(q, k, v, causal=True, padding_mask=pad, implementation=impl)
    allowed = np.tril(np.ones((8, 8), bool))[None] & np.asarray(pad)[:, None, :]
    np.testing.assert_allclose(np.asarray(got), _naive(q, k, v, allowed), rtol=2e-5, atol=2e-6)


def test_general_mask_per_head():
    q, k, v = _qkv(h=2, kvh=2)
    r = np.random.default_rng(3)
    m = r.random((2, 2, 8, 8)) < 0.6
    m[..., 0] = True  # every query keeps a key
    got = nn.dot_product_attention(q, k, v, mask=jnp.asarray(m))
    for hi in range(2):
        want = _naive(q[:, :, hi : hi + 1], k[:, :, hi : hi + 1], v[:, :, hi : hi + 1], m[:, hi])
        np.testing.assert_allclose(np.asarray(got[:, :, hi : hi + 1]), want, rtol=2e-5, atol=2e-6)


def test_jax_nn_attention_downcasts_float64():
    """Why 'auto' avoids jax.nn.dot_product_attention for float64: its softmax runs in float32."""
    with jax.enable_x64(True):
        q, k, v = _qkv(dtype=jnp.float64, kvh=4)
        want = _naive(q, k, v, np.ones((2, 8, 8), bool))
        f = jax.jit(nn.dot_product_attention, static_argnames="implementation")
        ours = f(q, k, v, implementation="einsum")
        xla = f(q, k, v, implementation="xla")
        assert np.max(np.abs(np.asarray(ours) - want)) < 1e-13
        assert np.max(np.abs(np.asarray(xla) - want)) > 1e-10


@pytest.mark.parametrize("causal", [False, True])
def test_flash_interpret_matches_reference_across_blocks(causal):
    q, k, v = _qkv(b=1, s=16, h=2, kvh=1, d=4, seed=1)

    def flash(q):
        return nn.flash_attention(q, k, v, causal=causal, block_q=4, block_k=8, interpret=True)

    def ref(q):
        return nn.dot_product_attention(q, k, v, causal=causal, implementation="einsum")

    got, gf = jax.jit(jax.value_and_grad(lambda q: jnp.sum(flash(q) ** 2)))(q)
    want, gr = jax.jit(jax.value_and_grad(lambda q: jnp.sum(ref(q) ** 2)))(q)
    np.testing.assert_allclose(
        np.asarray(jax.jit(flash)(q)), np.asarray(ref(q)), rtol=1e-5, atol=1e-6
    )
    assert float(got) == pytest.approx(float(want), rel=1e-5)
    np.testing.assert_allclose(np.asarray(gf), np.asarray(gr), rtol=1e-4, atol=1e-5)


def test_flash_bad_block():
    q, k, v = _qkv(s=12)
    with pytest.raises(ValueError, match="q: sequence length 12"):
        nn.flash_attention(q, k, v, block_q=8)


def test_rope_relative_positions():
    """<R_p q, R_s k> depends on p - s only, for both pairings; norms are preserved."""
    r = np.random.default_rng(0)
    q = jnp.asarray(r.standard_normal((1, 1, 1, 16)))
    k = jnp.asarray(r.standard_normal((1, 1, 1, 16)))
    for inter in (False, True):

        def dot(p, s, inter=inter):
            rq = nn.apply_rope(q, jnp.array([[p]]), base=100.0, interleaved=inter)
            rk = nn.apply_rope(k, jnp.array([[s]]), base=100.0, interleaved=inter)
            return float(jnp.sum(rq * rk))

        assert dot(7, 3) == pytest.approx(dot(14, 10), rel=1e-5)
        assert dot(0, 0) == pytest.approx(float(jnp.sum(q * k)), rel=1e-6)
        rq = nn.apply_rope(q, jnp.array([[5]]), base=100.0, interleaved=inter)
        assert float(jnp.linalg.norm(rq)) == pytest.approx(float(jnp.linalg.norm(q)), rel=1e-6)
    a = nn.apply_rope(q, jnp.array([[5]]), base=100.0, interleaved=False)
    b = nn.apply_rope(q, jnp.array([[5]]), base=100.0, interleaved=True)
    assert float(jnp.max(jnp.abs(a - b))) > 1e-3  # the two pairings differ


def _mha_params(d=16, h=4, kvh=2, seed=0):
    r = np.random.default_rng(seed)
    hd = d // h
    w = lambda *s: jnp.asarray(r.standard_normal(s) / np.sqrt(s[0]), jnp.float32)  # noqa: E731
    return {"wq": w(d, h * hd), "wk": w(d, kvh * hd), "wv": w(d, kvh * hd), "wo": w(h * hd, d)}


def test_mha_gqa_equals_mha_with_repeated_kv_weights():
    p = _mha_params()
    x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 6, 16)), jnp.float32)
    mha = jax.jit(
        nn.multi_head_attention,
        static_argnames=("num_heads", "num_kv_heads", "causal", "rope_base"),
    )
    gqa = mha(p, x, num_heads=4, num_kv_heads=2, causal=True, rope_base=1e4)
    rep = {
        **p,
        "wk": jnp.repeat(p["wk"].reshape(16, 2, 4), 2, axis=1).reshape(16, 16),
        "wv": jnp.repeat(p["wv"].reshape(16, 2, 4), 2, axis=1).reshape(16, 16),
    }
    full = mha(rep, x, num_heads=4, num_kv_heads=4, causal=True, rope_base=1e4)
    np.testing.assert_allclose(np.asarray(gqa), np.asarray(full), rtol=1e-5, atol=1e-6)


def test_mha_causal_ignores_future_tokens():
    p = _mha_params()
    x = jnp.asarray(np.random.default_rng(1).standard_normal((1, 6, 16)), jnp.float32)
    y = x.at[:, 4:].set(0.0)
    f = jax.jit(lambda x: nn.multi_head_attention(p, x, num_heads=4, num_kv_heads=2, causal=True))
    np.testing.assert_allclose(np.asarray(f(x)[:, :4]), np.asarray(f(y)[:, :4]), rtol=1e-6)


def test_mha_cross_attention_shapes():
    p = _mha_params()
    x = jnp.ones((2, 5, 16), jnp.float32)
    c = jnp.ones((2, 7, 16), jnp.float32)
    out = nn.multi_head_attention(p, x, num_heads=4, num_kv_heads=2, causal=False, context=c)
    assert out.shape == (2, 5, 16)


def test_bad_input_raises_at_trace_time():
    q, k, v = _qkv(h=4, kvh=3)
    with pytest.raises(ValueError, match="k: kv_heads=3 must divide"):
        jax.jit(nn.dot_product_attention)(q, k, v)
    q, k, v = _qkv()
    with pytest.raises(ValueError, match=r"padding_mask: expected shape \(2, 8\)"):
        nn.dot_product_attention(q, k, v, padding_mask=jnp.ones((2, 7), bool))
    with pytest.raises(ValueError, match=r"mask: expected shape"):
        nn.dot_product_attention(q, k, v, mask=jnp.ones((2, 3, 8, 8), bool))
    with pytest.raises(TypeError, match="mask: expected a bool dtype"):
        nn.dot_product_attention(q, k, v, mask=jnp.ones((1, 1, 8, 8)))
    with pytest.raises(ValueError, match="q: expected rank 4"):
        nn.dot_product_attention(q[0], k, v)
    p = _mha_params()
    x = jnp.ones((2, 5, 16), jnp.float32)
    with pytest.raises(ValueError, match="num_kv_heads: expected a positive int dividing"):
        nn.multi_head_attention(p, x, num_heads=4, num_kv_heads=3, causal=False)
    with pytest.raises(ValueError, match=r"params\['wq'\]: output features 16 not divisible"):
        nn.multi_head_attention(p, x, num_heads=3, num_kv_heads=1, causal=False)
    with pytest.raises(ValueError, match="params: missing keys \\['wo'\\]"):
        nn.multi_head_attention(
            {k: p[k] for k in ("wq", "wk", "wv")}, x, num_heads=4, num_kv_heads=2, causal=False
        )
    with pytest.raises(ValueError, match="x: expected rank 3"):
        nn.multi_head_attention(p, x[0], num_heads=4, num_kv_heads=2, causal=False)


@pytest.mark.parametrize("impl", ["einsum", "chunked", "xla"])
def test_paths_agree_with_masks_and_groups(impl):
    """Every code path gives the same answer (chunked: 4 chunks of 128 rows with a mask)."""
    q, k, v = _qkv(b=1, s=256, h=2, kvh=1, d=4, seed=5)
    pad = jnp.asarray(np.arange(256)[None, :] < 200)
    f = jax.jit(nn.dot_product_attention, static_argnames=("causal", "implementation"))
    got = f(q, k, v, causal=True, padding_mask=pad, implementation=impl)
    want = f(q, k, v, causal=True, padding_mask=pad, implementation="einsum")
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("impl", ["einsum", "chunked"])
def test_grouped_heads_with_broadcast_masks(impl):
    """Masks broadcast over heads and/or query rows, with kv groups folded into rows."""
    q, k, v = _qkv(b=2, s=8, h=4, kvh=2, d=4, seed=6)
    r = np.random.default_rng(2)
    pad = np.arange(8)[None, :] < np.array([[8], [3]])
    full = r.random((2, 4, 8, 8)) < 0.7
    full[..., 0] = True
    for mask in (pad[:, None, None, :], full[:, :1], full, full[:, :, :1]):
        got = nn.dot_product_attention(q, k, v, mask=jnp.asarray(mask), implementation=impl)
        allowed = np.broadcast_to(mask, (2, 4, 8, 8))
        for hi in range(4):
            want = _naive(
                q[:, :, hi : hi + 1],
                k[:, :, hi // 2 : hi // 2 + 1],
                v[:, :, hi // 2 : hi // 2 + 1],
                allowed[:, hi],
            )
            np.testing.assert_allclose(
                np.asarray(got[:, :, hi : hi + 1]), want, rtol=2e-5, atol=2e-6
            )


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_grouped_projection_equals_separate_products(dtype):
    """q, k, v from ``_grouped_projection`` (separate MKL products on CPU) equal ``x @ w``
    reshaped to ``(b, s, groups, c)``, values and gradients; on CPU no weight stacking or
    slicing of a stacked product is left in the program."""
    from parallax.kernels.nn._attention import _grouped_projection

    with jax.enable_x64(dtype == jnp.float64):
        r = np.random.default_rng(3)
        x = jnp.asarray(r.standard_normal((2, 5, 12)), dtype)
        ws = [jnp.asarray(r.standard_normal((12, n)), dtype) for n in (8, 4, 6)]

        def grouped(x, ws):
            return _grouped_projection(x, ws, 2)

        def reference(x, ws):
            return [jnp.einsum("bse,ef->bsf", x, w).reshape(2, 5, 2, -1) for w in ws]

        rtol, atol = (1e-5, 1e-5) if dtype == jnp.float32 else (1e-12, 0.0)
        for a, b in zip(jax.jit(grouped)(x, ws), reference(x, ws), strict=True):
            assert a.shape == b.shape and a.dtype == dtype
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)

        def loss(f):
            return lambda x, ws: sum(jnp.sum(jnp.sin(y) * (i + 1)) for i, y in enumerate(f(x, ws)))

        got = jax.jit(jax.grad(loss(grouped), argnums=(0, 1)))(x, ws)
        want = jax.grad(loss(reference), argnums=(0, 1))(x, ws)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)
        hlo = str(jax.jit(grouped).lower(x, ws).compile().as_text())
        assert "concatenate" not in hlo and " slice(" not in hlo
