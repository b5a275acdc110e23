"""Every bench case can be put against the roofline: it carries flop and byte estimates, and the
bench turns them into fractions of the ceilings measured in the same run."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from parallax.bench import BenchRecord, Ceilings, bench_spec
from parallax.kernels import ode
from parallax.registry import get, names
from parallax.registry.ode import DOPRI5_BENCH_ATTEMPTED


@pytest.mark.parametrize("name", names())
def test_every_bench_case_has_flops_and_bytes(name):
    case = get(name).make_case("bench", "float32")
    assert case.flops is not None and case.flops > 0, f"{name}: bench case without flops"
    assert case.bytes is not None and case.bytes > 0, f"{name}: bench case without bytes"
    assert case.steps >= 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dopri5_bench_step_count_behind_its_estimate(dtype):
    """The flop estimate of the adaptive solve rests on its attempted step count."""
    case = get("ode.dopri5_lorenz63").make_case("bench", dtype)
    with jax.enable_x64(dtype == "float64"):
        c = {k: jnp.asarray(v) for k, v in case.inputs.items()}
        sol = jax.jit(
            lambda c: ode.dopri5(
                ode.lorenz63,
                c["y0"],
                c["ts"],
                c["params"],
                c["rtol"],
                c["atol"],
                c["dt0"],
                max_steps=100_000,
            )
        )(c)
        attempted = int(sol.num_accepted + sol.num_rejected)
    assert int(sol.status) == ode.SUCCESS
    assert attempted == pytest.approx(DOPRI5_BENCH_ATTEMPTED[dtype], rel=0.05)
    assert case.steps == DOPRI5_BENCH_ATTEMPTED[dtype]


def test_rows_report_fractions_of_the_ceilings_of_the_same_run():
    ceilings = Ceilings(sgemm_gflops=100.0, stream_gbps=10.0, sgemm_n=64, stream_mib=1.0)
    (r,) = bench_spec(
        get("pde.heat_1d"), "test", impls=["jax"], ceilings=ceilings, min_sample_s=0.001
    )
    assert r.gflops is not None and r.gbps is not None
    assert r.frac_peak_flops is not None and r.frac_peak_bw is not None
    assert r.frac_peak_flops == pytest.approx(r.gflops / 100.0)
    assert r.frac_peak_bw == pytest.approx(r.gbps / 10.0)
    frac, unit = r.roofline or (None, None)
    assert frac == max(r.frac_peak_flops, r.frac_peak_bw)
    assert unit == ("GB/s" if r.frac_peak_bw >= r.frac_peak_flops else "GFLOP/s")
    assert BenchRecord.from_json(r.to_json()) == r
