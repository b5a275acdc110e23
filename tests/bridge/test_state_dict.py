"""export_to_torch / import_from_torch: exact round trips, rules, one error for every bad key."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from parallax import bridge as B
from parallax import models as M

torch = pytest.importorskip("torch", reason="the bridge tests need PyTorch")

FNO1 = M.FNOConfig(in_channels=2, out_channels=1, modes=(6,), width=16, proj_hidden=32)
FNO2 = M.FNOConfig(in_channels=1, out_channels=2, modes=(3, 4), width=16, proj_hidden=32)
TOK = M.TransformerConfig(embed=32, heads=4, kv_heads=2, mlp_hidden=64, vocab_size=16)
FEAT = M.TransformerConfig(
    embed=16, heads=2, gated=True, activation="silu", norm="rms", bias=False, rope_base=None
)


def _bits(x):
    a = np.asarray(x)
    return a.view(np.uint8)


def _assert_bitwise(a_tree, b_tree):
    la, lb = jax.tree.leaves(a_tree), jax.tree.leaves(b_tree)
    assert len(la) == len(lb)
    for a, b in zip(la, lb, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(_bits(a), _bits(b))


@pytest.mark.parametrize(
    ("config", "cls"),
    [(FNO1, M.FNO), (FNO2, M.EqxFNO), (TOK, M.Transformer), (FEAT, M.EqxTransformer)],
    ids=["fno1d_nnx", "fno2d_eqx", "transformer_gqa_nnx", "transformer_swiglu_eqx"],
)
def test_round_trip_is_bitwise_exact_at_float32(config, cls):
    model = (
        cls(config, rngs=nnx.Rngs(0))
        if issubclass(cls, M.NnxModel)
        else cls.init(config, jax.random.key(0))
    )
    twin = B.export_to_torch(model)
    assert isinstance(twin, torch.nn.Module)
    # every torch parameter was written (a fresh twin is random: compare with the rules' view)
    sd = B.to_state_dict(model)
    assert set(sd) == set(twin.state_dict())
    for k, v in twin.state_dict().items():
        np.testing.assert_array_equal(B.tensor_to_numpy(v), sd[k])
    # import into a differently initialised model of the same flavour -> the original bits
    other = (
        cls(config, rngs=nnx.Rngs(1))
        if issubclass(cls, M.NnxModel)
        else cls.init(config, jax.random.key(1))
    )
    back = B.import_from_torch(other, twin)
    assert type(back) is type(model)
    _assert_bitwise(model.pure_params(), back.pure_params())
    # the target was not modified
    assert not np.array_equal(
        np.asarray(jax.tree.leaves(other.pure_params())[0]),
        np.asarray(jax.tree.leaves(model.pure_params())[0]),
    )


def test_plain_pytree_round_trip_and_complex_as_real_rule():
    params = M.EqxFNO.init(FNO1, jax.random.key(2)).params
    rules = M.fno_torch_rules(FNO1, spectral_as_real=True)
    sd = B.export_to_torch(params, rules=rules)  # no torch module: an OrderedDict of tensors
    w = sd["convs.0.weights1"]
    assert w.dtype == torch.float32 and tuple(w.shape) == (16, 16, 6, 2)  # (in, out, modes, re/im)
    ref = np.asarray(params["layers"][0]["spectral"]["weight"])  # (modes, in, out)
    np.testing.assert_array_equal(w[..., 1].numpy(), np.imag(ref).transpose(1, 2, 0))
    back = B.import_from_torch(jax.tree.map(jnp.zeros_like, params), sd, rules=rules)
    _assert_bitwise(params, back)


def test_bfloat16_round_trip_without_numpy_bfloat16_in_torch():
    params = {"fc": {"kernel": jnp.arange(12.0).reshape(3, 4).astype(jnp.bfloat16)}}
    rules = B.Rules.of(B.linear("fc.kernel", "weight"))
    lin = torch.nn.Linear(3, 4, bias=False, dtype=torch.bfloat16)
    B.export_to_torch(params, lin, rules=rules)
    assert lin.weight.dtype == torch.bfloat16
    np.testing.assert_array_equal(
        lin.weight.detach().float().numpy(), np.arange(12.0).reshape(3, 4).T
    )
    back = B.import_from_torch(jax.tree.map(jnp.zeros_like, params), lin, rules=rules)
    _assert_bitwise(params, back)


def test_import_reports_every_bad_key_in_one_error_and_loads_nothing():
    model = M.EqxTransformer.init(TOK, jax.random.key(0))
    sd = dict(B.export_to_torch(model).state_dict())
    sd.pop("layers.0.ln1.weight")  # missing
    sd.pop("layers.1.mlp.fc2.bias")  # missing
    sd["layers.0.attn.extra.weight"] = torch.zeros(3)  # unexpected
    sd["layers.1.attn.proj.weight"] = torch.zeros(32, 31)  # mis-shaped
    sd["layers.0.attn.qkv.weight"] = torch.zeros(60, 32)  # fused: parts 32+16+16 != 60
    before = jax.tree.map(np.asarray, model.params)
    with pytest.raises(B.StateDictMismatchError) as info:
        B.import_from_torch(model, sd)
    err, msg = info.value, str(info.value)
    assert sorted(err.missing) == ["layers.0.ln1.weight", "layers.1.mlp.fc2.bias"]
    assert err.unexpected == ["layers.0.attn.extra.weight"]
    assert len(err.misshaped) == 2
    for key in ("layers.0.ln1.weight", "layers.1.mlp.fc2.bias", "layers.0.attn.extra.weight"):
        assert key in msg
    assert "layers.1.attn.proj.weight: torch (32, 31), expected (32, 32)" in msg
    assert "(32, 32) + (16, 32) + (16, 32)" in msg
    assert "nothing was loaded" in msg
    _assert_bitwise(before, model.params)


def test_integer_bool_and_non_finite_tensors_are_refused_in_one_error():
    """Was (D10): an int64 fc0.weight imported with max error 0.84 (cast to float), bool
    tensors became 0/1 weights, NaN tensors were accepted. Each bad key is listed once, with
    the kind problems and the non-finite counts, and nothing is loaded."""
    model = M.FNO(
        M.FNOConfig(in_channels=1, out_channels=1, modes=(4,), width=8, depth=1),
        rngs=nnx.Rngs(0),
    )
    sd = dict(B.export_to_torch(model).state_dict())
    sd["fc0.weight"] = sd["fc0.weight"].to(torch.int64)
    sd["fc0.bias"] = sd["fc0.bias"] > 0
    nan = sd["fc1.weight"].clone()
    nan[0, 0], nan[1, 2] = float("nan"), float("inf")
    sd["fc1.weight"] = nan
    before = jax.tree.map(np.asarray, nnx.state(model, nnx.Param))
    with pytest.raises(B.StateDictMismatchError) as info:
        B.import_from_torch(model, sd)
    err, msg = info.value, str(info.value)
    assert sorted(k.split(":")[0] for k in err.wrong_dtype) == ["fc0.bias", "fc0.weight"]
    assert "fc0.weight: torch int64, model has float32" in msg
    assert "fc0.bias: torch bool, model has float32" in msg
    assert err.nonfinite == [f"fc1.weight: 2 of {nan.numel()} values are NaN or Inf"]
    assert "nothing was loaded" in msg
    _assert_bitwise(before, nnx.state(model, nnx.Param))
    # a floating tensor of another precision still imports (cast to the model's dtype)
    sd = dict(B.export_to_torch(model).state_dict())
    sd["fc0.weight"] = sd["fc0.weight"].to(torch.float64)
    B.import_from_torch(model, sd)


def test_export_refuses_floating_values_into_an_integer_torch_tensor():
    params = {"fc": {"kernel": jnp.full((3, 4), 0.7)}}
    rules = B.Rules.of(B.linear("fc.kernel", "weight"))
    module = torch.nn.Module()
    module.register_buffer("weight", torch.zeros(4, 3, dtype=torch.int64))
    with pytest.raises(B.StateDictMismatchError, match="weight: model gives float32, torch has"):
        B.export_to_torch(params, module, rules=rules)
    assert not module.weight.any()  # nothing written (0.7 would have become 0)


def test_export_checks_the_whole_torch_module_before_writing():
    model = M.EqxFNO.init(FNO1, jax.random.key(0))
    wrong = M.FNOConfig(in_channels=3, out_channels=1, modes=(6,), width=16, proj_hidden=32)
    twin = M.EqxFNO.init(wrong, jax.random.key(1)).make_torch_twin()
    before = {k: v.clone() for k, v in twin.state_dict().items()}
    with pytest.raises(B.StateDictMismatchError, match=r"fc0\.weight: model gives \(16, 2\)"):
        B.export_to_torch(model, twin)
    for k, v in twin.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} was written before the error"
    # a JAX leaf that no rule covers is reported too
    with pytest.raises(B.StateDictMismatchError, match="no rule maps"):
        B.to_state_dict(
            {"lift": {"kernel": jnp.ones((2, 2))}, "odd": jnp.ones(2)}, M.fno_torch_rules(FNO1)
        )


def test_rule_validation():
    with pytest.raises(ValueError, match="placeholders differ"):
        B.Rule("blocks.{i}.w", "layers.{j}.weight")
    with pytest.raises(ValueError, match="fused part cannot also be expanded"):
        B.Rule("a", "b", expand=1, part=0)
    assert B.pointwise_conv("k", "w", ndim=2).torch_layout_shape((4, 6)) == (6, 4, 1, 1)
    r = B.conv("c.kernel", "c.weight", ndim=2)
    assert r.torch_layout_shape((3, 5, 4, 8)) == (8, 4, 3, 5)  # HWIO -> OIHW
    assert B.Rules.of(B.same("{*p}.x", "{*p}.y")).find("a.b.x")[1] == "a.b.y"  # type: ignore[index]


def test_prefix_selects_a_submodule_of_a_bigger_torch_model():
    model = M.EqxFNO.init(FNO1, jax.random.key(0))
    big = torch.nn.ModuleDict(
        {"operator": model.make_torch_twin(), "head": torch.nn.Linear(3, 3)}
    )  # keys "operator.fc0.weight", ..., "head.weight": only the prefix is read
    B.export_to_torch(model, big["operator"])
    back = B.import_from_torch(M.EqxFNO.init(FNO1, jax.random.key(1)), big, prefix="operator.")
    _assert_bitwise(model.params, back.params)
    with pytest.raises(B.StateDictMismatchError, match="unexpected torch keys"):
        B.import_from_torch(model, big)  # without the prefix nothing matches
