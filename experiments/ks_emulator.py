"""Learn a one-step emulator of the Kuramoto–Sivashinsky equation with a Fourier neural operator.

    scripts/run experiments/ks_emulator.py                 # the default demo (~2-4 min, 2 CPUs)
    python experiments/ks_emulator.py --steps 4000 --width 48 --workdir runs/ks_big
    python experiments/ks_emulator.py --help

1. Trajectories of ``u_t + ½(u²)_x + u_xx + u_xxxx = 0`` on ``[0, L)`` from the ETDRK4 spectral
   kernel (``parallax.kernels.pde.kuramoto_sivashinsky``), ``jax.vmap``-ed over random initial
   conditions; the transient is discarded.
2. An FNO (``parallax.models.fno_*``) learns ``u(t+Δt) - u(t)`` from ``u(t)`` (Adam, cosine
   decay; checkpointed and resumable through ``parallax.run``).
3. From held-out initial states, the emulator is rolled out autoregressively next to the solver;
   the relative L2 error per step is logged and plotted (``plots/error_growth.png``), with a
   space-time diagram of solver, emulator and their difference (``plots/spacetime.png``).
4. The trained parameters go through ``parallax.bridge`` into the torch twin (``TorchFNO``) and
   both predict the same held-out batch.

Two errors with different yardsticks (summary.json ``results``):

* ``one_step_err_vs_increment`` = ‖F(u) − u(t+Δt)‖ / ‖u(t+Δt) − u(t)‖: the one-step error
  relative to how much the state changes in one step (the training target);
* ``rollout_err_vs_state`` = ‖emulator − solver‖ / ‖solver‖ after k autoregressive steps,
  relative to the state itself (one step changes the state by ~5% of its norm, so the same
  one-step miss reads ~20× smaller here);
* ``error_horizon.crossed_at_step``: the first rollout step whose mean error exceeds
  ``threshold`` (null: not within ``rollout_steps``).

A good result (default config): a one-step error about 1e-2 of the step's increment, a rollout
error below ~0.3 for the first ~100 steps (the Lyapunov time at L=22 is ~20 time units = 80
steps) before chaos wins, and torch parity around 1e-7 (float32). The run ends by printing these
numbers with what good looks like, and where the plots are.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np
import optax

from parallax import run
from parallax.bridge import conj_complex_grads
from parallax.kernels.pde import kuramoto_sivashinsky
from parallax.models import FNOConfig, fno_apply, fno_init


@dataclasses.dataclass
class Config(run.RunConfig):
    """Kuramoto–Sivashinsky one-step emulator (FNO)."""

    n: Annotated[int, run.Range(ge=16)] = 64
    """Grid points on [0, L)."""
    length: Annotated[float, run.Range(gt=0)] = 22.0
    """Domain length L (22: mildly chaotic)."""
    dt: Annotated[float, run.Range(gt=0, le=1)] = 0.25
    """Solver (and emulator) time step."""
    train_trajectories: Annotated[int, run.Range(ge=1)] = 24
    test_trajectories: Annotated[int, run.Range(ge=1)] = 4
    burn_in: Annotated[int, run.Range(ge=0)] = 400
    """Solver steps discarded from each trajectory (the transient)."""
    samples: Annotated[int, run.Range(ge=2)] = 200
    """Saved states per training trajectory."""
    rollout_steps: Annotated[int, run.Range(ge=1)] = 160
    """Emulator steps in the evaluation rollout."""
    modes: Annotated[int, run.Range(ge=1)] = 16
    width: Annotated[int, run.Range(ge=1)] = 32
    depth: Annotated[int, run.Range(ge=1)] = 3
    batch: Annotated[int, run.Range(ge=1)] = 64
    lr: Annotated[float, run.Range(gt=0)] = 3e-3
    steps: run.Steps = 1500
    log_every: run.Every = 50
    checkpoint_every: run.Every = 500
    parity_tol: Annotated[float, run.Range(gt=0)] = 1e-4
    """Max |JAX - torch| / max |prediction| allowed for the twin check (float32)."""
    error_threshold: Annotated[float, run.Range(gt=0)] = 0.3
    """Rollout error ‖emulator − solver‖ / ‖solver‖ whose first crossing is the error horizon."""

    RESUMABLE = run.RunConfig.RESUMABLE | {"rollout_steps", "parity_tol", "error_threshold"}

    def validate(self) -> None:
        if 2 * self.modes > self.n // 2 + 1:
            raise run.ConfigError("modes", f"must be at most (n//2+1)/2 = {(self.n // 2 + 1) // 2}")


def simulate(cfg: Config, key: jax.Array, count: int, samples: int) -> jax.Array:
    """``(count, samples + 1, n)`` KS states after the burn-in, one trajectory per random IC
    (call under ``jit``: the ETDRK4 stepper is then built inside the compiled function)."""
    stepper = kuramoto_sivashinsky(cfg.n, jnp.float32(cfg.dt), length=cfg.length)
    x = jnp.arange(cfg.n, dtype=jnp.float32) * (cfg.length / cfg.n)
    k = 2 * jnp.pi * jnp.arange(1, 5, dtype=jnp.float32) / cfg.length
    kx = (x[:, None] * k[None, :])[None]  # (1, n, 4)
    coef = jax.random.normal(key, (count, 2, 1, 4), jnp.float32)
    u0 = (coef[:, 0] * jnp.cos(kx) + coef[:, 1] * jnp.sin(kx)).sum(-1)  # random low modes

    def one(u: jax.Array) -> jax.Array:
        u, _ = stepper.rollout(u, cfg.burn_in) if cfg.burn_in else (u, None)
        _, traj = stepper.rollout(u, samples)
        return jnp.concatenate([u[None], traj])

    return jax.vmap(one)(u0)


def make_data(cfg: Config) -> dict[str, jax.Array]:
    """Training pairs ``u(t) -> u(t+Δt)``, held-out trajectories and normalisation scales."""

    @jax.jit
    def build(key):
        k_train, k_test = jax.random.split(key)
        train = simulate(cfg, k_train, cfg.train_trajectories, cfg.samples)
        test = simulate(cfg, k_test, cfg.test_trajectories, cfg.rollout_steps)
        inputs = train[:, :-1].reshape(-1, cfg.n)
        targets = train[:, 1:].reshape(-1, cfg.n)
        return {
            "inputs": inputs,
            "targets": targets,
            "test": test,
            "scale": jnp.std(inputs),
            "dscale": jnp.std(targets - inputs),
        }

    return build(jax.random.fold_in(jax.random.key(cfg.seed), 0))


def main(cfg: Config, r: run.Run) -> dict:
    key_init = jax.random.fold_in(jax.random.key(cfg.seed), 1)
    data = make_data(cfg)
    inputs, targets, test = data["inputs"], data["targets"], data["test"]
    scale, dscale = data["scale"], data["dscale"]
    fno = FNOConfig(
        in_channels=1, out_channels=1, modes=(cfg.modes,), width=cfg.width, depth=cfg.depth
    )
    opt = optax.chain(
        conj_complex_grads(),
        optax.adam(optax.cosine_decay_schedule(cfg.lr, max(cfg.steps, 1), 0.02)),
    )

    def predict(params, u):  # u: (batch, n) -> next state
        du = fno_apply(fno, params, (u / scale)[..., None])[..., 0]
        return u + dscale * du

    @jax.jit
    def init():
        params = fno_init(fno, key_init)
        return {"params": params, "opt": opt.init(params), "key": jax.random.key(cfg.seed + 1)}

    @jax.jit
    def train_step(state):
        key, sub = jax.random.split(state["key"])
        idx = jax.random.randint(sub, (cfg.batch,), 0, inputs.shape[0])
        u, v = inputs[idx], targets[idx]

        def loss_fn(p):
            return jnp.mean(((predict(p, u) - v) / dscale) ** 2)

        loss, g = jax.value_and_grad(loss_fn)(state["params"])
        upd, opt_state = opt.update(g, state["opt"], state["params"])
        return {
            "params": optax.apply_updates(state["params"], upd),
            "opt": opt_state,
            "key": key,
        }, {"loss": loss}

    @jax.jit
    def one_step_error(params):
        """‖F(u) − v‖ / ‖v − u‖ over the held-out pairs (u, v) = (u(t), u(t+Δt))."""
        u, v = test[:, :-1].reshape(-1, cfg.n), test[:, 1:].reshape(-1, cfg.n)
        err = jnp.linalg.norm(predict(params, u) - v) / jnp.linalg.norm(v - u)
        return {"test_err_vs_increment": err}

    state = r.restore_or_init(init, best_metric="test_err_vs_increment")
    state = r.loop(
        state,
        lambda s, i: train_step(s),
        eval_fn=lambda s: one_step_error(s["params"]),
        eval_every=cfg.log_every,
    )
    params = state["params"]

    # -- autoregressive rollout against the solver ------------------------------------------
    @jax.jit
    def emulate(params):
        def body(u, _):
            u = predict(params, u)
            return u, u

        emu = jax.lax.scan(body, test[:, 0], None, length=cfg.rollout_steps)[1].swapaxes(0, 1)
        truth = test[:, 1:]
        err = jnp.linalg.norm(emu - truth, axis=-1) / jnp.linalg.norm(truth, axis=-1)
        return emu, truth, err, test[:, 0, :, None] / scale

    emu, truth, err, x_parity = jax.device_get(emulate(params))
    err_mean = err.mean(0)
    above = err_mean > cfg.error_threshold
    crossed = int(np.argmax(above)) + 1 if above.any() else None

    # -- parity with the torch twin through the bridge --------------------------------------
    parity = torch_parity(fno, params, x_parity, cfg.parity_tol)

    # -- plots ------------------------------------------------------------------------------
    plot_spacetime(r, cfg, truth[0], emu[0])
    plot_error_growth(r, cfg, err, crossed)
    r.plot_metrics(["loss", "test_err_vs_increment"], "training", logy=True)

    one_step = float(one_step_error(params)["test_err_vs_increment"])
    at = sorted({1, 10, 40, cfg.rollout_steps} & set(range(1, cfg.rollout_steps + 1)))
    rollout = {str(s): float(err_mean[s - 1]) for s in at}
    r.report(
        "one-step error ‖F(u) − u(t+Δt)‖ / ‖u(t+Δt) − u(t)‖ (vs the step's change)",
        one_step,
        "about 1e-2",
    )
    for s in at[1:]:
        r.report(
            f"rollout error ‖emulator − solver‖ / ‖solver‖ after {s} steps (t = {s * cfg.dt:g})",
            rollout[str(s)],
            f"below {cfg.error_threshold:g} for ~100 steps",
        )
    r.report(
        f"rollout steps until that error first exceeds {cfg.error_threshold:g}",
        crossed if crossed is not None else f"none of {cfg.rollout_steps}",
        "~100; the Lyapunov time is ~80 steps",
    )
    if "max_rel_diff" in parity:
        r.report(
            "torch twin: max |JAX − torch| / max |JAX| (float32)",
            parity["max_rel_diff"],
            f"below {cfg.parity_tol:.0e}, about 1e-7",
        )
    return {
        "one_step_err_vs_increment": one_step,
        "rollout_err_vs_state": rollout,
        "error_horizon": {
            "threshold": cfg.error_threshold,
            "crossed_at_step": crossed,
            "rollout_steps": cfg.rollout_steps,
        },
        "torch_parity": parity,
    }


def plot_spacetime(r: run.Run, cfg: Config, truth: np.ndarray, emu: np.ndarray) -> None:
    """Solver and emulator on one symmetric colour scale, their difference on its own."""
    t_end = cfg.rollout_steps * cfg.dt
    extent = (0, cfg.length, t_end, 0)
    fig, axes = run.new_figure(3, size=(4.4, 3.6))
    vmax = float(np.abs(truth).max())
    diff = emu - truth
    dmax = float(np.abs(diff).max()) or 1.0
    panels = (
        (truth, "solver (ETDRK4)", vmax, "u"),
        (emu, "FNO emulator", vmax, "u"),
        (diff, "emulator − solver (own scale)", dmax, "emulator − solver"),
    )
    for ax, (field, title, lim, label) in zip(axes, panels, strict=True):
        im = ax.imshow(field, aspect="auto", extent=extent, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set(title=title, xlabel=f"x (domain length L = {cfg.length:g})", ylabel="t")
        if ax is not axes[0]:
            fig.colorbar(im, ax=ax, label=label)
    fig.suptitle("Kuramoto–Sivashinsky rollout from a held-out initial state (nondimensional)")
    r.save_figure(fig, "spacetime")


def plot_error_growth(r: run.Run, cfg: Config, err: np.ndarray, crossed: int | None) -> None:
    t_axis = np.arange(1, cfg.rollout_steps + 1) * cfg.dt
    fig, (ax,) = run.new_figure(size=(6.0, 4.0))
    for i, e in enumerate(err):
        ax.semilogy(t_axis, e, color="0.7", lw=0.8, label="each held-out state" if i == 0 else None)
    ax.semilogy(t_axis, err.mean(0), color="C3", lw=2, label="mean")
    ax.axhline(
        cfg.error_threshold, ls="--", color="k", lw=0.8, label=f"threshold {cfg.error_threshold:g}"
    )
    if crossed is not None:
        ax.axvline(crossed * cfg.dt, ls=":", color="C3", lw=1, label=f"crossed at step {crossed}")
    ax.set(
        xlabel=f"t (nondimensional; {cfg.dt:g} per emulator step)",
        ylabel="‖emulator − solver‖ / ‖solver‖",
        title="rollout error growth (relative L2)",
    )
    ax.legend(fontsize=8)
    r.save_figure(fig, "error_growth")


def torch_parity(fno: FNOConfig, params, x: np.ndarray, tol: float) -> dict:
    """Export ``params`` into the torch twin and compare predictions on ``x`` (float32)."""
    try:
        import torch
    except ImportError:  # the optional torch extra is not installed
        return {"skipped": "torch is not installed"}
    from parallax.bridge import export_to_torch
    from parallax.models import TorchFNO, fno_torch_rules

    twin = export_to_torch(params, TorchFNO(fno), rules=fno_torch_rules(fno))
    with jax.default_matmul_precision("highest"), torch.no_grad():
        want = np.asarray(jax.jit(fno_apply, static_argnums=0)(fno, params, jnp.asarray(x)))
        got = twin(torch.from_numpy(np.array(x))).numpy()
    err = float(np.abs(got - want).max() / np.abs(want).max())
    return {"max_rel_diff": err, "tol": tol, "ok": bool(err < tol)}


if __name__ == "__main__":
    run.cli(main, Config)
