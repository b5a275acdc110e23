"""Finite-difference weights shared by :mod:`parallax.kernels.pde._fd_stencil` and its torch twin.

NumPy-only (see :mod:`parallax.kernels`). Centred second-difference weights
[Fornberg 1988, *Math. Comp.* 51] and the 4th-order one-sided stencil next to a boundary.
"""

from __future__ import annotations

__all__ = ["D2_WEIGHTS", "ONE_SIDED_D2"]

D2_WEIGHTS: dict[int, tuple[float, ...]] = {
    2: (1.0, -2.0, 1.0),
    4: (-1.0 / 12.0, 4.0 / 3.0, -5.0 / 2.0, 4.0 / 3.0, -1.0 / 12.0),
}
"""Centred second-difference weights by order, offsets ``-r .. r``."""

ONE_SIDED_D2 = (10.0 / 12.0, -15.0 / 12.0, -4.0 / 12.0, 14.0 / 12.0, -6.0 / 12.0, 1.0 / 12.0)
"""``h² f''(x_1)`` from ``f(x_0 .. x_5)``: exact for polynomials of degree <= 5 (4th order)."""
