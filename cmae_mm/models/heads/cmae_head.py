"""Reconstruction head of Conditional MAE: union target, optional per-shot weights, per-shot logs."""
from functools import partial
from typing import Dict, Optional, Sequence

import torch
from mmpretrain.models.heads import MAEPretrainHead
from mmpretrain.registry import MODELS

from ..utils import masked_error_or_zero

#: Prefix of the logged per-shot reconstruction errors. mmengine's ``parse_losses`` sums every key
#: containing "loss" into the optimised total, so these keys must not contain it.
SHOT_ERROR_KEY = 'rec_err_shot'
#: Prefix of the logged number of mask cells shot ``s`` removed (mean per image) of the hierarchical
#: families (SimMIM-Swin, FCMAE); like ``rec_err_shot`` it must not contain "loss".
SHOT_CELLS_KEY = 'masked_cells_shot'
#: The logged loss of the trivial reconstruction (predict zero on the same removed patches): each
#: patch's own mean with ``norm_pix``, the dataset mean (zero after normalisation) without. A
#: model whose ``loss`` is not clearly below it has learnt nothing beyond the mean.
TRIVIAL_ERROR_KEY = 'rec_err_trivial'
#: The logged loss of a stronger trivial reconstruction: predict, for each removed patch, the mean
#: target patch at that position over the training images seen so far (a running mean over every
#: training batch: after the first epoch, the training set's mean patch under the augmentation).
MEAN_PATCH_ERROR_KEY = 'rec_err_mean_patch'


