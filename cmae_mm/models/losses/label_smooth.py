"""mmpretrain's ``LabelSmoothLoss`` without the host synchronisation of its label check."""
import torch
import torch.nn.functional as F
from mmpretrain.models.losses import LabelSmoothLoss as _MMPretrainLabelSmoothLoss
from mmpretrain.registry import MODELS

__all__ = ['TraceableLabelSmoothLoss']


@MODELS.register_module()
class TraceableLabelSmoothLoss(_MMPretrainLabelSmoothLoss):
    """mmpretrain's :class:`~mmpretrain.models.losses.LabelSmoothLoss`, under a name of its own.

    Upstream turns class indices into one-hot labels with ``convert_to_one_hot``, which first
    asserts ``targets.max().item() < num_classes``: a host synchronisation on which dynamo breaks
    the graph of every fine-tuning forward that uses label smoothing with index labels. Here the
    one-hot labels of class indices come from ``F.one_hot`` directly, the same tensor; in eager
    mode ``F.one_hot`` still rejects a label outside ``[0, num_classes)`` (a ``RuntimeError``
    instead of upstream's ``AssertionError``). One-hot or mixed (mixup / cutmix) labels go to
    upstream's method unchanged. Everything else is upstream's class. It is registered under its
    own name, so importing ``cmae_mm`` leaves upstream's ``LabelSmoothLoss`` as it is; the suite's
    fine-tuning configs choose it with ``type='TraceableLabelSmoothLoss'``.
    """

    def generate_one_hot_like_label(self, label: torch.Tensor) -> torch.Tensor:
        """One-hot-like float labels (N, num_classes) from class indices or scores.

        Args:
            label (torch.Tensor): (N,) or (N, 1) class indices, or (N, num_classes) scores.

        Returns:
            torch.Tensor: (N, num_classes) float labels.
        """
        if label.dim() == 1 or (label.dim() == 2 and label.shape[1] == 1):
            return F.one_hot(label.reshape(-1).long(), num_classes=self.num_classes).float()
        return super().generate_one_hot_like_label(label)
