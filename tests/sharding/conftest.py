"""Shared helpers for the sharding tests."""

from __future__ import annotations

import jax
import optax
import pytest


def _single_device_steps(params, loss, batch, opt, steps):
    """``steps`` optimizer steps on one device: the reference a sharded step must equal.
    Returns the final parameters and the loss before each step."""

    @jax.jit
    def step(p, s, b):
        val, g = jax.value_and_grad(loss)(p, b)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, val

    s = opt.init(params)
    losses = []
    for _ in range(steps):
        params, s, val = step(params, s, batch)
        losses.append(float(val))
    return params, losses


@pytest.fixture(scope="session")
def single_device_steps():
    return _single_device_steps
