"""A tiny experiment for the runner's tests: linear regression with Adam on random minibatches.

Every minibatch is drawn from the PRNG key carried in the state, so a resumed run must end
bitwise equal to an uninterrupted one. ``--nan-at K`` poisons the gradient at step K,
``--sigterm-at K`` sends the process SIGTERM during step K (``--sigterm-in init|post`` during the
start-up or after the loop), ``--sleep S`` slows each step and ``--startup-sleep`` /
``--post-sleep`` the phases around the loop, so a subprocess can be signalled in each phase.
``--eval-every N`` adds an evaluation (``eval_loss`` on a fixed batch; NaN at ``--eval-nan-at``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import time
from typing import Annotated, Literal

import jax
import jax.numpy as jnp
import optax

from parallax import run


@dataclasses.dataclass
class Config(run.RunConfig):
    """Toy linear regression."""

    dim: Annotated[int, run.Range(ge=1)] = 4
    batch: Annotated[int, run.Range(ge=1)] = 8
    lr: Annotated[float, run.Range(gt=0)] = 0.05
    nan_at: int = -1
    sigterm_at: int = -1
    sigterm_in: Literal["", "init", "post"] = ""
    sleep: Annotated[float, run.Range(ge=0)] = 0.0
    startup_sleep: Annotated[float, run.Range(ge=0)] = 0.0
    post_sleep: Annotated[float, run.Range(ge=0)] = 0.0
    eval_every: Annotated[int, run.Range(ge=0)] = 0
    eval_nan_at: int = -1
    steps: run.Steps = 12
    log_every: run.Every = 2
    checkpoint_every: run.Every = 3

    RESUMABLE = run.RunConfig.RESUMABLE | {
        "sleep",
        "startup_sleep",
        "post_sleep",
        "nan_at",
        "sigterm_at",
        "sigterm_in",
        "eval_nan_at",
    }

    def validate(self) -> None:
        if self.batch > 1024:
            raise run.ConfigError("batch", "at most 1024 on this toy")


@functools.partial(jax.jit, static_argnames=("batch",))
def train_step(state, lr, scale, *, batch):
    """One Adam step on a fresh minibatch drawn from the state's key (compiled once per shape)."""
    w_true = jnp.arange(1.0, state["params"]["w"].shape[0] + 1.0)
    key, sub = jax.random.split(state["key"])
    x = jax.random.normal(sub, (batch, w_true.shape[0]))
    y = x @ w_true

    def loss_fn(p):
        return jnp.mean((x @ p["w"] - y) ** 2)

    loss, g = jax.value_and_grad(loss_fn)(state["params"])
    g = jax.tree.map(lambda t: t * scale, g)
    upd, opt_state = optax.adam(lr).update(g, state["opt"], state["params"])
    params = optax.apply_updates(state["params"], upd)
    return {"params": params, "opt": opt_state, "key": key}, {"loss": loss}


@jax.jit
def eval_loss(params):
    """Loss on a fixed batch (seed 1234), the evaluation metric."""
    w = params["w"]
    x = jax.random.normal(jax.random.key(1234), (64, w.shape[0]))
    return jnp.mean((x @ w - x @ jnp.arange(1.0, w.shape[0] + 1.0)) ** 2)


def main(cfg: Config, r: run.Run) -> dict:
    if cfg.startup_sleep:
        time.sleep(cfg.startup_sleep)

    def init():
        if cfg.sigterm_in == "init":
            os.kill(os.getpid(), signal.SIGTERM)
        params = {"w": jnp.zeros(cfg.dim)}
        return {
            "params": params,
            "opt": optax.adam(cfg.lr).init(params),
            "key": jax.random.key(cfg.seed),
        }

    lr = jnp.float32(cfg.lr)

    def step(state, i):
        if cfg.sleep:
            time.sleep(cfg.sleep)
        if i == cfg.sigterm_at:
            os.kill(os.getpid(), signal.SIGTERM)
        scale = jnp.float32(jnp.nan) if i == cfg.nan_at else jnp.float32(1.0)
        return train_step(state, lr, scale, batch=cfg.batch)

    def evaluate(state):
        bad = int(state["opt"][0].count) == cfg.eval_nan_at  # Adam's count: the step just done
        return {"eval_loss": jnp.nan if bad else eval_loss(state["params"])}

    state = r.restore_or_init(init, best_metric="eval_loss" if cfg.eval_every else "loss")
    state = r.loop(
        state,
        step,
        eval_fn=evaluate if cfg.eval_every else None,
        eval_every=cfg.eval_every or None,
    )
    if cfg.sigterm_in == "post":
        os.kill(os.getpid(), signal.SIGTERM)
    if cfg.post_sleep:
        time.sleep(cfg.post_sleep)
    w = state["params"]["w"]
    w_true = jnp.arange(1.0, cfg.dim + 1.0)
    return {"w": w, "w_error": float(jnp.max(jnp.abs(w - w_true)))}


if __name__ == "__main__":
    run.cli(main, Config)
