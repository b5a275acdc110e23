"""Golden arrays: recording and checking; stale or missing files fail loudly."""

from __future__ import annotations

import pytest

from parallax.parity import check_golden, record_golden
from parallax.registry import get


def test_missing_golden_file_fails_with_instructions(tmp_path):
    r = check_golden(get("pde.heat_1d"), tmp_path, "test", "float32")
    assert not r.passed and "--record" in (r.error or "")


def test_record_then_check(tmp_path):
    pytest.importorskip("torch", reason="recording needs the torch twin")
    spec = get("nn.dot_product_attention")
    path = record_golden(spec, tmp_path, cases=("test",))
    assert path.exists() and path.stat().st_size < 200_000
    for dtype in ("float32", "float64"):
        r = check_golden(spec, tmp_path, "test", dtype)
        assert r.passed, r.message()
    missing = check_golden(spec, tmp_path, "test_full", "float32")
    assert not missing.passed and "no entry" in (missing.error or "")
