"""Per-platform code paths, chosen when a program is lowered.

Some kernels have a form that is faster under XLA:CPU's execution model (thin matrix products
instead of FFTs of every mode, cache-sized blocks instead of whole intermediates) but worse
or untested elsewhere. :func:`cpu_or_default` stages both with ``lax.platform_dependent``, so
one traced function lowers to the right one on each platform (and a program exported for
several platforms carries both). The CPU form is only offered to unsharded programs: with a
mesh active or a sharded input, the partitioner (and the branches' output shardings, which must
agree) expect the default form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import jax
from jaxtyping import Array

__all__ = ["cpu_or_default", "unsharded"]

T = TypeVar("T")


def unsharded(*xs: Array) -> bool:
    """True when no mesh is active and no ``x`` carries a sharding over a mesh."""
    if not jax.sharding.get_abstract_mesh().empty:
        return False
    for x in xs:
        mesh = getattr(getattr(jax.typeof(x), "sharding", None), "mesh", None)
        if mesh is not None and not mesh.empty:
            return False
    return True


def cpu_or_default(use_cpu: bool, cpu: Callable[..., T], default: Callable[..., T], *args) -> T:
    """``cpu(*args)`` when lowered for CPU, ``default(*args)`` elsewhere; ``default`` everywhere
    when ``use_cpu`` is false or any array argument is sharded."""
    arrays = [a for a in jax.tree.leaves(args) if hasattr(a, "shape")]
    if not (use_cpu and unsharded(*arrays)):
        return default(*args)
    return jax.lax.platform_dependent(*args, cpu=cpu, default=default)
