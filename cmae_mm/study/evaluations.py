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
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

CONTROL_SUFFIX = '_random_init'
#: The control of fine-tuning: the same classifier, config and schedule, trained without the
#: pre-trained checkpoint (one per seed, shared by every run of the study with that seed).
SCRATCH_SUFFIX = '_from_scratch'
#: Every control suffix with the label of its row in reports and the Model Zoo.
CONTROLS = {CONTROL_SUFFIX: 'the same encoder, randomly initialised (control)',
            SCRATCH_SUFFIX: 'the same classifier trained from scratch (control)'}
FINETUNE_CONFIG = 'configs/classification/fashion_mnist/cmae_vit-tiny-p4_ft-100e_fashion-mnist.py'


def control_of(metric: str):
    """``(base metric, suffix)`` if ``metric`` is a control metric, else None."""
    for suffix in CONTROLS:
        if metric.endswith(suffix):
            return metric[:-len(suffix)], suffix
    return None


def split_dataset(data_root: Path, split: str, labels_per_class: Optional[int] = None,
                  subset_seed: int = 0) -> dict:
    """The dataset config of a split: Fashion-MNIST's idx files or an mmpretrain folder dataset.

    Args:
        data_root: A folder with Fashion-MNIST's extracted idx files (``train`` reads the training
            images, ``test``/``val`` the test images) or with ``<split>/<class>/*.png``
            (mmpretrain's ``CustomDataset``).
        split: Split name.
        labels_per_class: Keep a balanced, seeded subset of this many images per class
            (Fashion-MNIST only); None: all.
        subset_seed: Seed of the subset.

    Returns:
        dict: A dataset config without augmentation (``PackInputs`` only).
    """
    pipeline = [dict(type='PackInputs')]
    if (Path(data_root) / 'train-images-idx3-ubyte').is_file():
        if split not in ('train', 'test', 'val'):
            raise ValueError(f'split {split!r}: Fashion-MNIST has train and test (or val)')
        test = split != 'train'  # mmpretrain's FashionMNIST reads the files of test_mode
        return dict(type='FashionMNISTLabelSubset', data_root=str(data_root), data_prefix='',
                    split='test' if test else 'train', test_mode=test, download=False,
                    pipeline=pipeline,
                    labels_per_class=labels_per_class if split == 'train' else None,
                    subset_seed=subset_seed)
    if labels_per_class is not None:
        raise ValueError('labels_per_class is only available for Fashion-MNIST data roots')
    pipeline.insert(0, dict(type='LoadImageFromFile'))
    return dict(type='CustomDataset', data_root=str(data_root), data_prefix=split,
                pipeline=pipeline)


def iter_batches(model, data_root: Path, split: str, batch_size: int = 256,
                 labels_per_class: Optional[int] = None, subset_seed: int = 0) -> Iterator[dict]:
    """Yield pre-processed batches of a split (see :func:`split_dataset`).

    Args:
        model: A model whose ``data_preprocessor`` prepares the batches.
        data_root: Dataset root.
        split: Split name, e.g. ``'train'`` or ``'val'``.
        batch_size: Images per batch.
        labels_per_class: Balanced subset of the training split (Fashion-MNIST).
        subset_seed: Seed of the subset.

    Yields:
        dict: ``inputs`` (B, C, H, W) and ``data_samples`` (with ``gt_label``).
    """
    from mmengine.dataset import default_collate
    from mmpretrain.registry import DATASETS

    dataset = DATASETS.build(split_dataset(data_root, split, labels_per_class, subset_seed))
    for start in range(0, len(dataset), batch_size):
        end = min(start + batch_size, len(dataset))
        yield model.data_preprocessor(default_collate([dataset[i] for i in range(start, end)]),
                                      False)


def extract(model, data_root: Path, split: str, **subset) -> Tuple[np.ndarray, np.ndarray]:
    """Average-pooled final patch features of the unmasked images of a split, and their labels.

    Args:
        model: A Conditional MAE (its ``backbone`` is called with ``mask=None``).
        data_root: Dataset root (see :func:`iter_batches`).
        split: Split of ``data_root``.
        **subset: ``labels_per_class`` and ``subset_seed`` of :func:`iter_batches`.

    Returns:
        Tuple[np.ndarray, np.ndarray]: Features (N, C) and labels (N,).
    """
    import torch

    model.eval()
    feats, labels = [], []
    with torch.no_grad():
        for data in iter_batches(model, data_root, split, **subset):
            tokens = model.backbone(data['inputs'], mask=None)[0]  # (B, 1 + N, C), final norm
            feats.append(tokens[:, 1:].mean(dim=1).numpy())
            labels += [int(s.gt_label) for s in data['data_samples']]
    return np.concatenate(feats), np.array(labels)


