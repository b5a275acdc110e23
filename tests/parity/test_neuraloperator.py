"""A third-party torch model: neuraloperator's FNO (PyPI ``neuraloperator``) against a flax.nnx
port built from parallax.kernels.nn, layer by layer.

The port mirrors neuralop's module names (``lifting``, ``fno_blocks.convs.{i}``,
``fno_blocks.fno_skips.{i}.conv``, ``fno_blocks.channel_mlp.{i}``,
``fno_blocks.channel_mlp_skips.{i}``, ``projection``) so the rules are renames plus layouts:
its Conv1d(kernel 1) weights ``(out, in, 1)`` are Dense kernels, its spectral weights
``(in, out, modes)`` the kernel's ``(modes, in, out)``. Per block (neuralop's post-activation
``FNOBlocks``): ``x = σ(K x + W x)``, ``x = σ(MLP(x) + g ⊙ x_in)``, without σ after the last.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from parallax import bridge as B
from parallax.kernels import nn
from parallax.parity import compare_modules

torch = pytest.importorskip("torch", reason="the reference is a torch model")
neuralop = pytest.importorskip("neuralop", reason="pip install 'parallax[peers]'")

GELU = nn.get_activation("gelu_exact")  # neuralop uses F.gelu (exact)


def _zeros(*shape, dtype=jnp.float32):
    return nnx.Param(jnp.zeros(shape, dtype))


class Pointwise(nnx.Module):
    """A kernel-size-1 Conv1d on channels-last features."""

    def __init__(self, c_in, c_out, bias=True):
        self.kernel = _zeros(c_in, c_out)
        self.bias = _zeros(c_out) if bias else None

    def __call__(self, x):
        p = {"kernel": self.kernel[...]}
        if self.bias is not None:
            p["bias"] = self.bias[...]
        return nn.linear(p, x)


class ChannelMLP(nnx.Module):
    def __init__(self, c_in, c_hidden, c_out):
        self.fcs = nnx.List([Pointwise(c_in, c_hidden), Pointwise(c_hidden, c_out)])

    def __call__(self, x):
        return self.fcs[1](GELU(self.fcs[0](x)))


class SpectralConv(nnx.Module):
    def __init__(self, c, modes):
        self.weight = _zeros(modes, c, c, dtype=jnp.complex64)
        self.bias = _zeros(1, c)

    def __call__(self, x):
        return nn.spectral_conv_1d({"weight": self.weight[...]}, x) + self.bias[...][None]


class Skip(nnx.Module):
    def __init__(self, c):
        self.conv = Pointwise(c, c, bias=False)

    def __call__(self, x):
        return self.conv(x)


class SoftGating(nnx.Module):
    def __init__(self, c):
        self.weight = _zeros(1, 1, c)

    def __call__(self, x):
        return self.weight[...] * x


class FNOBlocks(nnx.Module):
    def __init__(self, c, modes, layers):
        self.convs = nnx.List([SpectralConv(c, modes) for _ in range(layers)])
        self.fno_skips = nnx.List([Skip(c) for _ in range(layers)])
        self.channel_mlp = nnx.List([ChannelMLP(c, c // 2, c) for _ in range(layers)])
        self.channel_mlp_skips = nnx.List([SoftGating(c) for _ in range(layers)])

    def __call__(self, x, index):
        last = index == len(self.convs) - 1
        gated = self.channel_mlp_skips[index](x)
        x = self.convs[index](x) + self.fno_skips[index](x)
        x = x if last else GELU(x)
        x = self.channel_mlp[index](x) + gated
        return x if last else GELU(x)


class FNO(nnx.Module):
    """Takes and returns torch's channels-first ``(batch, channels, n)``."""

    def __init__(self, c_in, c_out, width, modes, layers):
        self.lifting = ChannelMLP(c_in, 2 * width, width)
        self.fno_blocks = FNOBlocks(width, modes, layers)
        self.projection = ChannelMLP(width, 2 * width, c_out)
        self.layers = layers

    def __call__(self, x):
        x = self.lifting(jnp.swapaxes(x, 1, 2))
        for i in range(self.layers):
            x = self.fno_blocks(x, i)
        return jnp.swapaxes(self.projection(x), 1, 2)


RULES = B.Rules.of(
    B.pointwise_conv("{*p}.fcs.{i}.kernel", "{*p}.fcs.{i}.weight", ndim=1),
    B.same("{*p}.fcs.{i}.bias", "{*p}.fcs.{i}.bias"),
    B.Rule("fno_blocks.convs.{i}.weight", "fno_blocks.convs.{i}.weight.tensor", perm=(1, 2, 0)),
    B.Rule("fno_blocks.convs.{i}.bias", "fno_blocks.convs.{i}.bias", perm=(1, 0)),
    B.pointwise_conv(
        "fno_blocks.fno_skips.{i}.conv.kernel", "fno_blocks.fno_skips.{i}.conv.weight", ndim=1
    ),
    B.Rule(
        "fno_blocks.channel_mlp_skips.{i}.weight",
        "fno_blocks.channel_mlp_skips.{i}.weight",
        perm=(0, 2, 1),
    ),
    ignore=["_metadata"],  # neuralop's state_dict carries its constructor arguments
)

WIDTH, MODES, LAYERS = 16, 8, 3


def _reference():
    torch.manual_seed(0)
    fno = neuralop.models.FNO(
        n_modes=(MODES,),
        in_channels=1,
        out_channels=1,
        hidden_channels=WIDTH,
        n_layers=LAYERS,
        positional_embedding=None,
    )
    with torch.no_grad():
        for name, p in fno.named_parameters():
            if name.endswith("bias") or "skips" in name:
                p.normal_(0.0, 0.3)  # neuralop zero-initialises some of them
    return fno.eval()


def test_neuraloperator_fno_layer_by_layer_and_its_float32_spectrum():
    fno = _reference()
    port = FNO(1, 1, WIDTH, MODES // 2 + 1, LAYERS)  # rFFT modes kept: n_modes // 2 + 1
    x = np.random.default_rng(0).normal(size=(2, 1, 32)).astype(np.float32)
    report = compare_modules(port, fno, (x,), rules=RULES, dtypes=("float32", "float64"))
    assert all(r.passed for r in report.select(dtype="float32")), report
    f32 = report.layers["float32"]
    assert all(r.status == "pass" for r in f32), report
    names = [r.torch_name for r in f32]
    for i in range(LAYERS):
        assert f"fno_blocks.convs.{i}" in names and f"fno_blocks.channel_mlp_skips.{i}" in names
    assert [r.call for r in f32 if r.torch_name == "fno_blocks"] == [0, 1, 2]  # called per layer
    lift = next(r for r in f32 if r.torch_name == "lifting.fcs.0")  # (2, 32, 32): both layouts fit
    assert "the closer layout" in lift.note
    assert "param[fno_blocks.convs.0.weight.tensor]" in {r.name for r in report.leaves}

    # neuralop's SpectralConv allocates its output spectrum as torch.cfloat whatever the input
    # dtype: at float64 the spectral path is rounded to float32, and the report says where.
    first = report.first_divergence
    assert first is not None and first.dtype == "float64"
    assert (first.torch_name, first.jax_name) == ("fno_blocks.convs.0", "fno_blocks.convs.0")
    assert 1e-9 < first.max_rel < 1e-4  # float32 rounding, far above float64's 1.8e-12
    before = [r for r in report.layers["float64"][: report.layers["float64"].index(first)]]
    assert before and all(r.status == "pass" for r in before)  # the lifting agrees to 1e-16
