"""compare_modules on torch modules nobody here wrote, against JAX ports built from
parallax.kernels.nn (flax.nnx and equinox), and the first divergent layer of a planted bug."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from parallax import bridge as B
from parallax import models as M
from parallax.kernels import nn
from parallax.parity import compare_modules

torch = pytest.importorskip("torch", reason="compare_modules needs PyTorch")

RNG = np.random.default_rng(0)


def _init(*shape):
    return jnp.asarray(RNG.uniform(-0.5, 0.5, shape), jnp.float32)


# --- JAX layers over the parallax kernels (weights are copied in from torch, or out to it) ------


class NnxLinear(nnx.Module):
    def __init__(self, d_in, d_out):
        self.kernel, self.bias = nnx.Param(_init(d_in, d_out)), nnx.Param(_init(d_out))

    def __call__(self, x):
        return nn.linear({"kernel": self.kernel[...], "bias": self.bias[...]}, x)


class NnxLayerNorm(nnx.Module):
    def __init__(self, d, eps):
        self.scale, self.bias, self.eps = nnx.Param(_init(d) + 1), nnx.Param(_init(d)), eps

    def __call__(self, x):
        return nn.layer_norm({"scale": self.scale[...], "bias": self.bias[...]}, x, eps=self.eps)


class EqxLinear(eqx.Module):
    kernel: jax.Array
    bias: jax.Array

    def __call__(self, x):
        return nn.linear({"kernel": self.kernel, "bias": self.bias}, x)


class EqxLayerNorm(eqx.Module):
    scale: jax.Array
    bias: jax.Array
    eps: float = eqx.field(static=True)

    def __call__(self, x):
        return nn.layer_norm({"scale": self.scale, "bias": self.bias}, x, eps=self.eps)


class EqxConv1d(eqx.Module):
    """torch's NCW in and out; the kernel is channels-last (NWC, WIO kernel)."""

    kernel: jax.Array
    bias: jax.Array

    def __call__(self, x):
        p = {"kernel": self.kernel, "bias": self.bias}
        return nn.conv_1d(p, jnp.swapaxes(x, 1, 2), padding="SAME")


class Gelu(eqx.Module):
    def __call__(self, x):
        return nn.get_activation("gelu_exact")(x)


class FlattenNWC(eqx.Module):
    """torch flattens (C, W); the conv output here is (W, C)."""

    def __call__(self, x):
        return jnp.swapaxes(x, 1, 2).reshape(x.shape[0], -1)


class EqxSequential(eqx.Module):
    layers: list

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


SEQ_RULES = B.Rules.of(
    B.linear("layers.{i}.kernel", "{i}.weight"),
    B.norm("layers.{i}.scale", "{i}.weight"),
    B.same("layers.{i}.bias", "{i}.bias"),
)


# --- the planted bug ------------------------------------------------------------------------


def _torch_mlp():
    torch.manual_seed(0)
    seq = torch.nn.Sequential(
        torch.nn.Linear(8, 16),
        torch.nn.LayerNorm(16, eps=1e-5),
        torch.nn.GELU(),
        torch.nn.Linear(16, 16),
        torch.nn.LayerNorm(16, eps=1e-5),
        torch.nn.GELU(),
        torch.nn.Linear(16, 4),
    )
    with torch.no_grad():
        seq[3].weight.mul_(0.1)  # small pre-norm variance: the norm's eps matters
    return seq


def _nnx_port(eps4):
    return nnx.Sequential(
        NnxLinear(8, 16),
        NnxLayerNorm(16, 1e-5),
        nn.get_activation("gelu_exact"),
        NnxLinear(16, 16),
        NnxLayerNorm(16, eps4),  # flax's default eps is 1e-6, torch's 1e-5
        nn.get_activation("gelu_exact"),
        NnxLinear(16, 4),
    )


X_MLP = RNG.normal(size=(5, 8)).astype(np.float32)


