"""Prompts files for ``sammask annotate`` (scripted annotation) and how a session replays them.

Format (JSON; a bare list of prompt objects is accepted too)::

    {
        "prompts": [
            {"frame_idx": 0, "obj_id": 1, "points": [[412, 230], [380, 300]], "labels": [1, 0]},
            {"frame_idx": 0, "obj_id": 2, "box": [100, 80, 220, 400]},
            {"frame_idx": 45, "obj_id": 1, "points": [[300, 210]], "labels": [1]},
        ]
    }

``frame_idx`` 0-based, ``obj_id`` >= 0, ``points`` (x, y) pixels with one ``labels`` entry each
(1 positive, 0 negative), ``box`` xyxy pixels; a prompt has points, a box, or both.

Replay (:func:`run_prompts`), frame by frame in increasing ``frame_idx``: the frame's prompts are
added; objects prompted for the first time are propagated in both directions from that frame,
objects prompted before (corrections) in both directions up to their neighbouring prompted frames
(:meth:`~sammask.annotate.Session.repropagate`), as in the UI.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sammask.annotate.session import Session
from sammask.annotate.types import ObjectPrompt
from sammask.errors import ConfigError, InputFileError


@dataclass(frozen=True, slots=True)
class PromptRecord:
    """One entry of a prompts file.

    Attributes:
        frame_idx: 0-based frame.
        obj_id: the object (>= 0).
        prompt: its points/labels and/or box.
    """

    frame_idx: int
    obj_id: int
    prompt: ObjectPrompt


def read_prompts(path: Path) -> list[PromptRecord]:
    """Read a prompts file (module docstring).

    Raises:
        InputFileError: if the file is missing.
        ConfigError: on malformed JSON or a malformed prompt (the message names its index).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"prompts file not found: {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    items = doc.get("prompts") if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not items:
        raise ConfigError(f'{path}: expected a non-empty list of prompts (or {{"prompts": [...]}})')
    out = []
    for i, item in enumerate(items):
        try:
            frame_idx, obj_id = int(item["frame_idx"]), int(item["obj_id"])
            points = item.get("points", [])
            labels = item.get("labels", [])
            prompt = ObjectPrompt(points, labels, tuple(item["box"]) if item.get("box") is not None else None)
        except ConfigError as exc:
            raise ConfigError(f"{path}: prompt {i}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{path}: prompt {i}: needs frame_idx, obj_id and points/labels or box ({type(exc).__name__}: {exc})"
            ) from None
        if frame_idx < 0 or obj_id < 0:
            raise ConfigError(f"{path}: prompt {i}: frame_idx and obj_id must be >= 0")
        out.append(PromptRecord(frame_idx, obj_id, prompt))
    return out


def run_prompts(session: Session, prompts: list[PromptRecord], progress: Callable[[int, int], None] | None = None) -> None:
    """Replay ``prompts`` on ``session`` and propagate (module docstring).

    Raises:
        ConfigError: a prompt outside the video.
        SegmentationError: if the backend fails.
    """
    seen: set[int] = set()
    for frame_idx in sorted({p.frame_idx for p in prompts}):
        group = [p for p in prompts if p.frame_idx == frame_idx]
        for p in group:
            if p.prompt.box is not None:
                session.add_box(frame_idx, p.obj_id, p.prompt.box)
            if len(p.prompt.points):
                session.add_points(frame_idx, p.obj_id, p.prompt.points, p.prompt.labels)
        ids = {p.obj_id for p in group}
        new, corrected = sorted(ids - seen), sorted(ids & seen)
        if new:
            for _ in session.propagate("both", start=frame_idx, obj_ids=new, progress=progress):
                pass
        for obj_id in corrected:
            for _ in session.repropagate(frame_idx, obj_id, progress=progress):
                pass
        seen |= ids
