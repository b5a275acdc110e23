"""Shared fixtures for the runner tests: the toy experiment and helpers to read its outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from parallax import run

TOY = Path(__file__).with_name("toy_experiment.py")


@pytest.fixture(scope="session")
def toy():
    return run.load_experiment(TOY)


@pytest.fixture(scope="session")
def final_state():
    return _final_state


def _final_state(workdir: Path, cfg) -> dict[str, np.ndarray]:
    """The latest checkpoint of ``workdir`` restored onto the toy's state, as host arrays."""
    import jax
    import jax.numpy as jnp
    import optax

    params = {"w": jnp.zeros(cfg.dim)}
    target = {
        "params": params,
        "opt": optax.adam(cfg.lr).init(params),
        "key": jax.random.key(cfg.seed),
    }
    ck = run.Checkpointer(Path(workdir) / "checkpoints", read_only=True, async_save=False)
    try:
        got = ck.restore(target)
    finally:
        ck.close()
    assert got is not None
    step, state = got
    leaves = jax.tree_util.tree_leaves_with_path(state)
    out = {"step": np.asarray(step)}
    for p, x in leaves:
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        out[jax.tree_util.keystr(p)] = np.asarray(x)
    return out
