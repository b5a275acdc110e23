"""One process of the 2-process x 4-CPU-device test (run by test_multihost.py, not by pytest).

Usage: python _multihost_worker.py PROCESS_ID PORT MODE OUT.npz  (MODE: run | die1 | die0: process
1 or 0 exits at once after start-up, the other runs the workload)
"""

from __future__ import annotations

import os
import sys

import jax

jax.config.update("jax_num_cpu_devices", 4)

import numpy as np  # noqa: E402

import parallax.sharding as ps  # noqa: E402


def workload(mesh):
    """A sharded train step (fsdp_tp) and a sharded heat rollout (halo exchange); the same code
    runs in one process with 8 devices in the test, for the reference."""
    import jax.numpy as jnp
    import optax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    rng = np.random.default_rng(0)
    params = {
        "w1": rng.standard_normal((16, 32)).astype(np.float32) / 4,
        "b1": np.zeros((32,), np.float32),
        "w2": rng.standard_normal((32, 16)).astype(np.float32) / 4,
    }
    logical = {"w1": ("embed", "mlp"), "b1": ("mlp",), "w2": ("mlp", "embed")}
    x = rng.standard_normal((16, 16)).astype(np.float32)
    y = rng.standard_normal((16, 16)).astype(np.float32)

    def loss_fn(p, batch):
        xb, yb = batch
        h = jnp.tanh(xb @ p["w1"] + p["b1"][None, :])
        return jnp.mean((h @ p["w2"] - yb) ** 2)

    def put(a, sharding):
        return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])

    rule_set = ps.rules("fsdp_tp")
    opt = optax.sgd(0.1, momentum=0.9)
    st = ps.shard_train_state(params, logical, opt, mesh, rule_set)
    bs = ps.logical_shardings((x, y), (("batch", None), ("batch", None)), mesh, rule_set)
    batch = (put(x, bs[0]), put(y, bs[1]))
    step = ps.make_train_step(loss_fn, opt, mesh, st.param_shardings, st.opt_shardings, bs)
    p, s = st.params, st.opt_state
    losses = []
    for _ in range(3):
        p, s, val = step(p, s, batch)
        losses.append(val)

    spec = P("data", "model")
    lap = ps.sharded_stencil(
        lambda v: (
            jnp.roll(v, 1, 0) + jnp.roll(v, -1, 0) + jnp.roll(v, 1, 1) + jnp.roll(v, -1, 1) - 4 * v
        ),
        mesh,
        spec,
        width=1,
    )
    u0 = put(rng.standard_normal((16, 8)).astype(np.float32), NamedSharding(mesh, spec))

    @jax.jit
    def rollout(u):
        return jax.lax.scan(lambda v, _: (v + 0.1 * lap(v), None), u, None, length=10)[0]

    u = rollout(u0)
    return {"loss": jnp.stack(losses), "w1": p["w1"], "w2": p["w2"], "u": u}


def main() -> None:
    pid, port, mode, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    ps.initialize_distributed(
        coordinator=f"127.0.0.1:{port}",
        num_processes=2,
        process_id=pid,
        initialization_timeout_s=40,
    )
    assert jax.process_count() == 2 and jax.device_count() == 8 and jax.local_device_count() == 4
    if mode == f"die{pid}":
        print(f"process {pid}: exiting on purpose", flush=True)
        os._exit(1)
    mesh = ps.make_mesh({"data": 4, "model": 2})
    with ps.deadline(60, "multi-host workload"):
        result = workload(mesh)
        from jax.experimental import multihost_utils

        host = {
            k: np.asarray(multihost_utils.process_allgather(v, tiled=True))
            for k, v in result.items()
        }
    if pid == 0:
        np.savez(out, allow_pickle=False, **host)
    print(f"process {pid}: done", flush=True)


if __name__ == "__main__":
    main()
