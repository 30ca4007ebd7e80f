"""The README's main command, tools/demo.py: each data path end to end (short) with its own results,
the demo's study files, its refusals, and run folders that never clash."""
import json
import subprocess
from pathlib import Path

import pytest

from helpers import PYTHON, REPO, load_tool_module

DEMO = REPO / 'tools' / 'demo.py'
# Two pre-training epochs on 512 images; fine-tuning 4 epochs on 20 labels per class.
SHORT = ['--epochs', '2', '--pretrain-images', '512', '--ft-epochs', '4',
         '--labels-per-class', '20']


def load_tool():
    return load_tool_module('tools/demo.py')


def fashion_mnist_root(tmp_path: Path) -> Path:
    """The repository's prepared Fashion-MNIST, or a fresh one from Debian's package; skips the
    test, naming what is missing, where neither can be had."""
    from cmae_mm.datasets.fashion_mnist import (DEBIAN_PACKAGE, FASHION_MNIST_FILES,
                                                FashionMNISTSourceError, prepare_fashion_mnist)

    shared = REPO / 'data' / 'fashion_mnist'
    if all((shared / name).is_file() for name in FASHION_MNIST_FILES):
        return shared
    try:
        prepare_fashion_mnist(str(tmp_path / 'fmnist'))
    except FashionMNISTSourceError as e:
        pytest.skip(f'Fashion-MNIST: data/fashion_mnist holds no idx files and Debian\'s package '
                    f'{DEBIAN_PACKAGE} cannot be had ({str(e).splitlines()[0][:120]})')
    return tmp_path / 'fmnist'


def check_run(work_root: Path, stdout: str, data: str, metrics: set) -> dict:
    """What both paths write: one run folder with summary.json, the pre-training checkpoint and
    result.json of the study, the reconstruction grid; one progress line per pre-training epoch;
    a short console. Returns the summary."""
    (run_dir, ) = [p for p in work_root.iterdir() if p.is_dir()]
    summary = json.loads((run_dir / 'summary.json').read_text())
    assert summary['data'] == data and summary['study'] == f'configs/study/demo_{data}.yml'
    assert summary['schedule'] == 'L(0,10; 0.75,0.1)' and summary['epochs'] == 2
    assert set(summary['results']) == metrics
    for value in summary['results'].values():
        assert 0.0 <= value <= 100.0
    run_work_dir = run_dir / f'demo_{data}' / 'cmae_seed0'
    assert Path(summary['checkpoint']) == run_work_dir / 'epoch_2.pth'
    assert (run_work_dir / 'epoch_2.pth').is_file()
    result = json.loads((run_work_dir / 'result.json').read_text())
    assert {k: round(v, 2) for k, v in result['metrics'].items()} == summary['results']
    png = run_dir / 'reconstruction.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10_000
    assert png.with_suffix('.json').is_file()
    assert 'pre-training epoch 1/2: loss' in stdout and 'pre-training epoch 2/2: loss' in stdout
    assert len(stdout.splitlines()) < 60, stdout  # no per-parameter init report
    return summary


