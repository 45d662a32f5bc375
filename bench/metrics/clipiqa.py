"""CLIP-IQA (Wang et al. 2023) on OpenAI CLIP RN50, through pyiqa's architecture (its
default prompt pairs, no learned prompts)."""

from __future__ import annotations

from ._no_reference import PyiqaNoReference
from .base import register_metric


@register_metric
class CLIPIQA(PyiqaNoReference):
    name = "clipiqa"
    value_range = (0.0, 1.0)
    label = "CLIP-IQA (RN50)"
    weights = ("clip-rn50",)
    weights_name = "clip-rn50"

    @classmethod
    def _build(cls, path):
        from pyiqa.archs.clipiqa_arch import CLIPIQA as Arch
        # pyiqa's clip loader takes a file path in place of a model name
        return Arch(model_type="clipiqa", backbone=path)
