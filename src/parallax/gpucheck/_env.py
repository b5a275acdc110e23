"""What ran where: device, driver, CUDA, library versions, settings and the source digest.

Everything a later reader needs to render or compare a run goes into the document, so it is
self-describing without the machine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax

import parallax

__all__ = ["ENV_VARS", "describe_environment", "source_digest"]

ENV_VARS = (
    "JAX_PLATFORMS",
    "XLA_FLAGS",
    "XLA_PYTHON_CLIENT_PREALLOCATE",
    "XLA_PYTHON_CLIENT_MEM_FRACTION",
    "CUBLAS_WORKSPACE_CONFIG",
    "CUDA_VISIBLE_DEVICES",
    "EQX_ON_ERROR",
)
"""Environment variables that change what or how the check measures."""

_SMI_FIELDS = (
    "name",
    "driver_version",
    "memory.total",
    "compute_cap",
    "clocks.sm",
    "clocks.max.sm",
    "clocks.mem",
    "power.limit",
    "temperature.gpu",
    "utilization.gpu",
)


def _run(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


def _nvidia_smi() -> dict[str, Any] | None:
    rows = _run(["nvidia-smi", f"--query-gpu={','.join(_SMI_FIELDS)}", "--format=csv,noheader"])
    if rows is None:
        return None
    gpus = [
        dict(zip(_SMI_FIELDS, (v.strip() for v in line.split(",")), strict=False))
        for line in rows.strip().splitlines()
    ]
    banner = _run(["nvidia-smi"]) or ""
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", banner)
    return {"gpus": gpus, "driver_cuda_version": cuda.group(1) if cuda else None}


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _jax_info() -> dict[str, Any]:
    plugins = sorted(
        f"{d.metadata['Name']}=={d.version}"
        for d in importlib.metadata.distributions()
        if (d.metadata["Name"] or "").lower().startswith(("jax-cuda", "jax_cuda"))
    )
    return {
        "jax": jax.__version__,
        "jaxlib": _version("jaxlib"),
        "cuda_plugins": plugins,
        "backend": jax.default_backend(),
        "devices": [
            {"id": d.id, "platform": d.platform, "kind": d.device_kind} for d in jax.devices()
        ],
        "default_matmul_precision": jax.config.values.get("jax_default_matmul_precision"),
    }


def _torch_info(torch_device: str) -> dict[str, Any] | None:
    try:
        import torch
    except ImportError:
        return None
    info: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": torch_device,
        "threads": torch.get_num_threads(),
    }
    if torch_device.startswith("cuda") and torch.cuda.is_available():
        p = torch.cuda.get_device_properties(torch.device(torch_device))
        info.update(
            name=p.name,
            capability=f"{p.major}.{p.minor}",
            multiprocessors=p.multi_processor_count,
            memory_gib=round(p.total_memory / 2**30, 1),
            l2_cache_mib=round(getattr(p, "L2_cache_size", 0) / 2**20, 1) or None,
        )
    return info


def source_digest(root: Path | None = None) -> str:
    """SHA-256 over the relative paths and contents of the installed parallax ``.py`` files, so
    a result can be matched to a commit where no git metadata travelled with the code."""
    root = root or Path(parallax.__file__).parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _git_commit() -> str | None:
    here = Path(parallax.__file__).parent
    out = _run(["git", "-C", str(here), "rev-parse", "HEAD"])
    return out.strip() if out else None


def describe_environment(torch_device: str) -> dict[str, Any]:
    """The run's context: date, host, device, driver, CUDA, versions, settings, source."""
    env_info = None
    with contextlib.suppress(Exception):  # informational; never fails the section
        env_info = jax.print_environment_info(return_string=True)
    return {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "parallax": {
            "version": parallax.__version__,
            "git_commit": _git_commit(),
            "source_sha256": source_digest(),
        },
        "nvidia_smi": _nvidia_smi(),
        "jax": _jax_info(),
        "torch": _torch_info(torch_device),
        "versions": {
            d: _version(d)
            for d in ("numpy", "flax", "optax", "equinox", "exponax", "jax-md", "triton")
        },
        "env": {k: os.environ.get(k) for k in ENV_VARS},
        "jax_environment_info": env_info,
    }
