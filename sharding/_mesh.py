"""Device meshes from a small spec: ``{"data": -1, "model": 2}`` or ``"data=4,model=2"``.

A mesh spec names each mesh axis and its size; one size may be ``-1`` and is filled with the
devices left over. Axis types are always passed explicitly (``jax.make_mesh`` defaults to
Explicit, ``jax.sharding.Mesh`` to Auto; parallax never relies on either default).

Multi-slice (several TPU slices joined over the data-centre network, DCN): devices carry a
``slice_index``; collectives inside a slice use the fast ICI links, across slices the slow DCN.
When the devices span more than one slice, :func:`make_mesh` splits each axis size into an ICI
part and a DCN part (``dcn`` spec; by default all slices go to the first axis, which should be the
data-parallel axis, because data parallelism communicates least) and builds the device array with
``mesh_utils.create_hybrid_device_mesh`` so that the DCN part is the slowest-varying one.

What only real hardware shows: the physical ICI topology (``jax.make_mesh`` orders devices along
the torus on TPU; on CPU the order is trivial), the slice layout (CPU devices have no
``slice_index``, so the hybrid path is tested only through :func:`split_ici_dcn`), and the
bandwidth difference between ICI and DCN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh

__all__ = [
    "MeshSpec",
    "has_explicit_axes",
    "make_mesh",
    "parse_mesh_spec",
    "resolve_mesh_shape",
    "split_ici_dcn",
]

MeshSpec = Mapping[str, int] | str | Sequence[tuple[str, int]]

_TYPES = {"auto": AxisType.Auto, "explicit": AxisType.Explicit, "manual": AxisType.Manual}


def parse_mesh_spec(spec: MeshSpec) -> dict[str, int]:
    """``"data=4,model=2"`` (or a mapping, or ``[(name, size), ...]``) -> ``{"data": 4, ...}``.

    Order is kept: it is the order of the mesh axes. Sizes are ints >= 1 or ``-1`` (at most one).
    """
    if isinstance(spec, str):
        items: list[tuple[str, int]] = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            if "=" not in part:
                raise ValueError(f"mesh spec {spec!r}: expected 'name=size' pairs, got {part!r}")
            name, size = (s.strip() for s in part.split("=", 1))
            try:
                items.append((name, int(size)))
            except ValueError:
                raise ValueError(
                    f"mesh spec {spec!r}: size of axis {name!r} must be an int, got {size!r}"
                ) from None
    elif isinstance(spec, Mapping):
        items = list(spec.items())
    else:
        items = [tuple(x) for x in spec]  # type: ignore[misc]
    if not items:
        raise ValueError(f"mesh spec {spec!r}: expected at least one axis")
    names = [n for n, _ in items]
    if len(set(names)) != len(names):
        raise ValueError(f"mesh spec {spec!r}: repeated axis name in {names}")
    for name, size in items:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"mesh spec {spec!r}: axis name {name!r} is not an identifier")
        if not isinstance(size, int | np.integer) or (size < 1 and size != -1):
            raise ValueError(f"mesh spec {spec!r}: axis {name!r} has size {size}; use >= 1 or -1")
    if sum(1 for _, s in items if s == -1) > 1:
        raise ValueError(f"mesh spec {spec!r}: at most one axis may have size -1")
    return {n: int(s) for n, s in items}


def _fmt(spec: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in spec.items())


def resolve_mesh_shape(spec: MeshSpec, num_devices: int) -> dict[str, int]:
    """Fill the ``-1`` axis and check that the axis sizes multiply to ``num_devices``."""
    parsed = parse_mesh_spec(spec)
    fixed = math.prod(s for s in parsed.values() if s != -1)
    if -1 in parsed.values():
        free = next(k for k, v in parsed.items() if v == -1)
        if num_devices % fixed:
            raise ValueError(
                f"mesh ({_fmt(parsed)}): the fixed axes need a multiple of {fixed} devices, "
                f"but {num_devices} are available, so axis {free!r} cannot be filled"
            )
        parsed[free] = num_devices // fixed
    total = math.prod(parsed.values())
    if total != num_devices:
        raise ValueError(
            f"mesh ({_fmt(parsed)}) needs {total} devices, but {num_devices} are available; "
            "use -1 for one axis to fill the rest"
        )
    return parsed


def split_ici_dcn(
    shape: Mapping[str, int], num_slices: int, dcn: MeshSpec | None = None
) -> tuple[dict[str, int], dict[str, int]]:
    """Split each axis size into (ICI size within a slice, DCN size across slices).

    ``dcn`` gives the DCN factor per axis (missing axes get 1; one ``-1`` takes the slices left);
    by default all ``num_slices`` go to the first axis. Returns ``(ici, dcn)`` with
    ``ici[a] * dcn[a] == shape[a]`` and ``prod(dcn) == num_slices``.
    """
    names = list(shape)
    if dcn is None:
        dcn_shape = {n: 1 for n in names}
        dcn_shape[names[0]] = num_slices
    else:
        given = parse_mesh_spec(dcn)
        unknown = set(given) - set(names)
        if unknown:
            raise ValueError(f"dcn spec names axes {sorted(unknown)} not in the mesh {names}")
        dcn_shape = {n: given.get(n, 1) for n in names}
        dcn_shape = resolve_mesh_shape(dcn_shape, num_slices)
    ici: dict[str, int] = {}
    for n in names:
        if shape[n] % dcn_shape[n]:
            raise ValueError(
                f"mesh axis {n!r} has size {shape[n]}, not divisible by its DCN (slice) factor "
                f"{dcn_shape[n]} ({num_slices} slices)"
            )
        ici[n] = shape[n] // dcn_shape[n]
    return ici, dcn_shape


def has_explicit_axes(mesh: Mesh) -> bool:
    """True when some axis of ``mesh`` is Explicit (shardings are part of the array types)."""
    return AxisType.Explicit in mesh.axis_types


def _axis_types(axis_types: Any, n: int) -> tuple[AxisType, ...]:
    if isinstance(axis_types, str | AxisType):
        axis_types = (axis_types,) * n
    out = []
    for t in axis_types:
        if isinstance(t, str):
            if t.lower() not in _TYPES:
                raise ValueError(f"axis type {t!r}: expected one of {sorted(_TYPES)}")
            t = _TYPES[t.lower()]
        out.append(t)
    if len(out) != n:
        raise ValueError(f"axis_types: expected {n} entries, got {len(out)}")
    return tuple(out)


def make_mesh(
    spec: MeshSpec,
    *,
    axis_types: str | AxisType | Sequence[str | AxisType] = "auto",
    devices: Sequence[Any] | None = None,
    dcn: MeshSpec | None = None,
) -> Mesh:
    """Build a :class:`jax.sharding.Mesh` from ``spec`` over ``devices`` (default: all).

    ``axis_types``: ``"auto"`` (default: the compiler propagates shardings from the jit
    in/out shardings, which works with any model code), ``"explicit"`` (shardings are part of the
    types, ``jax.reshard`` moves them), or one entry per axis. The decompositions of this
    package (halo, FFT, ring, ensemble) work on both (inputs are resharded to their specs on
    Explicit meshes). parallax's kernels and models annotate their sharded contractions
    (``out_sharding``), so train steps under every preset run on Explicit meshes too; other
    model code must do the same (Explicit mode rejects a product whose contracting dimension is
    sharded without one), and FSDP there needs ``gather_axes`` or ``fsdp_axis``. Raises
    ``ValueError`` naming the axes and sizes when they do not fit the devices. With devices from
    several slices the mesh is a hybrid ICI x DCN mesh (see module docstring).
    """
    devs = list(jax.devices() if devices is None else devices)
    shape = resolve_mesh_shape(spec, len(devs))
    names = tuple(shape)
    types = _axis_types(axis_types, len(names))
    slices = {getattr(d, "slice_index", 0) for d in devs}
    if len(slices) > 1:
        from jax.experimental import mesh_utils

        ici, dcn_shape = split_ici_dcn(shape, len(slices), dcn)
        arr = mesh_utils.create_hybrid_device_mesh(
            tuple(ici.values()), tuple(dcn_shape.values()), devs
        )
        return Mesh(arr, names, axis_types=types)
    if dcn is not None and math.prod(parse_mesh_spec(dcn).values()) not in (1, -1):
        raise ValueError(f"dcn spec {dcn!r} given, but the {len(devs)} devices form one slice")
    return jax.make_mesh(tuple(shape.values()), names, axis_types=types, devices=devs)
