"""``torch.compile``: one graph for the training forward of every family, and ``compile`` from a
config or ``tools/train.py --compile`` (forward compiled, optimizer step eager, resumable,
checkpoints that load into an uncompiled model).

The compiled loss equals the eager loss and gradients: ``tests/test_benchmark_tools.py``
(``test_compiled_loss_equals_eager_and_has_no_graph_break``), on the tiny Fashion-MNIST ViT.
"""
import json
from pathlib import Path

import pytest
import torch
from mmpretrain.structures import DataSample

from cmae_mm.analysis.benchmark.compile import graph_breaks
from cmae_mm.analysis.benchmark.models import BatchMaker, build_model, load_config, model_specs
from cmae_mm.engine.compile import WORKING_KEY, compile_options
from cmae_mm.engine.errors import ConfigError
from helpers import REPO, output_of, run_tool
from test_fashion_mnist import write_tiny_fmnist

VIT = 'configs/selfsup/cmae_vit-tiny-p4_fashion-mnist.py'
FINETUNE = 'configs/classification/fashion_mnist/cmae_vit-tiny-p4_ft-100e_fashion-mnist.py'
SWIN = 'configs/selfsup/simmim/cmae-simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'
FCMAE = 'configs/selfsup/fcmae/cmae-fcmae_convnext-v2-base_32xb128-amp-coslr-800e_in1k.py'
# The B-size hierarchical configs shrunk to a 4x4 grid of 32-px cells at 128 px (one stage-3
# token per cell, as at 192 / 224 px).
TINY_SWIN = {'model.backbone.arch': dict(_delete_=True, embed_dims=16, depths=[1, 1, 1, 1],
                                         num_heads=[1, 1, 1, 1]),
             'model.backbone.img_size': 128, 'model.neck.in_channels': 128,
             'model.backbone.stage_cfgs': dict(block_cfgs=dict(window_size=2))}
TINY_FCMAE = {'model.backbone.arch': dict(_delete_=True, depths=[1, 1, 1, 1],
                                          channels=[8, 16, 32, 64]),
              'model.backbone.img_size': 128, 'model.neck.in_channels': 64,
              'model.neck.embed_dims': 16}
FAMILIES = {
    'ViT MAE L(0; 0.75)': (VIT, {'model.backbone.mask_layers': [0],
                                 'model.backbone.mask_ratios': [0.75]}),
    'ViT CMAE L(0,10; 0.75,0.1)': (VIT, {}),
    'ViT CMAE L(0,10,11; 0.75,0.1,0.1)': (VIT, {'model.backbone.mask_layers': [0, 10, 11],
                                               'model.backbone.mask_ratios': [0.75, 0.1, 0.1]}),
    # a shot that removes nothing, with shot weights: its error (0, not NaN) enters the loss
    'ViT CMAE L(0,10; 0.75,0) weighted': (VIT, {'model.backbone.mask_ratios': [0.75, 0.0],
                                                'model.head.shot_weights': [1.0, 0.5]}),
    'SimMIM-Swin L(0,3; 0.6,0.1)': (SWIN, TINY_SWIN),
    'FCMAE L(0,3; 0.6,0.1)': (FCMAE, TINY_FCMAE),
    'fine-tuning TransferViT': (FINETUNE, {'model.backbone.init_cfg': None}),
}


def family_batch(cfg, batch_size: int = 2) -> dict:
    """A training batch as the config's dataloader gives it (labels for the classifier, the
    pipeline's SimMIM masks for the Swin model)."""
    if cfg.model.type == 'ImageClassifier':
        return dict(inputs=torch.randint(0, 256, (batch_size, 1, 28, 28), dtype=torch.uint8),
                    data_samples=[DataSample().set_gt_label(i) for i in range(batch_size)])
    for step in cfg.train_dataloader.dataset.pipeline:
        if step['type'] == 'SimMIMMaskGenerator':
            step['input_size'] = cfg.model.backbone.img_size
    return BatchMaker(cfg, batch_size, seed=0)()


