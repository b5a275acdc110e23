"""The headline benchmarks as sections: registered kernels on their device-sized case through
:func:`parallax.bench.bench_spec`, and the model train steps through
:func:`parallax.bench.time_impls`.

Both sides run with TF32 off (the parity pin, without deterministic kernels), so float32 means
IEEE float32 on both; every timing is a median of calibrated samples of synchronised calls
(``block_until_ready`` / ``torch.cuda.synchronize``), alternated between implementations.
``torch.compile`` is timed last and on its own (its compilation can take a minute): what was
measured before it is saved first, so a section stopped during that compilation keeps it, and
its ``ratio_to_jax`` divides by the JAX median of the first round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from parallax.bench import BenchRecord, Ceilings, bench_spec, time_impls
from parallax.bench.peers import peers_for
from parallax.gpucheck._precision import timing_precision
from parallax.gpucheck._record import Section
from parallax.gpucheck._train import TrainProblem, train_makers
from parallax.registry import get

__all__ = ["REFERENCES", "kernel_bench", "train_bench"]

REFERENCES: dict[str, dict[str, Any]] = {
    "particles.lj_nve": {
        "jax_md_v100_ms_per_step": 4.71,
        "target_h100_ms_per_step": 1.0,
        "note": "published jax-md figure on a V100 (not measured here) and the H100 target",
    },
}
"""Numbers quoted from elsewhere, stored next to (never mixed with) the measurements."""


def _in_rounds(
    sec: Section, wanted: Sequence[str], time: Callable[[list[str]], list[BenchRecord]]
) -> None:
    """``time(impls)`` for everything but ``torch-compile``, then for it alone; records are
    saved to ``sec.result["records"]`` after each round."""
    rounds = [
        [i for i in wanted if i != "torch-compile"],
        [i for i in wanted if i == "torch-compile"],
    ]
    records: list[dict[str, Any]] = []
    sec.result["records"] = records
    jax_us = None
    for impls in (r for r in rounds if r):
        if records and sec.out_of_time():
            sec.skip(", ".join(impls))
            continue
        with timing_precision():
            recs = time(impls)
        for r in recs:
            if r.impl == "jax":
                jax_us = r.median_us
            elif r.ratio_to_jax is None and r.median_us and jax_us:
                r.ratio_to_jax = r.median_us / jax_us
            records.append(r.to_json())
            sec.log(_line(r))
        sec.save()


def kernel_bench(
    sec: Section,
    name: str,
    *,
    case: str,
    impls: Sequence[str],
    torch_device: str | None,
    ceilings: Callable[[], Ceilings | None],
    samples: int,
    min_sample_s: float,
) -> None:
    """One registered kernel, every implementation in ``impls`` that it has."""
    spec = get(name)
    peers = {p.name for p in peers_for(name)}
    wanted = [i for i in impls if i in ("jax", "torch-eager", "torch-compile") or i in peers]
    if torch_device is None:
        wanted = [i for i in wanted if not i.startswith("torch")]
    c = ceilings()
    sec.result.update(
        kernel=name,
        case=case,
        description=spec.description,
        ceilings=None if c is None else c.to_json(),
        reference=REFERENCES.get(name),
    )

    def time(chosen: list[str]) -> list[BenchRecord]:
        return bench_spec(
            spec,
            case,
            dtype="float32",
            impls=chosen,
            samples=samples,
            ceilings=c,
            device=torch_device or "cpu",
            min_sample_s=min_sample_s,
            log=sec.log,
        )

    _in_rounds(sec, wanted, time)


def train_bench(
    sec: Section,
    problem: Callable[[], TrainProblem],
    *,
    impls: Sequence[str],
    torch_device: str | None,
    samples: int,
    min_sample_s: float,
) -> None:
    """One model's AdamW train step; records, the problem and the first-step losses."""
    p = problem()
    sec.result["problem"] = p.describe()
    wanted = [i for i in impls if i in ("jax", "torch-eager", "torch-compile")]
    makers, losses = train_makers(p, torch_device, tuple(wanted))
    sec.result["first_step_loss"] = losses

    def time(chosen: list[str]) -> list[BenchRecord]:
        return time_impls(
            f"train.{p.name}",
            "step",
            {i: makers[i] for i in chosen},
            dtype="float32",
            flops=p.flops,
            samples=samples,
            min_sample_s=min_sample_s,
            log=sec.log,
        )

    _in_rounds(sec, wanted, time)


def _line(r: BenchRecord) -> str:
    if r.error:
        return f"{r.impl}: unavailable: {r.error}"
    assert r.median_us is not None and r.per_step_us is not None
    return (
        f"{r.impl}: {r.median_us / 1e3:.3f} ms/call, {r.per_step_us / 1e3:.4f} ms/step, "
        f"x jax {r.ratio_to_jax if r.ratio_to_jax is None else round(r.ratio_to_jax, 3)}"
    )
