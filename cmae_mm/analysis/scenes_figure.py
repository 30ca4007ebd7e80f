"""The dense-transfer figure of the Fashion-MNIST scenes: inputs, ground truth and predictions.

One row per scene: the gray input, its ground-truth semantic map, then the map each trained
segmentation checkpoint predicts; the columns of the models are titled with their label and
their mIoU / pixel accuracy over the shown scenes, and one legend shows the 11 classes
(background + the 10 garments) in the palette of
:class:`~cmae_mm.datasets.fashion_mnist_scenes.FashionMNISTScenesSegDataset`. A JSON file beside
the PNG records the scenes, the checkpoints and the metrics.

The models are built as ``tools/test.py`` builds them (:func:`~cmae_mm.engine.runner.load_config`,
:func:`~cmae_mm.engine.runner.register_scope`, the CPU shims of
:func:`~cmae_mm.engine.cpu_compat.apply_cpu_compat`, e.g. SyncBN -> BN), the scenes go through
the config's own test dataset and pipeline (mmseg), and the predictions come from the model's
``test_step``; the metrics are mmseg's ``IoUMetric`` formulas (per-class areas summed over the
shown scenes, mIoU the mean over the classes with a non-empty union). Checkpoints are untrusted:
they are read with ``weights_only`` (:func:`~cmae_mm.engine.checkpoint.read_state_dict`) and
loaded strictly (:func:`~cmae_mm.engine.checkpoint.load_encoder_state` without allowed
differences: any missing or unexpected key is an error naming them).

Scene choice: without a seed, the first ``num_scenes`` scenes of the split in file-name order
(the dataset's order); with a seed, ``num_scenes`` scenes drawn without replacement by
``numpy.random.default_rng(seed)``, shown in file-name order.

Every user error (a malformed ``LABEL=PATH``, a missing checkpoint, an unknown split, a data root
without the split's scenes, an existing output without ``--force``, a checkpoint that does not
fit) is reported before anything is written, as one ``<tool>: error: ...`` line with exit
status 2 (:func:`~cmae_mm.analysis.common.run_tool` with ``error_status``
:data:`INPUT_ERROR_STATUS`).
"""
import io
import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .common import ToolInputError, check_outputs

__all__ = ['DEFAULT_CONFIG', 'DEFAULT_OUT', 'DPI', 'INPUT_ERROR_STATUS', 'SPLIT_FOLDERS',
           'figure_inches', 'parse_checkpoints', 'run_scenes_figure', 'select_scenes']

PathLike = Union[str, Path]

DEFAULT_CONFIG = ('configs/mmseg/fashion_mnist_scenes/'
                  'cmae_vit-tiny-p4_upernet_fashion-mnist-scenes-64x64.py')
DEFAULT_OUT = 'docs/results/fmnist_scenes_upernet/predictions.png'
#: ``--split`` -> the scene set's folder under ``images/`` and ``annotations/``.
SPLIT_FOLDERS: Dict[str, str] = {'test': 'test', 'validation': 'validation'}
#: Exit status of a refused command (argparse's status for a usage error).
INPUT_ERROR_STATUS = 2

# Layout, in inches (at DPI 100 every size below is a whole number of pixels).
DPI = 100
CELL = 1.5           # side of one map
LEFT = 0.4           # the scene names, vertical, left of the first column
TOP = 0.5            # the column titles (two lines)
LEGEND_ENTRY = 1.5   # width of one legend entry
LEGEND_ROW = 0.18    # height of one legend row
LEGEND_PAD = 0.15    # space around the legend


