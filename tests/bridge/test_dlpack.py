"""Zero-copy DLPack sharing between JAX and torch, and clear errors for what it cannot do."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax import bridge as B

torch = pytest.importorskip("torch", reason="the bridge tests need PyTorch")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int32", "complex64"])
def test_jax_to_torch_shares_the_buffer(dtype):
    x = jnp.arange(24, dtype=jnp.float32).reshape(4, 6).astype(dtype)
    t = B.jax_to_torch(x)
    assert t.data_ptr() == x.unsafe_buffer_pointer()  # zero copy
    assert t.dtype == getattr(torch, dtype) and tuple(t.shape) == (4, 6)
    np.testing.assert_array_equal(
        t.to(torch.float32 if dtype != "complex64" else t.dtype).numpy(),
        np.asarray(x.astype(jnp.float32 if dtype != "complex64" else x.dtype)),
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64, torch.float16])
def test_torch_to_jax_shares_the_buffer(dtype):
    t = torch.arange(24).reshape(4, 6).to(dtype)
    with jax.enable_x64(dtype == torch.int64):
        x = B.torch_to_jax(t)
    assert x.unsafe_buffer_pointer() == t.data_ptr()  # zero copy
    assert x.dtype == jnp.dtype(str(dtype).replace("torch.", ""))
    np.testing.assert_array_equal(np.asarray(x.astype(jnp.float32)), np.arange(24.0).reshape(4, 6))
    # requires_grad tensors are detached (the autograd graph does not cross)
    p = torch.ones(3, requires_grad=True)
    np.testing.assert_array_equal(np.asarray(B.torch_to_jax(p)), np.ones(3))


def test_bfloat16_round_trip_is_exact():
    x = (jnp.arange(-8, 8, dtype=jnp.float32) / 3).astype(jnp.bfloat16)
    back = B.torch_to_jax(B.jax_to_torch(x) * 1)  # torch op -> a new torch buffer -> JAX
    np.testing.assert_array_equal(np.asarray(back).view(np.uint16), np.asarray(x).view(np.uint16))


def test_what_dlpack_cannot_do_raises_clearly():
    mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Explicit,))
    sharded = jax.device_put(jnp.zeros(16), jax.NamedSharding(mesh, jax.P("data")))
    with pytest.raises(ValueError, match=r"lives on 8 devices.*addressable_data"):
        B.jax_to_torch(sharded)
    one = B.jax_to_torch(sharded.addressable_data(0))  # one shard works
    assert tuple(one.shape) == (2,)
    with pytest.raises(TypeError, match="float8_e4m3fn cannot move through DLPack"):
        B.jax_to_torch(jnp.zeros(4, jnp.float8_e4m3fn))
    with pytest.raises(TypeError, match=r"expected a jax\.Array"):
        B.jax_to_torch(np.zeros(3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"not contiguous.*\.contiguous\(\)"):
        B.torch_to_jax(torch.zeros(4, 6).T)
    with pytest.raises(ValueError, match="resolve_conj"):
        B.torch_to_jax(torch.zeros(3, dtype=torch.complex64).conj())
    with pytest.raises(TypeError, match="uint16"):
        B.torch_to_jax(torch.zeros(3, dtype=torch.uint16))
    with pytest.raises(TypeError, match="float64 needs jax_enable_x64"):
        B.torch_to_jax(torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="meta"):
        B.torch_to_jax(torch.zeros(3, device="meta"))
    with pytest.raises(TypeError, match="traced value"):
        jax.jit(B.jax_to_torch)(jnp.zeros(3))
