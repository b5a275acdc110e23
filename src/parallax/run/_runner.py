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
import dataclasses
import importlib.util
import inspect
import logging
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import jax
import numpy as np
from etils import epath

from parallax.kernels import value_checks
from parallax.run._checkpoint import Checkpointer, CheckpointError, find_checkpoint_dir
from parallax.run._config import (
    ConfigError,
    RunConfig,
    config_diff,
    config_from_dict,
    config_to_dict,
    parse_config,
    validate_config,
)
from parallax.run._devices import MeshError, is_main_process, make_run_mesh, set_cpu_devices
from parallax.run._files import TextSink, read_json
from parallax.run._guard import NonFiniteError, check_metrics, nonfinite_leaves
from parallax.run._metrics import MetricsWriter, read_metrics, to_scalars
from parallax.run._plots import plot_metrics, save_figure
from parallax.run._preempt import Preempted, PreemptionGuard
from parallax.run._progress import Progress
from parallax.run._report import ReportRow, format_report
from parallax.run._rundir import IncompatibleRunError, RunDir, environment_info, resolve_workdir
from parallax.sharding import (
    PEER_LOST_EXIT,
    DistributedInitError,
    exit_peer_lost,
    initialize_distributed,
    lost_peer,
    write_will,
)

__all__ = ["EXIT_CODES", "Run", "cli", "execute", "load_experiment", "run_file"]

S = TypeVar("S")
C = TypeVar("C", bound=RunConfig)

log = logging.getLogger("parallax.run")

EXIT_CODES = {
    "completed": 0,
    "preempted": 0,
    "usage": 2,
    "nonfinite": 3,
    "checkpoint": 4,
    "peer_lost": PEER_LOST_EXIT,
}
"""Process exit status by outcome. A preempted run exits 0 after saving (summary.json says
"preempted"; re-run the same command to resume). ``peer_lost`` (75): another process of a
multi-process job died or could not be reached; re-running the same command on every host
resumes from the last checkpoint."""

_NOT_RESULTS = frozenset({"workdir", "progress", "resume"})
"""Config fields that cannot change what a finished run computed (its workdir may be spelled
differently); a finished run re-run with only these different is not run again."""


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, jax.Array | np.ndarray | np.generic):
        a = np.asarray(jax.device_get(x))
        if a.dtype.kind not in "biufc?":
            return str(a)
        return _jsonable(a.tolist()) if a.ndim else _jsonable(a.item())
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, str | int | float | bool) or x is None:
        return x
    return str(x)


_RESUME_HINT = "Checkpoints are kept; re-run the same command on every host to resume."


