"""Bytes communicated per device per step vs the analytic minimum, per preset and decomposition.

``parallax bench --comms`` (8 simulated CPU devices unless devices exist already) prints one row
per case: the measured bytes sent per device (from :func:`parallax.sharding.comms_report` of the
compiled step), the analytic minimum, and their ratio. :func:`comms_rows` returns the rows, for
the CLI or a notebook. It lives in the core (not in :mod:`parallax.sharding`) because its
training cases build :mod:`parallax.models`.

Analytic minima (bytes sent per device, ring costs as in :mod:`parallax.sharding._comms`):

* halo exchange, width ``w``: ``2 w face`` per sharded dimension (``face`` = local cells of the
  block's cross-section, times the item size);
* distributed FFT: one all-to-all per mesh axis, ``(p - 1)/p`` of the local block each (slab: 1,
  pencil: 2); real-to-complex (``real=True``): the local block is the half spectrum
  ``shape[:-1] x n/2`` (Nyquist mode dropped), half the complex-to-complex bytes;
* ring N-body: ``p - 1`` shifts of one block of positions and masses (one shift per scan
  iteration, as the report counts loop bodies once);
* training, per parameter with local (fully sharded) size ``L`` bytes, data-axis size ``d``,
  model-axis size ``m``: sharded over ``data`` (FSDP) -> all-gather + reduce-scatter, ``2 (d-1) L``;
  replicated over ``data`` -> gradient all-reduce, ``2 (d-1)/d L``. Tensor parallelism adds, per
  transformer block, Megatron's activation all-reduces over ``model`` (two forward, two backward):
  ``2 (m-1)/m A`` each with ``A`` the local activation bytes ``(batch/d) x seq x embed`` (see
  ``_train_rows`` for the derivation).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

__all__ = ["CommsRow", "comms_rows", "comms_table"]


@dataclasses.dataclass(frozen=True)
class CommsRow:
    case: str
    measured: float
    minimum: float
    detail: str

    @property
    def ratio(self) -> float:
        return self.measured / self.minimum if self.minimum else float("nan")


def _halo_rows(size: str) -> list[CommsRow]:
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from parallax.sharding import comms_report, make_mesh, sharded_laplacian, sharded_stencil

    rows = []
    n2, n3 = (2048, 128) if size == "bench" else (64, 16)
    cases = [
        ("halo 2D w=1", (n2, n2), {"x": 4, "y": 2}, P("x", "y"), 1, False),
        ("halo 2D w=2 (corners)", (n2, n2), {"x": 4, "y": 2}, P("x", "y"), 2, True),
        ("halo 3D w=1", (n3, n3, n3), {"x": 2, "y": 2, "z": 2}, P("x", "y", "z"), 1, False),
    ]
    for name, shape, mspec, spec, w, corners in cases:
        mesh = make_mesh(mspec)
        dims = tuple(range(len(shape)))

        def lap(u: Any, dims: tuple[int, ...] = dims) -> Any:
            out = jnp.zeros_like(u)
            for a in dims:
                out = out + jnp.roll(u, 1, a) + jnp.roll(u, -1, a) - 2 * u
            return out

        g = sharded_stencil(lap, mesh, spec, width=w, corners=corners)
        u = jax.device_put(jnp.zeros(shape, jnp.float32), NamedSharding(mesh, spec))
        rep = comms_report(jax.jit(g), u)
        local = [n // mesh.shape[a] for n, a in zip(shape, spec, strict=True)]
        minimum = sum(2 * w * math.prod(local) / local[d] * 4 for d in range(len(shape)))
        rows.append(CommsRow(name, rep.total_bytes, minimum, f"{shape} over {mspec}"))
    # sharded_laplacian, Dirichlet: zero-filled halos at the global edges (w = order // 2),
    # one-sided rows and boundary zeros by global index: still 2 w face per sharded dimension
    for name, shape, mspec, spec, order in [
        ("FD Laplacian 2D o4 Dirichlet", (n2, n2), {"x": 4, "y": 2}, P("x", "y"), 4),
        ("FD Laplacian 3D o2 Dirichlet", (n3,) * 3, {"x": 2, "y": 2, "z": 2}, P("x", "y", "z"), 2),
    ]:
        mesh = make_mesh(mspec)
        fd = sharded_laplacian(mesh, spec, ndim=len(shape), order=order, bc="dirichlet")
        u = jax.device_put(jnp.zeros(shape, jnp.float32), NamedSharding(mesh, spec))
        rep = comms_report(jax.jit(fd), u, jnp.full((len(shape),), 0.1, jnp.float32))
        local = [n // mesh.shape[a] for n, a in zip(shape, spec, strict=True)]
        w = order // 2
        minimum = sum(2 * w * math.prod(local) / local[d] * 4 for d in range(len(shape)))
        rows.append(CommsRow(name, rep.total_bytes, minimum, f"{shape} over {mspec}"))
    return rows


def _fft_rows(size: str) -> list[CommsRow]:
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding

    from parallax.sharding import comms_report, distributed_fft, make_mesh

    rows = []
    n2, n3 = (1024, 128) if size == "bench" else (64, 16)
    for name, shape, mspec, axes, real in [
        ("slab FFT 2D", (n2, n2), {"a": 8}, ("a",), False),
        ("slab rFFT 2D (r2c)", (n2, n2), {"a": 8}, ("a",), True),
        ("pencil FFT 3D", (n3, n3, n3), {"a": 4, "b": 2}, ("a", "b"), False),
        ("pencil rFFT 3D (r2c)", (n3, n3, n3), {"a": 4, "b": 2}, ("a", "b"), True),
    ]:
        mesh = make_mesh(mspec)
        d = distributed_fft(mesh, shape, axes, real=real)
        # r2c: float32 in, complex64 spectrum of shape[:-1] x n/2 (Nyquist dropped): half the
        # c2c minimum, sum over axes (p-1)/p x local spectrum bytes
        dtype = jnp.float32 if real else jnp.complex64
        x = jax.device_put(jnp.zeros(shape, dtype), NamedSharding(mesh, d.physical_spec()))
        rep = comms_report(jax.jit(d.fft), x)
        detail = f"{shape} {mspec}, spectrum {d.spectral_shape}"
        rows.append(CommsRow(name, rep.total_bytes, d.transpose_bytes(8), detail))
    # a sharded spectral stepper: only transposes, each at its layout's minimum. NS 2D ETDRK4:
    # 4 nonlinear evaluations x (2 inverse + 2 forward, Basdevant's form) per step (the scan
    # body, counted once), plus the forward transform of u0 and the inverse of the result (the
    # forcing's spectrum is written in closed form, not transformed).
    from parallax.sharding import sharded_navier_stokes_2d

    mesh = make_mesh({"a": 8})
    d = distributed_fft(mesh, (n2, n2), ("a",))
    u = jax.device_put(jnp.zeros((n2, n2), jnp.float32), NamedSharding(mesh, d.physical_spec()))
    for real in (False, True):
        st = sharded_navier_stokes_2d(d, 1e-3, 1e-3, 0.1, 1.0, real=real)
        rep = comms_report(jax.jit(lambda w, st=st: st.rollout(w, 2)), u)
        minimum = (4 * 4 + 2) * st.ops.transpose_bytes(8)
        name = f"NS 2D ETDRK4 rollout ({'r2c' if real else 'c2c'})"
        rows.append(CommsRow(name, rep.total_bytes, minimum, f"{(n2, n2)} {{'a': 8}}, 18 FFTs"))
    return rows


def _nbody_rows(size: str) -> list[CommsRow]:
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from parallax.sharding import comms_report, make_mesh, ring_accelerations

    n = 8192 if size == "bench" else 64
    mesh = make_mesh({"p": 8})
    acc = ring_accelerations(mesh, "p")
    x = jax.device_put(jnp.zeros((n, 3), jnp.float32), NamedSharding(mesh, P("p")))
    m = jnp.ones((n,), jnp.float32)
    rep = comms_report(jax.jit(acc), x, m, jnp.float32(0.1), jnp.float32(1.0))
    minimum = (n // 8) * 4 * 4  # one shift of positions (3) and masses (1); x (p-1) per step
    return [CommsRow("ring N-body (per shift)", rep.total_bytes, minimum, f"n={n}, p=8")]


def _train_rows(size: str) -> list[CommsRow]:
    import jax
    import jax.numpy as jnp
    import optax

    from parallax.models import TransformerConfig, logical_axes, transformer_apply, transformer_init
    from parallax.sharding import (
        comms_report,
        logical_shardings,
        make_mesh,
        make_train_step,
        rules,
        shard_train_state,
    )

    if size == "bench":
        cfg = TransformerConfig(embed=256, depth=2, heads=8, mlp_hidden=1024, rope_base=None)
        batch, seq = 32, 64
    else:
        cfg = TransformerConfig(embed=16, depth=1, heads=4, mlp_hidden=32, rope_base=None)
        batch, seq = 8, 4
    params = transformer_init(cfg, jax.random.key(0))
    logical = logical_axes(params)
    x = jnp.zeros((batch, seq, cfg.embed), jnp.float32)
    y = jnp.zeros((batch, seq, cfg.embed), jnp.float32)

    def loss(p: Any, b: Any) -> Any:
        return jnp.mean((transformer_apply(cfg, p, b[0]) - b[1]) ** 2)

    opt = optax.sgd(0.1)
    mesh = make_mesh({"data": 4, "model": 2})
    d, m = mesh.shape["data"], mesh.shape["model"]
    rows = []
    variants = [
        ("dp", "dp", {}),
        ("fsdp", "fsdp (auto, gather once)", {"gather_axes": ("data",)}),
        ("fsdp", "fsdp (explicit)", {"fsdp_axis": "data"}),
        ("tp", "tp", {}),
        ("fsdp_tp", "fsdp_tp (auto)", {"gather_axes": ("data",)}),
        ("fsdp_tp", "fsdp_tp (explicit)", {"fsdp_axis": "data"}),
        # the same steps on a mesh with Explicit axes ("[Explicit]")
        ("tp", "tp [Explicit]", {}),
        ("fsdp_tp", "fsdp_tp expl. [Explicit]", {"fsdp_axis": "data"}),
    ]
    auto_mesh = mesh
    explicit_mesh = make_mesh({"data": 4, "model": 2}, axis_types="explicit")
    for preset, label, kwargs in variants:
        mesh = explicit_mesh if label.endswith("[Explicit]") else auto_mesh
        rule_set = rules(preset)
        st = shard_train_state(params, logical, opt, mesh, rule_set)
        bs = logical_shardings((x, y), (("batch", None, None),) * 2, mesh, rule_set)
        step = make_train_step(loss, opt, mesh, st.param_shardings, st.opt_shardings, bs, **kwargs)
        with jax.set_mesh(mesh):
            rep = comms_report(step.jitted, st.params, st.opt_state, (x, y))
        minimum = 0.0
        for leaf, sh in zip(
            jax.tree.leaves(params), jax.tree.leaves(st.param_shardings), strict=True
        ):
            used = {
                a for e in sh.spec if e is not None for a in (e if isinstance(e, tuple) else (e,))
            }
            local = leaf.size * leaf.dtype.itemsize / math.prod(mesh.shape[a] for a in used)
            minimum += 2 * (d - 1) * local if "data" in used else 2 * (d - 1) / d * local
        if preset in ("tp", "fsdp_tp"):
            # Megatron-LM tensor parallelism (Shoeybi et al. 2019, sec. 3): per block the
            # attention (q/k/v column-parallel over heads, wo row-parallel) and the MLP (w1
            # column-, w2 row-parallel) each end in a partial sum over ``model``: one forward
            # all-reduce ("g") each. Their backward mirrors it: the cotangent of each
            # sub-layer's (replicated) input is a sum over the model shards of
            # dy_m W_m^T, one all-reduce ("f") each, provided q, k and v are contracted as one
            # (kernels.nn._attention._grouped_projection; separately it is three). So 4 per
            # block of A = (batch/d) seq embed floats, 2 (m-1)/m A bytes each. The first
            # block's backward one is needed too: the pre-norm's scale/bias gradients read the
            # model-summed input cotangent (a hand-written norm backward could sum over batch
            # and seq first and all-reduce two embed-vectors instead; neither Megatron nor
            # XLA does).
            act = (batch // d) * seq * cfg.embed * 4
            minimum += 4 * cfg.depth * 2 * (m - 1) / m * act
        detail = ", ".join(f"{k}:{c}" for k, (c, _) in rep.summary().items())
        rows.append(CommsRow(f"train {label}", rep.total_bytes, minimum, detail))
    return rows


def comms_rows(size: str = "bench") -> list[CommsRow]:
    """All rows (``size="bench"`` realistic, ``"test"`` tiny); needs >= 8 devices."""
    return [*_halo_rows(size), *_fft_rows(size), *_nbody_rows(size), *_train_rows(size)]


def comms_table(rows: list[CommsRow]) -> str:
    lines = [f"{'case':<30}{'bytes/device':>16}{'minimum':>16}{'ratio':>8}  detail"]
    for r in rows:
        lines.append(
            f"{r.case:<30}{r.measured:>16,.0f}{r.minimum:>16,.0f}{r.ratio:>8.2f}  {r.detail}"
        )
    return "\n".join(lines)
