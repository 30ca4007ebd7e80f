"""The README's main command: tools/demo.py end to end (short), and run folders never clash."""
import importlib.util
import json
import subprocess

from helpers import PYTHON, REPO

DEMO = REPO / 'tools' / 'demo.py'


def load_demo():
    spec = importlib.util.spec_from_file_location('demo', DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_runs_end_to_end(tmp_path):
    """Two pre-training epochs on 512 images, fine-tuning pre-trained and from scratch on 500
    labels for 8 epochs: both accuracies are computed and above chance (10 %); the console stays
    short. On a machine where Fashion-MNIST cannot be prepared the digits fallback runs instead."""
    result = subprocess.run([PYTHON, str(DEMO), '--epochs', '2', '--pretrain-images', '512',
                             '--ft-epochs', '8', '--labels-per-class', '50', '--work-root',
                             str(tmp_path / 'runs'), '--data-root', str(tmp_path / 'fmnist')],
                            capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir, ) = [p for p in (tmp_path / 'runs').iterdir() if p.is_dir()]
    summary = json.loads((run_dir / 'summary.json').read_text())
    assert summary['schedule'] == 'L(0,10; 0.75,0.1)' and summary['epochs'] == 2
    assert len(summary['results']) == 2
    for value in summary['results'].values():
        assert 10.0 < value <= 100.0  # above chance on 10 classes
    png = run_dir / 'reconstruction.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10_000
    assert (run_dir / 'pretrain' / 'epoch_2.pth').exists()
    assert len(result.stdout.splitlines()) < 60, result.stdout  # no per-parameter init report
    if summary['data'] == 'fashion_mnist':
        assert 'fine-tuned from the pre-trained encoder' in result.stdout
        assert 'trained from scratch' in result.stdout
        assert 'pre-training epoch 2/2: loss' in result.stdout
        assert (run_dir / 'finetune' / 'test_metrics.json').is_file()
        assert (run_dir / 'scratch' / 'test_metrics.json').is_file()
    else:
        assert 'falling back to the digits demo' in result.stdout


def test_demo_refuses_a_one_epoch_schedule(tmp_path):
    result = subprocess.run([PYTHON, str(DEMO), '--epochs', '1', '--work-root', str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and '--epochs=1: must be at least 2' in result.stderr
    assert not any(tmp_path.iterdir())


def test_second_run_gets_a_new_folder(tmp_path):
    demo = load_demo()
    first = demo.new_run_dir(tmp_path)
    (first / 'keep.txt').write_text('first run')
    second = demo.new_run_dir(tmp_path)
    assert second != first and (first / 'keep.txt').read_text() == 'first run'
