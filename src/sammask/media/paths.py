"""Which FFmpeg muxer an output file name selects (the gate, :mod:`sammask.spec.gate`, refuses
a suffix that names none before anything is decoded)."""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["muxer_for_suffix"]


@functools.lru_cache(maxsize=1)
def _muxers_by_extension() -> dict[str, str]:
    import av

    out: dict[str, str] = {}
    for name in sorted(av.formats_available - {"image2", "image2pipe"}):  # single images, not video
        try:
            fmt = av.ContainerFormat(name, "w")
        except (ValueError, av.FFmpegError):
            continue
        for ext in fmt.extensions:
            out.setdefault(ext.lower(), name)
    return out


def muxer_for_suffix(path: Path) -> str | None:
    """FFmpeg muxer name that a file name's suffix selects (``.mp4`` -> ``mp4``), or None."""
    return _muxers_by_extension().get(path.suffix.lower().lstrip("."))
