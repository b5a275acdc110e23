"""Every experiment script parses its default config, validates it, and prints --help."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from parallax import run

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
# Every script in experiments/, by name. These run through parallax.run (typed Config, main) ...
RUNNER_EXPERIMENTS = ("inverse_heat", "kolmogorov_sharded", "ks_emulator", "lj_fluid", "lm_sharded")
# ... and these are plain scripts with their own command line (tested on their own).
PLAIN_SCRIPTS = ("heat_demo",)


def test_every_script_is_registered_here():
    assert {p.stem for p in EXPERIMENTS.glob("*.py")} == {*RUNNER_EXPERIMENTS, *PLAIN_SCRIPTS}


def test_the_default_experiment_is_a_runner_experiment():
    from parallax.cli._run import DEFAULT_EXPERIMENT

    assert DEFAULT_EXPERIMENT in RUNNER_EXPERIMENTS


@pytest.mark.parametrize("name", RUNNER_EXPERIMENTS)
def test_config_parses_and_validates(name, capsys):
    mod = run.load_experiment(EXPERIMENTS / f"{name}.py")
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
