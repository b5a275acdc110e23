"""Scaled dot-product attention: probabilities, causal structure, bad input at trace time."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import nn


def _qkv(b=2, s=7, h=3, d=4, seed=0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    return tuple(jax.random.normal(k, (b, s, h, d)) for k in (k1, k2, k3))


@pytest.mark.parametrize("causal", [False, True])
def test_rows_sum_to_one(causal):
    q, k, _ = _qkv()
    p = nn.attention_weights(q, k, causal=causal)
    assert p.shape == (2, 3, 7, 7)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-6)
    assert bool(jnp.all(p >= 0))


def test_causal_mask_zeroes_above_the_diagonal():
    q, k, v = _qkv()
    p = nn.attention_weights(q, k, causal=True)
    upper = np.triu(np.ones((7, 7), bool), k=1)
    assert np.all(np.asarray(p)[..., upper] == 0.0)
    # the first query sees only the first key: its output is exactly v[:, 0]
    out = nn.dot_product_attention(q, k, v, causal=True)
    np.testing.assert_allclose(out[:, 0], v[:, 0], atol=1e-6)


def test_matches_a_plain_numpy_reference():
    q, k, v = (np.asarray(x, np.float64) for x in _qkv(seed=3))
    logits = np.einsum("bqhd,bkhd->bhqk", q, k) / 2.0
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ref = np.einsum("bhqk,bkhd->bqhd", p, v)
    with jax.default_matmul_precision("highest"):
        got = nn.dot_product_attention(*(jnp.asarray(x, jnp.float32) for x in (q, k, v)))
    np.testing.assert_allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize(
    ("shapes", "match"),
    [
        (((2, 7, 3), (2, 7, 3, 4), (2, 7, 3, 4)), "q: expected rank 4"),
        (((2, 7, 3, 4), (2, 7, 3, 5), (2, 7, 3, 5)), r"^k: .*\(2, 7, 3, 5\)"),
        (((2, 7, 3, 4), (2, 7, 3, 4), (2, 5, 3, 4)), r"^v: .*\(2, 5, 3, 4\)"),
    ],
)
def test_bad_shapes_raise_at_trace_time(shapes, match):
    args = [jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes]
    with pytest.raises(ValueError, match=match):
        jax.eval_shape(nn.dot_product_attention, *args)
