"""Which video a set of masks was made on: size, frame count and a SHA-256 of the file.

Every mask export records a :class:`VideoIdentity` (COCO ``info.sammask_video``, the applied-mask
``meta.json`` ``video``, a ``video.json`` in PNG id-map folders) and ``redact --masks`` compares it
with the video it masks (issue 14, class 5: masks made on a 40-frame video applied to a 60-frame
video of the same size left 20 frames unmasked, exit 0).

The digest is of the file's bytes, not of decoded frames: it is known before anything is decoded
(so a mismatch is refused before work starts), it does not depend on the FFmpeg build, and it
is cheap (SHA-256 streams at about 300 MB/s on this machine under load, measured with
``hashlib.file_digest`` on 300 MiB; decoding the same video takes far longer). A re-muxed or
re-encoded copy of the same footage is another file: the user then says so explicitly
(``--masks-any-video``). Privacy first: when in doubt, refuse.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sammask.errors import InputFileError

__all__ = ["VideoIdentity", "video_identity"]


@dataclass(frozen=True, slots=True)
class VideoIdentity:
    """The video masks were made on.

    Attributes:
        width: W in pixels (stored frames).
        height: H in pixels.
        frames: frame count (the container's, or decoded), or None when unknown.
        sha256: hex SHA-256 of the video file's bytes.
        name: the file's name when the masks were made (for messages only; never compared).
    """

    width: int
    height: int
    frames: int | None
    sha256: str
    name: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (keys ``width``, ``height``, ``frames``, ``sha256``, ``name``)."""
        return {"width": self.width, "height": self.height, "frames": self.frames, "sha256": self.sha256, "name": self.name}

    @classmethod
    def from_json(cls, d: Any) -> VideoIdentity:
        """Inverse of :meth:`to_json`.

        Raises:
            ValueError: if ``d`` is not such a dict (missing key, wrong type).
        """
        try:
            width, height, digest = d["width"], d["height"], d["sha256"]
            frames, name = d.get("frames"), d.get("name", "")
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a video record ({exc!r}); expected width, height, frames, sha256") from None
        ints = [width, height] + ([] if frames is None else [frames])
        if any(isinstance(v, bool) or not isinstance(v, int) for v in ints) or not isinstance(digest, str):
            raise ValueError("video record: width, height, frames must be integers and sha256 a string")
        return cls(int(width), int(height), None if frames is None else int(frames), digest, str(name))

    def differences(self, other: VideoIdentity) -> list[str]:
        """What differs from ``other`` in words (``[]`` when the files are the same)."""
        if self.sha256 == other.sha256:
            return []
        out = []
        if (self.width, self.height) != (other.width, other.height):
            out.append(f"size {self.width}x{self.height} vs {other.width}x{other.height}")
        if self.frames is not None and other.frames is not None and self.frames != other.frames:
            out.append(f"{self.frames} vs {other.frames} frames")
        out.append(f"content digest {self.sha256[:12]} vs {other.sha256[:12]}")
        return out


def video_identity(path: Path | str, *, width: int, height: int, frames: int | None) -> VideoIdentity:
    """The :class:`VideoIdentity` of a video file (reads the whole file once for the digest).

    Args:
        path: the video file.
        width: W in pixels (from :func:`sammask.media.probe`).
        height: H in pixels.
        frames: frame count (container's or decoded), or None.

    Raises:
        InputFileError: if the file cannot be read.
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise InputFileError(f"cannot read video {p} to record which video the masks belong to: {exc}") from exc
    return VideoIdentity(int(width), int(height), frames, digest, p.name)