def _legend_columns(columns: int, num_classes: int) -> int:
    """Legend entries per row: as many as fit the figure's width."""
    return max(1, min(num_classes, int((LEFT + columns * CELL) // LEGEND_ENTRY)))


def figure_inches(rows: int, columns: int, num_classes: int = 11) -> Tuple[float, float]:
    """Size of the figure of ``rows`` scenes and ``columns`` maps per scene.

    Args:
        rows: Scenes shown.
        columns: Maps per row: input, ground truth and one per model.
        num_classes: Entries of the legend.

    Returns:
        (width, height) in inches; times :data:`DPI` the PNG's size in pixels.
    """
    legend_rows = math.ceil(num_classes / _legend_columns(columns, num_classes))
    return (LEFT + columns * CELL,
            TOP + rows * CELL + legend_rows * LEGEND_ROW + 2 * LEGEND_PAD)


def parse_checkpoints(items: Sequence[str]) -> List[Tuple[str, str]]:
    """Split the ``LABEL=PATH`` arguments (at the first ``=``) and check the files exist.

    Args:
        items: The ``LABEL=PATH`` strings of the command line.

    Returns:
        ``(label, path)`` pairs in the given order.

    Raises:
        ToolInputError: Naming the first malformed item (no ``=``, an empty label or path, a
            label given twice) and what is allowed.
        FileNotFoundError: Naming the first local checkpoint that is not a file.
    """
    if not items:
        raise ToolInputError('no checkpoint given; allowed: one or more LABEL=PATH '
                             '(e.g. MAE=work_dirs/.../segmentation/iter_375.pth)')
    pairs: List[Tuple[str, str]] = []
    for item in items:
        label, sep, path = item.partition('=')
        label, path = label.strip(), path.strip()
        if not sep or not label or not path:
            raise ToolInputError(f'checkpoint {item!r}: allowed: LABEL=PATH with a non-empty '
                                 'label and path (e.g. MAE=work_dirs/.../iter_375.pth)')
        if label in (known for known, _ in pairs):
            raise ToolInputError(f'checkpoint {item!r}: the label {label!r} is given twice; '
                                 'allowed: one checkpoint per label')
        if '://' not in path and not Path(path).is_file():
            raise FileNotFoundError(f'checkpoint {item!r}: {path} is not a file; allowed: a '
                                    'trained segmentation checkpoint of --config')
        pairs.append((label, path))
    return pairs


def select_scenes(count: int, num_scenes: int, seed: Optional[int]) -> List[int]:
    """Indices of the scenes to show, in file-name order (the dataset's order).

    Args:
        count: Scenes in the split.
        num_scenes: Scenes to show (1..count).
        seed: None for the first ``num_scenes``; else the seed of a draw without replacement.

    Returns:
        ``num_scenes`` sorted indices into the split.

    Raises:
        ToolInputError: ``num_scenes`` outside 1..count.
    """
    if not 1 <= num_scenes <= count:
        raise ToolInputError(f'--num-scenes {num_scenes}: allowed: 1..{count} (the scenes of '
                             'the split)')
    if seed is None:
        return list(range(num_scenes))
    chosen = np.random.default_rng(seed).choice(count, num_scenes, replace=False)
    return sorted(int(i) for i in chosen)


def _check_data(data_root: PathLike, split: str) -> None:
    """Fail unless ``data_root`` holds the split's images (PNGs) and semantic maps."""
    folder = SPLIT_FOLDERS[split]
    images = Path(data_root) / 'images' / folder
    annotations = Path(data_root) / 'annotations' / folder
    if not annotations.is_dir() or not images.is_dir() or next(images.glob('*.png'), None) is None:
        raise ToolInputError(
            f'--data-root {data_root}: no {split} scenes (expected images/{folder}/*.png and '
            f'annotations/{folder}/); allowed: a scene set of '
            'tools/dataset_converters/make_fashion_mnist_scenes.py')


def _load_config(config: str, data_root: Optional[str], split: str):
    """The config with its test dataset pointed at ``data_root`` / ``split``, adapted to the CPU.

    Returns:
        Tuple[mmengine.config.Config, str]: The config and the data root used.
    """
    from cmae_mm.engine.cpu_compat import apply_cpu_compat
    from cmae_mm.engine.runner import load_config

    cfg = load_config(config)  # FileNotFoundError naming a missing config
    if cfg.get('default_scope') != 'mmseg' or not isinstance(
            (cfg.get('test_dataloader') or {}).get('dataset'), dict):
        raise ToolInputError(f'--config {config}: default_scope {cfg.get("default_scope")!r}; '
                             'allowed: an mmseg config with a test_dataloader (e.g. '
                             f'{DEFAULT_CONFIG})')
    dataset = cfg.test_dataloader.dataset
    root = str(data_root if data_root is not None else dataset.get('data_root', ''))
    folder = SPLIT_FOLDERS[split]
    dataset.data_root = root
    dataset.data_prefix = dict(img_path=f'images/{folder}', seg_map_path=f'annotations/{folder}')
    cfg.model.backbone.init_cfg = None  # the checkpoint holds every weight
    cfg.model.pretrained = None
    cfg.launcher = 'none'
    apply_cpu_compat(cfg)  # SyncBN -> BN without CUDA
    return cfg, root


def _build_model(cfg, label: str, checkpoint: str):
    """The config's segmentor with the checkpoint's weights, strictly, in eval mode on the CPU.

    Raises:
        UnsafeCheckpointError: The checkpoint holds objects outside the ``weights_only``
            allowlist.
        CheckpointMismatchError: Its keys do not fit the model (naming missing and unexpected).
    """
    from mmseg.registry import MODELS

    from cmae_mm.engine.checkpoint import load_encoder_state, read_state_dict

    state = read_state_dict(checkpoint)  # weights_only; read before the model is built
    model = MODELS.build(cfg.model)
    load_encoder_state(model, state, source=f'{label}={checkpoint}')  # strict: nothing allowed
    return model.eval()


def _areas(pred, gt, num_classes: int, ignore_index: int):
    """mmseg's per-class (intersection, union, prediction, label) areas of one (H, W) map pair."""
    from mmseg.evaluation.metrics import IoUMetric

    return IoUMetric.intersect_and_union(pred, gt, num_classes, ignore_index)


def _metrics(areas: Sequence, classes: Sequence[str]) -> dict:
    """Pixel accuracy, mIoU and per-class IoU (percent) of summed areas (mmseg's formulas)."""
    import torch
    from mmseg.evaluation.metrics import IoUMetric

    total = [torch.stack([a[k] for a in areas]).sum(0) for k in range(4)]  # (num_classes,)
    result = IoUMetric.total_area_to_metrics(*total, metrics=['mIoU'])
    iou = np.asarray(result['IoU'], dtype=np.float64) * 100
    return dict(pixel_accuracy=round(float(result['aAcc']) * 100, 2),
                mIoU=round(float(np.nanmean(iou)), 2),
                iou_per_class={c: (None if math.isnan(v) else round(float(v), 2))
                               for c, v in zip(classes, iou)})


def _colour(label_map: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 colours; indices outside the palette are white."""
    lut = np.full((256, 3), 255, np.uint8)
    lut[:len(palette)] = palette
    return lut[np.clip(label_map, 0, 255).astype(np.uint8)]


def _draw(images: List[np.ndarray], gts: List[np.ndarray], preds: Dict[str, List[np.ndarray]],
          names: List[str], titles: Dict[str, str], classes: Sequence[str],
          palette: np.ndarray) -> bytes:
    """Render the grid as PNG bytes.

    Args:
        images: Per scene, the (H, W) uint8 gray input.
        gts: Per scene, the (H, W) ground-truth class map.
        preds: Label -> per scene, the (H, W) predicted class map.
        names: Per scene, its file name (row label).
        titles: Label -> column title.
        classes: The class names (legend).
        palette: (num_classes, 3) uint8 colours.

    Returns:
        The PNG file's bytes; its size is :func:`figure_inches` times :data:`DPI`.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows, columns = len(images), 2 + len(preds)
    width, height = figure_inches(rows, columns, len(classes))
    fig = plt.figure(figsize=(width, height), dpi=DPI)
    pad = 0.04  # inches between maps
    for r in range(rows):
        cells = [(images[r], 'input'), (_colour(gts[r], palette), 'ground truth')]
        cells += [(_colour(maps[r], palette), titles[label]) for label, maps in preds.items()]
        for c, (picture, title) in enumerate(cells):
            x0 = LEFT + c * CELL + pad
            y0 = height - TOP - (r + 1) * CELL + pad
            ax = fig.add_axes((x0 / width, y0 / height, (CELL - 2 * pad) / width,
                               (CELL - 2 * pad) / height))
            if picture.ndim == 2:
                ax.imshow(picture, cmap='gray', vmin=0, vmax=255, interpolation='nearest')
            else:
                ax.imshow(picture, interpolation='nearest')
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
            if c == 0:
                ax.set_ylabel(names[r], fontsize=7)
    handles = [Patch(facecolor=np.asarray(colour) / 255, edgecolor='0.5', label=name)
               for name, colour in zip(classes, palette)]
    legend_top = height - TOP - rows * CELL - LEGEND_PAD / 2  # inches from the bottom
    fig.legend(handles=handles, loc='upper center', ncol=_legend_columns(columns, len(classes)),
               fontsize=7, frameon=False, bbox_to_anchor=(0.5, legend_top / height))
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()


def run_scenes_figure(checkpoints: Sequence[str], config: str = DEFAULT_CONFIG,
                      data_root: Optional[str] = None, split: str = 'test', num_scenes: int = 6,
                      out: PathLike = DEFAULT_OUT, seed: Optional[int] = None,
                      force: bool = False) -> List[Path]:
    """Draw the scenes figure and write its JSON (see the module docstring).

    Args:
        checkpoints: ``LABEL=PATH`` strings, one column each, in this order.
        config: The mmseg config the checkpoints were trained with.
        data_root: The scene set; None: the config's test ``data_root``.
        split: ``'test'`` or ``'validation'``.
        num_scenes: Rows of the figure.
        out: The PNG; the JSON is written beside it (same name, ``.json``).
        seed: None: the first ``num_scenes`` scenes by file name; else the seed of their draw.
        force: Overwrite existing outputs.

    Returns:
        The PNG and JSON paths.

    Raises:
        ToolInputError: A malformed ``LABEL=PATH``, an unknown split, a data root without the
            split's scenes, a bad ``--num-scenes``, ``--out`` not a ``.png``, a config that is
            not an mmseg one.
        FileNotFoundError: A missing config or checkpoint.
        FileExistsError: An existing output without ``force``.
        UnsafeCheckpointError, CheckpointMismatchError: A checkpoint refused or not fitting.
    """
    out = Path(out)
    if out.suffix.lower() != '.png':
        raise ToolInputError(f'--out {out}: allowed: a .png file name')
    png, sidecar = check_outputs([out, out.with_suffix('.json')], force)
    if split not in SPLIT_FOLDERS:
        raise ToolInputError(f'--split {split!r}: allowed: {", ".join(SPLIT_FOLDERS)}')
    models = parse_checkpoints(checkpoints)
    if not Path(config).is_file():
        raise FileNotFoundError(f'--config {config}: not a file; allowed: an mmseg config, e.g. '
                                f'{DEFAULT_CONFIG}')
    if seed is not None and seed < 0:
        raise ToolInputError(f'--seed {seed}: allowed: a non-negative integer')

    cfg, root = _load_config(config, data_root, split)
    _check_data(root, split)

    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    from PIL import Image

    from cmae_mm.engine.runner import register_scope

    register_scope(cfg)
    init_default_scope('mmseg')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    chosen = select_scenes(len(dataset), num_scenes, seed)
    classes = list(dataset.metainfo['classes'])
    palette = np.asarray(dataset.metainfo['palette'], np.uint8).reshape(-1, 3)
    ignore_index = int(dataset.ignore_index)
    samples = [dataset[i] for i in chosen]  # the config's test pipeline (with the annotations)
    infos = [dataset.get_data_info(i) for i in chosen]
    names = [Path(info['img_path']).name for info in infos]
    images = [np.asarray(Image.open(info['img_path']).convert('L')) for info in infos]
    gts = [s['data_samples'].gt_sem_seg.data[0] for s in samples]  # (H, W) each

    preds: Dict[str, List[np.ndarray]] = {}
    results: List[dict] = []
    for label, checkpoint in models:
        model = _build_model(cfg, label, checkpoint)
        with torch.no_grad():
            outputs = model.test_step(pseudo_collate(samples))
        maps = [o.pred_sem_seg.data[0].cpu() for o in outputs]  # (H, W) each
        areas = [_areas(p, g, len(classes), ignore_index) for p, g in zip(maps, gts)]
        metrics = _metrics(areas, classes)
        per_scene = [dict(scene=n, **{k: v for k, v in _metrics([a], classes).items()
                                      if k != 'iou_per_class'}) for n, a in zip(names, areas)]
        results.append(dict(label=label, checkpoint=checkpoint, **metrics, scenes=per_scene))
        preds[label] = [m.numpy() for m in maps]
        del model

    titles = {r['label']: f'{r["label"]}\nmIoU {r["mIoU"]:.1f}  acc {r["pixel_accuracy"]:.1f}'
              for r in results}
    picture = _draw(images, [g.numpy() for g in gts], preds, names, titles, classes, palette)
    record = dict(
        config=config, data_root=root, split=split,
        selection=('first by file name' if seed is None else
                   f'numpy default_rng({seed}) draw without replacement, file-name order'),
        seed=seed, scenes=names, scene_indices=chosen, columns=['input', 'ground truth'] +
        [label for label, _ in models], classes=classes, palette=palette.tolist(),
        metrics_over='the shown scenes (mmseg IoUMetric formulas; percent)', models=results)

    from cmae_mm.engine.atomic_io import atomic_write_bytes

    png.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(picture, png)
    atomic_write_bytes((json.dumps(record, indent=2) + '\n').encode(), sidecar)
    return [png, sidecar]

