"""Shared fixtures: paths into ../shared/data (real clips and DAVIS ground truth)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# the tiny SAM 2 fixtures (tiny_model, tiny_checkpoint) for every test module
pytest_plugins = ("sam2_helpers",)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SAMMASK_SHARED", REPO.parent / "shared")).resolve()
DATA = SHARED / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repo (or ``$SAMMASK_SHARED/data``). Fails if absent."""
    if not DATA.is_dir():
        pytest.fail(f"shared data not found at {DATA}; set SAMMASK_SHARED to the shared/ folder")
    return DATA


@pytest.fixture(scope="session")
def davis_seq(shared_data: Path):
    """Return a function ``name -> Path`` to a DAVIS sequence folder (2016 or 2017-lowres)."""

    def _get(name: str) -> Path:
        for sub in ("davis2016", "davis2017-lowres"):
            p = shared_data / sub / name
            if p.is_dir():
                return p
        pytest.fail(f"DAVIS sequence {name} not found under {shared_data}")

    return _get


@pytest.fixture(scope="session", autouse=True)
def _export_cache(tmp_path_factory):
    """SAM 2 runtime exports of this test session go to one temporary folder, not ~/.cache."""
    old = os.environ.get("SAMMASK_EXPORT_CACHE")
    os.environ["SAMMASK_EXPORT_CACHE"] = str(tmp_path_factory.mktemp("sam2-exports"))
    yield
    if old is None:
        os.environ.pop("SAMMASK_EXPORT_CACHE", None)
    else:
        os.environ["SAMMASK_EXPORT_CACHE"] = old
