"""Reconstruction grids of the three pre-training families: original / input after each shot /
reconstruction.

One row per image; the columns are the original, the input after each shot ``s`` (every mask cell
removed by shots ``1..s`` painted :data:`MASK_RGB`, the rest the original pixels) and the
reconstruction (the prediction in every removed cell, the original pixels elsewhere, as MAE's
figures). ``tools/analysis/reconstruct.py`` (:func:`run_reconstruct`) and ``tools/demo.py``
(:func:`cmae_mm.study.demo.save_demo_reconstruction`) draw it with :func:`save_reconstruction_grid`.

The masks are the model's own, drawn by its forward (one random draw of the schedule):

* ``ConditionalMAE`` (ViT): a cell is a patch; shot ``s`` removes tokens at the input of block
  ``ℓ_s`` (block 0: right after the patch embedding).
* ``CMAESimMIM`` (Swin): a cell is ``mask_cell`` pixels (one token of the stage that masks it);
  shot 1 is SimMIM's mask at the input, drawn by mmpretrain's ``SimMIMMaskGenerator`` for the
  model's geometry exactly as the pre-training pipeline draws it; shot 2 masks stage-``ℓ_2``
  tokens (stage 3: one token per cell).
* ``FCMAE`` (ConvNeXt V2): a cell is ``mask_cell`` pixels; shot 1 removes cells of the input image,
  shot ``s`` those still visible at the input of stage ``ℓ_s``.

The grid is composed without resampling (panels are only enlarged by an integer nearest-neighbour
factor) and written with a JSON record next to the PNG: the model's ``shot_index`` of every row
(0 = never removed, ``s`` = removed by shot ``s``, cells in raster order), the cell geometry and
where each panel lies in the PNG, so that the drawn masks can be checked pixel by pixel.
"""
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from torch import nn

from .common import (IMAGE_SUFFIXES, ToolInputError, check_model_inputs, check_outputs, list_images,
                     make_out_dir)

PathLike = Union[str, Path]

#: Colour (RGB) of the removed cells in the "after shot" panels: blue, which stands out on
#: grayscale images (Fashion-MNIST) as well as on photographs.
MASK_RGB = (90, 140, 215)
#: Panels smaller than this (pixels per side) are enlarged by an integer factor.
MIN_PANEL_PX = 128
#: Model types the grid supports, with the words its caption uses.
FAMILIES = {'ConditionalMAE': ('Conditional MAE', 'ViT', 'patches'),
            'CMAESimMIM': ('Conditional SimMIM', 'Swin', 'mask cells'),
            'FCMAE': ('Conditional FCMAE', 'ConvNeXt V2', 'mask cells')}
_GAP, _MARGIN, _FONT_PX = 4, 6, 11


def shot_visibility(shot_index: torch.Tensor, num_shots: int) -> List[torch.Tensor]:
    """Per shot, which cells are still visible after it.

    Args:
        shot_index (torch.Tensor): (B, N), 0 = never removed, s = removed by shot s.
        num_shots (int): ``S``.

    Returns:
        List[torch.Tensor]: ``S`` bool tensors (B, N); entry ``s-1`` is True where a cell survived
        shots 1..s.
    """
    return [(shot_index == 0) | (shot_index > s) for s in range(1, num_shots + 1)]


