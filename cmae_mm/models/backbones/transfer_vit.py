"""The Conditional MAE encoder for downstream transfer, loading its checkpoint strictly."""
from typing import List, Tuple

from mmengine.logging import print_log
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

from ...checkpoint import encoder_state, load_encoder_state, read_state_dict


@MODELS.register_module()
class TransferViT(VisionTransformer):
    """mmpretrain's ``VisionTransformer`` whose ``Pretrained`` initialisation is strict.

    Used as the encoder of every downstream config (classification, Mask R-CNN, UperNet): with
    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')`` the encoder weights of
    a Conditional MAE (or MAE) pre-training checkpoint are loaded, and every missing or unexpected
    key raises :class:`~cmae_mm.checkpoint.CheckpointMismatchError` — mmengine's own ``Pretrained``
    initialiser only logs them. Two differences are expected by design and derived from the
    arguments, never configured:

    * ``ln1.*`` of the checkpoint (the pre-training final norm) is unused when
      ``final_norm=False`` (MAE's fine-tuning and dense settings);
    * ``ln2.*`` (the norm of the pooled feature) is new when ``out_type='avg_featmap'``.

    The position embeddings are resized to ``img_size`` while loading (bicubic); for other input
    sizes they are interpolated on the fly, as in ``VisionTransformer``. All arguments are those of
    ``VisionTransformer``; a dense model uses ``out_type='featmap'`` and ``out_indices``, giving a
    tuple of (B, C, H/p, W/p) maps.
    """

    def expected_differences(self) -> Tuple[List[str], List[str]]:
        """Glob patterns of the (missing, unexpected) keys allowed when loading a checkpoint."""
        missing = ['ln2.*'] if self.out_type == 'avg_featmap' else []
        unexpected = [] if self.final_norm else ['ln1.*']
        return missing, unexpected

    def init_weights(self) -> None:
        """Random initialisation, then the strict load of ``init_cfg.checkpoint`` if given."""
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        source = str(cfg['checkpoint'])
        try:  # read before the random initialisation, so that a bad checkpoint fails at once
            state = encoder_state(read_state_dict(source), cfg.get('prefix', 'backbone.'), source)
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f'pre-training checkpoint not found: {source!r}; point the config at yours with '
                '--cfg-options model.backbone.init_cfg.checkpoint=<path> (a converted backbone-only '
                "file also needs model.backbone.init_cfg.prefix='')") from e
        self.init_cfg = None  # initialise every layer; the checkpoint overwrites the encoder
        try:
            super().init_weights()
        finally:
            self.init_cfg = cfg
        allowed_missing, allowed_unexpected = self.expected_differences()
        missing, unexpected = load_encoder_state(self, state, allowed_missing,
                                                 allowed_unexpected, source)
        print_log(f'TransferViT: loaded {len(state) - len(unexpected)} tensors from {source}; '
                  f'new by design: {missing}; unused by design: {unexpected}', logger='current')
