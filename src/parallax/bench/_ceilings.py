"""This machine's ceilings, measured in the same run as the kernels they normalise.

* SGEMM: a float32 ``n x n`` matmul under ``jit`` at ``highest`` precision (``2 n^3`` flops per
  call; on a GPU that is IEEE float32, not TF32).
* Streaming bandwidth: a STREAM-style triad ``a = b + s * c`` over arrays far larger than the
  last-level cache; bytes moved = 3 arrays x 4 bytes x n (read b, read c, write a).
* Copy bandwidth: one array read and one written (``-x`` under ``jit``, and with
  ``torch_device`` torch's ``dst.copy_(src)``, a device-to-device memcpy on a GPU); bytes
  moved = 2 x 4 bytes x n.

JAX measures on its default device. Where that is the CPU, NumPy measures too, and the best of
the two is the ceiling (each library reaches a different fraction of the hardware; the ceiling
is what the hardware allowed at least once). On an accelerator NumPy would measure the host, so
it is left out. The bandwidth ceiling is the best of triad and copy.
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
    copy_gbps: float | None = None

    @property
    def bandwidth_gbps(self) -> float:
        """The best streaming bandwidth measured (triad or copy): what ``%peak`` divides by."""
        return max(self.stream_gbps, self.copy_gbps or 0.0)

    def to_json(self) -> dict[str, float | None]:
        return {**asdict(self), "bandwidth_gbps": self.bandwidth_gbps}


def _best_seconds(fn, samples: int) -> float:
    t = Timer(fn, min_sample_s=0.05)
    t.warmup()
    for _ in range(samples):
        t.sample()
    return t.stats().min


def _torch_copy_seconds(n: int, device: str, samples: int) -> float:
    import torch

    src = torch.randn(n, device=device, dtype=torch.float32)
    dst = torch.empty_like(src)
    return _best_seconds(lambda: dst.copy_(src), samples)


def measure_ceilings(
    *,
    sgemm_n: int = 2048,
    stream_mib: float = 256.0,
    samples: int = 7,
    torch_device: str | None = None,
) -> Ceilings:
    """Measure SGEMM, triad and copy ceilings (``stream_mib`` is the triad's three arrays
    together; the copy moves arrays of the same size)."""
    on_host = jax.default_backend() == "cpu"
    rng = np.random.default_rng(0)
    a = rng.standard_normal((sgemm_n, sgemm_n), dtype=np.float32)
    b = rng.standard_normal((sgemm_n, sgemm_n), dtype=np.float32)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    with jax.default_matmul_precision("highest"):
        mm = jax.jit(jnp.matmul).lower(ja, jb).compile()
    times = [_best_seconds(lambda: mm(ja, jb), samples)]
    if on_host:
        times.append(_best_seconds(lambda: a @ b, samples))
    gflops = 2.0 * sgemm_n**3 / min(times) / 1e9

    n = int(stream_mib * 2**20 / 4 / 3)
    x = rng.standard_normal(n, dtype=np.float32)
    y = rng.standard_normal(n, dtype=np.float32)
    jx, jy = jnp.asarray(x), jnp.asarray(y)
    triad = jax.jit(lambda u, v: u + np.float32(3.0) * v).lower(jx, jy).compile()
    times = [_best_seconds(lambda: triad(jx, jy), samples)]
    if on_host:
        out = np.empty_like(x)

        def np_triad() -> np.ndarray:
            np.multiply(y, np.float32(3.0), out=out)
            return np.add(x, out, out=out)

        # numpy's two-pass triad moves 5 arrays' worth of bytes, not 3
        times.append(_best_seconds(np_triad, samples) * 3 / 5)
    gbps = 3.0 * 4 * n / min(times) / 1e9

    negate = jax.jit(jnp.negative).lower(jx).compile()
    times = [_best_seconds(lambda: negate(jx), samples)]
    if torch_device is not None:
        times.append(_torch_copy_seconds(n, torch_device, samples))
    copy = 2.0 * 4 * n / min(times) / 1e9
    return Ceilings(gflops, gbps, sgemm_n, stream_mib, copy)