def probe_accuracy(model, data_root: Path, train_split: str = 'train', val_split: str = 'val',
                   labels_per_class: Optional[int] = None, subset_seed: int = 0) -> float:
    """Top-1 (%) of a logistic-regression probe on frozen features (:func:`extract`).

    The probe (standardised features, L2-regularised logistic regression, ``C=0.1``) is fitted on
    ``train_split`` and tested on ``val_split``.

    Args:
        model: A Conditional MAE.
        data_root: Dataset root with both splits.
        train_split: Split the probe is fitted on.
        val_split: Split the accuracy is measured on.
        labels_per_class: Fit on a balanced subset of the training split (Fashion-MNIST).
        subset_seed: Seed of the subset.

    Returns:
        float: Top-1 accuracy in percent.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, y_train = extract(model, data_root, train_split, labels_per_class=labels_per_class,
                               subset_seed=subset_seed)
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
                 random_init: bool = True,
                 labels_per_class: Optional[int] = None) -> Dict[str, float]:
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
        labels_per_class: Fit the probe on a balanced subset of this many labelled images per
            class, drawn with the run's seed (Fashion-MNIST data roots); None: all.

    Returns:
        Dict[str, float]: ``linear_probe_top1`` and, with ``random_init``,
        ``linear_probe_top1_random_init`` (percent).
    """
    root = Path(data_root or cfg.train_dataloader.dataset.data_root)
    folders = not (root / 'train-images-idx3-ubyte').is_file()
    for split in (train_split, val_split):
        if folders and not (root / split).is_dir():
            raise FileNotFoundError(f'linear_probe: no {split!r} split in {root} (a labelled '
                                    f'dataset with {root}/{split}/<class>/*; set data_root)')
    subset = dict(labels_per_class=labels_per_class, subset_seed=seed)
    metrics = {'linear_probe_top1': probe_accuracy(
        build_model(cfg, checkpoint, seed), root, train_split, val_split, **subset)}
    if random_init:
        metrics['linear_probe_top1' + CONTROL_SUFFIX] = probe_accuracy(
            build_model(cfg, None, seed), root, train_split, val_split, **subset)
    return {k: round(v, 4) for k, v in metrics.items()}