def test_fashion_mnist_demo_end_to_end(tmp_path):
    """The Fashion-MNIST path through the command line: both arms fine-tuned and scored on the
    test images, each printed, with a progress line per epoch of every training."""
    root = fashion_mnist_root(tmp_path)
    result = subprocess.run([PYTHON, str(DEMO), '--data', 'fashion_mnist', '--data-root', str(root),
                             '--work-root', str(tmp_path / 'runs')] + SHORT,
                            capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = check_run(tmp_path / 'runs', result.stdout, 'fashion_mnist',
                        {'finetune_top1', 'finetune_top1_from_scratch_tuned'})
    out = result.stdout
    assert 'falling back' not in out
    assert 'Fashion-MNIST, 200 labels, test top-1 on the 10,000 test images' in out
    for label, metric in (('fine-tuned from the pre-trained encoder', 'finetune_top1'),
                          ('trained from scratch (its own recipe)',
                           'finetune_top1_from_scratch_tuned')):
        assert f'{label:<40}: {summary["results"][metric]:6.2f} %' in out
    for arm in ('fine-tuning pre-trained', 'fine-tuning from scratch'):
        assert f'{arm} epoch 4/4: loss' in out
    study_dir = Path(summary['work_dir']) / 'demo_fashion_mnist'
    assert (study_dir / 'cmae_seed0' / 'finetune' / 'test_metrics.json').is_file()
    (control, ) = study_dir.glob('controls/scratch-*_seed0')
    assert (control / 'test_metrics.json').is_file()


def test_digits_fallback_end_to_end(tmp_path, monkeypatch, capsys):
    """The fallback path where Fashion-MNIST cannot be prepared (its preparer fails here as on a
    machine without the Debian package): one line says so and why, then the digits study runs
    with its own results, the digits written into the run folder."""
    from cmae_mm.datasets.fashion_mnist import FashionMNISTSourceError
    from cmae_mm.study.data import PREPARERS

    def unavailable(root, source=None):
        raise FashionMNISTSourceError('Fashion-MNIST: no source found (test)')

    monkeypatch.setitem(PREPARERS, 'fashion_mnist', unavailable)
    tool = load_tool()
    code = tool.main(['--work-root', str(tmp_path / 'runs'), '--data-root', str(tmp_path / 'none'),
                      '--epochs', '2', '--ft-epochs', '4'])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = check_run(tmp_path / 'runs', out, 'digits',
                        {'linear_probe_top1', 'linear_probe_top1_random_init'})
    assert ('Fashion-MNIST could not be prepared (Fashion-MNIST: no source found (test)); '
            'falling back to the digits demo (linear probe)') in out
    assert '--ft-epochs: not used by configs/study/demo_digits.yml; ignored' in out
    assert 'Digits (fallback): linear probe top-1' in out
    for label, metric in (('linear probe, pre-trained', 'linear_probe_top1'),
                          ('linear probe, random init', 'linear_probe_top1_random_init')):
        assert f'{label:<40}: {summary["results"][metric]:6.2f} %' in out
    run_dir = Path(summary['work_dir'])
    assert len(list((run_dir / 'data' / 'val').glob('*/*.png'))) == 360
    assert not (tmp_path / 'none').exists() and 'fine-tuning' not in out


def test_fashion_mnist_requested_but_unavailable_fails_with_the_reason(tmp_path, monkeypatch,
                                                                       capsys):
    from cmae_mm.datasets.fashion_mnist import FashionMNISTSourceError
    from cmae_mm.study.data import PREPARERS

    def unavailable(root, source=None):
        raise FashionMNISTSourceError('Fashion-MNIST: no source found (test)')

    monkeypatch.setitem(PREPARERS, 'fashion_mnist', unavailable)
    assert load_tool().main(['--data', 'fashion_mnist', '--work-root', str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert 'error: Fashion-MNIST: no source found (test)' in out and 'digits' not in out
    (run_dir, ) = tmp_path.iterdir()
    assert not any(run_dir.iterdir())  # nothing trained


@pytest.mark.parametrize('flag,value,least', [('--epochs', 1, 2), ('--ft-epochs', 1, 2),
                                              ('--pretrain-images', 0, 1),
                                              ('--labels-per-class', 0, 1)])
def test_demo_refuses_bad_lengths_before_writing(tmp_path, flag, value, least):
    result = subprocess.run([PYTHON, str(DEMO), flag, str(value), '--work-root', str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert f'{flag}={value}: must be at least {least}' in result.stderr
    assert not any(tmp_path.iterdir())


def test_demo_study_files_and_options():
    """The study files hold the demo's defaults (one run, one seed, the two-shot schedule, the
    tuned from-scratch control at the demo's length); the tool's options replace them wherever
    the file sets them, and the options a study has no place for are named."""
    from cmae_mm.study.demo import DATA_CHOICES, DemoOptions, demo_study
    from cmae_mm.study.evaluations import FINETUNE_CONFIG

    assert load_tool().DATA_CHOICES == DATA_CHOICES
    run_dir = REPO / 'work_dirs' / 'never-written'
    study, ignored = demo_study('fashion_mnist', run_dir)
    (run, ) = study.expand()
    assert ignored == [] and study.study_dir == run_dir / 'demo_fashion_mnist'
    assert run.spec.notation == 'L(0,10; 0.75,0.1)' and run.seed == 0
    assert run.cfg_options['train_cfg.max_epochs'] == 4
    assert run.cfg_options['train_dataloader.dataset.indices'] == 20000
    ((name, finetune), ) = study.evaluations
    assert name == 'finetune' and finetune['config'] == FINETUNE_CONFIG
    assert finetune['labels_per_class'] == 100 and finetune['epochs'] == 30
    assert finetune['from_scratch'] is False
    assert finetune['scratch'] == {
        'config': 'configs/classification/fashion_mnist/vit-tiny-p4_scratch_fashion-mnist.py',
        'epochs': 30}

    study, ignored = demo_study('fashion_mnist', run_dir, DemoOptions(8, 512, 6, 20), 'elsewhere')
    (run, ) = study.expand()
    options = run.cfg_options
    assert (options['train_cfg.max_epochs'], options['param_scheduler.0.end'],
            options['param_scheduler.1.T_max']) == (8, 2, 6)
    assert options['train_dataloader.dataset.indices'] == 512
    root = str(REPO / 'elsewhere')
    assert options['train_dataloader.dataset.data_root'] == root
    assert study.prepare == (('fashion_mnist', {'root': root}), )
    finetune = dict(study.evaluations)['finetune']
    assert (finetune['epochs'], finetune['scratch']['epochs'], finetune['labels_per_class'],
            finetune['data_root']) == (6, 6, 20, root)
    assert ignored == []

    study, ignored = demo_study('digits', run_dir, DemoOptions(3, 512, 6, 20), run_dir / 'data')
    (run, ) = study.expand()
    assert ignored == ['pretrain_images', 'ft_epochs', 'labels_per_class']
    assert run.cfg_options['train_cfg.max_epochs'] == 3
    assert study.evaluations == (('linear_probe', {'data_root': str(run_dir / 'data')}), )
    with pytest.raises(ValueError, match="data='mnist': allowed fashion_mnist, digits"):
        demo_study('mnist', run_dir)


def test_second_run_gets_a_new_folder(tmp_path):
    from cmae_mm.study.demo import new_run_dir

    first = new_run_dir(tmp_path)
    (first / 'keep.txt').write_text('first run')
    second = new_run_dir(tmp_path)
    assert second != first and (first / 'keep.txt').read_text() == 'first run'
