"""Every experiment script parses its default config, validates it, and prints --help."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from parallax import run

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
RUNNER_EXPERIMENTS = sorted(
    p for p in EXPERIMENTS.glob("*.py") if "run.cli(main, Config)" in p.read_text()
)


def test_the_issue_experiments_exist():
    names = {p.stem for p in RUNNER_EXPERIMENTS}
    assert {"ks_emulator"} <= names


@pytest.mark.parametrize("path", RUNNER_EXPERIMENTS, ids=lambda p: p.stem)
def test_config_parses_and_validates(path, capsys):
    mod = run.load_experiment(path)
    cfg = run.parse_config(mod.Config, [])
    assert cfg == mod.Config()
    assert mod.__doc__ and "scripts/run" in mod.__doc__  # the docstring gives the command
    with pytest.raises(SystemExit) as e:
        run.parse_config(mod.Config, ["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for f in dataclasses.fields(mod.Config):
        if not dataclasses.is_dataclass(f.type):
            assert "--" + f.name.replace("_", "-") in out
    with pytest.raises(SystemExit):
        run.parse_config(mod.Config, ["--no-such-option", "1"])
    with pytest.raises(run.ConfigError, match="--steps"):
        run.parse_config(mod.Config, ["--steps", "-5"])
