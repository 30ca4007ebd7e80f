"""The study's dense transfer evaluations (cmae_mm/study/dense.py): ``segmentation`` and
``detection`` on a tiny Fashion-MNIST scene set, through ``tools/train.py --pretrained`` and
``tools/test.py`` as subprocesses (the real path), and the dense study file.

The scene set (16 / 4 / 4 scenes of 64 px) is written by the generator from fake idx files; the
pre-training checkpoints are freshly initialised Fashion-MNIST pre-training models (64-d, 12
blocks: the scene configs' encoder). Every run is 2 iterations of batch 2, one thread.
"""
import json
import math
import os
from pathlib import Path

import pytest
import yaml

from cmae_mm.datasets.fashion_mnist_scenes import SEG_CLASSES, make_fashion_mnist_scenes
from cmae_mm.study.dense import class_slug, detection, iter_schedule_options, segmentation
from cmae_mm.study.spec import StudySpecError, load_study, parse_study
from helpers import REPO
from test_configs_scenes import write_pretrain_checkpoint
from test_fashion_mnist_scenes import write_fake_fmnist

SMALL = {'train_dataloader.batch_size': 2, 'default_hooks.logger.interval': 1}
SEG_KEYS = {'seg_miou', 'seg_aacc', 'seg_macc'} | {f'seg_iou_{class_slug(c)}' for c in SEG_CLASSES}
DET_KEYS = {f'det_{kind}_map{iou}' for kind in ('bbox', 'segm') for iou in ('', '_50', '_75')}


