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
``stride`` (frames), ``min_coverage``, ``effect`` (blur, mosaic, solid), and for sam2 ``strategy``, ``input_size`` (px), ``model``,
``checkpoint``. With ``random_weights`` a SAM 2 configuration runs a random-init model through the
same code path; its rows are marked "random weights: quality meaningless".

With ``score=Score.OUTPUT`` (``sammask eval --score output``) the written output video is also
decoded and scored (:mod:`sammask.eval.output`): the effect is replayed from the applied masks and
checked against the decoded output, and for ``effect=solid`` (the default effect of output
scoring) the leak is counted from the decoded output's fill pixels, beside the mask-based leak.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np

from sammask.errors import ConfigError, EvalError
from sammask.eval.contact import SheetRow, write_contact_sheet
from sammask.io import write_text_atomic
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
from sammask.eval.output import (
    CODEC_TOLERANCE,
    EDGE_BAND_PX,
    EffectCheck,
    OutputLeak,
    OutputLeakFrame,
    OutputScore,
    Score,
    check_effect_frame,
    combine_scores,
    inside_tolerance,
    output_leak_frame,
    pick_fill_color,
    replay_effect,
)
from sammask.masking.options import Effect, MaskingOptions, MaskMode
from sammask.media.trim import trim_video
from sammask.segmentation.base import Segmenter
from sammask.settings import RedactSettings
from sammask.tracks.types import Tracks

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
        spec: e.g. ``grabcut:dilate=8``, ``box:effect=mosaic`` or
            ``sam2:strategy=image,stride=4,input_size=512``.
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
    # field name -> value per options class; each value is parsed per key below and checked again
    # by the dataclass's __post_init__ (replace), so Any loses no check
    masking: dict[str, Any] = {"mode": MaskMode.SELECTED}
    sam2: dict[str, Any] = {}
    top: dict[str, Any] = {"segmenter": name}
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
        elif key == "effect":
            try:
                masking[key] = Effect(value)
            except ValueError:
                raise ConfigError(f"config '{spec}': effect must be blur, mosaic or solid, got '{value}'") from None
        elif key == "stride":
            top["stride"] = val
        elif key in ("strategy", "input_size", "model", "checkpoint") and name == "sam2":
            sam2[key] = Path(value) if key == "checkpoint" else val
        else:
            raise ConfigError(
                f"config '{spec}': unknown key '{key}' (dilate, feather, stride, min_coverage, effect; "
                "sam2 also strategy, input_size, model, checkpoint)"
            )
    settings = replace(base, masking=replace(base.masking, **masking), sam2=replace(base.sam2, **sam2), **top)
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
        output: the decoded-output score (None unless scored with ``Score.OUTPUT``).
    """

    config: EvalConfig
    metrics: SequenceMetrics
    matching: Matching
    seconds: float
    segment_seconds: float
    fallbacks: dict[str, int] = field(default_factory=dict)
    output: OutputScore | None = None

    @property
    def seconds_per_frame(self) -> float:
        """Run seconds per frame."""
        return self.seconds / self.metrics.frames if self.metrics.frames else math.nan


@dataclass(frozen=True, slots=True)
class ConfigSummary:
    """All sequences of one configuration pooled (see :func:`sammask.eval.metrics.combine`).

    ``output`` is the pooled decoded-output score (:func:`sammask.eval.output.combine_scores`),
    None when the runs were not scored on their output.
    """

    config: EvalConfig
    overall: OverallMetrics
    seconds_per_frame: float
    segment_seconds_per_frame: float
    fallbacks: int
    output: OutputScore | None = None


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
                    output=combine_scores(r.output for r in runs if r.output is not None),
                )
            )
        return out

    @property
    def scored_output(self) -> bool:
        """True when some run was scored on its decoded output (the tables then have its columns)."""
        return any(r.output is not None for r in self.runs)

    def summary_markdown(self) -> str:
        """Markdown table, one row per configuration (pooled over the sequences).

        With output scores, ``output leak %`` / ``undecidable %`` / ``edge leak %`` follow
        ``leak %``, and the effect check's columns (:data:`OUTPUT_CHECK_HEADER`) end the row.
        """
        out = self.scored_output
        lines = [
            f"| config | seqs | frames | leak % |{OUTPUT_LEAK_HEADER if out else ''} worst seq leak % | frames >1% "
            "| frames >5% | collateral % | collateral vs box | J | F | J&F | s/frame | segment s/frame | box fallbacks "
            f"|{OUTPUT_CHECK_HEADER if out else ''} note |",
            "|---|---:|---:|---:|"
            + ("---:|" * 3 if out else "")
            + "---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            + ("---|---:|---:|---:|" if out else "")
            + "---|",
        ]
        for s in self.summaries():
            o = s.overall
            leak_cells, check_cells = _output_cells(s.output) if out else ("", "")
            lines.append(
                f"| `{s.config.spec}` | {len(o.sequences)} | {o.frames} | {100 * o.leak:.3f} |{leak_cells} "
                f"{100 * o.worst_leak:.2f} | {o.frames_over.get(0.01, 0)} | {o.frames_over.get(0.05, 0)} "
                f"| {100 * o.collateral:.2f} | {o.collateral_vs_box:.3f} | {o.j:.3f} | {o.f:.3f} | {o.jf:.3f} "
                f"| {s.seconds_per_frame:.3f} | {s.segment_seconds_per_frame:.3f} | {s.fallbacks} |{check_cells} "
                f"{s.config.note} |"
            )
        return "\n".join(lines) + "\n"

    def sequences_markdown(self) -> str:
        """Markdown table, one row per (sequence, configuration), with the frames over 5%.

        With output scores the columns of :meth:`summary_markdown` are added the same way.
        """
        out = self.scored_output
        lines = [
            f"| sequence | config | frames | leak % |{OUTPUT_LEAK_HEADER if out else ''} frames >1% | frames >5% (list) "
            f"| collateral % | collateral vs box | J | F | J&F | s/frame | unmatched |{OUTPUT_CHECK_HEADER if out else ''} note |",
            "|---|---|---:|---:|"
            + ("---:|" * 3 if out else "")
            + "---:|---|---:|---:|---:|---:|---:|---:|---|"
            + ("---|---:|---:|---:|" if out else "")
            + "---|",
        ]
        for r in sorted(self.runs, key=lambda r: r.metrics.name):
            m = r.metrics
            over5 = m.frames_over.get(0.05, ())
            listed = ", ".join(map(str, over5[:12])) + (" ..." if len(over5) > 12 else "")
            unmatched = ""
            if r.matching.unmatched_objects or r.matching.unmatched_tracks:
                unmatched = f"objects {list(r.matching.unmatched_objects)} tracks {list(r.matching.unmatched_tracks)}"
            leak_cells, check_cells = _output_cells(r.output) if out else ("", "")
            lines.append(
                f"| {m.name} | `{r.config.spec}` | {m.frames} | {100 * m.leak:.3f} |{leak_cells} "
                f"{len(m.frames_over.get(0.01, ()))} | {len(over5)}{f' ({listed})' if over5 else ''} "
                f"| {100 * m.collateral:.2f} | {m.collateral_vs_box:.3f} | {m.j:.3f} | {m.f:.3f} | {m.jf:.3f} "
                f"| {r.seconds_per_frame:.3f} | {unmatched} |{check_cells} {r.config.note} |"
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
                    "objects": [{"obj_id": o.obj_id, "track_id": o.track_id, "leak": o.leak, "j": o.j, "f": o.f} for o in m.objects],
                    "unmatched_objects": list(r.matching.unmatched_objects),
                    "unmatched_tracks": list(r.matching.unmatched_tracks),
                    "seconds": r.seconds,
                    "segment_seconds": r.segment_seconds,
                    "fallbacks": r.fallbacks,
                    **({"output": _output_json(r.output)} if r.output is not None else {}),
                }
            )
        return json.dumps(rows, indent=1)


OUTPUT_LEAK_HEADER = " output leak % | undecidable % | edge leak % |"
"""Output-leak columns (solid fill runs; ``-`` for other effects), see :mod:`sammask.eval.output`."""

OUTPUT_CHECK_HEADER = " effect check | mismatched px (in / out) | PSNR in / out dB | max diff in / out |"
"""Effect-check columns (every effect), see :func:`sammask.eval.output.check_effect_frame`."""


def _output_cells(score: OutputScore | None) -> tuple[str, str]:
    """The output-leak and effect-check cells of one table row (``-`` when not scored)."""
    if score is None:
        return " - | - | - |", " - | - | - | - |"
    lk = score.leak
    leak = (
        " - | - | - |"
        if lk is None
        else (f" {100 * lk.leak:.3f} | {100 * lk.undecidable:.3f} | {100 * lk.share(lk.edge_leaked_pixels):.3f} |")
    )
    c = score.check
    verdict = f"{score.effect} {'pass' if c.passed else 'FAIL'}"
    check = (
        f" {verdict} | {c.inside_mismatched} / {c.outside_mismatched} | {c.psnr_inside:.1f} / {c.psnr_outside:.1f} "
        f"| {c.max_inside} / {c.max_outside} |"
    )
    return leak, check


def _output_line(score: OutputScore) -> str:
    """One-line summary of a decoded-output score (for progress lines)."""
    c = score.check
    text = f"effect check {score.effect} {'pass' if c.passed else 'FAIL'} ({c.inside_mismatched} / {c.outside_mismatched} px off)"
    if score.leak is not None:
        text = f"output leak {100 * score.leak.leak:.3f}% (undecidable {100 * score.leak.undecidable:.3f}%), " + text
    return text


def _output_json(score: OutputScore) -> dict[str, object]:
    """JSON-ready decoded-output score of one run (see :class:`sammask.eval.output.OutputScore`)."""
    c, lk = score.check, score.leak

    def num(x: float) -> float | None:
        return None if math.isnan(x) or math.isinf(x) else x

    return {
        "effect": score.effect,
        "tolerance": CODEC_TOLERANCE,
        "inside_tolerance": inside_tolerance(score.effect),
        "edge_band_px": EDGE_BAND_PX,
        "check": {
            "passed": c.passed,
            "inside_pixels": c.inside_pixels,
            "inside_mismatched": c.inside_mismatched,
            "outside_pixels": c.outside_pixels,
            "outside_mismatched": c.outside_mismatched,
            "edge_pixels": c.edge_pixels,
            "psnr_inside": num(c.psnr_inside),
            "psnr_outside": num(c.psnr_outside),
            "max_inside": c.max_inside,
            "max_outside": c.max_outside,
            "failed_frames": list(c.failed_frames),
        },
        "leak": None
        if lk is None
        else {
            "fill": list(lk.fill),
            "leak": lk.leak,
            "undecidable": lk.undecidable,
            "gt_pixels": lk.gt_pixels,
            "covered_pixels": lk.covered_pixels,
            "leaked_pixels": lk.leaked_pixels,
            "undecidable_pixels": lk.undecidable_pixels,
            "edge_leaked_pixels": lk.edge_leaked_pixels,
            "frames_over": {str(k): list(v) for k, v in lk.frames_over.items()},
        },
    }


def _sheet_indices(n: int, k: int = SHEET_FRAMES) -> list[int]:
    return sorted({min(n - 1, int((i + 0.5) * n / k)) for i in range(k)})


def _decode_frames(path: Path, indices: set[int]) -> dict[int, np.ndarray]:
    from sammask.media.reader import VideoReader

    out: dict[int, np.ndarray] = {}
    if not indices:
        return out
    with VideoReader(path) as reader:
        for frame in reader:
            if frame.frame_idx in indices:
                out[frame.frame_idx] = frame.image
            if frame.frame_idx >= max(indices):
                break
    return out


def _decoded_pairs(input_video: Path, output_video: Path) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(input, output)`` decoded RGB frames in step; raises EvalError when the counts differ."""
    from sammask.media.reader import VideoReader

    with VideoReader(input_video) as a, VideoReader(output_video) as b:
        for fa, fb in zip_longest(a, b):
            if fa is None or fb is None:
                raise EvalError(f"{output_video.name} and {input_video.name} decode to different frame counts")
            yield fa.image, fb.image


