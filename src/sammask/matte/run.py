"""``matte``: keep tracked objects, annotated masks or people, and remove or replace the rest.

::

    check paths -> keep source (tracks + segmenter | masks | person) -> soft matte (feather,
    smoothing) -> alpha output or composite over the background -> matte video -> rename into place
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sammask.errors import ConfigError, InputFileError, OutputPathError
from sammask.matte.alpha import TemporalSmoother, composite, feather_alpha, refine_alpha, to_uint8
from sammask.matte.options import Background, BackgroundKind, MatteOptions, OutputKind, output_kind
from sammask.matte.output import PngFolderWriter, alpha_encode_options, matte_encode_options, opaque_encode_options
from sammask.media import ReadAhead, VideoReader, VideoWriter, probe
from sammask.media.types import DecodedFrame, EncodeOptions, VideoInfo

if TYPE_CHECKING:
    from sammask.matte.sources import KeepSource
    from sammask.settings import RedactSettings

logger = logging.getLogger(__name__)

__all__ = ["MatteReport", "matte"]

PNG_NAME = re.compile(r"\d{6}\.png")
"""Names of the frames in a PNG matte folder (``{frame_idx:06d}.png``)."""

ProgressCallback = Callable[[float], None]
"""Called with the fraction of frames done, 0.0 .. 1.0, never decreasing."""


@dataclass(slots=True)
class MatteReport:
    """What a :func:`matte` run did.

    Attributes:
        input: the input video.
        output: the output (file or PNG folder).
        output_kind: ``prores4444`` | ``vp9alpha`` | ``png`` | ``h264``.
        matte_output: the grayscale matte video, if any.
        keep: what was kept: the segmenter's name (tracks), ``masks`` or ``mediapipe-selfie``.
        background: the background, as given (``transparent``, ``color:#00ff00``...).
        feather: soft-edge width, pixels.
        smooth: temporal smoothing weight.
        refine: trimap band of the pymatting refinement, pixels (0: off).
        frames: frames written.
        fallbacks: track-frames that kept their whole box (segmentation failed), by reason.
        seconds: wall-clock seconds.
    """

    input: str
    output: str
    output_kind: str
    matte_output: str | None
    keep: str
    background: str
    feather: float
    smooth: float
    refine: int = 0
    frames: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        """Frames per second of the whole run."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> str:
        """The report as indented JSON."""
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["fps"] = round(self.fps, 3)
        return json.dumps(data, indent=2)


class _Backgrounds:
    """Background frames for a replacement (RGB (H, W, 3) uint8, the video's stored size)."""

    def __init__(self, background: Background, info) -> None:
        import cv2

        self.background, self.size = background, (info.width, info.height)
        self._still: np.ndarray | None = None
        self._reader: VideoReader | None = None
        self._frames: Iterator[DecodedFrame] | None = None
        if background.kind is BackgroundKind.COLOR:
            self._still = np.empty((info.height, info.width, 3), np.uint8)
            self._still[:] = background.color
        elif background.kind is BackgroundKind.IMAGE:
            path = self._background_file()
            if not path.is_file():
                raise InputFileError(f"background image not found: {path}")
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise InputFileError(f"{path}: cannot read the background image (PNG, JPEG, ... expected)")
            self._still = self._fit(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        elif background.kind is BackgroundKind.VIDEO:
            self._open_video()

    def _background_file(self) -> Path:
        """The background image or video file.

        Raises:
            ConfigError: an image or video background without a path.
        """
        if self.background.path is None:
            raise ConfigError(f"a {self.background.kind.value} background needs a file")
        return Path(self.background.path)

    def _open_video(self) -> Iterator[DecodedFrame]:
        """(Re)open the background video from its first frame; its frame iterator."""
        if self._reader is not None:
            self._reader.close()
        self._reader = VideoReader(self._background_file())
        self._frames = iter(self._reader)
        return self._frames

    def _fit(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        if (rgb.shape[1], rgb.shape[0]) == self.size:
            return rgb
        return cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)

    def frame(self, image: np.ndarray) -> np.ndarray:
        """The background behind the input frame ``image``."""
        if self._still is not None:
            return self._still
        if self.background.kind is BackgroundKind.BLUR:
            from sammask.masking.effects import apply_effect, frame_object_size_px
            from sammask.masking.options import Effect

            return apply_effect(
                image, Effect.BLUR, object_size=frame_object_size_px(image.shape), strength=self.background.strength, color=(0, 0, 0)
            )
        nxt = next(self._frames if self._frames is not None else self._open_video(), None)
        if nxt is None:  # shorter background video: loop it
            nxt = next(self._open_video(), None)
            if nxt is None:
                raise InputFileError(f"{self.background.path}: the background video has no frames")
        return self._fit(nxt.image)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def _check_paths(
    input_path: Path,
    output: Path,
    kind: OutputKind,
    keep_file: Path | None,
    background: Background,
    matte_path: Path | None,
    report_path: Path | None,
    overwrite: bool,
) -> None:
    """Every output checked against every input and each other before anything is decoded."""
    from sammask.spec.gate import InputRef, OutputRef, check_paths
    from sammask.spec.gate import OutputKind as PathKind

    inputs = [InputRef("INPUT", input_path)]
    if keep_file is not None:
        inputs.append(InputRef("--tracks/--masks", keep_file))
    if background.path is not None:
        inputs.append(InputRef("--background", Path(background.path)))
    # "video" = a single-file container for H.264; WebM (VP9) is a file whose suffix chose its codec
    out_kind: PathKind = "folder" if kind is OutputKind.PNG_FOLDER else "file" if kind is OutputKind.VP9_ALPHA else "video"
    outputs = [OutputRef("-o", output, out_kind)]
    if matte_path is not None:
        outputs.append(OutputRef("--matte-out", matte_path, "video"))
    if report_path is not None:
        outputs.append(OutputRef("--report", report_path, "file"))
    check_paths(inputs, outputs, overwrite=overwrite)
    if kind is OutputKind.PNG_FOLDER and output.exists():
        if not overwrite:
            raise OutputPathError(f"-o {output} already exists; pass -y/--overwrite to replace it")
        others = [p.name for p in output.iterdir() if not PNG_NAME.fullmatch(p.name)]
        if others:
            raise OutputPathError(
                f"-o {output} holds files a matte does not write ({', '.join(sorted(others)[:3])}...); "
                "-y replaces only a previous PNG matte folder: choose a new folder"
            )


def matte(
    input_path: Path | str,
    output_path: Path | str,
    *,
    tracks=None,
    masks=None,
    masks_any_video: bool = False,
    keep: str | None = None,
    options: MatteOptions | None = None,
    matte_path: Path | str | None = None,
    settings=None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    report_path: Path | str | None = None,
) -> MatteReport:
    """Keep objects of a video and remove (alpha) or replace everything else.

    Exactly one of ``tracks``, ``masks``, ``keep="person"`` says what to keep.

    Args:
        input_path: the video.
        output_path: ``.mov`` (ProRes 4444 + alpha), ``.webm`` (VP9 + alpha), a path without
            suffix (a new folder of RGBA PNGs), or with a replaced background any container
            (``.mp4``: H.264; ``.webm``: VP9). Frame rate, timestamps and rotation are kept,
            audio is copied (``settings.encode.copy_audio``).
        tracks: a tracks file or :class:`~sammask.tracks.Tracks`, segmented with
            ``options.segmenter`` as in ``sammask redact`` (no dilation; a failed segmentation
            keeps the whole box).
        masks: annotated masks: a :class:`~sammask.export.MaskSource` (an annotation session's) or
            a path (COCO ``.json``, MOTS ``.txt``, PNG id maps, ``--save-masks`` folder). They must
            record this very video (as for ``redact --masks``) unless ``masks_any_video``.
        masks_any_video: accept masks that record another video, or none.
        keep: ``"person"``: MediaPipe selfie segmentation.
        options: :class:`MatteOptions` (background, feather, smoothing, segmenter).
        matte_path: optional grayscale matte video (H.264, frame-aligned with the output: same
            timestamps; white = kept).
        settings: :class:`~sammask.settings.RedactSettings` for the tracks source and the H.264
            encoder (CRF, preset, audio).
        overwrite: replace existing outputs.
        progress: optional callback with the fraction of frames done.
        report_path: optional path for the :class:`MatteReport` as JSON (written last).

    Returns:
        :class:`MatteReport`.

    Raises:
        ConfigError: not exactly one keep source, a transparent background into a file without
            alpha, bad options.
        OutputPathError: an output that is (or aliases) an input or another output, exists
            without ``overwrite``, or lies in a missing or read-only folder.
        InputFileError: a missing input, tracks, masks or background file.
        MediaError: undecodable input, encoder failure.
        TracksFormatError, ExportError, ModelLoadError: from the keep source.
        Interrupted: SIGINT / SIGTERM / SIGHUP (main thread); nothing was written.
    """
    from sammask.settings import RedactSettings

    t0 = time.perf_counter()
    options = options or MatteOptions()
    settings = settings or RedactSettings()
    _check_keep_choice(tracks, masks, keep, masks_any_video=masks_any_video)
    input_path, output_path = Path(input_path), Path(output_path)
    matte_path = Path(matte_path) if matte_path is not None else None
    kind = output_kind(output_path)
    bg = options.background
    transparent = bg.kind is BackgroundKind.TRANSPARENT
    encode = _encode_options(kind, transparent, settings)
    keep_file = next((Path(x) for x in (tracks, masks) if isinstance(x, (str, Path))), None)
    report_path = Path(report_path) if report_path is not None else None
    _check_paths(input_path, output_path, kind, keep_file, bg, matte_path, report_path, overwrite)
    info = probe(input_path)

    report = MatteReport(
        input=str(input_path),
        output=str(output_path),
        output_kind=kind.value,
        matte_output=None if matte_path is None else str(matte_path),
        keep="",
        background=str(bg),
        feather=options.feather,
        smooth=options.smooth,
        refine=options.refine,
    )
    from sammask.pipeline import stop_on_signals

    with stop_on_signals(), contextlib.ExitStack() as stack:
        # outputs first (their checks need no decoding), then the model, then the input
        outs = _open_outputs(stack, kind, output_path, info, encode, input_path, matte_path, settings, overwrite=overwrite)
        png, video, matte_writer = outs.png, outs.video, outs.matte
        backgrounds = None if transparent else _Backgrounds(bg, info)
        if backgrounds is not None:
            stack.callback(backgrounds.close)
        source = _keep_source(
            input_path, info, settings, tracks=tracks, masks=masks, keep=keep, masks_any_video=masks_any_video, segmenter=options.segmenter
        )
        stack.callback(source.close)
        report.keep = source.name
        reader = stack.enter_context(VideoReader(input_path))
        frames = stack.enter_context(ReadAhead(reader))
        _write_frames(source.run(frames), outs, options, backgrounds, report, max(info.num_frames, 1), progress)
        report.fallbacks = dict(getattr(source, "fallbacks", {}))
        if matte_writer is not None:
            matte_writer.finish()
        if video is not None:
            video.finish()
        if matte_writer is not None:
            matte_writer.commit()  # the output appears last: a failure before leaves neither
        report.seconds = time.perf_counter() - t0
        _commit_last(png, video, report, report_path, matte_path)
    if report.fallbacks:
        logger.warning("%d track-frames kept their whole box (segmentation failed: %s)", sum(report.fallbacks.values()), report.fallbacks)
    logger.info("%s: %d frames (%s), kept %s, background %s", output_path, report.frames, kind.value, report.keep, bg)
    if progress is not None:
        progress(1.0)
    return report


def _check_keep_choice(tracks: object, masks: object, keep: str | None, *, masks_any_video: bool) -> None:
    """Exactly one of ``tracks``, ``masks``, ``keep="person"``.

    Raises:
        ConfigError: none or several, ``masks_any_video`` without masks, another ``keep``.
    """
    if sum(x is not None for x in (tracks, masks, keep)) != 1:
        raise ConfigError("give exactly one of --tracks FILE, --masks FILE or --keep person")
    if masks_any_video and masks is None:
        raise ConfigError("--masks-any-video applies with --masks only")
    if keep is not None and keep != "person":
        raise ConfigError(f"--keep '{keep}' is not supported; use --keep person")


def _encode_options(kind: OutputKind, transparent: bool, settings: RedactSettings) -> EncodeOptions | None:
    """The encoder settings of the output video (None: a PNG folder)."""
    if kind is OutputKind.PNG_FOLDER:
        return None
    if transparent:
        return alpha_encode_options(kind, settings.encode.copy_audio)
    return opaque_encode_options(kind, settings.encode)


def _keep_source(
    input_path: Path,
    info: VideoInfo,
    settings: RedactSettings,
    *,
    tracks: object,
    masks: object,
    keep: str | None,
    masks_any_video: bool,
    segmenter: str,
) -> KeepSource:
    """What says which pixels are kept: MediaPipe's person segmentation, annotated masks, or
    tracks segmented with ``segmenter`` as ``redact`` does."""
    from sammask.detection.stream import upright_transform

    if keep == "person":
        from sammask.matte.sources import PersonSource

        return PersonSource(upright_transform(info))
    if masks is not None:
        from sammask.matte.sources import masks_source

        return masks_source(input_path, masks, settings, info, any_video=masks_any_video)
    from sammask.matte.sources import TracksSource

    return TracksSource(input_path, tracks, replace(settings, segmenter=segmenter))


def _matted(image: np.ndarray, a8: np.ndarray, backgrounds: _Backgrounds | None) -> np.ndarray:
    """One output frame: RGBA (transparent background, ``backgrounds`` None) or the frame
    composited over its background with the 8-bit alpha that the matte video carries."""
    if backgrounds is None:
        return np.dstack([image, a8])
    return composite(image, backgrounds.frame(image), a8.astype(np.float32) / 255.0)


def _commit_last(
    png: PngFolderWriter | None, video: VideoWriter | None, report: MatteReport, report_path: Path | None, matte_path: Path | None
) -> None:
    """The report, then the output (folder or video) moved into place; on failure the side
    files (matte video, report) are removed."""
    try:
        if report_path is not None:
            from sammask.io import write_text_atomic

            write_text_atomic(report_path, report.to_json() + "\n")
        if png is not None:
            png.commit()
        elif video is not None:  # always, when there is no PNG folder
            video.commit()
    except BaseException:
        for side in (matte_path, report_path):
            if side is not None:
                side.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class _Outputs:
    """What one matte run writes: a PNG folder or a video, and optionally the matte video."""

    png: PngFolderWriter | None
    video: VideoWriter | None
    matte: VideoWriter | None


def _open_outputs(
    stack: contextlib.ExitStack,
    kind: OutputKind,
    output_path: Path,
    info: VideoInfo,
    encode: EncodeOptions | None,
    input_path: Path,
    matte_path: Path | None,
    settings: RedactSettings,
    *,
    overwrite: bool,
) -> _Outputs:
    """Open the output (PNG folder, or video with the input's audio; ``encode`` None for a PNG
    folder) and the matte video, each aborted by ``stack`` unless committed.

    Raises:
        OutputPathError / MediaError / ConfigError: as :class:`PngFolderWriter` and
            :class:`~sammask.media.VideoWriter`.
    """
    from sammask.detection.stream import upright_transform

    if kind is OutputKind.PNG_FOLDER:
        png = PngFolderWriter(output_path, info, upright_transform(info), overwrite=overwrite)
        stack.callback(png.abort)
        video = None
    else:
        video = stack.enter_context(VideoWriter(output_path, info, encode, audio_source=input_path))
        png = None
    matte_writer = None
    if matte_path is not None:
        matte_writer = stack.enter_context(VideoWriter(matte_path, info, matte_encode_options(settings.encode)))
    return _Outputs(png, video, matte_writer)


def _write_frames(
    kept: Iterator[tuple[DecodedFrame, np.ndarray]],
    outs: _Outputs,
    options: MatteOptions,
    backgrounds: _Backgrounds | None,
    report: MatteReport,
    total: int,
    progress: ProgressCallback | None,
) -> None:
    """Alpha (feathered or refined, then smoothed over time) per frame of ``kept`` (frame, (H, W)
    bool keep mask), the matted frame written to the output and the alpha to the matte video;
    counts ``report.frames``."""
    smoother = TemporalSmoother(options.smooth)
    for frame, keep_mask in kept:
        soft = refine_alpha(frame.image, keep_mask, options.refine) if options.refine else feather_alpha(keep_mask, options.feather)
        a8 = to_uint8(smoother(soft))
        out = _matted(frame.image, a8, backgrounds)
        if outs.png is not None:
            outs.png.write(out if out.shape[2] == 4 else np.dstack([out, np.full(a8.shape, 255, np.uint8)]), frame.frame_idx)
        else:
            assert outs.video is not None  # the output is a PNG folder or a video
            outs.video.write(out, frame.pts)
        if outs.matte is not None:
            outs.matte.write(np.repeat(a8[..., None], 3, axis=2), frame.pts)
        report.frames += 1
        if progress is not None:
            progress(min(report.frames / total, 0.999))
