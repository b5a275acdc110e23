"""Models: both flavours agree, work under jit / vmap / grad / optax, carry logical axis names."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import parallax.sharding as sharding
from parallax import models as M

FNO1 = M.FNOConfig(in_channels=2, out_channels=1, modes=(6,), width=16, proj_hidden=32)
FNO2 = M.FNOConfig(in_channels=1, out_channels=2, modes=(3, 4), width=16, proj_hidden=32)
TOK = M.TransformerConfig(embed=32, heads=4, kv_heads=2, mlp_hidden=64, vocab_size=16)
FEAT = M.TransformerConfig(
    embed=16, heads=2, gated=True, activation="silu", norm="rms", bias=False, rope_base=None
)


def _input(config, batch=3, key=0):
    rng = np.random.default_rng(key)
    if isinstance(config, M.FNOConfig):
        shape = (batch, 16, config.in_channels) if config.ndim == 1 else (batch, 8, 10, 1)
        return jnp.asarray(rng.normal(size=shape), jnp.float32)
    if config.vocab_size:
        return jnp.asarray(rng.integers(0, config.vocab_size, (batch, 7)), jnp.int32)
    return jnp.asarray(rng.normal(size=(batch, 7, config.embed)), jnp.float32)


CASES = [(FNO1, M.FNO, M.EqxFNO), (FNO2, M.FNO, M.EqxFNO)]
CASES += [(TOK, M.Transformer, M.EqxTransformer), (FEAT, M.Transformer, M.EqxTransformer)]
IDS = ["fno1d", "fno2d", "transformer_tokens_gqa", "transformer_features_swiglu"]


@pytest.mark.parametrize(("config", "nnx_cls", "eqx_cls"), CASES[::2], ids=IDS[::2])
def test_flavours_agree_and_transform(config, nnx_cls, eqx_cls):
    m = nnx_cls(config, rngs=nnx.Rngs(0))
    e = m.to_eqx()
    assert isinstance(e, eqx_cls)
    x = _input(config)
    y = m(x)
    np.testing.assert_array_equal(np.asarray(e(x)), np.asarray(y))
    back = e.to_nnx()
    assert isinstance(back, nnx_cls)
    np.testing.assert_array_equal(np.asarray(back(x)), np.asarray(y))
    # vmap over examples equals the batched call
    yv = jax.vmap(lambda xi: e(xi[None])[0])(x)
    np.testing.assert_allclose(yv, y, rtol=1e-5, atol=1e-6)
    # vmap over a batch of parameter sets (an ensemble of models)
    keys = jax.random.split(jax.random.key(3), 2)
    ens = jax.vmap(lambda k: eqx_cls.init(config, k))(keys)
    ye = eqx.filter_vmap(lambda mdl: mdl(x))(ens)
    one = eqx_cls.init(config, keys[1])
    np.testing.assert_allclose(ye[1], one(x), rtol=1e-5, atol=1e-6)


def _mse(model, x, target):
    return jnp.mean(jnp.abs(model(x) - target) ** 2)


def test_optax_training_lowers_the_loss_equinox_fno():
    """equinox + optax on complex spectral weights: conj(jax.grad), Adam per real component."""
    from parallax.bridge import conj_complex_grads, standard_promotion

    x = _input(FNO1, batch=4)
    e = M.EqxFNO.init(FNO1, jax.random.key(1))
    target = 0.5 * e(x)
    adam = optax.contrib.split_real_and_imaginary(optax.adam(1e-2))
    tx = standard_promotion(optax.chain(conj_complex_grads(), adam))
    opt_state = tx.init(eqx.filter(e, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(e, opt_state):
        loss, g = eqx.filter_value_and_grad(_mse)(e, x, target)
        updates, opt_state = tx.update(g, opt_state, e)
        return eqx.apply_updates(e, updates), opt_state, loss

    losses = []
    for _ in range(5):
        e, opt_state, loss = step(e, opt_state)
        losses.append(float(loss))
    assert losses[-1] < 0.7 * losses[0], losses


def test_optax_training_lowers_the_loss_nnx_transformer():
    """flax.nnx + nnx.Optimizer + optax (real parameters).

    Known limit (flax 0.12.8): nnx.Optimizer cannot wrap optax.contrib.split_real_and_imaginary
    (its state type clashes with nnx.State), so complex-weighted nnx models (the FNO) train
    through their pure params: ``model.pure_params()`` with ``parallax.bridge.matched_optimizer``.
    """
    from parallax.bridge import standard_promotion

    x = _input(TOK, batch=4)
    m = M.Transformer(TOK, rngs=nnx.Rngs(1))
    assert TOK.vocab_size is not None
    target = jax.nn.one_hot(x, TOK.vocab_size, dtype=jnp.float32)  # learn the identity map
    opt = nnx.Optimizer(m, standard_promotion(optax.adam(1e-2)), wrt=nnx.Param)

    @nnx.jit
    def step(m, opt):
        loss, g = nnx.value_and_grad(_mse)(m, x, target)
        opt.update(m, g)
        return loss

    losses = [float(step(m, opt)) for _ in range(5)]
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize(("config", "nnx_cls", "eqx_cls"), CASES[1:], ids=IDS[1:])
def test_logical_axes_name_every_parameter_in_every_flavour(config, nnx_cls, eqx_cls):
    m = nnx_cls(config, rngs=nnx.Rngs(0))
    e = m.to_eqx()
    is_names = lambda t: isinstance(t, tuple)  # noqa: E731
    for model, tree in (
        (m, nnx.to_pure_dict(nnx.state(m, nnx.Param))),
        (e, e),
        (m.pure_params(), m.pure_params()),
    ):
        axes = M.logical_axes(model)
        names = jax.tree.leaves(axes, is_leaf=is_names)
        arrays = [x for x in jax.tree.leaves(tree) if hasattr(x, "ndim")]
        assert len(names) == len(arrays)
        for n, a in zip(names, arrays, strict=True):
            assert isinstance(n, tuple) and len(n) == a.ndim
            assert set(n) <= {None, *sharding.LOGICAL_NAMES}
    if config is not TOK:
        return
    # the sharding utilities consume them: tensor-parallel placement on a 2x4 mesh
    # Auto axes: XLA propagates the parameter shardings through the model. (With Explicit axes
    # the GQA head reshape in kernels.nn.multi_head_attention needs an out_sharding: not yet.)
    mesh = jax.make_mesh((2, 4), ("data", "model"), axis_types=(jax.sharding.AxisType.Auto,) * 2)
    # the names tree fits each flavour's own parameter tree: eqx module, nnx State, pure dict
    fsdp_tp = sharding.rules("fsdp_tp")
    se = sharding.logical_shardings(e, M.logical_axes(e), mesh, fsdp_tp)
    assert se.params["blocks"][0]["attn"]["wq"].spec == jax.P("data", "model")
    sn = sharding.logical_shardings(nnx.state(m, nnx.Param), M.logical_axes(m), mesh, fsdp_tp)
    assert len(jax.tree.leaves(sn)) == len(jax.tree.leaves(se))
    params = m.pure_params()
    placed = sharding.shard(params, M.logical_axes(params), mesh, sharding.rules("tp"))
    flat = jax.tree_util.tree_flatten_with_path(placed)[0]
    model_sharded = [p for p, x in flat if "model" in jax.tree.leaves(tuple(x.sharding.spec))]
    assert model_sharded, "tp rules shard no parameter over 'model'"
    x = _input(config)
    y = M.EqxTransformer(placed, config)(x)
    np.testing.assert_allclose(np.asarray(y), np.asarray(m(x)), rtol=1e-5, atol=1e-5)


def test_nnx_params_carry_out_sharding_metadata():
    m = M.Transformer(TOK, rngs=nnx.Rngs(0))
    assert m.params["blocks"][0]["attn"]["wq"].get_metadata()["out_sharding"] == ("embed", "heads")
    assert m.params["embed"]["embedding"].get_metadata()["out_sharding"] == ("vocab", "embed")


def test_bad_configs_and_inputs_raise():
    with pytest.raises(ValueError, match="heads"):
        M.TransformerConfig(embed=30, heads=4)
    with pytest.raises(ValueError, match="kv_heads"):
        M.TransformerConfig(embed=32, heads=4, kv_heads=3)
    with pytest.raises(ValueError, match="gelu_exact"):
        M.TransformerConfig(activation="gelu")
    with pytest.raises(ValueError, match="modes"):
        M.FNOConfig(1, 1, modes=(2, 2, 2))
    e = M.EqxFNO.init(FNO1, jax.random.key(0))
    with pytest.raises(ValueError, match="x: expected shape"):
        e(jnp.ones((2, 16, 8, 2)))
    t = M.EqxTransformer.init(TOK, jax.random.key(0))
    with pytest.raises(ValueError, match="token ids"):
        t(jnp.ones((2, 5, 32)))
    with pytest.raises(ValueError, match="no logical axis names"):
        M.logical_axes({"mystery": jnp.ones(3)})
