"""The entry points: :func:`cli` (an experiment script's command line), :func:`execute` (a
config in, the summary out) and :func:`run_file` (``parallax run PATH``), with their exit
statuses (:data:`EXIT_CODES`)."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from parallax.kernels import value_checks
from parallax.run._checkpoint import CheckpointError
from parallax.run._config import (
    ConfigError,
    RunConfig,
    config_from_dict,
    parse_config,
    validate_config,
)
from parallax.run._devices import MeshError, set_cpu_devices
from parallax.run._files import read_json
from parallax.run._outcome import record_peer_lost
from parallax.run._preempt import Preempted, PreemptionGuard
from parallax.run._rundir import IncompatibleRunError, RunDir, resolve_workdir
from parallax.run._runner import Run
from parallax.sharding import PEER_LOST_EXIT, DistributedInitError, initialize_distributed

__all__ = ["EXIT_CODES", "cli", "execute", "load_experiment", "run_file"]

C = TypeVar("C", bound=RunConfig)

EXIT_CODES = {
    "completed": 0,
    "preempted": 0,
    "usage": 2,
    "nonfinite": 3,
    "checkpoint": 4,
    "peer_lost": PEER_LOST_EXIT,
}
"""Process exit status by outcome. A preempted run exits 0 after saving (summary.json says
"preempted"; re-run the same command to resume). ``peer_lost`` (75): another process of a
multi-process job died or could not be reached; re-running the same command on every host
resumes from the last checkpoint."""


def _name_of(main: Callable[..., Any]) -> str:
    try:
        return Path(inspect.getfile(main)).stem
    except (TypeError, OSError):
        return getattr(main, "__module__", "experiment").rsplit(".", 1)[-1]


def execute(
    main: Callable[[C, Run], Mapping[str, Any] | None],
    cfg: C,
    *,
    name: str | None = None,
    runs_root: str | Path = "runs",
) -> dict[str, Any]:
    """Run ``main(cfg, run)`` inside a :class:`Run`; returns the summary (also summary.json).

    Config, mesh, workdir and checkpoint problems raise before anything runs (ConfigError,
    MeshError, IncompatibleRunError, CheckpointError); a preempted or non-finite run returns
    its summary with that ``status``; other errors propagate after the summary is written.
    A workdir whose run already completed with this config is not run again: its summary is
    returned as it is.

    SIGTERM (and a first Ctrl-C) are caught for the whole call: in the loop the state is
    checkpointed at the next step; before and after the loop the run stops at once (its
    checkpoints are already written). Either way the summary says "preempted" and the same
    command resumes.
    """
    with PreemptionGuard() as guard:
        return _execute(main, cfg, name=name, runs_root=runs_root, guard=guard)


def _execute(
    main: Callable[[C, Run], Mapping[str, Any] | None],
    cfg: C,
    *,
    name: str | None,
    runs_root: str | Path,
    guard: PreemptionGuard,
) -> dict[str, Any]:
    validate_config(cfg)
    set_cpu_devices(cfg.cpu_devices)
    initialize_distributed(on_peer_lost=record_peer_lost)
    guard.joined()
    name = name or _name_of(main)
    try:
        code_dir = Path(inspect.getfile(main)).parent
    except (TypeError, OSError):
        code_dir = None
    r = Run(cfg, name, runs_root=runs_root, code_dir=code_dir, guard=guard)
    done = r.finished()
    if done is not None:
        return done
    # a traced value check that raises on one device stalls the others at their next
    # collective until XLA aborts; on a multi-device mesh bad values become NaN instead and
    # the NaN guard stops the run (status "nonfinite", last good checkpoint kept)
    checks = value_checks("nan") if r.mesh.size > 1 else contextlib.nullcontext()
    with r, checks, guard.immediate():
        results = main(cfg, r)
        with guard.deferred():
            r.results = dict(results or {})
    return r.summary


def _flag(argv: Sequence[str], flag: str) -> str | None:
    """The value of ``--flag VALUE`` / ``--flag=VALUE`` in ``argv`` (the last one), if any."""
    value = None
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif a.startswith(flag + "="):
            value = a.split("=", 1)[1]
    return value


def _resume_default(config_cls: type[C], name: str, argv: Sequence[str]) -> C | None:
    """``--resume DIR``: the config saved in DIR (its latest invocation's), as the defaults."""
    where = _flag(argv, "--resume")
    if where is None:
        return None
    d = RunDir(resolve_workdir(where, name))
    if not d.config.is_file():
        raise ConfigError("resume", f"{d.root} holds no run (no config.json)")
    try:
        saved = read_json(d.config)
        latest = d.latest_config()
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError("resume", f"{d.config}: unreadable ({e})") from None
    if saved.get("experiment") != name:
        raise ConfigError(
            "resume", f"{d.root} holds a run of {saved.get('experiment')!r}, not {name!r}"
        )
    cfg = config_from_dict(config_cls, latest)
    cfg.workdir = str(d.root)
    return cfg


def cli(
    main: Callable[[C, Run], Mapping[str, Any] | None],
    config_cls: type[C],
    argv: Sequence[str] | None = None,
    *,
    name: str | None = None,
    exit: bool = True,
) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) into ``config_cls``, run, exit with a status.

    ``--resume DIR`` takes the config saved in DIR as the defaults. Bad input is reported in
    one line naming the key (status 2); a non-finite run exits 3, an unusable checkpoint 4; a
    preempted run 0 after saving (see :data:`EXIT_CODES`).
    """
    name = name or _name_of(main)
    argv = list(sys.argv[1:] if argv is None else argv)
    code = 0
    with PreemptionGuard() as guard:
        try:
            default = _resume_default(config_cls, name, argv)
            cfg = parse_config(config_cls, argv, prog=f"{name}.py", default=default)
            if default is not None and cfg.workdir != default.workdir:
                raise ConfigError("workdir", f"differs from --resume {default.workdir}")
            summary = _execute(main, cfg, name=name, runs_root="runs", guard=guard)
            code = EXIT_CODES.get(summary["status"], 1)
        except (ConfigError, MeshError, IncompatibleRunError) as e:
            print(f"error: {e}", file=sys.stderr)
            code = EXIT_CODES["usage"]
        except CheckpointError as e:
            print(f"error: {e}", file=sys.stderr)
            code = EXIT_CODES["checkpoint"]
        except DistributedInitError as e:
            print(f"parallax: {e}", file=sys.stderr)
            code = EXIT_CODES["peer_lost"]
        except Preempted as e:  # before the run directory existed: nothing to save
            print(f"{name}: {e} during start-up; nothing was written", file=sys.stderr)
            code = EXIT_CODES["preempted"]
    if exit:
        sys.exit(code)
    return code


def load_experiment(path: str | Path) -> Any:
    """Import an experiment script as a module (it must define ``Config`` and ``main``)."""
    p = Path(path).resolve()
    if not p.is_file():
        raise FileNotFoundError(f"no experiment script at {path}")
    modname = f"parallax_experiment_{p.stem}"
    spec = importlib.util.spec_from_file_location(modname, p)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {p}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    for attr in ("Config", "main"):
        if not hasattr(mod, attr):
            raise AttributeError(f"{p} defines no {attr!r} (an experiment needs Config and main)")
    if not (
        isinstance(mod.Config, type)
        and issubclass(mod.Config, RunConfig)
        and dataclasses.is_dataclass(mod.Config)
    ):
        raise TypeError(f"{p}: Config must be a dataclass subclassing parallax.run.RunConfig")
    return mod


def run_file(path: str | Path, argv: Sequence[str] = ()) -> int:
    """``parallax run PATH [overrides]`` / ``scripts/run PATH``: load and run; the exit status."""
    mod = load_experiment(path)
    return cli(mod.main, mod.Config, list(argv), name=Path(path).stem, exit=False)
