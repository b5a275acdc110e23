"""parallax.parity.compare on user functions: it passes correct pairs, catches wrong ones with the
worst element, and refuses bad arguments by name."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.parity import (
    ParityError,
    Reference,
    assert_parity,
    compare,
    default_tolerances,
    reference_outputs,
)

torch = pytest.importorskip("torch", reason="compare runs a torch reference")

R = np.random.default_rng(0)
X = R.normal(size=(3, 4)).astype(np.float32)
W = R.normal(size=(4, 2)).astype(np.float32)


def jax_model(x, w):
    h = jnp.tanh(x @ w)
    return {"h": h, "stats": (jnp.sum(h), jnp.max(x, axis=0))}


def torch_model(x, w):
    h = torch.tanh(x @ w)
    return {"h": h, "stats": (h.sum(), x.max(dim=0).values)}


def test_correct_pair_passes_at_both_dtypes_with_a_table_and_json():
    report = compare(jax_model, torch_model, {"x": X, "w": W}, jvp=True)
    assert report.passed, report
    table = str(report).splitlines()
    assert table[1].split() == ["leaf", "dtype", "max", "abs", "max", "rel", "rtol/atol", "result"]
    names = {(r.name, r.dtype) for r in report.leaves}
    for dtype in ("float32", "float64"):
        for leaf in ("out['h']", "out['stats'][0]", "out['stats'][1]", "grad[x]", "grad[w]"):
            assert (leaf, dtype) in names
        assert ("jvp['h']", dtype) in names
    # float64 really ran in float64: errors at the level of its epsilon, not float32's
    assert report.max_error(dtype="float64") < 1e-13 < report.max_error(dtype="float32") < 1e-5
    data = json.loads(json.dumps(report.to_json()))
    assert data["passed"] is True and len(data["leaves"]) == len(report.leaves)
    rtol, _ = default_tolerances().get("float32")
    assert all(r.rtol == rtol for r in report.select(kind="out", dtype="float32"))


def test_wrong_element_is_named_with_both_values():
    def wrong(x, w):
        h = torch.tanh(x @ w)
        bump = torch.zeros_like(h)
        bump[2, 1] = 1e-3
        return {"h": h + bump, "stats": (h.sum(), x.max(dim=0).values)}

    report = compare(jax_model, wrong, {"x": X, "w": W}, dtypes=("float64",))
    assert not report.passed
    assert [r.name for r in report.failures()] == ["out['h']"]  # the bump is constant: grads agree
    h = next(r for r in report.failures() if r.name == "out['h']")
    want = np.tanh(X.astype(np.float64) @ W.astype(np.float64))
    assert h.worst_index == (2, 1)
    assert h.got == pytest.approx(want[2, 1], abs=1e-12)
    assert h.want == pytest.approx(want[2, 1] + 1e-3, abs=1e-12)
    assert h.max_abs == pytest.approx(1e-3, rel=1e-9)
    text = str(report)
    assert "FAIL" in text and "worst at [2, 1]" in text and repr(h.got) in text
    with pytest.raises(ParityError) as info:
        assert_parity(jax_model, wrong, {"x": X, "w": W}, dtypes=("float64",))
    assert isinstance(info.value, AssertionError) and info.value.report.failures()
    assert "worst at [2, 1]" in str(info.value)


def test_a_wrong_derivative_with_a_correct_forward_fails_grad_and_jvp():
    def detached(x, w):  # same values, but no gradient through the second factor
        return x @ w * (x @ w).detach()

    report = compare(lambda x, w: (x @ w) ** 2, detached, (X, W), jvp=True, dtypes=("float64",))
    assert [r.passed for r in report.select(kind="out")] == [True]
    assert {r.name for r in report.failures()} == {"grad[0]", "grad[1]", "jvp"}
    g = next(r for r in report.failures() if r.name == "grad[1]")
    assert g.want is not None
    assert g.got == pytest.approx(2 * g.want, rel=1e-9)  # the detached factor halves it


def test_complex_inputs_use_torchs_gradient_convention():
    """L = Σ c Re(a z): dL/dRe(z) = c Re(a), dL/dIm(z) = -c Im(a); torch's gradient is
    c conj(a), JAX's raw gradient c a. compare conjugates JAX's, so the two agree."""
    a = (R.normal(size=5) + 1j * R.normal(size=5)).astype(np.complex64)
    z = (R.normal(size=5) + 1j * R.normal(size=5)).astype(np.complex64)
    ref = reference_outputs(lambda a, z: torch.real(a * z), {"a": a, "z": z}, grad_wrt="z")
    c = np.random.default_rng(0).standard_normal((2, 5))[0]
    for dtype in ("float32", "float64"):
        np.testing.assert_allclose(ref.by_dtype[dtype].grads["grad[z]"], c * np.conj(a), 1e-6)
    report = compare(lambda a, z: jnp.real(a * z), ref, {"a": a, "z": z}, grad_wrt="z")
    assert report.passed, report
    assert report.errors == [] and len(report.select(kind="grad")) == 2


def test_both_sides_get_identical_values_from_any_array_kind():
    seen = {}

    def jfn(x, y, z, *, n):
        seen["jax"] = (x.dtype, y.dtype, z.dtype, n)
        return x + y + z

    def tfn(x, y, z, *, n):
        seen["torch"] = (x.dtype, y.dtype, z.dtype, n)
        return x + y + z

    x = torch.tensor(X)
    y = jnp.asarray(X) * 2
    z = np.float32(0.1)  # a 0-d value stays 0-d on both sides
    report = compare(jfn, tfn, {"x": x, "y": y, "z": z, "n": 3})
    assert report.passed and report.max_error() <= 1e-6
    assert seen["jax"] == (jnp.float64, jnp.float64, jnp.float64, 3)
    assert seen["torch"] == (torch.float64, torch.float64, torch.float64, 3)
    assert {r.name for r in report.select(kind="grad")} == {"grad[x]", "grad[y]", "grad[z]"}
    assert next(r for r in report.leaves if r.name == "grad[z]").shape == ()


def test_precision_and_x64_are_pinned_inside_and_restored_after():
    inside = {}

    # jax.config sets its flag attributes at run time: pyright sees none of them
    def jfn(x):
        inside["jax"] = (jax.config.jax_default_matmul_precision, jax.config.jax_enable_x64)  # pyright: ignore[reportAttributeAccessIssue]
        return x @ x.T

    def tfn(x):
        inside["torch"] = torch.backends.cuda.matmul.fp32_precision
        return x @ x.T

    before = (jax.config.jax_default_matmul_precision, jax.config.jax_enable_x64)  # pyright: ignore[reportAttributeAccessIssue]
    assert compare(jfn, tfn, (X,), dtypes=("float64",), jit=False).passed
    assert inside == {"jax": ("highest", True), "torch": "ieee"}
    assert (jax.config.jax_default_matmul_precision, jax.config.jax_enable_x64) == before  # pyright: ignore[reportAttributeAccessIssue]


def test_structural_mismatch_is_a_failure_not_a_crash():
    report = compare(lambda x: (x, 2 * x), lambda x: (x,), (X,))
    assert not report.passed
    assert any("structure differs" in e and "only in jax: ['[1]']" in e for e in report.errors)
    assert any("gradients not compared" in e for e in report.errors)
    shape = compare(lambda x: x[:2], lambda x: x, (X,), dtypes=("float32",))
    assert not shape.passed and "shape mismatch" in shape.failures()[0].note


def test_bad_arguments_name_the_argument():
    ints = np.arange(4)
    with pytest.raises(ValueError, match=r"grad_wrt: 'v' is not an input; the inputs are \['x'"):
        compare(jnp.sin, torch.sin, {"x": X}, grad_wrt="v")
    with pytest.raises(TypeError, match=r"grad_wrt: input 'n' holds int64, not a floating"):
        compare(lambda x, n: x, lambda x, n: x, {"x": X, "n": ints}, grad_wrt=("x", "n"))
    with pytest.raises(TypeError, match=r"inputs: expected a dict .* got list"):
        compare(jnp.sin, torch.sin, [X])
    with pytest.raises(ValueError, match="dtypes: expected"):
        compare(jnp.sin, torch.sin, (X,), dtypes=("float8",))
    with pytest.raises(ValueError, match=r"tol: no values tolerance for dtype 'float64'"):
        compare(jnp.sin, torch.sin, (X,), tol={"float32": (1e-5, 1e-6)})
    with pytest.raises(ValueError, match="jvp: forward mode needs inputs"):
        compare(jnp.sin, torch.sin, (X,), grad_wrt=None, jvp=True)


def test_recorded_reference_without_the_dtype_is_reported():
    ref = reference_outputs(torch.sin, (X,), dtypes=("float32",), name="golden")
    assert isinstance(ref, Reference)
    report = compare(jnp.sin, ref, (X,))
    assert not report.passed
    assert report.errors == ["[float64] golden has no results at float64 (recorded: ['float32'])"]
    assert all(r.passed for r in report.leaves)


def test_bfloat16_runs_through_both_frameworks():
    report = compare(jnp.tanh, torch.tanh, (X,), dtypes=("bfloat16",))
    assert report.passed, report
    assert 0 < report.max_error() <= default_tolerances().get("bfloat16")[1]
