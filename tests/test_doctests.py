"""The ``Examples:`` sections of the package's docstrings run, and say what they show."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MODULES = sorted(".".join(p.relative_to(SRC).with_suffix("").parts) for p in (SRC / "sammask").rglob("*.py") if ">>> " in p.read_text())


def test_examples_exist() -> None:
    import sammask

    assert "sammask.export.rle" in MODULES
    entry_points = ["redact", "RedactSettings", "MaskingOptions", "Tracks", "Detection", "read_tracks", "probe", "Session", "run_batch"]
    missing = [name for name in entry_points if "Examples:" not in (getattr(sammask, name).__doc__ or "")]
    assert not missing, f"no Examples: section on {missing}"


@pytest.mark.parametrize("name", MODULES)
def test_module_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
