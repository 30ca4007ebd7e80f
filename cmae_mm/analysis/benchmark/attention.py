"""Attention over few tokens: ``scaled_dot_product_attention`` against matmul-softmax-matmul.

The suite's ViTs attend over few tokens: the Fashion-MNIST tiny ViT's encoder sees 13 tokens
after the first shot (12 visible patches and the class token) and its decoder 50; ViT-B/L at
224 px see 50 in the encoder and 197 in the decoder. torch's fused SDPA kernels are tuned for long
sequences, so the plain path (``softmax(q k^T * scale) v``) might win at these lengths, eager or
inside a compiled graph where inductor fuses the scale and the softmax with the matmuls.

:func:`measure_attention` times the attention op alone (forward and backward with a fixed output
gradient, q/k/v as the models' ``(B, heads, N, head_dim)`` tensors) in four variants per case:
eager SDPA, eager matmul, compiled SDPA, compiled matmul (``torch.compile(dynamic=False)``),
interleaved round by round with the order rotated, median over rounds; the ratio matmul / SDPA is
the median of the per-round ratios (paired, so load changes between rounds cancel). The models
use the result through :func:`cmae_mm.models.utils.few_token_attention`.
"""
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F

from ...models.utils import matmul_attention
from .timing import round_order

__all__ = ['ATTENTION_CASES', 'AttentionCase', 'attention_table', 'measure_attention']


@dataclass(frozen=True)
class AttentionCase:
    """One attention shape of a suite model."""

    name: str
    batch: int
    heads: int
    tokens: int
    head_dim: int

    def tensors(self, seed: int = 0) -> List[torch.Tensor]:
        """q, k, v (leaf tensors that need gradients) and the output gradient."""
        gen = torch.Generator().manual_seed(seed)
        shape = (self.batch, self.heads, self.tokens, self.head_dim)
        qkv = [torch.randn(shape, generator=gen).requires_grad_() for _ in range(3)]
        return qkv + [torch.randn(shape, generator=gen)]


#: The attention shapes of the suite's configs, at their pre-training batch on CPU: the
#: Fashion-MNIST tiny ViT (64 dims, 4 heads of 16; batch 256) and the 224-px ViT-B (encoder 12
#: heads of 64, decoder 16 heads of 32) and ViT-L (16 heads of 64), batch 8.
ATTENTION_CASES = (
    AttentionCase('tiny encoder after shot 1', 256, 4, 13, 16),
    AttentionCase('tiny decoder', 256, 4, 50, 16),
    AttentionCase('B encoder after shot 1', 8, 12, 50, 64),
    AttentionCase('B encoder, full image', 8, 12, 197, 64),
    AttentionCase('B decoder', 8, 16, 197, 32),
    AttentionCase('L encoder after shot 1', 8, 16, 50, 64),
)


def _step(fn: Callable[..., torch.Tensor], q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
          grad: torch.Tensor) -> float:
    """Seconds of one forward + backward of ``fn(q, k, v)``."""
    start = time.perf_counter()
    out = fn(q, k, v)
    out.backward(grad)
    seconds = time.perf_counter() - start
    q.grad = k.grad = v.grad = None
    return seconds


def measure_attention(cases: Sequence[AttentionCase] = ATTENTION_CASES, rounds: int = 5,
                      reps: int = 5, warmup: int = 3) -> List[Dict]:
    """Time SDPA and the matmul path, eager and compiled, for every case.

    Args:
        cases: The shapes.
        rounds: Timed rounds; every round runs each variant ``reps`` times (median kept).
        reps: Steps per variant per round.
        warmup: Untimed steps per variant before the rounds (compilation happens here).

    Returns:
        list[dict]: Per case: its fields, ``max_abs_diff`` (matmul vs SDPA output), ``ms`` {variant:
        median ms per step}, ``ratio_eager`` and ``ratio_compiled`` (matmul / SDPA, median of
        per-round ratios) and ``faster`` {``eager``, ``compiled``: the faster path's name}.
    """
    rows = []
    for case in cases:
        q, k, v, grad = case.tensors()
        torch._dynamo.reset()
        variants = {
            'eager sdpa': F.scaled_dot_product_attention,
            'eager matmul': matmul_attention,
            'compiled sdpa': torch.compile(F.scaled_dot_product_attention, dynamic=False),
            'compiled matmul': torch.compile(matmul_attention, dynamic=False),
        }
        with torch.no_grad():
            diff = (matmul_attention(q, k, v) - F.scaled_dot_product_attention(q, k, v)).abs()
        for fn in variants.values():
            for _ in range(warmup):
                _step(fn, q, k, v, grad)
        times: Dict[str, List[float]] = {name: [] for name in variants}
        for r in range(rounds):
            for name in round_order(list(variants), r):
                times[name].append(statistics.median(
                    _step(variants[name], q, k, v, grad) for _ in range(reps)))

        def ratio(mode: str) -> float:
            return statistics.median(
                m / s for m, s in zip(times[f'{mode} matmul'], times[f'{mode} sdpa']))

        row = dict(case=case.name, batch=case.batch, heads=case.heads, tokens=case.tokens,
                   head_dim=case.head_dim, max_abs_diff=float(diff.max()),
                   ms={name: statistics.median(t) * 1e3 for name, t in times.items()},
                   ratio_eager=ratio('eager'), ratio_compiled=ratio('compiled'))
        row['faster'] = {mode: 'matmul' if row[f'ratio_{mode}'] < 1 else 'sdpa'
                         for mode in ('eager', 'compiled')}
        rows.append(row)
    torch._dynamo.reset()
    return rows


def attention_table(rows: List[Dict]) -> str:
    """The rows of :func:`measure_attention` as a markdown table."""
    lines = ['| case | B x heads x N x d | eager SDPA ms | eager matmul ms | matmul/SDPA eager '
             '| compiled SDPA ms | compiled matmul ms | matmul/SDPA compiled | max abs diff |',
             '|---|---|---:|---:|---:|---:|---:|---:|---:|']
    for r in rows:
        ms = r['ms']
        lines.append(
            f"| {r['case']} | {r['batch']}x{r['heads']}x{r['tokens']}x{r['head_dim']} "
            f"| {ms['eager sdpa']:.2f} | {ms['eager matmul']:.2f} | {r['ratio_eager']:.3f} "
            f"| {ms['compiled sdpa']:.2f} | {ms['compiled matmul']:.2f} "
            f"| {r['ratio_compiled']:.3f} | {r['max_abs_diff']:.1e} |")
    return '\n'.join(lines)
