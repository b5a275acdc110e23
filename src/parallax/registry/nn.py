"""Registered model kernels (family ``nn``).

The kernels take a parameter dict; cases hold flat named arrays, so each spec registers a flat
adapter (:func:`parallax.registry._nn_flat.flat`) and its twin the matching adapter in
:mod:`parallax.registry._nn_twins`. Tolerances: float32 forward/gradient tolerances allow for
different summation orders of length-``d`` reductions (``~ sqrt(d) eps32``, with margin);
bfloat16 ones for one bfloat16 rounding of inputs/outputs on both sides (eps = 7.8e-3) plus
float32-accumulated reductions that round differently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from parallax.kernels import nn, numpy_complex_dtype
from parallax.registry._cases import normal
from parallax.registry._nn_flat import flat
from parallax.registry._registry import register
from parallax.registry._spec import Case, KernelSpec

_TWINS = "parallax.registry._nn_twins"

F32_64 = ("float32", "float64")
ALL = ("float32", "float64", "bfloat16")
# float32 parity: reductions over <= a few hundred terms in different orders
TOL = {"float32": (1e-5, 1e-5), "float64": (1e-12, 1e-12), "bfloat16": (2e-2, 2e-2)}
GTOL = {"float32": (1e-4, 1e-5), "float64": (1e-11, 1e-11), "bfloat16": (5e-2, 5e-2)}


def _flat_spec(kernel: Callable[..., Any], params: tuple[str, ...], **spec: Any) -> None:
    """Register ``nn.<kernel>`` called on flat inputs (its parameter dict's entries ``params``
    as named arrays), compared with the twin of the same name at the family's tolerances;
    ``spec``: the other :class:`KernelSpec` fields (cases, dtypes, grad_wrt, description)."""
    name = kernel.__name__
    register(
        KernelSpec(
            name=f"nn.{name}",
            fn=flat(kernel, params),
            twin=f"{_TWINS}:{name}",
            fwd_tol=TOL,
            grad_tol=GTOL,
            **spec,
        )
    )


def _complex(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype, scale: float = 1.0
) -> np.ndarray:
    """Complex normal samples (complex64 for float32, complex128 for float64)."""
    z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return (scale * z).astype(numpy_complex_dtype(dtype))


def _w(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Weights scaled by 1/sqrt(fan_in) (fan_in = product of all but the last axis)."""
    fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(dtype)


# --- scaled dot-product attention ---------------------------------------------------------------


