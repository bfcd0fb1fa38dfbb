"""Dependency pins stay true: every base dependency is imported, the sam2 extra matches sam2's own needs."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
IMPORT_NAME = {"opencv-python-headless": "cv2", "pillow": "PIL"}


def _imported_modules() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "src" / "sammask").rglob("*.py"):
        for m in re.finditer(r"^\s*(?:from|import)\s+([A-Za-z_][A-Za-z0-9_]*)", path.read_text(), re.MULTILINE):
            found.add(m.group(1))
    return found


def test_every_base_dependency_is_imported_by_the_package() -> None:
    imported = _imported_modules()
    for spec in PROJECT["dependencies"]:
        name = Requirement(spec).name.lower()
        assert IMPORT_NAME.get(name, name) in imported, f"{spec} is declared but sammask never imports it"


def test_sam2_extra_covers_the_hash_pinned_sam2() -> None:
    pinned = re.search(r"^sam2==(\S+)", (ROOT / "requirements" / "sam2.txt").read_text(), re.MULTILINE)
    assert pinned and metadata.version("sam2") == pinned.group(1)  # the installed sam2 is the pinned one
    ours = {Requirement(s).name.lower(): Requirement(s)
            for s in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["sam2"]}
    for spec in metadata.requires("sam2") or []:
        req = Requirement(spec)
        if req.marker is not None or req.name.lower() == "torchvision":  # extras; torchvision avoided (design.md)
            continue
        mine = ours.get(req.name.lower())
        assert mine is not None, f"sam2 needs {spec}, which neither the base nor the sam2 extra installs"
        floor = min(Version(s.version) for s in req.specifier if s.operator == ">=")
        my_floor = [Version(s.version) for s in mine.specifier if s.operator in (">=", "==")]
        assert my_floor and min(my_floor) >= floor, f"{mine} allows versions below sam2's {spec}"
