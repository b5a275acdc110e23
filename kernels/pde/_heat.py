r"""The 1D heat / diffusion equation on a periodic interval, as named entry points.

.. math:: u_t = \nu\, u_{xx}, \qquad x \in [0, L)\ \text{periodic}.

In Fourier space every mode evolves independently, :math:`\hat u_k(t) = e^{-\nu k^2 t}\hat u_k(0)`,
so one step of size ``dt`` is exact (an exponential integrator with no time-discretisation
error): ``u <- irfft(exp(-nu k^2 dt) * rfft(u))``.

There is one implementation of heat in any dimension: the linear case of the spectral stepper
(:func:`parallax.kernels.pde.heat`, :func:`parallax.kernels.pde.heat_rollout`), whose ETD step
for a linear equation is exactly the factor above. The functions here are its 1D forms.
"""

from __future__ import annotations

import math

from jaxtyping import Array, Float

from parallax.kernels.pde._equations import heat
from parallax.kernels.pde._spectral_rollouts import heat_rollout, state_grid

__all__ = ["heat_1d_rollout", "heat_1d_step"]


def heat_1d_step(
    u: Float[Array, "*batch n"],
    dt: Float[Array, ""] | float,
    nu: Float[Array, ""] | float,
    *,
    length: float = 2 * math.pi,
) -> Float[Array, "*batch n"]:
    """Advance ``u`` by ``dt`` exactly: ``irfft(exp(-nu k^2 dt) rfft(u))``.

    ``u``: real, shape ``(*batch, n)`` with ``n >= 4``, the last axis the periodic grid.
    ``dt > 0`` and ``nu >= 0`` are scalars (arrays, so changing them does not recompile).
    """
    return heat(state_grid("u", u, 1, 0, length), dt, nu, dtype=u.dtype)(u)


def heat_1d_rollout(
    u0: Float[Array, "*batch n"],
    dt: Float[Array, ""] | float,
    nu: Float[Array, ""] | float,
    *,
    num_steps: int,
    save_every: int = 1,
    checkpoint: str | None = None,
    checkpoints: int | None = None,
    length: float = 2 * math.pi,
) -> tuple[Float[Array, "*batch n"], Float[Array, "t *batch n"]]:
    """``num_steps`` exact heat steps on ``lax.scan``; returns ``(final, trajectory)``:
    ``heat_rollout(..., ndim=1)``. The state stays in Fourier space inside the scan (one real
    scaling of the complex modes per step); the trajectory is transformed back per saved frame.
    ``checkpoint`` / ``checkpoints``: as :func:`parallax.kernels.rollout`.
    """
    return heat_rollout(u0, dt, nu, ndim=1, num_steps=num_steps, save_every=save_every,
                        checkpoint=checkpoint, checkpoints=checkpoints, length=length)  # fmt: skip
