"""Evaluations of a pre-trained encoder, registered by name for study files (``evaluations:``).

An evaluation is called once per finished pre-training run as
``fn(cfg, checkpoint, seed, **options) -> {metric name: value}`` where ``cfg`` is the run's config
(with the run's ``--cfg-options`` merged), ``checkpoint`` its final checkpoint and ``seed`` its
seed;
``options`` come from the study file (``{name: linear_probe, data_root: ...}``). A metric whose
name ends in :data:`CONTROL_SUFFIX` is a control of the metric without the suffix (the report
shows it as a separate row).

The heavy imports (torch, mmpretrain, scikit-learn) happen inside the functions, so reading a study
file stays cheap.
"""
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional, Tuple

import numpy as np

CONTROL_SUFFIX = '_random_init'


def iter_batches(model, data_root: Path, split: str, batch_size: int = 256) -> Iterator[dict]:
    """Yield pre-processed batches of a split of a folder dataset.

    Args:
        model: A model whose ``data_preprocessor`` prepares the batches.
        data_root: Dataset root with ``<split>/<class>/*.png`` (mmpretrain's ``CustomDataset``).
        split: Sub-folder, e.g. ``'train'`` or ``'val'``.
        batch_size: Images per batch.

    Yields:
        dict: ``inputs`` (B, 3, H, W) and ``data_samples`` (with ``gt_label``).
    """
    from mmengine.dataset import default_collate
    from mmpretrain.registry import DATASETS

    dataset = DATASETS.build(dict(
        type='CustomDataset', data_root=str(data_root), data_prefix=split,
        pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')]))
    for start in range(0, len(dataset), batch_size):
        end = min(start + batch_size, len(dataset))
        yield model.data_preprocessor(default_collate([dataset[i] for i in range(start, end)]),
                                      False)


def extract(model, data_root: Path, split: str) -> Tuple[np.ndarray, np.ndarray]:
    """Average-pooled final patch features of the unmasked images of a split, and their labels.

    Args:
        model: A Conditional MAE (its ``backbone`` is called with ``mask=None``).
        data_root: Dataset root (see :func:`iter_batches`).
        split: Sub-folder of ``data_root``.

    Returns:
        Tuple[np.ndarray, np.ndarray]: Features (N, C) and labels (N,).
    """
    import torch

    model.eval()
    feats, labels = [], []
    with torch.no_grad():
        for data in iter_batches(model, data_root, split):
            tokens = model.backbone(data['inputs'], mask=None)[0]  # (B, 1 + N, C), final norm
            feats.append(tokens[:, 1:].mean(dim=1).numpy())
            labels += [int(s.gt_label) for s in data['data_samples']]
    return np.concatenate(feats), np.array(labels)


def probe_accuracy(model, data_root: Path, train_split: str = 'train',
                   val_split: str = 'val') -> float:
    """Top-1 (%) of a logistic-regression probe on frozen features (:func:`extract`).

    The probe (standardised features, L2-regularised logistic regression, ``C=0.1``) is fitted on
    ``train_split`` and tested on ``val_split``.

    Args:
        model: A Conditional MAE.
        data_root: Dataset root with both splits.
        train_split: Split the probe is fitted on.
        val_split: Split the accuracy is measured on.

    Returns:
        float: Top-1 accuracy in percent.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, y_train = extract(model, data_root, train_split)
    x_val, y_val = extract(model, data_root, val_split)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.1))
    probe.fit(x_train, y_train)
    return 100. * float((probe.predict(x_val) == y_val).mean())


@contextmanager
def quiet_mmengine() -> Iterator[None]:
    """Raise mmengine's current logger to WARNING for the block (no per-parameter INFO lines)."""
    import logging

    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def build_model(cfg, checkpoint: Optional[Path] = None, seed: int = 0):
    """Build ``cfg.model`` with the config's data pre-processor, on CPU.

    Args:
        cfg (mmengine.config.Config): The run's config.
        checkpoint: A Runner checkpoint whose ``state_dict`` is loaded (strictly); None: the
            model's random initialisation (``init_weights``).
        seed: Seed of the random initialisation.

    Returns:
        The model in eval mode.
    """
    import cmae_mm  # noqa: F401  (registers the models)
    from mmengine.runner import set_random_seed
    from mmpretrain.registry import MODELS

    from cmae_mm.engine.checkpoint import read_state_dict

    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    set_random_seed(seed)
    model = MODELS.build(model_cfg)
    with quiet_mmengine():  # init_weights logs every parameter at INFO
        if checkpoint is not None:
            model.load_state_dict(read_state_dict(str(checkpoint)))
        else:
            model.init_weights()
    return model.eval()


def linear_probe(cfg, checkpoint: Path, seed: int, data_root: Optional[str] = None,
                 train_split: str = 'train', val_split: str = 'val',
                 random_init: bool = True) -> Dict[str, float]:
    """Linear probe (:func:`probe_accuracy`) of the pre-trained encoder and of a random one.

    Args:
        cfg (mmengine.config.Config): The run's config.
        checkpoint: The final pre-training checkpoint.
        seed: The run's seed (also the seed of the random-init control).
        data_root: Labelled dataset with ``train_split`` and ``val_split`` sub-folders; default:
            the pre-training dataset's ``train_dataloader.dataset.data_root``.
        train_split: Split the probe is fitted on.
        val_split: Split the accuracy is measured on.
        random_init: Also probe the same encoder randomly initialised (the control).

    Returns:
        Dict[str, float]: ``linear_probe_top1`` and, with ``random_init``,
        ``linear_probe_top1_random_init`` (percent).
    """
    root = Path(data_root or cfg.train_dataloader.dataset.data_root)
    for split in (train_split, val_split):
        if not (root / split).is_dir():
            raise FileNotFoundError(f'linear_probe: no {split!r} split in {root} (a labelled '
                                    f'dataset with {root}/{split}/<class>/*; set data_root)')
    metrics = {'linear_probe_top1': probe_accuracy(
        build_model(cfg, checkpoint, seed), root, train_split, val_split)}
    if random_init:
        metrics['linear_probe_top1' + CONTROL_SUFFIX] = probe_accuracy(
            build_model(cfg, None, seed), root, train_split, val_split)
    return {k: round(v, 4) for k, v in metrics.items()}


EVALUATIONS: Dict[str, Callable[..., Dict[str, float]]] = {'linear_probe': linear_probe}
