"""parallax.kernels.fft: MKL's FFT on CPU through an XLA FFI handler, XLA's FFT elsewhere.

Values against numpy.fft (including inverse real transforms of spectra that are not the
transform of a real array, and batches cut into chunks over threads); derivatives, vmap and
scan against jax.numpy.fft; which op each platform and partitioning lowers to; the fallbacks."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from parallax.kernels import fft

R = np.random.default_rng(11)
MKL_PLATFORM = platform.system() == "Linux" and platform.machine() == "x86_64"
TOL = {np.float32: 3e-6, np.float64: 5e-15}

# (shape, axes): trailing, non-trailing, reordered axes; batches small and large enough to be
# cut into chunks that several threads claim.
CASES = [
    ((8, 64), (-1,)),
    ((3, 16, 12), (-2, -1)),
    ((2, 8, 6, 10), (1, 2, 3)),
    ((5, 9), (0,)),
    ((4, 7, 6), (2, 0)),
    ((64, 1024), (-1,)),
    ((6, 64, 48), (-2, -1)),
]


def _err(got, want) -> float:
    return float(np.max(np.abs(np.asarray(got) - want)) / max(np.max(np.abs(want)), 1e-30))


def test_cpu_programs_take_mkl_where_it_is_installed():
    """scripts/test installs the ``cpu-fft`` extra: on x86-64 Linux a missing or broken MKL
    build fails here rather than silently running XLA's single-threaded loop FFTs."""
    if not MKL_PLATFORM:
        assert fft.backend().startswith("xla (")
        return
    assert fft.backend() == "mkl"
    text = jax.jit(lambda u: fft.irfftn(fft.rfftn(u), (32,))).lower(jnp.ones((4, 32))).as_text()
    assert text.count("parallax_mkl_fft") == 2 and "stablehlo.fft" not in text


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, axes", CASES)
def test_values_match_numpy(shape, axes, dtype):
    with jax.enable_x64(dtype == np.float64):
        x = R.standard_normal(shape).astype(dtype)
        s = tuple(shape[a] for a in axes)
        spectrum = jax.jit(lambda v: fft.rfftn(v, axes))(x)
        assert spectrum.dtype == np.result_type(dtype, np.complex64)
        assert _err(spectrum, np.fft.rfftn(x, axes=axes)) < TOL[dtype]
        back = jax.jit(lambda v: fft.irfftn(v, s, axes))(spectrum)
        assert back.dtype == dtype and _err(back, x) < TOL[dtype]
        c = (x + 1j * R.standard_normal(shape)).astype(spectrum.dtype)
        assert _err(jax.jit(lambda v: fft.fftn(v, axes))(c), np.fft.fftn(c, axes=axes)) < TOL[dtype]
        assert (
            _err(jax.jit(lambda v: fft.ifftn(v, axes))(c), np.fft.ifftn(c, axes=axes)) < TOL[dtype]
        )


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize(
    "shape, s, axes",
    [
        ((3, 12, 5), (12, 8), (-2, -1)),
        ((2, 6, 4, 7), (6, 4, 12), (1, 2, 3)),
        ((7, 3, 5), (7, 9), (0, 2)),
    ],
)
def test_inverse_real_transform_of_any_spectrum_matches_numpy(shape, s, axes, dtype):
    """numpy (and XLA) take the complex inverse over the leading axes, then the real inverse over
    the last: the imaginary parts a non-Hermitian spectrum leaves are dropped, not folded in."""
    with jax.enable_x64(dtype == np.complex128):
        c = (R.standard_normal(shape) + 1j * R.standard_normal(shape)).astype(dtype)
        kept = c.copy()
        x = jnp.asarray(c)
        got = jax.jit(lambda v: fft.irfftn(v, s, axes))(x)
        tol = TOL[np.float64 if dtype == np.complex128 else np.float32]
        assert _err(got, np.fft.irfftn(c, s=s, axes=axes)) < tol
        np.testing.assert_array_equal(np.asarray(x), kept)  # the operand is not written


