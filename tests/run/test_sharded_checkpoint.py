"""Checkpoints across meshes: save on 8 devices (tp layout), restore on 4 (fsdp layout)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import parallax.sharding as ps
from parallax import run
from parallax.models import TransformerConfig, logical_axes, transformer_init


def test_restore_onto_other_mesh_and_layout(tmp_path):
    cfg = TransformerConfig(embed=16, depth=1, heads=4, mlp_hidden=32)
    params = transformer_init(cfg, jax.random.key(0))
    logical = logical_axes(params)
    opt = optax.sgd(0.1, momentum=0.9)
    mesh8 = ps.make_mesh({"data": 4, "model": 2})
    st = ps.shard_train_state(params, logical, opt, mesh8, ps.rules("tp"))
    # make the momentum non-trivial so that optimizer state is really compared
    opt_state = jax.tree.map(
        lambda x: x + 0.5 if jnp.issubdtype(x.dtype, jnp.floating) else x, st.opt_state
    )
    state = {"params": st.params, "opt_state": opt_state, "step": jnp.int32(7)}
    run.save_sharded(tmp_path / "ckpt", state)

    mesh4 = ps.make_mesh({"data": 4}, devices=jax.devices()[4:])
    rules4 = ps.rules("fsdp")
    p_sh = ps.logical_shardings(params, logical, mesh4, rules4)
    o_sh = ps.opt_state_shardings(jax.eval_shape(opt.init, params), params, p_sh, mesh4)
    rep = jax.sharding.NamedSharding(mesh4, jax.sharding.PartitionSpec())
    target = {
        "params": ps.abstract_like(params, p_sh),
        "opt_state": ps.abstract_like(jax.eval_shape(opt.init, params), o_sh),
        "step": jax.ShapeDtypeStruct((), jnp.int32, sharding=rep),
    }
    restored = run.restore_sharded(tmp_path / "ckpt", target)
    for got, want, tgt in zip(
        jax.tree.leaves(restored), jax.tree.leaves(state), jax.tree.leaves(target), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        assert got.sharding.is_equivalent_to(tgt.sharding, got.ndim)
        assert set(got.sharding.device_set) == set(jax.devices()[4:])
    # FSDP really sharded something on the new mesh
    wq = restored["params"]["blocks"][0]["attn"]["wq"]
    assert wq.addressable_shards[0].data.shape == (4, 16)


def test_restore_needs_a_layout_and_keeps_typed_keys(tmp_path):
    """A target leaf without a sharding is refused; a typed PRNG key round-trips (the same
    conversions as the run Checkpointer)."""
    state = {"key": jax.random.key(3), "x": jnp.arange(8.0)}
    run.save_sharded(tmp_path / "ckpt", state)
    with pytest.raises(ValueError, match="target: every leaf needs a sharding"):
        run.restore_sharded(tmp_path / "ckpt", {"key": state["key"], "x": np.zeros(8)})
    back = run.restore_sharded(tmp_path / "ckpt", state)
    assert jnp.issubdtype(back["key"].dtype, jax.dtypes.prng_key)
    want_key = jax.random.key_data(state["key"])
    np.testing.assert_array_equal(jax.random.key_data(back["key"]), want_key)
    np.testing.assert_array_equal(np.asarray(back["x"]), np.arange(8.0))
