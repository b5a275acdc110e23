"""Registered PDE kernels (family ``pde``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from parallax.kernels import pde
from parallax.kernels.initial_conditions import smooth_random_field
from parallax.registry._cases import normal, rollout_case, scalar
from parallax.registry._registry import register
from parallax.registry._spec import Case, KernelSpec

# --- heat 1D/2D/3D: exact spectral exponential integrator -----------------------------------
#
# One implementation for every dimension: the linear case of the spectral stepper
# (pde.heat_rollout). The state stays in Fourier space inside the scan and each step multiplies
# the complex modes by the exact factor exp(L dt).


def _linear_cost(
    shape: tuple[int, ...],
    grid_dims: int,
    steps: int,
    frames: int,
    dtype: np.dtype,
    flops_per_mode: float,
) -> tuple[float, float]:
    """``(flops, bytes)`` of an exact linear spectral rollout: per step and mode
    ``flops_per_mode`` (2 for a real factor such as heat's exp(-nu |k|^2 dt), 6 for a complex
    one) and one read + one write of the complex mode; per call one rfftn of the input, one
    irfftn per saved frame and one of the final state (2.5 N log2 N flops each), each reading
    and writing the real field once."""
    grid = shape[len(shape) - grid_dims :]
    size = float(np.prod(shape))
    modes = size / grid[-1] * (grid[-1] // 2 + 1)
    real, cplx = np.dtype(dtype).itemsize, 2 * np.dtype(dtype).itemsize
    flops = flops_per_mode * modes * steps + (2 + frames) * 2.5 * size * np.log2(np.prod(grid))
    return flops, 2.0 * cplx * modes * steps + (2 + frames) * real * size


def _heat_case(
    *, shape: tuple[int, ...], steps: int, save_every: int, dt: float, nu: float, **static: Any
) -> Callable[..., Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        flops, nbytes = _linear_cost(shape, len(shape) - 1, steps, steps // save_every, dtype, 2)
        return rollout_case(
            inputs={
                "u0": normal(rng, shape, dtype),
                "dt": scalar(dt, dtype),
                "nu": scalar(nu, dtype),
            },
            steps=steps,
            save_every=save_every,
            flops=flops,
            bytes=nbytes,
            **static,
        )

    return make


# The step is the exact factor, so JAX and torch differ only by the rounding of their FFT
# libraries and of exp: measured forward max |diff| 2-6e-7 (float32) and 0.7-1.6e-15
# (float64) on unit-normal fields in 1D/2D/3D. Gradients go through the adjoint transforms; the
# ones w.r.t. dt and nu are large sums (~1e3-1e4), so they pass on rtol.
_HEAT_TOL = {"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-13)}


# (test shape, bench shape) per dimension; heat_rollout's default ndim is 1, so the 1D cases
# carry no `ndim` static.
_HEAT_SHAPES = {
    1: ((3, 32), (64, 4096)),
    2: ((2, 16, 16), (8, 256, 256)),
    3: ((2, 8, 8, 8), (8, 64, 64, 64)),
}

for _d, (_test, _bench) in _HEAT_SHAPES.items():
    _static: dict[str, Any] = {} if _d == 1 else {"ndim": _d}
    register(
        KernelSpec(
            name=f"pde.heat_{_d}d",
            fn=pde.heat_rollout,
            cases={
                "test": _heat_case(shape=_test, steps=10, save_every=5, dt=1e-3, nu=0.5, **_static),
                "bench": _heat_case(
                    shape=_bench, steps=100, save_every=100, dt=1e-3, nu=0.5, **_static
                ),
            },
            fwd_tol=_HEAT_TOL,
            grad_tol=_HEAT_TOL,
            grad_wrt=("u0", "dt", "nu"),
            description=f"{_d}D heat u_t = ν Δu, exact spectral step e^(-ν|k|² dt), periodic "
            "(heat_rollout, lax.scan)",
        )
    )


# --- spectral ETDRK4 kernels (Cox & Matthews 2002; Kassam & Trefethen 2005) --------------------
#
# Registered: KS 1D/2D, Burgers 1D/2D, KdV, Allen–Cahn, 2D Navier–Stokes, advection–diffusion
# (1D/2D/3D); heat 1D/2D/3D above is the linear case of the same stepper. Every registered spec
# costs ~10 XLA compilations in the generic contract/parity/golden tests (CI time budget): the
# 2D test cases below are 16² grids with 6 steps for that reason.
#
# Every case factory draws a smooth random field (a few low Fourier modes, amplitude ~1) so the
# test rollouts stay well resolved; "bench" cases are fused lax.scan rollouts of `steps` steps
# returning one saved frame. Flop counts are estimates: 2.5 n log2 n per real FFT of n points
# times the FFTs per step (4 nonlinear evaluations per ETDRK4 step), plus ~100 flops per mode
# for the exponential/weight multiplies. Bytes are a lower bound: one read and one write of the
# field per FFT (the elementwise ETDRK4 combinations add more).


def _fft_flops(grid: tuple[int, ...], ffts_per_step: int) -> float:
    size = float(np.prod(grid))
    modes = size / grid[-1] * (grid[-1] // 2 + 1)
    return ffts_per_step * 2.5 * size * np.log2(size) + 100.0 * modes


def _spectral_case(
    *,
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
        inputs = {state: smooth_random_field(rng, shape, ndim=grid_dims).astype(dtype)}
        inputs.update({k: np.asarray(v, dtype=dtype) for k, v in params.items()})
        batch = float(np.prod(shape[: len(shape) - grid_dims]))
        if ffts_per_step:
            flops = steps * batch * _fft_flops(shape[len(shape) - grid_dims :], ffts_per_step)
            # lower bound on memory traffic: every FFT reads and writes the field once
            nbytes = 2.0 * steps * ffts_per_step * inputs[state].nbytes
        else:  # an exact linear step: a complex factor per mode
            flops, nbytes = _linear_cost(shape, grid_dims, steps, steps // save_every, dtype, 6)
        return rollout_case(
            inputs=inputs,
            steps=steps,
            save_every=save_every,
            flops=flops,
            bytes=nbytes,
            **static,
        )

    return make


# float32: FFT libraries (MKL, ducc, pocketfft) round differently, ~1e-7 per transform; a few
# ETDRK4 steps keep differences near 1e-6 of O(1) fields. Gradients pass through twice as many
# transforms and the stiff weights, and a gradient with respect to dt sums the rounding of every
# step of the rollout (KdV's reaches 1e-4 relative between two libraries), hence the looser
# gradient tolerance. float64 sits well above the 1e-15 differences measured.
_SPECTRAL_FWD = {"float32": (1e-5, 1e-5), "float64": (1e-10, 1e-12)}
_SPECTRAL_GRAD = {"float32": (3e-4, 1e-4), "float64": (1e-9, 1e-11)}


_KS_L = 32 * np.pi

# "test" runs 6 steps saving every 3rd state, "bench" 100 steps saving the last.
_TEST_LOOP: dict[str, Any] = {"steps": 6, "save_every": 3}
_BENCH_LOOP: dict[str, Any] = {"steps": 100, "save_every": 100}


def _etdrk4_bound(*, hlo_mb: float, model_mb: float, fft_share: int, temp_mib: float) -> str:
    """What bounds an ETDRK4 bench case below half the bandwidth ceiling: ``hlo_mb``, the
    operand and result bytes of the ops of one step in the optimized float32 HLO;
    ``model_mb``, the case's bytes per step; ``fft_share``, MKL FFTs' percentage of the
    step's op time in a ``jax.profiler`` trace; ``temp_mib``, XLA's temporaries
    (``memory_analysis``)."""
    return (
        "the bytes model is a lower bound (one read and one write of the field per FFT): the "
        "optimized HLO's ETDRK4 stage combinations and nonlinear products add elementwise "
        f"fusions and move ~{hlo_mb / model_mb:.0f}x those bytes ({hlo_mb:.0f} vs "
        f"{model_mb:.0f} MB per step) within a working set that fits in L3 (XLA's "
        f"temporaries: {temp_mib:g} MiB). MKL's FFTs take ~{fft_share}% of the step's op time in a "
        "trace, the elementwise "
        "fusions the rest. Counted in real traffic the row is above the bandwidth ceiling: the "
        "number of passes over the field, not the FFT flops, bounds it."
    )


def _spectral_spec(
    name: str,
    fn: Callable[..., Any],
    *,
    grid_dims: int,
    ffts_per_step: int,
    grad_wrt: tuple[str, ...],
    description: str,
    test: dict[str, Any],
    bench: dict[str, Any],
    more: dict[str, dict[str, Any]] | None = None,
    bench_profile: tuple[float, int, float] | None = None,
    **shared: Any,
) -> None:
    """Register a spectral rollout: ``test``, ``bench`` and the ``more`` cases are each a
    :func:`_spectral_case`'s own arguments (``shape``, ``params``, statics), over the
    ``shared`` ones and the loop of :data:`_TEST_LOOP` (``test``) or :data:`_BENCH_LOOP`;
    ``bench_profile``: ``(hlo_mb, fft_share, temp_mib)`` of the bench case for :func:`_etdrk4_bound`
    (what bounds it, :attr:`KernelSpec.bounds`)."""
    base = {"grid_dims": grid_dims, "ffts_per_step": ffts_per_step, **shared}
    cases = {"test": _spectral_case(**base, **(_TEST_LOOP | test))}
    for case, own in {"bench": bench, **(more or {})}.items():
        cases[case] = _spectral_case(**base, **(_BENCH_LOOP | own))
    bounds = {}
    if bench_profile is not None:
        hlo_mb, fft_share, temp_mib = bench_profile
        model_mb = 2 * ffts_per_step * 4 * np.prod(bench["shape"]) / 1e6  # float32, per step
        bounds["bench"] = _etdrk4_bound(
            hlo_mb=hlo_mb, model_mb=model_mb, fft_share=fft_share, temp_mib=temp_mib
        )
    register(
        KernelSpec(
            name=name,
            fn=fn,
            cases=cases,
            fwd_tol=_SPECTRAL_FWD,
            grad_tol=_SPECTRAL_GRAD,
            grad_wrt=grad_wrt,
            description=description,
            bounds=bounds,
        )
    )


_spectral_spec(
    "pde.ks_1d",
    pde.ks_1d_rollout,
    grid_dims=1,
    ffts_per_step=8,
    test={"shape": (2, 64), "params": {"dt": 0.2}, "length": 16 * np.pi},
    # 4096 points at the Kassam–Trefethen resolution (128 points per 32π): L = 1024π
    bench={"shape": (64, 4096), "params": {"dt": 0.25}, "length": 32 * _KS_L},
    grad_wrt=("u0", "dt"),
    description="1D Kuramoto–Sivashinsky u_t + ½(u²)_x + u_xx + u_xxxx = 0, ETDRK4, periodic",
    bench_profile=(44.5, 60, 5.10),
)

_spectral_spec(
    "pde.burgers_1d",
    pde.burgers_1d_rollout,
    grid_dims=1,
    ffts_per_step=8,
    test={"shape": (2, 64), "params": {"dt": 0.02, "nu": 0.1}},
    bench={"shape": (64, 4096), "params": {"dt": 1e-3, "nu": 0.01}},
    grad_wrt=("u0", "dt", "nu"),
    description="1D viscous Burgers u_t + ½(u²)_x = ν u_xx, ETDRK4, periodic",
    bench_profile=(44.5, 61, 5.10),
)

# 2D KS on L = 10π (test: 16², the resolution of ks_linear_growth) and L = 32π at 256² for the
# bench (dx ≈ 0.39, as fine as the 1D Kassam–Trefethen grid). Per ETDRK4 stage the gradient
# form -½|∇u|² takes 2 inverse + 1 forward FFT: 12 per step.
_spectral_spec(
    "pde.ks_2d",
    pde.ks_2d_rollout,
    grid_dims=2,
    ffts_per_step=12,
    test={"shape": (2, 16, 16), "params": {"dt": 0.1}, "length": 10 * np.pi},
    bench={"shape": (4, 256, 256), "params": {"dt": 0.1}, "length": _KS_L},
    grad_wrt=("u0", "dt"),
    bench_profile=(77.2, 62, 9.57),
    description="2D Kuramoto–Sivashinsky u_t + ½|∇u|² + Δu + Δ²u = 0, ETDRK4, periodic",
)

# 2D Burgers on the velocity (u, v) stacked on axis -3: the batch in the flop count includes the
# 2 channels, and per channel and ETDRK4 stage it takes 1 + 2 inverse FFTs (u, ∂_x u, ∂_y u)
# and 1 forward FFT: 16 per channel-step.
_spectral_spec(
    "pde.burgers_2d",
    pde.burgers_2d_rollout,
    grid_dims=2,
    ffts_per_step=16,
    test={"shape": (2, 2, 16, 16), "params": {"dt": 0.01, "nu": 0.1}},
    bench={"shape": (4, 2, 256, 256), "params": {"dt": 1e-3, "nu": 0.01}},
    grad_wrt=("u0", "dt", "nu"),
    bench_profile=(199.6, 60, 15.62),
    description="2D viscous Burgers u_t + (u·∇)u = νΔu (advective form), ETDRK4, periodic",
)

# Allen–Cahn in 2D (ndim=2). The cubic -u³ takes 1 inverse + 1 forward FFT per stage: 8 per step.
# dt = 0.05 with |u| ~ 3 at the peaks of the unit-RMS field: dt·|1 - 3u²| ≈ 1.3, inside ETDRK4's
# stability interval for the explicit nonlinear part.
_spectral_spec(
    "pde.allen_cahn",
    pde.allen_cahn_rollout,
    grid_dims=2,
    ffts_per_step=8,
    ndim=2,
    test={"shape": (2, 16, 16), "params": {"dt": 0.05, "eps": 0.1}},
    bench={"shape": (4, 256, 256), "params": {"dt": 0.05, "eps": 0.05}},
    grad_wrt=("u0", "dt", "eps"),
    bench_profile=(47.6, 54, 9.57),
    description="Allen–Cahn u_t = ε²Δu + u - u³ in 1D/2D/3D (ndim), ETDRK4, periodic",
)

_spectral_spec(
    "pde.kdv",
    pde.kdv_rollout,
    grid_dims=1,
    ffts_per_step=8,
    test={"shape": (2, 64), "params": {"dt": 1e-3}},
    bench={"shape": (64, 1024), "params": {"dt": 1e-4}},
    grad_wrt=("u0", "dt"),
    description="KdV u_t + 6 u u_x + u_xxx = 0, ETDRK4 (dispersion exact), periodic",
    bench_profile=(11.1, 60, 1.28),
)


# NS per ETDRK4 stage: u, v back and the products v² - u², uv forward (Basdevant's form): 16 FFTs
# per step (exponax's advective form takes 5 per stage plus a real <-> Fourier pair per step: 22).
_NS_FLOW = {"drag": 0.1, "forcing": 1.0}
_spectral_spec(
    "pde.navier_stokes_2d",
    pde.navier_stokes_2d_rollout,
    grid_dims=2,
    ffts_per_step=16,
    state="w0",
    test={
        "shape": (2, 16, 16),
        "params": {"dt": 0.01, "nu": 0.01, **_NS_FLOW},
        "steps": 4,
        "save_every": 2,
        "forcing_wavenumber": 2,
    },
    bench={
        "shape": (4, 256, 256),
        "params": {"dt": 5e-3, "nu": 1e-3, **_NS_FLOW},
        "forcing_wavenumber": 4,
    },
    more={
        # one 1024² field (cuFFT-sized); dt keeps the advective CFL number near 0.2
        "bench_gpu": {
            "shape": (1, 1024, 1024),
            "params": {"dt": 1e-3, "nu": 1e-3, **_NS_FLOW},
            "forcing_wavenumber": 4,
        },
    },
    grad_wrt=("w0", "dt", "nu", "drag", "forcing"),
    bench_profile=(116.5, 50, 10.83),
    description="2D Navier–Stokes vorticity form, Kolmogorov forcing, linear drag, ETDRK4",
)

_VELOCITY_3D = (1.0, -0.5, 0.3)
_spectral_spec(
    "pde.advection_diffusion",
    pde.advection_diffusion_rollout,
    grid_dims=3,
    ffts_per_step=0,
    ndim=3,
    test={
        "shape": (2, 8, 8, 8),
        "params": {"dt": 0.05, "velocity": _VELOCITY_3D, "nu": 0.1},
        "steps": 4,
        "save_every": 2,
    },
    bench={"shape": (8, 64, 64, 64), "params": {"dt": 0.01, "velocity": _VELOCITY_3D, "nu": 0.01}},
    grad_wrt=("u0", "dt", "velocity", "nu"),
    description="advection–diffusion u_t + c·∇u = νΔu in 1D/2D/3D (ndim), exact ETD step",
)