def test_planted_bug_in_a_middle_layer_is_named_exactly():
    report = compare_modules(_nnx_port(1e-6), _torch_mlp(), (X_MLP,), rules=SEQ_RULES)
    assert not report.passed
    first = report.first_divergence
    assert first is not None
    assert (first.torch_name, first.jax_name, first.dtype) == ("4", "layers.4", "float32")
    for dtype in ("float32", "float64"):
        status = {r.torch_name: r.status for r in report.layers[dtype]}
        assert status == {
            "0": "pass",
            "1": "pass",
            "3": "pass",
            "4": "FAIL",
            "6": "FAIL",
            "": "FAIL",
        }
    # (var + 1e-6)^(-1/2) / (var + 1e-5)^(-1/2) - 1 ≈ 4.5e-6 / var, var ≈ 0.02 here: far above
    # float32 rounding (6.4e-6), far below anything else a port gets wrong
    assert 1e-4 < first.max_rel < 1e-3
    assert first.worst_index is not None and first.got != first.want
    text = str(report)
    assert "first divergence: torch '4' <-> jax 'layers.4'" in text and "<- first" in text
    assert report.unpaired_torch == ["2", "5"]  # the GELUs have no parameters to pair by

    fixed = compare_modules(_nnx_port(1e-5), _torch_mlp(), (X_MLP,), rules=SEQ_RULES)
    assert fixed.passed, fixed
    assert fixed.first_divergence is None
    assert {r.name for r in fixed.select(kind="grad")} >= {"param[4.weight]", "grad[0]"}


def test_planted_bug_in_an_equinox_port_exported_to_torch():
    def port(eps4):
        return EqxSequential(
            [
                EqxLinear(_init(8, 16), _init(16)),
                EqxLayerNorm(_init(16) + 1, _init(16), 1e-5),
                Gelu(),
                EqxLinear(0.1 * _init(16, 16), _init(16)),
                EqxLayerNorm(_init(16) + 1, _init(16), eps4),
                Gelu(),
                EqxLinear(_init(16, 4), _init(4)),
            ]
        )

    gelus = {"layers.2": "2", "layers.5": "5"}
    bad = compare_modules(
        port(1e-6),
        _torch_mlp(),
        (X_MLP,),
        rules=SEQ_RULES,
        direction="jax_to_torch",
        dtypes=("float64",),
        layer_map=gelus,
    )
    assert bad.first_divergence is not None
    assert (bad.first_divergence.torch_name, bad.first_divergence.jax_name) == ("4", "layers.4")
    order = [r.torch_name for r in bad.layers["float64"]]
    assert order == ["0", "1", "2", "3", "4", "5", "6", ""]  # the GELUs compared via layer_map
    good = compare_modules(
        port(1e-5), _torch_mlp(), (X_MLP,), rules=SEQ_RULES, direction="jax_to_torch"
    )
    assert good.passed, good


# --- torch modules nobody here wrote ---------------------------------------------------------


class EqxMultiheadAttention(eqx.Module):
    """torch.nn.MultiheadAttention(batch_first=True): separate query, key and value inputs,
    projected with the linear kernel and attended with the attention kernel."""

    wq: jax.Array
    wk: jax.Array
    wv: jax.Array
    wo: jax.Array
    bq: jax.Array
    bk: jax.Array
    bv: jax.Array
    bo: jax.Array
    heads: int = eqx.field(static=True)

    @classmethod
    def init(cls, e, heads):
        wq, wk, wv, wo = (_init(e, e) for _ in range(4))
        bq, bk, bv, bo = (_init(e) for _ in range(4))
        return cls(wq, wk, wv, wo, bq, bk, bv, bo, heads)

    def __call__(self, query, key, value, key_padding_mask=None, need_weights=False):
        def heads(w, b, x):
            y = nn.linear({"kernel": w, "bias": b}, x)
            return y.reshape(*y.shape[:2], self.heads, -1)

        q, k, v = (
            heads(self.wq, self.bq, query),
            heads(self.wk, self.bk, key),
            heads(self.wv, self.bv, value),
        )
        keep = None if key_padding_mask is None else ~key_padding_mask
        o = nn.dot_product_attention(q, k, v, padding_mask=keep)
        out = nn.linear({"kernel": self.wo, "bias": self.bo}, o.reshape(*o.shape[:2], -1))
        return out, None  # torch returns (output, weights) and weights are not asked for


