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
        ax.set(xlabel="x (m)", ylabel="y (m)", title="a line")
        return {"a": str(r.save_figure(fig, "line")), "b": str(r.plot_metrics(["x", "y"]))}

    s = run.execute(main, Cfg(workdir=str(tmp_path)), name="plots")
    for key in "ab":
        with open(s["results"][key], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_an_unlabelled_figure_is_reported(tmp_path):
    fig, (a, b) = run.new_figure(2)
    im = a.imshow([[0.0, 1.0]])
    fig.colorbar(im, ax=a)
    a.set(xlabel="x", ylabel="y", title="field")
    b.set(xlabel="t")
    with pytest.warns(run.UnlabelledFigureWarning) as w:
        run.save_figure(fig, tmp_path / "f.png")
    msg = str(w[0].message)
    assert "colour bar 2: no label" in msg and "panel 1 (untitled): no title" in msg
    assert "panel 1 (untitled): no y label" in msg and "panel 0" not in msg


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
    assert run.cli(toy.main, toy.Config, argv, exit=False) == 2
    assert "does not exist" in capsys.readouterr().err


def test_init_from_another_run(toy, tmp_path):
    run.execute(toy.main, toy.Config(workdir=str(tmp_path / "a"), steps=3))
    s = run.execute(
        toy.main, toy.Config(workdir=str(tmp_path / "b"), steps=5, init_from=str(tmp_path / "a"))
    )
    assert s["status"] == "completed" and s["step"] == 5
    assert "initialised from checkpoint" in (tmp_path / "b" / "log.txt").read_text()
    (tmp_path / "empty").mkdir()
    with pytest.raises(run.ConfigError, match=r"--init-from: .* holds no checkpoint"):
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


def test_init_from_a_relative_path(toy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run.execute(toy.main, toy.Config(workdir="runs/a", steps=2, checkpoint_every=1))
    s = run.execute(toy.main, toy.Config(workdir="runs/b", steps=4, init_from="runs/a"))
    assert s["status"] == "completed" and s["step"] == 4
    assert f"{tmp_path}/runs/a/checkpoints/2" in (tmp_path / "runs/b/log.txt").read_text()


def test_a_bad_init_from_path_is_a_usage_error_naming_the_flag(toy, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for bad, why in (("missing", "does not exist"), ("empty", "holds no checkpoint")):
        argv = ["--workdir", str(tmp_path / f"w-{bad}"), "--init-from", str(tmp_path / bad)]
        assert run.cli(toy.main, toy.Config, argv, exit=False) == run.EXIT_CODES["usage"]
        err = capsys.readouterr().err
        assert err.startswith("error: --init-from: ") and why in err, err
        assert "usable" not in err and "damaged" not in err
        assert not (tmp_path / f"w-{bad}").exists()  # refused before anything was written


def test_resume_keeps_the_history_of_configs_and_environments(toy, tmp_path, monkeypatch):
    run.execute(toy.main, toy.Config(workdir=str(tmp_path), steps=2))
    first_cfg = json.loads((tmp_path / "config.json").read_text())
    first_env = json.loads((tmp_path / "environment.json").read_text())
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8 --marker")
    run.execute(toy.main, toy.Config(workdir=str(tmp_path), steps=4))
    assert json.loads((tmp_path / "config.json").read_text()) == first_cfg
    assert json.loads((tmp_path / "environment.json").read_text()) == first_env
    (rec,) = [json.loads(line) for line in (tmp_path / "resumes.jsonl").read_text().splitlines()]
    assert rec["config"]["steps"] == 4 and rec["changes"] == ["steps: run has 2, command has 4"]
    assert rec["previous"] == {"status": "completed", "step": 2}
    assert "--marker" in rec["environment"]["env"]["XLA_FLAGS"]


def test_a_workdir_left_by_a_kill_before_config_json_is_reused(toy, tmp_path):
    """What a kill between creating the workdir and writing config.json can leave: empty
    run-dir folders and a half-written config (its temporary file)."""
    (tmp_path / "plots").mkdir()
    (tmp_path / "config.json.tmp").write_text('{"experim')
    s = run.execute(toy.main, toy.Config(workdir=str(tmp_path), steps=2))
    assert s["status"] == "completed" and s["resumed_from"] is None
    assert not (tmp_path / "config.json.tmp").exists()


def test_resume_reloads_the_saved_config(toy, tmp_path, capsys):
    wd = tmp_path / "a"
    argv = ["--workdir", str(wd), "--steps", "4", "--lr", "0.01", "--dim", "3", "--sigterm-at", "2"]
    assert run.cli(toy.main, toy.Config, argv, exit=False) == 0
    assert json.loads((wd / "summary.json").read_text())["status"] == "preempted"
    # the non-default flags come back from the run directory; resumable ones may be overridden
    assert run.cli(toy.main, toy.Config, ["--resume", str(wd), "--steps", "6"], exit=False) == 0
    s = json.loads((wd / "summary.json").read_text())
    assert s["status"] == "completed" and s["step"] == 6 and len(s["results"]["w"]) == 3
    saved = json.loads((wd / "resumes.jsonl").read_text().splitlines()[-1])["config"]
    assert saved["lr"] == 0.01 and saved["steps"] == 6 and saved["sigterm_at"] == 2
    # a flag that cannot change on resume is refused, naming it
    assert run.cli(toy.main, toy.Config, ["--resume", str(wd), "--lr", "1"], exit=False) == 2
    assert "lr: run has 0.01, command has 1.0" in capsys.readouterr().err
    assert run.cli(toy.main, toy.Config, ["--resume", str(tmp_path / "nope")], exit=False) == 2
    assert "--resume: " in capsys.readouterr().err


def test_every_run_ends_with_a_results_block(toy, tmp_path, capsys):
    def main(cfg, r):
        out = toy.main(cfg, r)
        r.report("max |w - w_true|", out["w_error"], "below 0.5")
        r.plot_metrics(["loss"], "training")
        return out

    s = run.execute(main, toy.Config(workdir=str(tmp_path), steps=4), name="toy_experiment")
    out = capsys.readouterr().out
    assert out.startswith("== toy_experiment: completed at step 4 of 4 (")
    assert re.search(r"max \|w - w_true\|\s+\S+\s+\(good: below 0\.5\)", out)
    assert f"plots: {tmp_path}/plots/training.png" in out
    assert f"TensorBoard: tensorboard --logdir {tmp_path}/tb" in out
    assert s["report"] == [
        {"label": "max |w - w_true|", "value": s["results"]["w_error"], "good": "below 0.5"}
    ]
    # run again: nothing is recomputed, the same block is printed
    again = run.execute(main, toy.Config(workdir=str(tmp_path), steps=4), name="toy_experiment")
    assert again == s
    assert "max |w - w_true|" in capsys.readouterr().out