def _next_pair(pairs: Iterator[tuple[np.ndarray, np.ndarray]], name: str, idx: int) -> tuple[np.ndarray, np.ndarray]:
    pair = next(pairs, None)
    if pair is None:
        raise EvalError(f"{name}: the decoded videos end before applied-mask frame {idx}")
    return pair


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
    score: Score = Score.MASK,
) -> tuple[RunResult, list[SheetRow]]:
    """Run one configuration on one sequence and score it.

    With ``score=Score.OUTPUT`` the decoded input and output are read in step with the applied
    masks: every frame gets the effect check, and a ``solid`` run (whose fill colour is then
    picked by :func:`~sammask.eval.output.pick_fill_color`, replacing the configured one) also
    gets the output leak (:attr:`RunResult.output`).

    Args:
        config: the configuration.
        seq: the ground-truth sequence.
        work: an empty scratch folder (output video and applied masks go there).
        frames_limit: evaluate only the first N frames (the video is trimmed losslessly).
        sheet_frames: frame indices to return contact-sheet rows for.
        gt_bboxes: precomputed ``frame_idx -> {obj_id: mask bbox}`` (computed when None).
        score: :class:`~sammask.eval.output.Score` (``MASK``: exported masks only).

    Raises:
        EvalError: missing GT frames, size mismatches, unknown ids, or applied masks that do not
            cover the evaluated frames. Pipeline errors propagate.
    """
    from sammask.pipeline import redact

    seq.check_video()
    n = seq.num_frames if frames_limit is None else min(seq.num_frames, frames_limit)
    video, tracks = _first_frames(seq, work, n)
    if gt_bboxes is None:
        gt_bboxes = {i: object_bboxes(seq.mask(i)) for i in range(n)}
    run_boxes = {f: {d.track_id: d.bbox for d in dets} for f, dets in tracks.by_frame.items()}
    matching = match_tracks(run_boxes, {f: b for f, b in gt_bboxes.items() if f < n})
    obj_map = matching.for_objects(list(seq.object_ids))

    settings = config.settings
    scored = score is Score.OUTPUT
    solid = scored and settings.masking.effect is Effect.SOLID
    if solid:
        settings = _with_fill_color(settings, video, seq, n)
    segmenter = _random_sam2_segmenter(settings) if config.random_weights else None
    out_video, masks_dir = work / "output.mp4", work / "masks"
    logger.info("eval: %s on %s (%d frames)", config.spec, seq.name, n)
    report = redact(video, tracks, out_video, settings, save_masks=masks_dir, segmenter=segmenter)

    decoded = _decoded_pairs(video, out_video) if scored else None
    # the dilation the run applied (resolution-aware default or explicit)
    results, keep, output = _score_applied(
        seq, n, masks_dir, tracks, obj_map, report.dilate_px, settings, decoded, solid=solid, wanted=set(sheet_frames)
    )
    rows = _sheet_rows(config.spec, video, out_video, keep)
    result = RunResult(
        config=config,
        metrics=summarize(seq.name, results),
        matching=matching,
        seconds=report.seconds,
        segment_seconds=report.stage_seconds.get("segment", 0.0),
        fallbacks=dict(report.fallbacks),
        output=output,
    )
    return result, rows


