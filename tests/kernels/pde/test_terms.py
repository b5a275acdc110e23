"""The equations' terms over SpectralOps: each nonlinear function against its exact value on
resolved fields, the Kolmogorov forcing spectrum against an FFT of the field, and the
single-device GridOps tables against the NumPy per-axis rules."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import pde


def _points(shape: tuple[int, ...], length: tuple[float, ...]) -> list[np.ndarray]:
    axes = [np.arange(n) * ell / n for n, ell in zip(shape, length, strict=True)]
    return list(np.meshgrid(*axes, indexing="ij"))


def _n(nonlinear, ops: pde.GridOps, u: np.ndarray) -> np.ndarray:
    """``N(u)`` in physical space."""
    return np.asarray(ops.ifft(nonlinear(ops.fft(jnp.asarray(u)))))


def test_shared_nonlinear_functions_exact():
    """Low modes (kept by the 2/3 mask, products resolved): each piece equals its exact value
    to round-off (float64)."""
    with jax.enable_x64(True):
        ops = pde.GridOps(pde.make_grid(32, 4 * math.pi), jnp.float64)
        (x,) = _points((32,), (4 * math.pi,))
        u = np.sin(x) + 0.3 * np.cos(1.5 * x)
        ux = np.cos(x) - 0.45 * np.sin(1.5 * x)
        # -s · ½ (u²)_x = -s u u_x: s = 1 (Burgers, KS) and s = 6 (KdV)
        for s in (1.0, 6.0):
            got = _n(pde.conservative_convection(ops, s), ops, u)
            np.testing.assert_allclose(got, -s * u * ux, atol=1e-12)

        ops2 = pde.GridOps(pde.make_grid((16, 24), (2 * math.pi, 4 * math.pi)), jnp.float64)
        y, x = _points((16, 24), (2 * math.pi, 4 * math.pi))
        u = np.sin(y) * np.cos(0.5 * x) + 0.2 * np.cos(2 * y)
        uy = np.cos(y) * np.cos(0.5 * x) - 0.4 * np.sin(2 * y)
        ux = -0.5 * np.sin(y) * np.sin(0.5 * x)
        np.testing.assert_allclose(
            _n(pde.gradient_norm(ops2), ops2, u), -0.5 * (uy**2 + ux**2), atol=1e-12
        )
        uc = np.sin(y) * np.cos(0.5 * x)  # u³ has modes up to 3 < 16 / 3: kept by the mask
        np.testing.assert_allclose(_n(pde.cubic(ops2), ops2, uc), -(uc**3), atol=1e-12)
        # -(u·∇)u of a velocity (2, ny, nx): component c is -(v_y ∂_y + v_x ∂_x) v_c
        vy, vx = np.sin(x / 2), np.cos(y)
        vel = np.stack([vy, vx])
        want = np.stack([-(vx * 0.5 * np.cos(x / 2)), -(vy * -np.sin(y))])
        np.testing.assert_allclose(_n(pde.advection(ops2), ops2, vel), want, atol=1e-12)


def test_vorticity_flux_equals_divergence_of_u_omega():
    """Basdevant's form ∂x∂y(v² - u²) + (∂xx - ∂yy)(uv) equals ∇·(uω) with u = (ψ_y, -ψ_x),
    Δψ = -ω (float64, resolved field)."""
    with jax.enable_x64(True):
        shape, length = (16, 16), (2 * math.pi, 2 * math.pi)
        ops = pde.GridOps(pde.make_grid(shape, length), jnp.float64)
        y, x = _points(shape, length)
        psi = np.sin(y) * np.cos(x) + 0.5 * np.cos(2 * x)
        w = 2 * np.sin(y) * np.cos(x) + 2.0 * np.cos(2 * x)  # -Δψ
        u = np.cos(y) * np.cos(x)  # ψ_y
        v = np.sin(y) * np.sin(x) + np.sin(2 * x)  # -ψ_x
        wy, wx = 2 * np.cos(y) * np.cos(x), -2 * np.sin(y) * np.sin(x) - 4.0 * np.sin(2 * x)
        got = _n(pde.vorticity_flux(ops), ops, w)
        np.testing.assert_allclose(got, -(u * wx + v * wy), atol=1e-11)
        assert np.max(np.abs(got)) > 0.5 and psi.shape == shape


@pytest.mark.parametrize("nf", [0, 1, 3, 4, 8, 11])
def test_kolmogorov_forcing_spectrum(nf):
    """The closed-form spectrum equals rfft2 of -A κ cos(κ y), κ = 2π n_f / L_y, including
    n_f = 0, the Nyquist mode (n_f = n_y / 2) and an aliased n_f > n_y."""
    with jax.enable_x64(True):
        shape, length = (8, 6), (3.0, 5.0)
        ops = pde.GridOps(pde.make_grid(shape, length), jnp.float64)
        kappa = 2 * math.pi * nf / length[0]
        y, _ = _points(shape, length)
        want = np.fft.rfft2(-1.7 * kappa * np.cos(kappa * y))
        got = np.asarray(pde.kolmogorov_forcing(ops, jnp.asarray(1.7), nf))
        np.testing.assert_allclose(got, want, atol=1e-14 * max(1.0, np.abs(want).max()))


def test_grid_ops_tables():
    """GridOps: modes, |k|², i k (Nyquist zeroed) and the 2/3 mask of its Grid."""
    grid = pde.make_grid((6, 8), (1.0, 2.0))
    ops = pde.GridOps(grid, jnp.float32)
    assert ops.k2().dtype == jnp.float32 and ops.derivative(0).dtype == jnp.complex64
    np.testing.assert_array_equal(np.asarray(ops.modes(1))[0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(np.asarray(ops.modes(0))[:, 0], [0, 1, 2, -3, -2, -1])
    k2 = (2 * np.pi * np.fft.fftfreq(6, 1 / 6))[:, None] ** 2 + (np.pi * np.fft.rfftfreq(8, 1 / 8))[
        None
    ] ** 2
    np.testing.assert_allclose(np.asarray(ops.k2()), k2, rtol=1e-6)
    dx = np.asarray(ops.derivative(1))[0]
    np.testing.assert_allclose(dx, 1j * np.pi * np.array([0, 1, 2, 3, 0]), rtol=1e-6)
    dy = np.asarray(ops.derivative(0))[:, 0]
    np.testing.assert_allclose(dy, 2j * np.pi * np.array([0, 1, 2, 0, -2, -1]), rtol=1e-6)
    ones = jnp.ones((3, *grid.spectral_shape), jnp.complex64)
    keep = np.asarray(ops.dealias(ones))[0].real
    want = (3 * np.abs(np.fft.fftfreq(6, 1 / 6)) < 6)[:, None] & (3 * np.arange(5) < 8)[None]
    np.testing.assert_array_equal(keep, want.astype(np.float32))
