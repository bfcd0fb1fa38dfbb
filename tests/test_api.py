"""The curated top-level API: every name resolves to its room's object, lazily."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import sammask


@pytest.mark.parametrize("name", sorted(sammask._API))
def test_public_name_is_the_rooms_object(name: str) -> None:
    assert getattr(sammask, name) is getattr(importlib.import_module(sammask._API[name]), name)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sammask.nope  # noqa: B018 - the attribute access is the test


def test_import_sammask_loads_no_room_and_no_numpy() -> None:
    code = "import json, sys, sammask; print(json.dumps(sorted(m for m in sys.modules if m.startswith(('sammask', 'numpy')))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert json.loads(out) == ["sammask"]


def test_typed_marker_ships() -> None:
    assert (importlib.resources.files("sammask") / "py.typed").is_file()


def test_all_lists_exactly_the_api() -> None:
    assert set(sammask.__all__) == set(sammask._API) | {"__version__"}
