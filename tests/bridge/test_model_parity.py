"""Whole-model parity: the JAX models vs their exported torch twins, forward outputs and every
parameter gradient, at float32 and float64 (precision pinned on both sides)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax import bridge as B
from parallax import models as M
from parallax.parity import pinned_precision

torch = pytest.importorskip("torch", reason="the bridge tests need PyTorch")

FNO1 = M.FNOConfig(in_channels=2, out_channels=1, modes=(6,), width=16, proj_hidden=32)
FNO2 = M.FNOConfig(in_channels=1, out_channels=2, modes=(3, 4), width=16, proj_hidden=32)
TOK = M.TransformerConfig(embed=32, heads=4, kv_heads=2, mlp_hidden=64, vocab_size=16)

# (rtol, atol) with atol relative to the largest magnitude of the compared array. Measured
# (worst |err| / max|ref|, FNO-1D and transformer): float32 forward 1.3e-6, gradients 1.0e-6
# (pocketfft vs torch's FFT and reductions in another order); float64 5e-16 and 9e-16.
# The bounds leave ~10x room over those numbers.
FWD_TOL = {"float32": (1e-5, 1e-5), "float64": (1e-11, 1e-13)}
GRAD_TOL = {"float32": (1e-4, 1e-5), "float64": (1e-10, 1e-12)}


def _close(got, want, tol, what):
    rtol, atol = tol
    scale = float(np.max(np.abs(want))) or 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * scale, err_msg=what)


def _inputs(config, dtype, rng):
    if isinstance(config, M.FNOConfig):
        shape = (2, 16, 2) if config.ndim == 1 else (2, 8, 10, 1)
        x = rng.normal(size=shape).astype(dtype)
        return x, {}, None
    x = rng.integers(0, config.vocab_size, (2, 7)).astype(np.int32)
    keep = np.ones((2, 7), bool)
    keep[1, -2:] = False
    return x, {"padding_mask": keep}, keep


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("config", "cls"),
    [(FNO1, M.EqxFNO), (FNO2, M.EqxFNO), (TOK, M.EqxTransformer)],
    ids=["fno1d", "fno2d", "transformer_gqa_rope_padding"],
)
def test_forward_and_gradients_match_the_torch_twin(config, cls, dtype):
    rng = np.random.default_rng(0)
    x, kw, keep = _inputs(config, dtype, rng)
    with jax.enable_x64(dtype == "float64"), pinned_precision():
        model = cls.init(config, jax.random.key(0), jnp.dtype(dtype))
        twin = B.export_to_torch(model)
        kwj = {k: jnp.asarray(v) for k, v in kw.items()}
        w = rng.normal(
            size=(*x.shape[:-1], config.out_channels)
            if isinstance(config, M.FNOConfig)
            else (*x.shape, config.vocab_size)
        ).astype(dtype)

        def loss(params):  # a fixed cotangent: loss = <w, y>; one compile for value and grad
            out = cls(params, config)(jnp.asarray(x), **kwj)
            return jnp.sum(out * jnp.asarray(w)), out

        grads, y = jax.jit(jax.grad(loss, has_aux=True))(model.params)
        y = np.asarray(y)
        xt = torch.from_numpy(x)
        yt = twin(xt) if keep is None else twin(xt, padding_mask=torch.from_numpy(keep))
        (yt * torch.from_numpy(w)).sum().backward()
    assert y.dtype == np.dtype(dtype) and yt.dtype == getattr(torch, dtype)
    _close(y, yt.detach().numpy(), FWD_TOL[dtype], "forward")
    # jax.grad of a real loss w.r.t. a complex weight is the conjugate of torch's .grad
    grads = jax.tree.map(lambda g: jnp.conj(g) if jnp.iscomplexobj(g) else g, grads)
    g_sd = B.to_state_dict(
        grads,
        M.FNO.model_def.torch_rules(config)
        if isinstance(config, M.FNOConfig)
        else M.transformer_torch_rules(config),
    )
    named = dict(twin.named_parameters())
    assert set(g_sd) == set(named)
    for k, g in g_sd.items():
        assert named[k].grad is not None, k
        _close(g, named[k].grad.numpy(), GRAD_TOL[dtype], f"grad {k}")
