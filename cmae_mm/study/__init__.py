"""The paper's ImageNet-100 study grid, and (later) result collection and Model Zoo tables."""
from .grid import StudyMember, in100_study

__all__ = ['StudyMember', 'in100_study']
