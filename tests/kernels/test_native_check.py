"""The native (XLA FFI) value check: built on first use, composes with vmap/grad/scan, falls
back to equinox's callback where it cannot be built or is turned off."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import _native_check, pde
from parallax.kernels._checks import error_if

F32 = jnp.float32


def _heat(u, dt):
    return pde.heat_rollout(u, dt, F32(0.1), num_steps=2)[0]


def _first_line(call) -> str:
    with pytest.raises(Exception) as info:  # the message is what is checked
        jax.block_until_ready(call())
    return str(info.value).splitlines()[0]


def test_the_cpu_program_calls_the_ffi_check_not_a_host_callback():
    assert _native_check.available()
    hlo = jax.jit(_heat).lower(jnp.ones((2, 16), F32), F32(0.1)).as_text()
    assert _native_check.TARGET in hlo
    assert "callback" not in hlo


def test_vmap_raises_when_any_element_fails_and_not_otherwise():
    run = jax.jit(jax.vmap(_heat, in_axes=(None, 0)))
    u = jnp.ones((2, 16), F32)
    out = run(u, jnp.asarray([0.1, 0.2], F32))
    np.testing.assert_allclose(np.asarray(out), 1.0, rtol=1e-6)
    assert _first_line(lambda: run(u, jnp.asarray([0.1, -0.2], F32))).endswith(
        "dt: expected a value > 0"
    )


def test_grad_passes_through_the_check_and_a_bad_value_still_raises():
    def loss(x):
        return jnp.sum(error_if(x, x < 0, "x: expected a value >= 0") ** 2)

    g = jax.jit(jax.grad(loss))
    np.testing.assert_allclose(np.asarray(g(jnp.asarray([1.0, 2.0], F32))), [2.0, 4.0])
    assert "x: expected a value >= 0" in _first_line(lambda: g(jnp.asarray([1.0, -2.0], F32)))
    fwd = jax.jit(jax.jacfwd(loss))
    np.testing.assert_allclose(np.asarray(fwd(jnp.asarray([1.0, 2.0], F32))), [2.0, 4.0])


def test_a_check_inside_scan_fires_at_the_step_that_fails():
    def run(x0):
        def body(x, _):
            x = error_if(x, x < 0, "x: went negative")
            return x - 1.0, x

        return jax.lax.scan(body, x0, None, length=4)[1]

    np.testing.assert_allclose(np.asarray(jax.jit(run)(F32(5.0))), [5.0, 4.0, 3.0, 2.0])
    assert "x: went negative" in _first_line(lambda: jax.jit(run)(F32(2.0)))


def test_branched_messages_pick_the_failing_check():
    """The spectral stepper compiles its checks into one branched check (index = first bad)."""
    u = jnp.ones((2, 16), F32)
    f = jax.jit(lambda dt, nu: pde.heat_rollout(u, dt, nu, num_steps=2)[0])
    assert "dt: expected a value > 0" in _first_line(lambda: f(F32(-1.0), F32(0.1)))
    assert "nu: expected a value >= 0" in _first_line(lambda: f(F32(0.1), F32(-1.0)))
    assert "u0: contains NaN" in _first_line(
        lambda: jax.jit(_heat)(u.at[0, 0].set(jnp.inf), F32(0.1))
    )


def test_turned_off_it_falls_back_to_the_equinox_callback(monkeypatch):
    monkeypatch.setenv("PARALLAX_NATIVE_CHECKS", "0")
    f = jax.jit(lambda u, dt: _heat(u, dt))  # a new function: jit caches traces per function
    assert "callback" in f.lower(jnp.ones((2, 16), F32), F32(0.1)).as_text()
    with pytest.raises(Exception, match="dt: expected a value > 0"):
        jax.block_until_ready(f(jnp.ones((2, 16), F32), F32(-0.1)))


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "JAX_PLATFORMS": "cpu", **env}
    full.pop("PARALLAX_NATIVE_CHECKS", None)
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        env=full,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


_PROBE = """
    import jax, jax.numpy as jnp
    from parallax.kernels import _native_check, pde
    print("available", _native_check.available())
    f = jax.jit(lambda dt: pde.heat_rollout(jnp.ones(16), dt, jnp.float32(0.1), num_steps=2))
    try:
        jax.block_until_ready(f(jnp.float32(-1.0)))
    except Exception as e:
        print("first line:", str(e).splitlines()[0])
        print("anywhere:", "dt: expected a value > 0" in str(e))
