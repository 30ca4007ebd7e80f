"""Tiny real-format data, a tiny classification config and tool runners for the tool tests.

The images are crops of real photographs shipped with scikit-image, saved as JPEGs in the
ImageNet folder layout ``<root>/<split>/<wnid>/*.JPEG`` (which mmpretrain's ``CustomDataset``
reads with ``data_prefix=<split>``, classes from the folder names).
"""
import ast
import os
from itertools import count, cycle
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image
from scipy.io import savemat
from mmengine.config import Config, ConfigDict
from mmpretrain.models.backbones.vision_transformer import VisionTransformer

REPO = Path(__file__).resolve().parents[1]
VENV_PYTHON = REPO / '.venv' / 'bin' / 'python'
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable

def config_bases(path: Path) -> List[str]:
    """The ``_base_`` entries of a config file, read from its text (nothing is executed or imported).

    Args:
        path: A config file.

    Returns:
        Each base in the file's order: a local base as its resolved path, an upstream one
        (``mmpretrain::...``) as written; empty if the file has no ``_base_``.
    """
    path = Path(path)
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == '_base_'
                                                for t in node.targets):
            value = ast.literal_eval(node.value)
            names = [value] if isinstance(value, str) else list(value)
            return [n if '::' in n else str((path.parent / n).resolve()) for n in names]
    return []


def base_chain(path: Path) -> List[str]:
    """Every file above a config in its ``_base_`` tree, depth first (upstream bases not followed).

    Args:
        path: A config file.

    Returns:
        The bases of :func:`config_bases`, each followed by its own bases, recursively.
    """
    chain = []
    for base in config_bases(path):
        chain.append(base)
        if '::' not in base:
            chain += base_chain(Path(base))
    return chain


def inheritance_depth(path: Path) -> int:
    """Levels of ``_base_`` above a config: 0 without bases, else 1 + the deepest base's depth.

    An upstream base (``mmpretrain::...``) counts as one level and is not followed.

    Args:
        path: A config file.

    Returns:
        The depth of the file's ``_base_`` tree.
    """
    bases = config_bases(path)
    if not bases:
        return 0
    return 1 + max(0 if '::' in b else inheritance_depth(Path(b)) for b in bases)


WNIDS = ('n01440764', 'n01443537')
# Photographs per class (scikit-image's bundled images: no download needed).
CLASS_PHOTOS = (('chelsea', 'astronaut'), ('coffee', 'rocket'))

# Variables a distributed launcher sets; cleared for tool subprocesses so an outer launcher
# (or an earlier test) cannot leak into them.
LAUNCHER_ENV = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT',
                'GROUP_RANK', 'SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID', 'SLURM_NODELIST')


