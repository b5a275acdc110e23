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
    """Ask for ``n`` fake CPU devices, unless JAX has started or the count was already chosen
    (``jax_num_cpu_devices`` set, e.g. by a test harness, or ``XLA_FLAGS`` forcing a count):
    then the existing choice wins, with a warning if it differs."""
    if n <= 0:
        return
    current = int(jax.config.jax_num_cpu_devices)  # type: ignore[attr-defined]
    forced = "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "")
    if _backends_initialized() or current > 0 or forced:
        have = current if current > 0 else None
        if _backends_initialized() and jax.default_backend() == "cpu":
            have = jax.local_device_count()
        if have != n:
            log.warning(
                "--cpu-devices %d ignored: the CPU device count is already set (%s)",
                n,
                have if have is not None else "XLA_FLAGS",
            )
        return
    jax.config.update("jax_num_cpu_devices", n)


def is_main_process() -> bool:
    """True on process 0, the only one that writes logs, metrics and plots."""
    return jax.process_index() == 0


def parse_mesh_spec(spec: str) -> dict[str, int]:
    """``"data=4,model=2"`` -> ``{"data": 4, "model": 2}`` (``parallax.sharding``'s parser)."""
    from parallax.sharding import parse_mesh_spec as _parse

    return _parse(spec)


def make_run_mesh(
    spec: str, devices: Sequence[Any] | None = None, *, axis_types: str = "auto"
) -> jax.sharding.Mesh:
    """The run's mesh from ``--mesh`` via :func:`parallax.sharding.make_mesh` (``"auto"`` axes:
    shardings propagate from jit in/out shardings); ``""`` puts every device on ``data``.

    Raises :class:`MeshError` saying how many devices the mesh needs and this job has.
    """
    from parallax.sharding import make_mesh

    devices = list(jax.devices()) if devices is None else list(devices)
    try:
        return make_mesh(spec or "data=-1", axis_types=axis_types, devices=devices)
    except ValueError as e:
        hint = ""
        if jax.default_backend() == "cpu":
            try:
                need = int(np.prod([n for n in parse_mesh_spec(spec).values() if n > 0]))
            except ValueError:
                need = 0
            if need > len(devices):
                hint = f"; on CPU add --cpu-devices {need} to fake {need} devices"
        raise MeshError(
            f"--mesh {spec!r} does not fit: {e} (this job sees {len(devices)} "
            f"{jax.default_backend()} device(s) in {jax.process_count()} process(es)){hint}"
        ) from None
