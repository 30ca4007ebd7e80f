"""Conditional SimMIM: SimMIM with multi-shot masking at Swin stage inputs."""
from typing import Dict, List

import torch
from mmpretrain.models.selfsup.simmim import SimMIM
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ...masking import ShotSchedule
from ..heads.cmae_head import SHOT_CELLS_KEY, SHOT_ERROR_KEY, TRIVIAL_ERROR_KEY


@MODELS.register_module()
class CMAESimMIM(SimMIM):
    """SimMIM whose Swin backbone masks in shots (:class:`CMAESimMIMSwinTransformer`).

    Shot 1 is the pipeline's ``data_sample.mask``; the backbone adds the later shots and returns
    the union, which the head (mmpretrain's :class:`SimMIMHead`) reconstructs. Every iteration also
    logs, not optimised, ``rec_err_shot{s}`` (the head's loss on the cells of shot ``s`` alone) and
    ``masked_cells_shot{s}`` (cells shot ``s`` masked, mean per image).

    Args:
        *args, **kwargs: Arguments of :class:`SimMIM` (``backbone``, ``neck``, ``head``, ...).

    Raises:
        ValueError: If the backbone has no shot schedule.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(getattr(self.backbone, 'schedule', None), ShotSchedule) \
                or not hasattr(self.backbone, 'cells_to_patch_mask'):
            raise ValueError(f'CMAESimMIM needs a backbone with a shot schedule (e.g. '
                             f'CMAESimMIMSwinTransformer), got {type(self.backbone).__name__}.')

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Forward in training.

        Args:
            inputs (torch.Tensor): Images (B, 3, H, W).
            data_samples (List[DataSample]): With ``mask`` (H/p, W/p), SimMIM's pipeline mask.

        Returns:
            Dict[str, torch.Tensor]: ``loss`` (on the union of the shots' cells), and for
            ``s = 1..S`` the detached ``rec_err_shot{s}`` (0 for a shot that masked nothing) and
            ``masked_cells_shot{s}`` (float), and ``rec_err_trivial``, the head's loss of a
            zero prediction on the union (SimMIM's L1 on normalised pixels: zero is the dataset
            mean).
        """
        mask = torch.stack([data_sample.mask for data_sample in data_samples])
        outs, union_mask, shot_index = self.backbone(inputs, mask)
        pred = self.neck(outs[0])
        losses = dict(loss=self.head.loss(pred, inputs, union_mask))
        with torch.no_grad():
            pred = pred.detach()
            for s in range(1, self.backbone.schedule.num_shots + 1):
                cells = shot_index == s
                if bool(cells.any()):
                    shot_mask = self.backbone.cells_to_patch_mask(cells).to(union_mask.dtype)
                    err = self.head.loss(pred, inputs, shot_mask)
                else:
                    err = pred.new_zeros(())
                losses[f'{SHOT_ERROR_KEY}{s}'] = err
                losses[f'{SHOT_CELLS_KEY}{s}'] = cells.sum(1).float().mean()
            losses[TRIVIAL_ERROR_KEY] = self.head.loss(torch.zeros_like(pred), inputs, union_mask)
        return losses
