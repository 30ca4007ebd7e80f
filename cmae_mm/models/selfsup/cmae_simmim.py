"""Conditional SimMIM: SimMIM with multi-shot masking at Swin stage inputs."""
from functools import partial
from typing import Any, Dict, List

import torch
from mmpretrain.models.selfsup.simmim import SimMIM
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ...masking import ShotSchedule
from ..heads.cmae_head import SHOT_CELLS_KEY, SHOT_ERROR_KEY, TRIVIAL_ERROR_KEY
from ..utils import masked_error_or_zero


class PipelineMaskCheck:
    """Forward hook of the data preprocessor: the backbone's one-time pipeline-mask check.

    The preprocessor runs eagerly in every training path (``train_step`` of the model or of its
    DDP wrapper), also when the model's forward or loss is ``torch.compile``-d; the backbone's
    own check in its forward is skipped there, since reading the mask on the host would break the
    graph.

    Args:
        backbone (torch.nn.Module): A :class:`CMAESimMIMSwinTransformer`.
    """

    def __init__(self, backbone: torch.nn.Module) -> None:
        self.backbone = backbone

    def __call__(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        """Check the masks of the first preprocessed batch that carries them."""
        if self.backbone._pipeline_mask_checked or not isinstance(output, dict):
            return
        samples = output.get('data_samples')
        if samples and all('mask' in sample for sample in samples):
            self.backbone.check_pipeline_mask(torch.stack([sample.mask for sample in samples]))


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
        # The pipeline-mask check, eagerly on the first batch, also when the forward is compiled.
        self.data_preprocessor.register_forward_hook(PipelineMaskCheck(self.backbone))

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
                shot_mask = self.backbone.cells_to_patch_mask(cells).to(union_mask.dtype)
                # 0 for a shot that masked nothing, without a host sync (one compiled graph)
                losses[f'{SHOT_ERROR_KEY}{s}'] = masked_error_or_zero(
                    partial(self.head.loss, pred, inputs), shot_mask, union_mask)
                losses[f'{SHOT_CELLS_KEY}{s}'] = cells.sum(1).float().mean()
            losses[TRIVIAL_ERROR_KEY] = self.head.loss(torch.zeros_like(pred), inputs, union_mask)
        return losses

    @torch.no_grad()
    def reconstruct(self, inputs: torch.Tensor, mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Reconstruct a batch for visualisation (one random draw of the later shots).

        Args:
            inputs (torch.Tensor): Normalised images (B, 3, H, W) at the pre-training size.
            mask (torch.Tensor): Shot 1, SimMIM's mask (B, H/p, W/p) as ``SimMIMMaskGenerator``
                draws it (1 = masked, constant on each mask cell; ``p`` the model patch size).

        Returns:
            Dict[str, torch.Tensor]: ``pred`` (B, 3, H, W), the decoder's prediction of every
            pixel in the input's normalised space (SimMIM's target), and ``shot_index``
            (B, num_cells), cells in raster order: 0 = never masked, s = masked by shot s.
        """
        outs, _, shot_index = self.backbone(inputs, mask)
        return dict(pred=self.neck(outs[0]), shot_index=shot_index)
