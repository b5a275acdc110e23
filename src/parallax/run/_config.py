"""Typed experiment configs: dataclasses parsed from the command line by tyro, then validated.

An experiment declares ``@dataclasses.dataclass class Config(RunConfig)`` with typed, documented
fields; ``tyro`` turns it into ``--field-name VALUE`` flags and ``--help``. Ranges are declared
next to the type with ``Annotated[int, Range(ge=1)]``; :func:`validate_config` checks every
field's type and range (also for configs built in Python, where tyro never ran) and then calls
the config's own :meth:`RunConfig.validate` hook for cross-field rules. Every error is a
:class:`ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal, TypeVar

__all__ = [
    "ConfigError",
    "Range",
    "RunConfig",
    "config_diff",
    "config_from_dict",
    "config_to_dict",
    "parse_config",
    "validate_config",
]

C = TypeVar("C", bound="RunConfig")


class ConfigError(ValueError):
    """A config value is rejected; ``key`` is the dotted field name (``model.width``)."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"--{key.replace('_', '-')}: {message}")


@dataclasses.dataclass(frozen=True)
class Range:
    """Bounds for a numeric field: ``Annotated[float, Range(gt=0)]``."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def check(self, key: str, value: float) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(key, f"expected a finite number, got {value!r}")
        for bound, ok, word in (
            (self.ge, lambda b: value >= b, ">="),
            (self.gt, lambda b: value > b, ">"),
            (self.le, lambda b: value <= b, "<="),
            (self.lt, lambda b: value < b, "<"),
        ):
            if bound is not None and not ok(bound):
                raise ConfigError(key, f"expected a value {word} {bound}, got {value!r}")

    def __str__(self) -> str:
        parts = [
            f"{w} {b}"
            for b, w in ((self.ge, ">="), (self.gt, ">"), (self.le, "<="), (self.lt, "<"))
            if b is not None
        ]
        return ", ".join(parts)


Steps = Annotated[int, Range(ge=0)]
"""A step count (``steps``): zero or more."""
Every = Annotated[int, Range(ge=1)]
"""A cadence in steps (``log_every``, ``checkpoint_every``): at least one.

An experiment changes a loop field's default by re-declaring it with these types:
``steps: run.Steps = 1500``."""


@dataclasses.dataclass
class RunConfig:
    """Fields every experiment shares: where the run lives, the mesh, and the loop cadence."""

    workdir: str | None = None
    """Run directory (default runs/NAME/<UTC timestamp>); the same workdir again resumes."""
    mesh: str = ""
    """Device mesh, e.g. "data=4,model=2" (one size may be -1); "" = all devices on "data"."""
    cpu_devices: Annotated[int, Range(ge=0)] = 0
    """Fake CPU devices to try a mesh on a laptop (only before JAX starts; 0 keeps the default)."""
    seed: int = 0
    """PRNG seed for initialisation and data."""
    steps: Steps = 200
    """Total number of loop steps (training or simulation)."""
    log_every: Every = 20
    """Write metrics (JSON lines, TensorBoard) and plain log lines every N steps."""
    checkpoint_every: Every = 100
    """Save a checkpoint every N steps (and at the end, and on SIGTERM)."""
    keep: Annotated[int, Range(ge=1)] = 3
    """How many recent checkpoints to keep (the best one is kept separately)."""
    async_checkpoint: bool = True
    """Write checkpoints in a background thread (orbax async)."""
    init_from: str | None = None
    """Start from this checkpoint (a run dir, its checkpoints/ dir or a step dir)."""
    progress: Literal["auto", "bar", "log", "off"] = "auto"
    """Progress display: a bar on a terminal and log lines otherwise ("auto"), or force one."""
    resume: str | None = None
    """Continue the run in this directory with its saved config: other flags are needed only to
    change what may change on resume (--steps, cadence, mesh ...)."""

    RESUMABLE: ClassVar[frozenset[str]] = frozenset(
        {
            "workdir",
            "mesh",
            "cpu_devices",
            "steps",
            "log_every",
            "checkpoint_every",
            "keep",
            "async_checkpoint",
            "init_from",
            "progress",
            "resume",
        }
    )
    """Fields that may differ when resuming a run; any other difference is an incompatible run.
    Subclasses extend it (``RESUMABLE = RunConfig.RESUMABLE | {"eval_steps"}``)."""

    def validate(self) -> None:
        """Cross-field checks raising :class:`ConfigError` naming the key; override it."""


def _is_instance(value: Any, tp: Any) -> bool:
    """Is ``value`` an instance of the annotation ``tp`` (the subset of typing configs use)?"""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _is_instance(value, typing.get_args(tp)[0])
    if tp is Any:
        return True
    if tp is type(None) or tp is None:
        return value is None
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_is_instance(value, a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        args = typing.get_args(tp)
        if not isinstance(value, origin):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_is_instance(v, args[0]) for v in value)
        if args:
            return len(args) == len(value) and all(map(_is_instance, value, args))
        return True
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def validate_config(cfg: Any, prefix: str = "") -> None:
    """Check every field's type and :class:`Range`, recursing into nested dataclasses."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"expected a dataclass config instance, got {type(cfg).__name__}")
    hints = typing.get_type_hints(type(cfg), include_extras=True)
    for f in dataclasses.fields(cfg):
        key = prefix + f.name
        value = getattr(cfg, f.name)
        tp = hints.get(f.name, Any)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            validate_config(value, key + ".")
            continue
        if not _is_instance(value, tp):
            raise ConfigError(
                key, f"expected {_type_name(tp)}, got {value!r} ({type(value).__name__})"
            )
        if typing.get_origin(tp) is Annotated and isinstance(value, int | float):
            for meta in typing.get_args(tp)[1:]:
                if isinstance(meta, Range):
                    meta.check(key, value)
    if isinstance(cfg, RunConfig) and not prefix:
        if cfg.mesh:
            from parallax.run._devices import parse_mesh_spec

            try:
                parse_mesh_spec(cfg.mesh)
            except ValueError as e:
                raise ConfigError("mesh", str(e)) from None
        cfg.validate()


