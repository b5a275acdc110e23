"""The short markdown summary, rendered from the JSON document alone (so any stored document,
partial ones included, can be rendered again later)."""

from __future__ import annotations

from typing import Any

__all__ = ["render_summary"]


def _f(x: Any, spec: str = ".3g") -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    try:
        return format(x, spec)
    except (TypeError, ValueError):
        return str(x)


def _ms(us: float | None) -> str:
    return "–" if us is None else f"{us / 1e3:.3f}"


def _device_lines(env: dict[str, Any]) -> list[str]:
    smi = env.get("nvidia_smi") or {}
    gpus = smi.get("gpus") or [{}]
    g = gpus[0]
    jax_info, torch_info = env.get("jax") or {}, env.get("torch") or {}
    px = env.get("parallax") or {}
    plugins = ", ".join(jax_info.get("cuda_plugins") or [])
    device = g.get("name") or torch_info.get("name") or jax_info.get("backend", "?")
    return [
        f"- device: {device} (driver {g.get('driver_version', '–')}, CUDA "
        f"{smi.get('driver_cuda_version', '–')}, compute {g.get('compute_cap', '–')}, "
        f"{g.get('memory.total', '–')})",
        f"- jax {jax_info.get('jax')} / jaxlib {jax_info.get('jaxlib')} on "
        f"{jax_info.get('backend')} ({plugins or 'no CUDA plugin'})",
        f"- torch {torch_info.get('torch')} (CUDA {torch_info.get('cuda')}, cuDNN "
        f"{torch_info.get('cudnn')}) on {torch_info.get('device')}",
        f"- parallax {px.get('version')} (commit {px.get('git_commit') or 'unknown'}, source "
        f"sha256 {str(px.get('source_sha256'))[:12]}), {env.get('date_utc')}",
    ]


def _sections_table(sections: dict[str, Any]) -> list[str]:
    lines = ["| section | status | seconds | share | note |", "|---|---|---|---|---|"]
    for name, s in sections.items():
        note = s.get("error") or (f"{len(s['skipped'])} items skipped" if s["skipped"] else "")
        lines.append(
            f"| {name} | {s['status']} | {_f(s.get('elapsed_s'))} | {_f(s.get('share_s'))} | "
            f"{str(note).splitlines()[0][:120] if note else ''} |"
        )
    return lines


def _precision(r: dict[str, Any]) -> list[str]:
    rows = {(x["op"], x["mode"]): x["rel_l2"] for x in r.get("rows", [])}
    ops = sorted({op for op, _ in rows})
    lines = ["| op | default ‖err‖/‖ref‖ | pinned |", "|---|---|---|"]
    lines += [
        f"| {op} | {_f(rows.get((op, 'default')))} | {_f(rows.get((op, 'pinned')))} |" for op in ops
    ]
    verdict = (
        "all IEEE float32"
        if r.get("pinned_all_ieee")
        else (f"ABOVE {r.get('threshold')} under the pin: {r.get('pinned_above_threshold')}")
    )
    return [*lines, "", f"Under the parity pin: {verdict}."]


def _parity(r: dict[str, Any], skipped: list[str]) -> list[str]:
    rows = r.get("rows", [])
    out = [
        f"JAX on `{r.get('jax_device')}` vs torch on `{r.get('torch_device')}`: "
        f"{r.get('passed', sum(x['passed'] for x in rows))} passed, {r.get('failed', '–')} "
        f"failed, {r.get('errors', '–')} errors of {r.get('planned')} planned "
        f"({len(skipped)} not run).",
    ]
    bad = [x for x in rows if not x["passed"]]
    if bad:
        out += ["", "| kernel / case / dtype | what | numbers | diagnosis |", "|---|---|---|---|"]
        for x in bad:
            label = f"{x['kernel']} / {x['case']} / {x['dtype']}"
            if x["error"]:
                out.append(f"| {label} | error | {x['error'].splitlines()[0][:140]} | |")
                continue
            diag = (x.get("diagnosis") or {}).get("verdict", "")
            for n in x.get("needs", []):
                nums = (
                    f"max_abs {_f(n['max_abs'])}, max_rel {_f(n['max_rel'])} vs "
                    f"(rtol {_f(n['rtol'])}, atol {_f(n['atol'])}): x{_f(n['factor'], '.2g')}"
                )
                out.append(f"| {label} | {n['leaf']} | {nums} | {diag} |")
    return out