def _score_applied(
    seq: GroundTruthSequence,
    n: int,
    masks_dir: Path,
    tracks: Tracks,
    obj_map: dict[int, int | None],
    dilate: int,
    settings: RedactSettings,
    decoded: Iterator[tuple[np.ndarray, np.ndarray]] | None,
    *,
    solid: bool,
    wanted: set[int],
) -> tuple[list[FrameResult], dict[int, tuple[np.ndarray, np.ndarray, float]], OutputScore | None]:
    """Score a run's applied masks (``masks_dir``) frame by frame against the first ``n`` frames
    of ``seq``; with ``decoded`` (input, output) frame pairs also the effect check and, for a
    ``solid`` run, the output leak.

    Returns:
        The per-frame results, ``frame_idx -> (gt ids, applied, leak)`` for the ``wanted``
        frames, and the output score (None without ``decoded``).

    Raises:
        EvalError: applied masks that skip frames, run past ``n``, differ in size from the
            ground truth or cover fewer than ``n`` frames; decoded videos of another length.
    """
    from sammask.export.applied import read_applied_masks

    results: list[FrameResult] = []
    keep: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}
    check = EffectCheck()
    leak_rows: list[OutputLeakFrame] = []
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
        if decoded is not None:
            inp, outp = _next_pair(decoded, seq.name, af.frame_idx)
            boxes = {d.track_id: d.bbox for d in tracks.by_frame.get(af.frame_idx, ())}
            replayed = replay_effect(inp, af.tracks, boxes, settings.masking)
            check = check + check_effect_frame(af.frame_idx, outp, replayed, af.applied, settings.masking.effect)
            if solid:
                leak_rows.append(output_leak_frame(af.frame_idx, gt.ids, inp, outp, settings.masking.color, af.applied))
        if af.frame_idx in wanted:
            keep[af.frame_idx] = (gt.ids, af.applied, fr.leak)
    if len(results) != n:
        raise EvalError(f"{seq.name}: the run wrote applied masks for {len(results)} frames, ground truth has {n}")
    output = None
    if decoded is not None:
        if next(decoded, None) is not None:
            raise EvalError(f"{seq.name}: the decoded videos have more frames than the {n} applied-mask frames")
        leak = OutputLeak.from_frames(settings.masking.color, leak_rows) if solid else None
        output = OutputScore(settings.masking.effect.value, check, leak)
    return results, keep, output


