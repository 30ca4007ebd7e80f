"""Timing: the dense-matmul peak probe, a timed step, the built models measured round-robin
(:class:`Entry`) and the op-category profile.
"""
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from .flops import FlopCount, Visibility, op_category
from .models import BatchMaker, ModelSpec


class MatmulProbe:
    """Dense square matmul throughput: fp32 on CPU, the AMP dtype on CUDA.

    Args:
        device: Where to run.
        dtype: Operand dtype.
        n: Matrix side (2048 on CPU, 8192 on CUDA by default).
        reps: Matmuls per measurement; the best is kept.
    """

    def __init__(self, device: torch.device, dtype: torch.dtype, n: Optional[int] = None,
                 reps: int = 3) -> None:
        self.device, self.dtype, self.reps = device, dtype, reps
        self.n = n or (8192 if device.type == 'cuda' else 2048)
        self.a = torch.randn(self.n, self.n, device=device).to(dtype)
        self.b = torch.randn(self.n, self.n, device=device).to(dtype)
        self.label = f'{self.n}x{self.n} {str(dtype).replace("torch.", "")} mm'

    def measure(self) -> float:
        """Best FLOP/s of ``reps`` matmuls."""
        flops = 2 * self.n**3
        best = 0.
        for _ in range(self.reps):
            seconds = timed(lambda: torch.mm(self.a, self.b), self.device)
            best = max(best, flops / seconds)
        return best


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds of ``fn()``: CUDA events with synchronisation on GPU, perf_counter on CPU."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@dataclass
class Entry:
    """A built model with its optimizer, batches and measurements."""

    spec: ModelSpec
    cfg: Any
    model: torch.nn.Module
    optim_wrapper: Any
    batches: BatchMaker
    vis: Visibility
    params: int
    flops: Optional[FlopCount] = None
    times: List[float] = field(default_factory=list)
    memory: List[int] = field(default_factory=list)
    memory_total: List[int] = field(default_factory=list)
    first_step_s: Optional[float] = None
    graph_breaks: Optional[Dict[str, Any]] = None

    def step(self) -> None:
        """One training step, as mmengine's train loop runs it."""
        self.model.train_step(self.batches(), self.optim_wrapper)


def round_order(items: Sequence, r: int) -> List:
    k = r % len(items)
    return list(items[k:]) + list(items[:k])


def profile_steps(entry: Entry, device: torch.device, steps: int = 2) -> Dict[str, Any]:
    """Self time per op category over ``steps`` training steps (torch.profiler).

    The optimizer's ``step`` and ``zero_grad`` (and everything under them) form one category;
    every other op is classified by :func:`op_category` on its self time (CPU time on CPU,
    device time on CUDA). FLOP/s per category use the FLOPs per op of :func:`count_step_flops`.

    Returns:
        dict: ``wall_s`` (per step, profiled), ``categories`` {name: seconds per step},
        ``gflops_per_s`` {category: achieved rate}.
    """
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    entry.step()
    with profile(activities=activities) as prof:
        wall = sum(timed(entry.step, device) for _ in range(steps)) / steps
    attr = 'self_device_time_total' if device.type == 'cuda' else 'self_cpu_time_total'
    in_optimizer: Dict[int, bool] = {}

    def under_optimizer(event) -> bool:
        chain, node = [], event
        while node is not None and id(node) not in in_optimizer:
            chain.append(node)
            if node.name.startswith('Optimizer.'):
                break
            node = node.cpu_parent
        found = (node is not None and (node.name.startswith('Optimizer.')
                                       or in_optimizer.get(id(node), False)))
        for n in chain:
            in_optimizer[id(n)] = found
        return found

    totals: Dict[str, float] = defaultdict(float)
    for event in prof.events():
        t = getattr(event, attr, 0) or 0
        if t <= 0:
            continue
        cat = ('optimizer (AdamW step, zero_grad)' if under_optimizer(event)
               else op_category(event.name))
        totals[cat] += t / 1e6 / steps
    flops: Dict[str, float] = defaultdict(float)
    for op, n in (entry.flops.by_op if entry.flops else {}).items():
        flops[op_category(op)] += n
    rates = {cat: flops[cat] / totals[cat] / 1e9 for cat in flops if totals.get(cat)}
    return dict(wall_s=wall, categories=dict(sorted(totals.items(), key=lambda kv: -kv[1])),
                gflops_per_s=rates)
