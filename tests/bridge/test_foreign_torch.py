"""The rules on torch modules nobody here wrote: nn.MultiheadAttention,
nn.TransformerEncoder(Layer) and plain Linear / LayerNorm / Conv stacks, imported into the
parallax kernels and models, with matching outputs."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax import bridge as B
from parallax import models as M
from parallax.kernels import nn
from parallax.parity import pinned_precision

torch = pytest.importorskip("torch", reason="the bridge tests need PyTorch")

TOL: dict[str, Any] = {"rtol": 1e-5, "atol": 1e-5}  # float32, a few reductions of width <= 32


def _zeros_like_params(shapes):
    return jax.tree.map(
        lambda s: jnp.zeros(s, jnp.float32), shapes, is_leaf=lambda s: isinstance(s, tuple)
    )


def test_multihead_attention_into_the_mha_kernel():
    torch.manual_seed(0)
    e, h, b, s = 16, 4, 2, 6
    mha = torch.nn.MultiheadAttention(e, h, batch_first=True, bias=True).eval()
    with torch.no_grad():
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    rules = B.Rules.of(
        B.fused(["wq", "wk", "wv"], "in_proj_weight"),
        B.fused(["bq", "bk", "bv"], "in_proj_bias", kind="same"),
        B.linear("wo", "out_proj.weight"),
        B.same("bo", "out_proj.bias"),
    )
    target = _zeros_like_params(
        {"wq": (e, e), "wk": (e, e), "wv": (e, e), "wo": (e, e)}
        | {"bq": (e,), "bk": (e,), "bv": (e,), "bo": (e,)}
    )
    params = B.import_from_torch(target, mha, rules=rules)
    x = np.random.default_rng(0).normal(size=(b, s, e)).astype(np.float32)
    keep = np.ones((b, s), bool)
    keep[1, -2:] = False  # padded keys in the second sequence
    with pinned_precision():
        want, _ = mha(
            *(torch.from_numpy(x),) * 3,
            key_padding_mask=torch.from_numpy(~keep),
            need_weights=False,
        )
        got = nn.multi_head_attention(
            params, jnp.asarray(x), num_heads=h, causal=False, padding_mask=jnp.asarray(keep)
        )
    np.testing.assert_allclose(np.asarray(got), want.detach().numpy(), **TOL)


def test_transformer_encoder_into_the_transformer_model(torch_encoder_mirror):
    torch.manual_seed(1)
    d, heads, ff, depth = 16, 2, 32, 2
    layer = torch.nn.TransformerEncoderLayer(
        d,
        heads,
        ff,
        dropout=0.0,
        activation="gelu",
        batch_first=True,
        norm_first=True,
        layer_norm_eps=1e-5,
    )
    enc = torch.nn.TransformerEncoder(
        layer, depth, norm=torch.nn.LayerNorm(d, eps=1e-5), enable_nested_tensor=False
    ).eval()
    with torch.no_grad():
        for p in enc.parameters():
            if p.ndim == 1:
                p.normal_(0.0, 0.1)  # non-trivial norm scales and biases
    config, rules = torch_encoder_mirror(d, heads, ff, depth)
    model = B.import_from_torch(M.EqxTransformer.init(config, jax.random.key(0)), enc, rules=rules)
    x = np.random.default_rng(1).normal(size=(2, 5, d)).astype(np.float32)
    keep = np.ones((2, 5), bool)
    keep[0, -1] = False
    with pinned_precision():
        want = enc(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(~keep))
        got = model(jnp.asarray(x), padding_mask=jnp.asarray(keep))
    np.testing.assert_allclose(np.asarray(got), want.detach().numpy(), **TOL)
    # and back: the JAX weights exported into a fresh torch encoder reproduce the same outputs
    fresh = torch.nn.TransformerEncoder(
        layer, depth, norm=torch.nn.LayerNorm(d), enable_nested_tensor=False
    ).eval()
    B.export_to_torch(model, fresh, rules=rules)
    for k, v in enc.state_dict().items():
        assert torch.equal(v, fresh.state_dict()[k]), k


class _ConvStack(torch.nn.Module):
    """Conv1d -> GELU -> Conv2d-free stack in torch's NCW layout, then LayerNorm and Linear."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(3, 8, kernel_size=5, padding=2)
        self.norm = torch.nn.LayerNorm(8, eps=1e-6)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):  # (b, c, w)
        h = torch.nn.functional.gelu(self.conv(x)).transpose(1, 2)
        return self.fc(self.norm(h))


def test_linear_layernorm_conv_stacks_into_the_kernels():
    torch.manual_seed(2)
    stack = _ConvStack().eval()
    with torch.no_grad():
        stack.norm.weight.normal_()
        stack.norm.bias.normal_()
    rules = B.Rules.of(
        B.conv("conv.kernel", "conv.weight", ndim=1),
        B.same("conv.bias", "conv.bias"),
        B.norm("norm.scale", "norm.weight"),
        B.same("norm.bias", "norm.bias"),
        B.linear("fc.kernel", "fc.weight"),
        B.same("fc.bias", "fc.bias"),
    )
    target = _zeros_like_params(
        {"conv": {"kernel": (5, 3, 8), "bias": (8,)}, "norm": {"scale": (8,), "bias": (8,)}}
        | {"fc": {"kernel": (8, 4), "bias": (4,)}}
    )
    p = B.import_from_torch(target, stack, rules=rules)
    x = np.random.default_rng(2).normal(size=(2, 3, 11)).astype(np.float32)
    with pinned_precision():
        want = stack(torch.from_numpy(x)).detach().numpy()
        h = nn.conv_1d(p["conv"], jnp.asarray(x.transpose(0, 2, 1)), padding="SAME")
        h = nn.layer_norm(p["norm"], nn.get_activation("gelu_exact")(h), eps=1e-6)
        got = nn.linear(p["fc"], h)
    np.testing.assert_allclose(np.asarray(got), want, **TOL)

    # a Conv2d + Linear Sequential (index-named keys "0.weight", "2.weight")
    seq = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(1),
        torch.nn.Linear(4 * 5 * 6, 3),
    ).eval()
    rules2 = B.Rules.of(
        B.conv("conv.kernel", "0.weight", ndim=2),
        B.same("conv.bias", "0.bias"),
        B.linear("fc.kernel", "3.weight"),
        B.same("fc.bias", "3.bias"),
    )
    t2 = _zeros_like_params(
        {"conv": {"kernel": (3, 3, 2, 4), "bias": (4,)}, "fc": {"kernel": (120, 3), "bias": (3,)}}
    )
    p2 = B.import_from_torch(t2, seq, rules=rules2)
    x2 = np.random.default_rng(3).normal(size=(2, 2, 5, 6)).astype(np.float32)
    with pinned_precision():
        want2 = seq(torch.from_numpy(x2)).detach().numpy()
        h2 = jax.nn.relu(nn.conv_2d(p2["conv"], jnp.asarray(x2.transpose(0, 2, 3, 1)), padding=1))
        h2 = h2.transpose(0, 3, 1, 2).reshape(2, -1)  # torch flattens C, H, W
        got2 = nn.linear(p2["fc"], h2)
    np.testing.assert_allclose(np.asarray(got2), want2, **TOL)