class _Formatter(logging.Formatter):
    def __init__(self, process: int):
        prefix = "" if process == 0 else f"[p{process}] "
        super().__init__(f"%(asctime)s {prefix}%(levelname).1s %(message)s", "%H:%M:%S")


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
        self._handlers: list[logging.Handler] = []
        self._log_sink: TextSink | None = None
        self._t0 = time.perf_counter()
        self._phase = "start-up"
        self._guard = guard
        self.metrics: MetricsWriter | None = None

    def finished_summary(self) -> dict[str, Any] | None:
        """The saved summary when this workdir's run is already completed with this config (up
        to :data:`_NOT_RESULTS`), so running it again would only recompute the same results."""
        if not self.existing:
            return None
        saved = self.dir.read_summary()
        if not saved or saved.get("status") != "completed" or saved.get("step") != self.cfg.steps:
            return None
        diffs = config_diff(self.dir.latest_config(), config_to_dict(self.cfg), _NOT_RESULTS)
        return None if diffs else saved

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> Run:
        self.dir.create(self.cfg, self.name, environment_info(self.code_dir))
        self._setup_logging()
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
            self.error = self._preempted_message(exc)
            log.warning("%s; re-run the same command to resume", self.error)
        elif isinstance(exc, NonFiniteError):
            self.step = min(self.step, exc.step - 1)
            self.status, self.error, suppress = "nonfinite", self._nonfinite_message(exc), True
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
            self._teardown_logging()
        return suppress

    def _preempted_message(self, exc: Preempted) -> str:
        if exc.step is not None:  # stopped by the loop, which saved the state
            return f"stopped by {exc.signame} at step {exc.step} (checkpoint saved)"
        if self._phase == "start-up":
            kept = (
                f"restarts from its checkpoint at step {self.step}"
                if self.resumed_from is not None
                else "starts from step 0 (nothing to save yet)"
            )
            return f"stopped by {exc.signame} during start-up; the run {kept}"
        saved = "saved" if self.last_checkpoint == self.step else "not saved"
        return (
            f"stopped by {exc.signame} after the loop, at step {self.step} (checkpoint {saved}); "
            "the work after the loop (evaluation, plots) runs again on resume"
        )

    def _nonfinite_message(self, exc: NonFiniteError) -> str:
        cfg, where = self.cfg, self.dir.checkpoints
        steps = sorted(self.checkpointer.manager.all_steps()) if self.checkpointer else []
        if steps:
            found = (
                f"Checkpoints in {where}: {', '.join(map(str, steps))} (all finite). To try "
                "other settings, start a new --workdir from one of them: "
                f"--workdir NEW --init-from {where}/{steps[-1]} and the new settings (an "
                "earlier checkpoint if that one is already diverging)."
            )
        else:
            found = (
                "There is no checkpoint from before it (the first is due at step "
                f"{cfg.checkpoint_every}). To try other settings, start again in a new "
                "--workdir."
            )
        return (
            f"{exc} The run stopped after step {self.step}, the last whose metrics were finite. "
            f"{found} This workdir resumes only with its own settings (config.json), so it "
            "would stop the same way."
        )

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
        self.status = "peer_lost"
        self.error = f"a collective with another process failed: {str(exc).splitlines()[0]}"
        self._write_summary()
        where = f"process {jax.process_index()} of {jax.process_count()}"
        exit_peer_lost(where, exc, _RESUME_HINT)

    def _setup_logging(self) -> None:
        log.setLevel(logging.INFO)
        log.propagate = False
        fmt = _Formatter(jax.process_index())
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(fmt)
        stream.setLevel(logging.INFO if self.is_main else logging.WARNING)
        self._handlers.append(stream)
        if self.is_main:
            self._log_sink = TextSink(self.dir.log)
            fh = logging.StreamHandler(self._log_sink)
            fh.setFormatter(fmt)
            self._handlers.append(fh)
        for h in self._handlers:
            log.addHandler(h)

    def _teardown_logging(self) -> None:
        for h in self._handlers:
            log.removeHandler(h)
            h.close()
        self._handlers.clear()
        if self._log_sink is not None:
            self._log_sink.close()
            self._log_sink = None

    def _summary(self, status: str) -> dict[str, Any]:
        """summary.json. ``step``: the last step whose metrics (and state) were finite;
        ``error``: why a run that did not complete stopped; ``last_checkpoint``: the newest
        step in checkpoints/ (None: none); ``report``: the rows of the printed results block."""
        best = None
        if self.checkpointer is not None and self.checkpointer.best_metric:
            best = {"metric": self.checkpointer.best_metric, "value": self.checkpointer.best_value}
        return _jsonable(
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
        self.report_rows.append(ReportRow(label, _jsonable(value), good))

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
        path = plot_metrics(
            read_metrics(self.dir.metrics),
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


def _name_of(main: Callable[..., Any]) -> str:
    try:
        return Path(inspect.getfile(main)).stem
    except (TypeError, OSError):
        return getattr(main, "__module__", "experiment").rsplit(".", 1)[-1]


def _init_from(path: str | None) -> tuple[epath.Path, int | None] | None:
    """``--init-from``'s checkpoint folder and step, checked before anything is written."""
    if not path:
        return None
    try:
        return find_checkpoint_dir(path)
    except CheckpointError as e:
        raise ConfigError("init_from", str(e)) from None


def execute(
    main: Callable[[C, Run], Mapping[str, Any] | None],
    cfg: C,
    *,
    name: str | None = None,
    runs_root: str | Path = "runs",
) -> dict[str, Any]:
    """Run ``main(cfg, run)`` inside a :class:`Run`; returns the summary (also summary.json).

    Config, mesh, workdir and checkpoint problems raise before anything runs (ConfigError,
    MeshError, IncompatibleRunError, CheckpointError); a preempted or non-finite run returns
    its summary with that ``status``; other errors propagate after the summary is written.
    A workdir whose run already completed with this config is not run again: its summary is
    returned as it is.

    SIGTERM (and a first Ctrl-C) are caught for the whole call: in the loop the state is
    checkpointed at the next step; before and after the loop the run stops at once (its
    checkpoints are already written). Either way the summary says "preempted" and the same
    command resumes.
    """
    with PreemptionGuard() as guard:
        return _execute(main, cfg, name=name, runs_root=runs_root, guard=guard)


def _execute(
    main: Callable[[C, Run], Mapping[str, Any] | None],
    cfg: C,
    *,
    name: str | None,
    runs_root: str | Path,
    guard: PreemptionGuard,
) -> dict[str, Any]:
    validate_config(cfg)
    set_cpu_devices(cfg.cpu_devices)
    initialize_distributed(on_peer_lost=_record_peer_lost)
    guard.joined()
    name = name or _name_of(main)
    try:
        code_dir = Path(inspect.getfile(main)).parent
    except (TypeError, OSError):
        code_dir = None
    r = Run(cfg, name, runs_root=runs_root, code_dir=code_dir, guard=guard)
    done = r.finished_summary()
    if done is not None:
        r._setup_logging()
        log.info(
            "%s already completed in %s (step %d of %d); nothing to do (a larger --steps "
            "trains further)",
            name,
            r.dir.root,
            done["step"],
            cfg.steps,
        )
        r._print_report(done)
        r._teardown_logging()
        return done
    # a traced value check that raises on one device stalls the others at their next
    # collective until XLA aborts; on a multi-device mesh bad values become NaN instead and
    # the NaN guard stops the run (status "nonfinite", last good checkpoint kept)
    checks = value_checks("nan") if r.mesh.size > 1 else contextlib.nullcontext()
    with r, checks, guard.immediate():
        results = main(cfg, r)
        with guard.deferred():
            r.results = dict(results or {})
    return r.summary


def _flag(argv: Sequence[str], flag: str) -> str | None:
    """The value of ``--flag VALUE`` / ``--flag=VALUE`` in ``argv`` (the last one), if any."""
    value = None
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif a.startswith(flag + "="):
            value = a.split("=", 1)[1]
    return value


def _resume_default(config_cls: type[C], name: str, argv: Sequence[str]) -> C | None:
    """``--resume DIR``: the config saved in DIR (its latest invocation's), as the defaults."""
    where = _flag(argv, "--resume")
    if where is None:
        return None
    d = RunDir(resolve_workdir(where, name))
    if not d.config.is_file():
        raise ConfigError("resume", f"{d.root} holds no run (no config.json)")
    try:
        saved = read_json(d.config)
        latest = d.latest_config()
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError("resume", f"{d.config}: unreadable ({e})") from None
    if saved.get("experiment") != name:
        raise ConfigError(
            "resume", f"{d.root} holds a run of {saved.get('experiment')!r}, not {name!r}"
        )
    cfg = config_from_dict(config_cls, latest)
    cfg.workdir = str(d.root)
    return cfg


def _record_peer_lost(message: str, will: Any) -> str:
    """In the supervisor of a process whose peer died: summary.json from the run's will."""
    if isinstance(will, dict) and "workdir" in will:
        summary = dict(will["summary"], error=message.removeprefix("parallax: "))
        RunDir(resolve_workdir(will["workdir"], ""), write=True).write_summary(summary)
    return _RESUME_HINT


def cli(
    main: Callable[[C, Run], Mapping[str, Any] | None],
    config_cls: type[C],
    argv: Sequence[str] | None = None,
    *,
    name: str | None = None,
    exit: bool = True,
) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) into ``config_cls``, run, exit with a status.

    ``--resume DIR`` takes the config saved in DIR as the defaults. Bad input is reported in
    one line naming the key (status 2); a non-finite run exits 3, an unusable checkpoint 4; a
    preempted run 0 after saving (see :data:`EXIT_CODES`).
    """
    name = name or _name_of(main)
    argv = list(sys.argv[1:] if argv is None else argv)
    code = 0
    with PreemptionGuard() as guard:
        try:
            default = _resume_default(config_cls, name, argv)
            cfg = parse_config(config_cls, argv, prog=f"{name}.py", default=default)
            if default is not None and cfg.workdir != default.workdir:
                raise ConfigError("workdir", f"differs from --resume {default.workdir}")
            summary = _execute(main, cfg, name=name, runs_root="runs", guard=guard)
            code = EXIT_CODES.get(summary["status"], 1)
        except (ConfigError, MeshError, IncompatibleRunError) as e:
            print(f"error: {e}", file=sys.stderr)
            code = EXIT_CODES["usage"]
        except CheckpointError as e:
            print(f"error: {e}", file=sys.stderr)
            code = EXIT_CODES["checkpoint"]
        except DistributedInitError as e:
            print(f"parallax: {e}", file=sys.stderr)
            code = EXIT_CODES["peer_lost"]
        except Preempted as e:  # before the run directory existed: nothing to save
            print(f"{name}: {e} during start-up; nothing was written", file=sys.stderr)
            code = EXIT_CODES["preempted"]
    if exit:
        sys.exit(code)
    return code


def load_experiment(path: str | Path) -> Any:
    """Import an experiment script as a module (it must define ``Config`` and ``main``)."""
    p = Path(path).resolve()
    if not p.is_file():
        raise FileNotFoundError(f"no experiment script at {path}")
    modname = f"parallax_experiment_{p.stem}"
    spec = importlib.util.spec_from_file_location(modname, p)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {p}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    for attr in ("Config", "main"):
        if not hasattr(mod, attr):
            raise AttributeError(f"{p} defines no {attr!r} (an experiment needs Config and main)")
    if not (
        isinstance(mod.Config, type)
        and issubclass(mod.Config, RunConfig)
        and dataclasses.is_dataclass(mod.Config)
    ):
        raise TypeError(f"{p}: Config must be a dataclass subclassing parallax.run.RunConfig")
    return mod


def run_file(path: str | Path, argv: Sequence[str] = ()) -> int:
    """``parallax run PATH [overrides]`` / ``scripts/run PATH``: load and run; the exit status."""
    mod = load_experiment(path)
    return cli(mod.main, mod.Config, list(argv), name=Path(path).stem, exit=False)
