"""pytest plugin, loaded automatically in every project where parallax is installed (entry point
``pytest11: parallax``; disable with ``-p no:parallax``). It imports nothing heavy at start-up:
JAX, torch and the registry load only when a test asks for a fixture below.

``parity`` — compare a JAX port with its torch reference in one line::

    def test_my_port(parity):
        parity(my_jax_fn, my_torch_fn, (x, w))               # assert_parity
        parity.modules(my_jax_model, my_torch_module, (x,), rules=rules)  # compare_modules

Both assert (``AssertionError`` carrying the report's table) and return the report. They run
at the dtypes given by ``--parity-dtypes`` (default ``float32,float64``) unless a test passes
``dtypes=``. A test using ``parity`` is skipped, with the reason, when torch is not installed.

``parity_case`` / ``golden_case`` — one test per (registered kernel, ``test*`` case, dtype)
against its torch twin, or against the golden arrays in ``--golden-dir`` (default
``tests/golden``)::

    def test_parity(parity_case):
        parity_case.check()
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DEFAULT_DTYPES = "float32,float64"
TORCH_MISSING = "torch is not installed (pip install 'parallax[torch]')"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parallax", "parallax parity")
    group.addoption(
        "--parity-dtypes",
        default=DEFAULT_DTYPES,
        help=f"comma-separated dtypes of the `parity` fixture (default {DEFAULT_DTYPES})",
    )
    group.addoption(
        "--golden-dir",
        default="tests/golden",
        help="directory of recorded torch reference arrays (parallax parity --record)",
    )


def _dtypes(config: pytest.Config) -> tuple[str, ...]:
    raw = str(config.getoption("--parity-dtypes"))
    dtypes = tuple(d.strip() for d in raw.split(",") if d.strip())
    known = ("float32", "float64", "bfloat16", "float16")
    bad = [d for d in dtypes if d not in known]
    if bad or not dtypes:
        raise pytest.UsageError(f"--parity-dtypes: expected a comma list of {known}, got {raw!r}")
    return dtypes


class ParityFixture:
    """The ``parity`` fixture: :func:`parallax.parity.assert_parity` and
    :func:`parallax.parity.compare_modules` with the session's dtypes."""

    def __init__(self, dtypes: tuple[str, ...]) -> None:
        self.dtypes = dtypes

    def __call__(self, jax_fn: Any, torch_fn: Any, inputs: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        from parallax.parity import assert_parity

        kwargs.setdefault("dtypes", self.dtypes)
        return assert_parity(jax_fn, torch_fn, inputs, **kwargs)

    def modules(self, jax_model: Any, torch_module: Any, inputs: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        from parallax.parity import ParityError, compare_modules

        kwargs.setdefault("dtypes", self.dtypes)
        report = compare_modules(jax_model, torch_module, inputs, **kwargs)
        if not report.passed:
            raise ParityError(report)
        return report


@pytest.fixture
def parity(request: pytest.FixtureRequest) -> ParityFixture:
    pytest.importorskip("torch", reason=TORCH_MISSING)
    return ParityFixture(_dtypes(request.config))


@dataclass(frozen=True)
class ParityCase:
    """One registered (kernel, case, dtype): against the torch twin, or against the golden
    arrays in ``golden_dir``."""

    kernel: str
    case: str
    dtype: str
    golden_dir: Path | None = None

    def check(self) -> None:
        from parallax.parity import check_golden, run_parity, torch_available
        from parallax.registry import get

        spec = get(self.kernel)
        if self.golden_dir is None:
            if not torch_available():
                pytest.skip(TORCH_MISSING)
            result = run_parity(spec, self.case, self.dtype)
        else:
            result = check_golden(spec, self.golden_dir, self.case, self.dtype)
        assert result.passed, result.message()


def _params(golden: Path | None) -> list[Any]:
    from parallax.parity import GOLDEN_DTYPES
    from parallax.registry import specs

    out = []
    for spec in specs():
        for case in (c for c in spec.cases if c.startswith("test")):
            dtypes = (
                spec.dtypes if golden is None else [d for d in spec.dtypes if d in GOLDEN_DTYPES]
            )
            for dtype in dtypes:
                pc = ParityCase(spec.name, case, dtype, golden)
                out.append(pytest.param(pc, id=f"{spec.name}-{case}-{dtype}"))
    return out


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "parity_case" in metafunc.fixturenames:
        metafunc.parametrize("parity_case", _params(None))
    if "golden_case" in metafunc.fixturenames:
        root = Path(str(metafunc.config.rootpath))
        golden = root / str(metafunc.config.getoption("--golden-dir"))
        metafunc.parametrize("golden_case", _params(golden))
