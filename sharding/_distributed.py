"""Multi-host start-up: one path from the environment to ``jax.distributed``, with bounded waits.

:func:`detect_cluster` reads the environment (pure given ``env`` and ``metadata``) and
:func:`initialize_distributed` acts on it. The first match wins:

1. ``explicit`` — arguments, or ``PARALLAX_COORDINATOR`` (``host:port``) with
   ``PARALLAX_NUM_PROCESSES`` and ``PARALLAX_PROCESS_ID``, or the same three as
   ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``;
2. ``slurm`` — inside an ``srun`` step with more than one task (``SLURM_STEP_NUM_TASKS``, else
   ``SLURM_NTASKS``): JAX's SLURM detection picks the coordinator (first node of the step) and
   the ranks;
3. ``tpu`` — a Cloud TPU VM slice with more than one worker, or several slices (multi-slice,
   ``MEGASCALE_*``), read from the VM's metadata server (``worker-network-endpoints``,
   ``agent-worker-number``, ``tpu-env``) exactly as JAX's own TPU detection does. The server is
   asked only on a host with TPU PCI devices, or where ``GCE_METADATA_IP`` names one; the
   coordinator is worker 0 (or ``MEGASCALE_COORDINATOR_ADDRESS``) on port 8482, or
   ``JAX_COORDINATOR_PORT``;
4. ``auto`` — ``PARALLAX_DISTRIBUTED=1``: JAX's own auto-detection (Open MPI, GKE, ...);
5. ``single`` — nothing to initialise.

Failure times are bounded: a process that stops sending heartbeats for ``heartbeat_timeout_s``
ends every other process (the coordination service reports it to all; a dead coordinator is
noticed at once), start-up waits at most ``initialization_timeout_s`` for every process to
connect, and shutdown at most ``shutdown_timeout_s``. JAX ends a process whose peer died with
``abort()`` and a C++ stack trace; :mod:`._supervise` turns that into one ``parallax:`` line and
lets the caller record the outcome. :func:`deadline` covers hangs the coordination service
cannot see (a collective waiting forever).

What only real hardware shows: the TPU metadata server's answers on a real slice, DCN between
slices, and heartbeat timing under real network load; two local processes test the protocol.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jax

from parallax.sharding import _supervise

__all__ = [
    "ClusterSpec",
    "DistributedInitError",
    "deadline",
    "detect_cluster",
    "initialize_distributed",
]

TPU_COORDINATOR_PORT = 8482
"""The port JAX's Cloud TPU detection uses for the coordinator on worker 0."""

Metadata = Callable[[str], str | None]
"""Reads one instance attribute of the TPU VM metadata server (None when it is not set)."""


class DistributedInitError(RuntimeError):
    """The processes of a multi-process job could not be joined into one cluster."""


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    """How to start ``jax.distributed``: ``method`` and the ``initialize`` keyword arguments."""

    method: str  # "explicit" | "slurm" | "tpu" | "auto" | "single"
    kwargs: dict[str, Any]
    process_id: int | None = None
    num_processes: int | None = None

    def describe(self) -> str:
        """``"process 1 of 4 (tpu)"``, for messages."""
        i = "?" if self.process_id is None else self.process_id
        n = "?" if self.num_processes is None else self.num_processes
        return f"process {i} of {n} ({self.method})"


def _env_int(env: Mapping[str, str], *names: str) -> int | None:
    for n in names:
        if env.get(n, "") != "":
            try:
                return int(env[n])
            except ValueError:
                raise ValueError(f"environment variable {n}={env[n]!r}: expected an int") from None
    return None


def _has_tpu_pci_devices(root: str = "/sys/bus/pci/devices") -> bool:
    """True when a Google TPU (PCI vendor 0x1ae0) is attached: the only hosts whose metadata
    server is worth asking (a laptop has none and no server to wait for)."""
    try:
        return any(
            (p / "vendor").read_text().strip() == "0x1ae0"
            for p in Path(root).iterdir()
            if (p / "vendor").exists()
        )
    except OSError:
        return False


