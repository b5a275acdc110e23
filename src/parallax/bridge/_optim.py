"""optax and torch.optim with every hyperparameter matched, and the defaults that differ.

``matched_optimizer(kind, **hp)`` returns ``(optax_transform, make_torch)`` where
``make_torch(params)`` builds the ``torch.optim`` optimizer with the same numbers. Every
hyperparameter is a required keyword: nothing relies on either library's default.

Defaults that DIFFER between the libraries (never rely on them):

=====================  =============================  ========================================
                       optax                          torch.optim
=====================  =============================  ========================================
AdamW weight decay     ``adamw(weight_decay=1e-4)``   ``AdamW(weight_decay=1e-2)``
Adam weight decay      none (chain                    ``Adam(weight_decay=...)`` is L2 added to
                       ``add_decayed_weights`` first) the gradient, not decoupled decay
Adam eps placement     ``eps`` outside the sqrt,      ``eps`` outside: ``sqrt(v̂) + eps``
                       plus ``eps_root`` inside       (no inside term; set ``eps_root=0``)
RMSprop                ``decay=0.9``, eps INSIDE the  ``alpha=0.99``, eps OUTSIDE:
                       sqrt: ``g / sqrt(ν + eps)``    ``g / (sqrt(ν) + eps)``
SGD momentum           ``trace``: ``t = g + μ t``     ``b = μ b + (1 - dampening) g``; equal
                       (no dampening)                 only with ``dampening=0``
SGD nesterov           ``g + μ t``                    ``g + μ b`` (same with dampening 0)
SGD weight decay       none (chain                    L2 added to the gradient before momentum
                       ``add_decayed_weights``)
=====================  =============================  ========================================

Complex parameters (FNO spectral weights): ``jax.grad`` of a real loss returns the CONJUGATE of
the descent direction (``∂L/∂x - i ∂L/∂y``), torch's ``.grad`` is ``∂L/∂x + i ∂L/∂y``. Plain optax
on JAX gradients therefore climbs in the imaginary parts. :func:`conj_complex_grads` fixes the
sign; torch's Adam/AdamW treat a complex parameter as two real ones (``view_as_real``), optax's
as one complex one (``ν = |g|²``), so ``optax.contrib.split_real_and_imaginary`` is applied
too. ``matched_optimizer`` does both, so it is correct for real and complex parameters alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import optax

__all__ = ["conj_complex_grads", "matched_optimizer", "standard_promotion"]


def standard_promotion(tx: optax.GradientTransformation) -> optax.GradientTransformation:
    """``tx`` with its ``init``/``update`` traced under standard dtype promotion.

    optax 0.2.8's Adam bias correction computes ``decay ** count`` (a Python float to an int32
    power), which raises under ``jax_numpy_dtype_promotion="strict"`` (parallax's test setting).
    """

    def init(params: Any) -> Any:
        with jax.numpy_dtype_promotion("standard"):
            return tx.init(params)

    def update(updates: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        with jax.numpy_dtype_promotion("standard"):
            return tx.update(updates, state, params)

    return optax.GradientTransformation(init, update)


def conj_complex_grads() -> optax.GradientTransformation:
    """Conjugate complex gradient leaves (JAX's convention -> the descent direction)."""

    def update(updates: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        del params
        conj = jax.tree.map(lambda g: jnp.conj(g) if jnp.iscomplexobj(g) else g, updates)
        return conj, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def matched_optimizer(
    kind: str, **hp: Any
) -> tuple[optax.GradientTransformation, Callable[[Iterable[Any]], Any]]:
    """``kind`` and its REQUIRED hyperparameters:

    * ``"sgd"``: ``lr, momentum, nesterov`` (torch ``dampening=0``, ``weight_decay=0``);
    * ``"adam"``: ``lr, b1, b2, eps`` (optax ``eps_root=0``);
    * ``"adamw"``: ``lr, b1, b2, eps, weight_decay``.
    """
    import torch

    need = {
        "sgd": ("lr", "momentum", "nesterov"),
        "adam": ("lr", "b1", "b2", "eps"),
        "adamw": ("lr", "b1", "b2", "eps", "weight_decay"),
    }
    if kind not in need:
        raise ValueError(f"kind: expected one of {sorted(need)}, got {kind!r}")
    missing = [k for k in need[kind] if k not in hp]
    extra = sorted(set(hp) - set(need[kind]))
    if missing or extra:
        raise TypeError(f"{kind}: missing hyperparameters {missing}, unexpected {extra}")
    if kind == "sgd":
        inner = optax.sgd(hp["lr"], momentum=hp["momentum"] or None, nesterov=hp["nesterov"])

        def make(params: Iterable[Any]) -> Any:
            return torch.optim.SGD(
                params,
                lr=hp["lr"],
                momentum=hp["momentum"],
                dampening=0.0,
                nesterov=hp["nesterov"],
                weight_decay=0.0,
            )

    elif kind == "adam":
        inner = optax.adam(hp["lr"], b1=hp["b1"], b2=hp["b2"], eps=hp["eps"], eps_root=0.0)

        def make(params: Iterable[Any]) -> Any:
            return torch.optim.Adam(
                params, lr=hp["lr"], betas=(hp["b1"], hp["b2"]), eps=hp["eps"], weight_decay=0.0
            )

    else:
        inner = optax.adamw(
            hp["lr"],
            b1=hp["b1"],
            b2=hp["b2"],
            eps=hp["eps"],
            eps_root=0.0,
            weight_decay=hp["weight_decay"],
        )

        def make(params: Iterable[Any]) -> Any:
            return torch.optim.AdamW(
                params,
                lr=hp["lr"],
                betas=(hp["b1"], hp["b2"]),
                eps=hp["eps"],
                weight_decay=hp["weight_decay"],
            )

    tx = optax.chain(conj_complex_grads(), optax.contrib.split_real_and_imaginary(inner))
    return standard_promotion(tx), make
