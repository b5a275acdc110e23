"""Meshes from specs: parsing, -1 fill, axis types, multi-slice split, clear errors."""

from __future__ import annotations

import jax
import pytest
from jax.sharding import AxisType

import parallax.sharding as ps


def test_parse_string_and_mapping():
    assert ps.parse_mesh_spec("data=4,model=2") == {"data": 4, "model": 2}
    assert ps.parse_mesh_spec(" data = -1 , model=2 ") == {"data": -1, "model": 2}
    assert ps.parse_mesh_spec({"data": -1, "model": 2}) == {"data": -1, "model": 2}
    assert list(ps.parse_mesh_spec("model=2,data=4")) == ["model", "data"]  # order kept


def test_fill_and_build():
    mesh = ps.make_mesh({"data": -1, "model": 2})
    assert dict(mesh.shape) == {"data": 4, "model": 2}
    assert mesh.axis_types == (AxisType.Auto, AxisType.Auto)
    mesh = ps.make_mesh("data=2,model=-1", axis_types=("explicit", "auto"))
    assert dict(mesh.shape) == {"data": 2, "model": 4}
    assert mesh.axis_types == (AxisType.Explicit, AxisType.Auto)
    sub = ps.make_mesh("data=4", devices=jax.devices()[:4])
    assert sub.devices.size == 4


@pytest.mark.parametrize(
    "spec,match",
    [
        ({"data": 3, "model": 2}, r"mesh \(data=3, model=2\) needs 6 devices, but 8 are available"),
        (
            {"data": -1, "model": 3},
            r"need a multiple of 3 devices, but 8 are available, so axis 'data'",
        ),
        ("data=-1,model=-1", "at most one axis may have size -1"),
        ("data:4", "expected 'name=size' pairs"),
        ("data=four", "size of axis 'data' must be an int"),
        ({"data": 0}, "axis 'data' has size 0"),
    ],
)
def test_bad_mesh_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        ps.make_mesh(spec)


def test_split_ici_dcn():
    ici, dcn = ps.split_ici_dcn({"data": 8, "model": 4}, num_slices=2)
    assert ici == {"data": 4, "model": 4} and dcn == {"data": 2, "model": 1}
    ici, dcn = ps.split_ici_dcn({"data": 8, "model": 4}, 4, dcn={"data": -1, "model": 2})
    assert dcn == {"data": 2, "model": 2} and ici == {"data": 4, "model": 2}
    with pytest.raises(ValueError, match=r"mesh axis 'data' has size 3, not divisible by its DCN"):
        ps.split_ici_dcn({"data": 3}, num_slices=2)
    with pytest.raises(ValueError, match="dcn spec"):
        ps.make_mesh("data=8", dcn="data=2")  # the CPU devices form a single slice


def test_explicit_axes_run_the_decompositions():
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import PartitionSpec as P

    mesh = ps.make_mesh({"x": 4, "y": 2}, axis_types="explicit")
    assert mesh.axis_types == (AxisType.Explicit, AxisType.Explicit)
    u = jnp.asarray(np.random.default_rng(0).standard_normal((16, 8)), jnp.float32)

    def lap(v):
        return jnp.roll(v, 1, 0) + jnp.roll(v, -1, 0) - 2 * v

    with jax.set_mesh(mesh):
        out = jax.jit(ps.sharded_stencil(lap, mesh, P("x", "y"), width=1))(u)
        spec = jax.jit(ps.distributed_fft(mesh, (16, 8), "x").fft)(u)
    np.testing.assert_allclose(np.asarray(out), np.asarray(lap(u)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(spec), np.fft.fftn(np.asarray(u)), rtol=1e-4, atol=1e-4)


def test_deadline_exits_with_a_clear_message():
    import subprocess
    import sys

    code = (
        "import time, parallax.sharding as ps\n"
        "with ps.deadline(0.5, 'toy step'):\n"
        "    time.sleep(30)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 70
    assert "toy step exceeded 0.5 s on process 0 of 1" in res.stderr
