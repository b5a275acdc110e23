r"""A small pre-norm transformer (Xiong et al., 2020, "On layer normalization in the transformer
architecture") as pure ``init`` / ``apply`` over the :mod:`parallax.kernels.nn` kernels.

.. math::
    h \leftarrow h + \operatorname{MHA}(\operatorname{Norm}_1 h), \qquad
    h \leftarrow h + \operatorname{MLP}(\operatorname{Norm}_2 h)

per block, then an optional final norm. With ``vocab_size`` set, inputs are token ids embedded
by a table and the output is logits through an (untied) head; with ``vocab_size=None`` inputs
and outputs are ``(batch, seq, embed)`` features (the layout of ``torch.nn.TransformerEncoder``
with ``batch_first=True, norm_first=True``). Attention may be grouped-query (``kv_heads``),
causal, with rotary embeddings (``rope_base``, rotate-half pairing) and a key padding mask.
Nothing relies on a library default: norm kind and eps, the activation (``gelu_exact`` vs
``gelu_tanh``), gating, biases are all config fields.

Parameter pytree (nested dict; weights ``(in, out)``)::

    embed:  {embedding: (vocab, embed)}                                  # vocab models only
    blocks: [{norm1: {scale, bias?}, attn: {wq, wk, wv, wo, bq?, bk?, bv?, bo?},
              norm2: {scale, bias?}, mlp: {w1, b1?, w2, b2?} | {w_gate, w_up, w_down, b_*?}}]
    norm_f: {scale, bias?}                                               # final_norm only
    head:   {kernel: (embed, vocab), bias?: (vocab,)}                    # vocab models only
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from parallax import bridge as R
from parallax.kernels import nn
from parallax.models._init import Draw, draw_init

__all__ = [
    "TRANSFORMER_AXES",
    "TransformerConfig",
    "encoder_layer_torch_rules",
    "transformer_apply",
    "transformer_init",
    "transformer_torch_rules",
]


@dataclass(frozen=True)
class TransformerConfig:
    embed: int = 32
    depth: int = 2
    heads: int = 4
    kv_heads: int | None = None
    mlp_hidden: int = 64
    activation: str = "gelu_exact"
    gated: bool = False
    norm: Literal["layer", "rms"] = "layer"
    norm_eps: float = 1e-5
    bias: bool = True
    causal: bool = True
    rope_base: float | None = 10000.0
    final_norm: bool = True
    vocab_size: int | None = None

    def __post_init__(self) -> None:
        nn.get_activation(self.activation)
        if self.embed % self.heads:
            raise ValueError(f"heads: {self.heads} does not divide embed={self.embed}")
        if self.heads % self.num_kv_heads:
            raise ValueError(f"kv_heads: {self.kv_heads} does not divide heads={self.heads}")
        if self.norm not in ("layer", "rms"):
            raise ValueError(f"norm: expected 'layer' or 'rms', got {self.norm!r}")
        if self.norm == "rms" and self.bias:
            raise ValueError("bias: RMSNorm has no bias; use bias=False with norm='rms'")

    @property
    def num_kv_heads(self) -> int:
        return self.heads if self.kv_heads is None else self.kv_heads

    @property
    def head_dim(self) -> int:
        return self.embed // self.heads


TRANSFORMER_AXES: Sequence[tuple[str, tuple[str | None, ...]]] = (
    ("embed.embedding", ("vocab", "embed")),
    ("head.kernel", ("embed", "vocab")),
    ("head.bias", ("vocab",)),
    ("{*p}.attn.wq", ("embed", "heads")),
    ("{*p}.attn.wk", ("embed", "kv")),
    ("{*p}.attn.wv", ("embed", "kv")),
    ("{*p}.attn.wo", ("heads", "embed")),
    ("{*p}.attn.bq", ("heads",)),
    ("{*p}.attn.bk", ("kv",)),
    ("{*p}.attn.bv", ("kv",)),
    ("{*p}.attn.bo", ("embed",)),
    ("{*p}.mlp.w1", ("embed", "mlp")),
    ("{*p}.mlp.w_gate", ("embed", "mlp")),
    ("{*p}.mlp.w_up", ("embed", "mlp")),
    ("{*p}.mlp.b1", ("mlp",)),
    ("{*p}.mlp.b_gate", ("mlp",)),
    ("{*p}.mlp.b_up", ("mlp",)),
    ("{*p}.mlp.w2", ("mlp", "embed")),
    ("{*p}.mlp.w_down", ("mlp", "embed")),
    ("{*p}.mlp.b2", ("embed",)),
    ("{*p}.mlp.b_down", ("embed",)),
    ("{*p}.norm{n}.scale", ("embed",)),
    ("{*p}.norm{n}.bias", ("embed",)),
    ("norm_f.scale", ("embed",)),
    ("norm_f.bias", ("embed",)),
)


def _norm_params(c: TransformerConfig, dtype: Any) -> dict[str, Array]:
    p = {"scale": jnp.ones((c.embed,), dtype)}
    if c.norm == "layer" and c.bias:
        p["bias"] = jnp.zeros((c.embed,), dtype)
    return p


def transformer_init(config: TransformerConfig, key: Array, dtype: Any = jnp.float32) -> dict:
    """Random parameters: weights uniform ``±1/sqrt(fan_in)`` like torch's Linear, biases
    ``U[-0.05, 0.05)`` (not zero, so every bias gradient is exercised), norms at identity,
    embeddings ``U[-√3, √3)`` (unit variance)."""
    c = config
    d, hd, h, hkv, f = c.embed, c.head_dim, c.heads, c.num_kv_heads, c.mlp_hidden

    def build(dr: Draw) -> dict[str, Any]:
        def dense(fan_in: int, fan_out: int) -> Array:
            return dr.fan_in((fan_in, fan_out), fan_in, dtype)

        def bias(n: int) -> Array:
            return dr.uniform((n,), -0.05, 0.05, dtype)

        blocks = []
        for _ in range(c.depth):
            attn = {
                "wq": dense(d, h * hd),
                "wk": dense(d, hkv * hd),
                "wv": dense(d, hkv * hd),
                "wo": dense(h * hd, d),
            }
            if c.gated:
                mlp = {"w_gate": dense(d, f), "w_up": dense(d, f), "w_down": dense(f, d)}
            else:
                mlp = {"w1": dense(d, f), "w2": dense(f, d)}
            if c.bias:
                attn |= {"bq": bias(h * hd), "bk": bias(hkv * hd), "bv": bias(hkv * hd)}
                attn["bo"] = bias(d)
                if c.gated:
                    mlp |= {"b_gate": bias(f), "b_up": bias(f), "b_down": bias(d)}
                else:
                    mlp |= {"b1": bias(f), "b2": bias(d)}
            norm1, norm2 = _norm_params(c, dtype), _norm_params(c, dtype)
            blocks.append({"norm1": norm1, "attn": attn, "norm2": norm2, "mlp": mlp})
        params: dict[str, Any] = {"blocks": blocks}
        if c.final_norm:
            params["norm_f"] = _norm_params(c, dtype)
        if c.vocab_size is not None:
            r3 = 3.0**0.5
            params["embed"] = {"embedding": dr.uniform((c.vocab_size, d), -r3, r3, dtype)}
            params["head"] = {"kernel": dense(d, c.vocab_size)}
            if c.bias:
                params["head"]["bias"] = bias(c.vocab_size)
        return params

    return draw_init(build, key, dtype)


def _norm(c: TransformerConfig, p: dict[str, Array], x: Array) -> Array:
    if c.norm == "layer":
        return nn.layer_norm(p, x, eps=c.norm_eps)
    return nn.rms_norm(p, x, eps=c.norm_eps)


def _embed(table: Array, ids: Array) -> Array:
    """``table[ids]``; on an Explicit-axes mesh the gather needs its output sharding spelled out
    (a vocab-sharded table cannot be gathered ambiguously): the ids' spec plus a replicated
    feature axis."""
    sharding = jax.typeof(table).sharding
    mesh = getattr(sharding, "mesh", None)
    if mesh is None or mesh.empty or not mesh._any_axis_explicit:
        return jnp.take(table, ids, axis=0)
    ids_spec = tuple(jax.typeof(ids).sharding.spec)
    ids_spec += (None,) * (ids.ndim - len(ids_spec))
    return table.at[ids].get(out_sharding=jax.NamedSharding(mesh, jax.P(*ids_spec, None)))


def transformer_apply(
    config: TransformerConfig,
    params: dict[str, Any],
    x: Int[Array, "batch seq"] | Float[Array, "batch seq embed"],
    *,
    padding_mask: Bool[Array, "batch seq"] | None = None,
) -> Float[Array, "batch seq out"]:
    """Logits ``(batch, seq, vocab)`` for token ids, or features ``(batch, seq, embed)``.

    ``padding_mask``: True for real tokens, False for padding (keys that must not be attended).
    """
    c = config
    if c.vocab_size is not None:
        if x.ndim != 2 or not jnp.issubdtype(x.dtype, jnp.integer):
            raise ValueError(f"x: expected integer token ids (batch, seq), got {x.shape} {x.dtype}")
        h = _embed(params["embed"]["embedding"], x)
    else:
        if x.ndim != 3 or x.shape[-1] != c.embed:
            raise ValueError(f"x: expected shape (batch, seq, {c.embed}), got {tuple(x.shape)}")
        h = x
    mlp = nn.gated_mlp if c.gated else nn.mlp
    for blk in params["blocks"]:
        h = h + nn.multi_head_attention(
            blk["attn"],
            _norm(c, blk["norm1"], h),
            num_heads=c.heads,
            num_kv_heads=c.num_kv_heads,
            causal=c.causal,
            rope_base=c.rope_base,
            padding_mask=padding_mask,
        )
        h = h + mlp(blk["mlp"], _norm(c, blk["norm2"], h), activation=c.activation)  # type: ignore[arg-type]
    if c.final_norm:
        h = _norm(c, params["norm_f"], h)
    if c.vocab_size is not None:
        h = nn.linear(params["head"], h)
    return h


def transformer_torch_rules(config: TransformerConfig) -> R.Rules:
    """Rules to :class:`parallax.models.TorchTransformer`: a fused ``qkv`` Linear whose
    rows are ``[q; k; v]`` (unequal parts under grouped-query attention), torch norm ``weight``."""
    del config
    blk = "blocks.{i}"
    tb = "layers.{i}"
    return R.Rules.of(
        R.same("embed.embedding", "tok_emb.weight"),
        R.linear("head.kernel", "lm_head.weight"),
        R.same("head.bias", "lm_head.bias"),
        R.fused([f"{blk}.attn.wq", f"{blk}.attn.wk", f"{blk}.attn.wv"], f"{tb}.attn.qkv.weight"),
        R.fused(
            [f"{blk}.attn.bq", f"{blk}.attn.bk", f"{blk}.attn.bv"],
            f"{tb}.attn.qkv.bias",
            kind="same",
        ),
        R.linear(f"{blk}.attn.wo", f"{tb}.attn.proj.weight"),
        R.same(f"{blk}.attn.bo", f"{tb}.attn.proj.bias"),
        R.norm(f"{blk}.norm{{n}}.scale", f"{tb}.ln{{n}}.weight"),
        R.same(f"{blk}.norm{{n}}.bias", f"{tb}.ln{{n}}.bias"),
        R.linear(f"{blk}.mlp.w_{{g}}", f"{tb}.mlp.{{g}}.weight"),  # before w{n}: first wins
        R.same(f"{blk}.mlp.b_{{g}}", f"{tb}.mlp.{{g}}.bias"),
        R.linear(f"{blk}.mlp.w{{n}}", f"{tb}.mlp.fc{{n}}.weight"),
        R.same(f"{blk}.mlp.b{{n}}", f"{tb}.mlp.fc{{n}}.bias"),
        R.norm("norm_f.scale", "ln_f.weight"),
        R.same("norm_f.bias", "ln_f.bias"),
    )


def encoder_layer_torch_rules(jax_prefix: str = "", torch_prefix: str = "") -> R.Rules:
    """Rules for ``torch.nn.TransformerEncoderLayer`` (``norm_first=True``, ``batch_first``)
    onto one block: ``self_attn.in_proj_weight`` is the fused ``[q; k; v]`` (out, in) matrix,
    ``linear1/2`` the MLP, ``norm1/2`` LayerNorms. Prefixes select the block / layer."""
    return R.Rules.of(
        R.fused(["attn.wq", "attn.wk", "attn.wv"], "self_attn.in_proj_weight"),
        R.fused(["attn.bq", "attn.bk", "attn.bv"], "self_attn.in_proj_bias", kind="same"),
        R.linear("attn.wo", "self_attn.out_proj.weight"),
        R.same("attn.bo", "self_attn.out_proj.bias"),
        R.linear("mlp.w{n}", "linear{n}.weight"),
        R.same("mlp.b{n}", "linear{n}.bias"),
        R.norm("norm{n}.scale", "norm{n}.weight"),
        R.same("norm{n}.bias", "norm{n}.bias"),
    ).prefixed(jax_prefix, torch_prefix)
