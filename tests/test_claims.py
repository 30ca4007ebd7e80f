"""The paper's claims as study evaluations (cmae_mm/study/claims.py) and their report
(``study.py claims``), on a tiny trained study: pre-trained for a few iterations, fine-tuned, then
the claim evaluations added to the finished runs, collected and reported, as a user runs them."""
import json

import numpy as np
import pytest
import torch
import yaml

from cmae_mm.study.claims import neighbour_share
from cmae_mm.study.claims_report import _ratio_figure, _ratio_sweep, verdict
from helpers import REPO, output_of, run_tool
from test_fashion_mnist import write_tiny_fmnist

PRETRAIN = str(REPO / 'configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py')
CLAIMS = [dict(name='attention', num_images=20), dict(name='cka', num_images=20, batch_size=10),
          dict(name='robustness', ratios=[0.5, 0.9]),
          dict(name='reversed_attention', num_images=20)]


def test_verdict_reads_the_interval_against_the_predicted_side():
    assert verdict([1.0, 1.2, 0.9], +1) == 'supported'
    assert verdict([1.0, 1.2, 0.9], -1) == 'contradicted'
    assert verdict([1.0, -1.2, 0.9], +1) == 'not resolved at this scale'
    assert verdict([1.0], +1) == 'one seed: not resolved'
    assert verdict([], +1) == 'not measured'


def test_ratio_sweep_keeps_the_runs_that_differ_only_in_eta2(tmp_path):
    """Fig. 3's sweep: the two-shot runs sharing the most common (layers, eta1); another shot
    layer, a one-shot run and a run without accuracy are left out; the figure needs 2 ratios."""
    def entry(run, seed, layers, ratios, top1=None):
        accuracy = {} if top1 is None else {'finetune_top1': top1, 'linear_probe_top1': top1 - 4}
        return dict(run=run, seed=seed, layers=layers, ratios=ratios, accuracy=accuracy,
                    metrics={})

    runs = [entry('mae', s, [0], [0.75], 79 + s) for s in (0, 1)]
    runs += [entry('cmae', s, [0, 10], [0.75, 0.1], 78 + s) for s in (0, 1)]
    runs += [entry('eta25', 0, [0, 10], [0.75, 0.25], 78.5), entry('eta25', 1, [0, 10],
                                                                  [0.75, 0.25])]
    runs += [entry('layer9', 0, [0, 9], [0.75, 0.1], 77.0)]
    claims = dict(study='s', baseline='mae', runs=runs)
    sweep = _ratio_sweep(claims)
    assert list(sweep) == [0.1, 0.25]
    assert [(e['run'], e['seed']) for e in sweep[0.1]] == [('cmae', 0), ('cmae', 1)]
    assert [(e['run'], e['seed']) for e in sweep[0.25]] == [('eta25', 0)]
    path = _ratio_figure(claims, tmp_path)
    assert path == tmp_path / 'ratio.png' and path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert _ratio_figure(dict(claims, runs=runs[:4]), tmp_path / 'none') is None


def test_neighbour_share_of_a_hand_made_attention():
    """3x3 grid, visible tokens 0 (corner), 1 (its neighbour), 8 (far corner); token 0 is removed.
    Queries 1 and 8 attend to key 0 with 0.6 and 0.2 (after the row renormalisation without CLS):
    the share received by 0's neighbours is 0.6 / 0.8; chance is 1 neighbour of 2 other tokens."""
    a = torch.zeros(1, 1, 4, 4)  # CLS + 3 tokens
    a[0, 0, 1:, 0] = 1.  # some CLS mass, dropped by the renormalisation
    a[0, 0, 1, 1:] = torch.tensor([.5, .25, .25])
    a[0, 0, 2, 1:] = torch.tensor([.6, .2, .2])
    a[0, 0, 3, 1:] = torch.tensor([.2, .4, .4])
    share, chance, count = neighbour_share(a, torch.tensor([[0, 1, 8]]), torch.tensor([[0]]),
                                           (3, 3))
    assert count == 1
    assert share == pytest.approx(.6 / .8)
    assert chance == pytest.approx(.5)


