"""Background removal and replacement: keep tracked objects, annotated masks or people, and write
them with an alpha channel (ProRes 4444, VP9, RGBA PNGs) or over a new background.

Public API: :func:`matte`, :class:`MatteOptions`, :class:`Background`, :func:`parse_background`,
:func:`feather_alpha`, :func:`flicker`, :class:`TemporalSmoother`. Importing does no work.
"""

from sammask.matte.alpha import TemporalSmoother, composite, feather_alpha, flicker, to_uint8
from sammask.matte.options import Background, BackgroundKind, MatteOptions, OutputKind, output_kind, parse_background
from sammask.matte.run import MatteReport, matte

__all__ = [
    "Background",
    "BackgroundKind",
    "MatteOptions",
    "MatteReport",
    "OutputKind",
    "TemporalSmoother",
    "composite",
    "feather_alpha",
    "flicker",
    "matte",
    "output_kind",
    "parse_background",
    "to_uint8",
]
