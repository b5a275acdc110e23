"""The kernel contract, checked for every registered kernel: jit, vmap, grad (physics checks:
tests/physics, parametrized over the registry the same way)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.registry import FAMILIES, KernelSpec, specs

SPECS = specs()
IDS = [s.name for s in SPECS]


def _allclose_tree(a, b, rtol, atol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def test_registry_is_populated():
    families = {s.family for s in SPECS}
    assert {"pde", "nn"} <= families <= set(FAMILIES)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_spec_is_complete(spec: KernelSpec):
    assert spec.twin is not None, "every kernel has a torch twin"
    assert "test" in spec.cases and "bench" in spec.cases
    assert spec.description
    case = spec.make_case("test", "float32")
    for name in spec.grad_wrt:
        assert name in case.inputs, f"grad_wrt names unknown input {name!r}"


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_jit_matches_eager(spec: KernelSpec):
    case = spec.make_case("test", "float32")
    inputs = {k: jnp.asarray(v) for k, v in case.inputs.items()}
    fn = functools.partial(spec.fn, **case.static)
    with jax.default_matmul_precision("highest"):
        eager = fn(**inputs)
        jitted = jax.jit(fn)(**inputs)
    rtol, atol = spec.fwd_tol["float32"]
    _allclose_tree(jitted, eager, rtol=10 * rtol, atol=10 * atol)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_vmap_matches_separate_calls(spec: KernelSpec):
    """A batch of two input sets under vmap equals two separate calls."""
    c0, c1 = spec.make_case("test", "float32", seed=0), spec.make_case("test", "float32", seed=1)
    axes = spec.vmap_axes if spec.vmap_axes is not None else tuple(c0.inputs)
    fn = jax.jit(functools.partial(spec.fn, **c0.static))
    stacked = {
        k: jnp.stack([c0.inputs[k], c1.inputs[k]]) if k in axes else jnp.asarray(c0.inputs[k])
        for k in c0.inputs
    }
    in_axes = ({k: (0 if k in axes else None) for k in c0.inputs},)
    with jax.default_matmul_precision("highest"):
        batched = jax.vmap(lambda d: fn(**d), in_axes=in_axes)(stacked)
        for i, c in enumerate((c0, c1)):
            single = fn(**{k: (c.inputs[k] if k in axes else c0.inputs[k]) for k in c0.inputs})
            rtol, atol = spec.fwd_tol["float32"]
            _allclose_tree(jax.tree.map(lambda x, i=i: x[i], batched), single, 10 * rtol, 10 * atol)


def _direction(rng: np.random.Generator, v) -> jax.Array:
    """A random direction of ``v``'s shape and dtype (complex inputs get complex directions)."""
    d = rng.standard_normal(np.shape(v))
    if jnp.iscomplexobj(v):
        d = d + 1j * rng.standard_normal(np.shape(v))
    return jnp.asarray(d, dtype=v.dtype)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.grad_wrt], ids=lambda s: s.name)
def test_grad_matches_finite_differences(spec: KernelSpec):
    """Directional derivative of ``Σ c·f(x)`` along a random direction, float64, central FD."""
    with jax.enable_x64(True):
        case = spec.make_case("test", "float64")
        inputs = {k: jnp.asarray(v) for k, v in case.inputs.items()}
        fn = jax.jit(functools.partial(spec.fn, **case.static))
        out = fn(**inputs)
        rng = np.random.default_rng(7)
        cots = [jnp.asarray(rng.standard_normal(np.shape(x))) for x in jax.tree.leaves(out)]

        def loss(diff):
            leaves = jax.tree.leaves(fn(**{**inputs, **diff}))
            return sum(jnp.sum(jnp.real(x) * c) for x, c in zip(leaves, cots, strict=True))

        primal = {k: inputs[k] for k in spec.grad_wrt}
        direction = {k: _direction(rng, v) for k, v in primal.items()}
        # scale the step to each input's magnitude so positive parameters stay positive
        scale = {k: 1e-3 * max(float(jnp.max(jnp.abs(v))), 1e-3) for k, v in primal.items()}
        grads = jax.grad(loss)(primal)
        # jax.grad of a real loss w.r.t. z = x + iy is dL/dx - i dL/dy, so the directional
        # derivative along d is Re(sum(grad * d)) (for real inputs, the plain sum)
        analytic = sum(float(jnp.real(jnp.sum(grads[k] * direction[k]))) * scale[k] for k in primal)
        eps = 1e-3

        def at(t):
            return float(loss({k: v + t * scale[k] * direction[k] for k, v in primal.items()}))

        numeric = (8 * (at(eps) - at(-eps)) - (at(2 * eps) - at(-2 * eps))) / (12 * eps)
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-9)
