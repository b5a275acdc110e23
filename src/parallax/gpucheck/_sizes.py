"""Problem sizes: the device run's and the dry run's (tiny, CPU, seconds)."""

from __future__ import annotations

from dataclasses import dataclass

from parallax.gpucheck._attention import AttentionGrid
from parallax.models import FNOConfig, TransformerConfig

__all__ = ["DRY", "GPU", "Sizes"]


@dataclass(frozen=True)
class Sizes:
    """``case`` is the registry case the kernel benches time; ``parity_kernels`` the default
    parity selection (``None``: every registered kernel)."""

    case: str
    attention: AttentionGrid
    fno: FNOConfig
    fno_batch: int
    fno_grid: tuple[int, ...]
    transformer: TransformerConfig
    tokens: tuple[int, int]  # (batch, seq)
    sgemm_n: int
    stream_mib: float
    precision_n: int
    min_sample_s: float
    parity_kernels: tuple[str, ...] | None = None


GPU = Sizes(
    case="bench_gpu",
    attention=AttentionGrid(batch=4, heads=8, seqs=(1024, 4096), dims=(64, 128)),
    fno=FNOConfig(
        in_channels=1, out_channels=1, modes=(16, 16), width=64, depth=4, proj_hidden=128
    ),
    fno_batch=16,
    fno_grid=(256, 256),
    transformer=TransformerConfig(
        embed=512, depth=6, heads=8, mlp_hidden=2048, vocab_size=8192, causal=True
    ),
    tokens=(8, 1024),
    sgemm_n=8192,
    stream_mib=1536.0,
    precision_n=2048,
    min_sample_s=0.01,
)

DRY = Sizes(
    case="test",
    attention=AttentionGrid(batch=1, heads=2, seqs=(128,), dims=(32,), causal=(True,)),
    fno=FNOConfig(in_channels=1, out_channels=1, modes=(4, 4), width=8, depth=1, proj_hidden=16),
    fno_batch=2,
    fno_grid=(16, 16),
    transformer=TransformerConfig(embed=16, depth=1, heads=2, mlp_hidden=32, vocab_size=32),
    tokens=(2, 8),
    sgemm_n=128,
    stream_mib=4.0,
    precision_n=64,
    min_sample_s=0.001,
    parity_kernels=("pde.heat_1d", "nn.layer_norm"),
)