def _attention_case(
    *,
    b: int,
    s: int,
    h: int,
    d: int,
    causal: bool,
    kv_heads: int | None = None,
    padded: bool = False,
) -> Callable[..., Case]:
    kvh = h if kv_heads is None else kv_heads

    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        inputs = {
            "q": normal(rng, (b, s, h, d), dtype),
            "k": normal(rng, (b, s, kvh, d), dtype),
            "v": normal(rng, (b, s, kvh, d), dtype),
        }
        if padded:  # last quarter of each row's keys padded, at least one key kept
            keep = np.arange(s)[None, :] < np.maximum(1, s - (np.arange(b)[:, None] + 1) * s // 4)
            inputs["padding_mask"] = keep
        return Case(
            inputs=inputs,
            static={"causal": causal},
            flops=4.0 * b * h * s * s * d,
            bytes=4.0 * b * s * h * d * np.dtype(dtype).itemsize,
        )

    return make


register(
    KernelSpec(
        name="nn.dot_product_attention",
        fn=nn.dot_product_attention,
        cases={
            "test": _attention_case(b=2, s=16, h=2, d=8, causal=True),
            "test_gqa_padded": _attention_case(
                b=2, s=8, h=4, d=4, causal=False, kv_heads=2, padded=True
            ),
            "bench": _attention_case(b=4, s=1024, h=8, d=64, causal=False),
            # a long sequence: O(seq) memory against torch's fused SDPA (`--case long`)
            "long": _attention_case(b=4, s=4096, h=8, d=64, causal=False),
        },
        dtypes=ALL,
        fwd_tol={"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-13), "bfloat16": (2e-2, 2e-2)},
        grad_tol={"float32": (1e-4, 1e-5), "float64": (1e-11, 1e-12), "bfloat16": (5e-2, 5e-2)},
        grad_wrt=("q", "k", "v"),
        description="scaled dot-product attention, BTNH layout, GQA, causal/padding masks",
    )
)


def _attention_fwd_bwd(q, k, v, cot, *, causal: bool, implementation: Any = "auto"):
    """``(L, dL/d(q, k, v))`` for ``L = Σ cot ⊙ attn(q, k, v)``: the forward+backward bench."""

    def loss(q, k, v):
        out = nn.dot_product_attention(q, k, v, causal=causal, implementation=implementation)
        return jnp.sum(out.astype(cot.dtype) * cot)

    val, grads = jax.value_and_grad(loss, argnums=(0, 1, 2))(q, k, v)
    return val, {"q": grads[0], "k": grads[1], "v": grads[2]}


def _attention_fwd_bwd_case(*, b: int, s: int, h: int, d: int, causal: bool) -> Callable[..., Case]:
    base = _attention_case(b=b, s=s, h=h, d=d, causal=causal)

    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        c = base(rng, dtype)
        cot = rng.standard_normal((b, s, h, d)).astype(
            np.float64 if dtype == np.float64 else np.float32
        )
        return Case(
            inputs={**c.inputs, "cot": cot},
            static=c.static,
            flops=3.0 * (c.flops or 0.0),  # backward ~ 2x forward
            bytes=(c.bytes or 0.0) * 2,
        )

    return make


register(
    KernelSpec(
        name="nn.dot_product_attention_fwd_bwd",
        fn=_attention_fwd_bwd,
        twin=f"{_TWINS}:dot_product_attention_fwd_bwd",
        cases={
            "test": _attention_fwd_bwd_case(b=2, s=16, h=2, d=8, causal=True),
            "bench": _attention_fwd_bwd_case(b=4, s=1024, h=8, d=64, causal=False),
            "long": _attention_fwd_bwd_case(b=4, s=4096, h=8, d=64, causal=False),
        },
        dtypes=F32_64,
        fwd_tol={"float32": (1e-4, 1e-5), "float64": (1e-11, 1e-12)},
        grad_tol={},
        description="value_and_grad of Σ c·attention(q, k, v): the forward+backward timing",
    )
)


# --- multi-head attention with projections ------------------------------------------------------


def _mha_case(
    *,
    b: int,
    s: int,
    d_model: int,
    h: int,
    kvh: int,
    causal: bool,
    rope: bool,
    padded: bool,
    bias: bool,
) -> Callable[..., Case]:
    hd = d_model // h

    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        inputs = {
            "x": normal(rng, (b, s, d_model), dtype),
            "wq": _w(rng, (d_model, h * hd), dtype),
            "wk": _w(rng, (d_model, kvh * hd), dtype),
            "wv": _w(rng, (d_model, kvh * hd), dtype),
            "wo": _w(rng, (h * hd, d_model), dtype),
        }
        if bias:
            for n, size in (("bq", h * hd), ("bk", kvh * hd), ("bv", kvh * hd), ("bo", d_model)):
                inputs[n] = normal(rng, (size,), dtype)
        if padded:
            inputs["padding_mask"] = np.arange(s)[None, :] < (s - np.arange(b)[:, None] - 1)
        static = {"num_heads": h, "num_kv_heads": kvh, "causal": causal}
        if rope:
            static["rope_base"] = 10000.0
        proj = 2.0 * b * s * d_model * (2 * h + 2 * kvh) * hd
        return Case(
            inputs=inputs,
            static=static,
            flops=proj + 4.0 * b * h * s * s * hd,
            bytes=float(sum(v.nbytes for v in inputs.values())),
        )

    return make


_flat_spec(
    nn.multi_head_attention,
    ("wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo"),
    cases={
        "test": _mha_case(
            b=2, s=8, d_model=16, h=4, kvh=2, causal=True, rope=True, padded=True, bias=True
        ),
        "bench": _mha_case(
            b=4,
            s=1024,
            d_model=512,
            h=8,
            kvh=8,
            causal=True,
            rope=True,
            padded=False,
            bias=False,
        ),
    },
    dtypes=F32_64,  # bfloat16 parity is covered by dot_product_attention and mlp
    grad_wrt=("x", "wq", "wk", "wv", "wo"),
    description="multi-head attention with projections, GQA, RoPE, causal/padding masks",
)


# --- MLPs ---------------------------------------------------------------------------------------


def _mlp_case(
    *, shape: tuple[int, ...], d_hidden: int, d_out: int, activation: str, gated: bool
) -> Callable[..., Case]:
    d_in = shape[-1]
    tokens = int(np.prod(shape[:-1]))

    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        x = normal(rng, shape, dtype)
        if gated:
            inputs = {
                "x": x,
                "w_gate": _w(rng, (d_in, d_hidden), dtype),
                "w_up": _w(rng, (d_in, d_hidden), dtype),
                "w_down": _w(rng, (d_hidden, d_out), dtype),
            }
            mats = 2 * d_in * d_hidden + d_hidden * d_out
        else:
            inputs = {
                "x": x,
                "w1": _w(rng, (d_in, d_hidden), dtype),
                "b1": normal(rng, (d_hidden,), dtype),
                "w2": _w(rng, (d_hidden, d_out), dtype),
                "b2": normal(rng, (d_out,), dtype),
            }
            mats = d_in * d_hidden + d_hidden * d_out
        return Case(
            inputs=inputs,
            static={"activation": activation},
            flops=2.0 * tokens * mats,
            bytes=float(sum(v.nbytes for v in inputs.values())),
        )

    return make


_flat_spec(
    nn.mlp,
    ("w1", "b1", "w2", "b2"),
    cases={
        "test": _mlp_case(
            shape=(2, 5, 8), d_hidden=16, d_out=6, activation="gelu_exact", gated=False
        ),
        "bench": _mlp_case(
            shape=(4, 1024, 512), d_hidden=2048, d_out=512, activation="gelu_exact", gated=False
        ),
    },
    dtypes=ALL,
    grad_wrt=("x", "w1", "b1", "w2", "b2"),
    description="two-layer MLP, explicit activation (gelu_exact / gelu_tanh / relu / silu)",
)

_flat_spec(
    nn.gated_mlp,
    ("w_gate", "w_up", "w_down", "b_gate", "b_up", "b_down"),
    cases={
        "test": _mlp_case(shape=(2, 5, 8), d_hidden=16, d_out=8, activation="silu", gated=True),
        "test_geglu_tanh": _mlp_case(
            shape=(3, 8), d_hidden=12, d_out=6, activation="gelu_tanh", gated=True
        ),
        "bench": _mlp_case(
            shape=(4, 1024, 512), d_hidden=1408, d_out=512, activation="silu", gated=True
        ),
    },
    dtypes=F32_64,  # bfloat16 parity: see nn.mlp / nn.layer_norm (same code path)
    grad_wrt=("x", "w_gate", "w_up", "w_down"),
    description="gated MLP: SwiGLU (silu) and GeGLU (gelu_exact / gelu_tanh)",
)


# --- norms --------------------------------------------------------------------------------------


def _norm_case(*, shape: tuple[int, ...], eps: float, bias: bool) -> Callable[..., Case]:
    d = shape[-1]

    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        inputs = {
            "x": (3.0 * normal(rng, shape, np.dtype(np.float64)) + 1.5).astype(dtype),
            "scale": (1.0 + 0.3 * normal(rng, (d,), np.dtype(np.float64))).astype(dtype),
        }
        if bias:
            inputs["bias"] = normal(rng, (d,), dtype)
        n = int(np.prod(shape))
        return Case(
            inputs=inputs,
            static={"eps": eps},
            flops=8.0 * n,
            bytes=2.0 * n * np.dtype(dtype).itemsize,
        )

    return make


_flat_spec(
    nn.layer_norm,
    ("scale", "bias"),
    cases={
        "test": _norm_case(shape=(2, 5, 16), eps=1e-5, bias=True),
        "bench": _norm_case(shape=(4, 1024, 1024), eps=1e-5, bias=True),
    },
    dtypes=ALL,
    grad_wrt=("x", "scale", "bias"),
    description="LayerNorm over the last axis with explicit eps",
)

_flat_spec(
    nn.rms_norm,
    ("scale",),
    cases={
        "test": _norm_case(shape=(2, 5, 16), eps=1e-6, bias=False),
        "bench": _norm_case(shape=(4, 1024, 1024), eps=1e-6, bias=False),
    },
    dtypes=F32_64,  # bfloat16 parity: see nn.mlp / nn.layer_norm (same code path)
    grad_wrt=("x", "scale"),
    description="RMSNorm over the last axis with explicit eps",
)


# --- FNO spectral convolution -------------------------------------------------------------------


def _fno1_case(*, b: int, n: int, ci: int, co: int, modes: int) -> Callable[..., Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        inputs = {
            "x": normal(rng, (b, n, ci), dtype),
            "weight": _complex(rng, (modes, ci, co), dtype, 1 / np.sqrt(2 * ci)),
        }
        fft = 2.5 * b * n * np.log2(n) * (ci + co)
        return Case(
            inputs=inputs,
            flops=fft + 8.0 * b * modes * ci * co,
            bytes=float(sum(v.nbytes for v in inputs.values())) + b * n * co * inputs["x"].itemsize,
        )

    return make


def _fno2_case(
    *, b: int, n1: int, n2: int, ci: int, co: int, m1: int, m2: int
) -> Callable[..., Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        inputs = {
            "x": normal(rng, (b, n1, n2, ci), dtype),
            "w_pos": _complex(rng, (m1, m2, ci, co), dtype, 1 / np.sqrt(2 * ci)),
            "w_neg": _complex(rng, (m1, m2, ci, co), dtype, 1 / np.sqrt(2 * ci)),
        }
        fft = 2.5 * b * n1 * n2 * np.log2(n1 * n2) * (ci + co)
        return Case(
            inputs=inputs,
            flops=fft + 16.0 * b * m1 * m2 * ci * co,
            bytes=float(sum(v.nbytes for v in inputs.values()))
            + b * n1 * n2 * co * inputs["x"].itemsize,
        )

    return make


# What bounds the spectral convolutions' bench cases on CPU (optimized HLO and a trace).
_DFT_BOUND = (
    "on CPU the truncated transforms run as batched matmuls with DFT matrices (the DFT path of "
    "parallax.kernels.nn), not as FFTs: the optimized HLO holds the products (YNNPACK; thin, "
    "2 m + 1 or 2 m DFT rows against n), and the selects, pads and transposes that lay the modes "
    "out for the complex mixing; outside the products these passes take ~10% (1D) and ~20-30% "
    "(2D) of the op time in a trace. The model counts FFT flops and one pass over input, weights "
    "and output, so it understates both the products' flops and the intermediate traffic."
)

_flat_spec(
    nn.spectral_conv_1d,
    ("weight",),
    cases={
        "test": _fno1_case(b=2, n=32, ci=3, co=4, modes=6),
        "test_all_modes": _fno1_case(
            b=1, n=10, ci=2, co=2, modes=6
        ),  # modes = n//2+1 (Nyquist kept)
        "bench": _fno1_case(b=32, n=1024, ci=64, co=64, modes=16),
    },
    dtypes=F32_64,
    grad_wrt=("x", "weight"),
    description="FNO spectral convolution 1D (Li et al. 2021), complex mode weights",
    bounds={"bench": _DFT_BOUND},
)

_flat_spec(
    nn.spectral_conv_2d,
    ("w_pos", "w_neg"),
    cases={
        "test": _fno2_case(b=2, n1=12, n2=10, ci=3, co=2, m1=3, m2=4),
        "bench": _fno2_case(b=16, n1=64, n2=64, ci=32, co=32, m1=12, m2=12),
    },
    dtypes=F32_64,
    grad_wrt=("x", "w_pos", "w_neg"),
    description="FNO spectral convolution 2D (Li et al. 2021), ± frequency blocks on axis 1",
    bounds={"bench": _DFT_BOUND},
)


# --- convolution --------------------------------------------------------------------------------


def _conv_case(
    *,
    x_shape: tuple[int, ...],
    window: tuple[int, ...],
    co: int,
    groups: int = 1,
    bias: bool = True,
    **static,
) -> Callable[..., Case]:
    ci = x_shape[-1]

    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        inputs = {
            "x": normal(rng, x_shape, dtype),
            "kernel": _w(rng, (*window, ci // groups, co), dtype),
        }
        if bias:
            inputs["bias"] = normal(rng, (co,), dtype)
        out_pts = int(np.prod(x_shape[:-1]))  # ~ stride 1, SAME
        return Case(
            inputs=inputs,
            static={"groups": groups, **static},
            flops=2.0 * out_pts * int(np.prod(window)) * (ci // groups) * co,
            bytes=float(sum(v.nbytes for v in inputs.values()))
            + out_pts * co * np.dtype(dtype).itemsize,
        )

    return make


_flat_spec(
    nn.conv_1d,
    ("kernel", "bias"),
    cases={
        "test": _conv_case(
            x_shape=(2, 11, 4),
            window=(3,),
            co=6,
            padding="SAME",
            stride=2,
            dilation=2,
            groups=2,
        ),
        "bench": _conv_case(x_shape=(32, 1024, 64), window=(5,), co=64, padding="SAME"),
    },
    dtypes=ALL,
    grad_wrt=("x", "kernel", "bias"),
    description="1D convolution, NWC input, WIO kernel (stride, padding, dilation, groups)",
)

_flat_spec(
    nn.conv_2d,
    ("kernel", "bias"),
    cases={
        "test": _conv_case(
            x_shape=(2, 7, 6, 4), window=(3, 2), co=6, padding="SAME", stride=(2, 1), groups=2
        ),
        "bench": _conv_case(x_shape=(16, 64, 64, 32), window=(3, 3), co=64, padding="SAME"),
    },
    dtypes=ALL,
    grad_wrt=("x", "kernel"),
    description="2D convolution, NHWC input, HWIO kernel (stride, padding, dilation, groups)",
    bounds={
        "bench": "Winograd F(2x2, 3x3) in the MKL handler (_mkl_conv.cc): each block of 128 "
        "2x2 output tiles writes its tiles' 4x4 input transforms (B^T d B) to a per-thread "
        "buffer that stays in L2, runs 16 sequential 128x32 by 32x64 SGEMMs against the kernel "
        "transformed once per call (G g G^T), then the output transform (A^T m A) with the bias, "
        "blocks spread over XLA's pool: 2.25x fewer multiplies than the direct count the "
        "GFLOP/s column uses, so that column can pass the SGEMM ceiling. Thread-summed, the "
        "GEMMs take a bit over half the call (thin: K is the 32 input channels), the input "
        "transform about a sixth and the output transform about a quarter, which includes the "
        "page faults on the fresh 16 MB output. torch's oneDNN direct convolution does the full "
        "36 multiplies per output pixel and channel pair."
    },
)
