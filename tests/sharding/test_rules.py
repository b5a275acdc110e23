"""Logical axis rules: presets, any parameter pytree (dict, nnx, equinox), optimizer state,
and clear errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P

import parallax.sharding as ps
from parallax.models import EqxTransformer, Transformer, TransformerConfig, logical_axes


@pytest.fixture(scope="module")
def mesh():
    return ps.make_mesh({"data": 4, "model": 2})


def test_presets_map_names(mesh):
    names = ("embed", "mlp")
    expect = {
        "dp": P(None, None),
        "fsdp": P("data", None),
        "tp": P(None, "model"),
        "fsdp_tp": P("data", "model"),
    }
    for preset, spec in expect.items():
        assert ps.logical_to_spec(names, ps.rules(preset), mesh, shape=(16, 32)) == spec
    assert ps.logical_to_spec(("batch", None), ps.rules("tp")) == P("data", None)
    # a mesh axis is used once per array: the second "embed" of a square weight is replicated
    assert ps.logical_to_spec(("embed", "embed"), ps.rules("fsdp")) == P("data", None)
    # overrides, tuples of mesh axes, aliases
    r = ps.rules("data-parallel", x=("data", "model"), ensemble="data")
    assert ps.logical_to_spec(("x", None), r, mesh, shape=(16, 3)) == P(("data", "model"), None)
    assert set(ps.LOGICAL_NAMES) <= set(ps.rules("fsdp_tp"))


def test_errors_name_the_problem(mesh):
    with pytest.raises(
        ValueError, match=r"\['w'\]: logical axis 'spin' \(dimension 1\) has no rule"
    ):
        ps.logical_shardings(
            {"w": jnp.ones((4, 4))}, {"w": ("embed", "spin")}, mesh, ps.rules("fsdp")
        )
    with pytest.raises(
        ValueError,
        match=r"\['w'\]: dimension 0 \('embed'\) has size 6, not divisible by mesh axes "
        r"\('data',\) of total size 4",
    ):
        ps.logical_shardings(
            {"w": jnp.ones((6, 4))}, {"w": ("embed", None)}, mesh, ps.rules("fsdp")
        )
    with pytest.raises(ValueError, match=r"maps to mesh axis 'tensor', which is not in the mesh"):
        ps.logical_to_spec(("mlp",), ps.rules("tp", mlp="tensor"), mesh)
    with pytest.raises(
        ValueError, match=r"2 logical names \('embed', 'mlp'\) for an array of shape \(4,\)"
    ):
        ps.logical_shardings({"b": jnp.ones((4,))}, {"b": ("embed", "mlp")}, mesh, ps.rules("dp"))
    with pytest.raises(ValueError, match="does not mirror"):
        ps.logical_shardings({"a": jnp.ones(4)}, {"b": (None,)}, mesh, ps.rules("dp"))
    with pytest.raises(ValueError, match="unknown preset 'zero3'"):
        ps.rules("zero3")


def _check_placed(tree, shardings):
    for leaf, sh in zip(jax.tree.leaves(tree), jax.tree.leaves(shardings), strict=True):
        assert leaf.sharding.is_equivalent_to(sh, leaf.ndim)


def test_nnx_equinox_and_dict_models(mesh):
    cfg = TransformerConfig(embed=16, depth=1, heads=4, mlp_hidden=32)
    rule_set = ps.rules("fsdp_tp")
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    before = jax.tree.map(np.asarray, model.pure_params())
    state = nnx.state(model, nnx.Param)
    sh = ps.logical_shardings(state, logical_axes(model), mesh, rule_set)
    placed = jax.device_put(state, sh)
    nnx.update(model, placed)
    wq = model.params["blocks"][0]["attn"]["wq"][...]
    assert wq.sharding.spec == P("data", "model")
    after = model.pure_params()
    for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(before), strict=True):
        np.testing.assert_array_equal(np.asarray(a), b)

    emodel = EqxTransformer.init(cfg, jax.random.key(0))
    esh = ps.logical_shardings(emodel, logical_axes(emodel), mesh, rule_set)
    eplaced = ps.shard(emodel, logical_axes(emodel), mesh, rule_set)
    _check_placed(eplaced, esh)
    assert eplaced.params["blocks"][0]["mlp"]["w1"].sharding.spec == P("data", "model")

    params = emodel.params  # the plain dict
    dplaced = ps.shard(params, logical_axes(params), mesh, rule_set)
    assert dplaced["blocks"][0]["mlp"]["w2"].sharding.spec == P("model", "data")


def test_optimizer_state_sharded_like_params(mesh):
    params = {"w": jnp.ones((16, 8)), "b": jnp.ones((8,))}
    logical = {"w": ("embed", "mlp"), "b": ("mlp",)}
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-3))
    st = ps.shard_train_state(params, logical, opt, mesh, ps.rules("fsdp_tp"))
    adam = st.opt_state[1][0]
    for tree in (adam.mu, adam.nu):
        assert tree["w"].sharding.spec == P("data", "model")
        assert tree["b"].sharding.spec == P("model")
    assert adam.count.sharding.spec == P()
