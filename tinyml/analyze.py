"""Stage `analyze`: what an int8 .tflite asks of a microcontroller.

Operators with their positions, tensor shapes and types, parameter count,
MACs per layer and in total, weight bytes, the largest activations, and the
tensor arena measured with the Python tflite-micro interpreter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .artifacts import sha256_file, write_json
from .errors import ModelError
from .tflite_model import Operator, TFLiteModel, load_model


@dataclass
class LayerInfo:
    index: int
    opcode: str
    inputs: list[dict]
    outputs: list[dict]
    macs: int
    params: int
    weight_bytes: int
    options: dict = field(default_factory=dict)


@dataclass
class Analysis:
    model: str
    sha256: str
    size_bytes: int
    operators: list[LayerInfo]
    opcode_counts: dict[str, int]
    params: int
    weight_bytes: int
    macs: int
    largest_activations: list[dict]
    arena_bytes_tflm_host: int | None
    arena_note: str
    input: dict
    output: dict
    live_bytes_per_op: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _tensor_dict(model: TFLiteModel, index: int) -> dict:
    if index < 0:
        return {"index": -1, "name": "(omitted)"}
    t = model.tensor(index)
    d = {"index": t.index, "name": t.name, "shape": list(t.shape), "dtype": t.dtype,
         "bytes": t.nbytes, "constant": t.is_constant}
    if t.scale.size:
        d["scale"] = float(t.scale[0]) if t.scale.size == 1 else f"per-channel ({t.scale.size})"
        d["zero_point"] = int(t.zero_point[0]) if t.zero_point.size else 0
    return d


def operator_macs(model: TFLiteModel, op: Operator) -> int:
    """Multiply-accumulates of one operator (batch included).

    CONV_2D: out_h*out_w*out_c * k_h*k_w*in_c per output element;
    DEPTHWISE_CONV_2D: out_h*out_w*out_c * k_h*k_w; FULLY_CONNECTED:
    out_features*in_features per row. Element-wise and pooling operators do
    no multiply-accumulates in this count.
    """
    out = model.tensor(op.outputs[0])
    if op.opcode == "CONV_2D":
        w = model.tensor(op.inputs[1])          # [out_c, k_h, k_w, in_c]
        return out.num_elements * int(np.prod(w.shape[1:]))
    if op.opcode == "DEPTHWISE_CONV_2D":
        w = model.tensor(op.inputs[1])          # [1, k_h, k_w, out_c]
        return out.num_elements * int(w.shape[1] * w.shape[2])
    if op.opcode == "FULLY_CONNECTED":
        w = model.tensor(op.inputs[1])          # [out_features, in_features]
        rows = out.num_elements // w.shape[0]
        return rows * int(w.shape[0] * w.shape[1])
    return 0


def live_bytes_per_op(model: TFLiteModel) -> list[int]:
    """Activation bytes that must be resident while each operator runs: every
    non-constant tensor from the operator that produces it (or the start, for
    model inputs) to its last reader (or the end, for model outputs)."""
    n = len(model.operators)
    first: dict[int, int] = {i: 0 for i in model.inputs}
    last: dict[int, int] = {i: n - 1 for i in model.outputs}
    for op in model.operators:
        for t in op.outputs:
            first.setdefault(t, op.index)
        for t in op.inputs:
            if t >= 0 and not model.tensor(t).is_constant:
                last[t] = max(last.get(t, op.index), op.index)
    live = [0] * n
    for t, start in first.items():
        end = last.get(t, start)
        for i in range(start, end + 1):
            live[i] += model.tensor(t).nbytes
    return live


def analyze(model_path: Path, *, measure_arena: bool = True) -> Analysis:
    from .interpreters import tflm_arena_bytes

    model = load_model(model_path)
    # Shape tensors (RESHAPE's int32 new_shape) are constants but not parameters.
    shape_inputs = {op.inputs[1] for op in model.operators if op.opcode == "RESHAPE" and len(op.inputs) > 1}
    layers = []
    counts: dict[str, int] = {}
    for op in model.operators:
        consts = [model.tensor(i) for i in op.inputs if i >= 0 and model.tensor(i).is_constant]
        layers.append(LayerInfo(
            index=op.index, opcode=op.opcode,
            inputs=[_tensor_dict(model, i) for i in op.inputs],
            outputs=[_tensor_dict(model, i) for i in op.outputs],
            macs=operator_macs(model, op),
            params=sum(t.num_elements for t in consts if t.index not in shape_inputs),
            weight_bytes=sum(t.nbytes for t in consts), options=op.options))
        counts[op.opcode] = counts.get(op.opcode, 0) + 1
    constants = [t for t in model.tensors if t.is_constant]
    params = sum(t.num_elements for t in constants if t.index not in shape_inputs)
    activations = sorted((t for t in model.tensors if not t.is_constant),
                         key=lambda t: (-t.nbytes, t.index))[:5]
    arena, arena_unknown = None, None
    if measure_arena:
        try:
            arena = tflm_arena_bytes(model_path)
        except ModelError as exc:          # TFLM cannot allocate or run it: the figure is unknown
            arena_unknown = exc.message
    return Analysis(
        model=str(model_path), sha256=sha256_file(model_path), size_bytes=model.size_bytes,
        operators=layers, opcode_counts=counts, params=params,
        weight_bytes=sum(t.nbytes for t in constants), macs=sum(l.macs for l in layers),
        largest_activations=[{"index": t.index, "name": t.name, "shape": list(t.shape), "bytes": t.nbytes,
                              "produced_by": (p.index if (p := model.producer(t.index)) else None)}
                             for t in activations],
        arena_bytes_tflm_host=arena,
        arena_note=(f"unknown: {arena_unknown}" if arena_unknown else
                    "measured with the Python tflite-micro interpreter on this 64-bit host: TFLM's "
                    "pointer-sized bookkeeping is larger than on a 32-bit Cortex-M, so this over-estimates "
                    "the device arena slightly; tensor data is the same"),
        input=_tensor_dict(model, model.inputs[0]), output=_tensor_dict(model, model.outputs[0]),
        live_bytes_per_op=live_bytes_per_op(model))


def analyze_to_build(model_path: Path, build_dir: Path) -> Analysis:
    result = analyze(model_path)
    write_json(Path(build_dir) / "analyze" / "analysis.json", result.to_dict())
    return result
