"""The twins' own spectral grid agrees with :class:`parallax.kernels.pde.Grid` (two derivations of
the same constants: wavenumbers, -|k|², ∂_j with the Nyquist mode zeroed, the 2/3 mask)."""

from __future__ import annotations

import numpy as np
import pytest

from parallax.kernels import pde
from parallax.kernels.pde.twins._grid import twin_grid


@pytest.mark.parametrize(
    "shape, length",
    [((8,), 3.0), ((9,), 2.0), ((8, 6), (1.0, 2.0)), ((5, 8, 7), (1.0, 2.0, 3.0))],
)
def test_twin_grid_matches_grid(shape, length):
    grid, twin = pde.make_grid(shape, length), twin_grid(shape, length)
    assert twin.laplacian_np().shape == grid.spectral_shape
    np.testing.assert_allclose(twin.laplacian_np(), grid.laplacian_np(), rtol=1e-15)
    for got, want in zip(twin.derivative_np(), grid.derivative_np(), strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-15)
    np.testing.assert_array_equal(twin.dealias_np(), grid.dealias_np())
    assert twin.spacing == grid.spacing and twin.axes == grid.axes