"""


@pytest.mark.slow
def test_first_use_compiles_into_the_cache_and_later_processes_reuse_it(tmp_path: Path):
    cache = tmp_path / "cache"
    first = _python(_PROBE, PARALLAX_CACHE_DIR=str(cache))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "available True" in first.stdout
    assert "first line: INVALID_ARGUMENT: dt: expected a value > 0" in first.stdout
    (lib,) = cache.glob("native_check-*.so")
    built = lib.stat().st_mtime_ns
    again = _python(_PROBE, PARALLAX_CACHE_DIR=str(cache))
    assert "first line: INVALID_ARGUMENT: dt: expected a value > 0" in again.stdout
    assert lib.stat().st_mtime_ns == built
    assert not list(cache.glob(".*.tmp"))
    lib.write_bytes(b"not a shared library")  # a damaged cache entry is rebuilt
    damaged = _python(_PROBE, PARALLAX_CACHE_DIR=str(cache))
    assert "first line: INVALID_ARGUMENT: dt: expected a value > 0" in damaged.stdout
    assert lib.stat().st_size > 1000


@pytest.mark.slow
def test_without_a_compiler_it_warns_once_and_checks_still_raise(tmp_path: Path):
    code = "import warnings; warnings.simplefilter('always')\n" + textwrap.dedent(_PROBE)
    run = _python(code, PARALLAX_CACHE_DIR=str(tmp_path), CXX=str(tmp_path / "no-such-c++"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "available False" in run.stdout
    assert run.stderr.count("could not build _native_check.cc") == 1
    assert "anywhere: True" in run.stdout  # equinox's callback: the message after a traceback


def test_on_many_devices_every_device_fails_together_without_a_hang():
    """A batch sharded over 4 devices with a NaN on one: the check's predicate is reduced
    across devices, the FFI call runs on each, and the error comes at once (the callback form
    would stall the other devices at a collective until XLA aborts)."""
    mesh = jax.make_mesh((4,), ("b",), axis_types=(jax.sharding.AxisType.Auto,))
    u = np.ones((4, 16), np.float32)
    u[3, 5] = np.nan
    sharded = jax.device_put(jnp.asarray(u), jax.NamedSharding(mesh, jax.P("b")))
    run = jax.jit(lambda u: _heat(u, F32(0.1)))
    assert "u0: contains NaN or Inf" in _first_line(lambda: run(sharded))
    good = jax.device_put(jnp.ones((4, 16), F32), jax.NamedSharding(mesh, jax.P("b")))
    np.testing.assert_allclose(np.asarray(run(good)), 1.0, rtol=1e-6)


def test_the_build_cache_is_keyed_on_the_shared_headers(tmp_path: Path, monkeypatch):
    """Editing a header the handlers share (``kernels/_*.h``) builds them again."""
    from parallax.kernels import _native

    headers, cache = tmp_path / "headers", tmp_path / "cache"
    headers.mkdir()
    (headers / "_shared.h").write_text("inline int shared() { return 1; }\n")
    source = tmp_path / "_probe.cc"
    source.write_text('#include "_shared.h"\nextern "C" int probe() { return shared(); }\n')
    monkeypatch.setattr(_native, "_HEADERS", headers)
    monkeypatch.setenv("PARALLAX_CACHE_DIR", str(cache))
    cxx = _native.compiler()
    assert cxx is not None
    first = _native._build("probe", source, cxx, ())
    assert _native._build("probe", source, cxx, ()) == first
    (headers / "_shared.h").write_text("inline int shared() { return 2; }\n")
    second = _native._build("probe", source, cxx, ())
    assert second != first
    assert ctypes.cdll.LoadLibrary(str(second)).probe() == 2
