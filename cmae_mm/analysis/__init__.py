"""The paper's analyses and visualisations (reconstruction grids; more to come)."""
from .reconstruction import shot_visibility, save_reconstruction_grid

__all__ = ['shot_visibility', 'save_reconstruction_grid']
