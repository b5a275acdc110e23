"""Input validation shared by every kernel.

Two kinds of checks:

* Shape, rank and dtype are static under ``jit``; they are checked while tracing and raise
  ``ValueError`` / ``TypeError`` naming the argument and what was expected.
* Values (``dt > 0``, a finite initial state) are only known at run time under ``jit``. When a
  value is concrete it is checked at once with a ``ValueError``; when it is a tracer the check is
  compiled in and fails the computation at run time with the same message. On CPU the compiled
  check is a small XLA FFI call (:mod:`parallax.kernels._native_check`), so the error a user
  sees under a plain ``jax.jit`` reads ``INVALID_ARGUMENT: dt: expected a value > 0`` (a
  :class:`jax.errors.JaxRuntimeError`, or a ``ValueError`` from jax's fast dispatch path); on
  GPU/TPU, or where that call cannot be built, it is :func:`equinox.error_if`, whose message
  follows a host-callback traceback. ``EQX_ON_ERROR=off`` / ``nan`` / ``breakpoint`` select
  equinox's behaviour everywhere. Value checks return their argument: thread the returned value
  through, or the check is dead code.

In a multi-device program equinox's callback runs on one device: when it fires, the others wait
at their next collective and XLA aborts the process after ~40 s (the FFI check runs on every
device, on its replicated predicate, so all fail together). :func:`value_checks` ``("nan")``
makes the checks of functions traced inside it return NaN instead, on any backend (what
``parallax.run`` does when its mesh has more than one device; its NaN guard then stops the run).
Programs exported with :mod:`jax.export` need ``value_checks("nan")`` or ``("off")``: neither
host callbacks nor the FFI call serialize.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax import Array, lax
from jax.core import Tracer

from parallax.kernels import _native_check

T = TypeVar("T")

__all__ = [
    "as_real",
    "branched_error_if",
    "check_array",
    "check_finite",
    "check_keys",
    "check_nonnegative",
    "check_positive",
    "check_returns",
    "check_same_dtype",
    "check_state_dtype",
    "check_value",
    "error_if",
    "is_concrete",
    "value_checks",
]

_MODES = ("default", "raise", "nan", "off")
_mode: list[str] = ["default"]


@contextlib.contextmanager
def value_checks(mode: str) -> Iterator[None]:
    """How the traced value checks of functions traced inside the block report a bad value:
    ``"default"`` (``EQX_ON_ERROR``, raise unless set), ``"raise"``, ``"nan"`` (the checked
    value becomes NaN: no host callback, safe in multi-device programs) or ``"off"``. Concrete
    values still raise ``ValueError`` at once. A function jitted before the block keeps the mode
    it was traced with."""
    if mode not in _MODES:
        raise ValueError(f"mode: expected one of {_MODES}, got {mode!r}")
    _mode.append(mode)
    try:
        yield
    finally:
        _mode.pop()


def _raises(mode: str) -> bool:
    return mode == "raise" or (
        mode == "default" and os.environ.get("EQX_ON_ERROR", "raise") == "raise"
    )


def error_if(x: T, pred: Any, msg: str) -> T:
    """``x``, after raising ``msg`` where ``pred`` holds (see the module docstring)."""
    return branched_error_if(x, pred, 0, [msg])


def branched_error_if(x: T, pred: Any, index: Any, msgs: Sequence[str]) -> T:
    """``x``, after raising ``msgs[index]`` where ``pred`` holds: a ``ValueError`` now when
    ``pred`` and ``index`` are concrete, else a check compiled in the current
    :func:`value_checks` mode (under ``vmap``: raised when any element fails)."""
    if is_concrete(pred) and is_concrete(index):
        if bool(np.any(np.asarray(pred))):
            raise ValueError(msgs[int(np.max(np.asarray(index)))])
        return x
    mode = _mode[-1]
    if _raises(mode) and _native_check.available():

        def native(x: T, pred: Any, index: Any) -> T:
            return _native_check.raise_if(x, pred, index, msgs)

        def callback(x: T, pred: Any, index: Any) -> T:
            return eqx.branched_error_if(x, pred, index, msgs, on_error="raise")

        return lax.platform_dependent(x, pred, index, cpu=native, default=callback)
    return eqx.branched_error_if(x, pred, index, msgs, on_error=mode)  # type: ignore[arg-type]


def _shape_str(shape: Sequence[int | str | None]) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"


def check_array(
    name: str,
    x: Any,
    *,
    ndim: int | None = None,
    min_ndim: int | None = None,
    shape: Sequence[int | str | None] | None = None,
    trailing: Sequence[int | str | None] | None = None,
    kind: str | None = "floating",
) -> None:
    """Check rank, shape and dtype kind of an array-like argument (trace-time).

    ``shape`` fixes every dimension (``None``/``"*"`` is a wildcard); ``trailing`` fixes the last
    ``len(trailing)`` dimensions and allows any leading batch dimensions. ``kind`` is one of
    ``"floating"``, ``"complex"``, ``"inexact"``, ``"integer"``, ``"bool"`` or ``None``.
    """
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{name}: expected an array, got {type(x).__name__}")
    if kind is not None:
        kinds = {
            "floating": jnp.floating,
            "complex": jnp.complexfloating,
            "inexact": jnp.inexact,
            "integer": jnp.integer,
            "bool": jnp.bool_,
        }
        if not jnp.issubdtype(x.dtype, kinds[kind]):
            raise TypeError(f"{name}: expected a {kind} dtype, got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name}: expected rank {ndim}, got shape {tuple(x.shape)}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{name}: expected rank >= {min_ndim}, got shape {tuple(x.shape)}")
    if shape is not None:
        ok = len(shape) == x.ndim and all(
            s is None or s == "*" or s == d for s, d in zip(shape, x.shape, strict=False)
        )
        if not ok:
            raise ValueError(f"{name}: expected shape {_shape_str(shape)}, got {tuple(x.shape)}")
    if trailing is not None:
        tail = tuple(x.shape[x.ndim - len(trailing) :]) if x.ndim >= len(trailing) else None
        ok = tail is not None and all(
            s is None or s == "*" or s == d for s, d in zip(trailing, tail, strict=True)
        )
        if not ok:
            raise ValueError(
                f"{name}: expected shape (..., {_shape_str(trailing)[1:-1]}), got {tuple(x.shape)}"
            )


STATE_DTYPES = (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64))


def check_keys(
    params: Mapping[str, Any], required: Sequence[str], optional: Sequence[str] = ()
) -> None:
    """A parameter dict holds every ``required`` key and nothing beyond ``optional`` ones."""
    missing = [k for k in required if k not in params]
    unknown = sorted(set(params) - set(required) - set(optional))
    if missing or unknown:
        also = f" and optionally {list(optional)}" if optional else ""
        raise ValueError(
            f"params: missing keys {missing}, unexpected keys {unknown}; "
            f"expected {list(required)}{also}"
        )


def check_state_dtype(name: str, x: Any) -> None:
    """A simulation state (pde, ode, sde, particles) is float32 or float64 (trace-time): in
    half precision (float16 ``eps ~ 1e-3``) a step's increment falls below the rounding of the
    state it is added to."""
    if jnp.dtype(x.dtype) not in STATE_DTYPES:
        raise TypeError(f"{name}: expected float32 or float64, got {x.dtype}")


def check_returns(name: str, out: Any, like: Any, like_name: str) -> None:
    """What the caller's callable ``name`` returned has the shape and dtype of ``like`` (the
    argument ``like_name`` it was given), checked at trace time, so a wrong vector field is
    named here instead of failing later in the integrator's arithmetic."""
    if not hasattr(out, "shape") or not hasattr(out, "dtype"):
        raise TypeError(f"{name}: expected it to return an array, got {type(out).__name__}")
    if tuple(out.shape) != tuple(like.shape):
        raise ValueError(
            f"{name}: expected it to return shape {tuple(like.shape)} (as {like_name}), "
            f"got {tuple(out.shape)}"
        )
    if jnp.dtype(out.dtype) != jnp.dtype(like.dtype):
        raise TypeError(
            f"{name}: expected it to return dtype {like.dtype} (as {like_name}), got {out.dtype}"
        )


