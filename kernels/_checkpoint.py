r"""Scans whose reverse mode runs in bounded memory: segment and binomial checkpointing.

Reverse mode through ``lax.scan`` keeps every iteration's residuals (for a spectral ETDRK4 step
several copies of the state), so the gradient of a loss through ``n`` steps needs ``O(n)``
states of memory. :func:`checkpointed_scan` trades recomputation for memory:

``checkpoint=None``
    plain ``lax.scan``: residuals of all ``n`` iterations, no recomputation.
``checkpoint="sqrt"``
    segments of ``s = ⌈n / c⌉`` iterations (``c = checkpoints``, default ``⌈√n⌉``) under
    ``jax.checkpoint``: the forward pass keeps the carry at every segment start, the backward
    pass recomputes one segment at a time. Memory ``c`` carries plus one segment's residuals
    (``O(√n)`` by default); one extra forward pass. Works with every transformation
    (``jvp`` too).
``checkpoint="binomial"``
    Griewank's binomial checkpointing (*revolve*: A. Griewank and A. Walther, "Algorithm 799:
    revolve", ACM TOMS 26 (2000) 19–45), the offline counterpart of the online scheme behind
    diffrax's ``RecursiveCheckpointAdjoint``. With ``c = checkpoints`` stored carries (default
    ``⌈log2 n⌉``, the choice with an ``O(n log n)`` time bound) and the smallest ``r`` with
    ``β(c, r) = C(c + r, c) >= n``, every iteration is recomputed at most ``r`` times and the
    total recomputation is the minimum, ``r n - β(c + 1, r - 1)`` iterations. Memory ``c``
    carries plus one iteration's residuals. A ``jax.custom_vjp``: ``jit``, ``vmap`` and reverse
    mode (``grad``, ``vjp``) work, forward mode (``jvp``) does not.

Either scheme gives the gradient of plain ``lax.scan`` up to round-off: the same operations are
recomputed on the same values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

C = TypeVar("C")
Y = TypeVar("Y")

__all__ = ["CHECKPOINTS", "checkpointed_scan", "revolve_schedule"]

CHECKPOINTS = (None, "sqrt", "binomial")


def _validate(checkpoint: Any, checkpoints: Any) -> None:
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint: expected one of {CHECKPOINTS}, got {checkpoint!r}")
    if checkpoints is not None:
        if checkpoint is None:
            raise ValueError("checkpoints: only meaningful with checkpoint='sqrt' or 'binomial'")
        if isinstance(checkpoints, bool) or not isinstance(checkpoints, int) or checkpoints < 1:
            raise ValueError(f"checkpoints: expected a positive int, got {checkpoints!r}")


def checkpointed_scan(
    body: Callable[[C], tuple[C, Y]],
    init: C,
    length: int,
    *,
    checkpoint: str | None = None,
    checkpoints: int | None = None,
) -> tuple[C, Y]:
    """``lax.scan(lambda c, _: body(c), init, None, length=length)`` whose reverse mode keeps
    at most ``checkpoints`` carries (module docstring). ``body`` may close over arrays (their
    gradients flow); the carry may hold integer leaves (they get no gradient)."""
    _validate(checkpoint, checkpoints)
    if checkpoint is None or length <= 1:
        return lax.scan(lambda c, _: body(c), init, None, length=length)
    if checkpoint == "sqrt":
        return _segment_scan(body, init, length, checkpoints or math.isqrt(length - 1) + 1)
    return _binomial_scan(body, init, length, checkpoints or max(1, math.ceil(math.log2(length))))


# --- sqrt: segments under jax.checkpoint --------------------------------------------------------


def _segment_scan(body: Callable, init: Any, length: int, segments: int) -> tuple[Any, Any]:
    size = -(-length // min(segments, length))
    full, rest = divmod(length, size)

    def run(c: Any, n: int) -> tuple[Any, Any]:
        return lax.scan(lambda c, _: body(c), c, None, length=n)

    seg = jax.checkpoint(lambda c: run(c, size), prevent_cse=False)
    carry, ys = lax.scan(lambda c, _: seg(c), init, None, length=full)
    ys = jax.tree.map(lambda y: y.reshape(full * size, *y.shape[2:]), ys)
    if rest:
        carry, tail = jax.checkpoint(lambda c: run(c, rest), prevent_cse=False)(carry)
        ys = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), ys, tail)
    return carry, ys


# --- binomial: revolve schedule executed by a custom_vjp ----------------------------------------


def _beta(c: int, r: int) -> int:
    return math.comb(c + r, c) if c >= 0 and r >= 0 else 0


def revolve_schedule(length: int, slots: int) -> tuple[np.ndarray, np.ndarray]:
    """The binomial reversal of ``length`` iterations with ``slots`` stored carries.

    Returns ``(store_at, actions)``. ``store_at[i]`` is the slot that the forward pass fills
    with the carry *before* iteration ``i`` (``-1``: none; slot 0 holds the initial carry).
    ``actions`` is an ``(m, 4)`` int32 table ``(src, advance, dst, reverse)`` executed in order
    by the backward pass: load slot ``src``, run ``advance`` iterations, store the result in
    slot ``dst`` (if ``>= 0``), then reverse iteration ``reverse`` (if ``>= 0``) from it. Splits
    follow Griewank–Walther: for ``l`` iterations, ``c`` slots and the smallest ``r`` with
    ``β(c, r) >= l`` the next carry is stored ``max(l - β(c - 1, r), β(c, r - 2))`` iterations
    ahead, which attains the minimal recomputation ``r l - β(c + 1, r - 1)``.
    """
    actions: list[tuple[int, int, int, int]] = []

    def reverse(start: int, n: int, slot: int, c: int) -> None:
        # iterations [start, start + n) with the carry at ``start`` in ``slot`` and ``c`` slots
        # (``slot`` included) free for this sub-reversal
        while n > 0:
            if n == 1:
                actions.append((slot, 0, -1, start))
                return
            if c == 1:
                actions.extend((slot, i, -1, start + i) for i in range(n - 1, -1, -1))
                return
            r = 0
            while _beta(c, r) < n:
                r += 1
            m = min(n - 1, max(1, n - _beta(c - 1, r), _beta(c, r - 2)))
            actions.append((slot, m, slot + 1, -1))
            reverse(start + m, n - m, slot + 1, c - 1)
            n = m  # then [start, start + m) with the same c slots

    reverse(0, length, 0, slots)
    table = np.asarray(actions, dtype=np.int32).reshape(-1, 4)
    store_at = np.full(length, -1, dtype=np.int32)
    store_at[0] = 0
    chain, position = 0, 0  # the leading advance-and-store chain is the forward pass's job
    while chain < len(table) and table[chain, 3] < 0 and table[chain, 2] == chain + 1:
        position += int(table[chain, 1])
        store_at[position] = table[chain, 2]
        chain += 1
    return store_at, table[chain:]


def _split(tree: Any) -> tuple[list[Any], list[Any], Callable[[list[Any], list[Any]], Any]]:
    """``(inexact leaves, other leaves, join)``: only inexact leaves carry cotangents."""
    leaves, treedef = jax.tree.flatten(tree)
    is_f = [jnp.issubdtype(jnp.result_type(x), jnp.inexact) for x in leaves]

    def join(fl: list[Any], other: list[Any]) -> Any:
        fi, oi = iter(fl), iter(other)
        return treedef.unflatten([next(fi) if f else next(oi) for f in is_f])

    return (
        [x for x, f in zip(leaves, is_f, strict=True) if f],
        [x for x, f in zip(leaves, is_f, strict=True) if not f],
        join,
    )


def _varying_like(x: jax.Array, ref: jax.Array) -> jax.Array:
    """``x`` marked as varying over the mesh axes ``ref`` varies over (inside ``shard_map``
    both branches of a ``lax.cond`` and every loop carry must agree on it)."""
    missing = tuple(
        getattr(jax.typeof(ref), "vma", frozenset()) - getattr(jax.typeof(x), "vma", frozenset())
    )
    return lax.pcast(x, missing, to="varying") if missing else x


def _binomial_scan(body: Callable, init: Any, length: int, slots: int) -> tuple[Any, Any]:
    slots = min(slots, length)
    store_at, actions = revolve_schedule(length, slots)
    # every closed-over array (not only the floating ones jax.closure_convert hoists) becomes an
    # argument of the custom_vjp: integer tracers of an enclosing trace must not leak into it
    fn_dyn, fn_static = eqx.partition(eqx.filter_closure_convert(body, init), eqx.is_array)
    consts_f, consts_o, join_consts = _split(fn_dyn)
    init_f, init_o, join = _split(init)

    def step(carry: Any, consts_f: list[Any], consts_o: list[Any]) -> tuple[Any, Any]:
        return eqx.combine(join_consts(consts_f, consts_o), fn_static)(carry)

    @jax.custom_vjp
    def run(carry_f: list, carry_o: list, consts_f: list, consts_o: list) -> tuple[Any, Any]:
        return lax.scan(
            lambda c, _: step(c, consts_f, consts_o), join(carry_f, carry_o), None, length=length
        )

    def fwd(carry_f: list, carry_o: list, consts_f: list, consts_o: list):
        carry = join(carry_f, carry_o)
        snaps = jax.tree.map(lambda x: jnp.broadcast_to(x, (slots, *jnp.shape(x))), carry)

        def iteration(state: tuple[Any, Any], slot: jax.Array):
            c, snaps = state
            snaps = lax.cond(
                slot >= 0,
                lambda s: jax.tree.map(lambda buf, x: buf.at[slot].set(x), s, c),
                lambda s: s,
                snaps,
            )
            c, y = step(c, consts_f, consts_o)
            return (c, snaps), y

        (final, snaps), ys = lax.scan(iteration, (carry, snaps), jnp.asarray(store_at))
        return (final, ys), (snaps, consts_f, consts_o)

    def bwd(res: tuple[Any, list, list], ct: tuple[Any, Any]):
        snaps, consts_f, consts_o = res
        ct_final, ct_ys = ct
        ct_carry = list(map(_varying_like, _split(ct_final)[0], _split(snaps)[0]))
        ct_ys_f, _, _ = _split(ct_ys)

        def reverse_one(x: Any, ct_carry: list, ct_consts: list, i: jax.Array):
            x_f, x_o, _ = _split(x)

            def f(x_f: list, consts_f: list):
                c, y = step(join(x_f, x_o), consts_f, consts_o)
                return _split(c)[0], _split(y)[0]

            _, vjp = jax.vjp(f, x_f, consts_f)
            ct_x, ct_c = vjp((ct_carry, [y[i] for y in ct_ys_f]))
            return ct_x, jax.tree.map(jnp.add, ct_consts, ct_c)

        def action(k: jax.Array, state: tuple[Any, list, list]):
            snaps, ct_carry, ct_consts = state
            src, adv, dst, rev = (table[k, j] for j in range(4))
            work = jax.tree.map(lambda buf: buf[src], snaps)
            work = lax.fori_loop(0, adv, lambda _, c: step(c, consts_f, consts_o)[0], work)
            snaps = lax.cond(
                dst >= 0,
                lambda s: jax.tree.map(lambda buf, x: buf.at[dst].set(x), s, work),
                lambda s: s,
                snaps,
            )
            ct_carry, ct_consts = lax.cond(
                rev >= 0,
                lambda a: reverse_one(work, a[0], a[1], rev),
                lambda a: a,
                (ct_carry, ct_consts),
            )
            return snaps, ct_carry, ct_consts

        table = jnp.asarray(actions)
        zeros = [_varying_like(jnp.zeros_like(c), c) for c in consts_f]
        _, ct_init, ct_consts = lax.fori_loop(0, len(actions), action, (snaps, ct_carry, zeros))
        return ct_init, [None] * len(init_o), ct_consts, [None] * len(consts_o)

    run.defvjp(fwd, bwd)
    return run(init_f, init_o, consts_f, consts_o)
