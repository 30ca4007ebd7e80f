"""Pre-training cost of every family of the suite: training-step time, memory and FLOPs.

Three tools call this module:

* ``tools/analysis/benchmark_pretrain.py`` (:func:`run_benchmark`): full training steps of stock
  mmpretrain baselines and the suite's multi-shot variants, measured interleaved in one process.
* ``tools/analysis/get_flops.py`` (:func:`run_get_flops`): tokens / visible cells per block or
  stage and forward FLOPs per image of the masked model of one pre-training config.
* ``tools/gpu_check.sh`` / ``tools/analysis/gpu_check.py`` (:func:`.acceptance.run_acceptance`):
  does every family train on this (GPU) machine, how fast, in how much memory.

Models (``--models`` names; the ViT ones are built for each of ``--archs``):

=====================  ===========================================================  ===========
name                   model (config + overrides)                                   baseline
=====================  ===========================================================  ===========
mae                    stock mmpretrain ``MAE`` / ``MAEViT`` / ``MAEPretrainHead``, mae
                       ``mask_ratio=0.75`` (ViT config of the arch, types replaced)
cmae-1shot             ``ConditionalMAE`` L(0; 0.75)                                mae
cmae-2shot             ``ConditionalMAE`` L(0,10; 0.75,0.1)                         mae
cmae-3shot             ``ConditionalMAE`` L(0,10,11; 0.75,0.1,0.1)                  mae
simmim                 stock mmpretrain ``SimMIM`` Swin-B/w6 at 192 px              simmim
cmae-simmim-1shot      ``CMAESimMIM`` L(0; 0.6)                                     simmim
cmae-simmim-2shot      ``CMAESimMIM`` L(0,3; 0.6,0.1)                               simmim
fcmae-1shot            ``FCMAE`` ConvNeXt V2-B at 224 px, L(0; 0.6)                 fcmae-1shot
fcmae-2shot            ``FCMAE`` L(0,3; 0.6,0.1)                                    fcmae-1shot
=====================  ===========================================================  ===========

The Swin models get a real SimMIM mask per image, drawn by the config's ``SimMIMMaskGenerator``.

What a training step is: ``model.train_step(data, optim_wrapper)`` as mmengine's loop calls it
(data preprocessor, forward, loss parsing, backward, optimizer step with the config's optimizer
wrapper built by :func:`mmengine.optim.build_optim_wrapper`, zero_grad). On CPU, or without
``--amp``, the config's ``AmpOptimWrapper`` is replaced by an ``OptimWrapper`` with the same
optimizer, parameter-wise settings and gradient clipping.

Interleaving: the models of one family (the four ViTs of one arch, the three Swins, the two
ConvNeXts) are held in memory together, with a dense-matmul probe, and measured round-robin: every
round runs one step of each, in an order rotated from round to round. Medians over rounds are
reported; the step-time ratio of a variant to its baseline is the median of the per-round ratios
(paired, so that load changes between rounds cancel). Families are measured one after the other
(all nine B-size models with AdamW states would need about 15 GB).

Memory: on CUDA, ``torch.cuda.max_memory_allocated`` over a step after
``torch.cuda.reset_peak_memory_stats``, minus the memory allocated before it (the step's growth
over the resident parameters, gradients and optimizer states), max over rounds. On CPU torch has
no allocator statistics and ``tracemalloc`` does not see its allocations; the growth of the
process's resident set during one step is measured from the kernel's high-water mark: free heap
memory is returned to the OS (``malloc_trim(0)``), the high-water mark is reset (``5`` written to
``/proc/self/clear_refs``) and ``VmHWM`` after the step minus ``VmRSS`` before it is the step's
peak growth. This works with other models resident in the same process. The measurement runs in
its own interleaved pass (two steps per model, max) between warm-up and the timed rounds, because
returning memory to the OS makes the following step fault its pages in again. If ``clear_refs``
cannot be written, ``ru_maxrss`` deltas are used, which only see growth beyond the process's
earlier peak (reported as a lower bound).

FLOPs: :class:`torch.utils.flop_counter.FlopCounterMode` (matmuls, convolutions, attention; 2
FLOPs per multiply-add) on one forward+backward of each model, per image, with two corrections
(:data:`FLOP_FIXES`): the CPU kernel of ``scaled_dot_product_attention``
(``_scaled_dot_product_flash_attention_for_cpu``) is missing from torch's registry and is counted
with torch's own SDPA formulas, and torch counts the weight gradient of a grouped (depthwise)
convolution ``groups`` times too high, so ``convolution_backward`` is counted as one forward
convolution per requested gradient. Achieved FLOP/s =
step FLOPs / median step time (the optimizer step counts no FLOP but its time is included), as a
fraction of the dense-matmul peak the tool measures in the same rounds: square fp32 ``torch.mm``
on CPU, in the AMP dtype on CUDA, best of three per round, median over rounds.


Layout (one concern per module): :mod:`.models` (configs, model specs, building models, optimizers
and batches), :mod:`.flops` (FLOP counting and its corrections, visible tokens per layer),
:mod:`.memory` (CPU peak memory), :mod:`.timing` (matmul peak, timed steps, profiles),
:mod:`.report` (printed tables), :mod:`.run` (:func:`run_benchmark`), :mod:`.get_flops`
(:func:`run_get_flops`), :mod:`.compile` (the ``compile`` variant and graph breaks),
:mod:`.acceptance` (the GPU acceptance run of ``tools/gpu_check.sh``, built on :mod:`.models`
and :mod:`.timing`).
"""
from .flops import FLOP_FIXES, FlopCount, Visibility, count_step_flops, visibility
from .get_flops import run_get_flops
from .memory import CpuMemoryProbe
from .models import (CONVNEXT_MODELS, FCMAE_CONFIGS, MODEL_NAMES, SWIN_CONFIGS, SWIN_MODELS,
                     VARIANTS, VIT_ARCHS, VIT_MODELS, VIT_SCHEDULES, BatchMaker, ModelSpec,
                     build_model, build_optimizer, input_size, load_config, model_specs)
from .run import run_benchmark
from .timing import Entry, MatmulProbe, profile_steps

__all__ = ['BatchMaker', 'CONVNEXT_MODELS', 'CpuMemoryProbe', 'Entry', 'FCMAE_CONFIGS',
           'FLOP_FIXES', 'FlopCount', 'MODEL_NAMES', 'MatmulProbe', 'ModelSpec', 'SWIN_CONFIGS',
           'SWIN_MODELS', 'VARIANTS', 'VIT_ARCHS', 'VIT_MODELS', 'VIT_SCHEDULES', 'Visibility',
           'build_model', 'build_optimizer', 'count_step_flops', 'input_size', 'load_config',
           'model_specs', 'profile_steps', 'run_benchmark', 'run_get_flops', 'visibility']
