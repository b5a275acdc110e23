"""The run's devices: fake CPU devices, the process that writes, and the device mesh.

Joining a multi-host job is :func:`parallax.sharding.initialize_distributed`'s (the runner calls
it); this module only asks for CPU devices before JAX starts and builds the run's mesh.
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
    "parse_mesh_spec",
    "set_cpu_devices",
]

log = logging.getLogger("parallax.run")


class MeshError(ValueError):
    """The requested mesh does not fit the devices this job sees."""


def set_cpu_devices(n: int) -> None:
    """Ask for ``n`` fake CPU devices, unless JAX has started or the count was already chosen
    (``jax_num_cpu_devices`` set, e.g. by a test harness, or ``XLA_FLAGS`` forcing a count):
    then the existing choice wins, with a warning if it differs."""
    if n <= 0:
        return
    current = int(jax.config.jax_num_cpu_devices)  # type: ignore[attr-defined]
    forced = "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "")
    have: int | str = current if current > 0 else "XLA_FLAGS"
    if current <= 0 and not forced:
        try:
            jax.config.update("jax_num_cpu_devices", n)
            return
        except RuntimeError:  # JAX has started (so asking for its devices starts nothing)
            have = jax.local_device_count() if jax.default_backend() == "cpu" else "started"
    if have != n:
        log.warning("--cpu-devices %d ignored: the CPU device count is already set (%s)", n, have)


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