MHA_RULES = B.Rules.of(
    B.fused(["wq", "wk", "wv"], "in_proj_weight"),
    B.fused(["bq", "bk", "bv"], "in_proj_bias", kind="same"),
    B.linear("wo", "out_proj.weight"),
    B.same("bo", "out_proj.bias"),
)


def test_multihead_attention():
    torch.manual_seed(1)
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=True).eval()
    q, k, v = (RNG.normal(size=(2, s, 16)).astype(np.float32) for s in (5, 7, 7))
    pad = np.zeros((2, 7), bool)
    pad[1, -2:] = True  # torch: True marks padding
    inputs = {"query": q, "key": k, "value": v, "key_padding_mask": pad, "need_weights": False}
    report = compare_modules(EqxMultiheadAttention.init(16, 4), mha, inputs, rules=MHA_RULES)
    assert report.passed, report
    grads = {r.name for r in report.select(kind="grad", dtype="float64")}
    assert {"grad[query]", "grad[key]", "grad[value]", "param[in_proj_weight]"} <= grads
    assert report.max_error(dtype="float64") < 1e-13


class NnxEncoderLayer(nnx.Module):
    """Pre-norm torch.nn.TransformerEncoderLayer (GELU, no dropout) over parallax kernels."""

    def __init__(self, d, heads, ff):
        self.self_attn = NnxAttention(d, heads)
        self.linear1, self.linear2 = NnxLinear(d, ff), NnxLinear(ff, d)
        self.norm1, self.norm2 = NnxLayerNorm(d, 1e-5), NnxLayerNorm(d, 1e-5)

    def __call__(self, x, keep):
        x = x + self.self_attn(self.norm1(x), keep)
        gelu = nn.get_activation("gelu_exact")
        return x + self.linear2(gelu(self.linear1(self.norm2(x))))


class NnxAttention(nnx.Module):
    def __init__(self, d, heads):
        self.heads = heads
        for k in ("wq", "wk", "wv", "wo"):
            setattr(self, k, nnx.Param(_init(d, d)))
        for k in ("bq", "bk", "bv", "bo"):
            setattr(self, k, nnx.Param(_init(d)))

    def __call__(self, x, keep):
        p = {k: getattr(self, k)[...] for k in ("wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo")}
        return nn.multi_head_attention(p, x, num_heads=self.heads, causal=False, padding_mask=keep)


class NnxEncoder(nnx.Module):
    def __init__(self, d, heads, ff, depth):
        self.layers = nnx.List([NnxEncoderLayer(d, heads, ff) for _ in range(depth)])
        self.norm = NnxLayerNorm(d, 1e-5)

    def __call__(self, src, src_key_padding_mask):
        keep = ~src_key_padding_mask
        for layer in self.layers:
            src = layer(src, keep)
        return self.norm(src)


ENCODER_RULES = B.Rules.of(
    B.fused([f"{{*p}}.self_attn.w{c}" for c in "qkv"], "{*p}.self_attn.in_proj_weight"),
    B.fused([f"{{*p}}.self_attn.b{c}" for c in "qkv"], "{*p}.self_attn.in_proj_bias", kind="same"),
    B.linear("{*p}.self_attn.wo", "{*p}.self_attn.out_proj.weight"),
    B.same("{*p}.self_attn.bo", "{*p}.self_attn.out_proj.bias"),
    B.linear("{*p}.kernel", "{*p}.weight"),
    B.norm("{*p}.scale", "{*p}.weight"),
    B.same("{*p}.bias", "{*p}.bias"),
)


