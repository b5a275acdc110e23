"""Parity: a JAX kernel against its PyTorch twin, forward and backward, in numbers.

``run_parity(spec, case, dtype)`` compares outputs and gradients with the registered tolerance
tables and reports, on a mismatch, the leaf, the worst element and both values.
``record_golden`` / ``check_golden`` store and check torch reference arrays so parity can be
verified without torch installed. The pytest plugin turns every registered kernel into tests.
"""

from parallax.parity._compare import LeafReport as LeafReport
from parallax.parity._compare import compare_leaf as compare_leaf
from parallax.parity._golden import GOLDEN_DTYPES as GOLDEN_DTYPES
from parallax.parity._golden import check_golden as check_golden
from parallax.parity._golden import golden_path as golden_path
from parallax.parity._golden import record_golden as record_golden
from parallax.parity._harness import ParityResult as ParityResult
from parallax.parity._harness import jax_outputs as jax_outputs
from parallax.parity._harness import run_parity as run_parity
from parallax.parity._harness import torch_available as torch_available
from parallax.parity._harness import torch_outputs as torch_outputs
from parallax.parity._precision import dtype_context as dtype_context
from parallax.parity._precision import pinned_precision as pinned_precision

__all__ = [
    "GOLDEN_DTYPES",
    "LeafReport",
    "ParityResult",
    "check_golden",
    "compare_leaf",
    "dtype_context",
    "golden_path",
    "jax_outputs",
    "pinned_precision",
    "record_golden",
    "run_parity",
    "torch_available",
    "torch_outputs",
]