def _attention(r: dict[str, Any]) -> list[str]:
    out = [
        "| shape | dtype | impl | fwd ms | fwd+bwd ms | fwd TFLOP/s | rel err fwd | grad | ok |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r.get("rows", []):
        shape = f"B{row['batch']} H{row['heads']} S{row['seq']} D{row['dim']}" + (
            " causal" if row["causal"] else ""
        )
        fwd = {x["impl"]: x for x in row.get("fwd", [])}
        both = {x["impl"]: x for x in row.get("fwd_bwd", [])}
        for impl, p in row["parity"].items():
            if "error" in p:
                out.append(f"| {shape} | {row['dtype']} | {impl} | {p['error'][:80]} |||||| |")
                continue
            f, b = fwd.get(impl) or {}, both.get(impl) or {}
            tf = f.get("gflops")
            out.append(
                f"| {shape} | {row['dtype']} | {impl} | {_ms(f.get('median_us'))}"
                f" | {_ms(b.get('median_us'))} | "
                f"{_f(None if tf is None else tf / 1e3)} | {_f(p['fwd']['rel_l2'], '.1e')} | "
                f"{_f(p['grad']['rel_l2'], '.1e')} | {_f(p['fwd']['ok'] and p['grad']['ok'])} |"
            )
    return out


def _bench(r: dict[str, Any]) -> list[str]:
    out = []
    if r.get("kernel"):
        out.append(f"`{r['kernel']}` case `{r['case']}`: {r.get('description')}")
    if r.get("problem"):
        p = r["problem"]
        out.append(f"{p['model']} {p['config']}, x {p['x_shape']}, loss {p['loss']}")
    if r.get("first_step_loss"):
        out.append(f"first-step loss: {r['first_step_loss']}")
    if r.get("reference"):
        out.append(f"quoted, not measured: {r['reference']}")
    out += [
        "",
        "| impl | median ms | per step ms | x jax | compile s | GFLOP/s | GB/s | %peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for x in r.get("records", []):
        if x.get("error"):
            out.append(f"| {x['impl']} | unavailable: {x['error'][:100]} |||||||")
            continue
        fracs = [f for f in (x.get("frac_peak_flops"), x.get("frac_peak_bw")) if f is not None]
        out.append(
            f"| {x['impl']} | {_ms(x['median_us'])} | {_ms(x['per_step_us'])} | "
            f"{_f(x.get('ratio_to_jax'))} | {_f(x.get('compile_s'))} | {_f(x.get('gflops'))} | "
            f"{_f(x.get('gbps'))} | {_f(100 * max(fracs) if fracs else None, '.1f')} |"
        )
    return out


def render_summary(doc: dict[str, Any]) -> str:
    """Markdown: device and versions, section status, then each section's table."""
    sections = doc.get("sections", {})
    env = (sections.get("environment") or {}).get("result") or {}
    budget = doc.get("budget", {})
    lines = [
        f"# parallax gpu-check ({doc.get('mode')}): {doc.get('status')}",
        "",
        *_device_lines(env),
        f"- budget: {_f(budget.get('elapsed_s'))} s used of {_f(budget.get('budget_s'))}",
        "",
        *_sections_table(sections),
    ]
    for name, s in sections.items():
        r = s.get("result") or {}
        if name == "environment" or not r:
            continue
        lines += ["", f"## {name}", ""]
        if name == "precision":
            lines += _precision(r)
        elif name == "ceilings":
            lines.append(
                f"SGEMM {_f(r.get('sgemm_gflops'))} GFLOP/s (n={r.get('sgemm_n')}), triad "
                f"{_f(r.get('stream_gbps'))} GB/s, copy {_f(r.get('copy_gbps'))} GB/s"
            )
        elif name == "parity":
            lines += _parity(r, s["skipped"])
        elif name == "attention":
            lines += _attention(r)
        else:
            lines += _bench(r)
        if s["skipped"]:
            lines += ["", f"not run (budget): {', '.join(s['skipped'][:40])}"]
    return "\n".join(lines) + "\n"