def _torch_encoder(d, heads, ff, depth):
    torch.manual_seed(2)
    layer = torch.nn.TransformerEncoderLayer(
        d, heads, ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    norm = torch.nn.LayerNorm(d, eps=1e-5)
    enc = torch.nn.TransformerEncoder(layer, depth, norm=norm, enable_nested_tensor=False).eval()
    with torch.no_grad():
        for p in enc.parameters():
            if p.ndim == 1:
                p.normal_(0.0, 0.1)  # non-trivial norm scales and biases
    return enc


def test_transformer_encoder_layer_by_layer(torch_encoder_mirror):
    d, heads, ff, depth = 16, 2, 32, 3
    x = RNG.normal(size=(2, 5, d)).astype(np.float32)
    pad = np.zeros((2, 5), bool)
    pad[0, -1] = True
    inputs = {"src": x, "src_key_padding_mask": pad}
    enc = _torch_encoder(d, heads, ff, depth)
    report = compare_modules(NnxEncoder(d, heads, ff, depth), enc, inputs, rules=ENCODER_RULES)
    assert report.passed, report
    names = [r.torch_name for r in report.layers["float32"]]
    for i in range(depth):
        for sub in ("norm1", "self_attn", "norm2", "linear1", "linear2", ""):
            assert (f"layers.{i}.{sub}" if sub else f"layers.{i}") in names
    assert names[-2:] == ["norm", ""]
    assert names.index("layers.0") < names.index("layers.1.norm1")  # execution order

    # the parallax Transformer model itself (one module over a parameter pytree: root only)
    config, rules = torch_encoder_mirror(d, heads, ff, depth)

    class Wrapped(M.EqxTransformer):
        def __call__(self, src, src_key_padding_mask):  # torch's argument names
            return super().__call__(src, padding_mask=~src_key_padding_mask)

    model = Wrapped(M.transformer_init(config, jax.random.key(0)), config)
    whole = compare_modules(model, enc, inputs, rules=rules, dtypes=("float64",))
    assert whole.passed, whole
    assert [r.torch_name for r in whole.layers["float64"]] == [""]


def test_sequential_of_conv_gelu_linear_layernorm():
    torch.manual_seed(3)
    seq = torch.nn.Sequential(
        torch.nn.Conv1d(3, 8, kernel_size=5, padding=2),
        torch.nn.GELU(),
        torch.nn.Flatten(1),
        torch.nn.Linear(8 * 11, 32),
        torch.nn.LayerNorm(32, eps=1e-5),
        torch.nn.GELU(),
        torch.nn.Linear(32, 4),
    ).eval()
    port = EqxSequential(
        [
            EqxConv1d(_init(5, 3, 8), _init(8)),
            Gelu(),
            FlattenNWC(),
            EqxLinear(_init(88, 32), _init(32)),
            EqxLayerNorm(_init(32), _init(32), 1e-5),
            Gelu(),
            EqxLinear(_init(32, 4), _init(4)),
        ]
    )
    rules = B.Rules.of(B.conv("layers.0.kernel", "0.weight", ndim=1)) + SEQ_RULES
    x = RNG.normal(size=(2, 3, 11)).astype(np.float32)
    report = compare_modules(port, seq, (x,), rules=rules)
    assert report.passed, report
    conv = next(r for r in report.layers["float32"] if r.torch_name == "0")
    assert conv.status == "pass" and "channels-first compared channels-last" in conv.note


def test_bad_arguments_name_the_argument():
    port, seq = _nnx_port(1e-5), _torch_mlp()
    with pytest.raises(ValueError, match="direction: expected one of"):
        compare_modules(port, seq, (X_MLP,), rules=SEQ_RULES, direction="both")
    with pytest.raises(TypeError, match="has no default torch rules: pass rules="):
        compare_modules(port, seq, (X_MLP,))
    kernels_only = B.Rules.of(B.linear("layers.{i}.kernel", "{i}.weight"))
    with pytest.raises(B.StateDictMismatchError, match=r"JAX parameters no rule maps \(7\)"):
        compare_modules(port, seq, (X_MLP,), rules=kernels_only)
    with pytest.raises(ValueError, match=r"tol: no values tolerance for dtype 'float64'"):
        compare_modules(port, seq, (X_MLP,), rules=SEQ_RULES, tol={"float32": (1e-5, 1e-5)})