def photo_crops(names: Sequence[str], count: int, size: int) -> List[np.ndarray]:
    """``count`` different square crops of the named scikit-image photographs, resized.

    Crop ``k`` takes photo ``names[k % len(names)]`` and a window covering 60% of its short side
    at one of nine grid positions, so no two crops are the same image.

    Args:
        names: Names of ``skimage.data`` photographs.
        count: Number of crops.
        size: Output side in pixels.

    Returns:
        ``count`` RGB uint8 arrays of shape (size, size, 3).
    """
    from PIL import Image
    from skimage import data

    photos = [np.asarray(Image.fromarray(getattr(data, name)()).convert('RGB')) for name in names]
    crops = []
    for k in range(count):
        photo = photos[k % len(photos)]
        h, w = photo.shape[:2]
        side = int(0.6 * min(h, w))
        pos = (k // len(photos)) % 9
        top = (h - side) * (pos // 3) // 2
        left = (w - side) * (pos % 3) // 2
        crop = Image.fromarray(photo[top:top + side, left:left + side]).resize((size, size), Image.BICUBIC)
        crops.append(np.asarray(crop))
    return crops


def write_imagenet_folder(root: Path, per_class: Optional[Dict[str, int]] = None,
                          wnids: Sequence[str] = WNIDS, size: int = 40) -> Path:
    """Write a tiny ImageNet-style folder dataset: ``<root>/<split>/<wnid>/<wnid>_<k>.JPEG``.

    Args:
        root: Dataset root (created).
        per_class: Images per class for each split; default ``{'train': 4, 'val': 2}``.
        wnids: Class folder names; class ``i`` uses the photographs ``CLASS_PHOTOS[i % 2]``.
        size: Image side in pixels.

    Returns:
        ``root``.
    """
    from PIL import Image

    per_class = per_class or {'train': 4, 'val': 2}
    for label, wnid in enumerate(wnids):
        # one pool of crops per class, split without overlap
        total = sum(per_class.values())
        crops = photo_crops(CLASS_PHOTOS[label % len(CLASS_PHOTOS)], total, size)
        start = 0
        for split, n in per_class.items():
            folder = root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for k, img in enumerate(crops[start:start + n]):
                Image.fromarray(img).save(folder / f'{wnid}_{k}.JPEG', quality=95)
            start += n
    return root


CLASSIFIER_CONFIG = '''\
# Tiny ImageNet-style classifier for the tool tests (written by tests/helpers.py).
default_scope = 'mmpretrain'
data_root = {data_root!r}
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8,
                  norm_cfg=dict(type={norm!r}, requires_grad=True)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes={num_classes}, in_channels=64,
              loss=dict(type='CrossEntropyLoss'), topk=(1, )))
data_preprocessor = dict(num_classes={num_classes}, mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=36, edge='short'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size={batch_size}, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size={batch_size}, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='val',
                 pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[1], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs={max_epochs}, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False))
# as in OpenMMLab's GPU runtimes: nccl (the CPU shims switch to gloo)
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
visualizer = dict(type='UniversalVisualizer', vis_backends=[dict(type='LocalVisBackend')])
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
'''


def write_classifier_config(path: Path, data_root: Path, norm: str = 'BN', max_epochs: int = 1,
                            batch_size: int = 2, num_classes: int = len(WNIDS)) -> Path:
    """Write the tiny mmpretrain classifier config (ResNet-18 with 8 base channels, 32x32 input).

    Args:
        path: Config file to write (its stem is the default work dir name).
        data_root: Root of :func:`write_imagenet_folder`.
        norm: Backbone norm layer type (``'BN'``, ``'SyncBN'``).
        max_epochs: Training epochs.
        batch_size: Per-process batch size of every loader.
        num_classes: Number of classes (folders).

    Returns:
        ``path``.
    """
    path.write_text(CLASSIFIER_CONFIG.format(data_root=str(data_root), norm=norm, max_epochs=max_epochs,
                                             batch_size=batch_size, num_classes=num_classes))
    return path


def tool_env(**extra: str) -> Dict[str, str]:
    """The environment for a tool subprocess: this one without launcher variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_ENV}
    env.update(extra)
    return env


def run_tool(args: Sequence[str], cwd: Path, env: Optional[Dict[str, str]] = None,
             timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a repo tool as a user would: ``tools/*.py`` with the venv python, ``tools/*.sh`` with bash.

    Args:
        args: Tool path relative to the repo, then its arguments.
        cwd: Working directory.
        env: Environment; :func:`tool_env` if None.
        timeout: Seconds.

    Returns:
        The completed process (text output captured).
    """
    tool = str(REPO / args[0])
    cmd = ['bash', tool] if tool.endswith('.sh') else [PYTHON, tool]
    return subprocess.run(cmd + [str(a) for a in args[1:]], cwd=cwd, env=env or tool_env(),
                          capture_output=True, text=True, timeout=timeout)


_TOOL_MODULES: Dict[str, object] = {}


def load_tool_module(tool: str):
    """A repository tool (``tools/...py``, relative to the repo) imported as a module, once per
    process: for its ``main(argv)``, argument parser or functions."""
    import importlib.util

    path = REPO / tool
    module = _TOOL_MODULES.get(str(path))
    if module is None:
        spec = importlib.util.spec_from_file_location(f'tool_{path.stem}', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _TOOL_MODULES[str(path)] = module
    return module


def _process_state() -> Callable[[], None]:
    """Snapshot what a tool run in this process may change; returns the function that puts it
    back: the working directory, the environment, mmengine's current instances (default scope,
    logger, message hub, visualizer: every ``ManagerMixin`` class), torch's deterministic mode,
    thread count and the random states of torch, numpy and ``random``."""
    import random

    import torch
    from mmengine.utils import ManagerMixin

    def managers(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from managers(sub)

    cwd, environ = os.getcwd(), dict(os.environ)
    instances = {cls: dict(cls._instance_dict) for cls in set(managers(ManagerMixin))}
    deterministic = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    rng = torch.get_rng_state(), np.random.get_state(), random.getstate()

    def restore() -> None:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environ)
        for cls, saved in instances.items():
            cls._instance_dict.clear()
            cls._instance_dict.update(saved)
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)
        torch.set_rng_state(rng[0])
        np.random.set_state(rng[1])
        random.setstate(rng[2])

    return restore


def run_tool_in_process(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run a Python tool's ``main(argv)`` in this process, as :func:`run_tool` would run it.

    For the cases where a fresh process is not what the test checks (a refusal of bad input:
    status, error line, nothing written): they skip the 6 s start-up of the model stack. Every
    tool so called also runs as a subprocess in another test, which checks what a fresh process
    registers. The global state a tool may change is put back afterwards (see
    :func:`_process_state`), so later tests in this process see none of it.

    Args:
        args: Tool path relative to the repo (``tools/*.py`` with a ``main(argv)``), then its
            arguments.
        cwd: Working directory during the call.

    Returns:
        A completed process: ``main``'s return value (or ``SystemExit`` code, argparse's 2
        included) as ``returncode``, and what it printed.
    """
    import contextlib
    import io

    path = REPO / args[0]
    module = load_tool_module(args[0])
    out, err = io.StringIO(), io.StringIO()
    restore = _process_state()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = module.main([str(a) for a in args[1:]])
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if not isinstance(e.code, (int, type(None))):
                    print(e.code, file=sys.stderr)
    finally:
        restore()
    return subprocess.CompletedProcess([PYTHON, str(path)] + [str(a) for a in args[1:]],
                                       code or 0, out.getvalue(), err.getvalue())


def output_of(result: subprocess.CompletedProcess) -> str:
    """stdout and stderr of a finished tool."""
    return result.stdout + result.stderr


def run_logs(work_dir: Path) -> str:
    """The text of every Runner log under ``work_dir`` (``<timestamp>/<timestamp>.log``), oldest first."""
    return '\n'.join(p.read_text() for p in sorted(work_dir.glob('*/*.log')))


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ---- Pre-training config tests: whole photographs, ann-file layout, config shrinking ----------
SKIMAGE_PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'immunohistochemistry', 'hubble_deep_field')
TINY_IMG, TINY_PATCH = 64, 8  # 64 patches: every schedule of the study keeps >= 1 token


def photos(size: int = 96) -> List[np.ndarray]:
    """The scikit-image photographs as (size, size, 3) uint8 RGB arrays."""
    from PIL import Image
    from skimage import data

    return [np.asarray(Image.fromarray(getattr(data, name)()).convert('RGB').resize((size, size)))
            for name in SKIMAGE_PHOTOS]


def write_imagenet_annfile_layout(root: Path, splits: Sequence[str] = ('train', 'val'),
                                  wnids: Sequence[str] = ('n01440764', 'n01443537'),
                                  size: int = 96, num_images: int = 2) -> Path:
    """ImageNet in mmpretrain's ann-file layout: ``<split>/<wnid>/*.JPEG`` + ``meta/<split>.txt``.

    ``num_images`` photographs per split (at most 6), labelled round-robin over ``wnids``.
    """
    from PIL import Image

    (root / 'meta').mkdir(parents=True, exist_ok=True)
    images = photos(size)[:num_images]
    for split in splits:
        lines = []
        for i, img in enumerate(images):
            label = i % len(wnids)
            rel = f'{wnids[label]}/{wnids[label]}_{i}.JPEG'
            (root / split / wnids[label]).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(root / split / rel, quality=95)
            lines.append(f'{rel} {label}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return root


def vit_depth(arch) -> int:
    """Number of blocks of an mmpretrain ViT ``arch`` (name or dict)."""
    if isinstance(arch, (dict, ConfigDict)):
        return arch['num_layers']
    return VisionTransformer.arch_zoo[arch.lower()]['num_layers']


_SHRUNK_RUNS = count()


def shrink_pretrain_cfg(cfg: Config, data_root: Path, work_dir: Path, batch_size: int = 2) -> Config:
    """Shrink a pre-training config to a CPU-sized model and data, keeping its structure.

    The encoder keeps its depth (so the shot schedule is unchanged) but gets 32-d tokens on a
    64x64 input with 8x8 patches; the decoder gets one 16-d block. AMP becomes fp32 (CPU). The
    dataset keeps its type and pipeline (crop size shrunk) and reads ``data_root``.
    """
    model = cfg.model
    depth = vit_depth(model.backbone.arch)
    model.backbone.arch = dict(embed_dims=32, num_layers=depth, num_heads=2, feedforward_channels=64)
    model.backbone.img_size, model.backbone.patch_size = TINY_IMG, TINY_PATCH
    model.neck.update(num_patches=(TINY_IMG // TINY_PATCH)**2, patch_size=TINY_PATCH, embed_dim=32,
                      decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)
    model.head.patch_size = TINY_PATCH
    if cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':
        cfg.optim_wrapper.type = 'OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)
    loader = cfg.train_dataloader
    loader.update(batch_size=batch_size, num_workers=0, persistent_workers=False)
    loader.dataset.data_root = str(data_root)
    for t in loader.dataset.pipeline:
        if t['type'] in ('RandomResizedCrop', 'LoadRandomResizedCrop'):
            t['scale'] = TINY_IMG
    cfg.train_cfg.max_epochs = 1
    cfg.work_dir = str(work_dir)
    # mmengine names a Runner's logger and visualizer <config>_<timestamp>: two Runners built in
    # one process within one second would share them, and the second one's log would go to the
    # first one's work dir. A name per shrunk config keeps each run's files in its own work dir.
    cfg.experiment_name = f'{Path(work_dir).name}_{next(_SHRUNK_RUNS)}_{os.getpid()}'
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'),
                       mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0))
    return cfg


def tiny_vit_cfg_options(depth: int = 12) -> List[str]:
    """``--cfg-options`` that make a ViT pre-training config the model of
    :func:`shrink_pretrain_cfg` (same depth, 32-d tokens, 64x64 input, 8x8 patches, one 16-d decoder
    block, the crop at 64 px), for ``tools/*.py`` subprocesses run as a user runs them.

    Args:
        depth: The config's encoder depth (kept, so that the shot schedule stays valid).

    Returns:
        ``key=value`` strings.
    """
    arch = dict(embed_dims=32, num_layers=depth, num_heads=2, feedforward_channels=64)
    return (['model.backbone.arch._delete_=True']
            + [f'model.backbone.arch.{k}={v}' for k, v in arch.items()]
            + [f'model.backbone.img_size={TINY_IMG}', f'model.backbone.patch_size={TINY_PATCH}',
               f'model.neck.num_patches={(TINY_IMG // TINY_PATCH)**2}',
               f'model.neck.patch_size={TINY_PATCH}', 'model.neck.embed_dim=32',
               'model.neck.decoder_embed_dim=16', 'model.neck.decoder_depth=1',
               'model.neck.decoder_num_heads=2', f'model.head.patch_size={TINY_PATCH}',
               f'train_dataloader.dataset.pipeline.0.scale={TINY_IMG}'])


def write_own_images(root: Path, count: int = 6) -> List[Path]:
    """A user's folder of unlabelled photographs: PNG and JPEG files of different sizes and
    aspect ratios in nested sub-folders (one with an upper-case extension), plus a text file and an
    empty sub-folder, which a reader of the images must skip.

    Args:
        root: The folder (created).
        count: Number of images (at most 6).

    Returns:
        The image files, sorted.
    """
    layout = ('holiday/beach/img_000.jpg', 'holiday/img_001.PNG', 'img_002.png',
              'scans/2024/01/img_003.jpeg', 'scans/img_004.png', 'img_005.JPG')
    sizes = ((96, 72), (80, 80), (72, 120), (100, 64), (64, 64), (90, 70))  # (width, height)
    written = []
    for rel, (w, h), img in list(zip(layout, sizes, photos(128)))[:count]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).resize((w, h), Image.BICUBIC).save(
            path, **({'quality': 95} if path.suffix.lower() in ('.jpg', '.jpeg') else {}))
        written.append(path)
    (root / 'holiday' / 'notes.txt').write_text('not an image\n')
    (root / 'empty_album').mkdir(parents=True, exist_ok=True)
    return sorted(written)


# ---- The hierarchical pre-training configs (SimMIM Swin, FCMAE ConvNeXt V2) at CPU size -------
HIER_IMG = 96  # 3x3 mask cells of 32 px; Swin stage inputs of 24, 12, 6 and 3 tokens per side
SWIN_ARCH = dict(embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1])
SWIN_WINDOW = 3
CONVNEXT_ARCH = dict(depths=[1, 1, 1, 1], channels=[8, 16, 32, 64])
RESIZED_CROPS = ('RandomResizedCrop', 'LoadRandomResizedCrop')  # mmpretrain's, cmae_mm's fused one


def shrink_hierarchical_model(cfg: Config) -> Config:
    """Shrink a CMAESimMIM or FCMAE pre-training config's model and crop to CPU size, keeping
    the algorithm and the shot schedule: Swin with 4 one-block stages at 96 px, window 3 (a 3x3
    grid of 32-px mask cells, one stage-3 token each), ConvNeXt V2 with widths 8-64 at 96 px (the
    same 3x3 cells). The SimMIM mask generator is checked to be SimMIM's (32-px cells, 4-px model
    patches, the schedule's first ratio) and set to 96 px.

    Args:
        cfg: The config, modified in place.

    Returns:
        ``cfg``.
    """
    model = cfg.model
    pipeline = cfg.train_dataloader.dataset.pipeline
    if model.type == 'CMAESimMIM':
        model.backbone.update(arch=SWIN_ARCH, img_size=HIER_IMG,
                              stage_cfgs=dict(block_cfgs=dict(window_size=SWIN_WINDOW)))
        model.neck.in_channels = SWIN_ARCH['embed_dims'] * 2**3
        (gen, ) = [t for t in pipeline if t['type'] == 'SimMIMMaskGenerator']
        assert (gen.mask_patch_size, gen.model_patch_size, gen.mask_ratio) == (
            32, 4, model.backbone.mask_ratios[0])
        gen.input_size = HIER_IMG
    else:
        assert model.type == 'FCMAE', model.type
        model.backbone.update(arch=CONVNEXT_ARCH, img_size=HIER_IMG)
        model.neck.update(in_channels=CONVNEXT_ARCH['channels'][-1], embed_dims=16)
    for t in pipeline:
        if t['type'] in RESIZED_CROPS:
            t['scale'] = HIER_IMG
    return cfg


# ---- Official layouts of Stanford Dogs and Tiny ImageNet -------------------------------------
DOG_FOLDERS = ('n02085620-Chihuahua', 'n02085782-Japanese_spaniel', 'n02085936-Maltese_dog')
# (relative path, 1-based label) per split; every class has a train image.
DOG_LISTS = {
    'train': [('n02085620-Chihuahua/n02085620_10074.jpg', 1),
              ('n02085782-Japanese_spaniel/n02085782_82.jpg', 2),
              ('n02085936-Maltese_dog/n02085936_37.jpg', 3),
              ('n02085620-Chihuahua/n02085620_199.jpg', 1)],
    'test': [('n02085936-Maltese_dog/n02085936_233.jpg', 3),
             ('n02085782-Japanese_spaniel/n02085782_17.jpg', 2)],
}

TINY_WNIDS = ('n01443537', 'n01629819')
TINY_WORDS = ('n00001740\tentity\n'
              'n01443537\tgoldfish, Carassius auratus\n'
              'n01629819\tEuropean fire salamander, Salamandra salamandra\n')
TINY_VAL = [('val_0.JPEG', 'n01629819'), ('val_1.JPEG', 'n01443537'), ('val_2.JPEG', 'n01629819')]


def cell(strings: Sequence[str]) -> np.ndarray:
    """An N x 1 object array of strings: what ``savemat`` writes as a MATLAB cell array."""
    arr = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        arr[i, 0] = s
    return arr


def save_list(path: Path, entries: List[Tuple[str, float]], drop: str = '') -> None:
    """Write a Stanford Dogs list file (``file_list``, ``annotation_list``, ``labels``)."""
    fields = {'file_list': cell([rel for rel, _ in entries]),
              'annotation_list': cell([rel.rsplit('.', 1)[0] for rel, _ in entries]),
              'labels': np.array([[label] for _, label in entries], dtype=np.float64)}
    fields.pop(drop, None)
    savemat(str(path), fields)


def save_jpeg(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, quality=95)


def write_stanford_dogs(parent: Path) -> Path:
    """Stanford Dogs layout: Images/<wnid>-<breed>/*.jpg + lists/{train,test}_list.mat."""
    root = parent / 'StanfordDogs'
    imgs = cycle(photos(48))
    for folder in DOG_FOLDERS:
        (root / 'Images' / folder).mkdir(parents=True)
    for rel, _ in DOG_LISTS['train'] + DOG_LISTS['test']:
        save_jpeg(root / 'Images' / rel, next(imgs))
    (root / 'lists').mkdir()
    for split, entries in DOG_LISTS.items():
        save_list(root / 'lists' / f'{split}_list.mat', entries)
    return root


def write_tiny_imagenet(parent: Path) -> Path:
    """tiny-imagenet-200 layout with 2 classes, 2 train images each and 3 val images."""
    root = parent / 'tiny-imagenet-200'
    root.mkdir()
    imgs = cycle(photos(64))
    (root / 'wnids.txt').write_text('\n'.join(TINY_WNIDS) + '\n')
    (root / 'words.txt').write_text(TINY_WORDS)
    for wnid in TINY_WNIDS:
        boxes = []
        for i in range(2):
            save_jpeg(root / 'train' / wnid / 'images' / f'{wnid}_{i}.JPEG', next(imgs))
            boxes.append(f'{wnid}_{i}.JPEG\t0\t0\t63\t63')
        (root / 'train' / wnid / f'{wnid}_boxes.txt').write_text('\n'.join(boxes) + '\n')
    for name, _ in TINY_VAL:
        save_jpeg(root / 'val' / 'images' / name, next(imgs))
    write_val_annotations(root, [f'{name}\t{wnid}\t0\t5\t60\t62' for name, wnid in TINY_VAL])
    return root


def write_val_annotations(root: Path, lines: List[str]) -> None:
    (root / 'val' / 'val_annotations.txt').write_text('\n'.join(lines) + '\n')


# ---- Official layouts of the mmpretrain datasets used by the transfer configs -----------------
def write_flowers102(parent: Path, labels: Sequence[int] = (1, 2, 1, 2, 1, 2)) -> Path:
    """Flowers102: jpg/image_%05d.jpg, imagelabels.mat ('labels', 1 x N, 1-based), setid.mat
    ('trnid', 'valid', 'tstid': 1 x n image ids), as the official release (MATLAB v5 files)."""
    root = parent / 'Flowers102'
    imgs = cycle(photos(48))
    for i in range(1, len(labels) + 1):
        save_jpeg(root / 'jpg' / f'image_{i:05d}.jpg', next(imgs))
    savemat(str(root / 'imagelabels.mat'), {'labels': np.array([labels], dtype=np.float64)})
    savemat(str(root / 'setid.mat'), {'trnid': np.array([[1, 2]]), 'valid': np.array([[3, 4]]),
                                      'tstid': np.array([[5, 6]])})
    return root


CUB_CLASSES = ('001.Black_footed_Albatross', '002.Laysan_Albatross')


def write_cub(parent: Path) -> Path:
    """CUB_200_2011: images/<class>/*.jpg, images.txt, image_class_labels.txt,
    train_test_split.txt (1 = train), classes.txt; 3 train and 2 test images."""
    root = parent / 'CUB_200_2011'
    imgs = cycle(photos(48))
    images, labels, split = [], [], []
    for i, is_train in enumerate((1, 1, 1, 0, 0), start=1):
        label = i % 2 + 1
        rel = f'{CUB_CLASSES[label - 1]}/{CUB_CLASSES[label - 1][4:]}_{i:04d}_{100 + i}.jpg'
        save_jpeg(root / 'images' / rel, next(imgs))
        images.append(f'{i} {rel}')
        labels.append(f'{i} {label}')
        split.append(f'{i} {is_train}')
    for name, lines in (('images.txt', images), ('image_class_labels.txt', labels),
                        ('train_test_split.txt', split),
                        ('classes.txt', [f'{k} {c}' for k, c in enumerate(CUB_CLASSES, 1)])):
        (root / name).write_text('\n'.join(lines) + '\n')
    return root


def write_dtd(parent: Path) -> Path:
    """dtd: images/<texture>/<texture>_NNNN.jpg and imdb/imdb.mat, a struct 'images' with fields
    id, name (relative to images/), set (1 train, 2 val, 3 test) and class (1-based)."""
    root = parent / 'dtd'
    imgs = cycle(photos(48))
    entries = [('banded/banded_0002.jpg', 1, 1), ('blotchy/blotchy_0003.jpg', 1, 2),
               ('banded/banded_0004.jpg', 2, 1), ('blotchy/blotchy_0005.jpg', 2, 2),
               ('banded/banded_0006.jpg', 3, 1), ('blotchy/blotchy_0007.jpg', 3, 2)]
    for rel, _, _ in entries:
        save_jpeg(root / 'images' / rel, next(imgs))
    names = np.empty((1, len(entries)), dtype=object)
    names[0] = [rel for rel, _, _ in entries]
    (root / 'imdb').mkdir()
    savemat(str(root / 'imdb' / 'imdb.mat'), {'images': {
        'id': np.arange(1, len(entries) + 1)[None], 'name': names,
        'set': np.array([[s for _, s, _ in entries]]), 'class': np.array([[c for _, _, c in entries]])}})
    return root


def _pickle(path: Path, obj: dict) -> None:
    import pickle
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=2))