def _first_frames(seq: GroundTruthSequence, work: Path, n: int) -> tuple[Path, Tracks]:
    """The sequence's video and tracks, cut to the first ``n`` frames (the video losslessly, into
    ``work``) when it has more."""
    from sammask.tracks.mot import read_mot

    tracks = read_mot(seq.tracks_path)
    if n >= seq.num_frames:
        return seq.video_path, tracks
    video = work / "input.mp4"
    trim_video(seq.video_path, video, n)
    return video, Tracks.from_detections((d for d in tracks if d.frame_idx < n), source=tracks.source)


def _with_fill_color(settings: RedactSettings, video: Path, seq: GroundTruthSequence, n: int) -> RedactSettings:
    """``settings`` with the solid fill colour :func:`pick_fill_color` finds for the first ``n``
    frames (a colour absent from the ground-truth objects, so that leaks can be told apart)."""
    from sammask.media.reader import VideoReader

    with VideoReader(video) as reader:
        fill = pick_fill_color((f.image, seq.frame(f.frame_idx).ids) for f in reader if f.frame_idx < n)
    return replace(settings, masking=replace(settings.masking, color=fill))


def _sheet_rows(spec: str, video: Path, out_video: Path, keep: dict[int, tuple[np.ndarray, np.ndarray, float]]) -> list[SheetRow]:
    """Contact-sheet rows of the kept frames: input and output decoded again, with GT ids,
    applied mask and leak."""
    if not keep:
        return []
    inputs = _decode_frames(video, set(keep))
    outputs = _decode_frames(out_video, set(keep))
    rows = []
    for i in sorted(keep):
        ids, applied, sheet_leak = keep[i]
        rows.append(SheetRow(spec, i, inputs[i], ids, applied, outputs[i], sheet_leak))
    return rows


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
    score: Score = Score.MASK,
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
        score: ``Score.OUTPUT`` also scores the decoded output (see :func:`evaluate_sequence`);
            spec strings without an ``effect`` key then run with ``effect=solid``.

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
    score = Score(score)
    base = RedactSettings(masking=MaskingOptions(effect=Effect.SOLID)) if score is Score.OUTPUT else None
    parsed = [c if isinstance(c, EvalConfig) else parse_config(c, base=base, random_weights=random_weights) for c in configs]
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
                    config,
                    seq,
                    Path(tmp),
                    frames_limit=frames_limit,
                    sheet_frames=picks,
                    gt_bboxes=gt_bboxes,
                    score=score,
                )
            runs.append(result)
            sheet.extend(rows)
            m = result.metrics
            line = (
                f"{seq.name} {config.spec}: leak {100 * m.leak:.3f}% (>5%: {len(m.frames_over[0.05])} frames), "
                f"collateral {100 * m.collateral:.2f}% ({m.collateral_vs_box:.2f}x box), J&F {m.jf:.3f}, "
                f"{result.seconds_per_frame:.3f} s/frame"
            )
            if result.output is not None:
                line += f"; {_output_line(result.output)}"
            logger.info(line)
            if progress is not None:
                progress(line)
        if sheet:
            write_contact_sheet(sheet, out_dir / "contact" / f"{seq.name}.png", title=f"{seq.name} ({seq.directory.parent.name})")
    table = EvalTable(tuple(runs))
    write_text_atomic(out_dir / "summary.md", table.summary_markdown())
    write_text_atomic(out_dir / "sequences.md", table.sequences_markdown())
    write_text_atomic(out_dir / "results.json", table.to_json())
    return table
