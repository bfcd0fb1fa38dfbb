"""Every command's --help is text for users: no docstring sections, Sphinx roles, reST markup or
internal (module) names."""

from __future__ import annotations

import re

import click
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from sammask.cli import app

INTERNAL_NAME = re.compile(r"\bsammask\.[a-z_]")  # a module path such as sammask.spec.run.gate
DEVELOPER_MARKUP = ("Args:", "Returns:", "Raises:", "Yields:", "Examples:", "``", ":func:", ":class:", ":mod:", ":meth:")


def _command_paths() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(command: click.Command, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(get_command(app), [])
    return paths


PATHS = _command_paths()


def test_every_command_is_found() -> None:
    assert {p[0] for p in PATHS if p} >= {"redact", "detect", "eval", "serve", "batch", "annotate", "ui"}


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "sammask")
def test_help_is_user_text(path: list[str]) -> None:
    res = CliRunner().invoke(app, [*path, "--help"], terminal_width=120)
    assert res.exit_code == 0, res.output
    found = [w for w in DEVELOPER_MARKUP if w in res.output]
    assert not found, f"`sammask {' '.join(path)} --help` shows {found}:\n{res.output}"
    internal = INTERNAL_NAME.findall(res.output)
    assert not internal, f"`sammask {' '.join(path)} --help` names code ({internal}):\n{res.output}"
    assert "Usage:" in res.output and len(res.output.split("Usage:", 1)[1].strip()) > 40  # it says something
