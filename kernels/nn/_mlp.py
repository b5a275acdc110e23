r"""Dense layers, the two-layer MLP and gated MLPs (GLU variants, Shazeer 2020).

.. math::
    \operatorname{MLP}(x) = \phi(x W_1 + b_1) W_2 + b_2, \qquad
    \operatorname{GLU}_\phi(x) = \big(\phi(x W_g + b_g) \odot (x W_u + b_u)\big) W_d + b_d

SwiGLU is ``GLU`` with ``φ = silu``; GeGLU with ``φ = gelu`` (Shazeer, 2020, "GLU variants
improve transformer"). The activation is always an explicit argument: GELU exists in two forms,
``"gelu_exact"`` (``x Φ(x)``, torch's default) and ``"gelu_tanh"`` (the tanh approximation,
``jax.nn.gelu``'s default); there is no bare ``"gelu"``.

Parameter pytrees (flat dicts); weights are ``(in, out)`` like flax's ``Dense.kernel`` —
torch's ``nn.Linear.weight`` is ``(out, in)``, so a port transposes::

    linear:    {"kernel": (d_in, d_out), "bias": (d_out,)}                   # bias optional
    mlp:       {"w1": (d_in, d_hidden), "b1": (d_hidden,),
                "w2": (d_hidden, d_out), "b2": (d_out,)}                      # biases optional
    gated_mlp: {"w_gate": (d_in, d_hidden), "w_up": (d_in, d_hidden),
                "w_down": (d_hidden, d_out), "b_gate", "b_up", "b_down"}     # biases optional
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import check_array, check_keys
from parallax.kernels._platform import cpu_or_default, unsharded
from parallax.kernels.nn import _mkl_mlp
from parallax.kernels.nn._mkl_matmul import dense

__all__ = ["ACTIVATIONS", "gated_mlp", "get_activation", "linear", "mlp"]

Activation = Literal["gelu_exact", "gelu_tanh", "relu", "silu", "tanh", "identity"]

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "gelu_exact": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "tanh": jnp.tanh,
    "identity": lambda x: x,
}


def get_activation(name: str) -> Callable[[Array], Array]:
    """The activation function called ``name`` (one of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        hint = " (say 'gelu_exact' or 'gelu_tanh')" if name == "gelu" else ""
        raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {name!r}{hint}")
    return ACTIVATIONS[name]


def contraction_out_sharding(x: Array, w: Array) -> jax.NamedSharding | None:
    """The ``out_sharding`` of ``x (..., K) @ w (K, N)`` on an Explicit-axes mesh when ``K`` is
    sharded (a row-parallel layer, Megatron's ``g``): the product is a sum over the shards of
    ``K`` and jax asks for its layout. It is ``x``'s leading layout and ``w``'s output layout
    (mesh axes already used by the leading dimensions dropped), i.e. the all-reduced result.
    ``None`` (let jax infer) on Auto meshes, without a mesh, or when ``K`` is not sharded."""
    xs = getattr(jax.typeof(x), "sharding", None)
    ws = getattr(jax.typeof(w), "sharding", None)
    mesh = getattr(xs, "mesh", None)
    if mesh is None or mesh.empty or jax.sharding.AxisType.Explicit not in mesh.axis_types:
        return None
    xspec = tuple(xs.spec) + (None,) * (x.ndim - len(xs.spec))  # type: ignore[union-attr]
    wspec = tuple(ws.spec) + (None,) * (w.ndim - len(ws.spec))  # type: ignore[union-attr]
    if xspec[-1] is None and wspec[0] is None:
        return None

    def axes(e: object) -> tuple[str, ...]:
        return () if e is None else (e,) if isinstance(e, str) else tuple(e)  # type: ignore[arg-type]

    used = {a for e in xspec[:-1] for a in axes(e)}
    kept = tuple(a for a in axes(wspec[-1]) if a not in used)
    out = None if not kept else kept[0] if len(kept) == 1 else kept
    return jax.NamedSharding(mesh, jax.P(*xspec[:-1], out))


def project(x: Array, w: Array) -> Array:
    """``x (..., k) @ w (k, n)``: MKL's GEMM on CPU for unsharded float32/float64 operands
    (:func:`parallax.kernels.nn._mkl_matmul.dense`), ``jnp.matmul`` with the
    :func:`contraction_out_sharding` of a row-parallel layer when ``k`` is sharded."""
    out_sharding = contraction_out_sharding(x, w)
    if out_sharding is not None:
        return jnp.matmul(x, w, out_sharding=out_sharding)
    return dense(x, w)


TOKENS_PER_CHUNK = 512
"""Tokens per chunk when an MLP runs chunked on CPU (:func:`_cpu_token_chunks`)."""


def _chunk_size(tokens: int) -> int | None:
    """The largest divisor of ``tokens`` in ``[TOKENS_PER_CHUNK / 4, TOKENS_PER_CHUNK]`` that
    leaves at least two chunks, or None (also for a symbolic count: an exported
    shape-polymorphic program runs whole)."""
    if not isinstance(tokens, int):
        return None
    for c in range(min(TOKENS_PER_CHUNK, tokens // 2), TOKENS_PER_CHUNK // 4 - 1, -1):
        if tokens % c == 0:
            return c
    return None


def _cpu_token_chunks(f: Callable[[Array], Array], x: Array) -> Array:
    """``f(x)`` for a token-wise ``f`` over ``x (..., d_in)``; on CPU evaluated
    ``TOKENS_PER_CHUNK`` tokens at a time (``lax.map``).

    The ``(tokens, d_hidden)`` intermediates of a whole batch are tens of MB: XLA:CPU allocates
    them afresh on every call (above glibc's 32 MiB mmap threshold, one page fault per 4 KiB)
    and streams them through memory between the products. Per chunk they are a few MB, reused
    from one chunk to the next. GPU/TPU, and any sharded input or active mesh (where chunking
    the token axis would fight the partitioner), take ``f(x)`` whole."""
    tokens = math.prod(x.shape[:-1])
    chunk = _chunk_size(tokens)

    def chunked(x: Array) -> Array:
        assert chunk is not None
        y = jax.lax.map(f, x.reshape(tokens // chunk, chunk, x.shape[-1]))
        return y.reshape(*x.shape[:-1], y.shape[-1])

    return cpu_or_default(chunk is not None, chunked, f, x)


def _check_layer(d_in: int, dtype: jnp.dtype, w: Array, b: Array | None, wname: str, bname: str):
    """Checks one layer's ``w (d_in, d_out)`` and ``b (d_out,)`` against its input."""
    check_array(f"params['{wname}']", w, ndim=2)
    if w.shape[0] != d_in:
        raise ValueError(
            f"params['{wname}']: expected shape ({d_in}, d_out) (layout (in, out)) for "
            f"input features {d_in}, got {tuple(w.shape)}"
        )
    if w.dtype != dtype:
        raise TypeError(f"params['{wname}']: expected dtype {dtype} (as x), got {w.dtype}")
    if b is not None:
        check_array(f"params['{bname}']", b, shape=(w.shape[1],))
        if b.dtype != dtype:
            raise TypeError(f"params['{bname}']: expected dtype {dtype} (as x), got {b.dtype}")


def _affine(x: Array, w: Array, b: Array | None) -> Array:
    y = project(x, w)
    return y if b is None else y + b.reshape((1,) * (y.ndim - 1) + (b.shape[0],))


@functools.cache
def _layers(activation: str, gated: bool) -> Callable[..., Array]:
    """The (gated) MLP over ``x (..., d_in)`` in JAX's ops, token-chunked on CPU; params as
    :func:`parallax.kernels.nn._mkl_mlp.token_mlp` takes them (a bias may be None)."""
    act = get_activation(activation)

    def layers(x: Array, *p: Array | None) -> Array:
        if gated:
            wg, bg, wu, bu, wd, bd = p

            def rows(x: Array) -> Array:
                g = act(_affine(x, wg, bg))  # type: ignore[arg-type]
                return _affine(g * _affine(x, wu, bu), wd, bd)  # type: ignore[arg-type]
        else:
            w1, b1, w2, b2 = p

            def rows(x: Array) -> Array:
                return _affine(act(_affine(x, w1, b1)), w2, b2)  # type: ignore[arg-type]

        return _cpu_token_chunks(rows, x)

    return layers


def _run(x: Array, params: tuple[Array | None, ...], activation: str, gated: bool) -> Array:
    """The MLP: the one-pass CPU handler (:mod:`parallax.kernels.nn._mkl_mlp`) for unsharded
    float32/float64 operands, else :func:`_layers`."""
    layers = _layers(activation, gated)
    present = [p for p in params if p is not None]
    if not (_mkl_mlp.applies(x, activation) and unsharded(x, *present)) or x.ndim == 0:
        return layers(x, *params)
    if not _mkl_mlp.available():
        return layers(x, *params)
    full = tuple(
        jnp.zeros((params[i - 1].shape[1],), x.dtype) if p is None else p  # type: ignore[union-attr]
        for i, p in enumerate(params)
    )
    y = _mkl_mlp.token_mlp(
        x.reshape(-1, x.shape[-1]), full, activation=activation, reference=layers
    )
    return y.reshape(*x.shape[:-1], y.shape[-1])


def linear(
    params: Mapping[str, Array], x: Float[Array, "*batch d_in"]
) -> Float[Array, "*batch d_out"]:
    """``x @ kernel + bias`` with ``kernel`` of shape ``(d_in, d_out)``."""
    check_array("x", x, min_ndim=1)
    check_keys(params, ("kernel",), ("bias",))
    _check_layer(x.shape[-1], x.dtype, params["kernel"], params.get("bias"), "kernel", "bias")
    return _affine(x, params["kernel"], params.get("bias"))


def mlp(
    params: Mapping[str, Array],
    x: Float[Array, "*batch d_in"],
    *,
    activation: Activation,
) -> Float[Array, "*batch d_out"]:
    """Two-layer perceptron ``φ(x W1 + b1) W2 + b2``."""
    check_array("x", x, min_ndim=1)
    check_keys(params, ("w1", "w2"), ("b1", "b2"))
    get_activation(activation)
    w1, b1, w2, b2 = (params.get(k) for k in ("w1", "b1", "w2", "b2"))
    _check_layer(x.shape[-1], x.dtype, w1, b1, "w1", "b1")  # type: ignore[arg-type]
    _check_layer(w1.shape[1], x.dtype, w2, b2, "w2", "b2")  # type: ignore[union-attr,arg-type]
    return _run(x, (w1, b1, w2, b2), activation, gated=False)


def gated_mlp(
    params: Mapping[str, Array],
    x: Float[Array, "*batch d_in"],
    *,
    activation: Activation,
) -> Float[Array, "*batch d_out"]:
    """Gated MLP ``(φ(x W_gate) ⊙ x W_up) W_down``: SwiGLU with ``"silu"``, GeGLU with
    ``"gelu_exact"`` or ``"gelu_tanh"``."""
    check_array("x", x, min_ndim=1)
    check_keys(params, ("w_gate", "w_up", "w_down"), ("b_gate", "b_up", "b_down"))
    get_activation(activation)
    if params["w_gate"].shape != params["w_up"].shape:
        raise ValueError(
            f"params['w_up']: expected the shape of params['w_gate'] "
            f"{tuple(params['w_gate'].shape)}, got {tuple(params['w_up'].shape)}"
        )
    names = ("w_gate", "b_gate", "w_up", "b_up", "w_down", "b_down")
    wg, bg, wu, bu, wd, bd = (params.get(k) for k in names)
    _check_layer(x.shape[-1], x.dtype, wg, bg, "w_gate", "b_gate")  # type: ignore[arg-type]
    _check_layer(x.shape[-1], x.dtype, wu, bu, "w_up", "b_up")  # type: ignore[arg-type]
    _check_layer(wg.shape[1], x.dtype, wd, bd, "w_down", "b_down")  # type: ignore[union-attr,arg-type]
    return _run(x, (wg, bg, wu, bu, wd, bd), activation, gated=True)
