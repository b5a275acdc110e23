"""MLPs, norms, convolution and FNO spectral convolution: math against NumPy, bad input, and
the parity harness's complex-gradient convention."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.typing import DTypeLike

from parallax.kernels import nn
from parallax.parity import jax_outputs, torch_outputs
from parallax.parity._harness import cotangents
from parallax.registry import Case, KernelSpec

R = np.random.default_rng(0)


def _a(*shape, dtype=np.float32):
    return jnp.asarray(R.standard_normal(shape), dtype)


def test_gelu_forms_are_explicit_and_differ():
    x = jnp.linspace(-3.0, 3.0, 61)
    exact = nn.get_activation("gelu_exact")(x)
    tanh = nn.get_activation("gelu_tanh")(x)
    want = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in np.asarray(x)])
    np.testing.assert_allclose(np.asarray(exact), want, rtol=1e-6, atol=1e-7)
    assert 1e-5 < float(jnp.max(jnp.abs(exact - tanh))) < 1e-2
    with pytest.raises(ValueError, match="say 'gelu_exact' or 'gelu_tanh'"):
        nn.get_activation("gelu")


def test_mlp_and_gated_mlp_match_numpy():
    x, w1, b1, w2 = _a(3, 4), _a(4, 6), _a(6), _a(6, 2)
    y = nn.mlp({"w1": w1, "b1": b1, "w2": w2}, x, activation="relu")
    xn, w1n, b1n, w2n = (np.asarray(a, np.float64) for a in (x, w1, b1, w2))
    np.testing.assert_allclose(np.asarray(y), np.maximum(xn @ w1n + b1n, 0) @ w2n, rtol=1e-5)
    wg, wu = _a(4, 6), _a(4, 6)
    y = nn.gated_mlp({"w_gate": wg, "w_up": wu, "w_down": w2}, x, activation="silu")
    g = xn @ np.asarray(wg, np.float64)
    want = (g / (1 + np.exp(-g)) * (xn @ np.asarray(wu, np.float64))) @ w2n
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-6)


def test_mlp_bad_input():
    x = _a(3, 4)
    with pytest.raises(ValueError, match=r"params\['w1'\]: expected shape \(4, d_out\)"):
        nn.mlp({"w1": _a(5, 6), "w2": _a(6, 2)}, x, activation="relu")
    with pytest.raises(ValueError, match=r"missing keys \['w_up'\]"):
        nn.gated_mlp({"w_gate": _a(4, 6), "w_down": _a(6, 2)}, x, activation="silu")
    with pytest.raises(TypeError, match=r"params\['kernel'\]: expected dtype float32"):
        nn.linear({"kernel": jnp.ones((4, 2), jnp.bfloat16)}, x)


def test_norms_match_numpy_and_need_eps():
    x, s, b = _a(3, 8), _a(8), _a(8)
    xn = np.asarray(x, np.float64)
    ln = (xn - xn.mean(-1, keepdims=True)) / np.sqrt(xn.var(-1, keepdims=True) + 1e-5)
    got = nn.layer_norm({"scale": s, "bias": b}, x, eps=1e-5)
    np.testing.assert_allclose(np.asarray(got), ln * np.asarray(s) + np.asarray(b), rtol=2e-5)
    rms = xn / np.sqrt((xn**2).mean(-1, keepdims=True) + 1e-6)
    got = nn.rms_norm({"scale": s}, x, eps=1e-6)
    np.testing.assert_allclose(np.asarray(got), rms * np.asarray(s), rtol=2e-5)
    with pytest.raises(TypeError, match="eps"):
        nn.layer_norm({"scale": s}, x)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="eps: expected a Python float > 0"):
        nn.rms_norm({"scale": s}, x, eps=0.0)
    with pytest.raises(ValueError, match=r"params\['scale'\]: expected shape \(8\)"):
        nn.rms_norm({"scale": _a(7)}, x, eps=1e-6)
    with pytest.raises(ValueError, match=r"unexpected keys \['bias'\]"):
        nn.rms_norm({"scale": s, "bias": b}, x, eps=1e-6)


def _conv_numpy(x, w, b, stride, pads, dil):
    """Direct loops: y[n, p, o] = b[o] + Σ_k Σ_i xpad[n, s p + d k, i] w[k, i, o]."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), pads, (0, 0)))
    w = np.asarray(w, np.float64)
    kw = w.shape[0]
    n_out = (x.shape[1] - (kw - 1) * dil - 1) // stride + 1
    y = np.zeros((x.shape[0], n_out, w.shape[-1])) + np.asarray(b, np.float64)
    for p in range(n_out):
        for k in range(kw):
            y[:, p] += x[:, stride * p + dil * k] @ w[k]
    return y


