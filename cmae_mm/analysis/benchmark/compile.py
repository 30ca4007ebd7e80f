"""The ``compile`` variant: ``torch.compile`` of the masked forward and loss, and where dynamo
breaks their graph.
"""
from typing import Any, Dict, List

import torch


def compile_loss(model: torch.nn.Module, **compile_cfg: Any) -> None:
    """Replace ``model.loss`` (encoder, decoder and loss: the masked forward) by its
    ``torch.compile``-d version; the data preprocessor, the backward (through AOTAutograd's
    compiled backward graphs) and the optimizer step stay eager.

    mmengine's own Runner option ``compile=True`` compiles ``model.train_step`` instead, optimizer
    step included; with torch 2.14.1 dynamo fails there with an internal error while tracing
    ``AdamW.step`` over mmengine's parameter groups (``InternalTorchDynamoError: AttributeError:
    'UserDefinedDictVariable' object has no attribute 'items'``, in ``_set_capturable``). Training
    runs compile the model's forward instead (:mod:`cmae_mm.engine.compile`, ``compile=dict(
    target='forward')`` or ``tools/train.py --compile``); the benchmark compiles ``model.loss``,
    the same graph without the ``mode`` dispatch.

    Args:
        model: The model (changed in place).
        **compile_cfg: ``torch.compile`` keyword arguments (the config's ``compile`` dict).
    """
    model.loss = torch.compile(model.loss, **compile_cfg)


def graph_breaks(model: torch.nn.Module, batch: dict) -> Dict[str, Any]:
    """Where dynamo breaks the graph of the model's loss (data preprocessor output -> loss dict).

    Traces ``model.loss(inputs, data_samples)`` with :func:`torch._dynamo.explain` (tracing only,
    no compilation) on one preprocessed batch: the part of the step where the multi-shot masking
    lives. The backward and the optimizer step are not traced here.

    Args:
        model: A built pre-training model (``MAE``, ``ConditionalMAE``, ``SimMIM``, ...).
        batch: A batch as the dataloader gives it (``inputs``, ``data_samples``).

    Returns:
        dict: ``graphs`` (graph count), ``breaks`` (graph-break count) and ``reasons`` (one
        ``'<reason> at <file>:<line>'`` string per break, deduplicated).
    """
    import torch._dynamo as dynamo

    data = model.data_preprocessor(batch, True)
    dynamo.reset()
    explained = dynamo.explain(model.loss)(data['inputs'], data['data_samples'])
    reasons: List[str] = []
    for br in explained.break_reasons:
        frame = br.user_stack[-1] if br.user_stack else None
        where = f' at {frame.filename.rsplit("/", 2)[-1]}:{frame.lineno}' if frame else ''
        text = f'{br.reason.splitlines()[0]}{where}'
        if text not in reasons:
            reasons.append(text)
    dynamo.reset()
    return dict(graphs=explained.graph_count, breaks=explained.graph_break_count, reasons=reasons)
