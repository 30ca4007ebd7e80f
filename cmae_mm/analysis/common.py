"""What the analysis tools share: loading a ViT encoder from a config + checkpoint, image batches,
the output check (``--force``) and the one-line report of a user's error (:func:`run_tool`).

Each ``tools/analysis/*.py`` parses its command line and hands it to one ``run_*`` function of this
package through :func:`run_tool`. A ``run_*`` function first checks its outputs
(:func:`check_outputs`) and inputs (:func:`check_model_inputs`), so that a refused or wrong command
fails before any model is built, then writes its files and returns their paths.
"""
import sys
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import UnidentifiedImageError
from torch import nn

from cmae_mm.datasets.image_folder import IMAGE_EXTENSIONS
from cmae_mm.engine.checkpoint import CheckpointMismatchError, UnsafeCheckpointError

#: File name endings the tools read as images (those of the pre-training image folders).
IMAGE_SUFFIXES = IMAGE_EXTENSIONS

PathLike = Union[str, Path]


class ToolInputError(ValueError):
    """An analysis was asked for something its inputs cannot give (reported as one line)."""


#: Exceptions that mean "the input is wrong": :func:`run_tool` reports them in one line.
USER_ERRORS = (ToolInputError, CheckpointMismatchError, UnsafeCheckpointError, FileExistsError,
               FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
               UnidentifiedImageError)


def run_tool(tool: str, fn: Callable[..., Sequence[Path]], *args, error_status: int = 1,
             **kwargs) -> int:
    """Run an analysis for a command-line tool and print what it wrote.

    Args:
        tool: The tool as the user calls it, e.g. ``'tools/analysis/cka.py'``.
        fn: A ``run_*`` function of :mod:`cmae_mm.analysis`; returns the written paths.
        *args: Positional arguments of ``fn``.
        error_status: Exit status of a user error (1; 2 for tools that follow argparse's
            status for a usage error).
        **kwargs: Keyword arguments of ``fn``.

    Returns:
        0 (the exit status) when ``fn`` succeeded.

    Raises:
        SystemExit: Status ``error_status`` with the single line ``<tool>: error: <message>``
            on stderr when ``fn`` raised one of :data:`USER_ERRORS` (missing or unreadable
            inputs, existing outputs, a checkpoint that does not fit or that was refused as
            unsafe).
    """
    try:
        paths = fn(*args, **kwargs)
    except USER_ERRORS as e:
        line = f'{tool}: error: ' + (' '.join(str(e).split()) or type(e).__name__)
        if error_status == 1:
            sys.exit(line)  # the line is the SystemExit's code, printed by the interpreter
        print(line, file=sys.stderr)
        sys.exit(error_status)
    print('wrote ' + ' and '.join(str(p) for p in paths))
    return 0


def add_output_arguments(parser) -> None:
    """Add the ``--out-dir`` and ``--force`` options every analysis tool has."""
    parser.add_argument('--out-dir', required=True, help='folder for the output files (created)')
    parser.add_argument('--force', action='store_true',
                        help='overwrite output files that already exist in --out-dir')


def check_outputs(paths: Iterable[PathLike], force: bool = False) -> List[Path]:
    """Refuse to overwrite files silently: fail if any of ``paths`` exists, unless ``force``.

    Args:
        paths: The files an analysis will write.
        force: Allow overwriting them.

    Returns:
        The paths, as :class:`~pathlib.Path`.

    Raises:
        FileExistsError: ``<file> exists; pass --force to overwrite it`` for the first existing
            one (when not ``force``).
    """
    paths = [Path(p) for p in paths]
    if not force:
        for path in paths:
            if path.exists():
                raise FileExistsError(f'{path} exists; pass --force to overwrite it')
    return paths


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``'s ``model name``; ``platform`` where that is missing)."""
    import platform

    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def make_out_dir(out_dir: PathLike) -> Path:
    """Create ``out_dir`` (and its parents) when the outputs are ready to be written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def check_model_inputs(models: Iterable[Tuple[str, Optional[str]]]) -> None:
    """Check that every config exists and every local checkpoint exists (cheap, before loading).

    Args:
        models: ``(config, checkpoint)`` pairs; a checkpoint None or ``'none'`` means random
            initialisation, one with ``://`` is a URI (read later).

    Raises:
        FileNotFoundError: Naming the first missing config or checkpoint.
    """
    for config, checkpoint in models:
        if not Path(config).is_file():
            raise FileNotFoundError(f'config file not found: {config}')
        if checkpoint not in (None, 'none') and '://' not in checkpoint \
                and not Path(checkpoint).is_file():
            raise FileNotFoundError(f'checkpoint not found: {checkpoint}')


def unmasked_forward(backbone: nn.Module, images: torch.Tensor):
    """Run the encoder on full images: MAE-style backbones need ``mask=None``."""
    from mmpretrain.models.selfsup.mae import MAEViT

    return backbone(images, mask=None) if isinstance(backbone, MAEViT) else backbone(images)


def load_encoder(config: str, checkpoint: Optional[str] = None) -> Tuple[nn.Module, dict]:
    """Build a model from ``config`` and load the ``backbone.*`` weights of ``checkpoint``.

    Loading is strict (:func:`cmae_mm.engine.checkpoint.load_encoder_state`): a checkpoint whose backbone
    keys do not match raises with the missing and unexpected keys. Without a checkpoint the
    encoder is randomly initialised. The checkpoint is read (``weights_only``) before the model is
    built, so an unreadable or unsafe one fails fast.

    Args:
        config (str): An mmpretrain config whose ``model.backbone`` is a ViT.
        checkpoint (str, optional): A Runner checkpoint (``state_dict``) or a plain state dict;
            None or ``'none'`` for a randomly initialised encoder.

    Returns:
        Tuple[nn.Module, dict]: The backbone in eval mode, and the data-preprocessor settings
        (``mean``, ``std`` on the 0-255 scale).

    Raises:
        FileNotFoundError: A missing config or checkpoint.
        UnsafeCheckpointError: A checkpoint holding objects outside the ``weights_only``
            allowlist (nothing of it is executed).
        CheckpointMismatchError: A checkpoint whose backbone keys do not fit the config's model.
    """
    import cmae_mm.components  # noqa: F401  (registers the models, allows Runner checkpoints)
    from cmae_mm.engine.checkpoint import encoder_state, load_encoder_state, read_state_dict
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    check_model_inputs([(config, checkpoint)])
    cfg = Config.fromfile(config)
    state = None
    if checkpoint not in (None, 'none'):
        state = encoder_state(read_state_dict(checkpoint), 'backbone.', checkpoint)
    model = MODELS.build(cfg.model)
    if state is None:
        model.init_weights()
    else:
        load_encoder_state(model.backbone, state, source=checkpoint)
    pre = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    pre = dict(mean=pre.get('mean', [123.675, 116.28, 103.53]),
               std=pre.get('std', [58.395, 57.12, 57.375]))
    model.backbone.eval()  # (mmpretrain backbones' train() returns None: no chaining)
    return model.backbone, pre


def list_images(folder: str, limit: Optional[int] = None) -> List[Path]:
    """Image files under ``folder`` (recursive, sorted), at most ``limit``.

    Raises:
        FileNotFoundError: If ``folder`` is not a folder or holds no image.
    """
    if not Path(folder).is_dir():
        raise FileNotFoundError(f'image folder not found: {folder}')
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
