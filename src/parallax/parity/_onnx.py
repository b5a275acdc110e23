"""ONNX export of a JAX model through its torch twin, checked against ONNX Runtime.

``export_onnx`` copies the JAX weights into the torch twin (:func:`parallax.bridge.
export_to_torch`) and runs ``torch.onnx.export`` (the dynamo exporter); ``compare_onnx`` then
runs :func:`parallax.parity.compare` of the JAX model against the exported graph in ONNX Runtime
(forward values: ONNX Runtime has no autograd). Needs the ``onnx`` extra
(``pip install 'parallax[onnx]'``: onnx, onnxruntime, onnxscript).

Complex weights: ONNX tensors may be complex but neither ONNX Runtime's kernels nor
``torch.onnx`` (no complex ``einsum``/``matmul``) compute with them. FFTs are fine: ``rfft`` /
``irfft`` become the ``DFT`` operator (opset >= 17; real and imaginary parts on a trailing axis
of 2). So the FNO exports once its spectral convolutions are written in real arithmetic,

.. math::  (a + ib)(c + id) = (ac - bd) + i(ad + bc),

with the complex weights stored as real and imaginary float initializers: :func:`onnx_ready`
swaps :class:`parallax.models.TorchFNO`'s ``SpectralConv1d`` / ``2d`` for such equivalents.
Any other complex parameter or buffer raises :class:`OnnxExportError` naming it.
"""

from __future__ import annotations

import copy
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from parallax.bridge import export_to_torch, named_params
from parallax.parity._functions import compare
from parallax.parity._inputs import check_dtypes, prepare_inputs, to_numpy
from parallax.parity._modules import _cast
from parallax.parity._precision import dtype_context
from parallax.parity._report import ParityReport

__all__ = ["OnnxExportError", "compare_onnx", "export_onnx", "onnx_function", "onnx_ready"]

DFT_MIN_OPSET = 17
DEFAULT_OPSET = 20


class OnnxExportError(ValueError):
    """A model that cannot be expressed in ONNX as it stands, with the reason."""


