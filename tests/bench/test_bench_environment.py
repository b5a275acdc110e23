"""Every run records the FFT that CPU programs lower to and MKL's version, and the benchmarks
page shows them in the run's header (FFT-bound rows depend on them as much as on the threads)."""

from __future__ import annotations

import importlib.metadata

import pytest

from parallax.bench import capture_environment
from parallax.bench._page import render_page
from parallax.kernels import fft


def _mkl_version() -> str | None:
    try:
        return importlib.metadata.version("mkl")
    except importlib.metadata.PackageNotFoundError:
        return None


@pytest.fixture(scope="module")
def environment():
    return capture_environment().to_json()


def _header(environment: dict) -> str:
    run = {
        "kind": "bench",
        "schema": 1,
        "complete": True,
        "loaded": False,
        "load": None,
        "argv": ["pde.heat_1d"],
        "environment": environment,
        "records": [],
    }
    return render_page([("bench.json", run)], command="parallax bench --report bench.json")


def test_the_run_records_the_cpu_fft_backend_and_mkl_version(environment, monkeypatch):
    assert environment["fft"] == {"backend": fft.backend(), "mkl": _mkl_version()}
    monkeypatch.setenv("PARALLAX_MKL_FFT", "0")
    off = capture_environment().fft
    assert off["backend"] == "xla (turned off by PARALLAX_MKL_FFT=0)"
    assert off["mkl"] == _mkl_version()


def test_the_run_header_shows_the_fft_backend_next_to_versions_and_threads(environment):
    lines = _header(environment).splitlines()
    threads = next(i for i, line in enumerate(lines) if line.startswith("- threads:"))
    line = lines[threads + 1]
    assert line.startswith("- CPU FFT (`parallax.kernels.fft.backend()`): ")
    assert f"`{environment['fft']['backend']}`" in line
    mkl = environment["fft"]["mkl"]
    assert (f"MKL {mkl}" if mkl else "MKL not installed") in line

    on = {**environment, "fft": {"backend": "mkl", "mkl": "2099.1.0"}}
    assert "- CPU FFT (`parallax.kernels.fft.backend()`): `mkl`, MKL 2099.1.0" in _header(on)
    off = {**environment, "fft": {"backend": "xla (mkl is not installed)", "mkl": None}}
    assert "`xla (mkl is not installed)`, MKL not installed" in _header(off)


def test_runs_recorded_before_the_field_say_so(environment):
    old = {k: v for k, v in environment.items() if k != "fft"}
    assert "- CPU FFT (`parallax.kernels.fft.backend()`): not recorded" in _header(old)


def test_the_run_records_every_cpu_handler_and_why_one_is_not_used(environment, monkeypatch):
    from parallax.kernels import cpu_handlers

    recorded = environment["handlers"]
    assert {"mkl_attention", "mkl_conv", "mkl_matmul", "mkl_mlp", "norm_rows"} <= set(recorded)
    assert recorded == cpu_handlers()
    monkeypatch.setenv("PARALLAX_NORM_ROWS", "0")
    assert capture_environment().handlers["norm_rows"] == "turned off by PARALLAX_NORM_ROWS=0"


def test_the_run_header_lists_the_handlers_in_use_and_the_others_with_the_reason(environment):
    both = {**environment, "handlers": {"mkl_matmul": "", "norm_rows": "turned off by X=0"}}
    line = next(x for x in _header(both).splitlines() if x.startswith("- CPU handlers"))
    assert line == "- CPU handlers in use: `mkl_matmul`; not used: `norm_rows` (turned off by X=0)"
    old = {k: v for k, v in environment.items() if k != "handlers"}
    assert "- CPU handlers in use: not recorded" in _header(old)


def test_the_run_records_the_host_allocator_and_the_header_describes_it(environment):
    from parallax.kernels import host_allocator

    assert environment["allocator"] == host_allocator().to_json()
    applied = {
        "library": "glibc 2.39",
        "applied": True,
        "mmap_threshold": 32 << 20,
        "trim_threshold": 128 << 20,
        "top_pad": 64 << 20,
        "reason": "",
    }
    line = next(
        x for x in _header({**environment, "allocator": applied}).splitlines() if "allocator" in x
    )
    assert line == (
        "- host allocator (`parallax.kernels.configure_host_allocator`): glibc 2.39, "
        "mmap threshold 32 MiB, trim threshold 128 MiB, top pad 64 MiB"
    )
    old = {k: v for k, v in environment.items() if k != "allocator"}
    assert "(`parallax.kernels.configure_host_allocator`): not recorded" in _header(old)
