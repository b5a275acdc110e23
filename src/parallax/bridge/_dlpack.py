"""Zero-copy arrays between JAX and torch through DLPack.

``jax_to_torch(x)`` and ``torch_to_jax(t)`` share the buffer (no copy), so they are the way to
move bfloat16 (NumPy cannot hold it) and large arrays. What DLPack cannot do raises a
``ValueError``/``TypeError`` saying what to do instead:

* an array sharded (or replicated) over several devices has several buffers: gather it
  (``jax.device_get``) or take one shard (``x.addressable_data(i)``);
* dtypes outside :data:`SUPPORTED_DTYPES` (float8, int4, ...), and 64-bit torch tensors while
  ``jax_enable_x64`` is off (JAX would copy and narrow them to 32 bits);
* devices other than CPU and CUDA (TPU buffers cannot be read by torch; MPS/XLA torch tensors);
* non-contiguous, conjugated or negated torch views (call ``.contiguous()`` /
  ``.resolve_conj()`` / ``.resolve_neg()`` first: that copies, so it is explicit).

A tensor that requires grad is detached (the autograd graph does not cross to JAX).
Shared memory means aliasing: writing into the torch tensor in place changes the JAX array it
was shared with, which JAX assumes never happens. Treat shared buffers as read-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

if TYPE_CHECKING:
    import torch

__all__ = ["SUPPORTED_DTYPES", "jax_to_torch", "torch_to_jax"]

SUPPORTED_DTYPES: tuple[str, ...] = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
)


def _check_dtype(name: str, dtype: Any) -> None:
    if str(dtype).replace("torch.", "") not in SUPPORTED_DTYPES:
        raise TypeError(
            f"{name}: dtype {dtype} cannot move through DLPack between JAX and torch; "
            f"supported: {', '.join(SUPPORTED_DTYPES)} (cast first, which copies)"
        )


def jax_to_torch(x: jax.Array) -> torch.Tensor:
    """The torch tensor viewing ``x``'s buffer (no copy). ``x`` must live on one CPU/GPU device."""
    import torch

    if not isinstance(x, jax.Array):
        raise TypeError(f"x: expected a jax.Array, got {type(x).__name__}")
    if isinstance(x, jax.core.Tracer):  # pyright: ignore[reportAttributeAccessIssue]
        raise TypeError("x: a traced value (inside jit/grad) has no buffer to share")
    devices = x.sharding.device_set
    if len(devices) != 1 or not x.is_fully_addressable:
        raise ValueError(
            f"x: lives on {len(devices)} devices ({x.sharding}); DLPack shares one buffer. "
            "Gather it first (jax.device_get(x), or jax.device_put(x, one_device)) or share a "
            "shard (x.addressable_data(i))"
        )
    (dev,) = devices
    if dev.platform not in ("cpu", "gpu", "cuda", "rocm"):
        raise ValueError(f"x: on {dev.platform} device {dev}; torch reads only CPU/GPU buffers")
    _check_dtype("x", x.dtype)
    return torch.from_dlpack(x)


def torch_to_jax(t: torch.Tensor) -> jax.Array:
    """The JAX array viewing ``t``'s buffer (no copy). ``t`` must be dense and contiguous."""
    import torch

    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t: expected a torch.Tensor, got {type(t).__name__}")
    if t.device.type not in ("cpu", "cuda"):
        raise ValueError(f"t: on device {t.device}; JAX imports only CPU/CUDA DLPack buffers")
    if t.layout != torch.strided:
        raise ValueError(f"t: layout {t.layout} is not dense; call .to_dense() (copies)")
    if t.is_conj() or t.is_neg():
        raise ValueError("t: a lazily conjugated/negated view; call .resolve_conj()/.resolve_neg()")
    if not t.is_contiguous():
        raise ValueError(
            f"t: not contiguous (strides {t.stride()} for shape {tuple(t.shape)}); JAX needs "
            "row-major buffers: call .contiguous() (copies)"
        )
    _check_dtype("t", t.dtype)
    name = str(t.dtype).replace("torch.", "")
    if jax.dtypes.canonicalize_dtype(jnp.dtype(name)) != jnp.dtype(name):
        raise TypeError(
            f"t: {name} needs jax_enable_x64 (without it JAX would silently copy and narrow it "
            "to 32 bits); enable x64 (`with jax.enable_x64(True):`) or cast in torch first"
        )
    return jnp.from_dlpack(t.detach())
