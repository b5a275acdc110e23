"""Twins are independent ports: they import torch, NumPy and NumPy-only tables, never JAX code.

The rule is written in :mod:`parallax.kernels`. Two checks: every import statement of a twin
module (function-level ones included) names an allowed module, and each twin module imports in a
fresh interpreter where ``jax`` cannot be imported at all.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

KERNELS = Path(__file__).resolve().parents[2] / "kernels"
TWIN_HELPERS = KERNELS / "_twins.py"
TWINS = [*sorted(KERNELS.glob("*/twins/*.py")), TWIN_HELPERS]
TABLES = sorted(KERNELS.rglob("_*_np.py"))
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(KERNELS).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("parallax", "kernels", *parts))


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every import statement in ``path``, absolute names."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            out.append((node.lineno, node.module or ""))
    return out


def _is_twin(module: str) -> bool:
    return ".twins" in module and module.startswith("parallax.kernels.")


def _is_table(module: str) -> bool:
    return module.startswith("parallax.kernels.") and module.rsplit(".", 1)[-1].endswith("_np")


def test_the_rule_covers_every_family_and_the_shared_tables():
    families = {p.parent.parent.name for p in TWINS if p.parent.name == "twins"}
    assert families == {"nn", "ode", "particles", "pde", "sde"}
    assert {p.name for p in TABLES} >= {"_dopri5_np.py", "_fd_weights_np.py"}


@pytest.mark.parametrize("path", TWINS, ids=lambda p: str(p.relative_to(KERNELS)))
def test_twin_imports_only_torch_numpy_and_tables(path):
    bad = []
    for line, module in _imports(path):
        top = module.split(".")[0]
        allowed = (
            top in {"torch", "numpy"}
            or top in STDLIB
            or _is_twin(module)
            or _is_table(module)
            or module == "parallax.kernels._twins"
        )
        if not allowed:
            bad.append(f"{path.name}:{line}: {module}")
    assert not bad, (
        "a twin imports JAX-side code (move shared constants to a _*_np.py table):\n"
        + ("\n".join(bad))
    )


@pytest.mark.parametrize("path", TABLES, ids=lambda p: str(p.relative_to(KERNELS)))
def test_tables_import_only_numpy_and_the_standard_library(path):
    bad = [
        f"{path.name}:{line}: {module}"
        for line, module in _imports(path)
        if module.split(".")[0] not in STDLIB | {"numpy"}
    ]
    assert not bad, "\n".join(bad)


def test_every_twin_imports_with_jax_blocked():
    """The parent packages are stubbed (their ``__init__`` imports the JAX kernels); everything a
    twin module loads then comes from torch, NumPy, tables and other twins."""
    pytest.importorskip("torch")
    modules = [_module_name(p) for p in TWINS]
    families = sorted({f"parallax.kernels.{p.parent.parent.name}" for p in TWINS[:-1]})
    packages = ["parallax", "parallax.kernels", *families]
    script = textwrap.dedent(
        f"""
        import importlib, sys, types
        from pathlib import Path
        sys.modules["jax"] = None  # any `import jax` now raises ImportError
        kernels = Path({str(KERNELS)!r})
        for name in {packages!r}:
            pkg = types.ModuleType(name)
            pkg.__path__ = [str(kernels.joinpath(*name.split(".")[2:]))]
            sys.modules[name] = pkg
        for name in {modules!r}:
            importlib.import_module(name)
        assert sys.modules["jax"] is None
        print("imported", len({modules!r}))
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"imported {len(modules)}" in res.stdout