def test_training_forward_of_every_family_is_one_graph():
    """dynamo traces the training loss of each family (ViT with 1, 2 and 3 shots, SimMIM-Swin,
    FCMAE, the fine-tuning classifier) as one graph: no numpy drop-path rate, no ``bool()`` /
    ``.item()`` host sync (per-shot errors, SimMIM's mask check, label smoothing)."""
    found = {}
    for name, (config, overrides) in FAMILIES.items():
        cfg = load_config(config, overrides)
        torch.manual_seed(0)
        model = build_model(cfg, torch.device('cpu'))
        batch = family_batch(cfg)
        found[name] = graph_breaks(model, batch)
        data = model.data_preprocessor(batch, True)
        losses = model.loss(data['inputs'], data['data_samples'])  # eager: finite, as traced
        assert all(torch.isfinite(v).all() for v in losses.values()), (name, losses)
        if 'weighted' in name:
            assert losses['rec_err_shot2'].item() == 0.0
            losses['loss'].backward()
            assert all(torch.isfinite(p.grad).all() for p in model.parameters()
                       if p.grad is not None)
    assert {n: (f['graphs'], f['breaks']) for n, f in found.items()} == \
        {n: (1, 0) for n in FAMILIES}, {n: f['reasons'] for n, f in found.items()}


def test_the_traceable_loss_leaves_upstreams_registry_entry():
    """The fine-tuning config's label smoothing is the suite's own class, registered under its own
    name: importing cmae_mm leaves mmpretrain's LabelSmoothLoss as it is."""
    from mmpretrain.models.losses import LabelSmoothLoss
    from mmpretrain.registry import MODELS

    import cmae_mm.components  # noqa: F401
    from cmae_mm.models.losses import TraceableLabelSmoothLoss

    assert MODELS.get('LabelSmoothLoss') is LabelSmoothLoss
    assert MODELS.get('TraceableLabelSmoothLoss') is TraceableLabelSmoothLoss
    loss, ours = LabelSmoothLoss(0.1, mode='original'), TraceableLabelSmoothLoss(0.1, mode='original')
    score, label = torch.randn(4, 10), torch.tensor([0, 3, 9, 2])
    assert torch.equal(loss(score, label), ours(score, label))


def test_compile_options():
    assert compile_options(None) is None and compile_options(False) is None
    assert compile_options(True) == dict(target='forward')  # mmengine's switch works
    assert compile_options(dict(backend='aot_eager')) == dict(backend='aot_eager',
                                                              target='forward')
    assert compile_options(dict(target='model', mode='max-autotune')) == \
        dict(target='model', mode='max-autotune')
    for bad, named in ((dict(target='train_step'), WORKING_KEY), ('yes', WORKING_KEY),
                       (dict(backnd='inductor'), 'backnd')):
        with pytest.raises(ConfigError, match=named.replace('(', r'\(').replace(')', r'\)')):
            compile_options(bad)


def test_compiled_training_through_the_tool_resumes_and_saves_plain_checkpoints(tmp_path):
    """``tools/train.py --compile``: two compiled iterations of the Fashion-MNIST pre-training
    config (a 2-block ViT, dynamo's ``aot_eager`` backend given as a config key, so that no C++
    is compiled), then ``--resume`` for a second epoch; the checkpoint loads strictly into an
    uncompiled model. mmengine's ``target='train_step'`` stops in one line."""
    root = write_tiny_fmnist(tmp_path / 'data', gz=False, train_per_class=4)
    work = tmp_path / 'work'
    common = ['--work-dir', str(work), '--cfg-options',
              f'train_dataloader.dataset.data_root={root}', 'train_dataloader.batch_size=20',
              'default_hooks.logger.interval=1',
              'model.backbone.arch.num_layers=2', 'model.backbone.mask_layers=[0,1]',
              'model.neck.decoder_depth=1', 'compile.backend=aot_eager']
    result = run_tool(['tools/train.py', str(REPO / VIT), '--compile'] + common +
                      ['train_cfg.max_epochs=1'], cwd=tmp_path, timeout=600)
    log = output_of(result)
    assert result.returncode == 0, log[-3000:]
    assert "Compiled the model ({'backend': 'aot_eager', 'target': 'forward'})" in log
    result = run_tool(['tools/train.py', str(REPO / VIT), '--compile', '--resume'] + common +
                      ['train_cfg.max_epochs=2'], cwd=tmp_path, timeout=600)
    log = output_of(result)
    assert result.returncode == 0, log[-3000:]
    assert 'resumed epoch: 1, iter: 2' in log and 'Compiled the model' in log
    scalars = [json.loads(line) for path in sorted(work.glob('*/vis_data/scalars.json'))
               for line in path.read_text().splitlines()]
    steps = [s for s in scalars if 'loss' in s]
    assert [s['step'] for s in steps] == [1, 2, 3, 4]
    assert all(torch.isfinite(torch.tensor(s['loss'])) for s in steps)

    state = torch.load(work / 'epoch_2.pth', map_location='cpu', weights_only=False)
    assert state['meta']['iter'] == 4
    assert not [k for k in state['state_dict'] if '_orig_mod' in k]
    cfg = load_config(VIT, {'model.backbone.arch.num_layers': 2,
                            'model.backbone.mask_layers': [0, 1], 'model.neck.decoder_depth': 1})
    model = build_model(cfg, torch.device('cpu'), init=False)
    model.load_state_dict(state['state_dict'], strict=True)

    result = run_tool(['tools/train.py', str(REPO / VIT), '--work-dir', str(tmp_path / 'bad'),
                       '--cfg-options', f'train_dataloader.dataset.data_root={root}',
                       'compile.target=train_step'], cwd=tmp_path, timeout=300)
    err = result.stderr.strip().splitlines()
    assert result.returncode == 1 and err[-1].startswith('tools/train.py: error: compile target '
                                                         "'train_step' is not supported: set "
                                                         f'{WORKING_KEY}'), output_of(result)