def write_cifar(parent: Path, num_classes: int = 10, per_file: int = 2) -> Path:
    """The official python CIFAR release: ``cifar-10-batches-py/{data_batch_1..5, test_batch,
    batches.meta}`` or ``cifar-100-python/{train, test, meta}``; each batch a pickled dict with
    ``data`` (N, 3072) uint8 rows (R, G, B planes of a 32x32 image) and ``labels`` /
    ``fine_labels``. The images are real photographs downsized to 32x32.

    Returns:
        The data root (parent of the release folder).
    """
    root = parent / f'cifar{num_classes}'
    imgs = cycle(photos(32))

    def batch(n: int, offset: int) -> dict:
        data = np.stack([next(imgs).transpose(2, 0, 1).reshape(-1) for _ in range(n)])
        labels = [(offset + k) % num_classes for k in range(n)]
        key = 'labels' if num_classes == 10 else 'fine_labels'
        return {'batch_label': 'fake', key: labels, 'data': data,
                'filenames': [f'img_{offset + k}.png' for k in range(n)]}

    if num_classes == 10:
        folder = root / 'cifar-10-batches-py'
        for b in range(1, 6):
            _pickle(folder / f'data_batch_{b}', batch(per_file, b))
        _pickle(folder / 'test_batch', batch(per_file, 0))
        _pickle(folder / 'batches.meta', {'label_names': [f'class{c}' for c in range(10)]})
    else:
        folder = root / 'cifar-100-python'
        _pickle(folder / 'train', batch(per_file * 2, 1))
        _pickle(folder / 'test', batch(per_file, 0))
        _pickle(folder / 'meta', {'fine_label_names': [f'class{c}' for c in range(100)],
                                  'coarse_label_names': [f'super{c}' for c in range(20)]})
    return root


