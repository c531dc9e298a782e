"""The model is untrusted input: every check that must hold before anything reads it.

tflite_model.load_model calls `check_structure` while it reads the flatbuffer (indices before
they are followed) and `check_model` on the result, so the analyzer, the fit check, the code
generators and the reference interpreters only ever see a model that passes both:

- structure: schema version, tensor / buffer / opcode / input / output indices in range (-1 only
  where an optional input may be omitted), dimensions >= 1, byte sizes that fit in int32,
  constant buffers of the declared size, known tensor types;
- quantization: scales finite and positive, zero points in the type's range, one zero point per
  scale, a quantized_dimension inside the shape with one scale per channel;
- the shape rules TFLite's Prepare enforces for every operator the runtimes lower (element
  counts, broadcasting, concatenation sums, conv / depthwise / fully-connected channel and batch
  arithmetic, strides, filters and dilations >= 1, and an output shape equal to what the operator
  computes). A model that breaks one would make generated firmware read or write outside its
  buffers.

Each refusal is one ModelError sentence naming the operator (index and name), the tensor (index
and name) and the field.
"""

from __future__ import annotations

import math
from pathlib import Path

from .errors import ModelError

# Annotations name tflite_model's Tensor, Operator and TFLiteModel, which this lower module does not
# import (tflite_model calls it while reading).

SCHEMA_VERSION = 3
INT32_MAX = 2**31 - 1
ZERO_POINT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767),
                     "int32": (-(2**31), 2**31 - 1), "int4": (-8, 7)}
# operators whose output has the input's shape (one input that matters)
SAME_SHAPE = {"SOFTMAX", "LOGISTIC", "TANH", "RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU", "HARD_SWISH",
              "QUANTIZE", "DEQUANTIZE"}
BROADCASTING = {"ADD", "SUB", "MUL"}
VIEWS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}


def refuse(path: Path | str, what: str) -> ModelError:
    return ModelError(f"{path}: {what}.", path=Path(path))


# --- structure: indices are checked before they are followed ----------------------------------

def check_index(path, value: int, count: int, what: str, *, optional: bool = False) -> int:
    if optional and value == -1:
        return value
    if not 0 <= value < count:
        allowed = "-1 or " if optional else ""
        raise refuse(path, f"{what} is {value}, but must be {allowed}0..{count - 1}")
    return value


def check_structure(path, *, schema_version: int, subgraphs: int) -> None:
    if schema_version != SCHEMA_VERSION:
        raise refuse(path, f"schema version {schema_version}; tinyml reads TFLite schema version {SCHEMA_VERSION}")
    if subgraphs < 1:
        raise refuse(path, "has no subgraph")


def check_tensor(path, t: Tensor, *, buffer_bytes: int | None, known_type: bool) -> None:
    """One tensor as read: type, dimensions, size, constant data size and quantization."""
    where = f"tensor {t.index} ({t.name!r})"
    if not known_type:
        raise refuse(path, f"{where} has an unknown type ({t.dtype})")
    for axis, dim in enumerate(t.shape):
        if dim < 1:
            raise refuse(path, f"{where} has dimension {axis} = {dim}; dimensions must be at least 1")
    elements = math.prod(t.shape) if t.shape else 1
    itemsize = 1 if t.dtype in ("int4", "bool", "string", "resource", "variant") else _itemsize(t.dtype)
    nbytes = (elements + 1) // 2 if t.dtype == "int4" else elements * itemsize
    if nbytes > INT32_MAX:
        raise refuse(path, f"{where} has shape {list(t.shape)}: {nbytes:,} bytes, more than fits in int32")
    if buffer_bytes is not None and t.dtype not in ("string", "resource", "variant") and buffer_bytes != nbytes:
        raise refuse(path, f"{where} has a constant buffer of {buffer_bytes:,} bytes, but its shape "
                           f"{list(t.shape)} of {t.dtype} needs {nbytes:,}")
    check_quantization(path, t)


def _itemsize(dtype: str) -> int:
    import numpy as np

    return np.dtype(dtype).itemsize