@pytest.mark.parametrize(
    "shape, axes", [((4, 16), (-1,)), ((3, 8, 6), (-2, -1)), ((5, 6, 7), (0, 2))]
)
def test_derivatives_vmap_and_scan_match_jax_numpy(shape, axes):
    with jax.enable_x64(True):
        x = jnp.asarray(R.standard_normal(shape))
        s = tuple(shape[a] for a in axes)
        ours = (lambda v: fft.rfftn(v, axes), lambda v: fft.irfftn(v, s, axes))
        ref = (lambda v: jnp.fft.rfftn(v, axes=axes), lambda v: jnp.fft.irfftn(v, s=s, axes=axes))
        spec = ref[0](x)
        cot = jnp.asarray(R.standard_normal(spec.shape) + 1j * R.standard_normal(spec.shape))
        for f, g, arg, ct in ((ours[0], ref[0], x, cot), (ours[1], ref[1], spec, x)):
            np.testing.assert_allclose(
                jax.vjp(f, arg)[1](ct)[0], jax.vjp(g, arg)[1](ct)[0], atol=1e-12
            )
            np.testing.assert_allclose(
                jax.jvp(f, (arg,), (arg,))[1], jax.jvp(g, (arg,), (arg,))[1], atol=1e-12
            )
        c = jnp.asarray(R.standard_normal(shape) + 1j * R.standard_normal(shape))
        for f, g in ((fft.fftn, jnp.fft.fftn), (fft.ifftn, jnp.fft.ifftn)):
            ours_c = functools.partial(f, axes=axes)
            ref_c = functools.partial(g, axes=axes)
            np.testing.assert_allclose(
                jax.vjp(ours_c, c)[1](c)[0], jax.vjp(ref_c, c)[1](c)[0], atol=1e-12
            )
        batch = jnp.stack([x, 2 * x])
        np.testing.assert_allclose(jax.vmap(ours[0])(batch)[1], 2 * spec, atol=1e-12)

        def step(u, _):
            return ours[1](ours[0](u) * 0.5), None

        np.testing.assert_allclose(jax.lax.scan(step, x, length=3)[0], x / 8, atol=1e-14)
        np.testing.assert_allclose(
            jax.grad(lambda u: jnp.sum(jax.lax.scan(step, u, length=3)[0] ** 2))(x),
            x / 32,
            atol=1e-14,
        )


def _lowered(fn, x, platform: str) -> str:
    return jax.jit(fn).trace(x).lower(lowering_platforms=(platform,)).as_text()


def test_gpu_tpu_and_xla_partitioned_programs_keep_xlas_fft():
    x = jnp.ones((8, 32), jnp.float32)
    f = lambda u: fft.irfftn(fft.rfftn(u), (32,))  # noqa: E731
    for target in ("cuda", "tpu"):
        text = _lowered(f, x, target)
        assert "stablehlo.fft" in text and "parallax_mkl_fft" not in text
    mesh = jax.make_mesh((8,), ("b",), axis_types=(jax.sharding.AxisType.Auto,))
    sharded = jax.device_put(x, NamedSharding(mesh, PartitionSpec("b")))
    text = jax.jit(f).lower(sharded).as_text()
    assert "stablehlo.fft" in text and "parallax_mkl_fft" not in text
    np.testing.assert_allclose(np.asarray(jax.jit(f)(sharded)), 1.0, rtol=1e-6)
    body = jax.shard_map(f, mesh=mesh, in_specs=PartitionSpec("b"), out_specs=PartitionSpec("b"))
    if fft.backend() == "mkl":  # manual over every axis: the custom call runs per device
        assert "parallax_mkl_fft" in jax.jit(body).lower(sharded).as_text()
    np.testing.assert_allclose(np.asarray(jax.jit(body)(sharded)), 1.0, rtol=1e-6)


def test_bad_arguments_name_what_was_expected():
    with pytest.raises(ValueError, match="axes: expected distinct axes"):
        fft.rfftn(jnp.ones((4, 8)), (1, -1))
    with pytest.raises(ValueError, match="axes: expected 1 to 2 axes"):
        fft.fftn(jnp.ones((4, 8)), (0, 1, 2))
    with pytest.raises(TypeError, match="x: expected a real array"):
        fft.rfftn(jnp.ones((4, 8), jnp.complex64))
    with pytest.raises(ValueError, match=r"s: expected 2 output lengths .* sizes \(8, 5\)"):
        fft.irfftn(jnp.ones((8, 5), jnp.complex64), (8, 10, 3), (0, 1))


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        check=False,
    )


_PROBE = """
    import warnings
    warnings.simplefilter("always")
    import jax, jax.numpy as jnp, numpy as np
    from parallax.kernels import fft
    x = np.random.default_rng(0).standard_normal((4, 32)).astype(np.float32)
    f = jax.jit(lambda u: fft.irfftn(fft.rfftn(u) * 2, (32,)))
    np.testing.assert_allclose(np.asarray(f(x)), 2 * x, rtol=1e-5, atol=1e-5)
    print(fft.backend())
    print("custom call" if "parallax_mkl_fft" in f.lower(x).as_text() else "xla op")
"""


def test_turned_off_or_unbuildable_it_falls_back_to_xla_with_the_same_values(tmp_path):
    off = _python(_PROBE, PARALLAX_MKL_FFT="0")
    assert off.returncode == 0, off.stderr
    assert off.stdout.split("\n")[:2] == ["xla (turned off by PARALLAX_MKL_FFT=0)", "xla op"]
    if not MKL_PLATFORM:
        return
    broken = _python(_PROBE, PARALLAX_CACHE_DIR=str(tmp_path), CXX=str(tmp_path / "no-such-c++"))
    assert broken.returncode == 0, broken.stderr
    assert broken.stdout.split("\n")[1] == "xla op"
    assert broken.stderr.count("could not build _mkl_fft.cc") == 1, broken.stderr
