"""The Conditional MAE algorithm."""
from typing import Dict, List

import torch
from mmpretrain.models.selfsup.mae import MAE
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils import use_few_token_attention


@MODELS.register_module()
class ConditionalMAE(MAE):
    """Conditional MAE: MAE with multi-shot masking in the encoder.

    The backbone (:class:`CMAEViT`) owns the shot schedule, set in configs as
    ``model.backbone.mask_layers`` / ``model.backbone.mask_ratios``; the decoder is mmpretrain's
    :class:`MAEPretrainDecoder`; the head (:class:`CMAEPretrainHead`) reconstructs the union of
    the removed patches.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not hasattr(self.backbone, 'schedule'):
            raise ValueError(f'ConditionalMAE needs a backbone with a shot schedule (e.g. '
                             f'CMAEViT), got {type(self.backbone).__name__}.')
        if hasattr(self.head, 'check_schedule'):
            self.head.check_schedule(self.backbone.schedule)
        # encoder and decoder: SDPA in eager mode, the faster kernel over few tokens when compiled
        use_few_token_attention(self)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Forward in training.

        Args:
            inputs (torch.Tensor): Images (B, 3, H, W).
            data_samples (List[DataSample]): Unused (kept for the mmpretrain interface).

        Returns:
            Dict[str, torch.Tensor]: ``loss`` and the per-shot errors ``rec_err_shot{s}``.
        """
        latent, shot_index, ids_restore = self.backbone(inputs)
        pred = self.neck(latent, ids_restore)
        return self.head.loss(pred, inputs, shot_index, self.backbone.schedule.num_shots)

    @torch.no_grad()
    def reconstruct(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Reconstruct a batch for visualisation (one random draw of the schedule).

        Args:
            inputs (torch.Tensor): Normalised images (B, 3, H, W).

        Returns:
            Dict[str, torch.Tensor]: ``pred`` (B, 3, H, W), the reconstruction in the input's
            normalised space (with ``norm_pix`` each patch is de-normalised with the statistics
            of the true patch, as MAE's visualisation does), and ``shot_index`` (B, N).
        """
        latent, shot_index, ids_restore = self.backbone(inputs)
        pred = self.neck(latent, ids_restore)
        return dict(pred=self.head.to_image(pred, inputs), shot_index=shot_index)