def _real_spectral(conv: Any) -> Any:
    """A real-arithmetic copy of parallax's ``SpectralConv1d`` / ``SpectralConv2d``."""
    import torch

    def cmul(xr: Any, xi: Any, wr: Any, wi: Any, eq: str) -> tuple[Any, Any]:
        e = torch.einsum
        return e(eq, xr, wr) - e(eq, xi, wi), e(eq, xr, wi) + e(eq, xi, wr)

    class RealSpectralConv1d(torch.nn.Module):
        def __init__(self, conv: Any) -> None:
            super().__init__()
            self.modes = conv.modes
            w = conv.weights1.detach()
            self.register_buffer("w_re", w.real.contiguous())
            self.register_buffer("w_im", w.imag.contiguous())

        def forward(self, x: Any) -> Any:  # (b, c, n)
            n = x.shape[-1]
            xf = torch.view_as_real(torch.fft.rfft(x))[:, :, : self.modes]
            yr, yi = cmul(xf[..., 0], xf[..., 1], self.w_re, self.w_im, "bix,iox->box")
            y = torch.stack([yr, yi], dim=-1)
            y = torch.nn.functional.pad(y, (0, 0, 0, n // 2 + 1 - self.modes))
            return torch.fft.irfft(torch.view_as_complex(y), n=n)

    class RealSpectralConv2d(torch.nn.Module):
        def __init__(self, conv: Any) -> None:
            super().__init__()
            self.m1, self.m2 = conv.m1, conv.m2
            for name in ("weights1", "weights2"):
                w = getattr(conv, name).detach()
                self.register_buffer(f"{name}_re", w.real.contiguous())
                self.register_buffer(f"{name}_im", w.imag.contiguous())

        def forward(self, x: Any) -> Any:  # (b, c, n1, n2)
            n1, n2 = x.shape[-2:]
            m1, m2 = self.m1, self.m2
            xf = torch.view_as_real(torch.fft.rfft2(x))
            eq = "bixy,ioxy->boxy"
            lo_x, hi_x = xf[:, :, :m1, :m2], xf[:, :, -m1:, :m2]
            lo = cmul(lo_x[..., 0], lo_x[..., 1], self.weights1_re, self.weights1_im, eq)
            hi = cmul(hi_x[..., 0], hi_x[..., 1], self.weights2_re, self.weights2_im, eq)
            low, high = torch.stack(lo, dim=-1), torch.stack(hi, dim=-1)
            gap = low.new_zeros((*low.shape[:2], n1 - 2 * m1, *low.shape[3:]))
            y = torch.cat([low, gap, high], dim=2)
            y = torch.nn.functional.pad(y, (0, 0, 0, n2 // 2 + 1 - m2))
            return torch.fft.irfft2(torch.view_as_complex(y), s=(n1, n2))

    from parallax.models._torch_fno import SpectralConv1d

    return (RealSpectralConv1d if isinstance(conv, SpectralConv1d) else RealSpectralConv2d)(conv)


def onnx_ready(module: Any) -> Any:
    """A copy of ``module`` that ``torch.onnx`` can express: parallax's complex spectral
    convolutions rewritten in real arithmetic; any other complex tensor raises."""
    from parallax.models._torch_fno import SpectralConv1d, SpectralConv2d

    module = copy.deepcopy(module)
    for sub in list(module.modules()):
        for child_name, child in list(sub.named_children()):
            if isinstance(child, SpectralConv1d | SpectralConv2d):
                setattr(sub, child_name, _real_spectral(child))
    complex_tensors = [
        n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.is_complex()
    ]
    if complex_tensors:
        raise OnnxExportError(
            f"cannot export complex tensors {complex_tensors} to ONNX: ONNX Runtime has no "
            "complex arithmetic and torch.onnx no complex einsum/matmul. Store the real and "
            "imaginary parts as float tensors and multiply in real arithmetic "
            "((a+ib)(c+id) = (ac-bd) + i(ad+bc)); rfft/irfft themselves export as ONNX DFT "
            f"(opset >= {DFT_MIN_OPSET})"
        )
    return module


def _uses_fft(module: Any) -> bool:
    from parallax.models._torch_fno import SpectralConv1d, SpectralConv2d

    return any(isinstance(m, SpectralConv1d | SpectralConv2d) for m in module.modules())


def export_onnx(
    jax_model: Any,
    inputs: Any,
    path: str | Path,
    *,
    torch_module: Any = None,
    rules: Any = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Write ``jax_model`` (its weights, through the torch twin) to the ONNX file ``path``.

    ``inputs``: example positional inputs (a tuple, or one array) fixing the graph's shapes and
    dtype. ``torch_module``: the twin to fill (default: a parallax model's own twin, built in
    the weights' dtype); ``rules`` as in :func:`parallax.bridge.export_to_torch`."""
    import torch

    twin = export_to_torch(jax_model, copy.deepcopy(torch_module), rules=rules)
    if opset < DFT_MIN_OPSET and _uses_fft(twin):
        raise OnnxExportError(
            f"opset: {opset} is too old for this model; its rfft/irfft become ONNX DFT, "
            f"which exists from opset {DFT_MIN_OPSET} (default {DEFAULT_OPSET})"
        )
    twin = onnx_ready(twin).eval()
    prepared = prepare_inputs(inputs)
    if prepared.kind != "args" or not all(leaf.array for leaf in prepared.leaves):
        raise TypeError("inputs: expected a tuple of arrays (the graph's positional inputs)")
    args = tuple(torch.from_numpy(np.ascontiguousarray(leaf.value)) for leaf in prepared.leaves)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # torch.export's own pytree internals warn about their deprecated LeafSpec check
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        torch.onnx.export(twin, args, str(path), dynamo=True, opset_version=opset, verbose=False)
    return path


def onnx_function(path: str | Path) -> Callable[..., Any]:
    """``f(*arrays)`` running the ONNX graph in ONNX Runtime (CPU): one array out for a
    single-output graph, else a tuple. Arrays may be NumPy, JAX or torch."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:
        e.add_note(
            "parallax.parity: ONNX Runtime's CPU provider lacks some float64 kernels (Erf, "
            "which exact GELU needs, among them): compare such models at float32"
        )
        raise
    names = [i.name for i in session.get_inputs()]

    def run(*arrays: Any) -> Any:
        if len(arrays) != len(names):
            raise TypeError(f"expected {len(names)} inputs ({names}), got {len(arrays)}")
        feeds = {n: np.ascontiguousarray(to_numpy(a)) for n, a in zip(names, arrays, strict=True)}
        out = session.run(None, feeds)
        return out[0] if len(out) == 1 else tuple(out)

    return run


def compare_onnx(
    jax_model: Any,
    inputs: Any,
    *,
    torch_module: Any = None,
    rules: Any = None,
    dtypes: Any = ("float32",),
    tol: Any = None,
    opset: int = DEFAULT_OPSET,
    directory: str | Path | None = None,
) -> ParityReport:
    """Export ``jax_model`` at each dtype and compare its outputs with ONNX Runtime's on the
    same inputs (:func:`parallax.parity.compare`, forward only). The ``.onnx`` files go to
    ``directory`` (default: a temporary folder, removed afterwards)."""
    leaves, rebuild = named_params(jax_model)
    report = ParityReport(f"{type(jax_model).__name__} (ONNX)", "onnxruntime")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(directory) if directory is not None else Path(tmp)
        for dtype in check_dtypes(dtypes):
            with dtype_context(dtype):
                model = rebuild(
                    {k: jnp.asarray(_cast(np.asarray(v), dtype)) for k, v in leaves.items()}
                )
            cast = tuple(leaf.value for leaf in prepare_inputs(inputs).cast(dtype).leaves)
            path = export_onnx(
                model,
                cast,
                folder / f"model_{dtype}.onnx",
                torch_module=torch_module,
                rules=rules,
                opset=opset,
            )
            part = compare(
                model,
                onnx_function(path),
                cast,
                grad_wrt=None,
                dtypes=(dtype,),
                tol=tol,
                title=report.title,
            )
            report.leaves += part.leaves
            report.errors += part.errors
    report.reference = "onnxruntime"
    return report
