"""``compare_training``: N optimizer steps of optax and torch.optim from identical weights.

Both sides start from the same weights (copied as in :func:`parallax.parity.compare_modules`)
at one dtype and take ``steps`` steps on the same batches (cycled when there are fewer):

* JAX: ``loss(model(*x), y)``, ``jax.value_and_grad`` over the parameters, the optax transform,
  ``optax.apply_updates`` (jitted step);
* torch: ``zero_grad``, ``loss(module(*x), y).backward()``, ``opt.step()``.

The optimizer pair comes from :func:`parallax.bridge.matched_optimizer` (every hyperparameter
explicit, complex gradients conjugated into torch's descent direction). Each step reports the
loss before the update on both sides and every parameter after it (JAX parameters mapped to
torch names and layouts through the rules), each against the value tolerance of the dtype;
``first_failure`` is the first step beyond it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parallax.bridge import named_params, named_to_torch
from parallax.bridge._state_dict import _rules_for
from parallax.parity._compare import LeafReport, compare_leaf
from parallax.parity._inputs import check_dtypes, is_array, prepare_inputs, to_numpy, to_torch
from parallax.parity._modules import _call, _cast, copy_weights
from parallax.parity._precision import dtype_context, pinned_precision
from parallax.parity._report import Printable, format_table, leaf_json
from parallax.parity._tolerance import resolve_tolerances

__all__ = ["TrainingParityReport", "TrainingStep", "compare_training"]


@dataclass
class TrainingStep:
    """Step ``step`` (from 1): losses before the update, parameters after it."""

    step: int
    loss_jax: float
    loss_torch: float
    loss: LeafReport
    params: list[LeafReport] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.loss.passed and all(p.passed for p in self.params)

    @property
    def worst_param(self) -> LeafReport | None:
        failing = [p for p in self.params if not p.passed]
        return failing[0] if failing else max(self.params, key=lambda p: p.max_abs, default=None)


@dataclass(repr=False)
class TrainingParityReport(Printable):
    title: str
    dtype: str
    steps: list[TrainingStep] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.steps)

    @property
    def first_failure(self) -> TrainingStep | None:
        return next((s for s in self.steps if not s.passed), None)

    def table(self) -> str:
        status = "passed" if self.passed else "FAILED"
        lines = [f"{self.title} training at {self.dtype}: {status}"]
        rows = []
        for s in self.steps:
            w = s.worst_param
            rows.append(
                [
                    str(s.step),
                    f"{s.loss_jax:.6e}",
                    f"{s.loss_torch:.6e}",
                    f"{s.loss.max_abs:.2e}",
                    f"{max((p.max_abs for p in s.params), default=0.0):.2e}",
                    f"{max((p.max_rel for p in s.params), default=0.0):.2e}",
                    "" if w is None else w.name,
                    "pass" if s.passed else "FAIL",
                ]
            )
        header = [
            "step",
            "loss jax",
            "loss torch",
            "loss diff",
            "param abs",
            "param rel",
            "worst param",
            "result",
        ]
        lines += format_table(header, rows)
        first = self.first_failure
        if first is not None:
            w = first.worst_param if not first.loss.passed or first.params else None
            lines.append(f"first failure at step {first.step}" + (f": {w.describe()}" if w else ""))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "dtype": self.dtype,
            "passed": self.passed,
            "first_failure": None if self.first_failure is None else self.first_failure.step,
            "steps": [
                {
                    "step": s.step,
                    "loss_jax": s.loss_jax,
                    "loss_torch": s.loss_torch,
                    "passed": s.passed,
                    "params": [leaf_json(p) for p in s.params],
                }
                for s in self.steps
            ],
        }


def _losses(loss: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    if callable(loss):
        return loss, loss
    if isinstance(loss, tuple) and len(loss) == 2 and all(callable(f) for f in loss):
        return loss
    raise TypeError(
        "loss: expected loss(output, target) working on both JAX and torch arrays, or a pair "
        f"(jax_loss, torch_loss); got {loss!r}"
    )


def _optimizer(optimizer: Any) -> tuple[Any, Callable[..., Any]]:
    import optax

    if (
        isinstance(optimizer, tuple)
        and len(optimizer) == 2
        and isinstance(optimizer[0], optax.GradientTransformation)
        and callable(optimizer[1])
    ):
        return optimizer
    raise TypeError(
        "optimizer: expected the (optax_transform, make_torch) pair of "
        f"parallax.bridge.matched_optimizer(kind, **hyperparameters), got {optimizer!r}"
    )


def _batches(batches: Any) -> list[tuple[Any, Any]]:
    import jax

    out = []
    for i, b in enumerate(batches):
        if not (isinstance(b, tuple) and len(b) == 2):
            raise TypeError(f"batches[{i}]: expected a pair (inputs, target), got {type(b)}")
        target = jax.tree.map(lambda a: to_numpy(a) if is_array(a) else a, b[1], is_leaf=is_array)
        out.append((prepare_inputs(b[0], f"batches[{i}][0]"), target))
    if not out:
        raise ValueError("batches: expected at least one (inputs, target) pair")
    return out


def compare_training(
    jax_model: Any,
    torch_module: Any,
    *,
    optimizer: Any,
    loss: Any,
    batches: Sequence[tuple[Any, Any]],
    steps: int,
    rules: Any = None,
    direction: str = "torch_to_jax",
    dtype: str = "float32",
    tol: Any = None,
    device: str = "cpu",
    title: str | None = None,
) -> TrainingParityReport:
    """Train both sides ``steps`` steps and compare losses and parameters after every step.

    ``batches``: ``(inputs, target)`` pairs, ``inputs`` as in :func:`compare` (dict, tuple or
    one array); ``target`` an array (or pytree) handed to ``loss`` as the second argument.
    ``tol``: ``{dtype: (rtol, atol)}`` for losses and parameters (default: the value table).
    """
    import jax
    import jax.numpy as jnp
    import optax
    import torch

    tx, make_torch = _optimizer(optimizer)
    jax_loss, torch_loss = _losses(loss)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive int, got {steps!r}")
    (dtype,) = check_dtypes((dtype,), "dtype")
    rtol, atol = resolve_tolerances(tol).get(dtype)
    data = _batches(batches)
    rules = _rules_for(jax_model, rules)
    jax_model, module = copy_weights(jax_model, torch_module, rules, direction)
    leaves, rebuild = named_params(jax_model)
    names = list(leaves)

    with torch.no_grad():
        for p in itertools.chain(module.parameters(), module.buffers()):
            p.data = to_torch(_cast(to_numpy(p), dtype), device)
    opt = make_torch(module.parameters())
    report = TrainingParityReport(title or type(jax_model).__name__, dtype)

    def loss_fn(params: dict[str, Any], kind: str, tree: Any, target: Any) -> Any:
        return jax_loss(_call(rebuild(params), kind, tree), target)

    def step_fn(params: Any, state: Any, tree: Any, target: Any, kind: str) -> Any:
        value, grads = jax.value_and_grad(loss_fn)(params, kind, tree, target)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    step = jax.jit(step_fn, static_argnames="kind")

    with dtype_context(dtype), pinned_precision():
        params = {n: jnp.asarray(_cast(np.asarray(leaves[n]), dtype)) for n in names}
        state = tx.init(params)
        for k, (inputs, target) in zip(range(steps), itertools.cycle(data), strict=False):
            x = inputs.cast(dtype)
            values = [leaf.value for leaf in x.leaves]
            arrays = [leaf.array for leaf in x.leaves]
            jtarget = jax.tree.map(lambda a: jnp.asarray(_cast(a, dtype)), target)
            jvals = [jnp.asarray(v) if a else v for v, a in zip(values, arrays, strict=True)]
            params, state, jl = step(params, state, x.rebuild(jvals), jtarget, kind=x.kind)
            opt.zero_grad()
            tvals = [to_torch(v, device) if a else v for v, a in zip(values, arrays, strict=True)]
            ttarget = jax.tree.map(lambda a: to_torch(_cast(a, dtype), device), target)
            tl = torch_loss(_call(module, x.kind, x.rebuild(tvals)), ttarget)
            tl.backward()
            opt.step()
            got = named_to_torch({n: np.asarray(params[n]) for n in names}, rules)
            want = {n: to_numpy(p) for n, p in module.named_parameters()}
            jl_f, tl_f = float(jl), float(tl.detach())
            report.steps.append(
                TrainingStep(
                    k + 1,
                    jl_f,
                    tl_f,
                    compare_leaf("loss", jl_f, tl_f, rtol, atol, dtype=dtype, kind="loss"),
                    [
                        compare_leaf(
                            f"param[{n}]", got[n], want[n], rtol, atol, dtype=dtype, kind="param"
                        )
                        for n in want
                        if n in got
                    ],
                )
            )
    return report