def check_quantization(path, t: Tensor) -> None:
    where = f"tensor {t.index} ({t.name!r})"
    if t.scale.size == 0:
        return
    bad = [float(s) for s in t.scale if not (math.isfinite(float(s)) and float(s) > 0)]
    if bad:
        raise refuse(path, f"{where} has quantization scale {bad[0]!r}; scales must be finite and positive")
    if t.zero_point.size not in (0, t.scale.size):
        raise refuse(path, f"{where} has {t.zero_point.size} zero points for {t.scale.size} scales")
    low, high = ZERO_POINT_RANGES.get(t.dtype, (-(2**63), 2**63 - 1))
    out = [int(z) for z in t.zero_point if not low <= int(z) <= high]
    if out:
        raise refuse(path, f"{where} has zero point {out[0]}, outside {t.dtype}'s range {low}..{high}")
    if t.scale.size > 1:
        rank = len(t.shape)
        if not 0 <= t.quantized_dimension < rank:
            raise refuse(path, f"{where} has quantized_dimension {t.quantized_dimension}, outside its "
                               f"{rank} dimensions")
        channels = t.shape[t.quantized_dimension]
        if t.scale.size != channels:
            raise refuse(path, f"{where} has {t.scale.size} per-channel scales for {channels} channels "
                               f"(dimension {t.quantized_dimension})")


# --- operator shape rules -------------------------------------------------------------------

