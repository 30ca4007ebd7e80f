"""Building and running the Runner: the one place shared by ``tools/train.py`` and ``tools/test.py``.

Both tools accept pre-training (mmpretrain) and downstream (mmdet, mmseg) configs and pick the
library from the config's ``default_scope``.
"""
import difflib
import gc
import importlib
import os
import pickle
import re
from pathlib import Path
from typing import Callable, Optional

import torch.distributed as dist
from mmengine.config import Config
from mmengine.registry import RUNNERS, Registry
from mmengine.runner import Runner

from .checkpoint import UnsafeCheckpointError, trusted_globals, unsafe_checkpoint_message
from .compile import WORKING_KEY, CMAERunner, compile_options
from .cpu_compat import apply_cpu_compat
from .errors import ConfigError

__all__ = ['LAUNCHERS', 'RUN_MODES', 'SUPPORTED_SCOPES', 'UnknownTypeError', 'build_runner',
           'check_data_roots', 'check_work_dir', 'default_work_dir', 'load_config',
           'prepare_config', 'redirect_target', 'register_scope', 'registry_hint', 'run',
           'set_local_rank']

SUPPORTED_SCOPES = ('mmpretrain', 'mmdet', 'mmseg')
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
RUN_MODES = ('train', 'val', 'test')


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file and merge ``--cfg-options`` into it.

    Args:
        path: The config file.
        cfg_options: ``key=value`` overrides (dotted keys), as parsed by mmengine's ``DictAction``.

    Returns:
        The config.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        ConfigError: If ``custom_imports`` lists the bare ``cmae_mm`` package (which registers
            nothing) instead of ``cmae_mm.components``.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    imports = (cfg.get('custom_imports') or {}).get('imports') or []
    imports = [imports] if isinstance(imports, str) else list(imports)
    if 'cmae_mm' in imports and 'cmae_mm.components' not in imports:
        raise ConfigError(f"{path}: custom_imports lists 'cmae_mm', which registers nothing; "
                          "list 'cmae_mm.components' (custom_imports = dict(imports="
                          "['cmae_mm.components'])), which registers the suite's components")
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def register_scope(cfg: Config) -> str:
    """Register the modules of the library named by ``cfg.default_scope``.

    Calls ``<scope>.utils.register_all_modules(init_default_scope=False)``; the Runner sets the
    default scope itself from the config.

    Args:
        cfg: The config.

    Returns:
        The scope.

    Raises:
        ConfigError: If the config has no ``default_scope`` or one this suite does not support.
    """
    scope = cfg.get('default_scope')
    if scope not in SUPPORTED_SCOPES:
        raise ConfigError(f'config default_scope is {scope!r}; supported scopes: '
                         f'{", ".join(SUPPORTED_SCOPES)} (set default_scope in the config)')
    utils = importlib.import_module(f'{scope}.utils')
    register_all_modules = getattr(utils, 'register_all_modules', None)
    if register_all_modules is not None:
        register_all_modules(init_default_scope=False)
    return scope


_REDIRECT_LINE = re.compile(r"""_base_\s*=\s*(['"])([^'":]+\.py)\1""")


def redirect_target(config_path: str) -> Optional[str]:
    """The config that a redirect file stands for, or None if ``config_path`` is not a redirect.

    A redirect (such as ``configs/selfsup/cmae_vitb_300e.py``, a short name kept for the README's
    commands) holds only comments, blank lines and one ``_base_ = '<file>.py'`` line naming a
    config beside it: it sets nothing of its own, so it is that config. Chained redirects are
    followed.

    Args:
        config_path: Path of a config file.

    Returns:
        The path of the config the redirect resolves to, or None.
    """
    path, seen = Path(config_path), set()
    while path.suffix == '.py' and path.is_file() and path.resolve() not in seen:
        seen.add(path.resolve())
        code = [line.strip() for line in path.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith('#')]
        match = _REDIRECT_LINE.fullmatch(code[0]) if len(code) == 1 else None
        if match is None:
            break
        path = path.parent / match.group(2)
    return os.path.normpath(path) if len(seen) > 1 and path.is_file() else None


def default_work_dir(config_path: str) -> str:
    """``work_dirs/<config stem>``, relative to the current directory.

    A redirect file runs in the work dir of the config it redirects to
    (:func:`redirect_target`), so that the short name and the canonical name of one config share
    its checkpoints, auto-resume and the fine-tuning configs' default checkpoint paths.
    """
    return os.path.join('work_dirs', Path(redirect_target(config_path) or config_path).stem)


