"""A pseudo-spectral stepper: ETDRK4 / ETD1 in Fourier space, real fields outside."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import as_real, branched_error_if, check_state_dtype, is_concrete
from parallax.kernels._rollout import rollout
from parallax.kernels.pde._etdrk import etd1, etd1_coefficients, etdrk4, etdrk4_coefficients
from parallax.kernels.pde._spectral import Grid, irfftn, make_grid, rfftn
from parallax.kernels.pde._terms import Terms

__all__ = [
    "METHODS",
    "SpectralStepper",
    "as_grid",
    "fourier_step",
    "make_stepper",
    "param",
    "real_dtype",
    "value_check",
]

METHODS = ("etdrk4", "etd1")


@dataclass(frozen=True)
class SpectralStepper:
    """A pure time step of a periodic PDE ``u_t = L u + N(u)`` on ``grid``.

    ``stepper(u)`` advances a real field of shape ``(*batch, *channels, *grid.shape)`` by one
    step; ``stepper.step_hat`` does the same on its ``rfftn`` (what a rollout iterates, so the
    state stays in Fourier space); ``stepper.rollout(u0, num_steps, save_every=k)`` runs
    ``lax.scan`` and returns ``(final, trajectory)`` in real space.

    Build one inside the function you ``jit`` (its constructor takes ``dt`` and the physical
    parameters as arrays), so new values of ``dt`` or ``nu`` reuse the compiled code.
    """

    grid: Grid
    channels: tuple[int, ...]
    dtype: Any
    step_hat: Callable[[Array], Array]
    pending: tuple[tuple[Array, str], ...] = ()

    def check(self, name: str, u: Array) -> Array:
        """Shape and dtype at trace time; a finite state and the constructor's traced value
        checks (``dt > 0``, ``nu >= 0`` ...) at run time, compiled into one
        :func:`equinox.branched_error_if` threaded through ``u`` (concrete values raise
        ``ValueError`` at once, as :mod:`parallax.kernels._checks` does)."""
        self.grid.check_field(name, u, self.channels)
        if jnp.dtype(u.dtype) != jnp.dtype(self.dtype):
            raise TypeError(
                f"{name}: expected dtype {jnp.dtype(self.dtype)} (the stepper's), got {u.dtype}"
            )
        nonfinite = ~jnp.all(jnp.isfinite(u))
        msgs = [f"{name}: contains NaN or Inf", *(m for _, m in self.pending)]
        if is_concrete(nonfinite) and not self.pending:
            if bool(nonfinite):
                raise ValueError(msgs[0])
            return u
        bad = jnp.stack([nonfinite, *(p for p, _ in self.pending)])
        return branched_error_if(u, jnp.any(bad), jnp.argmax(bad), msgs)

    def to_hat(self, u: Array) -> Array:
        return rfftn(u, self.grid)

    def from_hat(self, uh: Array) -> Array:
        return irfftn(uh, self.grid, self.dtype)

    def __call__(self, u: Float[Array, "*shape"]) -> Float[Array, "*batch ..."]:
        u = self.check("u", u)
        return self.from_hat(self.step_hat(self.to_hat(u)))

    def rollout(
        self,
        u0: Float[Array, "*shape"],
        num_steps: int,
        *,
        save_every: int = 1,
        checkpoint: str | None = None,
        checkpoints: int | None = None,
        name: str = "u0",
    ) -> tuple[Float[Array, "*shape"], Float[Array, "t ..."]]:
        """``num_steps`` steps on ``lax.scan``; the trajectory holds every ``save_every``-th
        state (``num_steps // save_every`` frames, initial state excluded). ``checkpoint`` /
        ``checkpoints`` bound the memory of reverse mode (:func:`parallax.kernels.rollout`).
        ``name`` is what errors call ``u0`` (a caller's own name for it, e.g. ``w0``)."""
        u0 = self.check(name, u0)
        final, traj = rollout(
            self.step_hat,
            self.to_hat(u0),
            num_steps,
            save_every=save_every,
            checkpoint=checkpoint,
            checkpoints=checkpoints,
        )
        frames = self.from_hat(traj)
        if num_steps:  # the last frame is the final state (num_steps is a multiple of save_every)
            return frames[-1], frames
        return self.from_hat(final), frames


def real_dtype(dtype: Any, dt: Any) -> Any:
    """The state dtype: ``dtype`` if given, else ``dt``'s when it is a floating array, else the
    default float (float32, or float64 under ``jax_enable_x64``)."""
    if dtype is not None:
        name, d = "dtype", jnp.dtype(dtype)
    elif hasattr(dt, "dtype") and jnp.issubdtype(dt.dtype, jnp.floating):
        name, d = "dt", jnp.dtype(dt.dtype)
    else:
        name, d = "dtype", jnp.asarray(1.0).dtype
    check_state_dtype(name, jnp.empty((), d))
    return d


Checks = list[tuple[Array, str]]


def value_check(checks: Checks, name: str, x: Array, *, positive: bool) -> None:
    """``x`` finite and ``> 0`` (``positive``) or ``>= 0``: raise now when concrete, else
    record the predicates for the stepper's single run-time check."""
    nonfinite = ~jnp.all(jnp.isfinite(x))
    bad = jnp.any(x <= 0 if positive else x < 0)
    found = [
        (nonfinite, f"{name}: contains NaN or Inf"),
        (bad, f"{name}: expected a value {'>' if positive else '>='} 0"),
    ]
    for pred, msg in found:
        if is_concrete(pred):
            if bool(pred):
                raise ValueError(msg)
        else:
            checks.append((pred, msg))


def param(
    name: str, x: Any, dtype: Any, checks: Checks, *, positive: bool = False, shape: tuple = ()
) -> Array:
    """A physical parameter as an array of ``dtype`` (explicit cast), value-checked."""
    x = as_real(name, x, dtype, shape=shape)
    value_check(checks, name, x, positive=positive)
    return x


def as_grid(grid: Grid | int | tuple[int, ...], length: float | tuple[float, ...] | None) -> Grid:
    if isinstance(grid, Grid):
        if length is not None:
            raise ValueError("length: give it to make_grid, not together with a Grid")
        return grid
    return make_grid(grid, 2 * math.pi if length is None else length)


def fourier_step(terms: Terms, dt: Array, method: str) -> Callable[[Array], Array]:
    """The Fourier-space step ``v -> v'`` of ``u_t = L u + N(u)`` by ``method`` (``"etdrk4"``
    or ``"etd1"``), coefficients computed from ``terms.linear`` and ``dt``."""
    if method == "etdrk4":
        return etdrk4(etdrk4_coefficients(terms.linear, dt), terms.nonlinear)
    if method == "etd1":
        return etd1(etd1_coefficients(terms.linear, dt), terms.nonlinear)
    raise ValueError(f"method: expected one of {METHODS}, got {method!r}")


def make_stepper(
    grid: Grid,
    dt: Array,
    terms: Terms,
    *,
    dtype: Any,
    channels: tuple[int, ...] = (),
    method: str = "etdrk4",
    checks: Checks | None = None,
) -> SpectralStepper:
    """Wrap an equation's :class:`~parallax.kernels.pde.Terms` on ``grid`` (diagonal operator
    of spectral shape and a Fourier-space nonlinearity) into a :class:`SpectralStepper`."""
    step = fourier_step(terms, dt, method)
    return SpectralStepper(grid, channels, dtype, step, tuple(checks or ()))


def dt_param(dt: Any, dtype: Any, checks: Checks) -> Array:
    dt = as_real("dt", dt, dtype)
    value_check(checks, "dt", dt, positive=True)
    return dt
