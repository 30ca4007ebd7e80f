"""The README's main command: tools/demo.py end to end (one epoch), and run folders never clash."""
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
    result = subprocess.run([PYTHON, str(DEMO), '--epochs', '1', '--work-root', str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir, ) = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((run_dir / 'summary.json').read_text())
    assert summary['schedule'] == 'L(0,10; 0.75,0.1)' and summary['epochs'] == 1
    for key in ('pretrained', 'random_init'):
        assert 10.0 < summary['linear_probe_top1'][key] <= 100.0  # far above chance on 10 digits
    png = run_dir / 'reconstruction.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10_000
    assert (run_dir / 'epoch_1.pth').exists()
    assert len(list((run_dir / 'data' / 'train').glob('*/*.png'))) == 1437
    assert 'linear probe top-1, pre-trained encoder' in result.stdout


def test_second_run_gets_a_new_folder(tmp_path):
    demo = load_demo()
    first = demo.new_run_dir(tmp_path)
    (first / 'keep.txt').write_text('first run')
    second = demo.new_run_dir(tmp_path)
    assert second != first and (first / 'keep.txt').read_text() == 'first run'