def to_image(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(C, H, W) normalised -> (H, W, 3) in [0, 1]; a single (grayscale) channel is repeated."""
    c = x.shape[0]
    x = x.detach().cpu() * torch.tensor(std).view(c, 1, 1) + torch.tensor(mean).view(c, 1, 1)
    x = (x / 255.).clamp(0, 1)
    return x.expand(3, -1, -1).permute(1, 2, 0).numpy() if c == 1 else x.permute(1, 2, 0).numpy()


def to_uint8(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Undo the data preprocessor's normalisation: (C, H, W) -> (H, W, 3) uint8 RGB.

    Args:
        x (torch.Tensor): (C, H, W) normalised image, C = 3 (RGB) or 1 (grayscale, repeated).
        mean (Sequence[float]): Preprocessor mean (0-255 scale), one per channel.
        std (Sequence[float]): Preprocessor std.

    Returns:
        np.ndarray: (H, W, 3) uint8, rounded and clipped to 0-255 (NaN becomes 0).
    """
    c = x.shape[0]
    x = x.detach().float().cpu() * torch.tensor(std).view(c, 1, 1) \
        + torch.tensor(mean).view(c, 1, 1)
    x = torch.nan_to_num(x, nan=0.).round().clamp(0, 255).to(torch.uint8)
    return x.expand(3, -1, -1).permute(1, 2, 0).numpy().copy()


def model_family(model: nn.Module) -> str:
    """The model's type name if the grid supports it.

    Raises:
        ToolInputError: For any other model, naming the supported types.
    """
    name = type(model).__name__
    if name not in FAMILIES:
        raise ToolInputError(f'model type {name} has no reconstruction grid; supported: '
                             f'{", ".join(FAMILIES)}')
    return name


def cell_size(model: nn.Module) -> int:
    """Input pixels per side of a mask cell: the ViT's patch, the hierarchical models' cell."""
    if model_family(model) == 'ConditionalMAE':
        return int(model.head.patch_size)
    return int(model.backbone.mask_cell)


def input_size(model: nn.Module) -> Tuple[int, int]:
    """The pre-training input size ``(H, W)`` the model's masks are defined for."""
    family = model_family(model)
    backbone = model.backbone
    if family == 'ConditionalMAE':
        rows, cols = backbone.patch_resolution
        return rows * model.head.patch_size, cols * model.head.patch_size
    if family == 'CMAESimMIM':
        rows, cols = backbone.cell_grid
        return rows * backbone.mask_cell, cols * backbone.mask_cell
    return backbone.img_size, backbone.img_size


def shot_places(model: nn.Module) -> List[str]:
    """Where each shot masks: ``'block ℓ'`` (ViT); ``'input'`` or ``'stage-ℓ input'`` (Swin,
    ConvNeXt)."""
    layers = model.backbone.schedule.layers
    if model_family(model) == 'ConditionalMAE':
        return [f'block {layer}' for layer in layers]
    return ['input' if layer == 0 else f'stage-{layer} input' for layer in layers]


def simmim_shot1_masks(model: nn.Module, batch_size: int) -> torch.Tensor:
    """Draw SimMIM's shot-1 masks as the pre-training pipeline does, for the model's geometry.

    mmpretrain's ``SimMIMMaskGenerator`` (the numpy global RNG, one draw per image in batch order)
    with the model's input size, mask cell, model patch size and first ratio.

    Args:
        model (nn.Module): A ``CMAESimMIM``.
        batch_size (int): Number of masks.

    Returns:
        torch.Tensor: (B, H/p, W/p) long masks, 1 = masked.
    """
    from mmpretrain.registry import TRANSFORMS

    backbone = model.backbone
    size = input_size(model)
    if size[0] != size[1]:
        raise ToolInputError(f'SimMIM masks need a square input, the model has {size}')
    generator = TRANSFORMS.build(dict(
        type='SimMIMMaskGenerator', input_size=size[0], mask_patch_size=backbone.mask_cell,
        model_patch_size=backbone.mask_cell // backbone.cell_scale,
        mask_ratio=backbone.schedule.ratios[0]))
    masks = [generator.transform({})['mask'] for _ in range(batch_size)]
    return torch.from_numpy(np.stack(masks))


@torch.no_grad()
def reconstruct_batch(model: nn.Module, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
    """One masked forward of any supported model: its prediction and its masks.

    The random draws are the model's (and, for SimMIM's shot 1, :func:`simmim_shot1_masks`'s
    numpy draws first): seed before calling to reproduce them.

    Args:
        model (nn.Module): ``ConditionalMAE``, ``CMAESimMIM`` or ``FCMAE``, in eval mode.
        inputs (torch.Tensor): Normalised images (B, C, H, W) at :func:`input_size`.

    Returns:
        Dict[str, torch.Tensor]: ``pred`` (B, C, H, W), the prediction of every pixel in the
        input's normalised space, and ``shot_index`` (B, N) long, N cells in raster order.
    """
    if model_family(model) == 'CMAESimMIM':
        masks = simmim_shot1_masks(model, len(inputs)).to(inputs.device)
        return model.reconstruct(inputs, masks)
    return model.reconstruct(inputs)


def cells_to_pixels(cells: np.ndarray, grid: Tuple[int, int], cell: int) -> np.ndarray:
    """(N,) per-cell values in raster order -> (rows * cell, cols * cell) per-pixel values."""
    return cells.reshape(grid).repeat(cell, axis=0).repeat(cell, axis=1)


def grid_panels(inputs: torch.Tensor, pred: torch.Tensor, shot_index: torch.Tensor, cell: int,
                num_shots: int, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """The panels of every row: original, after each shot, reconstruction.

    Args:
        inputs (torch.Tensor): Normalised images (B, C, H, W).
        pred (torch.Tensor): Prediction (B, C, H, W) in the same space.
        shot_index (torch.Tensor): (B, N), N = (H / cell) * (W / cell) cells in raster order.
        cell (int): Pixels per side of a cell.
        num_shots (int): ``S``.
        mean (Sequence[float]): Preprocessor mean (0-255 scale).
        std (Sequence[float]): Preprocessor std.

    Returns:
        np.ndarray: (B, S + 2, H, W, 3) uint8 RGB.
    """
    _, _, h, w = inputs.shape
    grid = (h // cell, w // cell)
    visible_after = [v.cpu().numpy() for v in shot_visibility(shot_index, num_shots)]
    removed = (shot_index > 0).cpu().numpy()
    mask_rgb = np.array(MASK_RGB, np.uint8)
    rows = []
    for b in range(len(inputs)):
        original = to_uint8(inputs[b], mean, std)
        panels = [original]
        for visible in visible_after:
            gone = ~cells_to_pixels(visible[b], grid, cell)[..., None]
            panels.append(np.where(gone, mask_rgb, original))
        gone = cells_to_pixels(removed[b], grid, cell)[..., None]
        panels.append(np.where(gone, to_uint8(pred[b], mean, std), original))
        rows.append(np.stack(panels))
    return np.stack(rows)


def _wrap(text: str, font, width: int) -> List[str]:
    """Greedy word wrap of ``text`` to lines of at most ``width`` pixels (long words overflow)."""
    lines: List[str] = []
    for word in text.split():
        if lines and font.getlength(f'{lines[-1]} {word}') <= width:
            lines[-1] = f'{lines[-1]} {word}'
        else:
            lines.append(word)
    return lines


def compose_grid(panels: np.ndarray, titles: Sequence[str], caption: str
                 ) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Lay the panels out on a white canvas, with a caption and one title per column.

    Panels are enlarged by the integer factor ``ceil(MIN_PANEL_PX / min(H, W))`` (nearest
    neighbour, every pixel repeated), so each pixel of a panel is a block of the canvas.

    Args:
        panels (np.ndarray): (B, K, H, W, 3) uint8.
        titles (Sequence[str]): K column titles.
        caption (str): Text above the titles.

    Returns:
        Tuple[np.ndarray, Dict[str, Any]]: The (H', W', 3) uint8 canvas and its layout:
        ``scale`` (the factor), ``panel_px`` ([h, w] of a panel on the canvas) and ``origins``
        (per row, per column, the [x, y] of the panel's top-left canvas pixel).
    """
    from PIL import Image, ImageDraw, ImageFont

    num_rows, num_cols, h, w, _ = panels.shape
    scale = max(1, -(-MIN_PANEL_PX // min(h, w)))
    ph, pw = h * scale, w * scale
    width = 2 * _MARGIN + num_cols * pw + (num_cols - 1) * _GAP
    font = ImageFont.load_default(size=_FONT_PX)
    line = _FONT_PX + 3
    caption_lines = _wrap(caption, font, width - 2 * _MARGIN)
    title_lines = [_wrap(t, font, pw) for t in titles]
    top = _MARGIN + line * len(caption_lines) + 4 + line * max(map(len, title_lines)) + 2
    height = top + num_rows * ph + (num_rows - 1) * _GAP + _MARGIN
    canvas = Image.new('RGB', (width, height), 'white')
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(caption_lines):
        draw.text((_MARGIN, _MARGIN + i * line), text, fill='black', font=font)
    title_top = _MARGIN + line * len(caption_lines) + 4
    xs = [_MARGIN + c * (pw + _GAP) for c in range(num_cols)]
    for x, lines in zip(xs, title_lines):
        for i, text in enumerate(lines):
            draw.text((x, title_top + i * line), text, fill='black', font=font)
    pixels = np.asarray(canvas).copy()
    origins = []
    for r in range(num_rows):
        y = top + r * (ph + _GAP)
        for c, x in enumerate(xs):
            pixels[y:y + ph, x:x + pw] = panels[r, c].repeat(scale, axis=0).repeat(scale, axis=1)
        origins.append([[x, y] for x in xs])
    return pixels, dict(scale=scale, panel_px=[ph, pw], origins=origins)


def record_path(png: PathLike) -> Path:
    """The JSON record written next to a grid PNG (``grid.png`` -> ``grid.json``)."""
    return Path(png).with_suffix('.json')


@torch.no_grad()
def save_reconstruction_grid(model: nn.Module, inputs: torch.Tensor, path: PathLike,
                             mean: Sequence[float], std: Sequence[float],
                             names: Optional[Sequence[str]] = None,
                             meta: Optional[Dict[str, Any]] = None) -> Path:
    """Reconstruct ``inputs`` once and save the grid PNG and its JSON record (:func:`record_path`).

    Args:
        model (nn.Module): ``ConditionalMAE``, ``CMAESimMIM`` or ``FCMAE`` (put in eval mode).
        inputs (torch.Tensor): Normalised images (B, C, H, W) at the model's input size, C = 3
            or 1 (grayscale).
        path (str | Path): Output PNG.
        mean (Sequence[float]): Data-preprocessor mean (0-255 scale) to undo the normalisation.
        std (Sequence[float]): Data-preprocessor std.
        names (Sequence[str], optional): One name per row for the record (default: row numbers).
        meta (dict, optional): Extra entries of the record (config, checkpoint, seed, ...).

    Returns:
        Path: The PNG. The record holds ``shot_index`` per row (the model's masks, as drawn),
        ``cell_px``, ``cell_grid``, ``mask_rgb``, ``columns`` and the layout of
        :func:`compose_grid`.

    Raises:
        ToolInputError: An unsupported model, or inputs not at the model's input size.
    """
    from PIL import Image

    family = model_family(model)
    size = input_size(model)
    if tuple(inputs.shape[-2:]) != tuple(size):
        raise ToolInputError(f'images are {tuple(inputs.shape[-2:])}, the model masks '
                             f'{tuple(size)} inputs')
    model.eval()
    out = reconstruct_batch(model, inputs)
    schedule, cell = model.backbone.schedule, cell_size(model)
    panels = grid_panels(inputs, out['pred'], out['shot_index'], cell, schedule.num_shots, mean,
                         std)
    titles = ['original'] + [
        f'after shot {s + 1}: {place}, eta={ratio:g}'
        for s, (place, ratio) in enumerate(zip(shot_places(model), schedule.ratios))
    ] + ['reconstruction']
    method, encoder, cells = FAMILIES[family]
    caption = (f'{method} {schedule} ({encoder}, {cell}-px {cells}): blue = removed; the '
               'reconstruction shows the prediction in every removed cell')
    canvas, layout = compose_grid(panels, titles, caption)
    path = Path(path)
    Image.fromarray(canvas).save(path)
    names = list(names) if names is not None else [str(i) for i in range(len(inputs))]
    record = dict(meta or {}, model=family, schedule=str(schedule),
                  shots=[dict(shot=s + 1, layer=layer, where=place, ratio=ratio)
                         for s, (layer, place, ratio) in enumerate(
                             zip(schedule.layers, shot_places(model), schedule.ratios))],
                  input_size=list(size), cell_px=cell, cell_grid=[size[0] // cell, size[1] // cell],
                  mask_rgb=list(MASK_RGB), columns=titles, scale=layout['scale'],
                  panel_px=layout['panel_px'],
                  rows=[dict(image=name, shot_index=out['shot_index'][b].tolist(),
                             panels=layout['origins'][b]) for b, name in enumerate(names)])
    record_path(path).write_text(json.dumps(record) + '\n')
    return path


# ---- tools/analysis/reconstruct.py -------------------------------------------------------------
def check_image_file(path: Path) -> None:
    """Fail in one line unless ``path`` is an image file that Pillow can read.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ToolInputError: Its name does not end in one of ``IMAGE_SUFFIXES`` or it cannot be read.
    """
    from PIL import Image

    if not path.exists():
        raise FileNotFoundError(f'image not found: {path}')
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ToolInputError(f'not an image file: {path} (allowed: a folder, or files ending in '
                             f'{", ".join(IMAGE_SUFFIXES)})')
    try:
        with Image.open(path) as im:
            im.verify()
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for a bad file
        raise ToolInputError(f'cannot read image {path}: {e}') from e


def collect_images(sources: Sequence[PathLike], num: int) -> List[Path]:
    """The first ``num`` images of ``sources``: files as given, folders expanded (recursively,
    sorted), each checked (:func:`check_image_file`).

    Raises:
        FileNotFoundError: A missing source, or a folder without images.
        ToolInputError: A file that is not a readable image.
    """
    paths: List[Path] = []
    checked = set()
    for source in map(Path, sources):
        if source.is_dir():
            paths += list_images(str(source))
        elif source.exists():
            check_image_file(source)  # every file named on the command line, drawn or not
            checked.add(source)
            paths.append(source)
        else:
            raise FileNotFoundError(f'image or folder not found: {source}')
    for path in paths[:num]:
        if path not in checked:
            check_image_file(path)
    return paths[:num]


def dataset_samples(cfg: Config, num: int, seed: int) -> Tuple[List[dict], List[str]]:
    """``num`` samples of the config's training dataset, chosen with ``seed``, without its pipeline.

    Args:
        cfg (Config): The pre-training config.
        num (int): How many (all when the dataset is smaller).
        seed (int): Seed of the choice (``numpy.random.default_rng``).

    Returns:
        Tuple[List[dict], List[str]]: Each sample's data info (``img_path`` or an in-memory
        ``img``) and its name (path, or ``dataset[index]``).

    Raises:
        FileNotFoundError: The dataset's ``data_root`` is missing or holds no images.
    """
    from mmpretrain.registry import DATASETS

    from cmae_mm.engine.runner import check_data_roots

    check_data_roots(cfg, 'train')
    dataset_cfg = cfg.train_dataloader.dataset.copy()
    dataset_cfg['pipeline'] = []
    dataset = DATASETS.build(dataset_cfg)
    if len(dataset) == 0:
        raise FileNotFoundError(f'the config\'s training dataset ({dataset_cfg["type"]}) is empty')
    order = np.random.default_rng(seed).permutation(len(dataset))[:num]
    infos = [dataset.get_data_info(int(i)) for i in order]
    names = [str(info.get('img_path', f'dataset[{int(i)}]')) for info, i in zip(infos, order)]
    for info in infos:
        if 'img_path' in info:
            check_image_file(Path(info['img_path']))
    return infos, names


def load_inputs(model: nn.Module, samples: Sequence[dict]) -> torch.Tensor:
    """Images -> the model's normalised input batch at its pre-training size.

    Each image is loaded as the pre-training pipeline loads it (mmcv's ``LoadImageFromFile``,
    grayscale for a one-channel model), its short side resized to the input size (Pillow,
    bicubic; ``ResizeEdge``) and centre-cropped (``CenterCrop``), packed (``PackInputs``) and
    normalised by the model's data preprocessor.

    Args:
        model (nn.Module): The model (its ``data_preprocessor``).
        samples (Sequence[dict]): ``{'img_path': ...}`` or ``{'img': array}`` per image.

    Returns:
        torch.Tensor: (B, C, H, W) float.
    """
    from mmengine.dataset import default_collate
    from mmpretrain.registry import TRANSFORMS

    h, w = input_size(model)
    channels = len(model.data_preprocessor.mean)
    load = TRANSFORMS.build(dict(type='LoadImageFromFile',
                                 color_type='grayscale' if channels == 1 else 'color'))
    # the short side to the longer input side: the crop of (w, h) always fits
    steps = [TRANSFORMS.build(c) for c in (
        dict(type='ResizeEdge', scale=max(h, w), edge='short', backend='pillow',
             interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=(w, h)),
        dict(type='PackInputs'))]
    packed = []
    for sample in samples:
        results = dict(sample)
        if 'img' not in results:
            results = load(results)
        for step in steps:
            results = step(results)
        packed.append(results)
    with torch.no_grad():
        return model.data_preprocessor(default_collate(packed), False)['inputs']


def build_pretrained(cfg: Config, checkpoint: str) -> nn.Module:
    """Build the config's pre-training model and load a checkpoint into it, strictly.

    The checkpoint is read with ``weights_only`` (:func:`cmae_mm.engine.checkpoint.read_state_dict`;
    nothing of its stored config is evaluated) and must hold exactly the model's keys.

    Args:
        cfg (Config): The pre-training config.
        checkpoint (str): A Runner checkpoint or a plain state dict of the whole model.

    Returns:
        nn.Module: The model in eval mode.

    Raises:
        ToolInputError: The config's model has no reconstruction grid.
        UnsafeCheckpointError: The checkpoint holds objects outside the ``weights_only`` allowlist.
        CheckpointMismatchError: Missing or unexpected keys (all named).
    """
    from mmpretrain.registry import MODELS

    from cmae_mm.engine.checkpoint import load_encoder_state, read_state_dict

    model_type = str(cfg.model.get('type', '?')).rsplit('.', 1)[-1]
    if model_type not in FAMILIES:
        raise ToolInputError(f'{cfg.filename}: model type {model_type} has no reconstruction grid; '
                             f'supported: {", ".join(FAMILIES)}')
    state = read_state_dict(checkpoint)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    load_encoder_state(model, state, source=checkpoint)
    return model.eval()


def run_reconstruct(config: str, checkpoint: str, images: Sequence[PathLike] = (),
                    out: PathLike = 'grid.png', num: int = 4, seed: int = 0, force: bool = False,
                    cfg_options: Optional[dict] = None) -> List[Path]:
    """Draw the reconstruction grid of a pre-training checkpoint (tools/analysis/reconstruct.py).

    Rows are the first ``num`` of ``images`` (files, or folders read recursively in sorted order)
    or, with no images, ``num`` images of the config's training dataset chosen with ``seed``. The
    masks are one draw of the model's schedule after ``mmengine.runner.set_random_seed(seed)``.

    Args:
        config (str): The pre-training config.
        checkpoint (str): Its checkpoint (a Runner checkpoint or a whole-model state dict).
        images (Sequence[str | Path]): Image files and folders; empty for the config's dataset.
        out (str | Path): Output PNG; the record goes next to it (:func:`record_path`).
        num (int): Number of rows (at least 1).
        seed (int): Seed of the dataset choice and of the masks.
        force (bool): Overwrite existing outputs.
        cfg_options (dict, optional): ``--cfg-options`` overrides of the config.

    Returns:
        List[Path]: The PNG and the JSON record.

    Raises:
        ToolInputError: ``--out`` is not a .png, ``num`` < 1, an unsupported model, a file that
            is not a readable image.
        FileNotFoundError: A missing config, checkpoint, image or folder, a folder or dataset
            without images.
        FileExistsError: An output exists and ``force`` is not set.
        UnsafeCheckpointError / CheckpointMismatchError: See :func:`build_pretrained`.
    """
    from mmengine.runner import set_random_seed

    from cmae_mm.engine.runner import load_config

    out = Path(out)
    if out.suffix.lower() != '.png':
        raise ToolInputError(f'--out {out}: must be a .png file (the record is written next to it)')
    if num < 1:
        raise ToolInputError(f'--num {num}: must be at least 1')
    outputs = check_outputs([out, record_path(out)], force)
    if checkpoint in (None, 'none'):
        raise ToolInputError('a checkpoint is needed: the grid shows what a pre-trained model '
                             'reconstructs')
    check_model_inputs([(config, checkpoint)])
    paths = collect_images(images, num) if images else None
    cfg = load_config(config, cfg_options)
    model = build_pretrained(cfg, checkpoint)
    if paths is None:
        samples, names = dataset_samples(cfg, num, seed)
    else:
        samples, names = [dict(img_path=str(p)) for p in paths], [str(p) for p in paths]
    inputs = load_inputs(model, samples)
    make_out_dir(out.parent)
    set_random_seed(seed)
    pre = model.data_preprocessor
    save_reconstruction_grid(
        model, inputs, out, mean=pre.mean.flatten().tolist(), std=pre.std.flatten().tolist(),
        names=names, meta=dict(config=str(config), checkpoint=str(checkpoint), seed=seed))
    return outputs
