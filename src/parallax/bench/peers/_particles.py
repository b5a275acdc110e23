"""Peer of the Lennard-Jones NVE kernel: jax-md on its own neighbor list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from parallax.bench.peers._peer import Peer, register_peer
from parallax.registry import Case


def _jax_md_nve(case: Case) -> Callable[[], Any]:
    """jax-md 0.2.x: ``energy.lennard_jones_neighbor_list`` (dense format, its own cell list;
    its cutoff is a smooth multiplicative switch from r_onset = r_c - 0.5 to r_c, not a shift —
    the same cost class) with ``simulate.nve``; the neighbor update (rebuilt when a particle
    moved > skin/2) and the step are fused in one ``lax.fori_loop`` of ``num_steps``."""
    from jax_md import energy, partition, simulate, space

    s = case.static
    x = jnp.asarray(case.inputs["positions"])
    box = float(case.inputs["box"])
    r_cut, skin = float(s["r_cut"]), float(s["skin"])
    disp, shift = space.periodic(jnp.asarray(box))
    neighbor_fn, energy_fn = energy.lennard_jones_neighbor_list(
        disp,
        jnp.asarray(box),
        r_onset=r_cut - 0.5,
        r_cutoff=r_cut,
        dr_threshold=skin,
        format=partition.NeighborListFormat.Dense,
    )
    x = jnp.mod(x, box)
    nbrs = neighbor_fn.allocate(x)
    init, apply = simulate.nve(energy_fn, shift, float(case.inputs["dt"]))
    state = init(jax.random.key(0), x, kT=1.0, neighbor=nbrs)
    steps = int(s["num_steps"])

    @jax.jit
    def run(state, nbrs):
        def body(_, carry):
            st, nb = carry
            nb = nb.update(st.position)
            return apply(st, neighbor=nb), nb

        return jax.lax.fori_loop(0, steps, body, (state, nbrs))

    return lambda: run(state, nbrs)


register_peer(
    "particles.lj_nve", Peer("jax-md", "jax_md", _jax_md_nve, cases=("bench", "bench_gpu"))
)
