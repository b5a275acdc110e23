r"""Train steps of the parallax models against their torch twins: one AdamW step (forward,
backward, update) from the same parameters, JAX under ``jit`` (parameters and optimizer state
donated) vs torch eager vs ``torch.compile`` of the twin's forward.

The optimizers come from :func:`parallax.bridge.matched_optimizer` (every hyperparameter set on
both sides) and the twins from :func:`parallax.bridge.export_to_torch`, so the implementations
compute the same step; the first step's losses are recorded side by side as evidence.

Losses: the FNO regresses a random field (mean squared error); the transformer predicts random
next tokens (mean cross-entropy over ``batch x seq`` positions). The transformer's model FLOPs
per step are ``6 P T`` (``P`` parameters outside the embedding, ``T`` tokens) plus
``12 L B S² d`` for attention scores and values (forward and backward), as PaLM's appendix B
counts them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from parallax import bridge, models

__all__ = ["ADAMW", "TrainProblem", "fno_problem", "train_makers", "transformer_problem"]

ADAMW = {"lr": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 1e-2}


@dataclass(frozen=True)
class TrainProblem:
    """One model, its batch (NumPy) and its loss on each side."""

    name: str
    model: Any  # an equinox-flavour parallax model class
    config: Any
    x: np.ndarray
    y: np.ndarray
    loss: str  # "mse" | "xent"
    flops: float | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model.__name__,
            "config": asdict(self.config),
            "x_shape": list(self.x.shape),
            "y_shape": list(self.y.shape),
            "loss": self.loss,
            "optimizer": {"kind": "adamw", **ADAMW},
        }


def fno_problem(config: models.FNOConfig, batch: int, grid: tuple[int, ...]) -> TrainProblem:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *grid, config.in_channels)).astype(np.float32)
    y = rng.standard_normal((batch, *grid, config.out_channels)).astype(np.float32)
    return TrainProblem("fno", models.EqxFNO, config, x, y, "mse")


def transformer_problem(config: models.TransformerConfig, batch: int, seq: int) -> TrainProblem:
    if config.vocab_size is None:
        raise ValueError("config: the train-step bench needs a token model (vocab_size set)")
    rng = np.random.default_rng(0)
    x = rng.integers(0, config.vocab_size, (batch, seq)).astype(np.int32)
    y = rng.integers(0, config.vocab_size, (batch, seq)).astype(np.int32)
    d, hidden = config.embed, config.mlp_hidden
    kv = config.num_kv_heads * config.head_dim
    per_block = d * d + 2 * d * kv + d * d + (3 if config.gated else 2) * d * hidden
    params = config.depth * per_block + d * config.vocab_size  # the head; embedding excluded
    flops = 6.0 * params * batch * seq + 12.0 * config.depth * batch * seq * seq * d
    return TrainProblem("transformer", models.EqxTransformer, config, x, y, "xent", flops)


def _jax_loss(kind: str, out: jax.Array, y: jax.Array) -> jax.Array:
    if kind == "mse":
        return jnp.mean(jnp.square(out - y))
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(out, y))


def _torch_loss(kind: str, out: Any, y: Any) -> Any:
    import torch.nn.functional as F

    if kind == "mse":
        return ((out - y) ** 2).mean()
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def _jax_step(p: TrainProblem, model: Any, tx: optax.GradientTransformation):
    """The jitted step (compiled ahead of time), run once: ``((call, compile_s), first loss)``."""
    x, y = jnp.asarray(p.x), jnp.asarray(p.y)

    def loss(params, x, y):
        return _jax_loss(p.loss, p.model(params, p.config)(x), y)

    def step(params, state, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    params = jax.tree.map(jnp.copy, model.params)  # donated below; the model keeps its own
    state = tx.init(params)
    t0 = time.perf_counter()
    exe = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, x, y).compile()
    compile_s = time.perf_counter() - t0
    held = [params, state]

    def call() -> Any:
        held[0], held[1], value = exe(held[0], held[1], x, y)
        return held[0], held[1], value

    first = float(call()[2])  # the loss at the initial parameters
    return (call, compile_s), first


def _torch_step(p: TrainProblem, model: Any, make_opt: Callable, device: str, compiled: bool):
    """The eager or compiled step, run once: ``((call, first call's seconds), first loss)``."""
    import torch

    twin = bridge.export_to_torch(model).to(device)
    opt = make_opt(twin.parameters())
    forward = torch.compile(twin) if compiled else twin
    x = torch.from_numpy(p.x).to(device)
    y = torch.from_numpy(p.y).to(device)
    if p.loss == "xent":
        x, y = x.long(), y.long()

    def call() -> Any:
        opt.zero_grad(set_to_none=True)
        loss = _torch_loss(p.loss, forward(x), y)
        loss.backward()
        opt.step()
        return loss.detach()

    t0 = time.perf_counter()
    first = float(call())  # the loss at the initial parameters (and torch.compile's compile)
    return (call, time.perf_counter() - t0), first


def train_makers(
    p: TrainProblem, torch_device: str | None, impls: tuple[str, ...]
) -> tuple[dict[str, Callable[[], Any]], dict[str, float]]:
    """Makers for :func:`parallax.bench.time_impls` and the first-step loss of each impl that
    could be built (a maker that fails raises when called, so the bench records it)."""
    model = p.model.init(p.config, jax.random.key(0), jnp.float32)
    tx, make_opt = bridge.matched_optimizer("adamw", **ADAMW)
    losses: dict[str, float] = {}

    def maker(impl: str) -> Callable[[], Any]:
        def make() -> Any:
            if impl == "jax":
                made, first = _jax_step(p, model, tx)
            elif impl in ("torch-eager", "torch-compile") and torch_device is not None:
                made, first = _torch_step(
                    p, model, make_opt, torch_device, compiled=impl == "torch-compile"
                )
            else:
                raise LookupError(f"no implementation {impl!r} (torch device: {torch_device})")
            losses[impl] = first
            return made

        return make

    return {impl: maker(impl) for impl in impls}, losses