@pytest.mark.parametrize(
    ("padding", "stride", "dil", "pads"),
    [("SAME", 2, 1, (1, 2)), ("VALID", 1, 2, (0, 0)), (3, 1, 1, (3, 3)), ([(0, 2)], 3, 2, (0, 2))],
)
def test_conv_1d_matches_loops(padding, stride, dil, pads):
    x, w, b = _a(2, 9, 3), _a(4, 3, 5), _a(5)
    y = nn.conv_1d({"kernel": w, "bias": b}, x, padding=padding, stride=stride, dilation=dil)
    want = _conv_numpy(x, w, b, stride, pads, dil)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-5)
    if padding == "SAME":
        assert y.shape[1] == math.ceil(9 / stride)


def test_conv_2d_separable_kernel_equals_two_1d_convs():
    """A rank-one HWIO kernel w[h, w] = a[h] b[w] (one channel) is two 1D convolutions."""
    x = _a(1, 6, 7, 1)
    a, c = _a(3), _a(2)
    k2 = (a[:, None] * c[None, :])[:, :, None, None]
    y = nn.conv_2d({"kernel": k2}, x, padding="VALID")
    rows = jax.vmap(lambda r: nn.conv_1d({"kernel": c[:, None, None]}, r, padding="VALID"))(
        x[0][:, None]
    )  # (6, 1, 6, 1): conv along W for each H row
    cols = nn.conv_1d({"kernel": a[:, None, None]}, rows[:, 0, :, 0].T[:, :, None], padding="VALID")
    np.testing.assert_allclose(np.asarray(y[0, :, :, 0]), np.asarray(cols[:, :, 0].T), rtol=1e-5)


def test_conv_bad_input():
    x = _a(2, 6, 6, 4)
    with pytest.raises(
        ValueError, match=r"params\['kernel'\]: expected layout \(h, w, c_in/groups"
    ):
        nn.conv_2d({"kernel": _a(3, 3, 3, 8)}, x, padding="SAME")
    with pytest.raises(ValueError, match="groups: expected a positive int dividing c_in=4"):
        nn.conv_2d({"kernel": _a(3, 3, 2, 6)}, x, padding="SAME", groups=3)
    with pytest.raises(ValueError, match="x: expected rank 4"):
        nn.conv_2d({"kernel": _a(3, 3, 4, 8)}, x[0], padding="SAME")
    with pytest.raises(ValueError, match="padding: expected 'SAME', 'VALID'"):
        nn.conv_1d({"kernel": _a(3, 4, 8)}, x[0], padding="FULL")


def _cplx(*shape: int, dtype: DTypeLike = np.complex64) -> jax.Array:
    return jnp.asarray(R.standard_normal(shape) + 1j * R.standard_normal(shape), dtype)


def test_spectral_conv_1d_is_a_mode_filter():
    """Channels 1 -> 1 with weight 1 on modes < m: a sinusoid of mode k < m passes unchanged,
    one of mode k >= m is removed; weight i shifts it by a quarter period."""
    n, m = 32, 5
    xg = np.arange(n) / n
    low, high = np.cos(2 * np.pi * 3 * xg), np.cos(2 * np.pi * 7 * xg)
    x = jnp.asarray((low + high)[None, :, None], jnp.float32)
    ones = {"weight": jnp.ones((m, 1, 1), jnp.complex64)}
    np.testing.assert_allclose(np.asarray(nn.spectral_conv_1d(ones, x))[0, :, 0], low, atol=1e-5)
    shift = {"weight": jnp.full((m, 1, 1), 1j, jnp.complex64)}
    want = -np.sin(2 * np.pi * 3 * xg)  # i * e^{ikx} -> cos(kx) becomes -sin(kx)
    np.testing.assert_allclose(np.asarray(nn.spectral_conv_1d(shift, x))[0, :, 0], want, atol=1e-5)