@pytest.fixture(scope='module')
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scene set, two runs' pre-training checkpoints (``study/{mae,cmae}_seed0/epoch_5.pth``)
    and one thread per tool process (as the configs' timings are taken)."""
    import torch

    root = tmp_path_factory.mktemp('dense_study')
    source = write_fake_fmnist(root / 'fake_fashion_mnist', train_per_class=8)
    make_fashion_mnist_scenes(source, root / 'scenes', {'train': 16, 'val': 4, 'test': 4},
                              seed=0, log=lambda _: None)
    for k, run in enumerate(('mae_seed0', 'cmae_seed0')):
        torch.manual_seed(k)
        write_pretrain_checkpoint(root / 'study' / run / 'epoch_5.pth')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('OMP_NUM_THREADS', '1')
        yield root


def same(a: dict, b: dict) -> bool:
    """Equal metrics, NaN (a class without pixels) equal to NaN."""
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def launches(log: Path, tool: str) -> int:
    """How many times ``tools/<tool>.py`` was launched into a dense work dir's log."""
    return sum(line.startswith(f'$ tools/{tool}.py ') for line in log.read_text().splitlines())


def test_segmentation_arm_controls_once_per_seed_and_saved_scores(ws):
    """Two runs of seed 0: each arm fine-tunes from its checkpoint; the control at the arm's
    recipe and the one with its own recipe train once in controls_dir and the second run reuses
    them; a saved score is reused, a trained work dir only re-scored, other options refused."""
    options = dict(iters=2, score_on='val', data_root=str(ws / 'scenes'), cfg_options=SMALL,
                   controls_dir=str(ws / 'controls'),
                   scratch=dict(iters=2, cfg_options={**SMALL, 'optim_wrapper.paramwise_cfg.'
                                                      'layer_decay_rate': 1.0}))
    mae = segmentation(None, ws / 'study/mae_seed0/epoch_5.pth', 0, **options)
    controls = {'_from_scratch', '_from_scratch_tuned'}
    assert set(mae) == SEG_KEYS | {k + s for k in SEG_KEYS for s in controls}
    for suffix in ('', ) + tuple(controls):
        assert 0 <= mae['seg_miou' + suffix] <= 100 and 0 <= mae['seg_aacc' + suffix] <= 100
        per_class = [mae[f'seg_iou_{class_slug(c)}{suffix}'] for c in SEG_CLASSES]
        assert all(math.isnan(v) or 0 <= v <= 100 for v in per_class)
        shown = [v for v in per_class if not math.isnan(v)]
        assert abs(sum(shown) / len(shown) - mae['seg_miou' + suffix]) <= 0.011
    arm = ws / 'study/mae_seed0/segmentation_val'
    assert (arm / 'iter_2.pth').is_file() and (arm / 'val_metrics.json').is_file()
    log = (arm / 'segmentation.log').read_text()
    assert f'--pretrained {ws}/study/mae_seed0/epoch_5.pth' in log
    assert 'TransferViT: loaded 148 tensors' in log
    assert 'test_dataloader.dataset.data_prefix.img_path=images/validation' in log
    assert 'per class results:' in log

    seg = sorted(p for p in (ws / 'controls').iterdir() if p.is_dir())
    assert [p.name.rsplit('-', 1)[0] for p in seg] == ['segmentation', 'segmentation-scratch']
    assert all(p.name.endswith('_seed0') for p in seg)
    handicapped, tuned = seg
    assert 'layer_decay_rate=1.0' in (tuned / 'segmentation.log').read_text()
    assert 'TransferViT: loaded' not in (handicapped / 'segmentation.log').read_text()
    stamps = {p: (p / 'iter_2.pth').stat().st_mtime_ns for p in seg}

    cmae = segmentation(None, ws / 'study/cmae_seed0/epoch_5.pth', 0, **options)
    assert set(cmae) == set(mae)
    assert same({k: v for k, v in cmae.items() if k.endswith(('_from_scratch', '_tuned'))},
                {k: v for k, v in mae.items() if k.endswith(('_from_scratch', '_tuned'))})
    for control in seg:  # trained and scored once: the second run read the saved score
        assert launches(control / 'segmentation.log', 'train') == 1
        assert launches(control / 'segmentation.log', 'test') == 1
        assert (control / 'iter_2.pth').stat().st_mtime_ns == stamps[control]

    # a saved score is reused without launching anything
    assert same(segmentation(None, ws / 'study/mae_seed0/epoch_5.pth', 0, **options), mae)
    assert launches(arm / 'segmentation.log', 'train') == 1
    saved = json.loads((arm / 'val_metrics.json').read_text())
    assert saved['mIoU'] == mae['seg_miou'] and 'IoU.background' in saved
    # without the saved score, the trained work dir is only scored again (same checkpoint)
    (arm / 'val_metrics.json').unlink()
    again = segmentation(None, ws / 'study/mae_seed0/epoch_5.pth', 0,
                         **dict(options, from_scratch=False, scratch=None))
    assert same(again, {k: mae[k] for k in again}) and set(again) == SEG_KEYS
    assert launches(arm / 'segmentation.log', 'train') == 1
    assert launches(arm / 'segmentation.log', 'test') == 2
    # a work dir trained with other options is refused, not reused
    with pytest.raises(ValueError, match=r'segmentation: .*segmentation_val was trained with '
                                         r"other options \(.*train_cfg.max_iters: 2 -> 3"):
        segmentation(None, ws / 'study/mae_seed0/epoch_5.pth', 0, **dict(options, iters=3))


def test_detection_reports_box_and_mask_map(ws):
    metrics = detection(None, ws / 'study/mae_seed0/epoch_5.pth', 0, iters=2, score_on='val',
                        from_scratch=False, data_root=str(ws / 'scenes'),
                        cfg_options={**SMALL, 'model.test_cfg.rcnn.score_thr': 0.0})
    assert set(metrics) == DET_KEYS
    assert all(math.isnan(v) or 0 <= v <= 100 for v in metrics.values()), metrics
    arm = ws / 'study/mae_seed0/detection_val'
    saved = json.loads((arm / 'val_metrics.json').read_text())
    assert saved['coco/bbox_mAP'] * 100 == pytest.approx(metrics['det_bbox_map'])
    log = (arm / 'detection.log').read_text()
    assert f'test_evaluator.ann_file={ws}/scenes/annotations/instances_val.json' in log
    # a seed outside `seeds` is not evaluated
    assert detection(None, ws / 'study/cmae_seed0/epoch_5.pth', 0, seeds=[1],
                     data_root=str(ws / 'scenes')) == {}
    assert not (ws / 'study/cmae_seed0/detection').exists()


def test_bad_options_fail_in_one_line_naming_the_value(ws, tmp_path):
    ckpt = ws / 'study/mae_seed0/epoch_5.pth'
    cases = [(dict(config='configs/nope.py'), r"segmentation: config 'configs/nope.py' not "
                                              r'found .*default: configs/mmseg/'),
             (dict(scratch=dict(lr=1)), r"segmentation scratch: unknown key\(s\) \['lr'\]; "
                                        'allowed: config, iters, warmup, cfg_options'),
             (dict(score_on='train'), "score_on='train': allowed: test, val"),
             (dict(iters=1), 'iters=1: must be an integer >= 2'),
             (dict(iters=10, warmup=10), r'warmup=10: must be an integer in 1\.\.9'),
             (dict(seeds='0'), "seeds='0': allowed: a list of integers"),
             (dict(data_root=str(tmp_path)), 'segmentation: no scene set in')]
    for options, message in cases:
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            segmentation(None, ckpt, 0, **options)
    with pytest.raises(FileNotFoundError, match='detection: no pre-training checkpoint'):
        detection(None, tmp_path / 'missing.pth', 0, data_root=str(ws / 'scenes'))
    data = dict(name='x', base_config='configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py',
                runs=[dict(name='mae', mask_layers=[0], mask_ratios=[0.75])],
                evaluations=[dict(name='segmentation', lr=1e-3)])
    with pytest.raises(StudySpecError, match=r"segmentation: unknown option\(s\) 'lr'; allowed: "
                                             'config, iters, warmup'):
        parse_study(data)


def test_recipe_search_tool_records_the_validation_curve(ws, tmp_path):
    """``tools/analysis/scenes_recipe_search.py`` as a user runs it: a from-scratch trial of 3
    iterations validated every iteration writes its options, the 3-point validation curve, the
    logged losses and the per-class final score; a second call only reads the finished work dir;
    a missing checkpoint is one line naming it."""
    from helpers import output_of, run_tool

    args = ['tools/analysis/scenes_recipe_search.py', '--name', 'scratch_t', '--iters', '3',
            '--warmup', '1', '--val-interval', '1', '--data-root', ws / 'scenes',
            '--work-root', tmp_path / 'trials', '--out-dir', tmp_path / 'records',
            '--set', 'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1',
            'optim_wrapper.paramwise_cfg.layer_decay_rate=1.0']
    result = run_tool(args, REPO)
    assert result.returncode == 0, output_of(result)
    record = json.loads((tmp_path / 'records/scratch_t.json').read_text())
    assert record['checkpoint'] is None and record['split'] == 'validation scenes'
    assert record['cfg_options']['model.backbone.init_cfg'] is None
    assert record['cfg_options']['optim_wrapper.paramwise_cfg.layer_decay_rate'] == 1.0
    assert [v['iteration'] for v in record['validation']] == [1, 2, 3]
    assert [v['iteration'] for v in record['train_loss_logged']] == [1, 2, 3]
    assert record['final']['seg_miou'] == record['validation'][-1]['mIoU']
    assert set(record['final']) == SEG_KEYS
    log = tmp_path / 'trials/scratch_t/segmentation.log'
    assert launches(log, 'train') == 1 and 'images/validation' in log.read_text()
    again = run_tool(args, REPO)
    assert again.returncode == 0 and launches(log, 'train') == 1, output_of(again)
    missing = run_tool(args[:3] + ['--checkpoint', tmp_path / 'none.pth'] + args[3:], REPO)
    assert missing.returncode == 2
    assert output_of(missing).strip().splitlines()[-1] == (
        f'scenes_recipe_search: recipe trial scratch_t: no pre-training checkpoint '
        f'{tmp_path}/none.pth')


def test_schedules_scale_with_the_configs_shares():
    """The configs' warm-up, milestones, validation and checkpoints keep their share of a
    shorter run."""
    from cmae_mm.study.dense import DETECTION_CONFIG, SEGMENTATION_CONFIG, _load_config

    seg = iter_schedule_options(_load_config(SEGMENTATION_CONFIG), 2000)
    assert seg == {'train_cfg.max_iters': 2000, 'param_scheduler.0.begin': 0,
                   'param_scheduler.0.end': 38, 'param_scheduler.1.begin': 38,
                   'param_scheduler.1.end': 2000, 'train_cfg.val_interval': 500,
                   'default_hooks.checkpoint.interval': 500}
    det = iter_schedule_options(_load_config(DETECTION_CONFIG), 1000, warmup=20)
    assert det['param_scheduler.0.end'] == 20 and det['param_scheduler.1.begin'] == 0
    assert det['param_scheduler.1.end'] == 1000
    assert det['param_scheduler.1.milestones'] == [700, 900]


def test_dense_study_files_pair_the_pretraining_runs_of_fmnist_pt5e():
    """One study file per dense task, each pairing exactly fmnist_pt5e's two pre-training runs,
    with the tuned control in the shared controls folder and the handicapped one off."""
    pt5e = load_study(REPO / 'configs/study/fmnist_pt5e.yml')
    for name, task, seeds in (('fmnist_scenes_upernet', 'segmentation', (0, 1, 2)),
                              ('fmnist_scenes_maskrcnn', 'detection', (0, 1, 2))):
        path = REPO / f'configs/study/{name}.yml'
        study = load_study(path)
        assert study.name == name and study.seeds == seeds
        assert [(r.name, r.notation, r.config, r.cfg_options) for r in study.runs] == \
            [(r.name, r.notation, r.config, r.cfg_options) for r in pt5e.runs[:2]]
        assert [r.name for r in study.expand()] == [f'{name}/{run}_seed{k}'
                                                    for run in ('mae', 'cmae') for k in seeds]
        assert [n for n, _ in study.evaluations] == [task]
        options = dict(study.evaluations)[task]
        assert options['controls_dir'] == 'work_dirs/studies/fmnist_scenes_controls'
        assert options['from_scratch'] is False
        assert options['scratch']['cfg_options'][
            'optim_wrapper.paramwise_cfg.layer_decay_rate'] == 1.0
        assert yaml.safe_load(path.read_text())['prepare'] == [
            dict(name='fashion_mnist', root='data/fashion_mnist')]
        assert os.path.relpath(study.study_dir, REPO) == f'work_dirs/studies/{name}'
    # the options check out (config, scratch keys) and a seed outside `seeds` trains nothing
    detection_options = dict(load_study(REPO / 'configs/study/fmnist_scenes_maskrcnn.yml')
                             .evaluations)['detection']
    assert detection(None, Path('unused.pth'), 0, **detection_options, seeds=[1]) == {}
    segmentation_options = dict(load_study(REPO / 'configs/study/fmnist_scenes_upernet.yml')
                                .evaluations)['segmentation']
    assert segmentation(None, Path('unused.pth'), 0, **segmentation_options, seeds=[1]) == {}


def test_recipe_table_gives_each_task_its_own_table(tmp_path):
    """A records folder with segmentation and detection trials: one table per task, each with
    its own metric (a detection record has no mIoU)."""
    from cmae_mm.study.dense_search import recipe_table

    def record(name, task, metric, values):
        (tmp_path / f'{name}.json').write_text(json.dumps(dict(
            trial=name, task=task, checkpoint=None, mean_logged_iter_s=0.5,
            cfg_options={'optim_wrapper.optimizer.lr': 1e-3, 'train_cfg.max_iters': 20,
                         'param_scheduler.0.end': 2},
            validation=[{'iteration': 10 * (i + 1), metric: v} for i, v in enumerate(values)])))

    record('seg_a', 'segmentation', 'mIoU', [10.0, 12.5])
    assert recipe_table(tmp_path).startswith('| trial | start |')  # one task: one table, no title
    record('det_a', 'detection', 'bbox_mAP', [0.2, 0.3])
    table = recipe_table(tmp_path)
    detection, segmentation = table.split('\n\n**segmentation**\n\n')
    assert detection.startswith('**detection**\n\n| trial |')
    assert 'bbox_mAP on the validation scenes' in detection and '| `det_a` |' in detection
    assert '10: 0.2 / 20: 0.3 | **0.3** |' in detection and 'seg_a' not in detection
    assert 'mIoU on the validation scenes' in segmentation and '10: 10 / 20: 12.5 | **12.5** |' \
        in segmentation
