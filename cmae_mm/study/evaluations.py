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
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

CONTROL_SUFFIX = '_random_init'
#: A control of fine-tuning: the same classifier, config and schedule as the pre-trained arm,
#: trained without the pre-trained checkpoint (one per seed, shared by every run of the study with
#: that seed). Its recipe (layer decay, length) is the pre-trained arm's, so it is a handicapped
#: control, shown beside the tuned one.
SCRATCH_SUFFIX = '_from_scratch'
#: The tuned control of fine-tuning: the same classifier from scratch with its own recipe (no
#: layer decay, its own lr and length, chosen on the validation split).
TUNED_SCRATCH_SUFFIX = '_from_scratch_tuned'
#: Baselines without a network, on the same labelled images and test set (:func:`pixel_baselines`).
PIXEL_SUFFIXES = {'_pixel_logreg': 'logistic regression on raw pixels (no network)',
                  '_pixel_knn': 'k-NN on raw pixels (no network)',
                  '_pixel_svm': 'RBF SVM on raw pixels (no network)'}
#: Every control suffix with the label of its row in reports and the Model Zoo.
CONTROLS = {CONTROL_SUFFIX: 'the same encoder, randomly initialised (control)',
            TUNED_SCRATCH_SUFFIX: 'the same classifier from scratch, its own tuned recipe (control)',
            SCRATCH_SUFFIX: 'the same classifier from scratch, the pre-trained arm\'s recipe and '
                            'length (control)',
            **PIXEL_SUFFIXES}
FINETUNE_CONFIG = 'configs/classification/fashion_mnist/cmae_vit-tiny-p4_ft-100e_fashion-mnist.py'
#: Where a fine-tuned classifier is scored: ``test`` (the config's test set, the 10,000 test
#: images) or ``val`` (the held-out validation split of the training images; recipe search).
SCORE_SPLITS = ('test', 'val')
#: ``--cfg-options`` that make ``tools/test.py`` score the validation split of Fashion-MNIST.
VAL_SPLIT_OPTIONS = {'test_dataloader.dataset.type': 'FashionMNISTLabelSubset',
                     'test_dataloader.dataset.part': 'val',
                     'test_dataloader.dataset.split': 'train',
                     'test_dataloader.dataset.test_mode': False}


def control_of(metric: str):
    """``(base metric, suffix)`` if ``metric`` is a control metric, else None."""
    for suffix in sorted(CONTROLS, key=len, reverse=True):
        if metric.endswith(suffix):
            return metric[:-len(suffix)], suffix
    return None


