"""Every pre-training config builds its model and trains one iteration on CPU.

* Every config under configs/selfsup/ (ImageNet-1K runs, the 168-member ImageNet-100 study, the
  demo): model build from the config, its optimiser wrapper, one ``train_step`` on real photos
  through the config's data preprocessor, shrunk to 32-d tokens (same depth and schedule).
* One config per distinct data/schedule/runtime setting additionally runs one iteration through
  the real mmengine Runner on a tiny on-disk dataset in the real ImageNet ann-file layout.
* Naming and inheritance of every family's pre-training configs (ViT, SimMIM-Swin, FCMAE): one
  name scheme, mmpretrain's ``{algorithm}_{backbone}_{N}xb{B}-{tricks}-{E}e_{dataset}[-{px}]``, in
  one folder per family; the kept short names are two-line redirects; each baseline is a sibling
  of its Conditional MAE config on a shared recipe base (configs/_base_/recipes/) and differs from
  it in the shot schedule only; at most 3 levels of ``_base_``.
"""
import re
import warnings
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import cmae_mm.components  # noqa: F401
from cmae_mm.engine.runner import default_work_dir
from helpers import (REPO as ROOT, TINY_IMG, base_chain, config_bases, inheritance_depth, photos,
                     load_tool_module, shrink_pretrain_cfg, write_imagenet_annfile_layout)



# The ViT family's pre-training configs (the SimMIM-Swin and FCMAE configs are proven by
# tests/test_configs_hierarchical.py).
SELFSUP = sorted(p for p in (ROOT / 'configs' / 'selfsup').rglob('*.py')
                 if 'simmim' not in p.name and 'fcmae' not in p.name)
STUDY = [p for p in SELFSUP if p.parent.name == 'in100']
# Every config builds its model; one step is trained for all but the generated study members,
# of which a representative sample trains: one member per family and architecture.
# (the 1-channel Fashion-MNIST config trains on its own idx data in test_fashion_mnist.py)
TRAINED = [p for p in SELFSUP if p not in STUDY and 'fashion-mnist' not in p.name] + [
    ROOT / 'configs/selfsup/in100' / f'cmae_vit-{arch}-p16_{tag}_in100.py'
    for arch in ('small', 'base')
    for tag in ('L0_r0.75', 'L6_r0.9', 'L0-10_r0.75-0.1', 'L0_r0.775', 'L0-10-11_r0.75-0.1-0.1',
                'L0-10_r0.75-0.15_w0.75-0.15')]
RUNNER_CONFIGS = [
    'configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py',
    'configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py',
    'configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py',
    'configs/selfsup/cmae/cmae_vit-large-p16_8xb128-amp-coslr-300e_in1k.py',
    'configs/selfsup/in100/cmae_vit-small-p16_L0-10_r0.75-0.1_in100.py',
    'configs/selfsup/in100/cmae_vit-base-p16_L0-10-11_r0.75-0.1-0.1_in100.py',
]


def test_study_grid_is_complete_and_in_sync():
    names = [p.stem for p in (ROOT / 'configs' / 'selfsup' / 'in100').glob('*.py')]
    assert len(names) == 168 == len(set(names))
    generator = load_tool_module('tools/study/make_in100_configs.py')
    stale = [p.name for p, text in generator.expected_files().items()
             if not p.exists() or p.read_text() != text]
    assert not stale, f'run tools/study/make_in100_configs.py: {stale[:5]}'