def _graph_targets(fn, *args) -> set:
    """The call targets of the FX graph dynamo captures for ``fn(*args)``."""
    targets = set()

    def record(gm, example_inputs):
        targets.update(str(node.target) for node in gm.graph.nodes)
        return gm.forward

    torch._dynamo.reset()
    torch.compile(fn, backend=record, dynamic=False)(*args)
    torch._dynamo.reset()
    return targets


@pytest.mark.parametrize('tokens', [13, 50, 197])
def test_few_token_attention_is_sdpa_eagerly_and_the_measured_kernel_when_compiled(tokens):
    """Eager: torch's SDPA itself (bit for bit, so the models stay equal to stock mmpretrain).
    Compiled: three ops up to FEW_TOKENS keys, SDPA above; output and gradients within 1e-6 of
    SDPA's."""
    import torch.nn.functional as F

    from cmae_mm.models.utils import FEW_TOKENS, few_token_attention

    gen = torch.Generator().manual_seed(tokens)
    q, k, v = (torch.randn(4, 3, tokens, 16, generator=gen, requires_grad=True)
               for _ in range(3))
    grad = torch.randn(4, 3, tokens, 16, generator=gen)
    reference = F.scaled_dot_product_attention(q, k, v)
    ref_grads = torch.autograd.grad(reference, (q, k, v), grad)
    assert torch.equal(few_token_attention(q, k, v), reference)

    targets = _graph_targets(few_token_attention, q, k, v)
    uses_sdpa = any('scaled_dot_product' in t for t in targets)
    assert uses_sdpa == (tokens > FEW_TOKENS), targets
    compiled = torch.compile(few_token_attention, dynamic=False)
    out = compiled(q, k, v)
    torch.testing.assert_close(out, reference, rtol=0, atol=1e-6)
    for got, want in zip(torch.autograd.grad(out, (q, k, v), grad), ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    torch._dynamo.reset()


def test_vit_models_attend_with_few_token_attention():
    """Every attention of the pre-training ViT (encoder and decoder) and of the fine-tuning ViT
    uses few_token_attention; stock mmpretrain MAE keeps torch's SDPA."""
    from mmpretrain.models.utils import MultiheadAttention

    from cmae_mm.models.utils import few_token_attention

    def kernels(model):
        return [m.scaled_dot_product_attention for m in model.modules()
                if isinstance(m, MultiheadAttention)]

    pretrain = build_model(load_config(VIT), torch.device('cpu'), init=False)
    assert len(kernels(pretrain)) == 12 + 2
    assert all(k is few_token_attention for k in kernels(pretrain))
    finetune = build_model(load_config(FINETUNE, {'model.backbone.init_cfg': None}),
                           torch.device('cpu'), init=False)
    assert len(kernels(finetune)) == 12
    assert all(k is few_token_attention for k in kernels(finetune))
    (spec, ) = model_specs(['mae'], ['t'])
    stock = build_model(load_config(spec.config, spec.overrides, spec.drop), torch.device('cpu'),
                        init=False)
    assert kernels(stock) and all(k is not few_token_attention for k in kernels(stock))