def prepare_config(cfg: Config, config_path: str, work_dir: Optional[str], launcher: str) -> str:
    """Apply the settings common to training and testing.

    Registers the config's scope, sets the work dir (``work_dir`` argument, else the config's,
    else :func:`default_work_dir`; an existing directory is reused, never removed), the launcher,
    and the device shims of :func:`cmae_mm.engine.cpu_compat.apply_cpu_compat`.

    Args:
        cfg: The config, modified in place.
        config_path: Path of the config file (for the default work dir).
        work_dir: ``--work-dir``, or None.
        launcher: ``--launcher``.

    Returns:
        The config's scope.

    Raises:
        ConfigError: An unknown ``launcher`` or ``default_scope``.
    """
    if launcher not in LAUNCHERS:
        raise ConfigError(f'unknown launcher {launcher!r}; choose from {", ".join(LAUNCHERS)}')
    scope = register_scope(cfg)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(config_path)
    cfg.launcher = launcher
    apply_cpu_compat(cfg)
    return scope


# Where each dataset type's data comes from, for the message of a missing data_root.
DATA_SOURCES = {
    'ImageNet100': 'build it from ImageNet-1K with `python tools/dataset_converters/'
                   'build_imagenet100.py --src data/imagenet --dst data/imagenet100`',
    'ImageNet': "ImageNet-1K in mmpretrain's layout: train/<wnid>/*.JPEG, val/, meta/{train,val}.txt",
    'CustomDataset': 'an image folder <data_root>/<split>/<class>/*.jpg',
    'UnlabeledImageFolder': 'a folder of images (.jpg, .png, ...; sub-folders at any depth)',
    'CocoDataset': 'COCO 2017: annotations/instances_{train,val}2017.json, train2017/, val2017/',
    'ADE20KDataset': 'ADEChallengeData2016: images/{training,validation}, annotations/...',
    'CIFAR10': 'the python pickles of cifar-10-batches-py (downloaded when download=True)',
    'CIFAR100': 'the python pickles of cifar-100-python (downloaded when download=True)',
}
LOADERS = {'train': ('train_dataloader', 'val_dataloader'), 'val': ('val_dataloader',),
           'test': ('test_dataloader',)}


def _datasets(node: dict) -> list:
    """A dataset config and the datasets it wraps (ConcatDataset, RepeatDataset, ...)."""
    found = [node]
    for key in ('dataset', 'datasets'):
        inner = node.get(key)
        for child in (inner if isinstance(inner, (list, tuple)) else [inner]):
            if isinstance(child, dict):
                found += _datasets(child)
    return found


def check_data_roots(cfg: Config, mode: str) -> None:
    """Fail before any data loading if a dataset's local ``data_root`` does not exist.

    Args:
        cfg: The config.
        mode: One of ``RUN_MODES``: which dataloaders are checked (train also checks val).

    Raises:
        FileNotFoundError: Naming the dataloader, the dataset type, the expected path, where the
            data comes from, and the option that sets it.
    """
    for name in LOADERS[mode]:
        loader = cfg.get(name)
        if not isinstance(loader, dict) or not isinstance(loader.get('dataset'), dict):
            continue
        for ds in _datasets(loader['dataset']):
            root = ds.get('data_root')
            if not root or '://' in str(root) or Path(root).exists() or ds.get('download'):
                continue
            kind = str(ds.get('type', '?')).rsplit('.', 1)[-1]
            source = DATA_SOURCES.get(kind, 'see the header of the config for the layout')
            raise FileNotFoundError(
                f"{name}: the {kind} data_root '{root}' does not exist (relative to "
                f"'{os.getcwd()}'); expected {source}. Point the config at your copy with "
                f'--cfg-options {name}.dataset.data_root=<path>')


def check_work_dir(cfg: Config) -> None:
    """Refuse a new (not resumed) training run in a work dir that holds checkpoints.

    mmengine writes ``epoch_<n>.pth``/``iter_<n>.pth`` and ``last_checkpoint`` under the same
    names in every run, so a second run would overwrite the first one's checkpoints.

    Raises:
        FileExistsError: Naming the checkpoints found and the two ways out.
    """
    work_dir = Path(cfg.work_dir)
    ckpts = sorted(p.name for p in work_dir.glob('*.pth')) if work_dir.is_dir() else []
    if ckpts and not cfg.get('resume', False):
        shown = ', '.join(ckpts[:3]) + (f' (+{len(ckpts) - 3} more)' if len(ckpts) > 3 else '')
        raise FileExistsError(
            f"work dir '{work_dir}' already holds checkpoints of an earlier run ({shown}); a new "
            'run would overwrite them. Continue that run with --resume, or give another --work-dir')


class UnknownTypeError(KeyError):
    """A config names a ``type`` that is not registered; the message suggests close names."""

    def __str__(self) -> str:
        return str(self.args[0])


