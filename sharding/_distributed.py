"""Multi-host start-up: ``jax.distributed`` from the environment, with bounded failure times.

:func:`detect_cluster` reads the environment (pure, testable) and :func:`initialize_distributed`
acts on it, in this order:

1. explicit arguments, or ``PARALLAX_COORDINATOR`` (``host:port``) with
   ``PARALLAX_NUM_PROCESSES`` and ``PARALLAX_PROCESS_ID`` (or the same three as
   ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``);
2. SLURM (``SLURM_JOB_ID`` with ``SLURM_NTASKS > 1``): ``jax.distributed.initialize()``
   auto-detects coordinator and ranks from the SLURM variables;
3. a multi-host Cloud TPU VM (``TPU_WORKER_HOSTNAMES`` with more than one host, or
   ``MEGASCALE_COORDINATOR_ADDRESS`` for multi-slice): auto-detected by JAX from the TPU metadata;
4. otherwise a single process: nothing to initialise.

Failure behaviour (tested with two local processes): every process sends heartbeats to the
coordination service; when one process dies the others are terminated by JAX within about
``heartbeat_timeout_s`` with the message "Terminating process because the JAX distributed
service detected fatal errors. This most likely indicates that another task died" (exit code
134, SIGABRT) — whether the dead one is the coordinator or not. :func:`deadline` adds a Python
watchdog for hangs the coordination service cannot see (a collective waiting forever).

What only real hardware shows: TPU metadata auto-detection, DCN between slices, and the
real-world timing of heartbeats under load; the local test covers the protocol.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import jax

__all__ = ["ClusterSpec", "deadline", "detect_cluster", "initialize_distributed"]


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    """How to start ``jax.distributed``: ``method`` and the ``initialize`` keyword arguments."""

    method: str  # "explicit" | "slurm" | "tpu" | "single"
    kwargs: dict[str, Any]


def _env_int(env: Mapping[str, str], *names: str) -> int | None:
    for n in names:
        if env.get(n, "") != "":
            try:
                return int(env[n])
            except ValueError:
                raise ValueError(f"environment variable {n}={env[n]!r}: expected an int") from None
    return None


def detect_cluster(
    env: Mapping[str, str] | None = None,
    *,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> ClusterSpec:
    """Decide from arguments and the environment how this process joins its cluster."""
    env = os.environ if env is None else env
    coordinator = (
        coordinator or env.get("PARALLAX_COORDINATOR") or env.get("JAX_COORDINATOR_ADDRESS")
    )
    if coordinator:
        n = num_processes or _env_int(env, "PARALLAX_NUM_PROCESSES", "JAX_NUM_PROCESSES")
        i = (
            process_id
            if process_id is not None
            else _env_int(env, "PARALLAX_PROCESS_ID", "JAX_PROCESS_ID")
        )
        if n is None or i is None:
            raise ValueError(
                f"coordinator {coordinator!r} given but the number of processes ({n}) or this "
                "process's id ({i}) is missing: set PARALLAX_NUM_PROCESSES and PARALLAX_PROCESS_ID"
            )
        if not 0 <= i < n:
            raise ValueError(f"process id {i} is outside [0, {n}) processes")
        return ClusterSpec(
            "explicit",
            {"coordinator_address": coordinator, "num_processes": n, "process_id": i},
        )
    if env.get("SLURM_JOB_ID") and (_env_int(env, "SLURM_NTASKS") or 1) > 1:
        return ClusterSpec("slurm", {})
    hosts = [h for h in env.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]
    if len(hosts) > 1 or env.get("MEGASCALE_COORDINATOR_ADDRESS"):
        return ClusterSpec("tpu", {})
    return ClusterSpec("single", {})


def initialize_distributed(
    *,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    heartbeat_timeout_s: int = 30,
    initialization_timeout_s: int = 120,
    shutdown_timeout_s: int = 30,
    env: Mapping[str, str] | None = None,
) -> ClusterSpec:
    """Join the cluster this process belongs to (see the module docstring); idempotent.

    ``heartbeat_timeout_s`` bounds how long survivors wait after a process dies;
    ``initialization_timeout_s`` bounds the wait for all processes to connect. Returns the
    :class:`ClusterSpec` used (``method == "single"`` means nothing was initialised).
    """
    spec = detect_cluster(
        env, coordinator=coordinator, num_processes=num_processes, process_id=process_id
    )
    if spec.method == "single":
        return spec
    if jax.distributed.is_initialized():
        return spec
    jax.distributed.initialize(
        **spec.kwargs,
        heartbeat_timeout_seconds=heartbeat_timeout_s,
        initialization_timeout=initialization_timeout_s,
        shutdown_timeout_seconds=shutdown_timeout_s,
    )
    return spec


@contextlib.contextmanager
def deadline(seconds: float, what: str = "step", *, exit_code: int = 70) -> Iterator[None]:
    """Exit the process with a clear message if the block runs longer than ``seconds``.

    A collective whose peer died can block inside C++ where no Python exception can reach it;
    this watchdog thread prints ``parallax: <what> exceeded <seconds> s ...`` to stderr and calls
    ``os._exit(exit_code)``, so a job never hangs past its deadline.
    """

    def fire() -> None:
        try:
            idx, cnt = jax.process_index(), jax.process_count()
        except Exception:  # pragma: no cover - backend not initialised
            idx, cnt = "?", "?"
        sys.stderr.write(
            f"parallax: {what} exceeded {seconds} s on process {idx} of {cnt}; a peer process "
            "may have died or hung. Exiting.\n"
        )
        sys.stderr.flush()
        os._exit(exit_code)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
