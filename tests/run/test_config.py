"""Config parsing and validation: unknown keys, wrong types, ranges and --help name the key."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import pytest

from parallax import run


@dataclasses.dataclass
class Model:
    width: Annotated[int, run.Range(ge=1)] = 8
    act: Literal["gelu", "relu"] = "gelu"


@dataclasses.dataclass
class Cfg(run.RunConfig):
    """A test experiment."""

    lr: Annotated[float, run.Range(gt=0, le=1)] = 1e-3
    """Learning rate."""
    model: Model = dataclasses.field(default_factory=Model)
    sizes: tuple[int, ...] = (4, 8)
    warmup: int = 0

    def validate(self) -> None:
        if self.warmup > self.steps:
            raise run.ConfigError("warmup", f"must not exceed steps={self.steps}")


def _err(argv, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        run.parse_config(Cfg, argv)
    assert e.value.code == 2
    return capsys.readouterr().err


def test_overrides_and_nested_fields():
    cfg = run.parse_config(
        Cfg,
        [
            "--lr",
            "0.5",
            "--model.width",
            "3",
            "--sizes",
            "1",
            "2",
            "3",
            "--mesh",
            "data=4,model=2",
            "--workdir",
            "/tmp/x",
        ],
    )
    assert cfg.lr == 0.5 and cfg.model.width == 3 and cfg.sizes == (1, 2, 3)
    assert cfg.mesh == "data=4,model=2" and cfg.workdir == "/tmp/x"
    assert run.config_to_dict(cfg)["model"] == {"width": 3, "act": "gelu"}


def test_unknown_key_and_bad_type_name_the_flag(capsys):
    assert "--lerning-rate" in _err(["--lerning-rate", "1"], capsys)
    err = _err(["--lr", "fast"], capsys)
    assert "--lr" in err and "fast" in err
    assert "--model.act" in _err(["--model.act", "tanh"], capsys)


@pytest.mark.parametrize(
    ("argv", "key", "text"),
    [
        (["--lr", "0"], "--lr", "> 0"),
        (["--lr", "2"], "--lr", "<= 1"),
        (["--lr", "nan"], "--lr", "finite"),
        (["--model.width", "0"], "--model.width", ">= 1"),
        (["--steps", "-1"], "--steps", ">= 0"),
        (["--log-every", "0"], "--log-every", ">= 1"),
        (["--warmup", "500"], "--warmup", "steps=200"),
        (["--mesh", "data=4,model"], "--mesh", "'name=size' pairs"),
        (["--mesh", "data=x"], "--mesh", "must be an int"),
        (["--mesh", "data=-1,model=-1"], "--mesh", "at most one"),
    ],
)
def test_out_of_range_values_name_the_key(argv, key, text):
    with pytest.raises(run.ConfigError) as e:
        run.parse_config(Cfg, argv)
    assert str(e.value).startswith(key + ":") and text in str(e.value)


def test_python_built_configs_are_type_checked():
    with pytest.raises(run.ConfigError, match="--lr: expected float"):
        run.validate_config(Cfg(lr="0.1"))  # type: ignore[arg-type]
    with pytest.raises(run.ConfigError, match="--steps: expected int"):
        run.validate_config(Cfg(steps=True))
    with pytest.raises(run.ConfigError, match=r"--model\.width: expected a value >= 1"):
        run.validate_config(Cfg(model=Model(width=0)))
    with pytest.raises(run.ConfigError, match="--sizes: expected"):
        run.validate_config(Cfg(sizes=(1, "2")))  # type: ignore[arg-type]
    run.validate_config(Cfg(lr=1))  # an int is a fine float


def test_help_lists_fields_with_docs(capsys):
    with pytest.raises(SystemExit) as e:
        run.parse_config(Cfg, ["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--lr", "--mesh", "--workdir", "--model.width", "--checkpoint-every"):
        assert flag in out
    assert "Learning rate." in out and "A test experiment." in out


def test_mesh_spec_and_fit():
    assert run.parse_mesh_spec("data=4, model=2") == {"data": 4, "model": 2}
    m = run.make_run_mesh("data=-1,model=2")
    assert dict(m.shape) == {"data": 4, "model": 2}
    assert dict(run.make_run_mesh("").shape) == {"data": 8}
    with pytest.raises(run.MeshError, match=r"needs 16 devices(.|\n)*this job sees 8 cpu"):
        run.make_run_mesh("data=4,model=4")
    with pytest.raises(run.MeshError, match="cannot be filled"):
        run.make_run_mesh("data=-1,model=3")


def test_config_diff():
    a = run.config_to_dict(Cfg())
    b = run.config_to_dict(Cfg(steps=5, lr=0.1, model=Model(width=2)))
    assert run.config_diff(a, b, Cfg.RESUMABLE) == [
        "lr: run has 0.001, command has 0.1",
        "model.width: run has 8, command has 2",
    ]
