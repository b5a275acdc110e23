"""Training-step parity: N optimizer steps of optax vs torch.optim with matched
hyperparameters (``parallax.bridge.matched_optimizer``) give the same parameters.

The FNO is the hard case: its spectral weights are complex, where jax.grad returns the conjugate
of torch's gradient and torch's Adam treats real and imaginary parts as separate parameters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from parallax import bridge as B
from parallax import models as M
from parallax.parity import pinned_precision

torch = pytest.importorskip("torch", reason="the bridge tests need PyTorch")

FNO1 = M.FNOConfig(in_channels=2, out_channels=1, modes=(6,), width=16, proj_hidden=32)
TOK = M.TransformerConfig(embed=32, heads=4, kv_heads=2, mlp_hidden=64, vocab_size=16)
STEPS = 5
HP = {
    "sgd": {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    "adam": {"lr": 1e-2, "b1": 0.9, "b2": 0.999, "eps": 1e-8},
    "adamw": {"lr": 1e-2, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 0.1},
}
# Parameters after STEPS steps, (rtol, atol): float64 isolates the algorithms (any mismatch in
# the update rule would show at 1e-3); float32 Adam divides by sqrt(v) + eps, which amplifies
# last-bit gradient differences of near-zero gradients, hence the looser bound.
TOL = {"float64": (1e-9, 1e-11), "float32": (1e-4, 1e-5)}


def _train(cls, config, kind, dtype, x, target):
    tx, make_torch = B.matched_optimizer(kind, **HP[kind])
    model = cls.init(config, jax.random.key(0), jnp.dtype(dtype))
    twin = B.export_to_torch(model)
    xj, tj = jnp.asarray(x), jnp.asarray(target)

    def loss(params):
        return jnp.mean(jnp.square(cls(params, config)(xj) - tj))

    @jax.jit
    def step(params, state):
        g = jax.grad(loss)(params)
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state

    params, state = model.params, tx.init(model.params)
    for _ in range(STEPS):
        params, state = step(params, state)
    opt = make_torch(twin.parameters())
    xt, tt = torch.from_numpy(x), torch.from_numpy(target)
    for _ in range(STEPS):
        opt.zero_grad()
        torch.mean(torch.square(twin(xt) - tt)).backward()
        opt.step()
    return params, twin, model.params


@pytest.mark.parametrize("kind", ["sgd", "adam", "adamw"])
def test_fno_steps_match_torch_optim_at_float64(kind):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 16, 2))
    target = rng.normal(size=(4, 16, 1))
    with jax.enable_x64(True), pinned_precision():
        params, twin, start = _train(M.EqxFNO, FNO1, kind, "float64", x, target)
    want = {k: v.detach().numpy() for k, v in twin.state_dict().items()}
    got = B.to_state_dict(params, M.fno_torch_rules(FNO1))
    moved = B.to_state_dict(start, M.fno_torch_rules(FNO1))
    rtol, atol = TOL["float64"]
    for k in want:
        assert not np.allclose(moved[k], want[k], rtol=1e-6, atol=0), f"{k} did not train"
        np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol, err_msg=k)


def test_transformer_adamw_steps_match_torch_optim_at_float32():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 16, (4, 7)).astype(np.int32)
    target = rng.normal(size=(4, 7, 16)).astype(np.float32)
    with pinned_precision():
        params, twin, _ = _train(M.EqxTransformer, TOK, "adamw", "float32", x, target)
    want = {k: v.detach().numpy() for k, v in twin.state_dict().items()}
    got = B.to_state_dict(params, M.transformer_torch_rules(TOK))
    rtol, atol = TOL["float32"]
    hd = TOK.head_dim
    k_bias = slice(TOK.heads * hd, (TOK.heads + TOK.num_kv_heads) * hd)
    for k in want:
        g, w = got[k], want[k]
        if k.endswith("attn.qkv.bias"):
            # The key bias adds q·b_k to every logit of a query row, which softmax ignores: its
            # true gradient is exactly 0 and both frameworks see rounding noise (~1e-9), which
            # Adam normalises to O(lr) steps in arbitrary directions. Only bound it.
            assert np.max(np.abs(g[k_bias] - w[k_bias])) <= 2 * STEPS * HP["adamw"]["lr"]
            g, w = np.delete(g, np.r_[k_bias]), np.delete(w, np.r_[k_bias])
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=k)


def test_matched_optimizer_requires_every_hyperparameter():
    with pytest.raises(TypeError, match=r"missing hyperparameters \['weight_decay'\]"):
        B.matched_optimizer("adamw", lr=1e-3, b1=0.9, b2=0.999, eps=1e-8)
    with pytest.raises(ValueError, match="kind"):
        B.matched_optimizer("rmsprop", lr=1e-3)


def test_plain_optax_on_complex_weights_climbs_without_conj():
    """Why matched_optimizer conjugates: optax on raw jax.grad moves Im(z) the wrong way."""

    def f(z):
        return jnp.abs(z - (1 + 2j)) ** 2

    z0 = jnp.asarray(0j, jnp.complex64)
    naive = z0 - 0.1 * jax.grad(f)(z0)
    tx, _ = B.matched_optimizer("sgd", lr=0.1, momentum=0.0, nesterov=False)
    upd, _ = tx.update(jax.grad(f)(z0), tx.init(z0), z0)
    fixed = optax.apply_updates(z0, upd)
    assert float(f(naive)) > float(f(z0)) > float(f(fixed))
