"""The benchmarks page (BENCHMARKS.md), generated from the JSON of ``parallax bench`` runs.

The page states where every number comes from (date, machine, load, versions, threads, CPU
FFT backend, ceilings of each run), quotes ratios only between implementations timed in the
same run, reports every row against the ceilings measured in that run, says what bounds each JAX
row below half its ceiling, lists compile times, and adds the memory table of checkpointed
rollouts. Runs taken under load, incomplete runs and a kernel measured in two runs are refused
unless forced (forced rows are marked).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from parallax.bench._bounds import bounds_section
from parallax.bench._memory import MemoryRecord, memory_table
from parallax.bench._report import flags
from parallax.bench._runner import IMPLS, BenchRecord
from parallax.bench._timing import format_seconds
from parallax.kernels import HostAllocator

__all__ = ["COMPILE_LIMIT_S", "PageRefused", "load_run", "render_page"]

COMPILE_LIMIT_S = 2.0
_KINDS = ("bench", "memory")


class PageRefused(ValueError):
    """The runs cannot make an honest page (the message says why and how to force it)."""


def load_run(path: str | Path) -> dict[str, Any]:
    """Read one run written by ``parallax bench --json`` or ``--memory --json``."""
    try:
        run = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read a run ({e})") from None
    if not isinstance(run, dict) or run.get("kind") not in _KINDS or run.get("schema") != 1:
        raise ValueError(
            f"{path}: expected the JSON of `parallax bench --json` or `--memory --json` "
            "(schema 1); --comms output has no page section"
        )
    return run


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return out + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows[1:]]


def _refusals(path: str, run: dict[str, Any]) -> list[str]:
    out = []
    if not run.get("complete", False):
        out.append(f"{path}: the run did not finish")
    if run.get("loaded"):
        reasons = list((run.get("load") or {}).get("reasons") or [])
        reasons += [
            f"{r['kernel'] if 'kernel' in r else r['name']}: {'; '.join(r['load_reasons'])}"
            for r in run.get("records", [])
            if r.get("load_reasons")
        ]
        out.append(
            f"{path}: taken under load ({'; '.join(reasons[:3])}"
            f"{' ...' if len(reasons) > 3 else ''})"
        )
    return out


def _fmt_load(load: dict[str, Any] | None) -> str:
    if not load:
        return "not recorded"

    def la(x: Sequence[float] | None) -> str:
        return "-" if not x else " / ".join(f"{v:.2f}" for v in x)

    others = load.get("others_cores")
    verdict = "LOADED: " + "; ".join(load["reasons"]) if load.get("loaded") else "idle"
    return (
        f"1/5/15-min load average {la(load.get('load_before'))} before, "
        f"{la(load.get('load_after'))} after; other processes used "
        f"{'-' if others is None else f'{others:.2f}'} of {load.get('cores')} cores during the "
        f"run ({verdict})"
    )


def _fmt_fft(fft: dict[str, Any] | None) -> str:
    if not fft:
        return "not recorded"
    mkl = fft.get("mkl")
    return f"`{fft.get('backend')}`, " + (f"MKL {mkl}" if mkl else "MKL not installed")


def _fmt_handlers(handlers: dict[str, str] | None) -> str:
    if not handlers:
        return "not recorded"
    on = [f"`{k}`" for k, why in handlers.items() if not why]
    off = [f"`{k}` ({why})" for k, why in handlers.items() if why]
    return ", ".join(on) + (f"; not used: {', '.join(off)}" if off else "")


def _fmt_allocator(allocator: dict[str, Any] | None) -> str:
    if not allocator:
        return "not recorded"
    return HostAllocator(**allocator).describe()


def _run_header(path: str, run: dict[str, Any]) -> list[str]:
    env = run.get("environment", {})
    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)
    th = env.get("threads", {})
    thread_vars = (
        ", ".join(f"{k}={v}" for k, v in th.items() if k.isupper() and v is not None) or "none set"
    )
    lines = [
        f"### `{path}` ({run['kind']})",
        "",
        f"- command: `parallax bench {' '.join(run.get('argv', []))}`",
        f"- date: {env.get('date')}; machine: {env.get('host')}, {env.get('cpu')}, "
        f"{env.get('cores')} cores, {env.get('platform')}",
        f"- load: {_fmt_load(run.get('load'))}",
        f"- versions: python {env.get('python')}, parallax {env.get('parallax')}, {versions}",
        f"- threads: torch intra-op {th.get('torch_intra_op')}, inter-op "
        f"{th.get('torch_inter_op')}; XLA:CPU default pool (one thread per core) unless "
        f"XLA_FLAGS says otherwise; environment: {thread_vars}; JAX devices: "
        f"{', '.join(th.get('jax_devices', []))}",
        f"- CPU FFT (`parallax.kernels.fft.backend()`): {_fmt_fft(env.get('fft'))}",
        f"- CPU handlers in use: {_fmt_handlers(env.get('handlers'))}",
        f"- host allocator (`parallax.kernels.configure_host_allocator`): "
        f"{_fmt_allocator(env.get('allocator'))}",
    ]
    c = run.get("ceilings")
    if c:
        lines.append(
            f"- ceilings measured in this run: SGEMM {c['sgemm_gflops']:.1f} GFLOP/s "
            f"(n = {c['sgemm_n']}), stream triad {c['stream_gbps']:.1f} GB/s and copy "
            f"{'-' if c.get('copy_gbps') is None else format(c['copy_gbps'], '.1f')} GB/s "
            f"({c['stream_mib']:.0f} MiB); bandwidth ceiling {_bandwidth(c):.1f} GB/s"
        )
    return [*lines, ""]


def _bandwidth(c: dict[str, Any]) -> float:
    return max(c["stream_gbps"], c.get("copy_gbps") or 0.0)


def _ratio(r: BenchRecord | None, jax_rec: BenchRecord) -> str:
    if r is None:
        return "-"
    if r.error or r.ratio_to_jax is None:
        return "n/a"
    cell = f"{r.ratio_to_jax:.2f}"
    return f"**{cell}**" if r.ratio_to_jax < 1.0 else cell


def _roof(r: BenchRecord) -> str:
    roof = r.roofline
    return "-" if roof is None else f"{100 * roof[0]:.1f}% ({roof[1]})"


def _bench_sections(runs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    groups: dict[tuple[str, str, str], tuple[str, list[BenchRecord]]] = {}
    for path, run in runs:
        for d in run["records"]:
            r = BenchRecord.from_json(d)
            groups.setdefault((r.kernel, r.case, r.dtype), (path, []))[1].append(r)
    peers = sorted({r.impl for _, recs in groups.values() for r in recs} - set(IMPLS))
    head = [
        "kernel",
        "inputs",
        "JAX median",
        "JAX per step",
        "JAX compile",
        "torch eager",
        "torch.compile",
        *peers,
        "JAX roofline",
        "flags",
    ]
    rows, unavailable, slow_compiles, full = (
        [head],
        [],
        [],
        [["kernel", "impl", "median", "IQR", "GFLOP/s", "GB/s", "% SGEMM", "% bandwidth", "flags"]],
    )
    for (kernel, case, dtype), (_, recs) in sorted(groups.items()):
        by = {r.impl: r for r in recs}
        j = by.get("jax")
        if j is None or not j.measured:
            unavailable.append(
                f"- `{kernel}` [{case}, {dtype}]: JAX not measured ({j.error if j else 'not run'})"
            )
            continue
        name = f"`{kernel}`" + (
            f" [{case}, {dtype}]" if (case, dtype) != ("bench", "float32") else ""
        )
        rows.append(
            [
                name,
                j.inputs,
                format_seconds(j.median_us * 1e-6),  # type: ignore[operator]
                format_seconds(None if j.per_step_us is None else j.per_step_us * 1e-6),
                format_seconds(j.compile_s),
                _ratio(by.get("torch-eager"), j),
                _ratio(by.get("torch-compile"), j),
                *(_ratio(by.get(p), j) for p in peers),
                _roof(j),
                flags(j),
            ]
        )
        if j.compile_s is not None and j.compile_s > COMPILE_LIMIT_S:
            slow_compiles.append(
                f"`{kernel}` {format_seconds(j.compile_s)} (CPU {format_seconds(j.compile_cpu_s)})"
            )
        for r in recs:
            if r.error:
                unavailable.append(f"- `{kernel}` {r.impl}: {r.error}")
                continue
            full.append(
                [
                    f"`{kernel}`",
                    r.impl,
                    format_seconds((r.median_us or 0) * 1e-6),
                    "-" if r.rel_iqr is None else f"{100 * r.rel_iqr:.0f}%",
                    "-" if r.gflops is None else f"{r.gflops:.2f}",
                    "-" if r.gbps is None else f"{r.gbps:.2f}",
                    "-" if r.frac_peak_flops is None else f"{100 * r.frac_peak_flops:.1f}%",
                    "-" if r.frac_peak_bw is None else f"{100 * r.frac_peak_bw:.1f}%",
                    flags(r),
                ]
            )
    out = [
        "## Time: JAX against the other implementations",
        "",
        "Cells are *other implementation's median time / JAX's median time*, both from the "
        "same run (above 1: JAX is faster; **bold**: JAX is slower). JAX compile time is "
        "reported separately and excluded from the medians. JAX roofline: achieved GFLOP/s or "
        "GB/s over the ceiling measured in the same run, whichever binds (the flop and byte "
        "estimates of each case are documented next to it in `parallax.registry`). Flags: "
        "L taken under load, N samples spread more than 10% of the median (IQR).",
        "",
        *_table(rows),
        "",
        f"JAX compile times over {COMPILE_LIMIT_S:g} s: "
        + (", ".join(slow_compiles) if slow_compiles else "none")
        + ".",
        "",
    ]
    if unavailable:
        out += ["Not measured:", "", *unavailable, ""]
    out += bounds_section(r for _, recs in groups.values() for r in recs)
    out += [
        "## Roofline: every implementation",
        "",
        "Achieved throughput of every implementation against the ceilings of its run.",
        "",
        *_table(full),
        "",
    ]
    return out


def _memory_section(runs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    records = [MemoryRecord.from_json(d) for _, run in runs for d in run["records"]]
    return [
        "## Gradients through long rollouts: memory and time",
        "",
        "The gradient of a loss on the final state w.r.t. the initial state and a parameter, "
        'through a plain `lax.scan` and with `checkpoint="sqrt"` / `"binomial"` '
        "(`parallax.kernels.rollout`). Compiled temporaries from XLA's `memory_analysis()`; "
        "peak RSS of a subprocess per configuration (JAX, the compiled program and its "
        "buffers); times are medians of 3 calls, relative to the plain scan of the same run. "
        "A configuration whose compiled buffers exceed half the available memory is compiled "
        "but not run.",
        "",
        *_table(memory_table(records)),
        "",
    ]


def render_page(
    runs: Sequence[tuple[str, dict[str, Any]]], *, command: str, force: bool = False
) -> str:
    """Markdown for ``runs`` (``(path, run)`` pairs from :func:`load_run`)."""
    problems = [p for path, run in runs for p in _refusals(path, run)]
    seen: dict[tuple, str] = {}
    for path, run in runs:
        for d in run["records"]:
            key = (
                run["kind"],
                d.get("kernel") or d.get("name"),
                d.get("case"),
                d.get("dtype"),
                d.get("impl") or str(d.get("scheme")),
            )
            if key in seen and seen[key] != path:
                problems.append(
                    f"{key[1]} ({key[4]}) is in both {seen[key]} and {path}: "
                    "ratios must come from one run"
                )
            seen.setdefault(key, path)
    if problems and not force:
        raise PageRefused(
            "; ".join(problems) + " (re-run on an idle machine, or --force to "
            "publish marked numbers)"
        )
    bench = [(p, r) for p, r in runs if r["kind"] == "bench"]
    memory = [(p, r) for p, r in runs if r["kind"] == "memory"]
    out = [
        "# parallax benchmarks",
        "",
        f"Generated by `{command}` from the JSON of the runs below; do not edit by hand. "
        "To reproduce, on an idle machine (`uptime`: 1-min load below half the cores): "
        "`parallax bench --json benchmarks/cpu/bench.json`, "
        "`parallax bench --memory --json benchmarks/cpu/memory.json`, then the command above.",
        "",
    ]
    if problems:
        out += ["> **Forced:** " + "; ".join(problems), ""]
    out += ["## Runs", ""]
    for path, run in runs:
        out += _run_header(path, run)
    if bench:
        out += _bench_sections(bench)
    if memory:
        out += _memory_section(memory)
    return "\n".join(out).rstrip() + "\n"