def test_patch_occlusion_on_grayscale_images():
    """Fashion-MNIST images are (28, 28): a 1-value fill (the data pre-processor's mean) occludes
    exactly round(ratio * 49) 4x4 cells; a colour image with a 1-value fill is refused."""
    from cmae_mm.datasets.transforms.robustness import PatchOcclusion
    from cmae_mm.evaluation.perturbation import _preprocessor_fill

    fill = _preprocessor_fill(dict(data_preprocessor=dict(mean=[72.94], std=[90.0])))
    assert fill == dict(fill=(72.94, ))
    img = np.full((28, 28), 200, np.uint8)
    out = PatchOcclusion(ratio=0.5, patch_size=4, **fill).transform(
        dict(img=img.copy(), sample_idx=3))['img']
    cells = out.reshape(7, 4, 7, 4).swapaxes(1, 2).reshape(49, 16)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert int((cells == 73).all(1).sum()) == 25 and int((cells == 200).all(1).sum()) == 24
    with pytest.raises(ValueError, match=r'grayscale image, got shape \(28, 28, 3\)'):
        PatchOcclusion(patch_size=4, **fill).transform(
            dict(img=np.zeros((28, 28, 3), np.uint8), sample_idx=0))


FINETUNE = 'configs/classification/fashion_mnist/cmae_vit-tiny-p4_ft-100e_fashion-mnist.py'