def metadata_server(env: Mapping[str, str]) -> Metadata | None:
    """A reader of the GCE metadata server's instance attributes, or None on a host without
    one (no TPU devices and no ``GCE_METADATA_IP``)."""
    host = env.get("GCE_METADATA_IP")
    if not host and not _has_tpu_pci_devices():
        return None
    base = f"http://{host or 'metadata.google.internal'}/computeMetadata/v1/instance/attributes"

    def read(key: str) -> str | None:
        req = urllib.request.Request(f"{base}/{key}", headers={"Metadata-Flavor": "Google"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise DistributedInitError(f"TPU metadata {key!r}: HTTP {e.code}") from e
        except OSError as e:
            raise DistributedInitError(f"TPU metadata server {base} unreachable: {e}") from e

    return read


def _tpu_env(env: Mapping[str, str], metadata: Metadata, key: str) -> str | None:
    """A ``tpu-env`` value (``KEY: 'value'`` lines), the process environment first."""
    if env.get(key):
        return env[key]
    for line in (metadata("tpu-env") or "").splitlines():
        k, sep, v = line.partition(":")
        if sep and k.strip() == key:
            return v.strip().strip("'\"")
    return None


def _tpu_workers(endpoints: str) -> list[str]:
    """Worker addresses from ``worker-network-endpoints`` (hostnames, or ``name:id:ip``)."""
    hosts = []
    for w in filter(None, (w.strip() for w in endpoints.split(","))):
        parts = w.split(":")
        if len(parts) not in (1, 3):
            raise DistributedInitError(f"unsupported worker-network-endpoints entry {w!r}")
        hosts.append(parts[-1])
    return hosts


def _detect_tpu(env: Mapping[str, str], metadata: Metadata) -> ClusterSpec | None:
    endpoints = metadata("worker-network-endpoints")
    worker = metadata("agent-worker-number")
    if endpoints is None or worker is None:
        return None
    hosts = _tpu_workers(endpoints)
    slices = int(_tpu_env(env, metadata, "MEGASCALE_NUM_SLICES") or 1)
    if len(hosts) * slices <= 1:
        return None
    slice_id = int(_tpu_env(env, metadata, "MEGASCALE_SLICE_ID") or 0)
    host = (_tpu_env(env, metadata, "MEGASCALE_COORDINATOR_ADDRESS") or hosts[0]).split(":")[0]
    port = env.get("JAX_COORDINATOR_PORT") or str(TPU_COORDINATOR_PORT)
    n, i = len(hosts) * slices, int(worker) + slice_id * len(hosts)
    kwargs = {"coordinator_address": f"{host}:{port}", "num_processes": n, "process_id": i}
    return ClusterSpec("tpu", kwargs, i, n)


def detect_cluster(
    env: Mapping[str, str] | None = None,
    *,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    metadata: Metadata | None = None,
) -> ClusterSpec:
    """Decide from arguments and the environment how this process joins its cluster.

    ``metadata`` reads TPU VM metadata attributes (default: :func:`metadata_server`, which is
    None off a TPU VM); tests pass a dict's ``get``.
    """
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
        kwargs = {"coordinator_address": coordinator, "num_processes": n, "process_id": i}
        return ClusterSpec("explicit", kwargs, i, n)
    if env.get("SLURM_JOB_ID") and env.get("SLURM_STEP_NODELIST"):
        n = _env_int(env, "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS") or 1
        if n > 1:
            return ClusterSpec("slurm", {}, _env_int(env, "SLURM_PROCID"), n)
    read = metadata if metadata is not None else metadata_server(env)
    if read is not None and (spec := _detect_tpu(env, read)) is not None:
        return spec
    if env.get("PARALLAX_DISTRIBUTED", "").lower() in {"1", "true", "yes"}:
        return ClusterSpec("auto", {})
    return ClusterSpec("single", {}, 0, 1)


def initialize_distributed(
    *,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    heartbeat_timeout_s: int = 5,
    initialization_timeout_s: int = 120,
    shutdown_timeout_s: int = 30,
    supervise: bool = True,
    on_peer_lost: _supervise.PeerLostHook | None = None,
    env: Mapping[str, str] | None = None,
    metadata: Metadata | None = None,
) -> ClusterSpec:
    """Join the cluster this process belongs to (see the module docstring); idempotent.

    ``heartbeat_timeout_s`` bounds how long the others run on after a process dies;
    ``initialization_timeout_s`` bounds the wait for all processes to connect. Returns the
    :class:`ClusterSpec` used (``method == "single"``: nothing was initialised).

    With ``supervise`` (default; ``PARALLAX_SUPERVISE=0`` turns it off) a multi-process program
    started from a script re-runs itself as a child and this process only watches it (see
    :func:`parallax.sharding._supervise.supervise`): when a peer dies, the child's abort becomes
    one ``parallax:`` line, ``on_peer_lost(message, will)`` runs here, and the process exits
    with status 75. Call this first in the program: what runs before it runs twice.

    Raises :class:`DistributedInitError` when the processes cannot be joined in time.
    """
    env_map = os.environ if env is None else env
    spec = detect_cluster(
        env_map,
        coordinator=coordinator,
        num_processes=num_processes,
        process_id=process_id,
        metadata=metadata,
    )
    if spec.method == "single" or jax.distributed.is_initialized():
        return spec
    if supervise and _supervise.can_supervise(env_map):
        _supervise.supervise(spec.describe(), on_peer_lost)
    if _supervise.is_supervised_child(env_map):
        _supervise.exit_with_parent()
    extra: dict[str, Any] = {}
    if spec.method in ("explicit", "tpu"):
        extra["cluster_detection_method"] = "deactivate"  # every argument is given
    try:
        jax.distributed.initialize(
            **spec.kwargs,
            **extra,
            heartbeat_timeout_seconds=heartbeat_timeout_s,
            initialization_timeout=initialization_timeout_s,
            shutdown_timeout_seconds=shutdown_timeout_s,
        )
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        where = spec.kwargs.get("coordinator_address", "the auto-detected coordinator")
        raise DistributedInitError(
            f"{spec.describe()} could not join the cluster at {where} within "
            f"{initialization_timeout_s} s: {first}"
        ) from e
    _supervise.install_excepthook(spec.describe())
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
