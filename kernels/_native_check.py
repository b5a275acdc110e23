"""Traced value checks whose run-time error starts with the message, on CPU.

A check compiled with a host callback (``equinox.error_if``) fails as ``JaxRuntimeError:
INTERNAL: CpuCallback error calling callback: Traceback ...`` under a plain ``jax.jit``, with the
message ~1,200 characters in. Here the failing branch of a ``lax.cond`` calls a small XLA FFI
custom call (``_native_check.cc``) that returns an ``INVALID_ARGUMENT`` error carrying the
message, so the error reads ``INVALID_ARGUMENT: dt: expected a value > 0``. jax raises it as
:class:`jax.errors.JaxRuntimeError` from a first call and as :class:`ValueError` from its C++
dispatch path on later calls of the same compiled function; the text is the same.

The handler is compiled on first use (:mod:`parallax.kernels._native`). Where it cannot be
built (no compiler), where ``PARALLAX_NATIVE_CHECKS=0``, and on GPU/TPU (a ``platform_dependent``
branch), checks keep :func:`equinox.branched_error_if`.

In a program being exported the failing branch returns NaN instead
(zeros for integer and boolean values), as ``value_checks("nan")`` does: an exported artifact
must run where no handler was built (:func:`parallax.kernels._native.call`).

Semantics match equinox's: the check returns ``x`` and runs only if that value is used; under
``vmap`` it fails when any batch element fails (the message of the largest index wins); its JVP
passes tangents through.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
from equinox.internal import unvmap_any, unvmap_max
from jax import lax

from parallax.kernels import _native

__all__ = ["available", "raise_if"]

T = TypeVar("T")

TARGET = "parallax_value_check"
_SEPARATOR = "\x1f"
_HANDLER = _native.Handler(
    Path(__file__).with_name("_native_check.cc"),
    (TARGET,),
    switch="PARALLAX_NATIVE_CHECKS",
    fallback="traced value checks fall back to equinox's host callback (their messages come "
    "after a traceback)",
)
available = _HANDLER.available


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _fail_if(x: Any, pred: jax.Array, index: jax.Array, messages: str) -> Any:
    leaves, tree = jax.tree.flatten(x)

    def poisoned(index: jax.Array) -> list[jax.Array]:
        del index
        return [
            jnp.full(
                leaf.shape, jnp.nan if jnp.issubdtype(leaf.dtype, jnp.inexact) else 0, leaf.dtype
            )
            for leaf in leaves
        ]

    def fail() -> Any:
        return jax.tree.unflatten(
            tree, _native.call(TARGET, poisoned, index, partitionable=True, messages=messages)
        )

    return lax.cond(pred, fail, lambda: x)


@_fail_if.defjvp
def _fail_if_jvp(messages: str, primals: tuple, tangents: tuple) -> tuple[Any, Any]:
    x, pred, index = primals
    return _fail_if(x, pred, index, messages), tangents[0]


def raise_if(x: T, pred: Any, index: Any, msgs: Sequence[str]) -> T:
    """``x``, after failing the computation with ``msgs[index]`` where ``pred`` holds (CPU
    lowering only; :func:`available` must be True)."""
    if any(_SEPARATOR in m for m in msgs):
        raise ValueError(f"msgs: a message contains the separator {_SEPARATOR!r}")
    pred = unvmap_any(jnp.asarray(pred))
    index = jnp.max(unvmap_max(jnp.asarray(index, jnp.int32)))
    return _fail_if(x, pred, index, _SEPARATOR.join(msgs))
