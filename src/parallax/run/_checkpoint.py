"""Checkpoints of the whole run state with orbax: async, keep-N, best-by-metric, verified restore.

Each checkpoint ``checkpoints/<step>/`` holds two orbax items:

* ``state`` — ``{"step": int32, "state": <the experiment's pytree>}`` (parameters, optimizer
  state, PRNG keys, simulation state); typed PRNG keys are stored as their key data;
* ``meta`` — JSON: the step, the metrics at that step and a SHA-256 digest of every leaf.

Orbax writes a step into a temporary directory and renames it when complete, so a process
killed mid-save (``kill -9``) leaves no step that ``all_steps()`` lists. The digest guards
against what atomic renames cannot: files damaged or truncated afterwards. A step that fails to
restore, or restores to different bytes than were saved, is skipped with a warning and the next
older one is used; the skipped steps are moved to ``corrupt/`` so new saves can reuse their
numbers. (The digest needs every array on this host; on multi-host runs only orbax's own
checks apply.)
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from parallax.run._files import is_remote

__all__ = [
    "CheckpointError",
    "Checkpointer",
    "finalized_steps",
    "find_checkpoint_dir",
    "tree_digest",
]

log = logging.getLogger("parallax.run")


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was required (missing, corrupt or not matching the run)."""


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _host_local(x: Any) -> bool:
    """A process-local jax.Array in a multi-process job (orbax can only save global arrays)."""
    return (
        jax.process_count() > 1
        and isinstance(x, jax.Array)
        and x.is_fully_addressable
        and len(x.sharding.device_set) < jax.device_count()
    )


def _replicated() -> Any:
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("_all",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())


def _to_global(x: jax.Array) -> jax.Array:
    """A process-local array (the same on every process) as a fully replicated global array."""
    local = [jax.device_put(x, d) for d in jax.local_devices()]
    return jax.make_array_from_single_device_arrays(x.shape, _replicated(), local)


def _to_savable(tree: Any) -> Any:
    def leaf(x: Any) -> Any:
        if _is_key(x):
            x = jax.random.key_data(x)
        if _host_local(x):
            return _to_global(x)
        if isinstance(x, jax.Array | np.ndarray):
            return x
        return np.asarray(x)

    return jax.tree.map(leaf, tree)


def _from_savable(restored: Any, target: Any) -> Any:
    def leaf(r: Any, t: Any) -> Any:
        if _host_local(t):
            r = jax.device_put(r.addressable_data(0), t.sharding)
        if _is_key(t):
            return jax.random.wrap_key_data(r, impl=jax.random.key_impl(t))
        return r

    return jax.tree.map(leaf, restored, target)


def tree_digest(tree: Any) -> str | None:
    """SHA-256 over dtype, shape and bytes of every leaf; None if some leaf is not on this host."""
    h = hashlib.sha256()
    leaves, treedef = jax.tree.flatten(_to_savable(tree))
    h.update(str(treedef).encode())
    for x in leaves:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return None
        a = np.ascontiguousarray(jax.device_get(x))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _abstract(tree: Any) -> Any:
    def leaf(x: Any) -> Any:
        if _is_key(x):
            x = jax.random.key_data(x)
        if _host_local(x):
            return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=_replicated())
        return ocp.utils.to_shape_dtype_struct(x)

    return jax.tree.map(leaf, tree)


def _absolute(path: str | os.PathLike) -> epath.Path:
    """``path`` as an ``epath``: a cloud path as it is, a local one made absolute against the
    working directory (orbax refuses relative paths)."""
    if is_remote(path):
        return epath.Path(path)
    return epath.Path(Path(path).expanduser().absolute())


def finalized_steps(directory: epath.PathLike) -> list[int]:
    """Steps of the finalized checkpoints in ``directory`` (orbax renames a step when done)."""
    d = epath.Path(directory)
    if not d.is_dir():
        return []
    return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit() and p.is_dir())