def cifar_checksums(root: Path, cls) -> dict:
    """Class attributes of mmpretrain's ``CIFAR10``/``CIFAR100`` with the MD5 sums of the files
    under ``root`` in place of the official release's (for ``monkeypatch.setattr``)."""
    import hashlib

    def md5(name: str) -> str:
        return hashlib.md5((root / cls.base_folder / name).read_bytes()).hexdigest()

    return dict(train_list=[[n, md5(n)] for n, _ in cls.train_list],
                test_list=[[n, md5(n)] for n, _ in cls.test_list],
                meta=dict(cls.meta, md5=md5(cls.meta['filename'])))


# ---- COCO instances and ADE20K in their official layouts --------------------------------------
# The official ids of COCO's 80 categories (names: mmdet's CocoDataset.METAINFO['classes']).
COCO_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
            27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51,
            52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77,
            78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90)


def _polygon(cx: float, cy: float, r: float, k: int = 8) -> List[float]:
    """A k-gon around (cx, cy) as COCO's flat [x1, y1, x2, y2, ...] polygon."""
    angles = np.linspace(0, 2 * np.pi, k, endpoint=False)
    return [float(v) for a in angles for v in (cx + r * np.cos(a), cy + 0.8 * r * np.sin(a))]


def write_coco(parent: Path, splits: Dict[str, int] = None, size: Tuple[int, int] = (96, 72)) -> Path:
    """COCO instance segmentation: ``{train2017,val2017}/<id:012d>.jpg`` and
    ``annotations/instances_{split}2017.json`` with images, polygon annotations (``segmentation``,
    ``bbox`` = the polygon's box, ``area``, ``iscrowd``) of a person and a cat per image, and
    COCO's 80 categories with their official ids and names.

    Args:
        parent: Folder to create ``coco/`` in.
        splits: Images per split; default ``{'train': 2, 'val': 2}``.
        size: (width, height) of the photographs.

    Returns:
        The data root (``.../coco``).
    """
    import json

    from mmdet.datasets import CocoDataset

    categories = [dict(id=i, name=n, supercategory='none')
                  for i, n in zip(COCO_IDS, CocoDataset.METAINFO['classes'])]
    root = parent / 'coco'
    (root / 'annotations').mkdir(parents=True)
    imgs = cycle(photos(max(size)))
    w, h = size
    ann_id = 1
    for split, count in (splits or {'train': 2, 'val': 2}).items():
        images, anns = [], []
        for i in range(count):
            img_id = 1000 * (split == 'val') + i + 1
            name = f'{img_id:012d}.jpg'
            save_jpeg(root / f'{split}2017' / name, next(imgs)[:h, :w])
            images.append(dict(id=img_id, file_name=name, width=w, height=h))
            for j, cat_id in enumerate((1, 17)):  # person, cat
                poly = _polygon(w * (0.3 + 0.4 * j), h * 0.5, min(w, h) * (0.2 + 0.05 * i))
                xs, ys = poly[0::2], poly[1::2]
                box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
                anns.append(dict(id=ann_id, image_id=img_id, category_id=cat_id, segmentation=[poly],
                                 bbox=box, area=box[2] * box[3] * 0.7, iscrowd=0))
                ann_id += 1
        (root / 'annotations' / f'instances_{split}2017.json').write_text(json.dumps(dict(
            info=dict(description='cmae-mm test set', version='1.0', year=2026), licenses=[],
            images=images, annotations=anns, categories=categories)))
    return root


