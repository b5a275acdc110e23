"""Shared by the kernel tests: the bad-input contract, eagerly and under ``jax.jit``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import pytest


def first_error_line(call: Callable[[], Any]) -> str:
    """The first line of the error ``call()`` raises (results are waited for)."""
    with pytest.raises(Exception) as info:  # the message is what callers check
        jax.block_until_ready(call())
    return str(info.value).splitlines()[0]


@pytest.fixture
def named_error() -> Callable[..., None]:
    """``named_error(fn, args, msg, traced=...)``: ``fn(*args)`` raises ``ValueError`` or
    ``TypeError`` eagerly, and ``jax.jit(fn)`` with the args at positions ``traced`` as
    tracers (the others closed over) fails with ``msg`` on the first line of its error."""

    def check(fn: Callable[..., Any], args: tuple, msg: str, traced: tuple[int, ...] = ()):
        with pytest.raises((ValueError, TypeError)) as info:
            jax.block_until_ready(fn(*args))
        assert msg in str(info.value), str(info.value)

        def partial(*dyn: Any) -> Any:
            full = list(args)
            for i, v in zip(traced, dyn, strict=True):
                full[i] = v
            return fn(*full)

        line = first_error_line(lambda: jax.jit(partial)(*(args[i] for i in traced)))
        assert msg in line, line

    return check
