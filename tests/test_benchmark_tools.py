"""Smoke test of the benchmark tools: both run as subprocesses on tiny settings and print tables.

No timing is asserted (the numbers depend on the machine); the two tools run concurrently to stay
within a few tens of seconds (one thread each, so that they do not oversubscribe two cores).
"""
import json
import subprocess
from pathlib import Path

from helpers import PYTHON, REPO, tool_env

# ViT-S, one model, one round, batch 1, one thread.
BENCH_ARGS = ['--archs', 's', '--models', 'cmae-2shot', '--rounds', '1', '--batch-size', '1',
              '--warmup', '0', '--device', 'cpu', '--threads', '1']
# A 192-d ViT with a 1-block 64-d decoder and a three-shot schedule.
FLOPS_ARGS = ['configs/selfsup/cmae_vitb_300e.py', '--cfg-options', 'model.backbone.arch=deit-tiny',
              'model.neck.embed_dim=192', 'model.neck.decoder_embed_dim=64',
              'model.neck.decoder_depth=1', 'model.neck.decoder_num_heads=2',
              'model.backbone.mask_layers=[0,10,11]', 'model.backbone.mask_ratios=[0.75,0.1,0.1]']


def _start(tool: str, args, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, str(REPO / tool)] + args, cwd=cwd,
                            env=tool_env(OMP_NUM_THREADS='1'), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_benchmark_and_get_flops_print_their_tables(tmp_path: Path) -> None:
    report = tmp_path / 'bench.json'
    bench = _start('tools/analysis/benchmark_pretrain.py', BENCH_ARGS + ['--json', str(report)],
                   REPO)
    flops = _start('tools/analysis/get_flops.py', FLOPS_ARGS, REPO)
    bench_out, bench_err = bench.communicate(timeout=240)
    flops_out, flops_err = flops.communicate(timeout=240)

    assert bench.returncode == 0, bench_out + bench_err
    assert 'torch ' in bench_out and '1 threads' in bench_out
    assert '| model | schedule |' in bench_out
    assert '| cmae-2shot (ViT-S/16) | L(0,10; 0.75,0.1) | 49x10 44x2 |' in bench_out
    assert 'matmul peak' in bench_out
    row = json.loads(report.read_text())['models'][0]
    assert row['name'] == 'cmae-2shot' and row['step_gflops_per_image'] > 0
    assert row['peak_memory_growth_bytes'] is not None

    assert flops.returncode == 0, flops_out + flops_err
    assert 'counter: mmengine.analysis.FlopAnalyzer' in flops_out
    assert 'patch tokens (CLS excluded) per block: 49x10 44 39' in flops_out
    assert '| block 11 | 39 | 40 |' in flops_out
    assert 'GMACs per image (forward)' in flops_out
