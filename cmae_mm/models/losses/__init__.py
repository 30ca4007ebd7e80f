"""Losses: mmpretrain's, made traceable by ``torch.compile`` without changing what they compute."""
from .label_smooth import TraceableLabelSmoothLoss

__all__ = ['TraceableLabelSmoothLoss']