@pytest.fixture(scope='module')
def quiet_logger():
    """mmengine logs every parameter at INFO when building optimisers and initialising weights."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')
    yield
    logger.setLevel(level)


@pytest.fixture(scope='module')
def photo_batch():
    imgs = photos(TINY_IMG)[:2]
    # As the configs' default_collate delivers it: a stacked uint8 batch.
    return dict(inputs=torch.stack([torch.tensor(i).permute(2, 0, 1) for i in imgs]),
                data_samples=[DataSample() for _ in imgs])


@pytest.mark.parametrize('path', [p for p in SELFSUP if p not in TRAINED],
                         ids=lambda p: str(p.relative_to(ROOT / 'configs')))
def test_config_builds(path, quiet_logger, tmp_path):
    cfg = shrink_pretrain_cfg(Config.fromfile(str(path)), tmp_path, tmp_path)
    model = MODELS.build(cfg.model)
    build_optim_wrapper(model, cfg.optim_wrapper)
    assert list(model.backbone.schedule.layers) == list(cfg.model.backbone.mask_layers)
    assert list(model.backbone.schedule.ratios) == list(cfg.model.backbone.mask_ratios)


@pytest.mark.parametrize('path', TRAINED, ids=lambda p: str(p.relative_to(ROOT / 'configs')))
def test_config_builds_and_trains_one_step(path, photo_batch, quiet_logger, tmp_path):
    cfg = shrink_pretrain_cfg(Config.fromfile(str(path)), tmp_path, tmp_path)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = model.backbone.layers[-1].ffn.layers[1].weight.detach().clone()
    log_vars = model.train_step(photo_batch, optim_wrapper)
    schedule = model.backbone.schedule
    assert list(schedule.layers) == list(cfg.model.backbone.mask_layers)
    assert torch.isfinite(log_vars['loss'])
    assert {f'rec_err_shot{s}' for s in range(1, schedule.num_shots + 1)} <= set(log_vars)
    assert not torch.equal(before, model.backbone.layers[-1].ffn.layers[1].weight)


@pytest.mark.parametrize('rel', RUNNER_CONFIGS)
def test_config_runs_one_runner_iteration(rel, tmp_path):
    data_root = write_imagenet_annfile_layout(tmp_path / 'data', splits=('train', ))
    cfg = shrink_pretrain_cfg(Config.fromfile(str(ROOT / rel)), data_root, tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    assert (tmp_path / 'work' / 'epoch_1.pth').exists()
    scalars = (next((tmp_path / 'work').glob('*/vis_data/scalars.json'))).read_text()
    assert '"rec_err_shot1"' in scalars and '"loss"' in scalars


# ---- naming and inheritance of the pre-training configs -----------------------------------------
SEL = ROOT / 'configs' / 'selfsup'
#: The short names kept for the commands of README.md (and what users type), as two-line redirects:
#: redirect -> the canonical config it stands for.
REDIRECTS = {
    'configs/selfsup/cmae_vitb_300e.py': 'configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py',
}
#: mmpretrain's scheme: {algorithm}_{backbone}_{N}xb{B}-{tricks}-{E}e_{dataset}[-{px}].py
SCHEME = re.compile(r'(?P<algorithm>[a-z0-9]+(?:-[a-z0-9]+)*)_(?P<backbone>[a-z0-9]+(?:-[a-z0-9.]+)*)'
                    r'_(?P<gpus>\d+)xb(?P<batch>\d+)(?:-(?P<tricks>[A-Za-z0-9.-]+?))?-(?P<epochs>\d+)e'
                    r'_(?P<dataset>[a-z0-9]+(?:-[a-z0-9]+)*?)(?:-(?P<px>\d+)px)?\.py')
#: One folder per family: the method (cmae...) and its baseline side by side.
FAMILY_FOLDERS = {'cmae': ('cmae', 'mae'), 'simmim': ('cmae-simmim', 'simmim'),
                  'fcmae': ('cmae-fcmae', 'fcmae')}
DATASET_TYPES = {'in1k': 'ImageNet', 'in100': 'ImageNet100', 'own-images': 'UnlabeledImageFolder'}
#: Shared component bases that method and baseline configs may both inherit (model definition and
#: optimiser schedule; the shot schedule is set by each pre-training config).
SHARED_COMPONENTS = (ROOT / 'configs/_base_/models', ROOT / 'configs/_base_/schedules')
#: Not renamed: the CPU demos and the generated ImageNet-100 study grid.
PRETRAIN_CONFIGS = sorted(p for p in SEL.rglob('*.py') if p.parent.name != 'in100'
                          and 'fashion-mnist' not in p.name and 'digits' not in p.name)
CANONICAL = [p for p in PRETRAIN_CONFIGS if str(p.relative_to(ROOT)) not in REDIRECTS]
BASELINES = [p for p in CANONICAL if not p.name.startswith('cmae')]


def rel(path: Path) -> str:
    return str(Path(path).relative_to(ROOT))


def merged(path) -> dict:
    """The merged config as a dict, without importing the configs' custom modules."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return Config.fromfile(str(path), import_custom_modules=False).to_dict()


