"""Exception types of sammask.

Every error the package raises on purpose derives from :class:`SammaskError`; its message says
what was wrong and what to do. The CLI prints ``str(exc)`` on one line and exits non-zero.
"""

from __future__ import annotations


class SammaskError(Exception):
    """Base class of all sammask errors."""


class InputFileError(SammaskError, FileNotFoundError):
    """An input file (video, tracks, config, ground truth) is missing or unreadable."""


class OutputWriteError(SammaskError, OSError):
    """An output file could not be written (folder gone, permissions, disk full)."""


class MediaError(SammaskError):
    """A video could not be opened, decoded or encoded (corrupt, truncated, unsupported)."""


class TracksFormatError(SammaskError, ValueError):
    """A tracks file is malformed or holds invalid detections.

    Attributes:
        path: the tracks file, if known.
        location: ``"line 12"`` (MOT text) or ``"detection 3 of frame 40"`` (JSON), if known.
        field: the offending field name (``"bbox"``, ``"frame_idx"``...), if known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        location: str | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.location = location
        self.field = field
        where = ", ".join(p for p in (path, location, f"field '{field}'" if field else None) if p)
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(SammaskError, ValueError):
    """A setting (CLI flag or INI key) has an invalid value."""


class DetectionError(SammaskError, ValueError):
    """A detector's input image or output arrays (boxes, scores, class names) are malformed:
    wrong shape or dtype, non-finite, inverted boxes or scores outside [0, 1]."""


class ImageArrayError(SammaskError, ValueError):
    """An image array handed to a masking function (frame, effect region, crop) has the wrong
    shape or dtype, or a crop lies outside it: a caller's mistake, not a broken video."""


class RuntimeUnavailableError(ConfigError):
    """A requested inference runtime (e.g. OpenVINO) is not installed; the message names the extra."""


class ModelLoadError(SammaskError):
    """A segmentation model could not be built or its weights could not be loaded."""


class WeightsNotFoundError(ModelLoadError, FileNotFoundError):
    """Model weights are not available locally and cannot be downloaded (offline)."""


class SegmentationError(SammaskError):
    """A segmenter failed on a frame. The pipeline catches it and masks the boxes instead."""


class EvalError(SammaskError, ValueError):
    """Ground truth or applied masks for evaluation are missing or inconsistent."""


class OutputPathError(SammaskError, ValueError):
    """An output location is unusable (missing or unwritable folder, unknown suffix, name too
    long) or would destroy a file (the input, another output, an existing file without
    ``overwrite``)."""


class NothingMaskedError(SammaskError):
    """The tracks file held detections but the run would mask none of them (all dropped, or the
    mode selects none): exit 0 would falsely claim the objects are hidden."""


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGINT, SIGTERM, SIGHUP); nothing was written.

    Derives from ``KeyboardInterrupt`` (not ``Exception``) so that no ``except Exception`` in a
    segmenter or library can swallow it.

    Attributes:
        signum: the signal number.
        exit_code: the conventional shell exit status, ``128 + signum`` (130, 143, 129).
    """

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        try:
            name = signal.Signals(self.signum).name
        except ValueError:
            name = f"signal {self.signum}"
        self.signal_name = name
        super().__init__(f"interrupted by {name}")


class ExportError(SammaskError, ValueError):
    """Masks could not be exported or an exported mask file could not be read back."""
