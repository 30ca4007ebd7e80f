"""The paper's analyses: attention statistics, CKA, loss curves, reconstruction grids."""
from .attention import AttentionRecorder, HeadStatistics, attention_distance, attention_entropy
from .cka import MinibatchCKA, cka, hsic1, layer_inputs
from .common import image_batches, list_images, load_encoder, unmasked_forward
from .loss_curves import read_scalars
from .reconstruction import save_reconstruction_grid, shot_visibility

__all__ = [
    'AttentionRecorder', 'HeadStatistics', 'attention_distance', 'attention_entropy',
    'MinibatchCKA', 'cka', 'hsic1', 'layer_inputs', 'image_batches', 'list_images',
    'load_encoder', 'unmasked_forward', 'read_scalars', 'save_reconstruction_grid',
    'shot_visibility'
]