def schedule_options(epochs: int, warmup: Optional[int] = None) -> Dict[str, Any]:
    """``--cfg-options`` that set a warm-up + cosine epoch schedule to ``epochs`` epochs.

    For configs whose ``param_scheduler`` is ``[LinearLR, CosineAnnealingLR]`` by epoch (the
    fine-tuning configs): warm-up ``warmup`` epochs (default: a twentieth of the run, at least 1,
    as 5 of 100), cosine for the rest, validation and the last checkpoint at the end.

    Args:
        epochs: Training epochs (>= 2).
        warmup: Warm-up epochs (``< epochs``).

    Returns:
        Dict[str, Any]: Dotted config keys -> values.
    """
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 2:
        raise ValueError(f'epochs={epochs!r}: must be an integer >= 2 (warm-up + cosine)')
    warm = max(1, epochs // 20) if warmup is None else warmup
    if not 0 < warm < epochs:
        raise ValueError(f'warmup={warm!r}: must be in 1..{epochs - 1} for {epochs} epochs')
    return {'train_cfg.max_epochs': epochs, 'train_cfg.val_interval': epochs,
            'param_scheduler.0.end': warm, 'param_scheduler.1.begin': warm,
            'param_scheduler.1.end': epochs, 'param_scheduler.1.T_max': epochs - warm,
            'default_hooks.checkpoint.interval': max(1, epochs // 10)}


def read_test_metrics(work_dir: Path) -> Dict[str, float]:
    """The metrics ``tools/test.py`` logged in ``work_dir`` (newest run, ``<stamp>/<stamp>.json``).

    Raises:
        FileNotFoundError: If no test run in ``work_dir`` logged metrics.
    """
    from .logs import last_logged_entry

    found = last_logged_entry(work_dir, ('{stamp}.json', 'vis_data/scalars.json'),
                              lambda entry: any('/' in k for k in entry))
    if found is not None:
        return {k: float(v) for k, v in found[1].items() if '/' in k}
    raise FileNotFoundError(f'no test metrics in {work_dir}/<timestamp>/<timestamp>.json')


def _run_tool(cmd: List[str], log: Path) -> None:
    """Run a repo tool as a subprocess in the repository root, output appended to ``log``."""
    import shlex
    import subprocess
    import sys

    from .common import REPO_ROOT

    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, 'a') as f:
        f.write(f'\n$ {shlex.join(cmd)}\n')
        f.flush()
        proc = subprocess.run([sys.executable] + cmd, cwd=REPO_ROOT, stdout=f,
                              stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = '\n'.join(log.read_text(errors='replace').splitlines()[-12:])
        raise RuntimeError(f'{cmd[0]} failed (exit code {proc.returncode}); log: {log}\n{tail}')


def finetune_top1(config: str, work_dir: Path, options: Dict[str, Any],
                  log_name: str = 'finetune.log') -> float:
    """Fine-tune with ``tools/train.py`` and test the last checkpoint with ``tools/test.py``.

    Both tools run as subprocesses (fresh processes, as a user runs them). A work dir that already
    holds the final checkpoint is only tested; one with an earlier checkpoint is resumed; a test
    result already written (``test_metrics.json``) is reused.

    Args:
        config: The classification config (repository-relative).
        work_dir: The fine-tuning work dir.
        options: ``--cfg-options`` of both tools (dotted keys -> values).
        log_name: File in ``work_dir`` that collects both tools' output.

    Returns:
        float: Test top-1 (%), ``accuracy/top1`` of the config's test evaluator.
    """
    import json

    from .common import format_option

    work_dir = Path(work_dir)
    saved = work_dir / 'test_metrics.json'
    if saved.is_file():
        return float(json.loads(saved.read_text())['accuracy/top1'])
    args = [f'{k}={format_option(v)}' for k, v in options.items()]
    epochs = int(options.get('train_cfg.max_epochs') or 0)
    final = work_dir / f'epoch_{epochs}.pth' if epochs else None
    log = work_dir / log_name
    if final is None or not final.is_file():
        resume = ['--resume'] if any(work_dir.glob('epoch_*.pth')) else []
        _run_tool(['tools/train.py', config, '--work-dir', str(work_dir)] + resume
                  + ['--cfg-options'] + args, log)
        if final is None:
            final = Path((work_dir / 'last_checkpoint').read_text().strip())
    test_dir = work_dir / 'test'
    _run_tool(['tools/test.py', config, str(final), '--work-dir', str(test_dir),
               '--cfg-options'] + args, log)
    metrics = read_test_metrics(test_dir)
    tmp = saved.with_suffix('.json.part')
    tmp.write_text(json.dumps(metrics, indent=2) + '\n')
    tmp.replace(saved)
    return metrics['accuracy/top1']


def finetune(cfg, checkpoint: Path, seed: int, config: str = FINETUNE_CONFIG,
             labels_per_class: Optional[int] = 100, epochs: Optional[int] = None,
             data_root: Optional[str] = None, from_scratch: bool = True,
             cfg_options: Optional[Dict[str, Any]] = None) -> Dict[str, float]:
    """End-to-end fine-tuning (the paper's protocol) of the pre-trained encoder, and its control.

    Runs ``config`` (an mmpretrain ``ImageClassifier`` whose ``TransferViT`` loads the
    checkpoint's ``backbone.*`` strictly) through ``tools/train.py`` and ``tools/test.py``, on a
    balanced subset of ``labels_per_class`` labelled images per class drawn with the run's seed
    (``FashionMNISTLabelSubset``), and reports top-1 on the config's test set. The control trains
    the same config and schedule with ``model.backbone.init_cfg=None`` (no checkpoint); it depends
    only on the seed and the options, so it runs once per seed in
    ``<study dir>/controls/finetune-<options hash>_seed<k>`` and every run reuses it.

    Args:
        cfg (mmengine.config.Config): The pre-training run's config (unused: the classifier is
            ``config``'s).
        checkpoint: The final pre-training checkpoint (``<study dir>/<run>_seed<k>/epoch_N.pth``).
        seed: The run's seed: training seed and seed of the labelled subset.
        config: The fine-tuning config.
        labels_per_class: Labelled images per class; None: all.
        epochs: Fine-tuning epochs (default: the config's), with a warm-up of a twentieth.
        data_root: Dataset root of train and test (default: the config's).
        from_scratch: Also train the control.
        cfg_options: Further overrides of the fine-tuning config.

    Returns:
        Dict[str, float]: ``finetune_top1`` and, with ``from_scratch``,
        ``finetune_top1_from_scratch`` (percent).
    """
    import hashlib
    import json

    options: Dict[str, Any] = {'randomness.seed': seed,
                               'train_dataloader.dataset.labels_per_class': labels_per_class,
                               'train_dataloader.dataset.subset_seed': seed}
    if data_root is not None:
        options.update({f'{split}_dataloader.dataset.data_root': data_root
                        for split in ('train', 'val', 'test')})
    if epochs is not None:
        options.update(schedule_options(epochs))
    options.update(cfg_options or {})
    run_dir = Path(checkpoint).parent
    metrics = {'finetune_top1': finetune_top1(
        config, run_dir / 'finetune',
        {**options, 'model.backbone.init_cfg.checkpoint': str(checkpoint)})}
    if from_scratch:
        key = hashlib.sha1(json.dumps([config, options], sort_keys=True, default=str).encode())
        control_dir = run_dir.parent / 'controls' / f'finetune-{key.hexdigest()[:8]}_seed{seed}'
        metrics['finetune_top1' + SCRATCH_SUFFIX] = finetune_top1(
            config, control_dir, {**options, 'model.backbone.init_cfg': None})
    return {k: round(v, 4) for k, v in metrics.items()}


EVALUATIONS: Dict[str, Callable[..., Dict[str, float]]] = {'linear_probe': linear_probe,
                                                           'finetune': finetune}
