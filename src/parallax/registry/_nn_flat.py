"""Glue between flat registry cases and kernels that take a parameter dict (framework-neutral:
the same helpers wrap the JAX kernels and their torch twins)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["flat", "value_and_grad_twin"]


def flat(fn: Callable[..., Any], param_names: Sequence[str]) -> Callable[..., Any]:
    """``fn(params, x, **kw)`` as ``g(x=..., <param>=..., **kw)``: the named parameters present
    in the call are gathered into ``params``; everything else is passed through."""
    names = tuple(param_names)

    @functools.wraps(fn)
    def call(**kwargs: Any) -> Any:
        params = {k: kwargs.pop(k) for k in names if k in kwargs}
        x = kwargs.pop("x")
        return fn(params, x, **kwargs)

    return call


def value_and_grad_twin(fn: Callable[..., Any], wrt: Sequence[str]) -> Callable[..., Any]:
    """Torch: ``(L, grads)`` of ``L = Σ c ⊙ fn(**inputs)`` with respect to ``wrt`` (autograd),
    the twin of a JAX ``jax.value_and_grad`` bench spec. ``c`` is the input named ``cot``."""
    import torch

    def call(*, cot: Any, **kwargs: Any) -> Any:
        inputs = {
            k: (v.detach().requires_grad_(True) if k in wrt else v) for k, v in kwargs.items()
        }
        static = {k: v for k, v in inputs.items() if not isinstance(v, torch.Tensor)}
        arrays = {k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)}
        with torch.enable_grad():  # the bench calls twins under no_grad
            out = fn(**arrays, **static)
            loss = (out.to(cot.dtype) * cot).sum()
            grads = torch.autograd.grad(loss, [arrays[k] for k in wrt])
        return loss, {k: g for k, g in zip(wrt, grads, strict=True)}

    return call
