"""A Lennard-Jones liquid: Langevin (NVT) equilibration, then constant-energy (NVE) production.

    scripts/run experiments/lj_fluid.py                  # ~1 min on 2 CPUs
    python experiments/lj_fluid.py --cells 4 --kT 1.0 --steps 200

``N = 4 cells³`` particles start on an fcc lattice at reduced density ``ρ`` with Maxwell–
Boltzmann velocities. Each loop step advances ``chunk`` MD steps with the particle kernels
(``parallax.kernels.particles``): BAOAB Langevin at temperature ``kT`` for the first
``nvt_chunks`` loop steps, then velocity Verlet (NVE). The state (positions, velocities, PRNG
key, radial-distribution histogram) is checkpointed, so the run resumes exactly. Plots:
energies and temperature against time (``plots/energy.png``) and the radial distribution
function g(r) accumulated over the NVE phase (``plots/rdf.png``).

A good result (default: N=108, ρ=0.8442, kT=0.722, a dense liquid): the NVT temperature
fluctuating around 0.72, the NVE total energy drifting by less than ~1e-3 relative, and g(r)
with its first peak (≈2.5-3) near r ≈ 1.1σ, a second shell near 2σ, and g → 1 beyond.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

from parallax import run
from parallax.kernels.initial_conditions import fcc_lattice
from parallax.kernels.particles import lj_langevin_rollout, lj_nve_rollout, pair_displacements


@dataclasses.dataclass
class Config(run.RunConfig):
    """Lennard-Jones fluid: NVT equilibration, NVE production, g(r)."""

    cells: Annotated[int, run.Range(ge=1)] = 3
    """fcc unit cells per side (N = 4 cells³ particles)."""
    density: Annotated[float, run.Range(gt=0, le=1.5)] = 0.8442
    kT: Annotated[float, run.Range(gt=0)] = 0.722
    gamma: Annotated[float, run.Range(ge=0)] = 1.0
    """Langevin friction during NVT."""
    dt: Annotated[float, run.Range(gt=0, le=0.02)] = 0.005
    r_cut: Annotated[float, run.Range(gt=0)] = 2.5
    chunk: Annotated[int, run.Range(ge=1)] = 50
    """MD steps per loop step."""
    nvt_chunks: Annotated[int, run.Range(ge=0)] = 40
    """Loop steps of Langevin equilibration before NVE."""
    rdf_bins: Annotated[int, run.Range(ge=4)] = 100
    steps: run.Steps = 100
    log_every: run.Every = 1
    checkpoint_every: run.Every = 25

    @property
    def n(self) -> int:
        return 4 * self.cells**3

    @property
    def box(self) -> float:
        return (self.n / self.density) ** (1 / 3)

    def validate(self) -> None:
        if self.r_cut > self.box / 2:
            raise run.ConfigError(
                "r_cut", f"must be at most half the box ({self.box / 2:.3f}) for minimum images"
            )
        if self.nvt_chunks >= self.steps > 0:
            raise run.ConfigError("nvt_chunks", f"leaves no NVE steps (steps={self.steps})")


def main(cfg: Config, r: run.Run) -> dict:
    n, box = cfg.n, jnp.float32(cfg.box)
    dt, sigma, eps = jnp.float32(cfg.dt), jnp.float32(1.0), jnp.float32(1.0)
    gamma, kT = jnp.float32(cfg.gamma), jnp.float32(cfg.kT)
    r_max = cfg.box / 2
    edges = np.linspace(0.0, r_max, cfg.rdf_bins + 1)
    shell = (4 / 3) * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    pairs_ideal = jnp.asarray(n * (n - 1) / 2 * shell / cfg.box**3, jnp.float32)

    @jax.jit
    def init():
        key, sub = jax.random.split(jax.random.key(cfg.seed))
        v = jnp.sqrt(kT) * jax.random.normal(sub, (n, 3), jnp.float32)
        v = v - v.mean(0, keepdims=True)
        return {
            "pos": jnp.asarray(fcc_lattice(cfg.cells, cfg.box), jnp.float32),
            "vel": v,
            "key": key,
            "rdf": jnp.zeros(cfg.rdf_bins, jnp.float32),
            "rdf_samples": jnp.int32(0),
            "e_nve": jnp.zeros(2, jnp.float32),
        }

    def observables(traj):
        ke, pe = traj.kinetic[-1] / n, traj.potential[-1] / n
        return {"kinetic": ke, "potential": pe, "total": ke + pe, "temperature": 2 * ke / 3}

    def chunk_of(rollout, state, *args, **kwargs):
        """``cfg.chunk`` MD steps of ``rollout`` from ``state``, keeping the last one."""
        start = (state["pos"], state["vel"], box, dt, sigma, eps)
        return rollout(
            *start, *args, num_steps=cfg.chunk, r_cut=cfg.r_cut, save_every=cfg.chunk, **kwargs
        )

    @jax.jit
    def nvt(state, i):
        traj = chunk_of(
            lj_langevin_rollout, state, gamma, kT, key=jax.random.fold_in(state["key"], i)
        )
        new = dict(state, pos=traj.position, vel=traj.velocity)
        return new, {**observables(traj), "phase": jnp.float32(0)}

    @jax.jit
    def nve(state, first):
        traj = chunk_of(lj_nve_rollout, state)
        d = jnp.linalg.norm(pair_displacements(traj.position, box), axis=-1)
        iu = np.triu_indices(n, 1)
        hist, _ = jnp.histogram(d[iu], bins=jnp.asarray(edges, jnp.float32))
        obs = observables(traj)
        e = jnp.stack([jnp.where(first, obs["total"], state["e_nve"][0]), obs["total"]])
        new = dict(
            state,
            pos=traj.position,
            vel=traj.velocity,
            rdf=state["rdf"] + hist,
            rdf_samples=state["rdf_samples"] + 1,
            e_nve=e,
        )
        drift = (e[1] - e[0]) / jnp.abs(e[0])
        return new, {**obs, "phase": jnp.float32(1), "energy_drift": drift}

    def step(state, i):
        if i < cfg.nvt_chunks:
            return nvt(state, jnp.int32(i))
        return nve(state, jnp.bool_(i == cfg.nvt_chunks))

    state = r.restore_or_init(init)
    state = r.loop(state, step)

    samples = int(state["rdf_samples"])
    g = np.asarray(state["rdf"]) / max(samples, 1) / np.asarray(pairs_ideal)
    centers = 0.5 * (edges[1:] + edges[:-1])
    peak = int(np.argmax(g))
    rows = run.read_metrics(r.dir.metrics)
    t = np.array([row["step"] for row in rows]) * cfg.chunk * cfg.dt
    nvt_rows = [row for row in rows if row.get("phase") == 0]
    e0, e1 = (float(v) for v in np.asarray(state["e_nve"]))

    t_switch = cfg.nvt_chunks * cfg.chunk * cfg.dt
    fig, (ax1, ax2, ax3) = run.new_figure(3, size=(4.6, 3.6))
    for key, label in (("total", "total E/N"), ("potential", "potential U/N"), ("kinetic", "K/N")):
        ax1.plot(t, [row[key] for row in rows], label=label)
    ax1.set(ylabel="energy per particle (ε)", title="energies (NVT, then NVE)")
    ax2.plot(t, [row["temperature"] for row in rows], color="C3", label="instantaneous")
    ax2.axhline(cfg.kT, ls="--", color="k", lw=0.8, label=f"target kT = {cfg.kT}")
    ax2.set(ylabel="temperature kT (ε)", title="temperature")
    nve_rows = [row for row in rows if row.get("phase") == 1 and "energy_drift" in row]
    t_nve = np.array([row["step"] for row in nve_rows]) * cfg.chunk * cfg.dt
    ax3.plot(t_nve, [row["energy_drift"] for row in nve_rows], color="C2", marker=".")
    for sign in (1, -1):
        ax3.axhline(sign * 1e-3, ls="--", color="k", lw=0.8, label="±1e-3" if sign > 0 else None)
    ax3.axhline(0.0, color="0.6", lw=0.6)
    ax3.set(
        ylabel="(E(t) − E(t₀)) / |E(t₀)|",
        title="NVE total-energy drift (validates the integrator)",
    )
    for ax in (ax1, ax2, ax3):
        ax.axvline(t_switch, color="0.5", lw=0.8, label="NVT → NVE")
        ax.set_xlabel("t (LJ time τ)")
        ax.legend(fontsize=7)
    r.save_figure(fig, "energy")
    fig, (ax,) = run.new_figure()
    ax.plot(centers, g, label="g(r), NVE average")
    ax.axhline(1.0, ls="--", color="k", lw=0.8, label="ideal gas")
    ax.set(xlabel="r (σ)", ylabel="g(r)", title=f"radial distribution, N={n}, ρ={cfg.density}")
    ax.legend(fontsize=8)
    r.save_figure(fig, "rdf")
    drift = (e1 - e0) / abs(e0) if samples else None
    temps = [row["temperature"] for row in nvt_rows[-10:]]
    r.report(
        "NVT mean temperature kT (last 10 chunks)",
        float(np.mean(temps)) if temps else None,
        f"near the target {cfg.kT}",
    )
    r.report("NVE total-energy drift (E(t) − E(t₀)) / |E(t₀)|", drift, "|drift| below ~1e-3")
    r.report("g(r) first peak: position r/σ", float(centers[peak]), "≈ 1.1")
    r.report("g(r) first peak: height", float(g[peak]), "≈ 2.5-3 (dense liquid)")

    return {
        "n": n,
        "box": cfg.box,
        "nvt_mean_temperature": float(np.mean([row["temperature"] for row in nvt_rows[-10:]]))
        if nvt_rows
        else None,
        "nve_energy_drift": drift,
        "rdf_samples": samples,
        "rdf_peak_r": float(centers[peak]),
        "rdf_peak_g": float(g[peak]),
    }


if __name__ == "__main__":
    run.cli(main, Config)
