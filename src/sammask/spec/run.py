"""The run specification: every input and output of one run, its effective settings, one gate.

Every entry point (``redact``, ``detect``, ``annotate``, ``batch`` -- one spec for all its videos --, the
service at submission and the UI) describes its run as a :class:`RunSpec` and calls
:func:`gate` before anything is decoded or any model is loaded. The gate refuses, in one
:class:`~sammask.errors.SammaskError` line:

- options that do not apply to the run's detection source (:func:`~sammask.spec.options.check_sources`);
- option values outside the table's bounds, an unknown SAM 2 model name, SAM 2 options given
  for another segmenter;
- any output that is, aliases (symlink, hard link, ``..``, case) or lies inside an input, that
  collides with another output, exists without ``overwrite``, or whose folder is missing or not
  writable, or a video output whose suffix is not a single-file container holding H.264
  (:func:`~sammask.spec.gate.check_paths`, :mod:`~sammask.spec.containers`: HLS, DASH,
  ``.ffmeta``, raw ``.yuv`` / ``.rgb`` and the like are refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sammask.errors import ConfigError
from sammask.spec.gate import MASK_EXPORT_NAMES, InputRef, OutputRef, check_paths
from sammask.spec.options import OPTIONS, Source, check_sources

if TYPE_CHECKING:
    from sammask.settings import RedactSettings

__all__ = ["SAM2_ONLY", "RunSpec", "gate", "given_names"]

SAM2_ONLY = ("model", "model_path", "device", "strategy", "input_size", "chunk_size", "runtime", "precision", "crop", "use_previous_mask")
"""Options that only the ``sam2`` segmenter reads."""


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One run: what it reads, what it writes, and with which settings.

    Paths are as the user gave them (relative to the working directory); ``None`` means the
    run has no such file.

    Attributes:
        command: the entry point (``redact``, ``detect``, ``annotate``, ``batch``, ``service``,
            ``ui``), for messages.
        video: the input video.
        tracks: the tracks file read (``--tracks``), also when it is filtered in memory.
        masks: the masks read (``--masks``: a COCO / MOTS file or a folder of PNG id maps or an
            applied-mask export).
        config: the ``config.ini`` read (``--config``).
        prompts: the annotation prompts file (``annotate --prompts``).
        model_path: a local checkpoint read (``--model-path``).
        extra_inputs: further files or folders read (batch folders, ``--tracks-dir``).
        output: the video written (``-o`` of ``redact``; a batch video's output).
        tracks_out: the tracks file written (``detect -o``).
        report: the JSON report written (``--report``).
        save_masks: the applied-mask folder written (``--save-masks``).
        preview: the preview sheet written (``--preview``: ``OUTPUT.preview.png``).
        exports: the folder the annotate exports go to, with ``export_names`` the entries
            written inside it.
        extra_outputs: further outputs (batch summary, checkpoint folder), as
            :class:`~sammask.spec.gate.OutputRef`.
        source: where the detections come from, or None when the run has none (annotate).
        given: names of the options the user set (keys of :data:`~sammask.spec.options.OPTIONS`).
        settings: the effective :class:`~sammask.settings.RedactSettings`, or None (detect,
            annotate).
        overwrite: existing outputs may be replaced (``-y/--overwrite``).
    """

    command: str
    video: Path | None = None
    tracks: Path | None = None
    masks: Path | None = None
    config: Path | None = None
    prompts: Path | None = None
    model_path: Path | None = None
    extra_inputs: tuple[InputRef, ...] = ()
    output: Path | None = None
    tracks_out: Path | None = None
    report: Path | None = None
    save_masks: Path | None = None
    preview: Path | None = None
    exports: Path | None = None
    export_names: tuple[str, ...] = ()
    extra_outputs: tuple[OutputRef, ...] = ()
    source: Source | None = None
    given: frozenset[str] = field(default_factory=frozenset)
    settings: RedactSettings | None = None
    overwrite: bool = False

    def inputs(self) -> list[InputRef]:
        """Every file or folder the run reads."""
        named = (
            ("the input video", self.video),
            ("the --tracks file", self.tracks),
            ("the --masks input", self.masks),
            ("the --config file", self.config),
            ("the --prompts file", self.prompts),
            ("the --model-path checkpoint", self.model_path),
        )
        return [InputRef(what, Path(p)) for what, p in named if p is not None] + list(self.extra_inputs)

    def outputs(self) -> list[OutputRef]:
        """Every file or folder the run writes."""
        out: list[OutputRef] = []
        if self.output is not None:
            out.append(OutputRef("-o", Path(self.output), "video"))
        if self.tracks_out is not None:
            out.append(OutputRef("-o", Path(self.tracks_out), "file"))
        if self.report is not None:
            out.append(OutputRef("--report", Path(self.report), "file"))
        if self.save_masks is not None:
            out.append(OutputRef("--save-masks", Path(self.save_masks), "folder", MASK_EXPORT_NAMES))
        if self.preview is not None:
            out.append(OutputRef("--preview", Path(self.preview), "file"))
        if self.exports is not None:
            out.append(OutputRef("-o", Path(self.exports), "folder", self.export_names))
        return out + list(self.extra_outputs)


def _check_settings(spec: RunSpec) -> None:
    s = spec.settings
    if s is None:
        return
    for name, value in (
        ("strength", s.masking.strength),
        ("dilate", s.masking.dilate),
        ("feather", s.masking.feather),
        ("stride", s.stride),
        ("crf", s.encode.crf),
        ("input_size", s.sam2.input_size),
        ("chunk_size", s.sam2.chunk_size),
    ):
        OPTIONS[name].check(value)
    if s.segmenter == "sam2":
        from sammask.segmentation.families import resolve_model_source

        # ConfigError naming the choices (SAM 2 names, family names, hub ids, folders); no loading
        resolve_model_source(s.sam2.model, s.sam2.checkpoint)
    else:
        ignored = [n for n in SAM2_ONLY if n in spec.given]
        if ignored:
            named = ", ".join(f"{n} ({OPTIONS[n].flag.split('/')[0]})" for n in ignored)
            raise ConfigError(
                f"{named}: SAM 2 options apply with segmenter sam2 (--segmenter sam2) only, "
                f"not with the {s.segmenter} segmenter; drop them or choose sam2"
            )


def gate(spec: RunSpec) -> None:
    """Check a run before anything is decoded: options, settings, the output container, paths.

    Args:
        spec: the run.

    Raises:
        ConfigError: an option that does not apply to the source or to the segmenter, a value
            outside its bounds, an unknown SAM 2 model.
        OutputPathError: an output video whose suffix is not a single-file container for H.264;
            an output that is or aliases an input, collides with another output, exists without
            ``overwrite``, or cannot be created.
    """
    if spec.source is not None:
        check_sources(spec.given, spec.source)
    _check_settings(spec)
    check_paths(spec.inputs(), spec.outputs(), overwrite=spec.overwrite)


def given_names(**values: object) -> frozenset[str]:
    """Names whose value is set (not None, not False): the options a user gave."""
    return frozenset(k for k, v in values.items() if v is not None and v is not False)
