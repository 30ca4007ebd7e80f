"""The paper's analyses: attention statistics, CKA, loss curves, reconstruction grids (all three
families).

Each ``tools/analysis/*.py`` tool is one ``run_*`` function here, called through :func:`run_tool`.
"""
from .attention import (AttentionRecorder, HeadStatistics, attention_distance, attention_entropy,
                        run_attention_distance)
from .cka import MinibatchCKA, cka, hsic1, layer_inputs, run_cka
from .common import (USER_ERRORS, ToolInputError, check_model_inputs, check_outputs, image_batches,
                     list_images, load_encoder, run_tool, unmasked_forward)
from .loss_curves import read_scalars, run_loss_curves
from .maps import run_attention_maps, run_reversed_attention
from .reconstruction import (MASK_RGB, reconstruct_batch, record_path, run_reconstruct,
                             save_reconstruction_grid, shot_visibility)
from .tsne import run_tsne

__all__ = [
    'AttentionRecorder', 'HeadStatistics', 'attention_distance', 'attention_entropy',
    'MinibatchCKA', 'cka', 'hsic1', 'layer_inputs', 'image_batches', 'list_images',
    'load_encoder', 'unmasked_forward', 'read_scalars', 'MASK_RGB', 'reconstruct_batch',
    'record_path', 'run_reconstruct', 'save_reconstruction_grid', 'shot_visibility',
    'USER_ERRORS', 'ToolInputError', 'check_model_inputs', 'check_outputs',
    'run_tool', 'run_attention_distance', 'run_attention_maps', 'run_cka', 'run_loss_curves',
    'run_reversed_attention', 'run_tsne'
]
