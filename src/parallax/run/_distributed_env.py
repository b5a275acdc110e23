"""Process environment: multi-host initialisation, fake CPU devices, and the run's device mesh.

Every host of a TPU VM runs the same script. :func:`maybe_initialize_distributed` calls
``jax.distributed.initialize`` when the environment says the job spans several processes:

* ``JAX_COORDINATOR_ADDRESS`` (+ ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``) — explicit, e.g. for
  two CPU processes on one machine;
* ``PARALLAX_DISTRIBUTED=1`` — let JAX auto-detect the cluster (TPU pod slices, SLURM);
* ``TPU_WORKER_HOSTNAMES`` listing more than one host (what a multi-host Cloud TPU VM sets).

Everything else (a laptop, a single-host TPU VM, a GPU box) stays single-process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

__all__ = [
    "MeshError",
    "is_main_process",
    "make_run_mesh",
    "maybe_initialize_distributed",
    "parse_mesh_spec",
    "set_cpu_devices",
]

log = logging.getLogger("parallax.run")


class MeshError(ValueError):
    """The requested mesh does not fit the devices this job sees."""


def _backends_initialized() -> bool:
    from jax._src import xla_bridge

    return bool(xla_bridge.backends_are_initialized())


def distributed_requested(env: dict[str, str] | None = None) -> str | None:
    """Why the environment asks for ``jax.distributed`` (a short reason), or ``None``."""
    env = dict(os.environ) if env is None else env
    if env.get("JAX_COORDINATOR_ADDRESS"):
        return "JAX_COORDINATOR_ADDRESS is set"
    if env.get("PARALLAX_DISTRIBUTED", "").lower() in {"1", "true", "yes"}:
        return "PARALLAX_DISTRIBUTED=1"
    hosts = [h for h in env.get("TPU_WORKER_HOSTNAMES", "").split(",") if h.strip()]
    if len(hosts) > 1:
        return f"TPU_WORKER_HOSTNAMES lists {len(hosts)} hosts"
    return None


def maybe_initialize_distributed() -> bool:
    """Initialise ``jax.distributed`` when the environment asks for it; True if it is active."""
    if jax.distributed.is_initialized():
        return True
    reason = distributed_requested()
    if reason is None:
        return False
    kwargs: dict[str, object] = {}
    if addr := os.environ.get("JAX_COORDINATOR_ADDRESS"):
        kwargs["coordinator_address"] = addr
        if n := os.environ.get("JAX_NUM_PROCESSES"):
            kwargs["num_processes"] = int(n)
        if i := os.environ.get("JAX_PROCESS_ID"):
            kwargs["process_id"] = int(i)
    log.info("initialising jax.distributed (%s)", reason)
    jax.distributed.initialize(**kwargs)  # type: ignore[arg-type]
    return True


def set_cpu_devices(n: int) -> None:
    """Ask for ``n`` fake CPU devices; only possible before JAX has created its backends."""
    if n <= 0:
        return
    if _backends_initialized():
        have = jax.local_device_count() if jax.default_backend() == "cpu" else None
        if have != n:
            log.warning(
                "--cpu-devices %d ignored: JAX already started with %s CPU devices", n, have
            )
        return
    jax.config.update("jax_num_cpu_devices", n)


def is_main_process() -> bool:
    """True on process 0, the only one that writes logs, metrics and plots."""
    return jax.process_index() == 0


def parse_mesh_spec(spec: str) -> tuple[tuple[str, int], ...]:
    """``"data=4,model=2"`` -> ``(("data", 4), ("model", 2))``; one size may be ``-1`` (fill)."""
    axes: list[tuple[str, int]] = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        name, eq, size = part.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier():
            raise ValueError(f"expected axis=size pairs like 'data=4,model=2', got {spec!r}")
        try:
            n = int(size)
        except ValueError:
            raise ValueError(f"axis {name!r}: size {size.strip()!r} is not an integer") from None
        if n == 0 or n < -1:
            raise ValueError(f"axis {name!r}: size must be positive or -1, got {n}")
        if name in dict(axes):
            raise ValueError(f"axis {name!r} appears twice in {spec!r}")
        axes.append((name, n))
    if not axes:
        raise ValueError(f"expected axis=size pairs like 'data=4,model=2', got {spec!r}")
    if sum(n == -1 for _, n in axes) > 1:
        raise ValueError(f"at most one axis may have size -1, got {spec!r}")
    return tuple(axes)


def make_run_mesh(spec: str, devices: Sequence[Any] | None = None) -> jax.sharding.Mesh:
    """The run's mesh from ``--mesh`` (Explicit axes); ``""`` puts every device on ``data``."""
    devices = list(jax.devices()) if devices is None else list(devices)
    axes = parse_mesh_spec(spec) if spec else (("data", -1),)
    known = int(np.prod([n for _, n in axes if n != -1]))
    total = len(devices)
    if any(n == -1 for _, n in axes):
        if total % known:
            raise MeshError(
                f"--mesh {spec!r}: {total} devices do not split into axes of sizes {known}x(-1)"
            )
        axes = tuple((a, total // known if n == -1 else n) for a, n in axes)
    need = int(np.prod([n for _, n in axes]))
    if need != total:
        hint = ""
        if jax.default_backend() == "cpu":
            hint = f"; on CPU add --cpu-devices {need} to fake {need} devices"
        raise MeshError(
            f"--mesh {spec!r} needs {need} devices but this job sees {total} "
            f"({jax.default_backend()}, {jax.process_count()} process(es)){hint}"
        )
    names = tuple(a for a, _ in axes)
    shape = tuple(n for _, n in axes)
    return jax.make_mesh(
        shape,
        names,
        axis_types=(jax.sharding.AxisType.Explicit,) * len(names),
        devices=devices,
    )