def write_ade20k(parent: Path, splits: Dict[str, int] = None, size: int = 80) -> Path:
    """ADEChallengeData2016: ``images/{training,validation}/ADE_*.jpg`` and
    ``annotations/{training,validation}/ADE_*.png`` (uint8 class ids, 0 = other). The labels
    segment each photograph by brightness into classes 1-4.

    Returns:
        The data root (``.../ade/ADEChallengeData2016``).
    """
    root = parent / 'ade' / 'ADEChallengeData2016'
    imgs = cycle(photos(size))
    for split, count in (splits or {'training': 2, 'validation': 2}).items():
        for i in range(count):
            name = f'ADE_{split[:5]}_{i + 1:08d}'
            img = next(imgs)
            save_jpeg(root / 'images' / split / f'{name}.jpg', img)
            label = (1 + img.mean(axis=2) // 64).astype(np.uint8)
            label[:4] = 0  # a strip of 'other' (ignored after reduce_zero_label)
            (root / 'annotations' / split).mkdir(parents=True, exist_ok=True)
            Image.fromarray(label).save(root / 'annotations' / split / f'{name}.png')
    return root


def load_runner_checkpoint(path) -> dict:
    """A whole Runner checkpoint (optimizer, message hub, ...), loaded with torch's default
    ``weights_only=True`` under the suite's scoped allowlist (as ``--resume`` loads it)."""
    import torch

    from cmae_mm.engine.checkpoint import trusted_globals

    with trusted_globals():
        return torch.load(path)