def check_model(model: TFLiteModel) -> None:
    """The shape rules of every operator the runtimes lower (others are left to the runtimes,
    which refuse what they do not know)."""
    if not model.inputs or not model.outputs:
        raise refuse(model.path, f"subgraph 0 has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                                 "a model needs at least one of each")
    for op in model.operators:
        rule = RULES.get(op.opcode)
        if rule is not None:
            checked = _Op(model, op)
            checked.quantized()
            rule(checked)


class _Op:
    """One operator with helpers that phrase refusals."""

    def __init__(self, model: TFLiteModel, op: Operator):
        self.model, self.op = model, op
        self.where = f"operator {op.index} ({op.opcode})"

    def fail(self, what: str) -> ModelError:
        return refuse(self.model.path, f"{self.where}: {what}")

    def tensor(self, role: str, position: int, *, outputs: bool = False, optional: bool = False) -> Tensor | None:
        indices = self.op.outputs if outputs else self.op.inputs
        if position >= len(indices) or indices[position] == -1:
            if optional:
                return None
            kind = "outputs" if outputs else "inputs"
            raise self.fail(f"has {len(indices)} {kind}; the {role} ({kind[:-1]} {position}) is missing")
        return self.model.tensor(indices[position])

    def label(self, t: Tensor, role: str) -> str:
        return f"{role} tensor {t.index} ({t.name!r})"

    def quantized(self) -> None:
        """8- and 16-bit integer tensors of an operator are quantized: the kernels rescale with
        their scales and zero points."""
        for role, indices in (("input", self.op.inputs), ("output", self.op.outputs)):
            for index in indices:
                t = self.model.tensor(index) if index != -1 else None
                if t is not None and t.dtype in ("int8", "uint8", "int16") and t.scale.size == 0:
                    raise self.fail(f"{self.label(t, role)} is {t.dtype} but has no quantization parameters")

    def option(self, name: str, default=None):
        return self.op.options.get(name, default)

    def positive(self, *names: str) -> None:
        for name in names:
            value = self.option(name, 1)
            if int(value) < 1:
                raise self.fail(f"option {name} is {value}; it must be at least 1")

    def expect_shape(self, out: Tensor, shape: tuple[int, ...]) -> None:
        if tuple(out.shape) != tuple(shape):
            raise self.fail(f"{self.label(out, 'output')} has shape {list(out.shape)}, but the operator "
                            f"computes {list(shape)}")


def _elements(t: Tensor) -> int:
    return math.prod(t.shape) if t.shape else 1


def _same_shape(o: _Op) -> None:
    x, y = o.tensor("input", 0), o.tensor("output", 0, outputs=True)
    o.expect_shape(y, x.shape)


def _broadcast(o: _Op) -> None:
    a, b, y = o.tensor("first input", 0), o.tensor("second input", 1), o.tensor("output", 0, outputs=True)
    rank = max(len(a.shape), len(b.shape))
    sa, sb = (1,) * (rank - len(a.shape)) + tuple(a.shape), (1,) * (rank - len(b.shape)) + tuple(b.shape)
    shape = []
    for axis, (da, db) in enumerate(zip(sa, sb)):
        if da != db and 1 not in (da, db):
            raise o.fail(f"inputs {list(a.shape)} and {list(b.shape)} do not broadcast (axis {axis}: {da} vs {db})")
        shape.append(max(da, db))
    o.expect_shape(y, tuple(shape))


def _view(o: _Op) -> None:
    x, y = o.tensor("input", 0), o.tensor("output", 0, outputs=True)
    if _elements(x) != _elements(y):
        raise o.fail(f"{o.label(y, 'output')} has {_elements(y)} elements ({list(y.shape)}) but the input has "
                     f"{_elements(x)} ({list(x.shape)})")


def _spatial(o: _Op, size: int, kernel: int, stride: int, dilation: int, axis: str) -> int:
    effective = (kernel - 1) * dilation + 1
    if o.option("padding", "SAME") == "VALID":
        if effective > size:
            raise o.fail(f"the {axis} window ({effective}) is larger than the input ({size}) with VALID padding")
        return (size - effective) // stride + 1
    return (size + stride - 1) // stride


def _rank(o: _Op, t: Tensor, role: str, rank: int) -> None:
    if len(t.shape) != rank:
        raise o.fail(f"{o.label(t, role)} has {len(t.shape)} dimensions ({list(t.shape)}); it must have {rank}")


def _bias(o: _Op, channels: int) -> None:
    bias = o.tensor("bias", 2, optional=True)
    if bias is not None and _elements(bias) != channels:
        raise o.fail(f"{o.label(bias, 'bias')} has {_elements(bias)} elements for {channels} output channels")
    x = o.tensor("input", 0)
    wanted = {"int8": ("int32",), "int16": ("int64", "int32")}.get(x.dtype)
    if bias is not None and wanted and bias.dtype not in wanted:
        raise o.fail(f"{o.label(bias, 'bias')} is {bias.dtype}; with {x.dtype} activations it must be "
                     f"{' or '.join(wanted)}")


def _windowed(o: _Op, x: Tensor, y: Tensor, kh: int, kw: int, out_c: int) -> None:
    """The bias, and the output shape a filter window of kh x kw over x makes (conv, depthwise)."""
    _bias(o, out_c)
    oh = _spatial(o, x.shape[1], kh, int(o.option("stride_h", 1)), int(o.option("dilation_hfactor", 1)), "height")
    ow = _spatial(o, x.shape[2], kw, int(o.option("stride_w", 1)), int(o.option("dilation_wfactor", 1)), "width")
    o.expect_shape(y, (x.shape[0], oh, ow, out_c))


def _conv(o: _Op) -> None:
    x, w, y = o.tensor("input", 0), o.tensor("filter", 1), o.tensor("output", 0, outputs=True)
    o.positive("stride_h", "stride_w", "dilation_hfactor", "dilation_wfactor")
    _rank(o, x, "input", 4)
    _rank(o, w, "filter", 4)
    out_c, kh, kw, in_c = w.shape
    if x.shape[3] % in_c:
        raise o.fail(f"the input has {x.shape[3]} channels, not a multiple of the filter's {in_c}")
    if out_c % (x.shape[3] // in_c):
        raise o.fail(f"{out_c} output channels do not split into {x.shape[3] // in_c} groups")
    _windowed(o, x, y, kh, kw, out_c)


def _depthwise(o: _Op) -> None:
    x, w, y = o.tensor("input", 0), o.tensor("filter", 1), o.tensor("output", 0, outputs=True)
    o.positive("stride_h", "stride_w", "dilation_hfactor", "dilation_wfactor", "depth_multiplier")
    _rank(o, x, "input", 4)
    _rank(o, w, "filter", 4)
    one, kh, kw, out_c = w.shape
    if one != 1:
        raise o.fail(f"{o.label(w, 'filter')} has first dimension {one}; a depthwise filter has 1")
    if out_c % x.shape[3]:
        raise o.fail(f"the filter's {out_c} output channels are not a multiple of the input's {x.shape[3]}")
    _windowed(o, x, y, kh, kw, out_c)


def _fully_connected(o: _Op) -> None:
    x, w, y = o.tensor("input", 0), o.tensor("weights", 1), o.tensor("output", 0, outputs=True)
    _rank(o, w, "weights", 2)
    units, depth = w.shape
    if _elements(x) % depth:
        raise o.fail(f"the input's {_elements(x)} elements ({list(x.shape)}) are not a whole number of rows of "
                     f"the weights' depth {depth}")
    _bias(o, units)
    batches = _elements(x) // depth
    if _elements(y) != batches * units or (y.shape and y.shape[-1] != units):
        raise o.fail(f"{o.label(y, 'output')} has shape {list(y.shape)}, but {batches} rows of {depth} times "
                     f"{units} units make {batches} x {units}")


def _pool(o: _Op) -> None:
    x, y = o.tensor("input", 0), o.tensor("output", 0, outputs=True)
    o.positive("stride_h", "stride_w", "filter_height", "filter_width")
    _rank(o, x, "input", 4)
    oh = _spatial(o, x.shape[1], int(o.option("filter_height", 1)), int(o.option("stride_h", 1)), 1, "height")
    ow = _spatial(o, x.shape[2], int(o.option("filter_width", 1)), int(o.option("stride_w", 1)), 1, "width")
    o.expect_shape(y, (x.shape[0], oh, ow, x.shape[3]))


def _concatenation(o: _Op) -> None:
    y = o.tensor("output", 0, outputs=True)
    parts = [o.tensor(f"input {i}", i) for i in range(len(o.op.inputs))]
    rank = len(y.shape)
    axis = int(o.option("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise o.fail(f"option axis is {o.option('axis')}, outside the output's {rank} dimensions")
    for t in parts:
        if len(t.shape) != rank or any(a != b for i, (a, b) in enumerate(zip(t.shape, y.shape)) if i != axis):
            raise o.fail(f"{o.label(t, 'input')} has shape {list(t.shape)}, which does not match the output "
                         f"{list(y.shape)} outside axis {axis}")
    total = sum(t.shape[axis] for t in parts)
    if total != y.shape[axis]:
        raise o.fail(f"the inputs add up to {total} along axis {axis}, but the output has {y.shape[axis]}")


def _pad(o: _Op) -> None:
    x, pads, y = o.tensor("input", 0), o.tensor("paddings", 1), o.tensor("output", 0, outputs=True)
    if pads.data is None:
        raise o.fail(f"{o.label(pads, 'paddings')} is not constant")
    if tuple(pads.shape) != (len(x.shape), 2):
        raise o.fail(f"{o.label(pads, 'paddings')} has shape {list(pads.shape)}; it must be "
                     f"[{len(x.shape)}, 2]")
    amounts = [[int(v) for v in row] for row in pads.data.reshape(len(x.shape), 2)]
    if any(v < 0 for row in amounts for v in row):
        raise o.fail(f"{o.label(pads, 'paddings')} has a negative padding")
    o.expect_shape(y, tuple(d + before + after for d, (before, after) in zip(x.shape, amounts)))


def _reduce(o: _Op) -> None:
    x, axes, y = o.tensor("input", 0), o.tensor("axes", 1), o.tensor("output", 0, outputs=True)
    if axes.data is None:
        raise o.fail(f"{o.label(axes, 'axes')} is not constant")
    rank = len(x.shape)
    reduced = set()
    for a in (int(v) for v in axes.data.reshape(-1)):
        if not -rank <= a < rank:
            raise o.fail(f"{o.label(axes, 'axes')} names axis {a}, outside the input's {rank} dimensions")
        reduced.add(a % rank)
    kept = [d for i, d in enumerate(x.shape) if i not in reduced]
    keep_dims = [1 if i in reduced else d for i, d in enumerate(x.shape)]
    if tuple(y.shape) not in (tuple(kept), tuple(keep_dims)):
        raise o.fail(f"{o.label(y, 'output')} has shape {list(y.shape)}, but reducing axes {sorted(reduced)} of "
                     f"{list(x.shape)} gives {keep_dims if o.option('keep_dims') else kept}")


RULES = {
    **{name: _same_shape for name in SAME_SHAPE},
    **{name: _broadcast for name in BROADCASTING},
    **{name: _view for name in VIEWS},
    "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _depthwise, "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _pool, "MAX_POOL_2D": _pool, "CONCATENATION": _concatenation,
    "PAD": _pad, "PADV2": _pad, "MEAN": _reduce, "REDUCE_MAX": _reduce,
}
