"""Torch helpers the twins share; only twins (the ``twins`` packages, the torch model twins)
import it (:mod:`parallax.kernels`)."""

from __future__ import annotations

import torch

__all__ = ["complex_dtype", "python_loop"]

# Under ``torch.compile`` a decorated time loop stays in Python (recursive=False) and the per-step
# function it calls is compiled once, instead of ``num_steps`` steps being unrolled into one
# graph whose compile time grows with the step count; in eager mode the decorator does nothing.
python_loop = torch.compiler.disable(recursive=False)


def complex_dtype(dtype: torch.dtype) -> torch.dtype:
    """``complex128`` for ``float64``, ``complex64`` for ``float32``."""
    return torch.complex128 if dtype == torch.float64 else torch.complex64
