"""The study runner (cmae_mm/study, tools/study/study.py): study files, plan/run/collect/report.

* Study files: parsing, every validation error names the key and what is allowed, grid families
  expand to the right ImageNet-100 members, stable run names and work dirs.
* ``plan`` / ``collect`` / ``report`` on fake work dirs written in mmengine's real on-disk format
  (``<timestamp>/vis_data/scalars.json``, ``<timestamp>/<timestamp>.log``, ``epoch_N.pth``,
  ``last_checkpoint``) plus the runner's ``result.json``.
* ``run`` with ``dry_run=True``: finished runs are skipped, interrupted ones get ``--resume``,
  existing results are never overwritten.
* One real study end to end (2 runs x 1 seed, two epochs on 40 digits) through the command line:
  ``run`` -> ``collect`` -> ``report``; and the same study killed during training, between runs
  and during ``collect``, then restarted: the same results.
"""
import csv
import json
import os
from pathlib import Path
from typing import Dict, Sequence

import pytest
import yaml

from cmae_mm.study import (StudySpecError, collect, in100_study, inspect_run, load_study,
                           parse_study, plan, report, run)
from cmae_mm.study.data import write_digits
from cmae_mm.study.runner import read_training_log, train_command
from helpers import REPO, output_of, run_tool

DEMO_CONFIG = 'configs/selfsup/cmae_vit-tiny-p4_digits_demo.py'
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def study_data(work_root: Path, **extra) -> dict:
    """A digits study of 3 runs x 2 seeds, 2 epochs each."""
    data = dict(
        name='toy', base_config=DEMO_CONFIG, seeds=[0, 1], work_root=str(work_root),
        cfg_options={'train_cfg.max_epochs': 2},
        runs=[dict(name='mae', mask_layers=[0], mask_ratios=[0.75]),
              dict(name='cmae', mask_layers=[0, 10], mask_ratios=[0.75, 0.1]),
              dict(name='cmae-l6', mask_layers=[0, 6], mask_ratios=[0.75, 0.1])],
        evaluations=['linear_probe'], epoch_hours=0.5)
    data.update(extra)
    return data


