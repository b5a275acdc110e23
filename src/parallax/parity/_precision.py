"""Precision pinning for comparisons, restored afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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
                saved = (
                    torch.backends.cuda.matmul.allow_tf32,
                    torch.backends.cudnn.allow_tf32,
                    torch.get_float32_matmul_precision(),
                    torch.are_deterministic_algorithms_enabled(),
                    torch.is_deterministic_algorithms_warn_only_enabled(),
                )

                def restore() -> None:
                    torch.backends.cuda.matmul.allow_tf32 = saved[0]
                    torch.backends.cudnn.allow_tf32 = saved[1]
                    torch.set_float32_matmul_precision(saved[2])
                    torch.use_deterministic_algorithms(saved[3], warn_only=saved[4])

                stack.callback(restore)
                torch.backends.cuda.matmul.allow_tf32 = False
                torch.backends.cudnn.allow_tf32 = False
                torch.set_float32_matmul_precision("highest")
                torch.use_deterministic_algorithms(True)
        yield


def dtype_context(dtype: str) -> contextlib.AbstractContextManager[None]:
    """``jax_enable_x64`` only for float64 comparisons, and only inside the block."""
    return jax.enable_x64(dtype == "float64")  # type: ignore[return-value]
