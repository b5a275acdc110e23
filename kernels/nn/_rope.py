r"""Rotary position embeddings (Su et al., 2021, "RoFormer: enhanced transformer with rotary
position embedding", arXiv:2104.09864).

Each pair of features ``(x_a, x_b)`` of a head is rotated by the angle ``θ_i · p`` where ``p`` is
the token position and ``θ_i = base^{-2i/d}`` (``i = 0 … d/2-1``, ``d = head_dim``):

.. math:: (x_a, x_b) \mapsto (x_a \cos θ_i p - x_b \sin θ_i p,\; x_b \cos θ_i p + x_a \sin θ_i p)

so ``⟨R_p q, R_s k⟩`` depends only on ``p - s``. Two pairings are in use and are NOT
interchangeable:

* ``interleaved=False`` — "rotate half" (GPT-NeoX, LLaMA in Hugging Face): feature ``i`` pairs
  with feature ``i + d/2``;
* ``interleaved=True`` — the RoFormer paper and GPT-J: feature ``2i`` pairs with ``2i + 1``.

Angles are computed in float32 (float64 for float64 inputs); low-precision inputs are rotated in
float32 and cast back.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from parallax.kernels._checks import check_array
from parallax.kernels._platform import unsharded

__all__ = ["apply_rope", "rope_angles"]


def rope_angles(
    positions: Int[Array, "*batch seq"], head_dim: int, *, base: float, dtype=jnp.float32
) -> Float[Array, "*batch seq half"]:
    """``θ_i · p`` for every position and each of the ``head_dim // 2`` frequencies."""
    if head_dim % 2:
        raise ValueError(f"head_dim: RoPE needs an even head dimension, got {head_dim}")
    if not base > 0:
        raise ValueError(f"base: expected > 0, got {base!r}")
    half = head_dim // 2
    exponent = jnp.arange(half, dtype=dtype) * jnp.asarray(2.0 / head_dim, dtype)
    inv_freq = jnp.asarray(base, dtype) ** (-exponent)
    pos = positions.astype(dtype)
    return pos[..., None] * inv_freq.reshape((1,) * positions.ndim + (half,))


def apply_rope(
    x: Float[Array, "batch seq heads head_dim"],
    positions: Int[Array, "batch seq"] | None = None,
    *,
    base: float,
    interleaved: bool,
) -> Float[Array, "batch seq heads head_dim"]:
    """Rotate the features of ``x`` (BTNH layout) by their positions.

    ``positions`` defaults to ``0 … seq-1`` for every batch row.
    """
    check_array("x", x, ndim=4)
    b, s, _, d = x.shape
    if positions is not None:
        check_array("positions", positions, shape=(b, s), kind="integer")
    if d % 2:
        raise ValueError(f"x: RoPE needs an even head dimension, got {d}")
    return _rotate(x, positions, base=float(base), interleaved=bool(interleaved))


MAX_CONSTANT_TABLE = 1 << 20
"""Largest default-position cos/sin table (entries, each) embedded as a compile-time constant."""


def _tables(x: Array, positions: Array | None, d: int, base: float, cdt) -> tuple[Array, Array]:
    """``cos θ p`` and ``sin θ p`` as ``(b | 1, s, 1, d/2)`` tables.

    With default positions (and no mesh: constants cannot be evaluated inside a sharded
    program) the tables are evaluated while tracing and embedded as constants. Computed inside
    the program, XLA fuses cos and sin into the rotation and evaluates them for every head and
    batch row again, several times the cost of the rotation itself."""
    s = x.shape[1]
    if positions is None and s * (d // 2) <= MAX_CONSTANT_TABLE and unsharded(x):
        with jax.ensure_compile_time_eval():
            ang = rope_angles(jnp.arange(s, dtype=jnp.int32)[None, :], d, base=base, dtype=cdt)
            return jnp.cos(ang)[:, :, None, :], jnp.sin(ang)[:, :, None, :]
    if positions is None:
        positions = jnp.arange(s, dtype=jnp.int32)[None, :]
    ang = rope_angles(positions, d, base=base, dtype=cdt)[:, :, None, :]
    return jnp.cos(ang), jnp.sin(ang)


@functools.partial(jax.jit, static_argnames=("base", "interleaved"))
def _rotate(x: Array, positions: Array | None, *, base: float, interleaved: bool) -> Array:
    d = x.shape[-1]
    cdt = jnp.float64 if x.dtype == jnp.float64 else jnp.float32
    cos, sin = _tables(x, positions, d, base, cdt)
    xc = x.astype(cdt)
    if interleaved:
        xa, xb = xc[..., 0::2], xc[..., 1::2]
        ra, rb = xa * cos - xb * sin, xb * cos + xa * sin
        out = jnp.stack([ra, rb], axis=-1).reshape(xc.shape)
    else:
        xa, xb = xc[..., : d // 2], xc[..., d // 2 :]
        out = jnp.concatenate([xa * cos - xb * sin, xb * cos + xa * sin], axis=-1)
    return out.astype(x.dtype)
