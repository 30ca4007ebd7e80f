"""The interleaved training-step benchmark (``tools/analysis/benchmark_pretrain.py``)."""
import gc
import statistics
from itertools import groupby
from typing import Any, Dict, List, Optional, Sequence

import torch

from .compile import compile_loss, graph_breaks
from .flops import count_step_flops, visibility
from .memory import CpuMemoryProbe
from .models import BatchMaker, MODEL_NAMES, build_model, build_optimizer, load_config, model_specs
from .report import (environment, print_checks, print_compile, print_profiles, print_table,
                     silence_mmengine_logs, summarise, write_json)
from .timing import Entry, MatmulProbe, profile_steps, round_order, timed


def run_benchmark(models: Sequence[str] = MODEL_NAMES,
                  archs: Sequence[str] = ('b', ),
                  batch_size: int = 2,
                  rounds: int = 5,
                  warmup: int = 1,
                  device: str = 'auto',
                  amp: bool = False,
                  threads: Optional[int] = None,
                  profile: Optional[Sequence[str]] = None,
                  profile_steps_per_model: int = 2,
                  json_path: Optional[str] = None,
                  variants: Sequence[str] = ()) -> Dict[str, Any]:
    """Benchmark full pre-training steps of the selected models, interleaved per family.

    Prints the device, torch version, thread count, a markdown table and (with ``profile``) a
    per-model breakdown of step time by op category.

    Args:
        models: Names among :data:`MODEL_NAMES`.
        archs: ViT archs (``'s'``, ``'b'``, ``'l'``) for the ViT models.
        batch_size: Images per step.
        rounds: Timed rounds (one step of every model of a family per round).
        warmup: Untimed steps per model before measuring (at least 1: it allocates the optimizer
            states).
        device: ``'auto'`` (CUDA when available), ``'cpu'`` or ``'cuda'``.
        amp: Mixed precision as the configs' ``AmpOptimWrapper`` (CUDA only).
        threads: ``torch.set_num_threads`` (default: leave torch's choice).
        profile: Model names to profile (torch.profiler) after timing, printing where their
            step time goes; an empty list profiles every selected model, None none.
        profile_steps_per_model: Steps per profile.
        json_path: Write the results there as JSON.
        variants: Names among :data:`~.models.VARIANTS` (e.g. ``'fused'``): a twin of every model,
            measured in the same rounds, its ratio taken against the model.

    Returns:
        dict: ``environment``, ``models`` (one dict per model) and, per family, the matmul peak.

    Raises:
        ValueError: On an invalid argument (unknown model, CUDA unavailable, ``amp`` on CPU, ...).
    """
    if batch_size < 1 or rounds < 1 or warmup < 0:
        raise ValueError('batch_size and rounds must be >= 1 and warmup >= 0')
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if device == 'cuda' and not torch.cuda.is_available():
        raise ValueError('--device cuda: CUDA is not available')
    if device not in ('cpu', 'cuda'):
        raise ValueError(f'device={device!r}: choose auto, cpu or cuda')
    if amp and device != 'cuda':
        raise ValueError('--amp needs CUDA (the configs\' AmpOptimWrapper is a CUDA autocast)')
    dev = torch.device(device)
    silence_mmengine_logs()
    if threads:
        torch.set_num_threads(threads)
    specs = model_specs(models, archs, variants)
    if not specs:
        raise ValueError('no model selected')

    amp_dtype = torch.float16
    env = environment(dev, amp, '')
    mem_probe = CpuMemoryProbe() if dev.type == 'cpu' else None
    env['memory_method'] = (mem_probe.method if mem_probe else
                            'torch.cuda.max_memory_allocated - memory_allocated before the step')
    print(f"device: {env['device']} ({env['device_name']}), torch {env['torch']}, "
          f"{env['threads']} threads, AMP {'on' if amp else 'off'}, batch {batch_size}, "
          f'{rounds} rounds, {warmup} warm-up step(s)')
    print(f"memory: {env['memory_method']}")

    results, peaks = [], {}
    for group, group_specs in groupby(specs, key=lambda s: s.group):
        group_specs = list(group_specs)
        print(f"{group}: building {', '.join(s.name for s in group_specs)}, then "
              f'{max(1, warmup)} warm-up, 2 memory and {rounds} timed step(s) each, interleaved',
              flush=True)
        entries = []
        for spec in group_specs:
            cfg = load_config(spec.config, spec.overrides, spec.drop)
            if amp:
                amp_dtype = getattr(torch, str(cfg.optim_wrapper.get('dtype') or 'float16'))
            torch.manual_seed(0)
            model = build_model(cfg, dev)
            optim_wrapper = build_optimizer(cfg, model, amp)
            entry = Entry(spec, cfg, model, optim_wrapper, BatchMaker(cfg, batch_size, seed=0),
                          visibility(model, cfg), sum(p.numel() for p in model.parameters()))
            entry.flops = count_step_flops(model, optim_wrapper, entry.batches())
            if cfg.get('compile'):
                entry.graph_breaks = graph_breaks(model, entry.batches())
                compile_loss(model, **(cfg.compile if isinstance(cfg.compile, dict) else {}))
            entries.append(entry)
        probe = MatmulProbe(dev, amp_dtype if amp else torch.float32)
        env['matmul_probe'] = probe.label
        for w in range(max(1, warmup)):
            probe.measure()
            for entry in entries:
                if w == 0:  # the first step of a compiled model compiles it
                    entry.first_step_s = timed(entry.step, dev)
                else:
                    entry.step()
        if dev.type == 'cpu':
            for _ in range(2):
                for entry in entries:
                    entry.memory.append(mem_probe.measure(entry.step))
        peak_rounds: List[float] = []
        for r in range(rounds):
            for item in round_order(entries + [probe], r):
                if item is probe:
                    peak_rounds.append(probe.measure())
                    continue
                if dev.type == 'cuda':
                    torch.cuda.synchronize(dev)
                    torch.cuda.reset_peak_memory_stats(dev)
                    before = torch.cuda.memory_allocated(dev)
                item.times.append(timed(item.step, dev))
                if dev.type == 'cuda':
                    peak = torch.cuda.max_memory_allocated(dev)
                    item.memory.append(peak - before)
                    item.memory_total.append(peak)
        peak = statistics.median(peak_rounds)
        peaks[group] = dict(median_flops_per_s=peak, rounds=peak_rounds)
        by_name = {e.spec.name: e for e in entries}
        for entry in entries:
            results.append(summarise(entry, by_name.get(entry.spec.baseline), batch_size, peak))
        if profile is not None:
            for entry in entries:
                if profile and entry.spec.name not in profile:
                    continue
                prof = profile_steps(entry, dev, profile_steps_per_model)
                results_by_label = {r['label']: r for r in results}
                results_by_label[entry.spec.label]['profile'] = prof
        del entries, by_name
        gc.collect()
        if dev.type == 'cuda':
            torch.cuda.empty_cache()

    env['matmul_peak'] = {g: p['median_flops_per_s'] for g, p in peaks.items()}
    print_table(results, peaks, dev)
    print_checks(results)
    print_compile(results)
    if profile is not None:
        print_profiles(results)
    report = dict(environment=env, settings=dict(batch_size=batch_size, rounds=rounds,
                                                   warmup=warmup, archs=list(archs),
                                                   models=list(models),
                                                   variants=list(variants)),
                  matmul_peak=peaks, models=results)
    if json_path:
        write_json(json_path, report)
    return report
