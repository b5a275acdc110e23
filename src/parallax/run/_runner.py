"""The runner: one :class:`Run` per invocation ties config, run directory, mesh, metrics,
checkpoints, preemption, the NaN guard and progress together.

An experiment script is a config and a ``main``::

    @dataclasses.dataclass
    class Config(run.RunConfig):
        lr: Annotated[float, run.Range(gt=0)] = 1e-3

    def main(cfg: Config, r: run.Run) -> dict:
        state = r.restore_or_init(lambda: init(cfg), best_metric="loss")
        state = r.loop(state, train_step)          # checkpoints, resume, SIGTERM, NaN guard
        return {"final_loss": ...}                 # -> summary.json "results"

    if __name__ == "__main__":
        run.cli(main, Config)

``step_fn(state, step) -> (state, metrics)`` advances one step; ``step`` is a Python int for
Python-level control (phases), so do not pass it to ``jit`` as a static argument. For a resumed
run to end bitwise equal to an uninterrupted one, everything random must come from the state's
PRNG key (or be a pure function of the seed and the step), never from a host-side stream.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import jax
from etils import epath

from parallax.run._checkpoint import (
    Checkpointer,
    CheckpointError,
    finalized_steps,
    find_checkpoint_dir,
)
from parallax.run._config import ConfigError, RunConfig, config_to_dict, validate_config
from parallax.run._devices import is_main_process, make_run_mesh
from parallax.run._files import write_json
from parallax.run._guard import NonFiniteError, check_metrics, nonfinite_leaves
from parallax.run._metrics import MetricsWriter, read_metrics, to_scalars
from parallax.run._outcome import RESUME_HINT, jsonable, nonfinite_message, preempted_message
from parallax.run._plots import plot_metrics, save_figure
from parallax.run._preempt import Preempted, PreemptionGuard
from parallax.run._progress import Progress
from parallax.run._report import ReportRow, format_report
from parallax.run._rundir import RunDir, environment_info, resolve_workdir
from parallax.run._runlog import RunLog, log
from parallax.sharding import exit_peer_lost, lost_peer, write_will

__all__ = ["Run"]

S = TypeVar("S")


class Run:
    """Everything one run needs; use as a context manager (or through :func:`execute`)."""

    def __init__(
        self,
        cfg: RunConfig,
        name: str,
        *,
        runs_root: str | Path = "runs",
        code_dir: Path | None = None,
        guard: PreemptionGuard | None = None,
    ):
        validate_config(cfg)
        self.cfg = cfg
        self.name = name
        self.is_main = is_main_process()
        self.init_from = _init_from(cfg.init_from)
        self.mesh = make_run_mesh(cfg.mesh)
        self.dir = RunDir(resolve_workdir(cfg.workdir, name, runs_root), write=self.is_main)
        self.existing = self.dir.check_compatible(cfg, name)
        self.code_dir = code_dir
        self.step = 0
        self.resumed_from: int | None = None
        self.last_metrics: dict[str, float] = {}
        self.results: dict[str, Any] = {}
        self.report_rows: list[ReportRow] = []
        self.status = "running"
        self.error: str | None = None
        self.checkpointer: Checkpointer | None = None
        self.last_checkpoint: int | None = None
        self.summary: dict[str, Any] = {}
        self._log = RunLog(self.dir.log, is_main=self.is_main)
        self._t0 = time.perf_counter()
        self._phase = "start-up"
        self._guard = guard
        self.metrics: MetricsWriter | None = None

    def finished(self) -> dict[str, Any] | None:
        """When this workdir's run is already completed with this config, say so (and show its
        results block) and return its summary: running it again would only recompute it."""
        done = self.dir.finished_summary(self.cfg)
        if done is not None:
            self._log.open()
            log.info(
                "%s already completed in %s (step %d of %d); nothing to do (a larger --steps "
                "trains further)",
                self.name,
                self.dir.root,
                done["step"],
                self.cfg.steps,
            )
            self._print_report(done)
            self._log.close()
        return done

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> Run:
        self.dir.create(self.cfg, self.name, environment_info(self.code_dir))
        self._log.open()
        self.metrics = MetricsWriter(self.dir.metrics, self.dir.tensorboard, enabled=self.is_main)
        log.info(
            "%s %s in %s (%d %s device(s), mesh %s, process %d/%d)",
            "resuming" if self.existing else "starting",
            self.name,
            self.dir.root,
            jax.device_count(),
            jax.default_backend(),
            dict(self.mesh.shape),
            jax.process_index(),
            jax.process_count(),
        )
        self._write_will()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        with self._deferred():
            return self._finish(exc)

    def _finish(self, exc: BaseException | None) -> bool:
        if exc is not None and lost_peer(exc):
            self._exit_peer_lost(exc)
        suppress = False
        try:
            if self.checkpointer is not None:
                self.checkpointer.wait()
                self.last_checkpoint = self.checkpointer.latest_step()
        except Exception as e:  # an unfinished save must not hide why the run ended
            log.error("waiting for the checkpoint writes failed: %s", e)
        if exc is None:
            self.status = "completed" if self.status == "running" else self.status
        elif isinstance(exc, Preempted):
            self.status, suppress = "preempted", True
            self.error = preempted_message(
                exc.signame,
                saved_step=exc.step,
                phase=self._phase,
                step=self.step,
                resumed_from=self.resumed_from,
                last_checkpoint=self.last_checkpoint,
            )
            log.warning("%s; re-run the same command to resume", self.error)
        elif isinstance(exc, NonFiniteError):
            self.step = min(self.step, exc.step - 1)
            kept = sorted(self.checkpointer.manager.all_steps()) if self.checkpointer else []
            self.error = nonfinite_message(
                exc,
                step=self.step,
                checkpoints=self.dir.checkpoints,
                kept=kept,
                checkpoint_every=self.cfg.checkpoint_every,
            )
            self.status, suppress = "nonfinite", True
            log.error("%s", self.error)
        else:
            self.status = "failed"
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("run failed: %s", self.error)
        try:
            if self.checkpointer is not None:
                self.checkpointer.close()
        finally:
            self._write_summary()
            if self.metrics is not None:
                self.metrics.add_hparams(
                    config_to_dict(self.cfg),
                    {"final": self.last_metrics, "results": self.results},
                    self.step,
                )
                self.metrics.close()
            self._print_report(self.summary)
            log.info("%s: %s (summary in %s)", self.name, self.status, self.dir.summary)
            self._log.close()
        return suppress

    def _print_report(self, summary: dict[str, Any]) -> None:
        if not self.is_main:
            return
        plots = sorted(self.dir.plots.glob("*.png")) if self.dir.plots.is_dir() else []
        text = format_report(summary, summary.get("report", []), plots, self.dir.tensorboard)
        print(text, flush=True)
        for line in text.splitlines():
            log.debug("%s", line)

    @contextlib.contextmanager
    def _deferred(self) -> Any:
        """Signals wait (only set a flag) inside; see :class:`PreemptionGuard`."""
        if self._guard is None:
            yield None
        else:
            with self._guard.deferred():
                yield self._guard

    def _exit_peer_lost(self, exc: BaseException) -> None:
        """End this process at once: waiting for the checkpoint writes or for JAX's shutdown
        would wait for the lost peer. The newest checkpoint is the newest finalized on disk."""
        steps = finalized_steps(self.dir.checkpoints)
        self.last_checkpoint = steps[-1] if steps else None
        self.status = "peer_lost"
        self.error = f"a collective with another process failed: {str(exc).splitlines()[0]}"
        # Every survivor writes it: the process that usually writes the run's files may be the
        # one that died.
        self.summary = self._summary(self.status)
        write_json(self.dir.summary, self.summary)
        where = f"process {jax.process_index()} of {jax.process_count()}"
        exit_peer_lost(where, exc, RESUME_HINT)

    def _summary(self, status: str) -> dict[str, Any]:
        """summary.json. ``step``: the last step whose metrics (and state) were finite;
        ``error``: why a run that did not complete stopped; ``last_checkpoint``: the newest
        step in checkpoints/ (None: none); ``report``: the rows of the printed results block."""
        best = None
        if self.checkpointer is not None and self.checkpointer.best_metric:
            best = {"metric": self.checkpointer.best_metric, "value": self.checkpointer.best_value}
        return jsonable(
            {
                "experiment": self.name,
                "status": status,
                "error": self.error,
                "step": self.step,
                "steps": self.cfg.steps,
                "resumed_from": self.resumed_from,
                "last_checkpoint": self.last_checkpoint,
                "wall_time_s": round(time.perf_counter() - self._t0, 3),
                "final_metrics": self.last_metrics,
                "best": best,
                "results": self.results,
                "report": [row.to_json() for row in self.report_rows],
                "workdir": str(self.dir.root),
            }
        )

    def _write_summary(self) -> None:
        self.summary = self._summary(self.status)
        self.dir.write_summary(self.summary)

    def _write_will(self) -> None:
        """What the supervisor writes as summary.json if a peer process dies (see
        :func:`parallax.sharding.write_will`); every process leaves one, as any may survive."""
        write_will({"workdir": str(self.dir.root), "summary": self._summary("peer_lost")})

    # -- state --------------------------------------------------------------------------------
    def restore_or_init(
        self,
        init: Callable[[], S],
        *,
        best_metric: str | None = None,
        best_mode: Literal["min", "max"] = "min",
    ) -> S:
        """The state to start from: the latest good checkpoint of this workdir (resume), else
        ``--init-from``'s checkpoint, else ``init()``.

        ``init()`` is always called: its result is the restore target (shapes, dtypes,
        shardings), so a checkpoint is restored onto the current mesh. ``best_metric`` names
        a metric (from the step or eval function) whose best value is kept in ``best/``.
        """
        target = init()
        self.checkpointer = Checkpointer(
            self.dir.checkpoints,
            keep=self.cfg.keep,
            async_save=self.cfg.async_checkpoint,
            best_directory=self.dir.best,
            best_metric=best_metric,
            best_mode=best_mode,
            quarantine=self.dir.root / "corrupt",
        )
        with self._deferred():
            restored = self.checkpointer.restore(target)
        if restored is not None:
            step, state = restored
            self.step = self.resumed_from = step
            self.last_metrics = dict(self.checkpointer.restored_metrics)
            log.info(
                "resumed from checkpoint %s/%d (step %d of %d)",
                self.dir.checkpoints,
                step,
                step,
                self.cfg.steps,
            )
            if self.metrics is not None:
                self.metrics.truncate_after(step)
            return state
        if self.existing:
            log.info("no checkpoint in %s yet; starting from step 0", self.dir.checkpoints)
        if self.init_from is not None:
            where, want = self.init_from
            src = Checkpointer(where, read_only=True, async_save=False)
            try:
                got = src.restore(target, step=want)
            finally:
                src.close()
            if got is None:
                raise CheckpointError(f"--init-from: no checkpoints in {where}")
            self.step, state = got
            log.info("initialised from checkpoint %s/%d", where, self.step)
            return state
        return target

    def save(self, state: Any, metrics: Mapping[str, float] | None = None) -> None:
        """Checkpoint ``state`` at the current step (refusing a non-finite state)."""
        if self.checkpointer is None:
            raise RuntimeError("call restore_or_init before saving")
        bad = nonfinite_leaves(state)
        if bad:
            raise NonFiniteError(self.step, bad[:8], where="state")
        with self._deferred():
            if self.checkpointer.save(self.step, state, metrics):
                log.debug("checkpoint saved at step %d", self.step)
                self._write_will()

    # -- the loop -----------------------------------------------------------------------------
    def loop(
        self,
        state: S,
        step_fn: Callable[[S, int], tuple[S, Mapping[str, Any]]],
        *,
        steps: int | None = None,
        eval_fn: Callable[[S], Mapping[str, Any]] | None = None,
        eval_every: int | None = None,
        description: str | None = None,
    ) -> S:
        """Run ``step_fn`` from the current step to ``steps`` (default ``cfg.steps``).

        Every step: metrics are fetched and checked for NaN/Inf. Every ``log_every`` steps they
        are written (JSON lines + TensorBoard); every ``checkpoint_every`` steps and at the end
        the state is checkpointed. ``eval_fn(state)`` adds metrics every ``eval_every`` steps
        (default ``log_every``). On SIGTERM the state is checkpointed and :class:`Preempted`
        ends the run (``Run`` turns it into a clean exit).
        """
        if self.checkpointer is None:
            raise RuntimeError("call restore_or_init before loop")
        cfg = self.cfg
        total = cfg.steps if steps is None else steps
        eval_every = eval_every or cfg.log_every
        progress = Progress(
            total,
            self.step,
            mode=cfg.progress,
            log_every=cfg.log_every,
            enabled=self.is_main,
            description=description or self.name,
        )
        metrics: dict[str, float] = dict(self.last_metrics)
        self._phase = "loop"
        try:
            with self._loop_guard() as guard:
                while self.step < total:
                    if guard.should_stop(self.step):
                        self.save(state, metrics)
                        self.checkpointer.wait()
                        raise Preempted(self.step, guard.requested or "signal")
                    new_state, raw = step_fn(state, self.step)
                    done = self.step + 1
                    metrics = to_scalars(raw)
                    check_metrics(done, metrics)
                    if eval_fn is not None and (done % eval_every == 0 or done == total):
                        extra = to_scalars(eval_fn(new_state))
                        check_metrics(done, extra)
                        metrics.update(extra)
                    state, self.step, self.last_metrics = new_state, done, metrics
                    if self.step % cfg.log_every == 0 or self.step == total:
                        assert self.metrics is not None
                        self.metrics.write(self.step, metrics)
                    progress.update(self.step, metrics)
                    if self.step % cfg.checkpoint_every == 0 or self.step == total:
                        self.save(state, metrics)
                self.checkpointer.wait()
                self.last_checkpoint = self.checkpointer.latest_step()
        finally:
            progress.close()
            self._phase = "finishing"
        return state

    @contextlib.contextmanager
    def _loop_guard(self) -> Any:
        """The run's guard in deferred mode; a guard of its own when the Run has none."""
        if self._guard is not None:
            with self._guard.deferred():
                yield self._guard
        else:
            with PreemptionGuard() as guard:
                yield guard

    # -- outputs ------------------------------------------------------------------------------
    def log_metrics(self, step: int, metrics: Mapping[str, Any], *, prefix: str = "") -> None:
        """Write extra metrics (e.g. evaluation curves) at ``step``."""
        if self.metrics is not None:
            self.metrics.write(step, to_scalars(metrics), prefix=prefix)

    def report(self, label: str, value: Any, good: str | None = None) -> None:
        """Add a row to the results block printed when the run ends (and to summary.json's
        ``report``): what ``value`` measures, in words a reader needs no code for, and what
        good looks like."""
        self.report_rows.append(ReportRow(label, jsonable(value), good))

    def save_figure(self, fig: Any, name: str) -> epath.Path | None:
        """Save a matplotlib figure as ``plots/NAME.png`` and into TensorBoard (process 0;
        closed either way)."""
        path = self.dir.plots / f"{name}.png"
        if not self.is_main:
            import matplotlib.pyplot as plt

            plt.close(fig)
            return None
        if self.metrics is not None:
            with self._deferred():
                self.metrics.add_figure(f"plots/{name}", fig, self.step)
        save_figure(fig, path, name=name)
        log.info("plot %s", path)
        return path

    def plot_metrics(
        self, keys: Sequence[str], name: str = "metrics", *, logy: bool = False
    ) -> epath.Path | None:
        """Plot logged metrics against step into ``plots/NAME.png``."""
        if not self.is_main:
            return None
        rows = self.metrics.rows() if self.metrics is not None else read_metrics(self.dir.metrics)
        path = plot_metrics(
            rows,
            keys,
            self.dir.plots / f"{name}.png",
            logy=logy,
            title=f"{self.name}: {name}",
            tb=self.metrics.add_figure if self.metrics is not None else None,
            step=self.step,
        )
        if path is not None:
            log.info("plot %s", path)
        return path


def _init_from(path: str | None) -> tuple[epath.Path, int | None] | None:
    """``--init-from``'s checkpoint folder and step, checked before anything is written."""
    if not path:
        return None
    try:
        return find_checkpoint_dir(path)
    except CheckpointError as e:
        raise ConfigError("init_from", str(e)) from None