def test_spectral_conv_2d_keeps_both_frequency_signs():
    """Only the negative-frequency block is nonzero: mode (k1, k2) = (-2, 1) passes, (+2, 1) not."""
    n1, n2, m1, m2 = 12, 10, 3, 3
    g1, g2 = np.meshgrid(np.arange(n1) / n1, np.arange(n2) / n2, indexing="ij")
    pos = np.cos(2 * np.pi * (2 * g1 + g2))  # modes (2, 1) and (-2, -1)
    neg = np.cos(2 * np.pi * (-2 * g1 + g2))  # modes (-2, 1) and (2, -1)
    x = jnp.asarray((pos + neg)[None, :, :, None], jnp.float32)
    zeros = jnp.zeros((m1, m2, 1, 1), jnp.complex64)
    y = nn.spectral_conv_2d({"w_pos": zeros, "w_neg": jnp.ones((m1, m2, 1, 1), jnp.complex64)}, x)
    np.testing.assert_allclose(np.asarray(y)[0, :, :, 0], neg, atol=1e-5)


def test_spectral_conv_bad_input():
    x = _a(2, 16, 3)
    with pytest.raises(TypeError, match=r"params\['weight'\]: expected a complex dtype"):
        nn.spectral_conv_1d({"weight": _a(4, 3, 2)}, x)
    with jax.enable_x64(True), pytest.raises(TypeError, match="expected dtype complex64"):
        nn.spectral_conv_1d({"weight": _cplx(4, 3, 2, dtype=np.complex128)}, x)
    with pytest.raises(
        ValueError, match=r"params\['weight'\]: modes=10 must lie in \[1, n//2\+1=9\]"
    ):
        nn.spectral_conv_1d({"weight": _cplx(10, 3, 2)}, x)
    with pytest.raises(ValueError, match=r"params\['weight'\]: expected shape \(4, 3, \*\)"):
        nn.spectral_conv_1d({"weight": _cplx(4, 2, 2)}, x)
    x2 = _a(1, 8, 8, 2)
    w = _cplx(5, 3, 2, 2)
    with pytest.raises(ValueError, match=r"m1=5 must satisfy"):
        nn.spectral_conv_2d({"w_pos": w, "w_neg": w}, x2)


class _ProbeSpec(KernelSpec):
    def load_twin(self):
        import torch

        return lambda w, a: torch.real(a * w)


def test_harness_conjugates_complex_gradients_into_torch_convention():
    """L = Σ c Re(a w): dL/dRe(w) = c Re(a), dL/dIm(w) = -c Im(a), so torch's gradient
    (dL/dx + i dL/dy) is c conj(a). JAX's raw grad is c a; the harness conjugates it."""
    pytest.importorskip("torch")
    a = (R.standard_normal(5) + 1j * R.standard_normal(5)).astype(np.complex64)
    w = (R.standard_normal(5) + 1j * R.standard_normal(5)).astype(np.complex64)
    spec = _ProbeSpec(
        name="nn._conj_probe",
        fn=lambda w, a: jnp.real(a * w),
        twin="probe",
        cases={"test": lambda r, d: Case({}), "bench": lambda r, d: Case({})},
        fwd_tol={"float32": (1e-6, 1e-6)},
        grad_tol={"float32": (1e-6, 1e-6)},
        dtypes=("float32",),
        grad_wrt=("w",),
    )
    case = Case(inputs={"w": w, "a": a})
    raw = jax.grad(
        lambda w: jnp.sum(jnp.real(a * w) * jnp.asarray(cotangents([(5,)])[0][0], jnp.float32))
    )(jnp.asarray(w))
    c = cotangents([(5,)])[0][0]
    np.testing.assert_allclose(np.asarray(raw), c * a, rtol=1e-5)  # JAX's own convention
    _, g_jax = jax_outputs(spec, case, "float32")
    _, g_torch = torch_outputs(spec, case, "float32")
    np.testing.assert_allclose(g_torch["w"], c * np.conj(a), rtol=1e-5)
    np.testing.assert_allclose(g_jax["w"], c * np.conj(a), rtol=1e-5)
