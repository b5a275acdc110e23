"""Heat demo: simulate the spectral heat kernel, check parity with its torch twin, plot.

    scripts/run experiments/heat_demo.py --n 256 --nu 0.05 --steps 400

Writes ``runs/heat_demo/<UTC timestamp>/`` holding ``report.json`` (the error against the exact
solution, every parity result) and ``heat.png`` (a space-time diagram and the decay of each
Fourier mode against ``exp(-nu k^2 t)``).

A good result: max |u - exact| around 1e-5 (float32 round-off), every parity line "ok", and heat.png
showing each mode's amplitude on its exp(-ν k² t) line.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from parallax.kernels import pde
from parallax.parity import run_parity, torch_available
from parallax.registry import specs


@dataclass(frozen=True)
class HeatDemoConfig:
    n: int = 256
    """grid points on [0, 2π)"""
    nu: float = 0.05
    """diffusivity (>= 0)"""
    dt: float = 0.01
    """time step (> 0)"""
    steps: int = 400
    """number of steps"""
    save_every: int = 10
    """frames are stored every this many steps"""
    workdir: str | None = None
    """output folder (default runs/heat_demo/<UTC timestamp>)"""


def run_heat_demo(cfg: HeatDemoConfig) -> dict:
    out = Path(cfg.workdir or f"runs/heat_demo/{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    x = np.arange(cfg.n) * 2 * np.pi / cfg.n
    modes = np.arange(1, 6)
    amps = 1.0 / modes
    u0 = sum(a * np.sin(m * x) for a, m in zip(amps, modes, strict=True))

    t0 = time.perf_counter()
    final, traj = pde.heat_rollout(
        jnp.asarray(u0, jnp.float32),
        jnp.asarray(cfg.dt, jnp.float32),
        jnp.asarray(cfg.nu, jnp.float32),
        num_steps=cfg.steps,
        save_every=cfg.save_every,
    )
    traj = np.asarray(jax.block_until_ready(traj))
    sim_s = time.perf_counter() - t0
    t_end = cfg.dt * cfg.steps
    exact = sum(
        a * np.exp(-cfg.nu * m**2 * t_end) * np.sin(m * x) for a, m in zip(amps, modes, strict=True)
    )
    err = float(np.max(np.abs(np.asarray(final) - exact)))

    parity = []
    if torch_available():
        for spec in specs(["pde.heat_1d"]):
            for dtype in spec.dtypes:
                parity.append(run_parity(spec, "test", dtype).to_json())
    report = {
        "config": asdict(cfg),
        "max_abs_error_vs_exact": err,
        "simulate_seconds_incl_compile": sim_s,
        "parity": parity or "skipped: torch is not installed",
        "parity_passed": all(p["passed"] for p in parity) if parity else None,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    _plot(out / "heat.png", x, traj, cfg, modes, amps)
    print(
        f"heat demo: max |u - exact| = {err:.2e} after t = {t_end:g} "
        "(good: about 1e-5, float32 round-off)"
    )
    for p in parity:
        status = "ok" if p["passed"] else "FAIL"
        print(
            f"  parity {p['kernel']} {p['dtype']}: fwd {p['fwd_max_abs']:.1e} "
            f"grad {p['grad_max_abs']:.1e} {status}"
        )
    if not parity:
        print("  parity skipped: torch is not installed (the `torch` extra)")
    print(f"wrote {out}/report.json and {out}/heat.png (each mode's dots on its line)")
    return report


def _plot(path: Path, x, traj, cfg: HeatDemoConfig, modes, amps) -> None:
    from parallax.run import new_figure, save_figure

    t = cfg.dt * cfg.save_every * np.arange(1, traj.shape[0] + 1)
    fig, (a, b) = new_figure(2, size=(5.5, 4.0))
    im = a.imshow(
        traj, aspect="auto", origin="lower", extent=(0, x[-1], t[0], t[-1]), cmap="RdBu_r"
    )
    a.set(xlabel="x (periodic, [0, 2π))", ylabel="t", title="u(x, t): spectral heat kernel")
    fig.colorbar(im, ax=a, label="u")
    spectrum = np.abs(np.fft.rfft(traj, axis=-1)) * 2 / cfg.n
    for m, amp in zip(modes, amps, strict=True):
        b.semilogy(t, spectrum[:, m], "o", ms=3, label=f"k={m}")
        b.semilogy(t, amp * np.exp(-cfg.nu * m**2 * t), "k-", lw=0.8)
    b.set(
        xlabel="t",
        ylabel="|û_k| (Fourier amplitude)",
        title="mode amplitudes vs exp(-ν k² t) (lines)",
    )
    b.legend(fontsize=8)
    save_figure(fig, path)


if __name__ == "__main__":
    run_heat_demo(tyro.cli(HeatDemoConfig))