def dict_diff(a, b, prefix: str = '') -> set:
    """Dotted keys whose values differ between two nested dicts (lists compared whole)."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return set() if a == b else {prefix}
    keys = set()
    for key in set(a) | set(b):
        keys |= dict_diff(a.get(key, '<missing>'), b.get(key, '<missing>'), f'{prefix}{key}.')
    return {k.rstrip('.') for k in keys}


def sibling(baseline: Path) -> Path:
    """The Conditional MAE config of a baseline: mae_x -> cmae_x, simmim_x -> cmae-simmim_x."""
    algorithm = baseline.name.split('_', 1)[0]
    method = 'cmae' if algorithm == 'mae' else f'cmae-{algorithm}'
    return baseline.with_name(method + baseline.name[len(algorithm):])


def test_the_renamed_families_are_all_found():
    assert len(CANONICAL) == 24 and len(BASELINES) == 10 and len(REDIRECTS) == 1
    # beside the family folders: the redirects and the (not renamed) CPU demos only
    assert {p.name for p in SEL.glob('*.py')} == {Path(r).name for r in REDIRECTS} | {
        'cmae_vit-tiny-p4_fashion-mnist.py', 'cmae_vit-tiny-p4_digits_demo.py'}


@pytest.mark.parametrize('path', CANONICAL, ids=rel)
def test_pretrain_config_name_follows_the_scheme_and_states_what_it_runs(path):
    match = SCHEME.fullmatch(path.name)
    assert match, f'{rel(path)}: not {{algorithm}}_{{backbone}}_{{N}}xb{{B}}-{{tricks}}-{{E}}e_{{dataset}}'
    name = match.groupdict()
    assert name['algorithm'] in FAMILY_FOLDERS[path.parent.name], 'in the folder of its family'
    assert 'convnextv2' not in path.name
    cfg = merged(path)
    gpus, batch = int(name['gpus']), int(name['batch'])
    assert cfg['train_dataloader']['batch_size'] == batch
    assert cfg['auto_scale_lr']['base_batch_size'] == gpus * batch
    assert cfg['train_cfg']['max_epochs'] == int(name['epochs'])
    tricks = (name['tricks'] or '').split('-')
    assert ('amp' in tricks) == (cfg['optim_wrapper']['type'] == 'AmpOptimWrapper')
    assert cfg['train_dataloader']['dataset']['type'] == DATASET_TYPES[name['dataset']]
    if name['px']:
        assert cfg['model']['backbone']['img_size'] == int(name['px'])
    layers = re.search(r'L(\d+(?:-\d+)*)', name['tricks'] or '')
    if layers:  # a shot schedule in the name is the config's
        assert cfg['model']['backbone']['mask_layers'] == [int(x) for x in layers.group(1).split('-')]


@pytest.mark.parametrize('redirect', list(REDIRECTS))
def test_short_name_is_a_two_line_redirect_to_its_canonical_config(redirect):
    """``tools/dist_train.sh configs/selfsup/cmae_vitb_300e.py 8`` (README) runs exactly the
    canonical config, in the canonical config's work dir."""
    path, target = ROOT / redirect, ROOT / REDIRECTS[redirect]
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    comments = [line for line in lines if line.startswith('#')]
    assert len(lines) == 2 and len(comments) == 1, 'a comment naming the target + one _base_ line'
    assert target.name in comments[0]
    assert config_bases(path) == [str(target.resolve())] and target in CANONICAL
    assert merged(path) == merged(target)
    assert default_work_dir(redirect) == default_work_dir(REDIRECTS[redirect]) == \
        f'work_dirs/{target.stem}'
    used = [f for f in ('README.md', 'Makefile') if (ROOT / f).is_file()
            and re.search(rf'tools/dist_train\.sh {re.escape(redirect)} \d', (ROOT / f).read_text())]
    assert used, f'{redirect}: no README/Makefile command uses it; remove the redirect'


@pytest.mark.parametrize('path', BASELINES, ids=rel)
def test_baseline_is_a_sibling_of_its_method_config_not_a_child(path):
    """A baseline and its Conditional MAE config inherit one recipe base: a change to the method's
    config cannot change the baseline, and the two differ in the shot schedule only."""
    method = sibling(path)
    assert method.is_file(), rel(method)
    chain = [Path(b) for b in base_chain(path) if '::' not in b]
    methods = [rel(b) for b in chain if b.name.startswith('cmae')
               and not any(d in b.parents for d in SHARED_COMPONENTS)]
    assert not methods, f'{rel(path)} inherits a Conditional MAE config: {methods}'
    assert config_bases(path) == config_bases(method)
    assert Path(config_bases(path)[0]).parent == ROOT / 'configs/_base_/recipes'
    assert dict_diff(merged(path), merged(method)) == {'model.backbone.mask_layers',
                                                        'model.backbone.mask_ratios'}


@pytest.mark.parametrize('path', CANONICAL, ids=rel)
def test_pretrain_config_inherits_at_most_three_levels(path):
    # (the redirect adds one level above its target's three)
    assert inheritance_depth(path) <= 3
