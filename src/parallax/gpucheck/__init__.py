"""One prepared run on a GPU: parity of every registered kernel on the device, the Pallas
attention path, and the headline benchmarks, in one process under one time budget.

``parallax gpu-check OUT_DIR [--budget-s 480]`` writes ``OUT_DIR/gpu_check.json`` (rewritten
after every item, so a killed run keeps what it measured) and ``OUT_DIR/gpu_check.md`` (a
summary rendered from the JSON alone). ``--dry-run`` runs the same code at tiny sizes on the
CPU. Sections, in order: ``environment`` (device, driver, CUDA, versions, date), ``precision``
(does the parity pin make matmuls and convolutions IEEE float32 on both sides), ``ceilings``
(SGEMM, triad and device-to-device copy), ``parity``, ``attention``, then ``bench.lj_nve``,
``bench.navier_stokes_2d``, ``bench.fd_laplacian_3d``, ``bench.fno_train`` and
``bench.transformer_train``. Each section is isolated: an exception or a timeout is recorded
and the run goes on; the budget is shared by weight (see :mod:`parallax.gpucheck._record`).

JSON document (``schema`` = ``"parallax.gpu-check/1"``)::

    {schema, mode: "gpu" | "dry-run", status: "running" | "complete" | "incomplete" |
     "no-device", started_utc, finished_utc, command, options, sizes, devices,
     budget: {budget_s, elapsed_s},
     sections: {NAME: {name, status: "ok" | "partial" | "error" | "timeout" | "skipped",
                       elapsed_s, share_s, error, traceback, skipped: [item], result: {...}}}}

``result`` per section: ``environment`` — date_utc, host, nvidia_smi {gpus, driver_cuda_version},
jax {jax, jaxlib, cuda_plugins, backend, devices}, torch {torch, cuda, cudnn, name, capability,
...}, versions, env, parallax {version, git_commit, source_sha256}; ``precision`` — rows [{op,
mode, rel_l2}], pinned_all_ieee; ``ceilings`` — :class:`parallax.bench.Ceilings` fields;
``parity`` — rows (:meth:`parallax.parity.ParityResult.to_json` plus ``needs``: per failing leaf
the factor its tolerance misses by, and ``diagnosis`` with each side moved to the CPU), passed,
failed, errors; ``attention`` — rows [{seq, dim, causal, dtype, parity: {impl: {fwd, grad:
{max_abs, rel_l2, nan, ok}} | {error}}, fwd: [BenchRecord], fwd_bwd: [BenchRecord]}];
``bench.*`` — records [:class:`parallax.bench.BenchRecord` JSON], the case or the train problem,
first-step losses, and quoted reference numbers kept apart from measurements.

On the device machine (wheels for what its image lacks: ``scripts/gpu_wheels``)::

    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile \\
        --no-cache-dir --upgrade --target /tmp/site .whl/*.whl . && export PYTHONPATH=/tmp/site
    python3 -m parallax.cli gpu-check "$OUT" --budget-s 480
"""

from parallax.gpucheck._check import SCHEMA as SCHEMA
from parallax.gpucheck._check import SECTIONS as SECTIONS
from parallax.gpucheck._check import Options as Options
from parallax.gpucheck._check import run_check as run_check
from parallax.gpucheck._report import render_summary as render_summary

__all__ = ["SCHEMA", "SECTIONS", "Options", "render_summary", "run_check"]