def parse_config(
    cls: type[C],
    argv: Sequence[str] | None = None,
    *,
    prog: str | None = None,
    default: C | None = None,
) -> C:
    """Parse ``argv`` into ``cls`` with tyro (``--help`` prints every field), then validate.

    ``default`` (e.g. a saved run's config) replaces the class defaults. tyro rejects unknown
    flags and unparsable values (exiting with status 2 and a message naming the flag);
    out-of-range values and cross-field rules raise :class:`ConfigError`.
    """
    import tyro

    cfg: C = tyro.cli(
        cls,
        args=list(argv) if argv is not None else None,
        prog=prog,
        description=cls.__doc__,
        config=(tyro.conf.FlagConversionOff,),
        default=default,
    )  # type: ignore[assignment]  # tyro types ``default`` as making the result optional
    validate_config(cfg)
    return cfg


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-able dict of the config (nested dataclasses become dicts, tuples lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def config_from_dict(cls: type[C], data: dict[str, Any], prefix: str = "") -> C:
    """Rebuild a config from :func:`config_to_dict`'s output (nested dataclasses, tuples);
    missing keys keep their defaults, unknown keys raise :class:`ConfigError`."""
    hints = typing.get_type_hints(cls, include_extras=True)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(prefix + unknown[0], f"not a field of {cls.__name__}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data or not f.init:
            continue
        value, tp = data[f.name], hints.get(f.name, Any)
        base = typing.get_args(tp)[0] if typing.get_origin(tp) is Annotated else tp
        if dataclasses.is_dataclass(base) and isinstance(value, dict):
            value = config_from_dict(base, value, f"{prefix}{f.name}.")  # type: ignore[arg-type]
        elif isinstance(value, list):
            value = _tuples(value) if _wants_tuple(base) else value
        kwargs[f.name] = value
    return cls(**kwargs)


def _wants_tuple(tp: Any) -> bool:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_wants_tuple(a) for a in typing.get_args(tp))
    return tp is tuple or typing.get_origin(tp) is tuple


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def config_diff(saved: dict[str, Any], new: dict[str, Any], free: frozenset[str]) -> list[str]:
    """Dotted keys whose values differ between two config dicts, except top-level ``free``."""
    out: list[str] = []

    def walk(a: Any, b: Any, key: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                if not key and k in free:
                    continue
                walk(a.get(k, "<missing>"), b.get(k, "<missing>"), f"{key}.{k}" if key else k)
        elif a != b:
            out.append(f"{key}: run has {a!r}, command has {b!r}")

    walk(saved, new, "")
    return out