def find_checkpoint_dir(path: str | os.PathLike) -> tuple[epath.Path, int | None]:
    """Resolve ``--init-from``: a run dir, its ``checkpoints/`` dir, or one step dir.

    Returns ``(absolute checkpoints_dir, step or None for the latest)``; raises
    :class:`CheckpointError` when the path does not exist or holds no checkpoint.
    """
    p = _absolute(path)
    if not p.exists():
        raise CheckpointError(f"checkpoint path {p} does not exist")
    if not p.is_dir():
        raise CheckpointError(f"checkpoint path {p} is not a directory")
    if (p / "checkpoints").is_dir():
        where, step = p / "checkpoints", None
    elif p.name.isdigit() and (p / "state").exists():
        where, step = p.parent, int(p.name)
    else:
        where, step = p, None
    if not finalized_steps(where):
        raise CheckpointError(
            f"{p} holds no checkpoint (expected a run directory, its checkpoints/ folder or "
            "one step folder checkpoints/<step>)"
        )
    return where, step


class Checkpointer:
    """Latest-``keep`` checkpoints in ``directory`` and the best one (by ``best_metric``) in
    ``best_directory``."""

    def __init__(
        self,
        directory: epath.PathLike,
        *,
        keep: int = 3,
        async_save: bool = True,
        best_directory: epath.PathLike | None = None,
        best_metric: str | None = None,
        best_mode: Literal["min", "max"] = "min",
        quarantine: epath.PathLike | None = None,
        read_only: bool = False,
    ):
        self.directory = _absolute(directory)
        self.quarantine = None if quarantine is None else epath.Path(quarantine)
        self.best_metric = best_metric
        self.best_mode = best_mode
        self.best_value: float | None = None
        self.restored_metrics: dict[str, float] = {}
        """The metrics saved with the step :meth:`restore` returned."""
        self._last_saved: int | None = None
        # a kill during a save leaves orbax's temporary folder; the next writer removes it
        opts = ocp.CheckpointManagerOptions(
            max_to_keep=keep,
            enable_async_checkpointing=async_save,
            create=not read_only,
            read_only=read_only,
            cleanup_tmp_directories=not read_only,
        )
        self.manager = ocp.CheckpointManager(self.directory, options=opts)
        self.best_manager = None
        if best_metric and best_directory is not None and not read_only:
            bopts = ocp.CheckpointManagerOptions(
                max_to_keep=1,
                enable_async_checkpointing=async_save,
                create=True,
                cleanup_tmp_directories=True,
            )
            self.best_manager = ocp.CheckpointManager(_absolute(best_directory), options=bopts)
            self._load_best_value()

    # -- saving -------------------------------------------------------------------------------
    def _args(self, step: int, state: Any, metrics: Mapping[str, float] | None) -> Any:
        payload = {"step": np.asarray(step, np.int32), "state": _to_savable(state)}
        meta = {
            "step": int(step),
            "digest": tree_digest(payload),
            "metrics": {k: float(v) for k, v in (metrics or {}).items()},
            "time_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        return ocp.args.Composite(
            state=ocp.args.StandardSave(payload), meta=ocp.args.JsonSave(meta)
        )

    def save(self, step: int, state: Any, metrics: Mapping[str, float] | None = None) -> bool:
        """Save ``state`` at ``step`` (a no-op if that step is already saved). Async: returns
        once the arrays are copied off the device; :meth:`wait` blocks until written."""
        if self._last_saved == step or step in self.manager.all_steps():
            return False
        self._one_writer_at_a_time(self.best_manager)
        self.manager.save(step, args=self._args(step, state, metrics), force=True)
        self._last_saved = step
        self._offer_best(step, state, metrics)
        return True

    def _offer_best(self, step: int, state: Any, metrics: Mapping[str, float] | None) -> None:
        """Save ``state`` into ``best/`` when its metric beats the best so far."""
        key = self.best_metric
        if self.best_manager is None or not metrics or key is None or key not in metrics:
            return
        value = float(metrics[key])
        better = self.best_value is None or (
            value < self.best_value if self.best_mode == "min" else value > self.best_value
        )
        if better and np.isfinite(value) and step not in self.best_manager.all_steps():
            self._one_writer_at_a_time(self.manager)
            self.best_manager.save(step, args=self._args(step, state, metrics), force=True)
            self.best_value = value

    @staticmethod
    def _one_writer_at_a_time(other: Any) -> None:
        """With several processes, wait for ``other``'s async save before starting one: each
        save's background thread runs cross-process barriers, and orbax's barriers must not run
        concurrently (two at once took their keys in different orders on the two processes and
        deadlocked, "set_value_start is already ongoing", in 1 of ~4 localhost runs)."""
        if other is not None and jax.process_count() > 1:
            other.wait_until_finished()

    def _load_best_value(self) -> None:
        assert self.best_manager is not None
        step = self.best_manager.latest_step()
        if step is None:
            return
        try:
            meta = self.best_manager.restore(
                step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
            )["meta"]
            self.best_value = float(meta["metrics"][self.best_metric])
        except Exception as e:  # a damaged best checkpoint only loses the "best so far" value
            log.warning("could not read the best checkpoint's metric (%s); starting afresh", e)

    # -- restoring ----------------------------------------------------------------------------
    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def _restore_step(self, step: int, target: Any) -> tuple[Any, dict[str, Any]]:
        abstract = {"step": jax.ShapeDtypeStruct((), np.int32), "state": _abstract(target)}
        out = self.manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
            ),
        )
        payload, meta = out["state"], out["meta"]
        if int(payload["step"]) != step or int(meta["step"]) != step:
            raise CheckpointError(f"step {step} holds step {int(payload['step'])}")
        want = meta.get("digest")
        if want is not None:
            got = tree_digest(payload)
            if got is not None and got != want:
                raise CheckpointError("contents differ from what was saved (digest mismatch)")
        return _from_savable(payload["state"], target), meta

    def restore(self, target: Any, step: int | None = None) -> tuple[int, Any] | None:
        """Restore onto ``target`` (a state with the wanted shapes, dtypes and shardings).

        ``step=None`` takes the newest step that restores and verifies, warning about and
        quarantining newer ones that do not. Returns None when there are no checkpoints;
        raises :class:`CheckpointError` when there are some but none is usable. The restored
        step's metrics are in :attr:`restored_metrics`; when they beat the best so far (the
        best save of that step was cut short), the step is saved into ``best/`` too.
        """
        self.wait()
        self.manager.reload()
        steps = sorted(self.manager.all_steps(), reverse=True)
        if step is not None:
            if step not in steps:
                raise CheckpointError(
                    f"{self.directory}: no checkpoint for step {step} (have {steps})"
                )
            steps = [step]
        if not steps:
            return None
        failures: list[str] = []
        for s in steps:
            try:
                state, meta = self._restore_step(s, target)
            except Exception as e:  # orbax/tensorstore raise many types for damaged files
                reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
                failures.append(f"step {s}: {reason}")
                log.warning(
                    "checkpoint %s/%d cannot be restored (%s); trying an older one",
                    self.directory,
                    s,
                    reason,
                )
                continue
            bad = [int(f.split()[1].rstrip(":")) for f in failures]
            if bad:
                log.warning("restored step %d after skipping damaged step(s) %s", s, bad)
                self._quarantine(bad)
            self.restored_metrics = {k: float(v) for k, v in meta.get("metrics", {}).items()}
            self._offer_best(s, state, self.restored_metrics)
            return s, state
        raise CheckpointError(
            f"no usable checkpoint in {self.directory}:\n  " + "\n  ".join(failures)
        )

    def _quarantine(self, steps: list[int]) -> None:
        if self.quarantine is None or jax.process_index() != 0:
            return
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
        for s in steps:
            src = self.directory / str(s)
            if src.exists():
                dst = self.quarantine / f"{s}-{stamp}"
                dst.parent.mkdir(parents=True, exist_ok=True)
                src.rename(dst)
                log.warning("moved damaged checkpoint %s to %s", src, dst)
        self.manager.reload()

    def wait(self) -> None:
        self.manager.wait_until_finished()
        if self.best_manager is not None:
            self.best_manager.wait_until_finished()

    def close(self) -> None:
        self.wait()
        self.manager.close()
        if self.best_manager is not None:
            self.best_manager.close()