def write_study(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --------------------------------------------------------------------------- fake mmengine runs

def fake_run(work_dir: Path, epochs_done: int, losses: Sequence[float] = (1.0, 0.5),
             shots: int = 2, stamp: str = '20250101_120000', iters_per_epoch: int = 3) -> None:
    """Write what an mmengine Runner leaves after ``epochs_done`` epochs (checkpoint every epoch).

    ``vis_data/scalars.json`` and ``vis_data/<stamp>.json``: one JSON dict per logged iteration
    (``lr``, ``loss``, ``rec_err_shot<k>``, ``epoch``, ``iter``, ...) and a validation line; the log
    text; ``epoch_<k>.pth`` and ``last_checkpoint`` (the path of the newest checkpoint).
    """
    vis = work_dir / stamp / 'vis_data'
    vis.mkdir(parents=True, exist_ok=True)
    lines = []
    for k, loss in enumerate(losses, 1):
        entry = {'base_lr': 1e-3, 'lr': 1e-3, 'data_time': 0.1, 'loss': loss}
        entry.update({f'rec_err_shot{s}': loss * (1 + 0.1 * s) for s in range(1, shots + 1)})
        # the last line is the last epoch's only one (the collected loss is its mean)
        epoch = max(1, epochs_done) if k == len(losses) else max(1, epochs_done) - 1
        entry.update({'time': 0.5, 'epoch': epoch, 'iter': k * iters_per_epoch,
                      'step': k * iters_per_epoch})
        lines.append(json.dumps(entry))
    lines.append(json.dumps({'accuracy/top1': 12.5, 'step': max(1, epochs_done)}))
    text = '\n'.join(lines) + '\n'
    (vis / 'scalars.json').write_text(text)
    (vis / f'{stamp}.json').write_text(text)
    (work_dir / stamp / f'{stamp}.log').write_text(
        f'{stamp} - mmengine - INFO - Epoch(train) [1][3/3]  loss: {losses[-1]:.4f}\n')
    for epoch in range(1, epochs_done + 1):
        (work_dir / f'epoch_{epoch}.pth').write_bytes(b'not a real checkpoint')
    if epochs_done:
        (work_dir / 'last_checkpoint').write_text(str(work_dir / f'epoch_{epochs_done}.pth'))


def fake_result(work_dir: Path, name: str, seed: int, metrics: Dict[str, float],
                wall_time_s: float = 60.0) -> None:
    """The ``result.json`` the runner writes after the evaluations."""
    (work_dir / 'result.json').write_text(json.dumps(dict(
        name=name, seed=seed, config=DEMO_CONFIG, metrics=metrics, git_commit='a' * 40,
        git_dirty=False, wall_time_s=wall_time_s)))


@pytest.fixture
def toy_study(tmp_path: Path):
    """The toy study with (run, seed) states: mae both done, cmae seed0 done / seed1 at epoch 1,
    cmae-l6 seed0 trained but not evaluated / seed1 not started."""
    study = parse_study(study_data(tmp_path / 'studies'))
    dirs = {r.name.split('/')[1]: r.work_dir for r in study.expand()}
    fake_run(dirs['mae_seed0'], 2, losses=(1.0, 0.40), shots=1)
    fake_result(dirs['mae_seed0'], 'toy/mae_seed0', 0,
                {'linear_probe_top1': 80.0, 'linear_probe_top1_random_init': 50.0})
    fake_run(dirs['mae_seed1'], 2, losses=(1.0, 0.44), shots=1)
    fake_result(dirs['mae_seed1'], 'toy/mae_seed1', 1,
                {'linear_probe_top1': 84.0, 'linear_probe_top1_random_init': 52.0})
    fake_run(dirs['cmae_seed0'], 2, losses=(1.0, 0.30))
    fake_result(dirs['cmae_seed0'], 'toy/cmae_seed0', 0,
                {'linear_probe_top1': 90.0, 'linear_probe_top1_random_init': 50.0})
    fake_run(dirs['cmae_seed1'], 1)
    fake_run(dirs['cmae-l6_seed0'], 2)
    return study


# --------------------------------------------------------------------------- study files

def test_study_file_expands_to_named_runs(tmp_path):
    path = write_study(tmp_path / 's.yml', study_data(tmp_path / 'studies'))
    study = load_study(path)
    runs = study.expand()
    assert [r.name for r in runs] == [
        'toy/mae_seed0', 'toy/mae_seed1', 'toy/cmae_seed0', 'toy/cmae_seed1',
        'toy/cmae-l6_seed0', 'toy/cmae-l6_seed1']
    assert runs[3].work_dir == tmp_path / 'studies' / 'toy' / 'cmae_seed1'
    assert runs[3].spec.notation == 'L(0,10; 0.75,0.1)'
    assert runs[3].option_args() == [
        'randomness.seed=1', 'train_cfg.max_epochs=2', 'model.backbone.mask_layers=[0,10]',
        'model.backbone.mask_ratios=[0.75,0.1]']
    assert study.evaluations == (('linear_probe', {}), )
    # The default work root is the repository's work_dirs/studies.
    data = study_data(tmp_path)
    del data['work_root']
    assert parse_study(data).expand()[0].work_dir == REPO / 'work_dirs/studies/toy/mae_seed0'


def test_grid_families_expand_against_the_in100_grid(tmp_path):
    data = study_data(tmp_path, runs=[
        {'family': 'two-shot', 'arch': 'vit-small', 'eta1': [0.75], 'layer': [3, 6, 9, 10, 11],
         'eta2': [0.25, 0.15, 0.1]},
        {'family': 'one-shot', 'arch': 'vit-base'},
        {'family': 'three-shot', 'arch': 'vit-small', 'layers': [0, 5, 10],
         'ratios': [[0.75, 0.1, 0.1], [0.5, 0.5, 0.5]]},
        {'config': 'configs/selfsup/simmim/cmae-simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py',
         'cfg_options': {'train_cfg.max_epochs': 1}}])
    study = parse_study(data)
    names = [spec.name for spec in study.runs]
    grid = {m.name: m for m in in100_study()}
    assert len(names) == 15 + 8 + 2 + 1 == len(set(names))
    assert names[0] == 'cmae_vit-small-p16_L0-3_r0.75-0.25_in100'
    assert names[14] == 'cmae_vit-small-p16_L0-11_r0.75-0.1_in100'
    assert all(grid[n].family == 'two-shot' and grid[n].ratios[0] == 0.75 for n in names[:15])
    assert {grid[n].layers for n in names[15:23]} == {(0, ), (3, ), (6, ), (9, )}
    assert names[23:25] == ['cmae_vit-small-p16_L0-5-10_r0.5-0.5-0.5_in100',
                            'cmae_vit-small-p16_L0-5-10_r0.75-0.1-0.1_in100']
    assert names[25] == 'cmae-simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px'
    for spec in study.runs[:25]:
        assert spec.config == f'configs/selfsup/in100/{spec.name}.py'
        assert (REPO / spec.config).is_file() and spec.arch in ('vit-small', 'vit-base')
        assert spec.cfg_options == {'train_cfg.max_epochs': 2}  # no schedule override: in config
    assert study.runs[25].cfg_options == {'train_cfg.max_epochs': 1}
    assert study.expand()[1].name == 'toy/cmae_vit-small-p16_L0-3_r0.75-0.25_in100_seed1'


@pytest.mark.parametrize('change, message', [
    (dict(colour='red'), "unknown key(s) 'colour'; allowed: name, description, base_config"),
    (dict(name='a/b'), "name: 'a/b' is not a valid name"),
    (dict(seeds=[0, 0]), 'seeds: [0, 0] repeats a seed'),
    (dict(seeds=[-1]), 'seeds: must be a non-empty list of non-negative integers'),
    (dict(base_config='configs/nope.py'), 'base_config: config file not found: configs/nope.py'),
    (dict(epoch_hours=-1), 'epoch_hours: must be a positive number'),
    (dict(runs=[]), 'runs: must be a non-empty list of run entries'),
    (dict(runs=[{'name': 'x', 'mask_layers': [0, 10], 'mask_ratios': [0.75]}]),
     'runs[0]: 2 mask_layers [0, 10] but 1 mask_ratios [0.75]: one ratio per layer'),
    (dict(runs=[{'name': 'x', 'mask_layers': [10, 0], 'mask_ratios': [0.75, 0.1]}]),
     'runs[0].mask_layers: [10, 0] must be non-negative and strictly increasing'),
    (dict(runs=[{'name': 'x', 'mask_layers': [0], 'mask_ratios': [1.5]}]),
     'runs[0].mask_ratios: [1.5]: every ratio must be in (0, 1)'),
    (dict(runs=[{'name': 'x', 'mask_layers': [0]}]),
     'runs[0]: `mask_layers` and `mask_ratios` go together'),
    (dict(runs=[{'name': 'x', 'depth': 3}]), "runs[0]: unknown key(s) 'depth'; allowed: name,"),
    (dict(runs=[{'name': 'a'}, {'name': 'a'}]), "run name 'a' appears twice"),
    (dict(runs=[{'foo': 1}]), 'runs[0]: a run entry needs `name`'),
    (dict(runs=[{'family': 'four-shot'}]),
     "runs[0].family: unknown family 'four-shot'; allowed: one-shot, two-shot, control"),
    (dict(runs=[{'family': 'two-shot', 'layer': [4]}]),
     'runs[0].layer: 4 is not in the two-shot grid; allowed: 3, 6, 9, 10, 11'),
    (dict(runs=[{'family': 'two-shot', 'eta': [0.75]}]),
     "runs[0]: unknown key(s) 'eta'; allowed: family, arch, cfg_options, eta1, layer, eta2"),
    (dict(runs=[{'family': 'three-shot', 'layers': [0, 4, 8], 'ratios': [0.75, 0.1, 0.1]}]),
     'runs[0]: the combination layers=[0, 4, 8], ratios=[0.75, 0.1, 0.1] is not in the '
     'three-shot grid'),
    (dict(runs=[{'family': 'one-shot', 'arch': 'vit-huge'}]),
     "runs[0].arch: vit-huge is not in the one-shot grid; allowed: vit-base, vit-small"),
    (dict(evaluations=['knn']), "evaluations[0]: unknown name 'knn'; registered: attention, cka, detection, "
     "finetune, linear_probe"),
    (dict(evaluations=[{'name': 'linear_probe', 'C': 1}]),
     "evaluations[0]: linear_probe: unknown option(s) 'C'; allowed: data_root, train_split"),
    (dict(prepare=['imagenet']), "prepare[0]: unknown name 'imagenet'; registered: digits"),
    (dict(prepare=['digits']), 'prepare[0]: digits: missing option(s) root'),
    (dict(cfg_options={'randomness.seed': 3}),
     "cfg_options: 'randomness.seed': set the seeds with the top-level `seeds` list"),
    (dict(cfg_options={'model': {'a': 1}}), 'cfg_options.model: mappings are not --cfg-options'),
])
def test_invalid_study_files_are_rejected_with_the_reason(tmp_path, change, message):
    with pytest.raises(StudySpecError) as info:
        parse_study(study_data(tmp_path, **change))
    assert message in str(info.value)


def test_missing_keys_and_configs(tmp_path):
    data = study_data(tmp_path)
    del data['base_config']
    with pytest.raises(StudySpecError, match=r'runs\[0\]: no config: give the entry a `config`'):
        parse_study(data)
    with pytest.raises(StudySpecError, match='missing required key `runs`'):
        parse_study({'name': 'x'})
    with pytest.raises(FileNotFoundError, match='study file not found'):
        load_study(tmp_path / 'missing.yml')
    (tmp_path / 'bad.yml').write_text('name: [unclosed\n')
    with pytest.raises(StudySpecError, match='not valid YAML'):
        load_study(tmp_path / 'bad.yml')


# --------------------------------------------------------------------------- plan

def test_plan_reads_the_state_of_every_work_dir(toy_study):
    rows = {r['name']: r for r in plan(toy_study)}
    status = {name: (row['status'], row['epochs'], row['gpu_hours']) for name, row in rows.items()}
    assert status == {
        'toy/mae_seed0': ('done', '2/2', 0), 'toy/mae_seed1': ('done', '2/2', 0),
        'toy/cmae_seed0': ('done', '2/2', 0), 'toy/cmae_seed1': ('partial', '1/2', 0.5),
        'toy/cmae-l6_seed0': ('partial', '2/2', 0), 'toy/cmae-l6_seed1': ('todo', '0/2', 1.0)}
    assert rows['toy/cmae_seed1']['detail'] == 'epoch 1/2'
    assert rows['toy/cmae-l6_seed0']['detail'] == 'trained (epoch 2), not evaluated'
    assert rows['toy/cmae_seed1']['config'] == DEMO_CONFIG
    assert rows['toy/cmae_seed1']['cfg_options'].startswith('randomness.seed=1 ')
    assert rows['toy/cmae_seed1']['work_dir'].endswith('studies/toy/cmae_seed1')


def test_training_log_uses_the_newest_launch_that_logged_a_loss(tmp_path):
    fake_run(tmp_path, 1, losses=(2.0, 1.5), stamp='20250101_100000')
    fake_run(tmp_path, 2, losses=(1.0, 0.25), shots=3, stamp='20250102_100000')  # resumed
    (tmp_path / '20250103_100000' / 'vis_data').mkdir(parents=True)  # crashed at start
    (tmp_path / '20250103_100000' / 'vis_data' / 'scalars.json').write_text('')
    log = read_training_log(tmp_path)
    assert log['loss'] == 0.25 and log['epoch'] == 2 and log['iter'] == 6
    assert list(log['rec_err']) == ['rec_err_shot1', 'rec_err_shot2', 'rec_err_shot3']
    assert log['rec_err']['rec_err_shot2'] == pytest.approx(0.3)
    assert read_training_log(tmp_path / 'nothing') == {}


def test_training_log_reports_the_mean_of_the_last_epoch_over_every_launch(tmp_path):
    """The final loss is the mean of the lines logged in the last epoch, also when that epoch
    was split across a resume; the stronger trivial baseline is averaged the same way."""
    def write(stamp, rows, first_iter=1):
        vis = tmp_path / stamp / 'vis_data'
        vis.mkdir(parents=True)
        (vis / 'scalars.json').write_text(''.join(json.dumps(dict(
            loss=loss, rec_err_shot1=loss, rec_err_trivial=1.0, rec_err_mean_patch=0.5,
            epoch=epoch, iter=i, step=i)) + '\n' for i, (epoch, loss) in enumerate(rows, first_iter)))

    write('20250101_100000', [(1, 0.9), (1, 0.8), (2, 0.6)])
    write('20250101_110000', [(2, 0.4), (2, 0.2)], first_iter=4)  # resumed within epoch 2
    log = read_training_log(tmp_path)
    assert log['epoch'] == 2 and log['loss_lines'] == 3
    assert log['loss'] == pytest.approx(0.4) and log['rec_err']['rec_err_shot1'] == \
        pytest.approx(0.4)
    assert log['rec_err_trivial'] == 1.0 and log['rec_err_mean_patch'] == 0.5


def test_training_log_counts_iterations_a_killed_launch_logged_before_the_resume_once(tmp_path):
    """A launch killed after its epoch-1 checkpoint (iteration 2) logged iterations 3-4 of epoch 2;
    the resumed launch trains and logs them again: only the resumed launch's lines count."""
    def write(stamp, rows):
        vis = tmp_path / stamp / 'vis_data'
        vis.mkdir(parents=True)
        (vis / 'scalars.json').write_text(''.join(
            json.dumps(dict(loss=loss, rec_err_shot1=loss, epoch=epoch, iter=i, step=i)) + '\n'
            for i, epoch, loss in rows))

    write('20250101_100000', [(1, 1, 0.9), (2, 1, 0.8), (3, 2, 0.7), (4, 2, 0.6)])  # killed
    write('20250101_110000', [(3, 2, 0.5), (4, 2, 0.4), (5, 2, 0.3), (6, 2, 0.2)])  # resumed
    log = read_training_log(tmp_path)
    assert log['epoch'] == 2 and log['iter'] == 6 and log['loss_lines'] == 4
    assert log['loss'] == pytest.approx(0.35)


def test_sign_flip_p_value_is_exact():
    from cmae_mm.study.report import sign_flip_p

    assert sign_flip_p([1.0, 2.0, 3.0]) == 0.25  # the floor with 3 seeds: 2 / 2**3
    assert sign_flip_p([1.0, -1.0]) == 1.0
    assert sign_flip_p([3.0, 1.0, -1.0, 2.0]) == pytest.approx(6 / 16)
    assert sign_flip_p([]) is None


# --------------------------------------------------------------------------- run (dry run)

def test_dry_run_skips_done_runs_and_resumes_partial_ones(toy_study, capsys):
    before = sorted(p for p in toy_study.study_dir.rglob('*'))
    outcomes = run(toy_study, dry_run=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [o['action'] for o in outcomes] == ['skipped', 'skipped', 'skipped', 'would-train',
                                               'would-evaluate', 'would-train']
    assert len(lines) == 6 and lines[0].startswith('[1/6] toy/mae_seed0: done, skipped')
    resumed, fresh = lines[3], lines[5]
    assert resumed.startswith('[4/6] toy/cmae_seed1: would run: ')
    assert 'tools/train.py' in resumed and '--resume --cfg-options randomness.seed=1' in resumed
    assert f'--work-dir {toy_study.study_dir / "cmae_seed1"}' in resumed
    assert "'model.backbone.mask_layers=[0,10]'" in resumed
    assert '--resume' not in fresh and '--cfg-options randomness.seed=1' in fresh
    assert 'would evaluate (linear_probe)' in lines[4]
    assert sorted(p for p in toy_study.study_dir.rglob('*')) == before  # nothing written


def test_existing_results_are_never_overwritten(toy_study, capsys):
    # A result.json whose run lacks the final checkpoint (e.g. max_epochs changed): left alone.
    work_dir = toy_study.expand()[3].work_dir  # cmae_seed1, epoch 1 of 2
    fake_result(work_dir, 'toy/cmae_seed1', 1, {'linear_probe_top1': 1.0})
    text = (work_dir / 'result.json').read_text()
    state = inspect_run(toy_study.expand()[3])
    assert state.status == 'partial' and 'without the final checkpoint epoch_2.pth' in state.detail
    outcomes = run(toy_study, only=['cmae_seed1'], dry_run=True)
    assert outcomes == [dict(name='toy/cmae_seed1', action='kept', result=None)]
    assert 'skipped: result.json without the final checkpoint' in capsys.readouterr().out
    assert (work_dir / 'result.json').read_text() == text


def test_controls_switched_on_later_are_added_without_touching_recorded_metrics(
        tmp_path, monkeypatch, capsys):
    from cmae_mm.study import registry
    from cmae_mm.study.launch import added_evaluations

    finetune = dict(labels_per_class=100, epochs=3, from_scratch=False)
    before = parse_study(study_data(tmp_path / 'studies', evaluations=[
        dict(name='finetune', **finetune), dict(name='linear_probe', cs=[0.1])]))
    r = before.expand()[0]
    fake_run(r.work_dir, 2, shots=1)
    (r.work_dir / 'result.json').write_text(json.dumps(dict(
        name=r.name, seed=0, config=DEMO_CONFIG, checkpoint=str(r.work_dir / 'epoch_2.pth'),
        metrics={'finetune_top1': 70.0, 'finetune_top1_from_scratch_tuned': 60.0,
                 'linear_probe_top1': 50.0},
        evaluations=[dict(name='finetune', **finetune), dict(name='linear_probe', cs=[0.1])])))
    assert added_evaluations(before, json.loads((r.work_dir / 'result.json').read_text())) == []

    # The control at the pre-trained arm's recipe switched on; the probe's grid changed too.
    after = parse_study(study_data(tmp_path / 'studies', evaluations=[
        dict(name='finetune', **{**finetune, 'from_scratch': True}),
        dict(name='linear_probe', cs=[0.1, 1.0])]))
    pending = added_evaluations(after, json.loads((r.work_dir / 'result.json').read_text()))
    assert pending == [('finetune', {**finetune, 'from_scratch': True, 'controls_only': True})]

    calls = []

    def fake_finetune(cfg, checkpoint, seed, **options):  # what the controls would score
        calls.append(options)
        return {'finetune_top1_from_scratch': 55.0, 'finetune_top1_from_scratch_tuned': 1.0}

    monkeypatch.setitem(registry.EVALUATIONS, 'finetune', fake_finetune)
    outcomes = run(after, only=[r.name.split('/')[1]])
    assert [o['action'] for o in outcomes] == ['evaluated']
    assert 'added the evaluation(s) finetune (its controls only)' in capsys.readouterr().out
    assert calls == [{**finetune, 'from_scratch': True, 'controls_only': True}]
    result = json.loads((r.work_dir / 'result.json').read_text())
    assert result['metrics'] == {'finetune_top1': 70.0, 'finetune_top1_from_scratch_tuned': 60.0,
                                 'linear_probe_top1': 50.0, 'finetune_top1_from_scratch': 55.0}
    assert added_evaluations(after, result) == []  # done: the next run adds nothing


def test_launcher_commands(toy_study):
    r = toy_study.expand()[3]
    cmd, env = train_command(r, 'dist', gpus=8, resume=True)
    assert cmd[:4] == ['bash', str(REPO / 'tools/dist_train.sh'), str(r.config_path), '8']
    assert cmd[4:8] == ['--work-dir', str(r.work_dir), '--resume', '--cfg-options'] and not env
    cmd, env = train_command(r, 'slurm', gpus=16, partition='gpu')
    assert cmd[:6] == ['bash', str(REPO / 'tools/slurm_train.sh'), 'gpu', 'toy_cmae_seed1',
                       str(r.config_path), str(r.work_dir)]
    assert cmd[6] == '--cfg-options' and env == {'GPUS': '16'}
    with pytest.raises(ValueError, match='needs a partition'):
        train_command(r, 'slurm')
    with pytest.raises(ValueError, match='needs launcher dist or slurm'):
        train_command(r, 'local', gpus=2)
    with pytest.raises(ValueError, match="unknown launcher 'k8s'"):
        train_command(r, 'k8s')
    with pytest.raises(ValueError, match='no run of toy matches'):
        run(toy_study, dry_run=True, only=['nope'])


# --------------------------------------------------------------------------- collect, report

def test_collect_and_report_on_fake_work_dirs(toy_study, tmp_path):
    results = collect(toy_study)
    saved = json.loads((toy_study.study_dir / 'results.json').read_text())
    assert saved == results and results['study'] == 'toy'
    assert results['metric_names'] == ['linear_probe_top1', 'linear_probe_top1_random_init']
    rows = {r['name']: r for r in results['runs']}
    mae0 = rows['toy/mae_seed0']
    assert mae0['status'] == 'done' and mae0['loss'] == 0.40 and mae0['epoch'] == 2
    assert mae0['rec_err'] == {'rec_err_shot1': pytest.approx(0.44)}
    assert mae0['metrics']['linear_probe_top1'] == 80.0 and mae0['git_commit'] == 'a' * 40
    assert mae0['config'] == DEMO_CONFIG and mae0['wall_time_s'] == 60.0
    assert mae0['cfg_options']['model.backbone.mask_layers'] == [0]
    assert rows['toy/cmae_seed1']['metrics'] == {} and rows['toy/cmae_seed1']['loss'] == 0.5
    assert rows['toy/cmae-l6_seed1']['loss'] is None
    with open(toy_study.study_dir / 'results.csv') as f:
        table = list(csv.DictReader(f))
    assert len(table) == 6 and table[2]['name'] == 'toy/cmae_seed0'
    assert table[2]['rec_err_shot2'] == str(0.30 * 1.2) and table[2]['linear_probe_top1'] == '90.0'

    written = report(toy_study.study_dir / 'results.json', tmp_path / 'report')
    md = written['markdown'].read_text()
    assert '| mae | L(0; 0.75) | 2/2 | 82.00 ± 2.83 (n=2) | 0.4200 ± 0.0283 (n=2) |' in md
    assert '| 0.4620 ± 0.0311 (n=2) | - | 1.0 ± 0.0 (n=2) |' in md  # rec_err_shot1, no shot 2
    assert '| cmae | L(0,10; 0.75,0.1) | 1/2 | 90.00 (n=1) |' in md
    assert '| cmae-l6 | L(0,6; 0.75,0.1) | 0/2 | no run yet |' in md
    assert ('| the same encoder, randomly initialised (control) | no pre-training | 2 seeds | '
            '51.00 ± 1.41 (n=2) |'
            in md)
    # paired per-seed differences against the baseline run (mae) and the control, 95 % t-interval
    # (t_0.975 with 1 degree of freedom = 12.706; diffs 30 and 32: se 1.0)
    assert ('| mae | the same encoder, randomly initialised | 2 | +31.00 | [+18.29, +43.71] | yes | '
            '0.5 | 0: +30.00, 1: +32.00 |') in md
    assert '| cmae | mae | 1 | +10.00 | — | — | — | 0: +10.00 |' in md
    # the interval's width is stated for the seeds the study has (2 here), not a fixed 3
    assert 'with 2 seeds the interval is ±12.71 standard errors wide' in md
    assert 'floor with n seeds is 2/2^n: 0.5 here' in md
    assert 'aaaaaaaaaa' in md and '![accuracy](accuracy.png)' in md
    png = written['accuracy_png']
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5_000
    assert 'layers_png' not in written  # no layer sweep with results yet


def test_paired_interval_matches_the_t_formula():
    from cmae_mm.study.report import paired_interval

    mean, low, high = paired_interval([1.0, 2.0, 6.0])
    # mean 3, sample sd sqrt(7), t_0.975(2) = 4.302653
    half = 4.302653 * 7 ** .5 / 3 ** .5
    assert mean == 3.0 and low == pytest.approx(3 - half, abs=1e-5)
    assert high == pytest.approx(3 + half, abs=1e-5)
    assert paired_interval([2.5]) == (2.5, None, None)


def test_report_shows_the_from_scratch_control(tmp_path):
    """A fine-tuning study: each from-scratch control (the tuned one, the one at the pre-trained
    arm's recipe) and each pixel baseline gets its own row and its paired differences."""
    runs = [dict(name='mae', mask_layers=[0], mask_ratios=[0.75]),
            dict(name='cmae', mask_layers=[0, 10], mask_ratios=[0.75, 0.1])]
    study = parse_study(study_data(tmp_path / 'studies', runs=runs, seeds=[0, 1, 2]))
    for k, r in enumerate(study.expand()):
        fake_run(r.work_dir, 2, shots=len(r.spec.layers))
        fake_result(r.work_dir, r.name, r.seed, {'finetune_top1': 75.0 + k,
                                                  'finetune_top1_from_scratch': 60.0 + r.seed,
                                                  'finetune_top1_from_scratch_tuned': 70.0,
                                                  'finetune_top1_pixel_svm': 80.0 + r.seed})
    md = report(collect(study), tmp_path / 'out')['markdown'].read_text()
    assert ("| the same classifier from scratch, the pre-trained arm's recipe and length "
            '(control) | no pre-training | 3 seeds | 61.00 ± 1.00 (n=3) |') in md
    assert ('| the same classifier from scratch, its own tuned recipe (control) | no pre-training '
            '| 3 seeds | 70.00 ± 0.00 (n=3) |') in md
    assert ('| RBF SVM on raw pixels (no network) | no pre-training | 3 seeds | '
            '81.00 ± 1.00 (n=3) |') in md
    # cmae - mae = +3 on every seed: zero spread, the interval collapses onto +3
    assert '| cmae | mae | 3 | +3.00 | [+3.00, +3.00] | yes | 0.25 |' in md
    assert ("| mae | the same classifier from scratch, the pre-trained arm's recipe and length | "
            '3 | +15.00 |') in md
    assert '| mae | the same classifier from scratch, its own tuned recipe | 3 | +6.00 |' in md
    assert '| mae | RBF SVM on raw pixels | 3 | -5.00 |' in md


def test_report_gives_a_control_with_several_metrics_one_row(tmp_path):
    """A dense study's control has a value of every metric (mIoU, aAcc, ...): one row holds
    them all, in the metrics' columns."""
    runs = [dict(name='mae', mask_layers=[0], mask_ratios=[0.75])]
    study = parse_study(study_data(tmp_path / 'studies', runs=runs, seeds=[0, 1]))
    for r in study.expand():
        fake_run(r.work_dir, 2, shots=1)
        fake_result(r.work_dir, r.name, r.seed, {
            'seg_miou': 28.0 + r.seed, 'seg_aacc': 80.0, 'seg_miou_from_scratch_tuned': 27.0,
            'seg_aacc_from_scratch_tuned': 79.0 + r.seed})
    md = report(collect(study), tmp_path / 'out')['markdown'].read_text()
    rows = [line for line in md.splitlines() if line.startswith('| the same classifier from '
                                                                'scratch, its own tuned recipe')]
    assert len(rows) == 1 and rows[0].startswith(
        '| the same classifier from scratch, its own tuned recipe (control) | no pre-training | '
        '2 seeds | 27.00 ± 0.00 (n=2) | 79.50 ± 0.71 (n=2) |')


def test_report_draws_the_layer_sweep(tmp_path):
    """Two-shot runs at several layers: metric against j, one line per η2, L(0; η1) dashed."""
    runs = [dict(name='mae', mask_layers=[0], mask_ratios=[0.75])] + [
        dict(name=f'j{j}_{eta2}', mask_layers=[0, j], mask_ratios=[0.75, eta2])
        for j in (3, 6, 10) for eta2 in (0.1, 0.25)]
    study = parse_study(study_data(tmp_path / 'studies', runs=runs, seeds=[0]))
    for k, r in enumerate(study.expand()):
        fake_run(r.work_dir, 2, shots=len(r.spec.layers))
        fake_result(r.work_dir, r.name, 0, {'linear_probe_top1': 70.0 + k})
    written = report(collect(study), tmp_path / 'out')
    assert written['layers_png'].read_bytes()[:8] == PNG_MAGIC
    assert '![layers](layers.png)' in written['markdown'].read_text()


# --------------------------------------------------------------------------- end to end

def _launch_until(args, cwd: Path, appears: Path, timeout: float = 600):
    """Start a study tool in its own process group and SIGKILL the whole group (the tool and its
    training subprocess, as a closed terminal or a scheduler's kill does) once ``appears`` exists.
    Returns the tool's exit code (``-SIGKILL`` when the kill landed)."""
    import signal
    import subprocess
    import time

    from helpers import PYTHON, tool_env

    proc = subprocess.Popen([PYTHON, str(REPO / args[0])] + [str(a) for a in args[1:]], cwd=cwd,
                            env=tool_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + timeout
    try:
        while proc.poll() is None and not appears.exists() and time.time() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


# Collect, killed while it writes results.json: the tool's own code path, with the atomic writer's
# final rename replaced by a SIGKILL of the process (the temporary file is complete by then).
KILLED_COLLECT = """
import os, runpy, signal, sys
import cmae_mm.engine.atomic_io as atomic_io
real_replace = os.replace
def replace(src, dst):
    if str(dst).endswith('results.json'):
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)
atomic_io.os.replace = replace
sys.argv = [sys.argv[1]] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def test_digits_study_end_to_end_and_killed_at_three_points(tmp_path):
    """One real study through the command line: 2 runs x 1 seed, 2 epochs of 40 digits (batch 8),
    linear probe; ``run`` -> ``collect`` -> ``report``.

    Then the same study SIGKILLed at three points: during the first run's training (after its
    epoch-1 checkpoint), between runs (right after the first run's result.json) and during
    ``collect`` (while results.json is written). Each time ``study.py run`` / ``collect`` is simply
    started again; the interrupted study ends with the same losses and metrics as the
    uninterrupted one."""
    import signal
    import subprocess

    from helpers import PYTHON, tool_env

    data_root = tmp_path / 'digits'
    assert write_digits(data_root, 32, max_per_class=4) == (40, 40)

    def study_file(root: str) -> Path:
        return write_study(tmp_path / f'{root}.yml', dict(
            name='e2e', base_config=DEMO_CONFIG, seeds=[0], work_root=str(tmp_path / root),
            cfg_options={'train_cfg.max_epochs': 2, 'param_scheduler.0.end': 1,
                         'param_scheduler.1.begin': 1, 'param_scheduler.1.end': 2,
                         'param_scheduler.1.T_max': 1, 'default_hooks.checkpoint.interval': 1,
                         'train_dataloader.batch_size': 8,
                         'train_dataloader.dataset.data_root': str(data_root),
                         'default_hooks.logger.interval': 1},
            runs=[dict(name='mae', mask_layers=[0], mask_ratios=[0.75]),
                  dict(name='cmae', mask_layers=[0, 10], mask_ratios=[0.75, 0.1])],
            evaluations=['linear_probe']))

    # ---- uninterrupted
    reference_file = study_file('uninterrupted')
    study_dir = tmp_path / 'uninterrupted' / 'e2e'
    result = run_tool(['tools/study/study.py', 'run', reference_file], cwd=tmp_path, timeout=600)
    assert result.returncode == 0, output_of(result)[-4000:]
    progress = [line for line in result.stdout.splitlines() if line.startswith('[')]
    assert len(progress) == 2, result.stdout[-3000:]
    assert progress[1].startswith('[2/2] e2e/cmae_seed0: training (from scratch) ... trained in ')
    assert 'linear_probe_top1=' in progress[1]
    for name, shots in (('mae', 1), ('cmae', 2)):
        work_dir = study_dir / f'{name}_seed0'
        assert (work_dir / 'epoch_2.pth').is_file()
        res = json.loads((work_dir / 'result.json').read_text())
        assert res['seed'] == 0 and res['config'] == DEMO_CONFIG and len(res['git_commit']) == 40
        assert res['cfg_options']['randomness.seed'] == 0 and res['wall_time_s'] > 0
        assert 0 <= res['metrics']['linear_probe_top1'] <= 100
        assert 0 <= res['metrics']['linear_probe_top1_random_init'] <= 100
        assert len(read_training_log(work_dir)['rec_err']) == shots

    # Everything is finished now: a second run skips both and keeps the results.
    before = (study_dir / 'mae_seed0' / 'result.json').read_text()
    assert [o['action'] for o in run(load_study(reference_file))] == ['skipped', 'skipped']
    assert (study_dir / 'mae_seed0' / 'result.json').read_text() == before

    result = run_tool(['tools/study/study.py', 'collect', reference_file], cwd=tmp_path)
    assert result.returncode == 0, output_of(result)[-3000:]
    assert '2/2 runs with results' in result.stdout
    reference = json.loads((study_dir / 'results.json').read_text())
    assert [r['status'] for r in reference['runs']] == ['done', 'done']
    assert all(r['loss'] > 0 and r['git_commit'] for r in reference['runs'])
    assert (study_dir / 'results.csv').is_file()

    result = run_tool(['tools/study/study.py', 'report', reference_file], cwd=tmp_path)
    assert result.returncode == 0, output_of(result)[-3000:]
    md = (study_dir / 'report.md').read_text()
    assert '| mae | L(0; 0.75) | 1/1 |' in md and '| cmae | L(0,10; 0.75,0.1) | 1/1 |' in md
    assert '| the same encoder, randomly initialised (control) |' in md and 'no run yet' not in md
    assert (study_dir / 'accuracy.png').read_bytes()[:8] == PNG_MAGIC

    # ---- killed at three points
    path = study_file('interrupted')
    study_dir = tmp_path / 'interrupted' / 'e2e'
    mae = study_dir / 'mae_seed0'
    # 1. during training: mae has its epoch-1 checkpoint and is training epoch 2
    code = _launch_until(['tools/study/study.py', 'run', path], tmp_path, mae / 'epoch_1.pth')
    assert code == -signal.SIGKILL and not (mae / 'epoch_2.pth').exists()
    # 2. between runs: mae is finished, cmae not started
    code = _launch_until(['tools/study/study.py', 'run', path], tmp_path, mae / 'result.json')
    assert code == -signal.SIGKILL and (mae / 'result.json').is_file()
    assert '--resume' in (mae / 'study_train.log').read_text()  # the second launch resumed
    run_result = run_tool(['tools/study/study.py', 'run', path], cwd=tmp_path, timeout=600)
    assert run_result.returncode == 0, output_of(run_result)[-4000:]
    assert '[1/2] e2e/mae_seed0: done, skipped' in run_result.stdout
    # 3. during collect: killed while results.json is written; no half-written file is left
    killed = subprocess.run([PYTHON, '-c', KILLED_COLLECT, str(REPO / 'tools/study/study.py'),
                             'collect', str(path)], cwd=tmp_path, env=tool_env(),
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, output_of(killed)[-3000:]
    assert not (study_dir / 'results.json').exists()
    result = run_tool(['tools/study/study.py', 'collect', path], cwd=tmp_path)
    assert result.returncode == 0, output_of(result)[-3000:]
    interrupted = json.loads((study_dir / 'results.json').read_text())

    def essence(results: dict) -> list:
        return [(r['name'], r['status'], r['loss'], r['rec_err'], r['metrics'])
                for r in results['runs']]

    assert essence(interrupted) == essence(reference)


def test_shipped_digits_study_is_valid():
    from cmae_mm.study.runner import _run_config

    study = load_study(REPO / 'configs' / 'study' / 'digits_mae_vs_cmae.yml')
    runs = study.expand()
    assert len(runs) == 9 and study.seeds == (0, 1, 2)
    assert [s.notation for s in study.runs] == [
        'L(0; 0.75)', 'L(0,10; 0.75,0.1)', 'L(0,10,11; 0.75,0.1,0.1)']
    assert study.evaluations == (('linear_probe', {}), )
    assert study.prepare == (('digits', {'root': 'data/digits', 'size': 32}), )
    cfg = _run_config(runs[-1], import_custom_modules=False)
    epochs = cfg.train_cfg.max_epochs
    warmup, cosine = cfg.param_scheduler
    assert warmup.end == cosine.begin
    assert cosine.end == epochs == cfg.default_hooks.checkpoint.interval
    assert cosine.T_max == epochs - cosine.begin and cfg.randomness.seed == 2
    assert cfg.model.backbone.mask_layers == [0, 10, 11]


def test_run_only_processes_share_a_study_but_never_a_run(toy_study):
    """`run --only` holds the study's lock shared and each selected run's lock exclusively: two
    processes on disjoint runs work at once; the same run twice, or the whole study beside a
    selection, is refused naming the holder."""
    from cmae_mm.study.runner import StudyLockedError, study_lock

    with study_lock(toy_study, ['mae_seed0']):
        with study_lock(toy_study, ['cmae_seed0', 'cmae_seed1']):
            with pytest.raises(StudyLockedError, match='holds run cmae_seed1'):
                with study_lock(toy_study, ['cmae_seed1']):
                    pass
        with pytest.raises(StudyLockedError, match='holds study toy'):
            with study_lock(toy_study):
                pass
    with study_lock(toy_study):  # all released
        with pytest.raises(StudyLockedError, match='holds study toy'):
            with study_lock(toy_study, ['mae_seed0']):
                pass


def test_a_second_run_of_the_same_study_is_refused_while_one_holds_the_lock(toy_study, tmp_path):
    """`study.py run` takes <study>/.study.lock (flock): a second run is refused with the holder's
    pid; a holder killed with SIGKILL leaves the study free."""
    import signal
    import subprocess
    import sys
    import time

    from cmae_mm.study.runner import StudyLockedError, study_lock

    path = write_study(tmp_path / 'toy.yml', study_data(toy_study.work_root))
    with study_lock(toy_study):
        refused = run_tool(['tools/study/study.py', 'run', path], cwd=tmp_path)
        assert refused.returncode == 2
        assert f'another `study.py run` holds study toy (pid {os.getpid()}' in refused.stderr
        with pytest.raises(StudyLockedError):
            with study_lock(toy_study):
                pass
    holder = subprocess.Popen([sys.executable, '-c', (
        'import sys, time; from cmae_mm.study.spec import load_study; '
        'from cmae_mm.study.runner import study_lock; '
        f's = load_study({str(path)!r}); l = study_lock(s); l.__enter__(); '
        'print("locked", flush=True); time.sleep(600)')], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        with pytest.raises(StudyLockedError, match=f'pid {holder.pid}'):
            with study_lock(toy_study):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    with study_lock(toy_study):  # a dead holder does not keep the study locked
        pass


def test_a_malformed_result_is_reported_and_the_others_are_collected(toy_study):
    broken = toy_study.study_dir / 'mae_seed1' / 'result.json'
    broken.write_text('{"metrics": {"linear_probe_top1": 8')  # cut short
    with pytest.warns(UserWarning, match=r'mae_seed1/result.json is malformed'):
        results = collect(toy_study)
    rows = {r['name']: r for r in results['runs']}
    assert rows['toy/mae_seed1']['status'] == 'invalid-result'
    assert rows['toy/mae_seed1']['metrics'] == {}
    assert rows['toy/mae_seed0']['metrics']['linear_probe_top1'] == 80.0
    assert rows['toy/cmae_seed0']['metrics']['linear_probe_top1'] == 90.0


def test_collect_merges_finished_runs_of_an_earlier_results_file(toy_study, tmp_path):
    """A study continued elsewhere: runs with an empty work dir come from ``--merge``; runs on
    disk win; a results file of another study is refused by the tool with its name."""
    import shutil

    earlier = collect(toy_study)
    kept = tmp_path / 'earlier_results.json'
    kept.write_text(json.dumps(earlier))
    shutil.rmtree(toy_study.study_dir / 'mae_seed0')  # its work dir is gone
    shutil.rmtree(toy_study.study_dir / 'cmae_seed1')  # was partial: not in the earlier file
    (toy_study.study_dir / 'mae_seed1' / 'result.json').write_text(json.dumps(dict(
        metrics={'linear_probe_top1': 99.0}, git_commit='b' * 40)))  # re-run here: wins
    rows = {r['name']: r for r in collect(toy_study)['runs']}
    assert rows['toy/mae_seed0']['status'] == 'todo' and rows['toy/mae_seed0']['metrics'] == {}

    rows = {r['name']: r for r in collect(toy_study, merge=kept)['runs']}
    old = {r['name']: r for r in earlier['runs']}
    assert rows['toy/mae_seed0'] == dict(old['toy/mae_seed0'], merged_from=str(kept),
                                         machine=earlier['machine'])
    assert rows['toy/mae_seed1']['metrics'] == {'linear_probe_top1': 99.0}
    assert 'merged_from' not in rows['toy/mae_seed1']
    assert rows['toy/cmae_seed1']['status'] == 'todo'  # partial before: nothing to merge
    assert rows['toy/cmae_seed0']['metrics']['linear_probe_top1'] == 90.0
    saved = json.loads((toy_study.study_dir / 'results.json').read_text())
    assert saved['runs'][0]['metrics']['linear_probe_top1'] == 80.0
    assert saved['machine'] == earlier['machine']  # the same machine: one label

    elsewhere = tmp_path / 'elsewhere.json'
    elsewhere.write_text(json.dumps(dict(earlier, machine='Other CPU, 64 cores')))
    label = collect(toy_study, merge=elsewhere)['machine']
    assert label == f"{earlier['machine']}; merged runs (mae_seed0): Other CPU, 64 cores"

    other = tmp_path / 'other.json'
    other.write_text(json.dumps(dict(earlier, study='digits')))
    study_file = write_study(tmp_path / 'toy.yml', study_data(tmp_path / 'studies'))
    result = run_tool(['tools/study/study.py', 'collect', study_file, '--merge', other], REPO)
    assert result.returncode == 2
    assert f"--merge {other}: holds study 'digits', not 'toy'" in output_of(result)


def test_digits_preparation_is_atomic_and_verified(tmp_path):
    """An interrupted preparation leaves no dataset that a later call would keep; the complete
    one is written once (counts checked) and kept afterwards; a foreign folder is refused."""
    from cmae_mm.study import data as study_data_module

    root = tmp_path / 'digits'
    calls = []
    real = study_data_module.write_digits

    def interrupted(path, size, seed=0, max_per_class=None):
        calls.append(path)
        real(path, size, seed, max_per_class=2)  # a few files, then the "kill"
        raise KeyboardInterrupt

    study_data_module.write_digits = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            study_data_module.prepare_digits(str(root))
    finally:
        study_data_module.write_digits = real
    assert calls and not calls[0].exists() and not root.exists()
    assert study_data_module.prepare_digits(str(root)).startswith('digits: wrote 1437 train')
    assert study_data_module.prepare_digits(str(root)) == f'digits: kept the dataset in {root}'
    other = tmp_path / 'other'
    (other / 'train').mkdir(parents=True)
    with pytest.raises(FileExistsError, match='not a complete digits dataset'):
        study_data_module.prepare_digits(str(other))


def test_pretrain_length_tool_pairs_the_runs_at_each_length(tmp_path):
    """tools/analysis/pretrain_length.py (as a user runs it): per length, the paired cmae - mae
    difference with its interval and sign-flip p, and the references' rows; and the figure."""

    def results(name, offset):
        runs = []
        for seed in range(3):
            control = {'finetune_top1_from_scratch_tuned': 70.0 + seed,
                       'finetune_top1_pixel_svm': 80.0}
            runs.append(dict(run='mae', seed=seed, metrics={'finetune_top1': 75.0 + seed,
                                                             **control}))
            runs.append(dict(run='cmae', seed=seed,
                             metrics={'finetune_top1': 75.0 + seed + offset + 0.1 * seed,
                                      **control}))
        path = tmp_path / f'{name}.json'
        path.write_text(json.dumps(dict(study=name, runs=runs)))
        return path

    short, long_ = results('pt5e', -1.0), results('pt20e', 0.5)
    bad = run_tool(['tools/analysis/pretrain_length.py', 'five=x.json', '--out-dir', 'o'],
                   cwd=tmp_path)
    assert bad.returncode == 2 and "'five=x.json': expected EPOCHS=RESULTS_JSON" in bad.stderr
    done = run_tool(['tools/analysis/pretrain_length.py', f'5={short}', f'20={long_}',
                     '--out-dir', str(tmp_path / 'out')], cwd=tmp_path)
    assert done.returncode == 0, output_of(done)
    md = (tmp_path / 'out' / 'length.md').read_text()
    # diffs -1.0, -0.9, -0.8: mean -0.90, sd 0.1, t(2) = 4.303 -> half width 0.248
    assert '| 5 | pt5e | cmae | mae | 3 | 75.10 ± 1.10 (n=3) | -0.90 | [-1.15, -0.65] | 0.25 |' in md
    assert '| 20 | pt20e | cmae | mae | 3 |' in md and '| +0.60 |' in md
    assert '| 5 | pt5e | mae | RBF SVM on raw pixels | 3 | 76.00 ± 1.00 (n=3) | -4.00 |' in md
    assert (tmp_path / 'out' / 'length.png').read_bytes()[:8] == PNG_MAGIC
