"""KernelSpec: the family comes from the name, the twin from the function's home."""

from __future__ import annotations

import functools

import pytest

from parallax.kernels import pde
from parallax.registry import Case, KernelSpec, get

TOL = {"float32": (1e-6, 1e-6), "float64": (1e-12, 1e-12)}
CASES = {"test": lambda rng, dtype: Case({}), "bench": lambda rng, dtype: Case({})}


def _spec(**kw):
    return KernelSpec(
        **{
            "name": "mylab.heat",
            "fn": pde.heat_rollout,
            "cases": CASES,
            "fwd_tol": TOL,
            "grad_tol": TOL,
            **kw,
        }
    )


def test_family_is_the_name_prefix_and_the_twin_follows_the_function():
    spec = _spec()
    assert spec.family == "mylab"
    assert spec.twin == "parallax.kernels.pde.twins:heat_rollout"
    assert _spec(twin=None).twin is None
    assert _spec(twin="mylab.refs:heat").twin == "mylab.refs:heat"
    assert get("ode.rk4_lorenz96").family == "ode"


@pytest.mark.parametrize("name", ["heat", ".heat", "pde.", "1d.heat"])
def test_a_name_without_a_family_is_refused(name):
    with pytest.raises(ValueError, match=r"name: expected '<family>\.<kernel>'"):
        _spec(name=name)


def test_a_function_without_a_name_needs_an_explicit_twin():
    bound = functools.partial(pde.heat_rollout, ndim=2)
    with pytest.raises(ValueError, match=r"twin: .* pass twin='module:attr'"):
        _spec(fn=bound)
    assert _spec(fn=bound, twin="mylab.twins:heat_2d").twin == "mylab.twins:heat_2d"
    with pytest.raises(ValueError, match=r"twin: .* pass twin='module:attr'"):
        _spec(fn=lambda u0: u0)


def test_bounds_name_existing_cases_and_say_something():
    assert _spec(bounds={"bench": "a serial chain of dependent steps"}).bounds
    with pytest.raises(ValueError, match=r"bounds names case 'big'"):
        _spec(bounds={"big": "the working set stays in L2"})
    with pytest.raises(ValueError, match=r"bounds\['bench'\] is empty"):
        _spec(bounds={"bench": "  "})
