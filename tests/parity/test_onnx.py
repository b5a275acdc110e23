"""ONNX export through the torch twins, checked with parallax.parity.compare against
ONNX Runtime: the transformer, and the FNO once its complex spectral weights are real pairs."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx

from parallax import models as M
from parallax.parity import OnnxExportError, compare_onnx, export_onnx, onnx_ready

torch = pytest.importorskip("torch", reason="the export goes through the torch twin")
onnx = pytest.importorskip("onnx", reason="pip install 'parallax[onnx]'")
pytest.importorskip("onnxruntime", reason="pip install 'parallax[onnx]'")
pytest.importorskip("onnxscript", reason="pip install 'parallax[onnx]'")

RNG = np.random.default_rng(0)


def _ops(path):
    model = onnx.load(str(path))
    return {n.op_type for n in model.graph.node}, {o.domain: o.version for o in model.opset_import}


def test_transformer_exports_and_matches_onnxruntime(tmp_path):
    cfg = M.TransformerConfig(embed=16, depth=2, heads=4, kv_heads=2, mlp_hidden=32)
    model = M.Transformer(cfg, rngs=nnx.Rngs(0))  # causal, RoPE, grouped-query attention
    x = RNG.normal(size=(2, 5, 16)).astype(np.float32)
    report = compare_onnx(model, (x,), directory=tmp_path)
    assert report.passed, report
    assert report.reference == "onnxruntime" and report.max_error() < 1e-5
    ops, opsets = _ops(tmp_path / "model_float32.onnx")
    assert {"MatMul", "Softmax"} <= ops and opsets[""] == 20


@pytest.mark.parametrize("modes, shape", [((6,), (16,)), ((3, 4), (8, 10))])
def test_fno_spectral_weights_export_as_real_pairs(tmp_path, modes, shape):
    cfg = M.FNOConfig(in_channels=2, out_channels=1, modes=modes, width=8, proj_hidden=16)
    model = M.EqxFNO.init(cfg, jax.random.key(0))
    x = RNG.normal(size=(2, *shape, 2)).astype(np.float32)
    report = compare_onnx(model, (x,), directory=tmp_path)
    assert report.passed, report
    ops, _ = _ops(tmp_path / "model_float32.onnx")
    assert "DFT" in ops  # rfft / irfft as the ONNX DFT operator


def test_what_cannot_be_exported_says_why(tmp_path):
    class ComplexGain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(3, dtype=torch.complex64))

        def forward(self, x):
            return torch.real(x * self.w)

    with pytest.raises(OnnxExportError, match=r"complex tensors \['w'\].*DFT \(opset >= 17\)"):
        onnx_ready(ComplexGain())
    cfg = M.FNOConfig(in_channels=1, out_channels=1, modes=(4,), width=4, proj_hidden=8)
    model = M.EqxFNO.init(cfg, jax.random.key(0))
    x = RNG.normal(size=(1, 8, 1)).astype(np.float32)
    with pytest.raises(OnnxExportError, match=r"opset: 16 is too old.*DFT"):
        export_onnx(model, (x,), tmp_path / "fno.onnx", opset=16)
