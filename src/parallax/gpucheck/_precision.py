r"""Does the parity pin really turn TF32 off? A float32 matmul and a 3x3 convolution on each
side, with and without :func:`parallax.parity.pinned_precision`, against float64 NumPy.

The relative error ``‖out - ref‖ / ‖ref‖`` of an IEEE float32 product of length-``n`` dot
products is ~1e-7 (far under 1e-5); TF32 (10-bit mantissa inputs) gives ~1e-4 to 1e-3. So an
error above :data:`TF32_SUSPECT` under the pin means some path (cuBLAS, cuDNN, XLA's GEMM
fusions) still rounds its inputs, and the pin does not cover it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from parallax.parity import pinned_precision

__all__ = ["TF32_SUSPECT", "precision_probe", "timing_precision"]

TF32_SUSPECT = 1e-5


@contextlib.contextmanager
def timing_precision() -> Iterator[None]:
    """The parity pin (JAX ``highest`` matmul precision, torch TF32 off) for timings: without
    deterministic kernels, which would slow torch or make it refuse some backward passes."""
    with pinned_precision():
        try:
            import torch
        except ImportError:
            yield
            return
        torch.use_deterministic_algorithms(False)
        yield


def _rel(got: Any, want: np.ndarray) -> float:
    g = np.asarray(got, dtype=np.float64)
    return float(np.linalg.norm(g - want) / np.linalg.norm(want))


def _conv_ref(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """SAME 3x3 cross-correlation, NHWC x HWIO, in float64."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    h, wd = x.shape[1:3]
    out = np.zeros((*x.shape[:3], w.shape[3]))
    for dy in range(3):
        for dx in range(3):
            out += xp[:, dy : dy + h, dx : dx + wd, :] @ w[dy, dx].astype(np.float64)
    return out


def _torch_settings(torch: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"deterministic": torch.are_deterministic_algorithms_enabled()}
    for path in ("cuda.matmul", "cudnn.conv", "cudnn.rnn", "mkldnn.matmul"):
        obj: Any = torch.backends
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if obj is not None and hasattr(obj, "fp32_precision"):
            out[path] = obj.fp32_precision
    if hasattr(torch.backends.cuda.matmul, "allow_tf32") and "cuda.matmul" not in out:
        out["cuda.matmul.allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
        out["cudnn.allow_tf32"] = torch.backends.cudnn.allow_tf32
    return out


def precision_probe(torch_device: str | None, *, n: int = 1024, channels: int = 64) -> dict:
    """Errors of each op (JAX on its default device, torch on ``torch_device``) at the default
    settings and under the pin, and the settings each mode showed."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    x = rng.standard_normal((2, 32, 32, channels)).astype(np.float32)
    w = (rng.standard_normal((3, 3, channels, channels)) / np.sqrt(9 * channels)).astype(np.float32)
    mm_ref = a.astype(np.float64) @ b.astype(np.float64)
    conv_ref = _conv_ref(x, w)
    torch = None
    if torch_device is not None:
        import torch

    def jax_conv(x, w):
        return jax.lax.conv_general_dilated(
            x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    rows, settings = [], {}
    for mode in ("default", "pinned"):
        ctx = pinned_precision() if mode == "pinned" else contextlib.nullcontext()
        with ctx:
            settings[mode] = {"jax": jax.config.values.get("jax_default_matmul_precision")}
            # fresh jit wrappers: the precision is part of the trace, so each mode compiles anew
            rows.append(("jax.matmul", mode, _rel(jax.jit(jnp.matmul)(a, b), mm_ref)))
            rows.append(("jax.conv", mode, _rel(jax.jit(jax_conv)(x, w), conv_ref)))
            if torch is not None:
                settings[mode]["torch"] = _torch_settings(torch)
                ta, tb = (torch.from_numpy(v).to(torch_device) for v in (a, b))
                rows.append(("torch.matmul", mode, _rel((ta @ tb).cpu(), mm_ref)))
                tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(torch_device)
                tw = torch.from_numpy(w.transpose(3, 2, 0, 1).copy()).to(torch_device)
                y = torch.nn.functional.conv2d(tx, tw, padding=1).permute(0, 2, 3, 1).cpu()
                rows.append(("torch.conv2d", mode, _rel(y, conv_ref)))
    table = [{"op": op, "mode": mode, "rel_l2": err} for op, mode, err in rows]
    pinned_bad = [r["op"] for r in table if r["mode"] == "pinned" and r["rel_l2"] > TF32_SUSPECT]
    default_low = [r["op"] for r in table if r["mode"] == "default" and r["rel_l2"] > TF32_SUSPECT]
    return {
        "n": n,
        "conv_channels": channels,
        "threshold": TF32_SUSPECT,
        "rows": table,
        "settings": settings,
        "pinned_all_ieee": not pinned_bad,
        "pinned_above_threshold": pinned_bad,
        "default_above_threshold": default_low,
    }
