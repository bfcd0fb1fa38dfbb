"""Segmenters: turn per-frame box prompts into per-track boolean masks."""

from sammask.segmentation.base import FrameMasks, FramePrompts, Segmenter, TrackPrompt
from sammask.segmentation.registry import SEGMENTERS, build_segmenter

__all__ = ["SEGMENTERS", "FrameMasks", "FramePrompts", "Segmenter", "TrackPrompt", "build_segmenter"]
