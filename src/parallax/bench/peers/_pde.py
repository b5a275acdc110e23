"""Peers of the PDE kernels: SciPy (heat, Laplacians), NumPy (Laplacians) and exponax (KS,
Burgers, Navier–Stokes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from parallax.bench.peers._peer import Peer, register_peer
from parallax.kernels import pde
from parallax.registry import Case


def _scipy_heat(case: Case) -> Callable[[], Any]:
    """scipy.fft (pocketfft, all cores): the same exact factor applied ``num_steps`` times in
    Fourier space, over the trailing ``ndim`` axes."""
    import scipy.fft as sfft

    u0 = np.asarray(case.inputs["u0"])
    dt, nu = float(case.inputs["dt"]), float(case.inputs["nu"])
    steps = case.static["num_steps"]
    ndim = case.static.get("ndim", 1)
    grid = u0.shape[u0.ndim - ndim :]
    length = case.static.get("length", 2 * np.pi)
    lap = pde.make_grid(grid, length).laplacian_np()
    decay = np.exp(nu * dt * lap).astype(u0.dtype)
    axes = tuple(range(-ndim, 0))

    def run() -> np.ndarray:
        uh = np.asarray(sfft.rfftn(u0, axes=axes, workers=-1))
        for _ in range(steps):
            uh = decay * uh
        return np.asarray(sfft.irfftn(uh, s=grid, axes=axes, workers=-1))

    return run


def _exponax_1d(name: str) -> Callable[[Case], Callable[[], Any]]:
    """exponax peer on the same problem: same N, dt, domain, ETDRK order 4, 32 contour points,
    2/3 dealiasing, the conservative 1D convection ``-½(u²)_x``; vmapped over the batch and
    repeated ``num_steps`` times with ``exponax.repeat`` under one ``jax.jit``. Difference: an
    exponax step maps real -> real (one extra FFT pair per step; parallax keeps the state in
    Fourier space inside the scan), and its 2/3 mask keeps one mode fewer."""

    def make(case: Case) -> Callable[[], Any]:
        import exponax

        u0 = jnp.asarray(case.inputs["u0"])
        dt = float(case.inputs["dt"])
        n = u0.shape[-1]
        common: dict[str, Any] = dict(order=4, num_circle_points=32, dealiasing_fraction=2 / 3)
        if name == "ks":
            stepper = exponax.stepper.KuramotoSivashinskyConservative(
                1, float(case.static["length"]), n, dt, **common
            )
        else:
            stepper = exponax.stepper.Burgers(
                1,
                float(case.static.get("length", 2 * np.pi)),
                n,
                dt,
                diffusivity=float(case.inputs["nu"]),
                convection_scale=1.0,
                conservative=True,
                **common,
            )
        run = jax.jit(jax.vmap(exponax.repeat(stepper, case.static["num_steps"])))
        u = u0[:, None, :]  # exponax wants a channel axis
        return lambda: run(u)

    return make


def _exponax_ns(case: Case) -> Callable[[], Any]:
    """exponax ``KolmogorovFlowVorticity`` on the same problem: same grid, ``L = 2π``, ``dt``,
    ``ν``, drag (exponax's linear term ``λω`` with ``λ = -drag``), ETDRK order 4 with 32
    contour points of radius 1, 2/3 dealiasing; vmapped over the batch, ``num_steps`` steps by
    ``exponax.repeat`` under one ``jax.jit``.

    Frames differ: exponax forces along its last axis (``-k γ cos(k x₁)``), parallax along
    axis -2 (``-A κ cos(κ y)``), and its stream function has the opposite sign convention
    (``u = ∂₁Δ⁻¹ω``). Mirroring the two grid axes flips the sign of vorticity, so exponax
    advances ``-ωᵀ`` with ``injection_scale = -A`` exactly as parallax advances ``ω`` (checked
    on a first step in tests/kernels/pde/test_ns_exponax.py). Other differences: an exponax step
    maps real -> real (one extra FFT pair per step), its advective nonlinearity takes 4 inverse
    + 1 forward FFT per stage (parallax: 2 + 2), its 2/3 mask keeps one mode fewer, and its
    forcing ignores ``2π/L`` (so only ``L = 2π`` matches)."""
    import exponax

    w0 = jnp.asarray(case.inputs["w0"])
    n = w0.shape[-1]
    length = case.static.get("length", 2 * np.pi)
    if w0.shape[-2] != n or length != 2 * np.pi:
        raise ValueError("the exponax NS peer needs a square 2π-periodic grid")
    stepper = exponax.stepper.KolmogorovFlowVorticity(
        2,
        float(length),
        n,
        float(case.inputs["dt"]),
        diffusivity=float(case.inputs["nu"]),
        drag=-float(case.inputs["drag"]),
        injection_mode=int(case.static.get("forcing_wavenumber", 4)),
        injection_scale=-float(case.inputs["forcing"]),
        order=4,
        num_circle_points=32,
        dealiasing_fraction=2 / 3,
    )
    run = jax.jit(jax.vmap(exponax.repeat(stepper, case.static["num_steps"])))
    u = -jnp.swapaxes(w0, -1, -2).reshape(-1, 1, n, n)  # mirrored frame, a channel axis
    return lambda: run(u)


def _scipy_laplace(case: Case) -> Callable[[], Any]:
    import scipy.ndimage as ndi

    u = np.asarray(case.inputs["u"])
    inv = (1.0 / np.asarray(case.inputs["dx"]) ** 2).astype(u.dtype)
    assert case.static == {"order": 2, "bc": "periodic"} and inv.ndim == 0
    return lambda: ndi.laplace(u, mode="wrap") * inv


def _numpy_roll_laplace(case: Case) -> Callable[[], Any]:
    u = np.asarray(case.inputs["u"])
    inv = (1.0 / np.asarray(case.inputs["dx"]) ** 2).astype(u.dtype)
    assert case.static == {"order": 2, "bc": "periodic"} and inv.ndim == 0

    def run() -> np.ndarray:
        acc = -2.0 * u.ndim * u
        for ax in range(u.ndim):
            acc = acc + np.roll(u, 1, ax) + np.roll(u, -1, ax)
        return acc * inv

    return run


for _d in (1, 2, 3):
    register_peer(f"pde.heat_{_d}d", Peer("scipy", "scipy.fft", _scipy_heat))
register_peer("pde.ks_1d", Peer("exponax", "exponax", _exponax_1d("ks")))
register_peer("pde.burgers_1d", Peer("exponax", "exponax", _exponax_1d("burgers")))
register_peer(
    "pde.navier_stokes_2d", Peer("exponax", "exponax", _exponax_ns, cases=("bench", "bench_gpu"))
)
for _name in ("pde.fd_laplacian_2d", "pde.fd_laplacian_3d"):
    register_peer(_name, Peer("scipy", "scipy.ndimage", _scipy_laplace))
    register_peer(_name, Peer("numpy", "numpy", _numpy_roll_laplace))
