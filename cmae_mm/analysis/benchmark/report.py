"""The benchmark's printed report: environment, per-model summary, tables, target checks and
profiles.
"""
import statistics
from typing import Any, Dict, List, Optional

import torch

from ..common import cpu_name
from .timing import Entry


def environment(device: torch.device, amp: bool, matmul_label: str) -> Dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else cpu_name()
    return dict(device=str(device), device_name=name, torch=torch.__version__,
                threads=torch.get_num_threads(), amp=amp, matmul_probe=matmul_label)


def write_json(path: str, report: Dict[str, Any]) -> None:
    """Write a benchmark's report as indented JSON (folders created) and say where."""
    import json
    from pathlib import Path

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f'wrote {path}')


def fmt(x: Optional[float], spec: str) -> str:
    return '-' if x is None else format(x, spec)


def summarise(entry: Entry, base: Optional[Entry], batch_size: int,
               peak: float) -> Dict[str, Any]:
    step = statistics.median(entry.times)
    flops_step = entry.flops.forward_backward
    row = dict(
        name=entry.spec.name, group=entry.spec.group, label=entry.spec.label,
        config=entry.spec.config, overrides=entry.spec.overrides, drop=list(entry.spec.drop),
        schedule=entry.spec.schedule, baseline=entry.spec.baseline, params=entry.params,
        visibility=dict(unit=entry.vis.unit, layer=entry.vis.layer, total=entry.vis.total,
                        per_layer=entry.vis.per_layer, runs=entry.vis.runs()),
        step_times_s=entry.times, step_s=step, images_per_s=batch_size / step,
        forward_gflops_per_image=entry.flops.forward / batch_size / 1e9,
        step_gflops_per_image=flops_step / batch_size / 1e9,
        flops_by_op=entry.flops.by_op,
        achieved_gflops_per_s=flops_step / step / 1e9,
        fraction_of_matmul_peak=flops_step / step / peak,
        peak_memory_growth_bytes=max(entry.memory) if entry.memory else None,
        peak_memory_total_bytes=max(entry.memory_total) if entry.memory_total else None,
        memory_samples_bytes=entry.memory, first_step_s=entry.first_step_s,
        graph_breaks=entry.graph_breaks)
    if entry.graph_breaks is not None and entry.first_step_s is not None:
        row['compile_s'] = entry.first_step_s - step  # first step minus a compiled step
    if base is not None:
        paired = [t / b for t, b in zip(entry.times, base.times)]
        row['time_ratio'] = statistics.median(paired)
        row['flop_ratio'] = flops_step / base.flops.forward_backward
        row['time_ratio_target_met'] = row['time_ratio'] <= row['flop_ratio'] + 0.01
    else:
        row['time_ratio'] = row['flop_ratio'] = row['time_ratio_target_met'] = None
    return row


def print_table(results: List[Dict[str, Any]], peaks: Dict[str, Dict[str, Any]],
                 dev: torch.device) -> None:
    mem_head = 'peak mem growth MiB' if dev.type == 'cpu' else 'peak mem MiB (growth)'
    print()
    print(f'| model | schedule | visible per block/stage | GFLOPs/img fwd+bwd | step s '
          f'| img/s | {mem_head} | GFLOP/s | % matmul peak | time / base | FLOPs / base |')
    print('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    for r in results:
        mib = r['peak_memory_growth_bytes']
        mem = fmt(None if mib is None else mib / 2**20, '.0f')
        if r['peak_memory_total_bytes'] is not None:
            mem = f"{r['peak_memory_total_bytes'] / 2**20:.0f} ({mem})"
        print(f"| {r['label']} | {r['schedule']} | {r['visibility']['runs']} "
              f"| {r['step_gflops_per_image']:.2f} | {r['step_s']:.3f} "
              f"| {r['images_per_s']:.2f} | {mem} | {r['achieved_gflops_per_s']:.1f} "
              f"| {100 * r['fraction_of_matmul_peak']:.1f} | {fmt(r['time_ratio'], '.3f')} "
              f"| {fmt(r['flop_ratio'], '.3f')} |")
    print()
    for group, p in peaks.items():
        print(f"matmul peak ({group} rounds): {p['median_flops_per_s'] / 1e9:.1f} GFLOP/s "
              f"(median of {len(p['rounds'])} rounds)")


def print_checks(results: List[Dict[str, Any]]) -> None:
    """The targets: time ratio <= FLOP ratio + 0.01, two-shot memory <= one-shot, 85% of peak."""
    print()
    for r in results:
        if r['time_ratio'] is not None and r['name'] != r['baseline']:
            ok = 'holds' if r['time_ratio_target_met'] else 'MISSED'
            print(f"{r['label']}: time/base {r['time_ratio']:.3f} <= FLOPs/base "
                  f"{r['flop_ratio']:.3f} + 0.01: {ok}")
    by_label = {r['label']: r for r in results}
    for r in results:
        if '2shot' not in r['name'] or r['peak_memory_growth_bytes'] is None:
            continue
        one = by_label.get(r['label'].replace('2shot', '1shot'))
        if one is None or one['peak_memory_growth_bytes'] is None:
            continue
        a, b = r['peak_memory_growth_bytes'] / 2**20, one['peak_memory_growth_bytes'] / 2**20
        print(f"{r['label']}: peak memory {a:.0f} MiB <= one-shot {b:.0f} MiB: "
              f"{'holds' if a <= b else 'MISSED'}")
    for r in results:
        if r['group'].startswith('ViT-B'):
            frac = r['fraction_of_matmul_peak']
            print(f"{r['label']}: {100 * frac:.1f}% of the matmul peak >= 85%: "
                  f"{'holds' if frac >= 0.85 else 'MISSED'}")


def print_compile(results: List[Dict[str, Any]]) -> None:
    """Per compiled model: compile time (its first step minus its median step) and graph breaks."""
    for r in results:
        if r.get('graph_breaks') is None:
            continue
        gb = r['graph_breaks']
        print(f"compile: {r['label']}: first step {r['first_step_s']:.1f} s, compile ~"
              f"{r['compile_s']:.1f} s; loss traced as {gb['graphs']} graph(s) with "
              f"{gb['breaks']} break(s)" + (': ' + '; '.join(gb['reasons']) if gb['reasons'] else ''))


def silence_mmengine_logs() -> None:
    """Keep mmengine's per-parameter init and optimizer logs off the report (warnings stay)."""
    from mmengine.logging import MMLogger

    MMLogger.get_instance('cmae_mm_benchmark', log_level='WARNING')


def print_profiles(results: List[Dict[str, Any]]) -> None:
    for r in results:
        prof = r.get('profile')
        if not prof:
            continue
        total = sum(prof['categories'].values())
        print(f"\nprofile {r['label']}: {prof['wall_s']:.3f} s/step under the profiler, "
              f'{total:.3f} s of op self time')
        print('| category | ms/step | % | GFLOP/s |')
        print('|---|---:|---:|---:|')
        for cat, seconds in prof['categories'].items():
            rate = prof['gflops_per_s'].get(cat)
            print(f'| {cat} | {1e3 * seconds:.1f} | {100 * seconds / total:.1f} '
                  f'| {fmt(rate, ".1f")} |')
