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
              '--warmup', '0', '--device', 'cpu', '--threads', '1', '--variants', 'fused']
# A 192-d ViT with a 1-block 64-d decoder and a three-shot schedule.
FLOPS_ARGS = ['configs/selfsup/cmae/cmae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py', '--cfg-options',
              'model.backbone.arch=deit-tiny',
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
    row, fused = json.loads(report.read_text())['models']
    assert row['name'] == 'cmae-2shot' and row['step_gflops_per_image'] > 0
    assert row['peak_memory_growth_bytes'] is not None
    assert fused['name'] == 'cmae-2shot+fused' and fused['baseline'] == 'cmae-2shot'
    assert fused['time_ratio'] > 0 and fused['flop_ratio'] == 1.0

    assert flops.returncode == 0, flops_out + flops_err
    assert 'counter: mmengine.analysis.FlopAnalyzer' in flops_out
    assert 'patch tokens (CLS excluded) per block: 49x10 44 39' in flops_out
    assert '| block 11 | 39 | 40 |' in flops_out
    assert 'GMACs per image (forward)' in flops_out


def test_fused_adamw_updates_match_the_unfused_ones():
    """torch's fused AdamW (``optim_wrapper.optimizer.fused=True``) against today's step: the same
    model, batches and masks, 3 training steps through the configs' own optimizer wrappers
    (parameter-wise decay settings included). Measured: after 1 step every weight agrees to
    float32 rounding (1 ulp); after 3 steps to 1e-6 except the key part of the attention qkv biases.
    Softmax is invariant to a key bias, so its true gradient is 0 and autograd leaves float
    noise there (~1e-12), which Adam normalises into steps of up to the lr: any rounding
    difference flips them (up to 1.4e-4 at lr 2e-3 after 3 steps in the tiny ViT). Those entries are checked to have a noise-level gradient instead."""
    import copy

    import torch

    from cmae_mm.analysis.benchmark import BatchMaker, build_model, build_optimizer, load_config

    cases = {  # one small model per family with its own optimizer settings
        'configs/selfsup/cmae_vit-tiny-p4_digits_demo.py': {},
        'configs/selfsup/fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py': {
            'model.backbone.arch': {'_delete_': True, 'depths': [1, 1, 1, 1],
                                    'channels': [8, 16, 32, 64]},
            'model.neck.in_channels': 64, 'model.neck.embed_dims': 16},
    }

    def trained(config, overrides, fused, steps):
        cfg = load_config(config, {**copy.deepcopy(overrides),
                                   'optim_wrapper.optimizer.fused': fused})
        torch.manual_seed(0)
        model = build_model(cfg, torch.device('cpu'))
        optim = build_optimizer(cfg, model, amp=False)
        assert optim.optimizer.defaults['fused'] is fused
        batches = BatchMaker(cfg, 2, seed=0)
        torch.manual_seed(1)
        for _ in range(steps):
            model.train_step(batches(), optim)
        return model

    for config, overrides in cases.items():
        one = [trained(config, overrides, fused, 1).state_dict() for fused in (False, True)]
        assert all(torch.allclose(one[0][k], one[1][k], rtol=2e-7, atol=1e-7) for k in one[0]
                   if one[0][k].is_floating_point())  # float32 rounding
        plain, fused = (trained(config, overrides, f, 3) for f in (False, True))
        probe = trained(config, overrides, False, 0)  # the gradients of the first step
        cfg = load_config(config, copy.deepcopy(overrides))
        torch.manual_seed(1)
        data = probe.data_preprocessor(BatchMaker(cfg, 2, seed=0)(), True)
        probe.parse_losses(probe(**data, mode='loss'))[0].backward()
        grads = {n: p.grad for n, p in probe.named_parameters()}
        for name, p in plain.named_parameters():
            a, b = p.detach().clone(), dict(fused.named_parameters())[name].detach()
            if name.endswith('qkv.bias'):  # key biases: zero true gradient, see above
                c = a.numel() // 3
                assert grads[name][c:2 * c].abs().max() < 1e-6 * grads[name].abs().max() + 1e-9
                a, b = torch.cat([a[:c], a[2 * c:]]), torch.cat([b[:c], b[2 * c:]])
            assert torch.allclose(a, b, rtol=1e-6, atol=1e-6), (config, name, (a - b).abs().max())


# --------------------------------------------------------------------------- GPU acceptance run

PRETRAIN_CHECKS = ['mae (ViT-B/16)', 'cmae-1shot (ViT-B/16)', 'cmae-2shot (ViT-B/16)',
                   'cmae-3shot (ViT-B/16)', 'simmim (Swin-B/w6 192px)',
                   'cmae-simmim-1shot (Swin-B/w6 192px)', 'cmae-simmim-2shot (Swin-B/w6 192px)',
                   'fcmae-1shot (ConvNeXtV2-B 224px)', 'fcmae-2shot (ConvNeXtV2-B 224px)',
                   'mae (ViT-L/16)', 'cmae-2shot (ViT-L/16)']
# Fault injection for the failing run: building any FCMAE model raises.
FAIL_FCMAE = '''
import runpy, sys
import cmae_mm.analysis.benchmark.acceptance as acceptance
build = acceptance.build_model
def failing_build(cfg, device, init=True):
    if cfg.model.type == 'FCMAE':
        raise RuntimeError('injected fault: FCMAE does not build')
    return build(cfg, device, init)
acceptance.build_model = failing_build
sys.argv = ['tools/analysis/gpu_check.py'] + sys.argv[1:]
runpy.run_path('tools/analysis/gpu_check.py', run_name='__main__')
'''


def test_gpu_check_cpu_smoke_runs_every_family_end_to_end(tmp_path: Path) -> None:
    """``tools/gpu_check.sh --cpu-smoke`` (environment check included) trains every pre-training
    family (eager, then compiled with dynamo's aot_eager backend, which compiles no C++), one
    UperNet and one Mask R-CNN iteration, writes the JSON and the markdown table and
    exits 0; with a family that fails to build, it still runs the others and exits 1 naming it."""
    out = tmp_path / 'check'
    # both runs at once, one thread each (two cores)
    passing = subprocess.Popen(['bash', str(REPO / 'tools/gpu_check.sh'), '--cpu-smoke',
                                '--compile-backend', 'aot_eager', '--out-dir', str(out)],
                               cwd=REPO, env=tool_env(OMP_NUM_THREADS='1'),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the failing run: both FCMAE models, and the two-shot ViT of each size around them
    failing = subprocess.Popen([PYTHON, '-c', FAIL_FCMAE, '--cpu-smoke', '--no-dense',
                                '--no-compile', '--only', 'fcmae-1shot', 'fcmae-2shot',
                                'cmae-2shot', '--out-dir', str(tmp_path / 'failing')], cwd=REPO,
                               env=tool_env(OMP_NUM_THREADS='1'), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    stdout, stderr = passing.communicate(timeout=600)
    fail_out, fail_err = failing.communicate(timeout=600)
    proc = subprocess.CompletedProcess(passing.args, passing.returncode, stdout, stderr)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / 'gpu_check.json').read_text())
    rows = {r['check']: r for r in report['checks']}
    assert list(rows)[:11] == PRETRAIN_CHECKS
    assert [r['status'] for r in report['checks']] == ['ok'] * 13, report['checks']
    assert rows['UperNet ADE20K']['config'].startswith('configs/mmseg/')
    assert rows['Mask R-CNN COCO']['config'].startswith('configs/mmdet/')
    for r in report['checks']:
        assert r['ms_per_iter'] > 0 and r['images_per_s'] > 0 and r['batch_size'] == 2
        assert r['amp'] is False  # CPU: fp32
    for r in report['checks'][:11]:  # every pre-training model also took compiled steps
        assert r['compile_backend'] == 'aot_eager' and r['compiled_ms_per_iter'] > 0
        assert r['compiled_ratio'] == r['compiled_ms_per_iter'] / r['ms_per_iter']
    assert rows['cmae-2shot (ViT-B/16)']['ms_ratio_to_baseline'] > 0
    assert rows['mae (ViT-B/16)']['ms_ratio_to_baseline'] == 1.0
    assert report['vit_l']['paper_ratio'] == 650 / 670 and report['vit_l']['ratio'] > 0
    assert report['first_failure'] is None and report['settings']['smoke'] is True
    md = (out / 'gpu_check.md').read_text()
    assert '| cmae-3shot (ViT-B/16) | L(0,10,11; 0.75,0.1,0.1) | 2 | no |' in md
    assert '| compiled ms/iter | compiled / eager | compile s | status |' in md
    assert 'paper footnote 4: 650 vs 670 ms/iter' in md and md in proc.stdout

    assert failing.returncode == 1, fail_out[-3000:] + fail_err[-3000:]
    assert 'error: first failing check: fcmae-1shot (ConvNeXtV2-B 224px)' in fail_err
    report = json.loads((tmp_path / 'failing' / 'gpu_check.json').read_text())
    status = {r['check']: r['status'] for r in report['checks']}
    assert status.pop('fcmae-1shot (ConvNeXtV2-B 224px)') == 'failed'
    assert status.pop('fcmae-2shot (ConvNeXtV2-B 224px)') == 'failed'
    assert status == {'cmae-2shot (ViT-B/16)': 'ok', 'cmae-2shot (ViT-L/16)': 'ok'}  # ran on
    assert [r['check'] for r in report['checks']][1:3] == ['fcmae-1shot (ConvNeXtV2-B 224px)',
                                                           'fcmae-2shot (ConvNeXtV2-B 224px)']
    assert not any('compiled_ms_per_iter' in r for r in report['checks'])  # --no-compile
    assert 'injected fault: FCMAE does not build' in (tmp_path / 'failing' / 'gpu_check.md').read_text()


def test_gpu_check_without_cuda_asks_for_the_smoke_flag(tmp_path: Path, monkeypatch) -> None:
    """Refusals before anything runs (status 2, nothing written): no CUDA device without
    --cpu-smoke, and an unknown --only model, named with the allowed ones."""
    import torch

    from helpers import run_tool_in_process

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    proc = run_tool_in_process(['tools/analysis/gpu_check.py', '--out-dir', tmp_path], cwd=REPO)
    assert proc.returncode == 2
    assert 'no CUDA device: the acceptance run is for a GPU machine; use --cpu-smoke' in proc.stderr
    proc = run_tool_in_process(['tools/analysis/gpu_check.py', '--cpu-smoke', '--only', 'mae',
                                'vit-huge', '--out-dir', tmp_path], cwd=REPO)
    assert proc.returncode == 2
    assert ('--only vit-huge: not a model of the run; allowed: mae, cmae-1shot, cmae-2shot, '
            'cmae-3shot, simmim, cmae-simmim-1shot, cmae-simmim-2shot, fcmae-1shot, '
            'fcmae-2shot') in proc.stderr
    assert not (tmp_path / 'gpu_check.json').exists()


def test_compiled_loss_equals_eager_and_has_no_graph_break():
    """The benchmark's ``compile`` variant on the Fashion-MNIST tiny ViT, two-shot L(0,10; 0.75,0.1):
    dynamo traces the loss as one graph (it was 18 before the drop-path rates became Python
    floats and the per-shot errors lost their ``bool(removed.any())`` host sync), and the
    compiled ``model.loss`` gives the eager loss and gradients (same weights, same masks).
    The other families: ``tests/test_compile.py``."""
    import copy

    import torch

    from cmae_mm.analysis.benchmark.compile import compile_loss, graph_breaks
    from cmae_mm.analysis.benchmark.models import (BatchMaker, build_model, load_config,
                                                   model_specs)

    (spec, ) = model_specs(['cmae-2shot'], ['t'])
    cfg = load_config(spec.config, spec.overrides, spec.drop)
    torch.manual_seed(0)
    eager = build_model(cfg, torch.device('cpu'))
    batch = BatchMaker(cfg, 8, seed=0)()
    found = graph_breaks(eager, batch)
    assert (found['graphs'], found['breaks']) == (1, 0), found['reasons']
    compiled = copy.deepcopy(eager)  # after the trace, which updated the head's running mean
    compile_loss(compiled)
    grads = []
    # fallback_random: compiled code draws its random numbers as eager torch does (inductor's own
    # generator would give other masks from the same seed)
    with torch._inductor.config.patch(fallback_random=True):
        for model in (eager, compiled):
            torch.manual_seed(1)  # the same random masks in both
            data = model.data_preprocessor(batch, True)
            losses = model.loss(data['inputs'], data['data_samples'])
            losses['loss'].backward()
            grads.append((losses, {n: p.grad for n, p in model.named_parameters()
                                   if p.grad is not None}))
    (l_eager, g_eager), (l_comp, g_comp) = grads
    for key in l_eager:
        torch.testing.assert_close(l_comp[key], l_eager[key], rtol=1e-5, atol=1e-6)
    assert g_comp.keys() == g_eager.keys() and len(g_eager) > 20
    for name in g_eager:
        torch.testing.assert_close(g_comp[name], g_eager[name], rtol=1e-4, atol=1e-6, msg=name)