def registry_hint(error: KeyError) -> Optional[str]:
    """'did you mean' for mmengine's "X is not in the <scope>::<registry> registry" KeyError.

    Args:
        error: The KeyError raised while building from a registry.

    Returns:
        The error message with the closest registered names, or None if it is another KeyError.
    """
    match = re.search(r'(\S+) is not in the (\w+)::(\w+) registry', str(error))
    if match is None:
        return None
    name, scope, registry_name = match.groups()
    names = set()
    for module_name in (f'{scope}.registry', 'mmengine.registry'):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for obj in vars(module).values():
            if isinstance(obj, Registry) and obj.name == registry_name:
                names.update(obj.module_dict)
                if obj.parent is not None:
                    names.update(obj.parent.module_dict)
    close = difflib.get_close_matches(name, sorted(names), n=3, cutoff=0.6)
    hint = f'did you mean {" or ".join(repr(c) for c in close)}?' if close else \
        ('no registered name is close; is the module that registers it imported? (custom_imports; '
         "the suite's components: custom_imports = dict(imports=['cmae_mm.components']))")
    return f"type '{name}' is not in the {scope}::{registry_name} registry: {hint}"


def build_runner(cfg: Config) -> Runner:
    """Build the Runner: ``cfg.runner_type`` from the RUNNERS registry if given, else the suite's
    :class:`~cmae_mm.engine.compile.CMAERunner` (mmengine's Runner whose ``compile`` option
    compiles the model's forward and keeps the optimizer step eager).

    Raises:
        ConfigError: For an unsupported ``compile`` value, or ``compile`` with a ``runner_type``
            that would compile mmengine's way (``train_step``, optimizer step included).
    """
    compiling = compile_options(cfg.get('compile', None)) is not None
    if 'runner_type' in cfg:
        runner_cls = RUNNERS.get(cfg.runner_type) if isinstance(cfg.runner_type, str) \
            else cfg.runner_type
        if compiling and isinstance(runner_cls, type) and issubclass(runner_cls, Runner) \
                and not issubclass(runner_cls, CMAERunner):
            raise ConfigError(f'compile with runner_type={cfg.runner_type!r} would compile '
                             f'train_step with the optimizer step, which dynamo cannot trace: '
                             f"drop runner_type (or use 'CMAERunner') and set {WORKING_KEY}")
        return RUNNERS.build(cfg)
    return CMAERunner.from_cfg(cfg)


def run(cfg: Config, mode: str, prepare: Optional[Callable[[Runner], None]] = None) -> None:
    """Build the Runner, run ``mode`` and always tear the distributed process group down.

    Checkpoints the Runner reads (``load_from``, ``--resume``) are loaded under
    :func:`~cmae_mm.engine.checkpoint.trusted_globals` (``weights_only`` with the Runner
    checkpoint allowlist, scoped to this call); one holding other objects is refused with
    :class:`~cmae_mm.engine.checkpoint.UnsafeCheckpointError`.

    The Runner is dropped before ``destroy_process_group()``: its DDP wrapper holds the process
    group, and a group that outlives the interpreter keeps gloo's worker threads running into
    finalization, where one still releasing a tensor aborts the process ("terminate called without
    an active exception", exit code -6) after the run itself succeeded. The teardown runs in a
    ``finally`` block, so a failed run leaves no process group alive either.

    Args:
        cfg: The prepared config (see :func:`prepare_config`).
        mode: One of ``RUN_MODES``: the Runner method to call.
        prepare: Called with the built Runner before ``mode`` runs (e.g. to add a metric).

    Raises:
        ValueError: If ``mode`` is not one of ``RUN_MODES``.
        FileExistsError: A new training run in a work dir with checkpoints (:func:`check_work_dir`).
        FileNotFoundError: A missing dataset root (:func:`check_data_roots`).
        UnknownTypeError: A config ``type`` that is not registered, with close names.
        UnsafeCheckpointError: If a checkpoint the Runner loads holds non-allowlisted objects.
    """
    if mode not in RUN_MODES:
        raise ValueError(f'mode must be one of {RUN_MODES}, got {mode!r}')
    if mode == 'train':
        check_work_dir(cfg)
    check_data_roots(cfg, mode)
    runner = None
    try:
        runner = build_runner(cfg)
        if prepare is not None:
            prepare(runner)
        with trusted_globals():
            getattr(runner, mode)()
    except KeyError as e:
        hint = registry_hint(e)
        if hint is None:
            raise
        raise UnknownTypeError(hint) from e
    except pickle.UnpicklingError as e:
        source = cfg.get('load_from') or f"the latest checkpoint of {cfg.get('work_dir')}"
        raise UnsafeCheckpointError(unsafe_checkpoint_message(str(source), e)) from e
    finally:
        del runner
        gc.collect()
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def set_local_rank(local_rank: int) -> None:
    """Export ``--local-rank`` as ``LOCAL_RANK`` unless the launcher already did."""
    os.environ.setdefault('LOCAL_RANK', str(local_rank))

