"""Loading a ViT encoder from a config + checkpoint, and image batches, for the analysis tools."""
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.tif', '.tiff', '.webp')


def unmasked_forward(backbone: nn.Module, images: torch.Tensor):
    """Run the encoder on full images: MAE-style backbones need ``mask=None``."""
    from mmpretrain.models.selfsup.mae import MAEViT

    return backbone(images, mask=None) if isinstance(backbone, MAEViT) else backbone(images)


def load_encoder(config: str, checkpoint: Optional[str] = None) -> Tuple[nn.Module, dict]:
    """Build a model from ``config`` and load the ``backbone.*`` weights of ``checkpoint``.

    Loading is strict (:func:`cmae_mm.checkpoint.load_encoder_state`): a checkpoint whose backbone
    keys do not match raises with the missing and unexpected keys. Without a checkpoint the
    encoder is randomly initialised.

    Args:
        config (str): An mmpretrain config whose ``model.backbone`` is a ViT.
        checkpoint (str, optional): A Runner checkpoint (``state_dict``) or a plain state dict;
            None or ``'none'`` for a randomly initialised encoder.

    Returns:
        Tuple[nn.Module, dict]: The backbone in eval mode, and the data-preprocessor settings
        (``mean``, ``std`` on the 0-255 scale, ``to_rgb``).
    """
    import cmae_mm  # noqa: F401  (registers the models, allows Runner checkpoints)
    from cmae_mm.checkpoint import encoder_state, load_encoder_state, read_state_dict
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model)
    if checkpoint in (None, 'none'):
        model.init_weights()
    else:
        state = encoder_state(read_state_dict(checkpoint), 'backbone.', checkpoint)
        load_encoder_state(model.backbone, state, source=checkpoint)
    pre = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    pre = dict(mean=pre.get('mean', [123.675, 116.28, 103.53]),
               std=pre.get('std', [58.395, 57.12, 57.375]))
    model.backbone.eval()  # (mmpretrain backbones' train() returns None: no chaining)
    return model.backbone, pre


def list_images(folder: str, limit: Optional[int] = None) -> List[Path]:
    """Image files under ``folder`` (recursive, sorted), at most ``limit``."""
    paths = sorted(p for p in Path(folder).rglob('*') if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_SUFFIXES)}) under {folder}')
    return paths[:limit]


def image_batches(paths: List[Path], size: int, mean, std, batch_size: int,
                  drop_last: bool = False, desc: str = 'images') -> Iterator[torch.Tensor]:
    """Normalised RGB batches (B, 3, size, size), with a progress bar over images."""
    from PIL import Image
    from tqdm import tqdm

    mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    stop = len(paths) - len(paths) % batch_size if drop_last else len(paths)
    with tqdm(total=stop, desc=desc, unit='img') as bar:
        for start in range(0, stop, batch_size):
            batch = [np.asarray(Image.open(p).convert('RGB').resize((size, size), Image.BICUBIC))
                     for p in paths[start:start + batch_size]]
            x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float()
            bar.update(len(batch))
            yield (x - mean) / std
