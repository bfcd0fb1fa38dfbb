"""Run redaction configurations on ground-truth sequences and tabulate the quality metrics.

For each configuration and sequence, :func:`run_eval` runs :func:`sammask.pipeline.redact` with
the sequence's ``gt.txt`` as the tracks (a perfect tracker), ``selected`` mode and
``save_masks`` into a temporary folder, reads the applied masks back
(:func:`sammask.export.applied.read_applied_masks`), matches track ids to GT objects by their
boxes (:mod:`sammask.eval.matching`) and scores every frame (:mod:`sammask.eval.metrics`). It
writes ``summary.md`` (one row per configuration), ``sequences.md`` (one row per sequence and
configuration), ``results.json`` and ``contact/<sequence>.png`` (:mod:`sammask.eval.contact`).

Configuration specs are ``segmenter[:key=value,...]``, e.g. ``box``, ``grabcut:dilate=8``,
``sam2:strategy=image,stride=4,input_size=512``; keys: ``dilate`` (px), ``feather`` (px),
``stride`` (frames), ``min_coverage``, and for sam2 ``strategy``, ``input_size`` (px), ``model``,
``checkpoint``. With ``random_weights`` a SAM 2 configuration runs a random-init model through the
same code path; its rows are marked "random weights: quality meaningless".
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from sammask.errors import ConfigError, EvalError
from sammask.eval.contact import SheetRow, write_contact_sheet
from sammask.eval.groundtruth import GroundTruthSequence, object_bboxes
from sammask.eval.matching import Matching, match_tracks
from sammask.eval.metrics import (
    FrameResult,
    OverallMetrics,
    SequenceMetrics,
    boxes_mask,
    combine,
    evaluate_frame,
    summarize,
)
from sammask.masking.options import MaskMode
from sammask.media.trim import trim_video
from sammask.segmentation.base import Segmenter
from sammask.settings import RedactSettings

logger = logging.getLogger(__name__)

RANDOM_NOTE = "random weights: quality meaningless"
SHEET_FRAMES = 3
"""Frames per configuration on a contact sheet (evenly spaced)."""

_INT_KEYS = {"dilate", "feather", "stride", "input_size"}


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """One configuration to evaluate.

    Attributes:
        spec: the spec string it was parsed from (its display name).
        settings: the :class:`RedactSettings` of the run (mode is always ``selected``).
        random_weights: build SAM 2 with random weights (only for ``sam2``).
    """

    spec: str
    settings: RedactSettings
    random_weights: bool = False

    @property
    def note(self) -> str:
        """Remark shown in tables (``RANDOM_NOTE`` for random-weight runs)."""
        return RANDOM_NOTE if self.random_weights else ""


def parse_config(spec: str, *, base: RedactSettings | None = None, random_weights: bool = False) -> EvalConfig:
    """Parse ``segmenter[:key=value,...]`` into an :class:`EvalConfig`.

    Args:
        spec: e.g. ``grabcut:dilate=8`` or ``sam2:strategy=image,stride=4,input_size=512``.
        base: settings to start from (defaults; mode is forced to ``selected``).
        random_weights: for ``sam2`` specs, use a random-init model (no checkpoint needed).

    Raises:
        ConfigError: on an unknown segmenter or key, a malformed pair or an invalid value.
    """
    from sammask.segmentation.registry import SEGMENTERS

    base = base or RedactSettings()
    name, _, rest = spec.strip().partition(":")
    name = name.strip()
    if name not in SEGMENTERS:
        raise ConfigError(f"config '{spec}': unknown segmenter '{name}' (choose {', '.join(sorted(SEGMENTERS))})")
    masking: dict[str, object] = {"mode": MaskMode.SELECTED}
    sam2: dict[str, object] = {}
    top: dict[str, object] = {"segmenter": name}
    for pair in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = (x.strip() for x in pair.partition("="))
        if not eq or not value:
            raise ConfigError(f"config '{spec}': expected key=value, got '{pair}'")
        try:
            val: object = int(value) if key in _INT_KEYS else float(value) if key == "min_coverage" else value
        except ValueError:
            raise ConfigError(f"config '{spec}': {key} must be a number, got '{value}'") from None
        if key in ("dilate", "feather", "min_coverage"):
            masking[key] = val
        elif key == "stride":
            top["stride"] = val
        elif key in ("strategy", "input_size", "model", "checkpoint") and name == "sam2":
            sam2[key] = Path(value) if key == "checkpoint" else val
        else:
            raise ConfigError(
                f"config '{spec}': unknown key '{key}' (dilate, feather, stride, min_coverage; "
                "sam2 also strategy, input_size, model, checkpoint)"
            )
    settings = replace(
        base, masking=replace(base.masking, **masking), sam2=replace(base.sam2, **sam2), **top
    )
    return EvalConfig(spec.strip(), settings, random_weights=random_weights and name == "sam2")


@dataclass(frozen=True, slots=True)
class RunResult:
    """One configuration on one sequence.

    Attributes:
        config: the configuration.
        metrics: the sequence's aggregated metrics.
        matching: track-to-object matching used.
        seconds: wall-clock seconds of the ``redact`` run.
        segment_seconds: seconds spent in the segmenter stage.
        fallbacks: fail-secure box fallbacks by reason (from the run report).
    """

    config: EvalConfig
    metrics: SequenceMetrics
    matching: Matching
    seconds: float
    segment_seconds: float
    fallbacks: dict[str, int] = field(default_factory=dict)

    @property
    def seconds_per_frame(self) -> float:
        """Run seconds per frame."""
        return self.seconds / self.metrics.frames if self.metrics.frames else math.nan


@dataclass(frozen=True, slots=True)
class ConfigSummary:
    """All sequences of one configuration pooled (see :func:`sammask.eval.metrics.combine`)."""

    config: EvalConfig
    overall: OverallMetrics
    seconds_per_frame: float
    segment_seconds_per_frame: float
    fallbacks: int


@dataclass(frozen=True, slots=True)
class EvalTable:
    """Results of :func:`run_eval`: one :class:`RunResult` per (configuration, sequence)."""

    runs: tuple[RunResult, ...]

    def summaries(self) -> list[ConfigSummary]:
        """One pooled summary per configuration, in run order."""
        out = []
        for spec in dict.fromkeys(r.config.spec for r in self.runs):
            runs = [r for r in self.runs if r.config.spec == spec]
            frames = sum(r.metrics.frames for r in runs)
            out.append(
                ConfigSummary(
                    config=runs[0].config,
                    overall=combine(r.metrics for r in runs),
                    seconds_per_frame=sum(r.seconds for r in runs) / frames,
                    segment_seconds_per_frame=sum(r.segment_seconds for r in runs) / frames,
                    fallbacks=sum(sum(r.fallbacks.values()) for r in runs),
                )
            )
        return out

    def summary_markdown(self) -> str:
        """Markdown table, one row per configuration (pooled over the sequences)."""
        lines = [
            "| config | seqs | frames | leak % | worst seq leak % | frames >1% | frames >5% | collateral % "
            "| collateral vs box | J | F | J&F | s/frame | segment s/frame | box fallbacks | note |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for s in self.summaries():
            o = s.overall
            lines.append(
                f"| `{s.config.spec}` | {len(o.sequences)} | {o.frames} | {100 * o.leak:.3f} | {100 * o.worst_leak:.2f} "
                f"| {o.frames_over.get(0.01, 0)} | {o.frames_over.get(0.05, 0)} | {100 * o.collateral:.2f} "
                f"| {o.collateral_vs_box:.3f} | {o.j:.3f} | {o.f:.3f} | {o.jf:.3f} | {s.seconds_per_frame:.3f} "
                f"| {s.segment_seconds_per_frame:.3f} | {s.fallbacks} | {s.config.note} |"
            )
        return "\n".join(lines) + "\n"

    def sequences_markdown(self) -> str:
        """Markdown table, one row per (sequence, configuration), with the frames over 5%."""
        lines = [
            "| sequence | config | frames | leak % | frames >1% | frames >5% (list) | collateral % "
            "| collateral vs box | J | F | J&F | s/frame | unmatched | note |",
            "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for r in sorted(self.runs, key=lambda r: r.metrics.name):
            m = r.metrics
            over5 = m.frames_over.get(0.05, ())
            listed = ", ".join(map(str, over5[:12])) + (" ..." if len(over5) > 12 else "")
            unmatched = ""
            if r.matching.unmatched_objects or r.matching.unmatched_tracks:
                unmatched = f"objects {list(r.matching.unmatched_objects)} tracks {list(r.matching.unmatched_tracks)}"
            lines.append(
                f"| {m.name} | `{r.config.spec}` | {m.frames} | {100 * m.leak:.3f} | {len(m.frames_over.get(0.01, ()))} "
                f"| {len(over5)}{f' ({listed})' if over5 else ''} | {100 * m.collateral:.2f} | {m.collateral_vs_box:.3f} "
                f"| {m.j:.3f} | {m.f:.3f} | {m.jf:.3f} | {r.seconds_per_frame:.3f} | {unmatched} | {r.config.note} |"
            )
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        """All per-run numbers as JSON (frame lists included)."""
        rows = []
        for r in self.runs:
            m = r.metrics
            rows.append(
                {
                    "config": r.config.spec,
                    "sequence": m.name,
                    "note": r.config.note,
                    "frames": m.frames,
                    "leak": m.leak,
                    "frames_over": {str(k): list(v) for k, v in m.frames_over.items()},
                    "collateral": m.collateral,
                    "collateral_vs_box": None if math.isnan(m.collateral_vs_box) else m.collateral_vs_box,
                    "j": m.j,
                    "f": m.f,
                    "jf": m.jf,
                    "objects": [
                        {"obj_id": o.obj_id, "track_id": o.track_id, "leak": o.leak, "j": o.j, "f": o.f} for o in m.objects
                    ],
                    "unmatched_objects": list(r.matching.unmatched_objects),
                    "unmatched_tracks": list(r.matching.unmatched_tracks),
                    "seconds": r.seconds,
                    "segment_seconds": r.segment_seconds,
                    "fallbacks": r.fallbacks,
                }
            )
        return json.dumps(rows, indent=1)


def _sheet_indices(n: int, k: int = SHEET_FRAMES) -> list[int]:
    return sorted({min(n - 1, int((i + 0.5) * n / k)) for i in range(k)})


def _decode_frames(path: Path, indices: set[int]) -> dict[int, np.ndarray]:
    from sammask.media.reader import VideoReader

    out = {}
    if not indices:
        return out
    with VideoReader(path) as reader:
        for frame in reader:
            if frame.frame_idx in indices:
                out[frame.frame_idx] = frame.image
            if frame.frame_idx >= max(indices):
                break
    return out


def _random_sam2_segmenter(settings: RedactSettings) -> Segmenter:
    """A SAM 2 segmenter with a random-init model, for :func:`redact`'s ``segmenter=`` hook.

    Raises:
        ModelLoadError: if sam2 is not installed.
        ConfigError: if the SAM 2 segmenter does not take a prebuilt model.
    """
    from sammask.segmentation.registry import build_segmenter
    from sammask.segmentation.sam2.model import build_sam2_model

    s = settings.sam2
    model = build_sam2_model(s.model, checkpoint=None, image_size=s.input_size, device=s.device, random_init=True)
    try:
        return build_segmenter("sam2", settings=s, model=model)
    except TypeError as exc:
        raise ConfigError(f"the sam2 segmenter does not accept a prebuilt model ({exc}); cannot run random weights") from None


def evaluate_sequence(
    config: EvalConfig,
    seq: GroundTruthSequence,
    work: Path,
    *,
    frames_limit: int | None = None,
    sheet_frames: Sequence[int] = (),
    gt_bboxes: dict[int, dict[int, tuple[float, float, float, float]]] | None = None,
) -> tuple[RunResult, list[SheetRow]]:
    """Run one configuration on one sequence and score it.

    Args:
        config: the configuration.
        seq: the ground-truth sequence.
        work: an empty scratch folder (output video and applied masks go there).
        frames_limit: evaluate only the first N frames (the video is trimmed losslessly).
        sheet_frames: frame indices to return contact-sheet rows for.
        gt_bboxes: precomputed ``frame_idx -> {obj_id: mask bbox}`` (computed when None).

    Raises:
        EvalError: missing GT frames, size mismatches, unknown ids, or applied masks that do not
            cover the evaluated frames. Pipeline errors propagate.
    """
    from sammask.pipeline import redact
    from sammask.tracks.mot import read_mot
    from sammask.tracks.types import Tracks

    seq.check_video()
    n = seq.num_frames if frames_limit is None else min(seq.num_frames, frames_limit)
    video = seq.video_path
    tracks = read_mot(seq.tracks_path)
    if n < seq.num_frames:
        video = work / "input.mp4"
        trim_video(seq.video_path, video, n)
        tracks = Tracks.from_detections((d for d in tracks if d.frame_idx < n), source=tracks.source)
    if gt_bboxes is None:
        gt_bboxes = {i: object_bboxes(seq.mask(i)) for i in range(n)}
    run_boxes = {f: {d.track_id: d.bbox for d in dets} for f, dets in tracks.by_frame.items()}
    matching = match_tracks(run_boxes, {f: b for f, b in gt_bboxes.items() if f < n})
    obj_map = matching.for_objects(list(seq.object_ids))

    segmenter = _random_sam2_segmenter(config.settings) if config.random_weights else None
    out_video, masks_dir = work / "output.mp4", work / "masks"
    logger.info("eval: %s on %s (%d frames)", config.spec, seq.name, n)
    report = redact(video, tracks, out_video, config.settings, save_masks=masks_dir, segmenter=segmenter)

    from sammask.export.applied import read_applied_masks

    dilate = report.dilate_px  # the dilation the run applied (resolution-aware default or explicit)
    results: list[FrameResult] = []
    keep: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}
    wanted = set(sheet_frames)
    for expected, af in enumerate(read_applied_masks(masks_dir)):
        if af.frame_idx != expected:
            raise EvalError(f"{seq.name}: applied masks skip from frame {expected - 1} to {af.frame_idx}")
        if af.frame_idx >= n:
            raise EvalError(f"{seq.name}: applied masks have frame {af.frame_idx} but the ground truth has {n} frames")
        gt = seq.frame(af.frame_idx)
        if af.applied.shape != gt.ids.shape:
            raise EvalError(f"{seq.name}: applied masks are {af.applied.shape}, ground truth {gt.ids.shape}")
        box = boxes_mask(gt.boxes.values(), gt.ids.shape, dilate)
        fr = evaluate_frame(af.frame_idx, gt.ids, af.applied, af.tracks, obj_map, box)
        results.append(fr)
        if af.frame_idx in wanted:
            keep[af.frame_idx] = (gt.ids, af.applied, fr.leak)
    if len(results) != n:
        raise EvalError(f"{seq.name}: the run wrote applied masks for {len(results)} frames, ground truth has {n}")
    metrics = summarize(seq.name, results)
    rows = []
    if keep:
        inputs = _decode_frames(video, set(keep))
        outputs = _decode_frames(out_video, set(keep))
        for i in sorted(keep):
            ids, applied, leak = keep[i]
            rows.append(SheetRow(config.spec, i, inputs[i], ids, applied, outputs[i], leak))
    result = RunResult(
        config=config,
        metrics=metrics,
        matching=matching,
        seconds=report.seconds,
        segment_seconds=report.stage_seconds.get("segment", 0.0),
        fallbacks=dict(report.fallbacks),
    )
    return result, rows


def run_eval(
    configs: Sequence[EvalConfig | str],
    sequences: Sequence[Path],
    out_dir: Path,
    *,
    frames_limit: int | None = None,
    random_weights: bool = False,
    contact_sheets: bool = True,
    sheet_frames: int = SHEET_FRAMES,
    progress: Callable[[str], None] | None = None,
) -> EvalTable:
    """Evaluate every configuration on every sequence and write the tables.

    Args:
        configs: :class:`EvalConfig` or spec strings (see :func:`parse_config`).
        sequences: ground-truth sequence folders (layout of ``shared/data/davis*/<seq>/``).
        out_dir: output folder: ``summary.md``, ``sequences.md``, ``results.json`` and
            ``contact/<sequence>.png`` (rows: :data:`SHEET_FRAMES` frames per configuration).
        frames_limit: only the first N frames of each sequence.
        random_weights: SAM 2 specs given as strings use a random-init model.
        contact_sheets: write the contact sheets.
        sheet_frames: frames per configuration on a contact sheet (evenly spaced).
        progress: optional callback with a one-line status per finished run.

    Returns:
        The :class:`EvalTable`.

    Raises:
        ConfigError: bad specs or no configuration.
        InputFileError, EvalError: missing or inconsistent sequences / applied masks.
        MediaError, ModelLoadError: pipeline failures (propagated).
    """
    if not configs:
        raise ConfigError("no configuration to evaluate: give at least one --config")
    if not sequences:
        raise EvalError("no sequence to evaluate: give at least one sequence folder")
    parsed = [c if isinstance(c, EvalConfig) else parse_config(c, random_weights=random_weights) for c in configs]
    seqs = [GroundTruthSequence(Path(s)) for s in sequences]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs: list[RunResult] = []
    for seq in seqs:
        n = seq.num_frames if frames_limit is None else min(seq.num_frames, frames_limit)
        gt_bboxes = {i: object_bboxes(seq.mask(i)) for i in range(n)}
        picks = _sheet_indices(n, sheet_frames) if contact_sheets else []
        sheet: list[SheetRow] = []
        for config in parsed:
            with tempfile.TemporaryDirectory(prefix="sammask-eval-") as tmp:
                result, rows = evaluate_sequence(
                    config, seq, Path(tmp), frames_limit=frames_limit, sheet_frames=picks, gt_bboxes=gt_bboxes
                )
            runs.append(result)
            sheet.extend(rows)
            m = result.metrics
            line = (
                f"{seq.name} {config.spec}: leak {100 * m.leak:.3f}% (>5%: {len(m.frames_over[0.05])} frames), "
                f"collateral {100 * m.collateral:.2f}% ({m.collateral_vs_box:.2f}x box), J&F {m.jf:.3f}, "
                f"{result.seconds_per_frame:.3f} s/frame"
            )
            logger.info(line)
            if progress is not None:
                progress(line)
        if sheet:
            write_contact_sheet(sheet, out_dir / "contact" / f"{seq.name}.png", title=f"{seq.name} ({seq.directory.parent.name})")
    table = EvalTable(tuple(runs))
    (out_dir / "summary.md").write_text(table.summary_markdown(), encoding="utf-8")
    (out_dir / "sequences.md").write_text(table.sequences_markdown(), encoding="utf-8")
    (out_dir / "results.json").write_text(table.to_json(), encoding="utf-8")
    return table
