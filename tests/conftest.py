"""Shared fixtures: paths into ../shared/data (real clips and DAVIS ground truth)."""

from __future__ import annotations

import os
from pathlib import Path

import netguard
import pytest
from hypothesis import settings

# Property tests: in CI (CI=true) every run draws the same examples, so a red CI is never a draw of
# chance; local runs keep drawing new ones, and a case they find becomes an explicit @example.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# the tiny SAM 2 fixtures (tiny_model, tiny_checkpoint) for every test module, and the check that
# no test leaves a child process or a non-daemon thread behind (tests/leakcheck.py)
pytest_plugins = ("sam2_helpers", "leakcheck", "pytester")

# Test tiers (markers registered in pyproject.toml; `make test-fast` deselects all five). Whole
# modules by what they need; `data` and `models` also follow from the fixtures a test uses.
MODULE_MARKS = {
    "test_service.py": ("service",),
    "test_service_detect.py": ("service",),
    "test_service_security.py": ("service",),
    "test_service_page.py": ("service", "browser"),
    "test_ui.py": ("browser",),
    "test_annotate_sam2.py": ("models",),
    "test_sam2_e2e.py": ("models",),
    "test_sam2_image.py": ("models",),
    "test_sam2_model.py": ("models",),
    "test_sam2_runtime.py": ("models",),
    "test_sam2_video.py": ("models",),
    "test_hf_video.py": ("models",),
}
FIXTURE_MARKS = {"shared_data": "data", "tiny_model": "models", "tiny_checkpoint": "models", "tiny_rtdetr": "models"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(MODULE_MARKS.get(item.path.name, ()))
        names |= {mark for fixture, mark in FIXTURE_MARKS.items() if fixture in getattr(item, "fixturenames", ())}
        for name in sorted(names):
            item.add_marker(getattr(pytest.mark, name))


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


@pytest.fixture(autouse=True)
def _no_network():
    """Issue 14, class 8: no test may open a non-loopback connection or make a DNS lookup.

    The guard (tests/netguard.py) refuses them and records them, also from threads that swallow
    the error (telemetry senders); a test that caused one fails here.
    """
    netguard.install()
    before = len(netguard.VIOLATIONS)
    yield
    new = netguard.VIOLATIONS[before:]
    del netguard.VIOLATIONS[before:]
    assert not new, f"non-loopback network use during the test: {new}"
