"""Precision pinning for comparisons, restored afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import jax

__all__ = ["dtype_context", "pinned_precision"]


@contextlib.contextmanager
def pinned_precision(*, torch_too: bool = True) -> Iterator[None]:
    """JAX matmuls at ``highest`` precision; torch TF32 off and deterministic algorithms on.

    On GPU JAX's float32 matmul default is TF32 and on TPU it is bfloat16 passes; torch's CUDA
    default allows TF32 in cuDNN. A comparison without this pin measures those defaults, not
    the kernels. Every setting is restored on exit.
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(jax.default_matmul_precision("highest"))
        if torch_too:
            try:
                import torch
            except ImportError:
                torch = None  # type: ignore[assignment]
            if torch is not None:
                stack.callback(_pin_torch(torch))
        yield


def dtype_context(dtype: str) -> contextlib.AbstractContextManager[None]:
    """``jax_enable_x64`` only for float64 comparisons, and only inside the block."""
    return jax.enable_x64(dtype == "float64")  # type: ignore[return-value]


# torch >= 2.9 has per-backend ``fp32_precision`` ("ieee" | "tf32" | "none" = inherit) and raises
# if code mixes it with the legacy ``allow_tf32`` / ``set_float32_matmul_precision`` switches,
# so only the new API is touched where it exists.
_FP32_BACKENDS = ("cuda.matmul", "cudnn.conv", "cudnn.rnn", "mkldnn.matmul", "mkldnn.conv")


def _backend(torch: Any, path: str) -> Any:
    obj = torch.backends
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj if hasattr(obj, "fp32_precision") else None


def _pin_torch(torch: Any) -> Callable[[], None]:
    """Full-precision float32 everywhere and deterministic algorithms; returns the undo."""
    det = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    if hasattr(torch.backends, "fp32_precision"):
        saved = {}
        for path in _FP32_BACKENDS:
            b = _backend(torch, path)
            if b is not None:
                saved[path] = b.fp32_precision
                b.fp32_precision = "ieee"

        def restore_new() -> None:
            for path, value in saved.items():
                _backend(torch, path).fp32_precision = value
            torch.use_deterministic_algorithms(det[0], warn_only=det[1])

        torch.use_deterministic_algorithms(True)
        return restore_new
    legacy = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.get_float32_matmul_precision(),
    )
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    torch.use_deterministic_algorithms(True)

    def restore_legacy() -> None:
        torch.backends.cuda.matmul.allow_tf32 = legacy[0]
        torch.backends.cudnn.allow_tf32 = legacy[1]
        torch.set_float32_matmul_precision(legacy[2])
        torch.use_deterministic_algorithms(det[0], warn_only=det[1])

    return restore_legacy
