"""Registered model kernels (family ``nn``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from parallax.kernels import nn
from parallax.registry._cases import normal
from parallax.registry._registry import register
from parallax.registry._spec import Case, KernelSpec


def _attention_case(b: int, s: int, h: int, d: int, causal: bool) -> Callable[..., Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        shape = (b, s, h, d)
        return Case(
            inputs={k: normal(rng, shape, dtype) for k in ("q", "k", "v")},
            static={"causal": causal},
            flops=4.0 * b * h * s * s * d,
            bytes=4.0 * b * s * h * d * np.dtype(dtype).itemsize,
        )

    return make


register(
    KernelSpec(
        name="nn.dot_product_attention",
        family="nn",
        fn=nn.dot_product_attention,
        twin="parallax.kernels.nn.twins:dot_product_attention",
        cases={
            "test": _attention_case(2, 16, 2, 8, causal=True),
            "test_full": _attention_case(2, 12, 3, 4, causal=False),
            "bench": _attention_case(4, 1024, 8, 64, causal=False),
        },
        dtypes=("float32", "float64", "bfloat16"),
        fwd_tol={"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-13), "bfloat16": (2e-2, 2e-2)},
        grad_tol={"float32": (1e-4, 1e-5), "float64": (1e-11, 1e-12), "bfloat16": (5e-2, 5e-2)},
        grad_wrt=("q", "k", "v"),
        description="scaled dot-product attention, BTNH layout, optional causal mask",
    )
)