def as_real(name: str, x: Any, dtype: Any, *, shape: Sequence[int] | None = ()) -> Array:
    """``x`` (a number, array or tracer) cast to ``dtype`` after checking, at trace time, that
    it holds real numbers (integer or floating: not bool, complex or text) of ``shape``
    (default: a scalar; ``None``: any shape). Casting a complex value would silently drop its
    imaginary part, a bool would become 0 or 1."""
    try:
        a = jnp.asarray(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected real numbers, got {type(x).__name__}") from None
    if a.dtype == jnp.bool_ or not (
        jnp.issubdtype(a.dtype, jnp.integer) or jnp.issubdtype(a.dtype, jnp.floating)
    ):
        raise TypeError(f"{name}: expected real numbers (integer or floating), got {a.dtype}")
    if shape is not None and tuple(a.shape) != tuple(shape):
        if not shape:
            raise ValueError(f"{name}: expected a scalar (rank 0), got shape {tuple(a.shape)}")
        raise ValueError(f"{name}: expected shape {_shape_str(shape)}, got {tuple(a.shape)}")
    return a.astype(dtype)


def check_same_dtype(**arrays: Any) -> None:
    """All named arrays share the first one's dtype (trace-time); the error names the first
    that differs."""
    (ref, first), *rest = ((k, jnp.result_type(v)) for k, v in arrays.items())
    for k, dtype in rest:
        if dtype != first:
            raise TypeError(f"{k}: expected dtype {first} (as {ref}), got {dtype}")


def is_concrete(x: Any) -> bool:
    """True when ``x`` carries a value now (not a tracer)."""
    return not isinstance(x, Tracer)


def check_value(x: T, bad: Any, name: str, msg: str) -> T:
    """``x``, raising ``"{name}: {msg}"`` where ``bad`` holds (see :func:`error_if`)."""
    return error_if(x, bad, f"{name}: {msg}")


def _finite_with_sign(x: T, bad_sign: Any, name: str, sign: str) -> T:
    """One branched check: NaN/Inf first (``contains NaN or Inf``), then the sign."""
    nonfinite = ~jnp.all(jnp.isfinite(jnp.asarray(x)))
    msgs = [f"{name}: contains NaN or Inf", f"{name}: expected a value {sign}"]
    return branched_error_if(x, nonfinite | jnp.any(bad_sign), jnp.where(nonfinite, 0, 1), msgs)


def check_positive(name: str, x: T) -> T:
    """``x`` finite and ``> 0`` everywhere; returns ``x`` (thread it through)."""
    return _finite_with_sign(x, jnp.asarray(x) <= 0, name, "> 0")


def check_nonnegative(name: str, x: T) -> T:
    """``x`` finite and ``>= 0`` everywhere; returns ``x`` (thread it through)."""
    return _finite_with_sign(x, jnp.asarray(x) < 0, name, ">= 0")


def check_finite(name: str, x: T) -> T:
    """No NaN or Inf in ``x``; returns ``x`` (thread it through)."""
    return check_value(x, ~jnp.all(jnp.isfinite(jnp.asarray(x))), name, "contains NaN or Inf")
