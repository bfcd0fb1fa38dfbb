"""Still-image tools: prompted segmentation, segment-everything, cut-outs and auto-labelling.

Library API (backends built explicitly and passed in; the classical one needs no weights)::

    from sammask.image import ClassicalBackend, Prompt, load_image, segment, segment_everything, cutout

    img = load_image("photo.jpg")  # upright RGB (EXIF orientation applied)
    backend = ClassicalBackend()  # or Sam2ImageBackend.from_name("sam2.1_hiera_tiny")
    best = segment(img.rgb, backend, Prompt(box=(10, 20, 200, 300)))[0]
    rgba = cutout(img.rgb, [best.mask])  # alpha = mask
    masks = segment_everything(img.rgb, backend)  # list[ImageMask]

Importing this package imports neither torch, sam2 nor scikit-image.
"""

from sammask.image.api import cutout, segment, segment_everything
from sammask.image.backend import ImageBackend
from sammask.image.classical import ClassicalBackend, FelzenszwalbOptions
from sammask.image.load import expand_inputs, load_image
from sammask.image.types import Candidate, ImageMask, LoadedImage, Prompt

__all__ = [
    "Candidate",
    "ClassicalBackend",
    "FelzenszwalbOptions",
    "ImageBackend",
    "ImageMask",
    "LoadedImage",
    "Prompt",
    "cutout",
    "expand_inputs",
    "load_image",
    "segment",
    "segment_everything",
]
