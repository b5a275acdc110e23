"""The run directory's contents and the clear reports for bad workdirs, meshes and checkpoints."""

from __future__ import annotations

import json
import re

import pytest

from parallax import run


def test_run_directory_contents(toy, tmp_path):
    s = run.execute(toy.main, toy.Config(steps=4, checkpoint_every=2), runs_root=tmp_path)
    (wd,) = (tmp_path / "toy_experiment").iterdir()
    assert re.fullmatch(r"\d{8}-\d{6}", wd.name)  # runs/NAME/<UTC timestamp>
    cfg = json.loads((wd / "config.json").read_text())
    assert cfg["experiment"] == "toy_experiment" and cfg["config"]["steps"] == 4
    env = json.loads((wd / "environment.json").read_text())
    assert env["versions"]["jax"] and env["versions"]["orbax-checkpoint"]
    assert env["devices"]["count"] == 8 and env["backend"] == "cpu"
    assert "commit" in env["git"] and "env" in env and env["argv"]
    rows = run.read_metrics(wd / "metrics.jsonl")
    assert [r["step"] for r in rows] == [2, 4] and all("loss" in r for r in rows)
    assert any(p.name.startswith("events.out.tfevents") for p in (wd / "tb").iterdir())
    assert sorted(p.name for p in (wd / "checkpoints").iterdir()) == ["2", "4"]
    assert any((wd / "best").iterdir())
    summary = json.loads((wd / "summary.json").read_text())
    assert summary == s and s["status"] == "completed" and s["final_metrics"]["loss"] > 0
    assert len(s["results"]["w"]) == 4
    assert "starting toy_experiment" in (wd / "log.txt").read_text()


def test_plots_are_pngs(tmp_path):
    import dataclasses

    @dataclasses.dataclass
    class Cfg(run.RunConfig):
        steps: int = 6
        log_every: int = 1

    def main(cfg, r):
        import jax.numpy as jnp

        s = r.restore_or_init(lambda: {"x": jnp.zeros(())})
        r.loop(s, lambda s, i: ({"x": s["x"] + 1}, {"x": s["x"] + 1.0, "y": 2.0**-i}))
        fig, (ax,) = run.new_figure()
        ax.plot([0, 1], [1, 0])
        return {"a": str(r.save_figure(fig, "line")), "b": str(r.plot_metrics(["x", "y"]))}

    s = run.execute(main, Cfg(workdir=str(tmp_path)), name="plots")
    for key in "ab":
        with open(s["results"][key], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_incompatible_workdir_is_refused(toy, tmp_path):
    run.execute(toy.main, toy.Config(workdir=str(tmp_path), steps=2))
    with pytest.raises(run.IncompatibleRunError, match=r"lr: run has 0.05, command has 0.1"):
        run.execute(toy.main, toy.Config(workdir=str(tmp_path), steps=2, lr=0.1))
    # fields that may change on resume do not block it
    s = run.execute(toy.main, toy.Config(workdir=str(tmp_path), steps=4, log_every=1))
    assert s["resumed_from"] == 2 and s["status"] == "completed"
    with pytest.raises(run.IncompatibleRunError, match="experiment 'toy_experiment', not 'other'"):
        run.execute(toy.main, toy.Config(workdir=str(tmp_path), steps=2), name="other")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("mine")
    with pytest.raises(run.IncompatibleRunError, match=r"holds no config\.json"):
        run.execute(toy.main, toy.Config(workdir=str(junk)))


def test_cli_reports_bad_input_in_one_line(toy, tmp_path, capsys):
    argv = ["--workdir", str(tmp_path / "a"), "--mesh", "data=3"]
    assert run.cli(toy.main, toy.Config, argv, exit=False) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --mesh 'data=3' does not fit: mesh (data=3) needs 3 devices")
    assert not (tmp_path / "a").exists()  # nothing was written
    argv = ["--workdir", str(tmp_path / "b"), "--init-from", str(tmp_path / "missing")]
    assert run.cli(toy.main, toy.Config, argv, exit=False) == 4
    assert "does not exist" in capsys.readouterr().err


def test_init_from_another_run(toy, tmp_path):
    run.execute(toy.main, toy.Config(workdir=str(tmp_path / "a"), steps=3))
    s = run.execute(
        toy.main, toy.Config(workdir=str(tmp_path / "b"), steps=5, init_from=str(tmp_path / "a"))
    )
    assert s["status"] == "completed" and s["step"] == 5
    assert "initialised from checkpoint" in (tmp_path / "b" / "log.txt").read_text()
    (tmp_path / "empty").mkdir()
    with pytest.raises(run.CheckpointError, match="no checkpoints"):
        run.execute(
            toy.main, toy.Config(workdir=str(tmp_path / "c"), init_from=str(tmp_path / "empty"))
        )


def test_progress_log_lines(toy, tmp_path):
    run.execute(toy.main, toy.Config(workdir=str(tmp_path / "a"), steps=4, progress="log"))
    lines = (tmp_path / "a" / "log.txt").read_text()
    assert re.search(r"step 4/4 loss=\S+ \| [\d.]+ steps/s, ETA \S+", lines)
    s = run.execute(toy.main, toy.Config(workdir=str(tmp_path / "b"), steps=4, progress="bar"))
    assert s["status"] == "completed"


def test_format_duration():
    from parallax.run._progress import format_duration

    assert [format_duration(x) for x in (5, 65, 3725, float("nan"))] == [
        "5s",
        "1m05s",
        "1h02m05s",
        "?",
    ]


def test_multi_device_runs_turn_value_checks_into_nan(tmp_path):
    """On a mesh of several devices the runner traces kernels with value_checks("nan")."""
    from parallax.kernels import _checks

    seen = []

    def main(cfg, r):
        seen.append((r.mesh.size, _checks._mode[-1]))
        return {}

    run.execute(main, run.RunConfig(), runs_root=tmp_path, name="probe")
    assert seen == [(8, "nan")] and _checks._mode[-1] == "default"