def _train_steps(model, batches, steps: int = 3) -> None:
    """A few AdamW steps on ``model.loss`` (so the weights are not the initialisation)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for _, data in zip(range(steps), batches):
        data = model.data_preprocessor(data, True)
        losses = model.loss(data['inputs'], data['data_samples'])
        opt.zero_grad()
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        opt.step()


def _tiny_trained_run(run_dir, cfg, ft_cfg, root, layers, ratios, seed: int = 0) -> None:
    """A run's work dir as ``study.py run`` leaves it after pre-training and the finetune
    evaluation: ``epoch_1.pth``, ``finetune/epoch_2.pth`` (+ ``last_checkpoint``), trained a few
    steps in this process (the runner's training and fine-tuning have their own tests)."""
    from mmengine.dataset import default_collate
    from mmpretrain.registry import DATASETS, MODELS

    import cmae_mm.components  # noqa: F401
    from cmae_mm.study.evaluations import split_dataset

    dataset = DATASETS.build(split_dataset(root, 'train'))
    batches = [default_collate([dataset[i] for i in range(k, k + 16)]) for k in (0, 16, 32)]
    torch.manual_seed(seed)
    cfg.model.backbone.mask_layers, cfg.model.backbone.mask_ratios = layers, ratios
    model = MODELS.build(dict(cfg.model, data_preprocessor=cfg.get('data_preprocessor')
                              or cfg.model.get('data_preprocessor')))
    model.init_weights()
    _train_steps(model, batches)
    run_dir.mkdir(parents=True)
    torch.save({'state_dict': model.state_dict()}, run_dir / 'epoch_1.pth')
    ft_cfg.model.backbone.init_cfg = None
    classifier = MODELS.build(dict(ft_cfg.model, data_preprocessor=dict(
        type='ClsDataPreprocessor', **ft_cfg.data_preprocessor)))
    classifier.init_weights()
    _train_steps(classifier, batches)
    (run_dir / 'finetune').mkdir()
    torch.save({'state_dict': classifier.state_dict()}, run_dir / 'finetune' / 'epoch_2.pth')
    (run_dir / 'finetune' / 'last_checkpoint').write_text(
        str(run_dir / 'finetune' / 'epoch_2.pth'))


def test_claim_evaluations_on_a_tiny_trained_study(tmp_path):
    """Two finished runs (MAE, two-shot; trained a few steps): `run` adds the claim evaluations
    listed after their results were written (keeping the earlier metrics), `collect` and `claims`
    write the table and figures, `report` keeps them out of its accuracy table."""
    from mmengine.config import Config

    root = write_tiny_fmnist(tmp_path / 'data', gz=False, train_per_class=6, test_per_class=3)
    finetune = dict(name='finetune', labels_per_class=2, epochs=2, data_root=str(root),
                    from_scratch=False)
    spec = dict(
        name='tiny', base_config=PRETRAIN, seeds=[0], work_root=str(tmp_path / 'studies'),
        cfg_options={'train_dataloader.dataset.data_root': str(root), 'train_cfg.max_epochs': 1},
        runs=[dict(name='mae', mask_layers=[0], mask_ratios=[0.75]),
              dict(name='cmae', mask_layers=[0, 10], mask_ratios=[0.75, 0.1])],
        evaluations=[finetune] + [dict(o, data_root=str(root)) for o in CLAIMS])
    study = tmp_path / 'study.yml'
    study.write_text(yaml.safe_dump(spec))
    run_dir = tmp_path / 'studies' / 'tiny'
    for name, layers, ratios in (('mae', [0], [0.75]), ('cmae', [0, 10], [0.75, 0.1])):
        wd = run_dir / f'{name}_seed0'
        _tiny_trained_run(wd, Config.fromfile(PRETRAIN), Config.fromfile(str(REPO / FINETUNE)),
                          root, layers, ratios)
        result = dict(name=f'tiny/{name}_seed0', study='tiny', run=name, seed=0, config=PRETRAIN,
                      cfg_options={}, notation=f'L({",".join(map(str, layers))}; '
                      f'{",".join(map(str, ratios))})', work_dir=str(wd),
                      checkpoint=str(wd / 'epoch_1.pth'), metrics={'finetune_top1': 12.5},
                      evaluations=[finetune])
        (wd / 'result.json').write_text(json.dumps(result))

    added = run_tool(['tools/study/study.py', 'run', str(study)], cwd=tmp_path, timeout=600)
    assert added.returncode == 0, output_of(added)[-3000:]
    assert added.stdout.count('added the evaluation(s) attention, cka, robustness, '
                              'reversed_attention') == 2, added.stdout
    results = {r: json.loads((run_dir / f'{r}_seed0' / 'result.json').read_text())
               for r in ('mae', 'cmae')}
    cmae = results['cmae']['metrics']
    assert cmae['finetune_top1'] == 12.5  # kept, not re-evaluated
    assert [e['name'] for e in results['cmae']['evaluations']] == [
        'finetune', 'attention', 'cka', 'robustness', 'reversed_attention']
    assert results['cmae']['added_evaluations'][0]['names'][0] == 'attention'
    again = run_tool(['tools/study/study.py', 'run', str(study)], cwd=tmp_path)
    assert again.stdout.count('done, skipped') == 2, output_of(again)
    # the clean robustness pass is the fine-tuned classifier on the test images: the top-1 of
    # tools/test.py (mmpretrain's Accuracy) on the same checkpoint
    scored = run_tool(['tools/test.py', FINETUNE, str(run_dir / 'cmae_seed0/finetune/epoch_2.pth'),
                       '--work-dir', str(tmp_path / 'score'), '--cfg-options',
                       f'test_dataloader.dataset.data_root={root}'], cwd=REPO)
    assert scored.returncode == 0, output_of(scored)[-2000:]
    assert f"accuracy/top1: {cmae['robust_clean']:.4f}" in output_of(scored)
    for r in results.values():
        assert {'robust_occlusion_50', 'robust_occlusion_90', 'robust_shuffle'} <= set(r['metrics'])
        assert {f'attn_{k}_{s}_b{b:02d}' for k in ('distance', 'entropy') for s in ('pt', 'ft')
                for b in range(12)} <= set(r['metrics'])
    # both encoders are read at the same tokens (same draw), so uniform attention's share agrees
    assert cmae['revattn_chance_share'] == results['mae']['metrics']['revattn_chance_share']
    assert sorted(k for k in cmae if k.startswith('cka_')) == [
        f'cka_mae_b{b:02d}' for b in range(13)]
    assert not any(k.startswith('cka_') for k in results['mae']['metrics'])
    cka = json.loads((run_dir / 'cmae_seed0' / 'claims' / 'cka.json').read_text())
    assert np.allclose(np.diag(cka['self']), 1.) and np.array(cka['cross']).shape == (13, 13)
    assert any(cmae[f'attn_entropy_pt_b{b:02d}'] != cmae[f'attn_entropy_ft_b{b:02d}']
               for b in range(12))

    assert run_tool(['tools/study/study.py', 'collect', str(study)], cwd=tmp_path).returncode == 0
    out = tmp_path / 'claims'
    report = run_tool(['tools/study/study.py', 'claims', str(study), '--out-dir', str(out)],
                      cwd=tmp_path)
    assert report.returncode == 0, output_of(report)[-3000:]
    text = (out / 'report.md').read_text()
    assert '## `cmae` L(0,10; 0.75,0.1) vs `mae`' in text
    assert 'Locality (Fig. 5)' in text and 'one seed: not resolved' in text
    for name in ('attention.png', 'cka.png', 'robustness.png'):
        assert (out / name).stat().st_size > 0, name
    claims = json.loads((out / 'claims.json').read_text())
    assert {r['run'] for r in claims['runs']} == {'mae', 'cmae'}
    # the study's own report keeps the claim metrics out of its accuracy table
    rep = run_tool(['tools/study/study.py', 'report', str(study)], cwd=tmp_path)
    assert rep.returncode == 0, output_of(rep)[-2000:]
    assert 'attn_distance' not in (run_dir / 'report.md').read_text()
