"""Heads of the suite."""
from .cmae_head import CMAEPretrainHead

__all__ = ['CMAEPretrainHead']
