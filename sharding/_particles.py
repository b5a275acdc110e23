r"""Particle decomposition for direct-sum N-body: a ring pass of particle blocks.

The ``n`` particles are split into ``p`` blocks over one mesh axis. Each device keeps its block
of *targets* and passes a block of *sources* around the ring with ``lax.ppermute``; after
``p - 1`` shifts every target has seen every source (the systolic "ring" algorithm, e.g.
Plimpton, J. Comput. Phys. 117, 1995; Nyland, Harris & Prins, GPU Gems 3 ch. 31). Memory per
device is ``O(n/p)``, communication ``(p - 1)`` blocks of positions and masses per evaluation, and
no device ever holds all positions.

Accelerations (Plummer softening ``ε > 0``, so the self term ``r_i - r_i = 0`` vanishes without a
mask, as in :func:`parallax.kernels.particles.nbody_accelerations`):

.. math:: a_i = G \sum_j m_j \frac{r_j - r_i}{(|r_j - r_i|^2 + \epsilon^2)^{3/2}}.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh, PartitionSpec

from parallax.kernels import checkpointed_scan
from parallax.sharding._halo import check_decomposition, conform

__all__ = ["block_accelerations", "ring_accelerations", "sharded_nbody_rollout"]


def block_accelerations(
    targets: jax.Array,
    sources: jax.Array,
    masses: jax.Array,
    softening: jax.Array | float,
    G: jax.Array | float,
) -> jax.Array:
    """Accelerations on ``targets (t, d)`` from ``sources (s, d)`` with ``masses (s,)``."""
    dr = sources[None, :, :] - targets[:, None, :]
    r2 = jnp.sum(dr * dr, axis=-1) + softening * softening
    inv_r = lax.rsqrt(r2)
    w = masses.reshape(1, -1) * inv_r * inv_r * inv_r
    return G * jnp.sum(w[:, :, None] * dr, axis=1)


def ring_accelerations(
    mesh: Mesh, axis: str
) -> Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]:
    """``acc(positions (n, d), masses (n,), softening, G) -> (n, d)`` with particles sharded
    over mesh axis ``axis`` and sources passed around the ring."""
    p = mesh.shape[axis]
    perm = [(i, (i + 1) % p) for i in range(p)]

    def local(x: jax.Array, m: jax.Array, eps: jax.Array, g: jax.Array) -> jax.Array:
        def body(carry, _):
            acc, sx, sm = carry
            sx, sm = lax.ppermute((sx, sm), axis, perm)
            return (acc + block_accelerations(x, sx, sm, eps, g), sx, sm), None

        acc0 = block_accelerations(x, x, m, eps, g)
        (acc, _, _), _ = lax.scan(body, (acc0, x, m), None, length=p - 1)
        return acc

    in_specs = (PartitionSpec(axis), PartitionSpec(axis), PartitionSpec(), PartitionSpec())
    smap = jax.shard_map(local, mesh=mesh, in_specs=in_specs, out_specs=PartitionSpec(axis))

    def acc(x: jax.Array, m: jax.Array, softening: jax.Array, G: jax.Array) -> jax.Array:
        check_decomposition(x.shape, mesh, PartitionSpec(axis), name="positions")
        dtype = x.dtype
        args = (x, m.astype(dtype), jnp.asarray(softening, dtype), jnp.asarray(G, dtype))
        return smap(*conform(args, mesh, in_specs))

    return acc


def sharded_nbody_rollout(
    mesh: Mesh,
    axis: str,
    positions: jax.Array,
    velocities: jax.Array,
    masses: jax.Array,
    dt: jax.Array | float,
    softening: jax.Array | float,
    *,
    num_steps: int,
    G: float = 1.0,
    checkpoint: str | None = None,
    checkpoints: int | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Velocity-Verlet (kick-drift-kick) N-body rollout with ring accelerations.

    Same scheme as :func:`parallax.kernels.particles.nbody_rollout`; returns the final
    ``(positions, velocities)``, sharded over ``axis``. ``checkpoint`` / ``checkpoints`` bound
    the memory of gradients through the rollout (:func:`parallax.kernels.rollout`).
    """
    acc = ring_accelerations(mesh, axis)
    dtype = positions.dtype
    dt = jnp.asarray(dt, dtype)
    eps = jnp.asarray(softening, dtype)
    g = jnp.asarray(G, dtype)
    m = masses.astype(dtype)

    def step(s):
        x, v, a = s
        v = v + (0.5 * dt) * a
        x = x + dt * v
        a = acc(x, m, eps, g)
        return (x, v + (0.5 * dt) * a, a), None

    (x, v, _), _ = checkpointed_scan(
        step,
        (positions, velocities, acc(positions, m, eps, g)),
        num_steps,
        checkpoint=checkpoint,
        checkpoints=checkpoints,
    )
    return x, v