@MODELS.register_module()
class CMAEPretrainHead(MAEPretrainHead):
    """Pixel reconstruction head for Conditional MAE.

    The target is the union of the patches removed by all shots, on per-patch normalised pixels
    when ``norm_pix=True``, as MAE. Every iteration also logs the reconstruction error of the
    patches removed by each shot as ``rec_err_shot{s}`` (paper Fig. 7) and the error of the
    trivial reconstruction, predicting zero for every removed patch, as ``rec_err_trivial``
    (neither is optimised). With ``norm_pix`` zero is each patch's own mean, so blank patches
    (zero after normalisation) cost the trivial prediction nothing; ``loss / rec_err_trivial``
    tells how much of the error the model removes beyond that baseline.

    Args:
        loss (dict): Config of the pixel loss, e.g. ``dict(type='PixelReconstructionLoss',
            criterion='L2')``.
        norm_pix (bool): Normalise each target patch by its mean and variance. Defaults to False.
        patch_size (int): Patch size. Defaults to 16.
        in_channels (int): Image channels. Defaults to 3.
        shot_weights (Sequence[float], optional): ``w_s``. None (default) optimises the error
            averaged over the union of removed patches (MAE's loss; each patch weighs the same).
            Otherwise the loss is ``sum_s w_s * err_s`` with ``err_s`` the error averaged over the
            patches removed by shot ``s`` (paper Tab. 3 uses ``w_s = η_s``).
    """

    def __init__(self,
                 loss: dict,
                 norm_pix: bool = False,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 shot_weights: Optional[Sequence[float]] = None) -> None:
        super().__init__(
            loss=loss, norm_pix=norm_pix, patch_size=patch_size, in_channels=in_channels)
        if shot_weights is not None:
            if isinstance(shot_weights, (str, bytes)) or not isinstance(shot_weights, Sequence) \
                    or not all(isinstance(w, (int, float)) and w >= 0 for w in shot_weights):
                raise ValueError(f'shot_weights={shot_weights!r} must be None or a list of '
                                 f'non-negative numbers, one per shot.')
            shot_weights = tuple(float(w) for w in shot_weights)
        self.shot_weights = shot_weights
        # Running sum and count of the training targets per patch position (not saved: a
        # statistic of the log, rebuilt after a resume). The count is a tensor, not a Python int,
        # so that a compiled forward neither syncs on it nor recompiles at every step.
        self.register_buffer('_patch_sum', torch.zeros(0), persistent=False)
        self.register_buffer('_patch_count', torch.zeros((), dtype=torch.long), persistent=False)

    def to_image(self, pred: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Turn a prediction into an image in the input's normalised space (for visualisation).

        With ``norm_pix`` each patch is de-normalised with the mean and variance of the true
        patch, as MAE's visualisation does.

        Args:
            pred (torch.Tensor): Decoder output (B, N, p*p*C).
            inputs (torch.Tensor): The images (B, C, H, W).

        Returns:
            torch.Tensor: (B, C, H, W).
        """
        if self.norm_pix:
            target = self.patchify(inputs)
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            pred = pred * (var + 1.e-6)**.5 + mean
        return self.unpatchify(pred)

    def check_schedule(self, schedule) -> None:
        """Fail at build time if ``shot_weights`` does not give one weight per shot.

        Args:
            schedule (ShotSchedule): The backbone's schedule.

        Raises:
            ValueError: Naming both lengths.
        """
        weights = self.shot_weights
        if weights is not None and len(weights) != schedule.num_shots:
            raise ValueError(
                f'head.shot_weights={list(weights)} has {len(weights)} entries but the backbone '
                f'schedule {schedule} has {schedule.num_shots} shots: give one weight per shot.')

    def loss(self, pred: torch.Tensor, target: torch.Tensor, shot_index: torch.Tensor,
             num_shots: int) -> Dict[str, torch.Tensor]:
        """Compute the optimised loss and the per-shot errors.

        Args:
            pred (torch.Tensor): Decoder output (B, N, p*p*C).
            target (torch.Tensor): Input images (B, C, H, W).
            shot_index (torch.Tensor): (B, N) long, 0 = visible, s = removed by shot s.
            num_shots (int): ``S``, the number of shots of the schedule.

        Returns:
            Dict[str, torch.Tensor]: ``loss`` (optimised) and ``rec_err_shot{s}`` for
            ``s = 1..S`` (detached; 0 for a shot that removed no patch).
        """
        if self.shot_weights is not None and len(self.shot_weights) != num_shots:
            raise ValueError(f'shot_weights={list(self.shot_weights)} has '
                             f'{len(self.shot_weights)} entries but the schedule has '
                             f'{num_shots} shots.')
        target = self.construct_target(target)
        union = (shot_index > 0).to(pred.dtype)
        per_shot = [self._shot_error(pred, target, shot_index, s, union)
                    for s in range(1, num_shots + 1)]
        if self.shot_weights is None:
            loss = self.loss_module(pred, target, union)
        else:
            loss = sum(w * err for w, err in zip(self.shot_weights, per_shot))
        losses = dict(loss=loss)
        for s, err in enumerate(per_shot, start=1):
            losses[f'{SHOT_ERROR_KEY}{s}'] = err.detach()
        with torch.no_grad():
            losses[TRIVIAL_ERROR_KEY] = self._weighted_error(
                torch.zeros_like(pred), target, shot_index, union)
            losses[MEAN_PATCH_ERROR_KEY] = self._mean_patch_error(pred, target, shot_index,
                                                                  union)
        return losses

    def _shot_error(self, pred: torch.Tensor, target: torch.Tensor, shot_index: torch.Tensor,
                    shot: int, union: torch.Tensor) -> torch.Tensor:
        """The loss averaged over the patches removed by ``shot``, 0 if it removed none.

        No host synchronisation (:func:`~cmae_mm.models.utils.masked_error_or_zero`): a compiled
        forward keeps one graph, and an empty shot gives 0 (not NaN) with zero gradients.

        Args:
            pred (torch.Tensor): (B, N, D) prediction.
            target (torch.Tensor): (B, N, D) target patches.
            shot_index (torch.Tensor): (B, N) long.
            shot (int): ``s``, 1-based.
            union (torch.Tensor): ``(shot_index > 0)`` in ``pred.dtype``, never empty.

        Returns:
            torch.Tensor: 0-dim error.
        """
        return masked_error_or_zero(partial(self.loss_module, pred, target),
                                    (shot_index == shot).to(pred.dtype), union)

    def _weighted_error(self, pred: torch.Tensor, target: torch.Tensor, shot_index: torch.Tensor,
                        union: torch.Tensor) -> torch.Tensor:
        """The optimised loss's form for another prediction: the loss over the union without
        ``shot_weights``, else ``sum_s w_s * err_s`` (an empty shot contributes 0)."""
        if self.shot_weights is None:
            return self.loss_module(pred, target, union)
        return sum(w * self._shot_error(pred, target, shot_index, s, union)
                   for s, w in enumerate(self.shot_weights, start=1))

    def _mean_patch_error(self, pred: torch.Tensor, target: torch.Tensor,
                          shot_index: torch.Tensor, union: torch.Tensor) -> torch.Tensor:
        """The loss of predicting the running mean target patch at each position (no grad).

        In training mode the batch's targets (B, N, D) are first added to the running mean, so
        the first batch is scored against its own mean and every later one against all batches
        seen so far. A model that has seen no training batch (eval) scores the batch against its
        own mean patch.
        """
        if self.training:
            batch_sum = target.detach().sum(dim=0)
            if self._patch_sum.shape != batch_sum.shape:  # shapes are static: no host sync
                self._patch_sum = torch.zeros_like(batch_sum)
                self._patch_count.zero_()
            self._patch_sum += batch_sum
            self._patch_count += target.shape[0]
        if self._patch_sum.shape != target.shape[1:]:  # no training batch seen (eval): its own
            mean = target.mean(dim=0, keepdim=True).expand_as(pred)
        else:
            mean = (self._patch_sum / self._patch_count).expand_as(pred)
        return self._weighted_error(mean, target, shot_index, union)
