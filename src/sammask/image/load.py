"""Reading image files as people have them, and encoding the image outputs.

Inputs: JPEG, PNG, WebP, TIFF and BMP through Pillow; 8- and 16-bit samples (16-bit grey is
scaled ``v * 255 / 65535``; 16-bit RGB / RGBA keep the high byte of each sample, as Pillow decodes
them); grey, palette, RGB, RGBA and CMYK. The EXIF orientation tag (phone photos) is applied on load
(``PIL.ImageOps.exif_transpose``), so every prompt and every output is in the **upright**
image, as every viewer shows it. Images over :data:`MAX_PIXELS` are refused before decoding.
"""

from __future__ import annotations

import glob
import io
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sammask.errors import ConfigError, InputFileError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage
from sammask.image.types import LoadedImage

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")
"""File suffixes taken from folders and globs (case-insensitive)."""

MAX_PIXELS = 100_000_000
"""Largest image decoded (100 megapixels, ~300 MB as RGB): larger files are refused on load."""

__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "encode_png", "expand_inputs", "load_image", "to_uint8_rgb"]


def to_uint8_rgb(pil_image: PILImage) -> tuple[np.ndarray, np.ndarray | None, int]:
    """A Pillow image as ``(rgb (H, W, 3) uint8, alpha (H, W) uint8 or None, bit_depth)``.

    16-bit samples (``I;16*`` modes, ``I``) are scaled to 8 bits by ``v * 255 / 65535``
    (rounded); float images (``F``) by their own maximum.
    """
    mode = pil_image.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(pil_image, dtype=np.float64)
        g = np.clip(np.round(a * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2), None, 16
    if mode == "F":
        a = np.asarray(pil_image, dtype=np.float64)
        top = float(np.nanmax(a)) if a.size and np.nanmax(a) > 0 else 1.0
        g = np.clip(np.round(np.nan_to_num(a) / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2), None, 32
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in pil_image.info)
    depth = 1 if mode == "1" else 8
    if has_alpha:
        rgba = np.asarray(pil_image.convert("RGBA"))
        return np.array(rgba[:, :, :3]), np.array(rgba[:, :, 3]), depth  # writable copies
    return np.array(pil_image.convert("RGB")), None, depth


def load_image(path: str | Path) -> LoadedImage:
    """Decode an image file into its upright RGB pixels (and alpha).

    Args:
        path: a JPEG / PNG / WebP / TIFF / BMP file.

    Returns:
        :class:`LoadedImage` (EXIF orientation applied; see the module docstring).

    Raises:
        InputFileError: missing, a folder, unreadable, not an image Pillow can decode, or larger
            than :data:`MAX_PIXELS` (the message gives the size and the limit).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"image not found: {p}" if not p.exists() else f"{p} is a folder, not an image file")
    try:
        with Image.open(p) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise InputFileError(
                    f"{p} is {w}x{h} = {w * h / 1e6:.0f} megapixels, over the {MAX_PIXELS // 1_000_000} "
                    "megapixel limit; downscale it first (e.g. to 8000 px on the long side)"
                )
            raw_16 = any(
                ";16" in str(t.args if isinstance(t.args, str) else (t.args or ("",))[0]) for t in (im.tile or [])
            )  # before anything loads the pixels (tile is then [])
            orientation = int(im.getexif().get(0x0112, 1) or 1)
            upright = ImageOps.exif_transpose(im)
            rgb, alpha, depth = to_uint8_rgb(upright)
            if raw_16:  # 16-bit RGB(A): Pillow decodes it to 8 bits (the high byte of each sample)
                depth = 16
    except InputFileError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise InputFileError(f"{p} is not an image sammask can read ({exc}); use JPEG, PNG, WebP or TIFF") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputFileError(f"{p} could not be decoded: {exc}") from None
    return LoadedImage(rgb=rgb, alpha=alpha, path=p, orientation=orientation if 1 <= orientation <= 8 else 1, bit_depth=depth)


def expand_inputs(items: Iterable[str | Path]) -> list[Path]:
    """Image files named by files, folders (their images, recursively) and globs (``**`` ok).

    Args:
        items: paths, folders or glob patterns, in the order given.

    Returns:
        Files in order, each once (folders and globs sorted by path).

    Raises:
        InputFileError: an item matches nothing (the message names it), or no image in total.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    for item in items:
        s = str(item)
        p = Path(s)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                raise InputFileError(f"no image ({', '.join(IMAGE_SUFFIXES)}) in folder {p}")
        elif p.is_file():
            found = [p]
        elif glob.has_magic(s):
            found = sorted(Path(f) for f in glob.glob(s, recursive=True) if Path(f).is_file() and Path(f).suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputFileError(f"no image matches {s}")
        else:
            raise InputFileError(f"image not found: {p}")
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    if not out:
        raise InputFileError("no input image given")
    return out


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of an (H, W) bool / uint8 / uint16 or (H, W, 3|4) uint8 array.

    A bool mask is written as 8-bit grey 0 / 255.

    Raises:
        ConfigError: on any other shape or dtype.
    """
    from PIL import Image

    a = np.asarray(array)
    if a.dtype == np.bool_ and a.ndim == 2:
        a = a.astype(np.uint8) * 255
    if (a.dtype == np.uint16 and a.ndim == 2) or (a.dtype == np.uint8 and (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4)))):
        img = Image.fromarray(np.ascontiguousarray(a))
    else:
        raise ConfigError(f"cannot write a {a.shape} {a.dtype} array as PNG")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
