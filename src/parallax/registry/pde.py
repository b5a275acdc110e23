"""Registered PDE kernels (family ``pde``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from parallax.kernels import pde
from parallax.registry._cases import normal, scalar
from parallax.registry._registry import register
from parallax.registry._spec import Case, KernelSpec, Peer, PhysicsCheck

# --- heat_1d: exact spectral exponential integrator -------------------------------------------


def _heat_case(batch: int, n: int, steps: int, save_every: int) -> Callable[..., Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        itemsize = 2 * np.dtype(dtype).itemsize  # complex state
        modes = batch * (n // 2 + 1)
        return Case(
            inputs={
                "u0": normal(rng, (batch, n), dtype),
                "dt": scalar(1e-3, dtype),
                "nu": scalar(0.5, dtype),
            },
            static={"num_steps": steps, "save_every": save_every},
            steps=steps,
            flops=6.0 * modes * steps,
            bytes=2.0 * itemsize * modes * steps,
        )

    return make


def _heat_mode_decay(dtype: str) -> dict[str, float]:
    """Each Fourier mode decays as ``exp(-nu k^2 t)`` (``L = 3``, modes 1..5, t = 0.05)."""
    with jax.enable_x64(dtype == "float64"):
        n, length, nu, dt, steps = 64, 3.0, 0.7, 1e-3, 50
        x = np.arange(n) * length / n
        rng = np.random.default_rng(1)
        amps = rng.standard_normal(5)
        ks = 2 * np.pi * np.arange(1, 6) / length
        u0 = sum(a * np.sin(k * x) for a, k in zip(amps, ks, strict=True))
        t = dt * steps
        exact = sum(
            a * np.exp(-nu * k**2 * t) * np.sin(k * x) for a, k in zip(amps, ks, strict=True)
        )
        final, _ = pde.heat_1d_rollout(
            jnp.asarray(u0, dtype=dtype),
            jnp.asarray(dt, dtype=dtype),
            jnp.asarray(nu, dtype=dtype),
            num_steps=steps,
            save_every=steps,
            length=length,
        )
        err = float(np.max(np.abs(np.asarray(final) - exact)))
    tol = 1e-12 if dtype == "float64" else 1e-5
    assert err < tol, f"heat_1d mode decay: max error {err:.3e} >= {tol:.0e}"
    return {"max_abs_error": err}


def _scipy_heat(case: Case) -> Callable[[], Any]:
    import scipy.fft as sfft

    u0 = np.asarray(case.inputs["u0"])
    dt, nu = float(case.inputs["dt"]), float(case.inputs["nu"])
    steps, n = case.static["num_steps"], u0.shape[-1]
    length = case.static.get("length", 2 * np.pi)
    k = 2 * np.pi * np.fft.rfftfreq(n, d=1.0 / n) / length
    decay = np.exp(-nu * dt * k**2).astype(u0.dtype)

    def run() -> np.ndarray:
        uh = np.asarray(sfft.rfft(u0, workers=-1))
        for _ in range(steps):
            uh = decay * uh
        return np.asarray(sfft.irfft(uh, n=n, workers=-1))

    return run


register(
    KernelSpec(
        name="pde.heat_1d",
        family="pde",
        fn=pde.heat_1d_rollout,
        twin="parallax.kernels.pde.twins:heat_1d_rollout",
        cases={
            "test": _heat_case(batch=3, n=32, steps=10, save_every=5),
            "bench": _heat_case(batch=64, n=4096, steps=100, save_every=100),
        },
        fwd_tol={"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-13)},
        grad_tol={"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-13)},
        grad_wrt=("u0", "dt", "nu"),
        physics=(PhysicsCheck("mode_decay", _heat_mode_decay, ("float32", "float64")),),
        peers=(Peer("scipy", "scipy.fft", _scipy_heat),),
        description="1D heat u_t = nu u_xx, exact spectral step, periodic (rollout on lax.scan)",
    )
)


# --- spectral ETDRK4 kernels (Cox & Matthews 2002; Kassam & Trefethen 2005) --------------------
#
# Registered: KS 1D/2D, Burgers 1D/2D, KdV, Allen–Cahn, 2D Navier–Stokes, advection–diffusion
# (1D/2D/3D). Heat nD shares the same stepper and has a torch twin too; it is validated and
# compared with its twin in tests/kernels/pde/test_spectral_physics.py instead of here, because
# every registered spec costs ~10 XLA compilations in the generic contract/parity/golden tests
# (CI time budget): the 2D test cases below are 16² grids with 6 steps for that reason.
#
# Every case factory draws a smooth random field (a few low Fourier modes, amplitude ~1) so the
# test rollouts stay well resolved; "bench" cases are fused lax.scan rollouts of `steps` steps
# returning one saved frame. Flop counts are estimates: 2.5 n log2 n per real FFT of n points
# times the FFTs per step (4 nonlinear evaluations per ETDRK4 step), plus ~100 flops per mode
# for the exponential/weight multiplies. Bytes are a lower bound: one read and one write of the
# field per FFT (the elementwise ETDRK4 combinations add more).

from parallax.registry import _pde_spectral_checks as _chk  # noqa: E402

_F32_64 = ("float32", "float64")


def _smooth(rng: np.random.Generator, shape: tuple[int, ...], ndim: int, modes: int = 4):
    """A real field on the trailing ``ndim`` axes with random amplitudes on modes ``< modes``."""
    grid = shape[len(shape) - ndim :]
    spec_shape = (*shape[: len(shape) - ndim], *grid[:-1], grid[-1] // 2 + 1)
    coef = rng.standard_normal(spec_shape) + 1j * rng.standard_normal(spec_shape)
    keep = np.ones(spec_shape[len(shape) - ndim :], dtype=bool)
    for axis, n in enumerate(grid):
        m = np.fft.rfftfreq(n, 1 / n) if axis == ndim - 1 else np.fft.fftfreq(n, 1 / n)
        sh = [1] * ndim
        sh[axis] = m.size
        keep = keep & (np.abs(m) < modes).reshape(sh)
    field = np.fft.irfftn(coef * keep, s=grid, axes=tuple(range(-ndim, 0)))
    return field / np.sqrt(np.mean(field**2))


def _fft_flops(grid: tuple[int, ...], ffts_per_step: int) -> float:
    size = float(np.prod(grid))
    modes = size / grid[-1] * (grid[-1] // 2 + 1)
    return ffts_per_step * 2.5 * size * np.log2(size) + 100.0 * modes


def _spectral_case(
    shape: tuple[int, ...],
    grid_dims: int,
    params: dict[str, float | tuple[float, ...]],
    steps: int,
    save_every: int,
    ffts_per_step: int,
    state: str = "u0",
    **static: Any,
) -> Callable[..., Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        inputs = {state: _smooth(rng, shape, grid_dims).astype(dtype)}
        inputs.update({k: np.asarray(v, dtype=dtype) for k, v in params.items()})
        batch = float(np.prod(shape[: len(shape) - grid_dims]))
        return Case(
            inputs=inputs,
            static={"num_steps": steps, "save_every": save_every, **static},
            steps=steps,
            flops=steps * batch * _fft_flops(shape[len(shape) - grid_dims :], ffts_per_step),
            # lower bound on memory traffic: every FFT reads and writes the field once
            bytes=2.0 * steps * ffts_per_step * inputs[state].nbytes,
        )

    return make


# float32: JAX (ducc FFT) and torch (pocketfft/MKL) round differently, ~1e-7 per transform; a
# few ETDRK4 steps keep differences near 1e-6 of O(1) fields. Gradients pass through twice as
# many transforms and the stiff weights, hence the 10x looser gradient tolerance. float64 sits
# well above the 1e-15 differences measured.
_SPECTRAL_FWD = {"float32": (1e-5, 1e-5), "float64": (1e-10, 1e-12)}
_SPECTRAL_GRAD = {"float32": (1e-4, 1e-4), "float64": (1e-9, 1e-11)}


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


_KS_L = 32 * np.pi

register(
    KernelSpec(
        name="pde.ks_1d",
        family="pde",
        fn=pde.ks_1d_rollout,
        twin="parallax.kernels.pde.twins:ks_1d_rollout",
        cases={
            "test": _spectral_case((2, 64), 1, {"dt": 0.2}, 6, 3, 8, length=16 * np.pi),
            # 4096 points at the Kassam–Trefethen resolution (128 points per 32π): L = 1024π
            "bench": _spectral_case((64, 4096), 1, {"dt": 0.25}, 100, 100, 8, length=32 * _KS_L),
        },
        fwd_tol=_SPECTRAL_FWD,
        grad_tol=_SPECTRAL_GRAD,
        grad_wrt=("u0", "dt"),
        physics=(PhysicsCheck("mass", _chk.ks_mass),),
        peers=(Peer("exponax", "exponax", _exponax_1d("ks")),),
        description="1D Kuramoto–Sivashinsky u_t + ½(u²)_x + u_xx + u_xxxx = 0, ETDRK4, periodic",
    )
)

register(
    KernelSpec(
        name="pde.burgers_1d",
        family="pde",
        fn=pde.burgers_1d_rollout,
        twin="parallax.kernels.pde.twins:burgers_1d_rollout",
        cases={
            "test": _spectral_case((2, 64), 1, {"dt": 0.02, "nu": 0.1}, 6, 3, 8),
            "bench": _spectral_case((64, 4096), 1, {"dt": 1e-3, "nu": 0.01}, 100, 100, 8),
        },
        fwd_tol=_SPECTRAL_FWD,
        grad_tol=_SPECTRAL_GRAD,
        grad_wrt=("u0", "dt", "nu"),
        physics=(
            PhysicsCheck("cole_hopf", _chk.burgers_cole_hopf, _F32_64),
            PhysicsCheck("etd_orders", _chk.burgers_etd_orders),
        ),
        peers=(Peer("exponax", "exponax", _exponax_1d("burgers")),),
        description="1D viscous Burgers u_t + ½(u²)_x = ν u_xx, ETDRK4, periodic",
    )
)

# 2D KS on L = 10π (test: 16², the resolution of ks_linear_growth) and L = 32π at 256² for the
# bench (dx ≈ 0.39, as fine as the 1D Kassam–Trefethen grid). Per ETDRK4 stage the gradient
# form -½|∇u|² takes 2 inverse + 1 forward FFT: 12 per step.
register(
    KernelSpec(
        name="pde.ks_2d",
        family="pde",
        fn=pde.ks_2d_rollout,
        twin="parallax.kernels.pde.twins:ks_2d_rollout",
        cases={
            "test": _spectral_case((2, 16, 16), 2, {"dt": 0.1}, 6, 3, 12, length=10 * np.pi),
            "bench": _spectral_case((4, 256, 256), 2, {"dt": 0.1}, 100, 100, 12, length=_KS_L),
        },
        # same FFT-rounding argument as the 1D spectral specs (measured f32 parity ~1e-6)
        fwd_tol=_SPECTRAL_FWD,
        grad_tol=_SPECTRAL_GRAD,
        grad_wrt=("u0", "dt"),
        physics=(PhysicsCheck("linear_growth", _chk.ks_linear_growth),),
        description="2D Kuramoto–Sivashinsky u_t + ½|∇u|² + Δu + Δ²u = 0, ETDRK4, periodic",
    )
)

# 2D Burgers on the velocity (u, v) stacked on axis -3: the batch in the flop count includes the
# 2 channels, and per channel and ETDRK4 stage it takes 1 + 2 inverse FFTs (u, ∂_x u, ∂_y u)
# and 1 forward FFT: 16 per channel-step.
register(
    KernelSpec(
        name="pde.burgers_2d",
        family="pde",
        fn=pde.burgers_2d_rollout,
        twin="parallax.kernels.pde.twins:burgers_2d_rollout",
        cases={
            "test": _spectral_case((2, 2, 16, 16), 2, {"dt": 0.01, "nu": 0.1}, 6, 3, 16),
            "bench": _spectral_case((4, 2, 256, 256), 2, {"dt": 1e-3, "nu": 0.01}, 100, 100, 16),
        },
        fwd_tol=_SPECTRAL_FWD,
        grad_tol=_SPECTRAL_GRAD,
        grad_wrt=("u0", "dt", "nu"),
        physics=(PhysicsCheck("cole_hopf_2d", _chk.burgers_2d_cole_hopf, _F32_64),),
        description="2D viscous Burgers u_t + (u·∇)u = νΔu (advective form), ETDRK4, periodic",
    )
)

# Allen–Cahn in 2D (ndim=2). The cubic -u³ takes 1 inverse + 1 forward FFT per stage: 8 per step.
# dt = 0.05 with |u| ~ 3 at the peaks of the unit-RMS field: dt·|1 - 3u²| ≈ 1.3, inside ETDRK4's
# stability interval for the explicit nonlinear part.
register(
    KernelSpec(
        name="pde.allen_cahn",
        family="pde",
        fn=pde.allen_cahn_rollout,
        twin="parallax.kernels.pde.twins:allen_cahn_rollout",
        cases={
            "test": _spectral_case((2, 16, 16), 2, {"dt": 0.05, "eps": 0.1}, 6, 3, 8, ndim=2),
            "bench": _spectral_case(
                (4, 256, 256), 2, {"dt": 0.05, "eps": 0.05}, 100, 100, 8, ndim=2
            ),
        },
        fwd_tol=_SPECTRAL_FWD,
        grad_tol=_SPECTRAL_GRAD,
        grad_wrt=("u0", "dt", "eps"),
        physics=(
            # the float32 observed order is spoiled by rounding at the finest dt: float64 only
            PhysicsCheck("uniform_order", _chk.allen_cahn_uniform_order),
            PhysicsCheck("energy_decay", _chk.allen_cahn_energy_decay),
        ),
        description="Allen–Cahn u_t = ε²Δu + u - u³ in 1D/2D/3D (ndim), ETDRK4, periodic",
    )
)

register(
    KernelSpec(
        name="pde.kdv",
        family="pde",
        fn=pde.kdv_rollout,
        twin="parallax.kernels.pde.twins:kdv_rollout",
        cases={
            "test": _spectral_case((2, 64), 1, {"dt": 1e-3}, 6, 3, 8),
            "bench": _spectral_case((64, 1024), 1, {"dt": 1e-4}, 100, 100, 8),
        },
        fwd_tol=_SPECTRAL_FWD,
        grad_tol=_SPECTRAL_GRAD,
        grad_wrt=("u0", "dt"),
        physics=(PhysicsCheck("soliton", _chk.kdv_soliton),),
        description="KdV u_t + 6 u u_x + u_xxx = 0, ETDRK4 (dispersion exact), periodic",
    )
)

register(
    KernelSpec(
        name="pde.navier_stokes_2d",
        family="pde",
        fn=pde.navier_stokes_2d_rollout,
        twin="parallax.kernels.pde.twins:navier_stokes_2d_rollout",
        cases={
            "test": _spectral_case(
                (2, 16, 16),
                2,
                {"dt": 0.01, "nu": 0.01, "drag": 0.1, "forcing": 1.0},
                4,
                2,
                20,
                state="w0",
                forcing_wavenumber=2,
            ),
            "bench": _spectral_case(
                (4, 256, 256),
                2,
                {"dt": 5e-3, "nu": 1e-3, "drag": 0.1, "forcing": 1.0},
                100,
                100,
                20,
                state="w0",
                forcing_wavenumber=4,
            ),
        },
        fwd_tol=_SPECTRAL_FWD,
        grad_tol=_SPECTRAL_GRAD,
        grad_wrt=("w0", "dt", "nu", "drag", "forcing"),
        physics=(
            PhysicsCheck("taylor_green", _chk.ns_taylor_green),
            PhysicsCheck("kolmogorov_laminar", _chk.ns_kolmogorov_laminar),
        ),
        description="2D Navier–Stokes vorticity form, Kolmogorov forcing, linear drag, ETDRK4",
    )
)

register(
    KernelSpec(
        name="pde.advection_diffusion",
        family="pde",
        fn=pde.advection_diffusion_rollout,
        twin="parallax.kernels.pde.twins:advection_diffusion_rollout",
        cases={
            "test": _spectral_case(
                (2, 8, 8, 8),
                3,
                {"dt": 0.05, "velocity": (1.0, -0.5, 0.3), "nu": 0.1},
                4,
                2,
                0,
                ndim=3,
            ),
            "bench": _spectral_case(
                (8, 64, 64, 64),
                3,
                {"dt": 0.01, "velocity": (1.0, -0.5, 0.3), "nu": 0.01},
                100,
                100,
                0,
                ndim=3,
            ),
        },
        fwd_tol=_SPECTRAL_FWD,
        grad_tol=_SPECTRAL_GRAD,
        grad_wrt=("u0", "dt", "velocity", "nu"),
        physics=(
            PhysicsCheck("exact_modes", _chk.advection_diffusion_exact),
            PhysicsCheck("heat_exact_2d_3d", _chk.heat_exact_nd),
        ),
        description="advection–diffusion u_t + c·∇u = νΔu in 1D/2D/3D (ndim), exact ETD step",
    )
)
