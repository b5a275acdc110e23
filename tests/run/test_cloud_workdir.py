"""Run directories on cloud storage: config, summary, resumes, metrics, log, TensorBoard events
and plots go through etils ``epath``, tested on a local folder and on a fake ``gs://`` bucket
(fsspec's in-memory filesystem registered for the ``gs`` protocol, refusing appends like GCS).
Orbax checkpoints on ``gs://`` are not covered here: orbax writes arrays with tensorstore's own
GCS driver, which no installed fake serves."""

from __future__ import annotations

import json
import logging
from typing import Any

import fsspec
import pytest
from etils import epath
from fsspec.implementations.memory import MemoryFileSystem

from parallax import run
from parallax.run._files import TextSink
from parallax.run._rundir import resolve_workdir


class FakeGCS(MemoryFileSystem):
    """An in-memory bucket for ``gs://`` paths; like GCS it cannot append to an object."""

    protocol = ("gs", "gcs")

    def __init__(self, *args: Any, finalize_on_close: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)

    def _open(self, path: str, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        if "a" in mode:
            raise NotImplementedError("GCS objects cannot be appended to")
        return super()._open(path, mode, *args, **kwargs)


@pytest.fixture
def fake_gcs():
    previous = {p: fsspec.registry.get(p) for p in FakeGCS.protocol}
    for p in FakeGCS.protocol:
        fsspec.register_implementation(p, FakeGCS, clobber=True)
    yield
    for k in [k for k in FakeGCS.store if k.startswith("gs://")]:
        del FakeGCS.store[k]
    for p, cls in previous.items():
        if cls is not None:
            fsspec.register_implementation(p, cls, clobber=True)


@pytest.fixture(params=["local", "gs"])
def workdir(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "run")
    request.getfixturevalue("fake_gcs")
    return "gs://bucket/parallax/runs/toy"


def test_run_files_through_epath(toy, workdir):
    root = resolve_workdir(workdir, "toy_experiment")
    assert str(root).endswith("run") or str(root) == workdir  # cloud paths are kept as given
    d = run.RunDir(root)
    cfg = toy.Config(workdir=workdir, steps=4)
    assert d.check_compatible(cfg, "toy_experiment") is False
    d.create(cfg, "toy_experiment", {"host": "h"})
    assert d.check_compatible(cfg, "toy_experiment") is True
    with pytest.raises(run.IncompatibleRunError, match="different config"):
        d.check_compatible(toy.Config(workdir=workdir, steps=4, dim=5), "toy_experiment")
    d.write_summary({"status": "completed"})
    d.write_summary({"status": "completed", "step": 4})  # replaced whole
    assert json.loads(d.summary.read_text()) == {"status": "completed", "step": 4}
    assert json.loads(d.config.read_text())["experiment"] == "toy_experiment"

    w = run.MetricsWriter(d.metrics, d.tensorboard)
    for step in (2, 4, 6):
        w.write(step, {"loss": 1.0 / step})
    w.truncate_after(4)  # a resumed run drops what came after its checkpoint
    w.write(6, {"loss": 0.5})
    w.close()
    assert [(r["step"], r["loss"]) for r in run.read_metrics(d.metrics)] == [
        (2, 0.5),
        (4, 0.25),
        (6, 0.5),
    ]
    assert any(p.name.startswith("events.out.tfevents") for p in d.tensorboard.iterdir())

    fig, (ax,) = run.new_figure()
    ax.plot([0, 1], [1, 0])
    ax.set(title="a line", xlabel="x", ylabel="y")
    png = run.save_figure(fig, d.plots / "curve.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run.plot_metrics(run.read_metrics(d.metrics), ["loss"], d.plots / "m.png")


def test_log_sink_batches_uploads(workdir):
    """The log of a cloud run is one object rewritten at most every flush_s seconds and on
    close; a local log is appended line by line."""
    root = epath.Path(resolve_workdir(workdir, "x"))
    sink = TextSink(root / "log.txt", flush_s=3600)
    handler = logging.StreamHandler(sink)
    logger = logging.getLogger("parallax.test.sink")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("first")
        logger.warning("second")
        if sink.remote:
            assert not (root / "log.txt").exists()  # not uploaded before flush_s or close
    finally:
        logger.removeHandler(handler)
        sink.close()
    assert (root / "log.txt").read_text() == "first\nsecond\n"
    again = TextSink(root / "log.txt")  # a resumed run keeps what was there
    again.write("third\n")
    again.close()
    assert (root / "log.txt").read_text().splitlines() == ["first", "second", "third"]


def test_reruns_and_resumes_through_epath(toy, workdir, capsys):
    """What later invocations write and read: a workdir holding only a temporary file from a
    kill is reused, each resume appends its config to resumes.jsonl (the fake bucket refuses
    appends), and a finished run is recognised and not run again."""
    root = resolve_workdir(workdir, "toy_experiment")
    d = run.RunDir(root)
    first = toy.Config(workdir=workdir, steps=4)
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json.123.tmp").write_text("{")  # a kill while config.json was written
    assert d.check_compatible(first, "toy_experiment") is False
    d.create(first, "toy_experiment", {"host": "a"})
    assert not (root / "config.json.123.tmp").exists()

    d.write_summary({"status": "preempted", "step": 2})
    longer = toy.Config(workdir=workdir, steps=6)
    for host in ("b", "c"):
        assert d.check_compatible(longer, "toy_experiment") is True
        d.create(longer, "toy_experiment", {"host": host})
    resumes = [json.loads(line) for line in d.resumes.read_text().splitlines()]
    assert [r["environment"]["host"] for r in resumes] == ["b", "c"]
    assert resumes[0]["changes"] == ["steps: run has 4, command has 6"]
    assert resumes[1]["changes"] == []
    assert resumes[0]["previous"] == {"status": "preempted", "step": 2}
    assert json.loads(d.environment.read_text()) == {"host": "a"}  # written once
    assert d.latest_config()["steps"] == 6

    done = {"experiment": "toy_experiment", "status": "completed", "step": 6, "steps": 6}
    d.write_summary({**done, "wall_time_s": 1.0, "workdir": workdir})
    assert d.finished_summary(toy.Config(workdir=workdir, steps=8)) is None  # trains further
    assert d.finished_summary(toy.Config(workdir=workdir, steps=6, lr=0.1)) is None
    r = run.Run(toy.Config(workdir=workdir, steps=6, progress="log"), "toy_experiment")
    assert r.finished() == json.loads(d.summary.read_text())
    assert "already completed" in d.log.read_text()
    assert "== toy_experiment: completed at step 6 of 6" in capsys.readouterr().out
