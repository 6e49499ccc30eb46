"""AUMDF: attention-based uncertain missing modality distillation for multimodal sentiment analysis."""

from aumdf.config import AUMDFConfig
from aumdf.types import Batch, ModelOutput

__all__ = ["AUMDFConfig", "Batch", "ModelOutput"]
