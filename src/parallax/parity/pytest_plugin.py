"""pytest integration: every registered kernel becomes parametrized parity tests.

Enable with ``pytest_plugins = ["parallax.parity.pytest_plugin"]`` in a ``conftest.py``. Then a
test that takes the ``parity_case`` fixture runs once per (kernel, test case, dtype) against the
torch twin (skipped, with the reason, when torch is not installed), and one that takes
``golden_case`` runs once per (kernel, test case, golden dtype) against the recorded arrays in
``--golden-dir`` (default ``tests/golden``)::

    def test_parity(parity_case):
        parity_case.check()
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from parallax.parity._golden import GOLDEN_DTYPES, check_golden
from parallax.parity._harness import run_parity, torch_available
from parallax.registry import specs


@dataclass(frozen=True)
class ParityCase:
    kernel: str
    case: str
    dtype: str
    golden_dir: Path | None = None

    def check(self) -> None:
        from parallax.registry import get

        spec = get(self.kernel)
        if self.golden_dir is None:
            if not torch_available():
                pytest.skip("torch is not installed (pip install 'parallax[torch]')")
            result = run_parity(spec, self.case, self.dtype)
        else:
            result = check_golden(spec, self.golden_dir, self.case, self.dtype)
        assert result.passed, result.message()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--golden-dir",
        default="tests/golden",
        help="directory of recorded torch reference arrays (parallax parity --record)",
    )


def _params(golden: Path | None) -> list:
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
