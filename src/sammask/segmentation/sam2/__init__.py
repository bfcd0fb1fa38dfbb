"""SAM 2 segmentation: published-model registry, model building, strategies (image / video /
baseline) and the :class:`~sammask.segmentation.sam2.segmenter.Sam2Segmenter` front.

Importing this package imports neither torch nor sam2; submodules do so inside functions.
"""

from sammask.segmentation.sam2.checkpoints import MODELS, Sam2ModelSpec, get_model_spec, model_names, resolve_checkpoint

__all__ = ["MODELS", "Sam2ModelSpec", "get_model_spec", "model_names", "resolve_checkpoint"]
