"""The run directory: one folder per run holding everything needed to understand and resume it.

::

    runs/NAME/<UTC timestamp>/      (or --workdir DIR)
      config.json        the resolved config (and the experiment name), as the run was created
      environment.json   versions, devices, git commit, XLA flags, host, argv, at creation
      resumes.jsonl      one line per later invocation: its config, what changed, the previous
                         status and its environment (the history of environments the run saw)
      log.txt            the log (process 0)
      metrics.jsonl      one JSON object per logged step: {"step": .., "time": .., name: value}
      tb/                TensorBoard event files
      plots/             PNG figures
      checkpoints/<step> orbax checkpoints (latest ``keep``)
      best/<step>        the best checkpoint by the experiment's chosen metric
      summary.json       status, final metrics and the experiment's results

The run directory may be a cloud path (``--workdir gs://bucket/runs/ks``): every file goes
through etils ``epath`` (see :mod:`._files`; orbax writes checkpoints there natively), so no
gcsfuse mount is needed.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
from etils import epath

from parallax.run._config import RunConfig, config_diff, config_to_dict
from parallax.run._files import (
    TMP_SUFFIX,
    append_text,
    is_remote,
    read_json,
    read_jsonl,
    write_json,
)

__all__ = ["IncompatibleRunError", "RunDir", "environment_info", "resolve_workdir"]

_PACKAGES = (
    "parallax",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "orbax-checkpoint",
    "equinox",
    "numpy",
    "scipy",
    "torch",
    "tyro",
    "tensorboardX",
    "matplotlib",
)


class IncompatibleRunError(RuntimeError):
    """The workdir holds a run whose config cannot be resumed by this command."""


def _timestamp() -> str:
    """A UTC timestamp shared by every process (process 0's clock)."""
    now = _dt.datetime.now(_dt.UTC)
    if jax.process_count() > 1:
        import numpy as np
        from jax.experimental import multihost_utils

        secs = multihost_utils.broadcast_one_to_all(np.int64(int(now.timestamp())))
        now = _dt.datetime.fromtimestamp(int(secs), _dt.UTC)
    return now.strftime("%Y%m%d-%H%M%S")


def resolve_workdir(
    workdir: str | os.PathLike | None, name: str, root: str | os.PathLike = "runs"
) -> epath.Path:
    """``workdir`` if given (local paths made absolute), else ``root/name/<UTC timestamp>``
    (unique within a second)."""
    if workdir:
        if is_remote(workdir):
            return epath.Path(workdir)
        return epath.Path(Path(workdir).expanduser().resolve())
    if is_remote(root):
        return epath.Path(root) / name / _timestamp()
    base = Path(root) / name / _timestamp()
    path, i = base, 1
    while path.exists() and jax.process_count() == 1:
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return epath.Path(path.resolve())


def _git_info(start: Path) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=start, capture_output=True, text=True, timeout=5, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def environment_info(code_dir: Path | None = None) -> dict[str, Any]:
    """Versions, devices, git commit, XLA/JAX environment, host and command line."""
    versions = {}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    devices = jax.devices()
    return {
        "time_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "versions": versions,
        "backend": jax.default_backend(),
        "devices": {
            "count": len(devices),
            "local_count": jax.local_device_count(),
            "kinds": sorted({d.device_kind for d in devices}),
            "process_count": jax.process_count(),
            "process_index": jax.process_index(),
        },
        "git": _git_info(code_dir or Path.cwd()),
        "env": {
            k: v
            for k, v in sorted(os.environ.items())
            if k.startswith(("XLA_", "JAX_", "TPU_", "LIBTPU", "CUDA_VISIBLE", "OMP_NUM"))
        },
        "cpu_count": os.cpu_count(),
    }


_NOT_RESULTS = frozenset({"workdir", "progress", "resume"})
"""Config fields that cannot change what a finished run computed (its workdir may be spelled
differently); a finished run re-run with only these different is not run again."""

_PARTS = ("plots", "tb", "checkpoints", "best")
"""Folders the runner makes inside a run directory."""


def _leftovers(root: epath.Path) -> list[str]:
    """Entries of a workdir without config.json that the runner did not leave there: its own
    temporary files and empty run folders are what a kill during creation leaves."""
    return sorted(
        p.name
        for p in root.iterdir()
        if not (
            (p.is_file() and p.name.endswith(TMP_SUFFIX))
            or (p.is_dir() and p.name in _PARTS and not any(p.iterdir()))
        )
    )


@dataclasses.dataclass
class RunDir:
    """Paths of one run directory; ``write`` is False on processes other than 0."""

    root: epath.Path
    write: bool = True

    def __post_init__(self) -> None:
        self.root = epath.Path(self.root)

    config = property(lambda self: self.root / "config.json")
    environment = property(lambda self: self.root / "environment.json")
    log = property(lambda self: self.root / "log.txt")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    tensorboard = property(lambda self: self.root / "tb")
    plots = property(lambda self: self.root / "plots")
    checkpoints = property(lambda self: self.root / "checkpoints")
    best = property(lambda self: self.root / "best")
    summary = property(lambda self: self.root / "summary.json")
    resumes = property(lambda self: self.root / "resumes.jsonl")

    def check_compatible(self, cfg: RunConfig, name: str) -> bool:
        """Raise :class:`IncompatibleRunError` if the workdir holds a different run.

        Returns True when the workdir already holds this run (so it will be resumed). Fields in
        ``cfg.RESUMABLE`` (steps, cadence, mesh ...) may change between invocations.
        """
        if not self.root.exists():
            return False
        if not self.root.is_dir():
            raise IncompatibleRunError(f"workdir {self.root} exists and is not a directory")
        if not self.config.exists():
            extra = _leftovers(self.root)
            if extra:
                raise IncompatibleRunError(
                    f"workdir {self.root} is not empty and holds no config.json "
                    f"(found {', '.join(extra[:5])}); pick a new or empty --workdir"
                )
            return False
        try:
            saved = read_json(self.config)
        except (OSError, json.JSONDecodeError) as e:
            raise IncompatibleRunError(f"workdir {self.root}: unreadable config.json ({e})") from e
        if saved.get("experiment") != name:
            raise IncompatibleRunError(
                f"workdir {self.root} holds a run of experiment {saved.get('experiment')!r}, "
                f"not {name!r}; pick a new --workdir"
            )
        diffs = config_diff(saved.get("config", {}), config_to_dict(cfg), cfg.RESUMABLE)
        if diffs:
            raise IncompatibleRunError(
                f"workdir {self.root} holds a run with a different config, so it cannot be "
                "resumed:\n  " + "\n  ".join(diffs) + "\nPick a new --workdir, or re-run with "
                "the run's values (only " + ", ".join(sorted(cfg.RESUMABLE)) + " may change)."
            )
        return True

    def create(self, cfg: RunConfig, name: str, env: dict[str, Any]) -> None:
        """Write config.json and environment.json for a new run; for an existing one, append
        this invocation to resumes.jsonl instead (the files of earlier invocations stay)."""
        if not self.write:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        new = {"experiment": name, "config": config_to_dict(cfg)}
        if not self.config.exists():
            # config.json first: until it exists the folder holds nothing a later run refuses
            write_json(self.config, new)
            write_json(self.environment, env)
        else:
            previous = self.read_summary()
            resume = {
                "config": new["config"],
                "changes": config_diff(self.latest_config(), new["config"], frozenset()),
                "previous": {k: previous.get(k) for k in ("status", "step")} if previous else None,
                "environment": env,
            }
            append_text(self.resumes, json.dumps(resume, default=str) + "\n")
        for p in self.root.iterdir():
            if p.is_file() and p.name.endswith(TMP_SUFFIX):
                p.unlink()
        self.plots.mkdir(exist_ok=True)

    def latest_config(self) -> dict[str, Any]:
        """The config of the latest invocation (config.json's, or the last resume's)."""
        resumes = read_jsonl(self.resumes)
        if resumes:
            return resumes[-1]["config"]
        return read_json(self.config)["config"]

    def finished_summary(self, cfg: RunConfig) -> dict[str, Any] | None:
        """The saved summary when the run here is already completed with ``cfg`` (up to
        :data:`_NOT_RESULTS`), so running it again would only recompute the same results."""
        if not self.config.exists():
            return None
        saved = self.read_summary()
        if not saved or saved.get("status") != "completed" or saved.get("step") != cfg.steps:
            return None
        diffs = config_diff(self.latest_config(), config_to_dict(cfg), _NOT_RESULTS)
        return None if diffs else saved

    def read_summary(self) -> dict[str, Any] | None:
        try:
            return read_json(self.summary)
        except (OSError, json.JSONDecodeError):
            return None

    def write_summary(self, summary: dict[str, Any]) -> None:
        if self.write:
            write_json(self.summary, summary)
