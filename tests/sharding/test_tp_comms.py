"""Tensor-parallel train steps move the analytic minimum of bytes (read from the compiled HLO),
and run on meshes with Explicit axes with the single-device loss and parameters."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import parallax.sharding as ps
from parallax.models import (
    FNOConfig,
    TransformerConfig,
    fno_apply,
    fno_init,
    logical_axes,
    transformer_apply,
    transformer_init,
)

# grouped-query (kv_heads < heads) and RoPE on, so the fused q/k/v contraction is exercised in
# its general form; heads and kv_heads divisible by the model axis
CFG = TransformerConfig(embed=32, depth=1, heads=4, kv_heads=2, mlp_hidden=64)
BATCH, SEQ = 8, 4
MESH = {"data": 4, "model": 2}


def _problem():
    params = transformer_init(CFG, jax.random.key(0))
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((BATCH, SEQ, CFG.embed)), jnp.float32)
    y = jnp.asarray(rng.standard_normal((BATCH, SEQ, CFG.embed)), jnp.float32)

    def loss(p, batch):
        return jnp.mean((transformer_apply(CFG, p, batch[0]) - batch[1]) ** 2)

    return params, loss, (x, y)


def _step(mesh, preset, opt, **kwargs):
    params, loss, batch = _problem()
    rule_set = ps.rules(preset)
    st = ps.shard_train_state(params, logical_axes(params), opt, mesh, rule_set)
    bs = ps.logical_shardings(batch, (("batch", None, None),) * 2, mesh, rule_set)
    step = ps.make_train_step(loss, opt, mesh, st.param_shardings, st.opt_shardings, bs, **kwargs)
    batch = jax.device_put(batch, bs)
    return st, step, batch


def _minimum(params, param_shardings, mesh) -> float:
    """Bytes per device (ring costs, as comms_report counts them): per parameter of local size
    ``L``, FSDP all-gather + reduce-scatter ``2 (d-1) L`` or the gradient all-reduce
    ``2 (d-1)/d L``; per block four activation all-reduces over ``model`` (Megatron: attention
    and MLP, forward and backward), ``2 (m-1)/m`` of ``(batch/d) seq embed`` floats each."""
    d, m = mesh.shape["data"], mesh.shape["model"]
    total = 0.0
    for leaf, sh in zip(jax.tree.leaves(params), jax.tree.leaves(param_shardings), strict=True):
        used = {a for e in sh.spec if e is not None for a in ((e,) if isinstance(e, str) else e)}
        local = leaf.size * 4 / math.prod(mesh.shape[a] for a in used)
        total += 2 * (d - 1) * local if "data" in used else 2 * (d - 1) / d * local
    act = (BATCH // d) * SEQ * CFG.embed * 4
    return total + 4 * CFG.depth * 2 * (m - 1) / m * act


@pytest.mark.parametrize(
    ("preset", "kwargs"), [("tp", {}), ("fsdp_tp", {"fsdp_axis": "data"})], ids=["tp", "fsdp_tp"]
)
def test_tp_step_moves_the_analytic_minimum(preset, kwargs):
    """Four activation all-reduces per block (q, k and v contracted as one: separately the
    backward reduced three input gradients, 6 per block), and total bytes at the minimum
    (fsdp_tp: the nested shard_map gathers only each device's model shard)."""
    mesh = ps.make_mesh(MESH)
    st, step, batch = _step(mesh, preset, optax.sgd(0.1), **kwargs)
    with jax.set_mesh(mesh):
        rep = ps.comms_report(step.jitted, st.params, st.opt_state, batch)
    act = (BATCH // MESH["data"], SEQ, CFG.embed)
    acts = [
        shape
        for c in rep.of("all-reduce")
        if c.group_size == MESH["model"]
        for _, shape in c.shapes
        if shape == act
    ]
    assert len(acts) == 4 * CFG.depth, rep.table()
    params, _, _ = _problem()
    minimum = _minimum(params, st.param_shardings, mesh)
    assert rep.total_bytes == pytest.approx(minimum, rel=2e-3), rep.table()


@pytest.fixture(scope="module")
def reference(single_device_steps):
    params, loss, batch = _problem()
    return single_device_steps(params, loss, batch, optax.sgd(0.1, momentum=0.9), 2)


@pytest.mark.parametrize(
    ("preset", "kwargs"),
    [("tp", {}), ("fsdp_tp", {"fsdp_axis": "data"})],
    ids=["tp", "fsdp_tp-fsdp_axis"],
)
def test_explicit_mesh_matches_single_device(reference, preset, kwargs):
    mesh = ps.make_mesh(MESH, axis_types="explicit")
    opt = optax.sgd(0.1, momentum=0.9)
    st, step, batch = _step(mesh, preset, opt, **kwargs)
    p, s = st.params, st.opt_state
    losses = []
    for _ in range(2):
        p, s, val = step(p, s, batch)
        losses.append(float(val))
    ref_params, ref_losses = reference
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    leaves = (jax.tree.leaves(p), jax.tree.leaves(ref_params), jax.tree.leaves(st.param_shardings))
    for a, b, sh in zip(*leaves, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
        assert a.sharding.is_equivalent_to(sh, a.ndim)
    if preset == "tp":
        # data parallel over the batch, not replicated: the same bytes as on an Auto mesh
        with jax.set_mesh(mesh):
            rep = ps.comms_report(step.jitted, st.params, st.opt_state, batch)
        assert rep.count("all-gather") == 0, rep.table()
        assert rep.total_bytes == pytest.approx(
            _minimum(ref_params, st.param_shardings, mesh), rel=2e-3
        )


def test_explicit_mesh_fsdp_needs_a_gather():
    mesh = ps.make_mesh(MESH, axis_types="explicit")
    with pytest.raises(ValueError, match="gather_axes=\\('data',\\) or fsdp_axis='data'"):
        _step(mesh, "fsdp_tp", optax.sgd(0.1))


def test_explicit_mesh_fno_tp_matches_single_device():
    """The FNO under ``tp`` (its row-parallel projection ``w2: (mlp, out)`` names its output
    sharding): one SGD step on an Explicit mesh equals one step on one device."""
    cfg = FNOConfig(in_channels=1, out_channels=1, modes=(4,), width=8, depth=1, proj_hidden=16)
    params = fno_init(cfg, jax.random.key(1))
    rng = np.random.default_rng(1)
    batch = tuple(jnp.asarray(rng.standard_normal((8, 16, 1)), jnp.float32) for _ in range(2))

    def loss(p, b):
        return jnp.mean((fno_apply(cfg, p, b[0]) - b[1]) ** 2)

    opt = optax.sgd(0.1)
    val, g = jax.jit(jax.value_and_grad(loss))(params, batch)
    mesh = ps.make_mesh(MESH, axis_types="explicit")
    rule_set = ps.rules("tp")
    st = ps.shard_train_state(params, logical_axes(params), opt, mesh, rule_set)
    assert any(a is not None for sh in jax.tree.leaves(st.param_shardings) for a in sh.spec)
    bs = ps.logical_shardings(batch, (("batch", None, None),) * 2, mesh, rule_set)
    step = ps.make_train_step(loss, opt, mesh, st.param_shardings, st.opt_shardings, bs)
    p, _, got = step(st.params, st.opt_state, batch)
    np.testing.assert_allclose(float(got), float(val), rtol=1e-5)
    for a, w, dw in zip(
        jax.tree.leaves(p), jax.tree.leaves(params), jax.tree.leaves(g), strict=True
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(w - 0.1 * dw), rtol=1e-4, atol=1e-6)