def split_dataset(data_root: Path, split: str, labels_per_class: Optional[int] = None,
                  subset_seed: int = 0) -> dict:
    """The dataset config of a split: Fashion-MNIST's idx files or an mmpretrain folder dataset.

    Args:
        data_root: A folder with Fashion-MNIST's extracted idx files or with
            ``<split>/<class>/*.png`` (mmpretrain's ``CustomDataset``). Fashion-MNIST's splits:
            ``train`` (the training images outside the validation split), ``val`` (the held-out
            validation split of the training images) and ``test`` (the test images).
        split: Split name.
        labels_per_class: Keep a balanced, seeded subset of this many images per class
            (Fashion-MNIST's ``train`` only); None: all.
        subset_seed: Seed of the subset.

    Returns:
        dict: A dataset config without augmentation (``PackInputs`` only).
    """
    pipeline = [dict(type='PackInputs')]
    if (Path(data_root) / 'train-images-idx3-ubyte').is_file():
        if split not in ('train', 'test', 'val'):
            raise ValueError(f'split {split!r}: Fashion-MNIST has train, val (held out of the '
                             'training images) and test')
        test = split == 'test'  # mmpretrain's FashionMNIST reads the files of test_mode
        return dict(type='FashionMNISTLabelSubset', data_root=str(data_root), data_prefix='',
                    split='test' if test else 'train', test_mode=test, download=False,
                    pipeline=pipeline, part='all' if test else split,
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
                   labels_per_class: Optional[int] = None, subset_seed: int = 0,
                   cs: Sequence[float] = (0.1, ), select_split: Optional[str] = None) -> float:
    """Top-1 (%) of a logistic-regression probe on frozen features (:func:`extract`).

    The probe (standardised features, L2-regularised logistic regression) is fitted on
    ``train_split`` and tested on ``val_split``. Its ``C`` is ``cs[0]`` or, with several values
    and a ``select_split``, the one that scores best on ``select_split`` (ties: the first).

    Args:
        model: A Conditional MAE.
        data_root: Dataset root with the splits.
        train_split: Split the probe is fitted on.
        val_split: Split the accuracy is measured on.
        labels_per_class: Fit on a balanced subset of the training split (Fashion-MNIST).
        subset_seed: Seed of the subset.
        cs: Candidate inverse regularisation strengths.
        select_split: Split ``C`` is chosen on (never the one scored); needed for several ``cs``.

    Returns:
        float: Top-1 accuracy in percent.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(cs) > 1 and (select_split is None or select_split == val_split):
        raise ValueError(f'probe C from {list(cs)}: needs a select_split other than the scored '
                         f'split {val_split!r} (e.g. select_split: val, val_split: test)')
    x_train, y_train = extract(model, data_root, train_split, labels_per_class=labels_per_class,
                               subset_seed=subset_seed)

    def fit(c: float):
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=c)).fit(
            x_train, y_train)

    best = cs[0]
    if len(cs) > 1:
        x_sel, y_sel = extract(model, data_root, select_split)
        scores = [float((fit(c).predict(x_sel) == y_sel).mean()) for c in cs]
        best = cs[scores.index(max(scores))]
    x_val, y_val = extract(model, data_root, val_split)
    return 100. * float((fit(best).predict(x_val) == y_val).mean())


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
    import cmae_mm.components  # noqa: F401  (registers the models)
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
                 random_init: bool = True, labels_per_class: Optional[int] = None,
                 cs: Sequence[float] = (0.1, ), select_split: Optional[str] = None
                 ) -> Dict[str, float]:
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
        cs: Candidate probe ``C`` values (:func:`probe_accuracy`).
        select_split: Split ``C`` is chosen on, e.g. ``val`` (Fashion-MNIST's held-out split).

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
    subset = dict(labels_per_class=labels_per_class, subset_seed=seed, cs=tuple(cs),
                  select_split=select_split)
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


def train_and_score(config: str, work_dir: Path, options: Dict[str, Any], *,
                    final_checkpoint: Optional[str] = None,
                    score_options: Optional[Dict[str, Any]] = None,
                    train_args: Sequence[str] = (), log_name: str = 'finetune.log',
                    score_on: str = 'test',
                    read_metrics: Callable[[Path], Dict[str, float]] = read_test_metrics
                    ) -> Dict[str, float]:
    """Train a config with ``tools/train.py``, score its last checkpoint with ``tools/test.py``.

    Both tools run as subprocesses in the repository root (fresh processes, as a user runs
    them). A work dir that already holds the final checkpoint is only scored; one with an earlier
    checkpoint (``epoch_*.pth`` / ``iter_*.pth``) is resumed; a score already written
    (``<work_dir>/<score_on>_metrics.json``) is reused without running anything.

    Args:
        config: The config (repository-relative, or absolute).
        work_dir: The training work dir; the test run logs in ``<work_dir>/<score_on>``.
        options: ``--cfg-options`` of both tools (dotted keys -> values).
        final_checkpoint: File name of the final checkpoint in ``work_dir`` (``epoch_100.pth``,
            ``iter_8000.pth``); None: the one ``last_checkpoint`` names after training (always
            trains, resuming when there is a checkpoint).
        score_options: Further ``--cfg-options`` of ``tools/test.py`` only (e.g. the ones that
            make its test loop read a validation split).
        train_args: Further arguments of ``tools/train.py`` before ``--cfg-options`` (e.g.
            ``['--pretrained', CKPT]``).
        log_name: File in ``work_dir`` that collects both tools' output.
        score_on: Name of the scored split (:data:`SCORE_SPLITS`): names the saved score and the
            test run's folder.
        read_metrics: Reads the test run's metrics from its folder (default:
            :func:`read_test_metrics`).

    Returns:
        Dict[str, float]: What ``read_metrics`` read (also written to
        ``<work_dir>/<score_on>_metrics.json``).
    """
    import json

    from .common import format_option

    if score_on not in SCORE_SPLITS:
        raise ValueError(f'score_on={score_on!r}: allowed: {", ".join(SCORE_SPLITS)}')
    work_dir = Path(work_dir)
    saved = work_dir / f'{score_on}_metrics.json'
    if saved.is_file():
        return {k: float(v) for k, v in json.loads(saved.read_text()).items()}
    args = [f'{k}={format_option(v)}' for k, v in options.items()]
    final = work_dir / final_checkpoint if final_checkpoint else None
    log = work_dir / log_name
    if final is None or not final.is_file():
        started = any(work_dir.glob('epoch_*.pth')) or any(work_dir.glob('iter_*.pth'))
        _run_tool(['tools/train.py', config, '--work-dir', str(work_dir)] + list(train_args)
                  + (['--resume'] if started else []) + ['--cfg-options'] + args, log)
        if final is None:
            final = Path((work_dir / 'last_checkpoint').read_text().strip())
    score_dir = work_dir / score_on
    score_args = args + [f'{k}={format_option(v)}' for k, v in (score_options or {}).items()]
    _run_tool(['tools/test.py', config, str(final), '--work-dir', str(score_dir),
               '--cfg-options'] + score_args, log)
    metrics = read_metrics(score_dir)
    from ..engine.atomic_io import atomic_write_bytes
    atomic_write_bytes((json.dumps(metrics, indent=2) + '\n').encode(), saved)
    return metrics


def finetune_top1(config: str, work_dir: Path, options: Dict[str, Any],
                  log_name: str = 'finetune.log', score_on: str = 'test') -> float:
    """Fine-tune with ``tools/train.py`` and score the last checkpoint with ``tools/test.py``
    (:func:`train_and_score`: resumed, or only scored, or a saved score reused).

    Args:
        config: The classification config (repository-relative).
        work_dir: The fine-tuning work dir.
        options: ``--cfg-options`` of both tools (dotted keys -> values).
        log_name: File in ``work_dir`` that collects both tools' output.
        score_on: ``'test'``: the config's test set; ``'val'``: the validation split of the
            training images (:data:`VAL_SPLIT_OPTIONS`), for recipe choices.

    Returns:
        float: Top-1 (%), ``accuracy/top1`` of the config's test evaluator on ``score_on``.
    """
    epochs = int(options.get('train_cfg.max_epochs') or 0)
    metrics = train_and_score(
        config, work_dir, options, final_checkpoint=f'epoch_{epochs}.pth' if epochs else None,
        score_options=VAL_SPLIT_OPTIONS if score_on == 'val' else None, log_name=log_name,
        score_on=score_on)
    return metrics['accuracy/top1']


def _control_dir(checkpoint: Path, kind: str, key: Any, seed: int,
                 controls_dir: Optional[str] = None) -> Path:
    """``<controls>/<kind>-<hash of key>_seed<k>``: one control per seed and recipe.

    ``<controls>`` is ``controls_dir`` (repository-relative; studies that share labelled subsets
    and recipes share their controls there) or ``<study dir>/controls``.
    """
    import hashlib
    import json

    from .common import repo_path

    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    root = repo_path(controls_dir) if controls_dir else Path(checkpoint).parent.parent / 'controls'
    return root / f'{kind}-{digest[:8]}_seed{seed}'


@contextmanager
def _control_lock(control_dir: Path) -> Iterator[None]:
    """Hold ``<control_dir>.lock`` (blocking ``flock``): a control shared by the runs of a seed is
    computed by one process while others wait for it and then reuse its result."""
    import fcntl

    control_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(control_dir.with_name(control_dir.name + '.lock'), 'a') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def subset_options(seed: int, labels_per_class: Optional[int],
                    data_root: Optional[str]) -> Dict[str, Any]:
    """The options every arm of a seed shares: training seed, labelled subset, data root."""
    options: Dict[str, Any] = {'randomness.seed': seed,
                               'train_dataloader.dataset.labels_per_class': labels_per_class,
                               'train_dataloader.dataset.subset_seed': seed}
    if data_root is not None:
        options.update({f'{split}_dataloader.dataset.data_root': data_root
                        for split in ('train', 'val', 'test')})
    return options


def finetune(cfg, checkpoint: Path, seed: int, config: str = FINETUNE_CONFIG,
             labels_per_class: Optional[int] = 100, epochs: Optional[int] = None,
             data_root: Optional[str] = None, from_scratch: bool = True,
             cfg_options: Optional[Dict[str, Any]] = None,
             scratch: Optional[Dict[str, Any]] = None,
             score_on: str = 'test', controls_dir: Optional[str] = None,
             controls_only: bool = False) -> Dict[str, float]:
    """End-to-end fine-tuning of the pre-trained encoder, and its from-scratch controls.

    Runs ``config`` (an mmpretrain ``ImageClassifier`` whose ``TransferViT`` loads the
    checkpoint's ``backbone.*`` strictly) through ``tools/train.py`` and ``tools/test.py``, on a
    balanced subset of ``labels_per_class`` labelled images per class drawn with the run's seed
    (``FashionMNISTLabelSubset``), and reports top-1 on ``score_on``. The controls depend only on
    the seed and their options, so each runs once per seed in ``<study dir>/controls/`` and every
    run reuses it:

    * ``from_scratch``: the same config, options and schedule with ``model.backbone.init_cfg=None``
      (the pre-trained arm's recipe, layer decay included: a handicapped control, labelled so);
    * ``scratch``: the tuned control, its own config and recipe (no layer decay, its own lr and
      length, chosen on the validation split).

    Args:
        cfg (mmengine.config.Config): The pre-training run's config (unused: the classifier is
            ``config``'s).
        checkpoint: The final pre-training checkpoint (``<study dir>/<run>_seed<k>/epoch_N.pth``).
        seed: The run's seed: training seed and seed of the labelled subset.
        config: The fine-tuning config.
        labels_per_class: Labelled images per class; None: all.
        epochs: Fine-tuning epochs (default: the config's), with a warm-up of a twentieth.
        data_root: Dataset root of train, val and test (default: the config's).
        from_scratch: Also train the control at the pre-trained arm's recipe and length.
        cfg_options: Further overrides of the fine-tuning config.
        scratch: The tuned control: ``config`` (default: ``config``), ``epochs`` and
            ``cfg_options`` of its own; None: no tuned control.
        score_on: ``'test'`` (final runs) or ``'val'`` (recipe search).
        controls_dir: Folder of the controls, shared by studies with the same subsets and
            recipes (default: ``<study dir>/controls``).
        controls_only: Train and score only the controls (``study.py controls``: other
            processes compute them while the pre-training runs).

    Returns:
        Dict[str, float]: ``finetune_top1`` (not with ``controls_only``) and, with the controls,
        ``finetune_top1_from_scratch`` and ``finetune_top1_from_scratch_tuned`` (percent).
    """
    options = subset_options(seed, labels_per_class, data_root)
    if epochs is not None:
        options.update(schedule_options(epochs))
    options.update(cfg_options or {})
    suffix = '' if score_on == 'test' else f'_{score_on}'
    metrics = {}
    if not controls_only:
        metrics['finetune_top1'] = finetune_top1(
            config, Path(checkpoint).parent / f'finetune{suffix}',
            {**options, 'model.backbone.init_cfg.checkpoint': str(checkpoint)},
            score_on=score_on)
    if from_scratch:
        control_dir = _control_dir(checkpoint, 'finetune', [config, options], seed, controls_dir)
        with _control_lock(control_dir):
            metrics['finetune_top1' + SCRATCH_SUFFIX] = finetune_top1(
                config, control_dir, {**options, 'model.backbone.init_cfg': None},
                score_on=score_on)
    if scratch is not None:
        unknown = set(scratch) - {'config', 'epochs', 'cfg_options'}
        if unknown:
            raise ValueError(f'finetune scratch: unknown key(s) {sorted(unknown)}; allowed: '
                             'config, epochs, cfg_options')
        tuned_config = scratch.get('config', config)
        tuned = subset_options(seed, labels_per_class, data_root)
        if scratch.get('epochs') is not None:
            tuned.update(schedule_options(scratch['epochs']))
        tuned.update(scratch.get('cfg_options') or {})
        tuned['model.backbone.init_cfg'] = None
        control_dir = _control_dir(checkpoint, 'scratch', [tuned_config, tuned], seed,
                                   controls_dir)
        with _control_lock(control_dir):
            metrics['finetune_top1' + TUNED_SCRATCH_SUFFIX] = finetune_top1(
                tuned_config, control_dir, tuned, score_on=score_on)
    return {k: round(v, 4) for k, v in metrics.items()}


def _pixels(dataset) -> Tuple[np.ndarray, np.ndarray]:
    """Flattened raw pixels in [0, 1] (N, H*W) and labels (N,) of an in-memory MNIST dataset."""
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    x = np.stack([np.asarray(d['img'], np.float32).reshape(-1) for d in infos])
    return x / 255., np.array([int(d['gt_label']) for d in infos])


#: The classifiers of :func:`pixel_baselines` and the grid each one's knob is chosen from.
PIXEL_GRIDS: Dict[str, Tuple[str, Tuple[float, ...]]] = {
    'logreg': ('C', (0.001, 0.01, 0.1, 1.0, 10.0)),
    'knn': ('k', (1, 3, 5, 10, 20)),
    'svm': ('C', (0.1, 1.0, 10.0, 100.0)),
}


def _pixel_classifier(kind: str, value: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    if kind == 'logreg':
        return LogisticRegression(C=value, max_iter=5000)
    if kind == 'knn':
        return KNeighborsClassifier(n_neighbors=int(value))
    return SVC(C=value, kernel='rbf', gamma='scale')


def pixel_baselines(cfg, checkpoint: Path, seed: int, labels_per_class: int = 100,
                    data_root: Optional[str] = None, metric: str = 'finetune_top1',
                    controls_dir: Optional[str] = None, controls_only: bool = False
                    ) -> Dict[str, float]:
    """Classifiers without a network on the raw pixels of the same labelled images.

    Logistic regression, k-NN and an RBF SVM (scikit-learn, pixels scaled to [0, 1]) are fitted
    on the run's labelled subset (``labels_per_class`` per class from the training part, drawn
    with the seed, as :func:`finetune` draws it). Each one's knob (:data:`PIXEL_GRIDS`) is chosen
    on the validation split; the chosen classifier is scored once on the test images. The result
    depends only on the seed, so it is computed once per seed and kept (with the knob chosen and
    every validation score) in ``<study dir>/controls/pixels-<hash>_seed<k>/pixels.json``.

    Args:
        cfg (mmengine.config.Config): The run's config (its data root is the default).
        checkpoint: The run's checkpoint (only its study folder is used).
        seed: Seed of the labelled subset.
        labels_per_class: Labelled images per class.
        data_root: Fashion-MNIST root; default: the pre-training dataset's.
        metric: The metric these are references of: the reports pair them with it.
        controls_dir: As :func:`finetune`'s.
        controls_only: Accepted for ``study.py controls`` (everything here is a control).

    Returns:
        Dict[str, float]: ``<metric>_pixel_logreg``, ``_pixel_knn``, ``_pixel_svm`` (test top-1, %).
    """
    root = str(data_root or cfg.train_dataloader.dataset.data_root)
    out = _control_dir(checkpoint, 'pixels', [root, labels_per_class], seed,
                       controls_dir) / 'pixels.json'
    with _control_lock(out.parent):
        record = _pixel_record(out, root, labels_per_class, seed)
    return {f'{metric}_pixel_{kind}': round(c['test_top1'], 4)
            for kind, c in record['classifiers'].items()}


def _pixel_record(out: Path, root: str, labels_per_class: int, seed: int) -> Dict[str, Any]:
    """The record of :func:`pixel_baselines`: read from ``out``, or computed and written there."""
    import json

    from mmpretrain.registry import DATASETS

    import cmae_mm.components  # noqa: F401  (registers FashionMNISTLabelSubset)

    if out.is_file():
        record = json.loads(out.read_text())
    else:
        def load(**kw):
            return _pixels(DATASETS.build(dict(
                type='FashionMNISTLabelSubset', data_root=root, data_prefix='', download=False,
                pipeline=[], **kw)))

        x_train, y_train = load(part='train', test_mode=False, labels_per_class=labels_per_class,
                                subset_seed=seed)
        x_val, y_val = load(part='val', test_mode=False)
        x_test, y_test = load(split='test', test_mode=True)
        record = dict(seed=seed, labels_per_class=labels_per_class, train_images=len(y_train),
                      val_images=len(y_val), test_images=len(y_test), classifiers={})
        for kind, (knob, grid) in PIXEL_GRIDS.items():
            val = {v: 100. * float((_pixel_classifier(kind, v).fit(x_train, y_train)
                                    .predict(x_val) == y_val).mean()) for v in grid}
            best = max(grid, key=lambda v: (val[v], -grid.index(v)))  # ties: the first
            test = 100. * float((_pixel_classifier(kind, best).fit(x_train, y_train)
                                 .predict(x_test) == y_test).mean())
            record['classifiers'][kind] = dict(knob=knob, chosen=best, test_top1=test,
                                               val_top1={str(v): val[v] for v in grid})
        out.parent.mkdir(parents=True, exist_ok=True)
        from ..engine.atomic_io import atomic_write_bytes
        atomic_write_bytes((json.dumps(record, indent=2) + '\n').encode(), out)
    return record


#: This module's evaluations (the study's registry, :mod:`cmae_mm.study.registry`, adds the
#: paper's claims and dense transfer).
ACCURACY_EVALUATIONS: Dict[str, Callable[..., Dict[str, float]]] = {
    'linear_probe': linear_probe, 'finetune': finetune, 'pixel_baselines': pixel_baselines}
#: Those of them whose controls ``study.py controls`` can compute ahead of the runs.
ACCURACY_CONTROL_EVALUATIONS = ('finetune', 'pixel_baselines')
