"""The single-file output rule: which containers a video output may use.

A run writes its video to a temporary sibling and renames it into place, so the output must be
*one file* that holds the whole video. Muxers that write several files (HLS ``.m3u8`` playlists
with segment files, DASH ``.mpd`` manifests, image sequences), or a file without the video
(``.ffmeta`` metadata, raw ``.yuv`` / ``.rgb`` frames that cannot hold H.264) are refused before
anything is decoded, in one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sammask.errors import OutputPathError

__all__ = ["SINGLE_FILE_CONTAINERS", "check_single_file_container"]

SINGLE_FILE_CONTAINERS: Mapping[str, tuple[str, str]] = {
    ".mp4": ("mp4", "H.264 video; audio copied when MP4 holds its codec (AAC, MP3, AC-3, E-AC-3, Opus, FLAC, ALAC)"),
    ".m4v": ("mp4", "H.264 video; audio as .mp4"),
    ".mov": ("mov", "H.264 video; audio copied when QuickTime holds its codec (AAC, MP3, AC-3, ALAC, PCM)"),
    ".mkv": ("matroska", "H.264 video; audio copied whatever its codec"),
}
"""Output suffix -> (FFmpeg muxer, what it holds). Whether the input's audio codec fits the
container is checked when the writer opens, also before decoding."""


def check_single_file_container(path: Path, flag: str = "-o") -> str:
    """The FFmpeg muxer for a video output, refusing suffixes outside :data:`SINGLE_FILE_CONTAINERS`.

    Args:
        path: the output video.
        flag: the option that named it, for the message.

    Returns:
        The muxer name (``mp4``, ``mov``, ``matroska``).

    Raises:
        OutputPathError: the suffix is not a single-file container for H.264 (``.m3u8``,
            ``.mpd``, ``.ffmeta``, ``.yuv``, ``.rgb``, ``.webm``, ``.avi``, no suffix...).
    """
    entry = SINGLE_FILE_CONTAINERS.get(Path(path).suffix.lower())
    if entry is None:
        shown = f"'{Path(path).suffix}'" if Path(path).suffix else "no suffix"
        raise OutputPathError(
            f"{flag} {path}: {shown} is not a single-file container for H.264 (libx264) video; use {', '.join(SINGLE_FILE_CONTAINERS)}"
        )
    return entry[0]
