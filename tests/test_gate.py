"""The path gate (sammask.spec.gate.check_paths) on files and folders the tests build."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sammask.errors import OutputPathError
from sammask.spec.gate import InputRef, OutputRef, check_paths


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "in.mp4").write_bytes(b"video")
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "meta.json").write_text("{}")
    return {"video": tmp_path / "in.mp4", "masks": tmp_path / "masks", "root": tmp_path}


def _inputs(f: dict[str, Path]) -> list[InputRef]:
    return [InputRef("the input video", f["video"]), InputRef("--masks", f["masks"])]


@pytest.mark.parametrize(
    "make_out",
    [
        lambda f: f["video"],  # same path
        lambda f: f["root"] / "sub" / ".." / "in.mp4",  # through ..
        lambda f: f["masks"] / "meta.json",  # inside an input folder
        lambda f: f["masks"] / "new.json",  # a new file inside an input folder
    ],
)
def test_output_aliasing_an_input_is_refused(files: dict[str, Path], make_out) -> None:
    (files["root"] / "sub").mkdir()
    out = make_out(files)
    with pytest.raises(OutputPathError):
        check_paths(_inputs(files), [OutputRef("-o", out)], overwrite=True)
    assert files["video"].read_bytes() == b"video"


def test_links_to_an_input_are_refused(files: dict[str, Path]) -> None:
    sym = files["root"] / "sym.mp4"
    sym.symlink_to(files["video"])
    hard = files["root"] / "hard.mp4"
    os.link(files["video"], hard)
    for out in (sym, hard):
        with pytest.raises(OutputPathError, match="is the input video"):
            check_paths(_inputs(files), [OutputRef("-o", out, "video")], overwrite=True)


def test_folder_output_that_would_write_over_an_input(files: dict[str, Path]) -> None:
    # an export folder writing meta.json where the input masks folder keeps its own
    with pytest.raises(OutputPathError):
        check_paths(_inputs(files), [OutputRef("--save-masks", files["masks"], "folder", ("meta.json",))], overwrite=True)
    # a folder output that holds an input inside one of the entries it writes
    (files["root"] / "exp" / "ids").mkdir(parents=True)
    (files["root"] / "exp" / "ids" / "x.png").write_bytes(b"png")
    with pytest.raises(OutputPathError, match="would write over"):
        check_paths(
            [InputRef("--masks", files["root"] / "exp" / "ids" / "x.png")],
            [OutputRef("--save-masks", files["root"] / "exp", "folder", ("ids",))],
            overwrite=True,
        )


def test_outputs_colliding_with_each_other(files: dict[str, Path]) -> None:
    root = files["root"]
    (root / "x").mkdir()
    (root / "exp").mkdir()
    with pytest.raises(OutputPathError, match="same file"):
        check_paths(
            _inputs(files),
            [OutputRef("-o", root / "o.mp4", "video"), OutputRef("--report", root / "x" / ".." / "o.mp4")],
            overwrite=True,
        )
    with pytest.raises(OutputPathError, match="same file"):
        check_paths(
            _inputs(files),
            [OutputRef("--report", root / "exp" / "meta.json"), OutputRef("--save-masks", root / "exp", "folder", ("meta.json",))],
            overwrite=True,
        )
    with pytest.raises(OutputPathError, match="is the --save-masks folder"):
        check_paths(
            _inputs(files),
            [OutputRef("--report", root / "exp2"), OutputRef("--save-masks", root / "exp2", "folder", ("meta.json",))],
            overwrite=True,
        )


def test_existing_outputs_need_overwrite(files: dict[str, Path]) -> None:
    root = files["root"]
    (root / "old.json").write_text("keep")
    (root / "exp").mkdir()
    (root / "exp" / "masks.jsonl").write_text("keep")
    for out in (OutputRef("--report", root / "old.json"), OutputRef("--save-masks", root / "exp", "folder", ("masks.jsonl",))):
        with pytest.raises(OutputPathError, match="-y/--overwrite"):
            check_paths(_inputs(files), [out], overwrite=False)
        check_paths(_inputs(files), [out], overwrite=True)
    assert (root / "old.json").read_text() == "keep"


def test_missing_folder_and_unknown_container(files: dict[str, Path]) -> None:
    root = files["root"]
    with pytest.raises(OutputPathError, match="does not exist"):
        check_paths(_inputs(files), [OutputRef("-o", root / "nope" / "o.mp4", "video")], overwrite=False)
    with pytest.raises(OutputPathError, match="not a single-file container"):
        check_paths(_inputs(files), [OutputRef("-o", root / "o.notavideo", "video")], overwrite=False)
    # a missing output folder is fine when its parent can be written
    check_paths(_inputs(files), [OutputRef("--save-masks", root / "new", "folder", ("meta.json",))], overwrite=False)
