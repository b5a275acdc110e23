"""This machine's ceilings, measured in the same run as the kernels they normalise.

* SGEMM: a float32 ``n x n`` matmul under ``jit`` (``2 n^3`` flops per call).
* Streaming bandwidth: a STREAM-style triad ``a = b + s * c`` over arrays far larger than the
  last-level cache; bytes moved = 3 arrays x 4 bytes x n (read b, read c, write a).

The best of the JAX and NumPy measurements is the ceiling (each library reaches a different
fraction of the hardware; the ceiling is what the hardware allowed at least once).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np

from parallax.bench._timing import Timer

__all__ = ["Ceilings", "measure_ceilings"]


@dataclass(frozen=True)
class Ceilings:
    sgemm_gflops: float
    stream_gbps: float
    sgemm_n: int
    stream_mib: float

    def to_json(self) -> dict[str, float]:
        return asdict(self)


def _best_seconds(fn, samples: int) -> float:
    t = Timer(fn, min_sample_s=0.05)
    t.warmup()
    for _ in range(samples):
        t.sample()
    return t.stats().min


def measure_ceilings(
    *, sgemm_n: int = 2048, stream_mib: float = 256.0, samples: int = 7
) -> Ceilings:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((sgemm_n, sgemm_n), dtype=np.float32)
    b = rng.standard_normal((sgemm_n, sgemm_n), dtype=np.float32)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    with jax.default_matmul_precision("highest"):
        mm = jax.jit(jnp.matmul).lower(ja, jb).compile()
    t_jax = _best_seconds(lambda: mm(ja, jb), samples)
    t_np = _best_seconds(lambda: a @ b, samples)
    gflops = 2.0 * sgemm_n**3 / min(t_jax, t_np) / 1e9

    n = int(stream_mib * 2**20 / 4 / 3)
    x = rng.standard_normal(n, dtype=np.float32)
    y = rng.standard_normal(n, dtype=np.float32)
    out = np.empty_like(x)
    jx, jy = jnp.asarray(x), jnp.asarray(y)
    triad = jax.jit(lambda u, v: u + np.float32(3.0) * v).lower(jx, jy).compile()

    def np_triad() -> np.ndarray:
        np.multiply(y, np.float32(3.0), out=out)
        return np.add(x, out, out=out)

    t_jax = _best_seconds(lambda: triad(jx, jy), samples)
    # numpy's two-pass triad moves 5 arrays' worth of bytes, not 3
    t_np = _best_seconds(np_triad, samples) * 3 / 5
    gbps = 3.0 * 4 * n / min(t_jax, t_np) / 1e9
    return Ceilings(gflops, gbps, sgemm_n, stream_mib)
