"""Operators the AOT runtime supports and how each becomes kernel calls.

`lower(model, op)` turns one .tflite operator into `Call`s (a C function of
the kernel library with a parameter struct and constant arrays), computing
every input-independent number in Python (quant.py). `check_supported`
refuses a model before anything is generated, naming the first operator the
runtime cannot run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ...errors import UnsupportedOperatorError
from ...tflite_model import Operator, Tensor, TFLiteModel
from . import quant

# Operators TFLite Micro has kernels for (MicroMutableOpResolver), used to say
# which runtime can run an operator the AOT runtime refuses.
TFLM_OPERATORS = frozenset("""
ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND
BROADCAST_ARGS BROADCAST_TO CALL_ONCE CAST CEIL CONCATENATION CONV_2D COS CUMSUM DEPTHWISE_CONV_2D
DEPTH_TO_SPACE DEQUANTIZE DIV DYNAMIC_UPDATE_SLICE ELU EMBEDDING_LOOKUP EQUAL EXP EXPAND_DIMS FILL
FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GATHER_ND GREATER GREATER_EQUAL HARD_SWISH IF
L2_NORMALIZATION L2_POOL_2D LEAKY_RELU LESS LESS_EQUAL LOG LOGICAL_AND LOGICAL_NOT LOGICAL_OR
LOGISTIC LOG_SOFTMAX MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PADV2
PRELU QUANTIZE READ_VARIABLE REDUCE_ALL REDUCE_MAX REDUCE_MIN RELU RELU6 RESHAPE RESIZE_BILINEAR
RESIZE_NEAREST_NEIGHBOR REVERSE_V2 ROUND RSQRT SELECT_V2 SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND
SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM SVDF TANH
TRANSPOSE TRANSPOSE_CONV UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK VAR_HANDLE WHILE ZEROS_LIKE
""".split())

# Operators whose output is the input's bytes under another shape.
VIEW_OPERATORS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})


@dataclass
class ConstArray:
    name: str
    ctype: str                   # int8_t, int32_t, float
    values: list                 # flat
    align_bytes: int = 4

    @property
    def size_bytes(self) -> int:
        return len(self.values) * {"int8_t": 1, "int32_t": 4, "float": 4}[self.ctype]


@dataclass
class Call:
    """One call into the kernel library (an operator may need several)."""
    kernel: str
    args: list[str]              # "in:<tensor>", "out:<tensor>", "scratch", "&params", const names, literals
    params_type: str | None = None
    params: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Lowered:
    op_index: int
    opcode: str
    summary: str
    calls: list[Call]
    consts: list[ConstArray]
    scratch_bytes: int = 0
    view_of: int | None = None   # RESHAPE-like: output aliases this input tensor
    in_place_of: int | None = None  # may run over this input tensor (if it dies here)
    in_place_scratch_bytes: int | None = None  # scratch instead of scratch_bytes when in place
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)


class _Unsupported(Exception):
    """Raised by a lowering with the reason; check_supported turns it into the error."""


# ---------------------------------------------------------------- weight layouts
# The kernels read weights in the order they use them (tinyml_kernels.c):
# one pointer walks each block, with no register spent per row.

DW_MAX_TAPS = 64  # TINYML_DW_MAX_TAPS: larger depthwise kernels use the generic path


GROUP_BYTES = 32  # TINYML_GROUP_BYTES: one group of 4 depth for the 4 vectors of a block


def pad_depth(w: np.ndarray) -> np.ndarray:
    """Rows zero-padded to a multiple of 4 weights (whole words for the kernels)."""
    rows, depth = w.shape
    return np.concatenate([w, np.zeros((rows, -depth % 4), w.dtype)], axis=1)


def interleave_rows(w: np.ndarray, block: int) -> np.ndarray:
    """Rows (depth a multiple of 4) in blocks of `block`, interleaved by 4
    columns; rows past the last full block stay row-major."""
    rows, depth = w.shape
    assert depth % 4 == 0, depth
    full = rows - rows % block
    head = w[:full].reshape(full // block, block, depth // 4, 4).transpose(0, 2, 1, 3).reshape(-1)
    return np.concatenate([head, w[full:].reshape(-1)])


def gemm_scratch_bytes(depth: int) -> int:
    """tinyml_conv2d_scratch_bytes' block: 4 vectors of depth, widened to int16."""
    return GROUP_BYTES * ((depth + 3) // 4)


def depthwise_groups(w: np.ndarray) -> np.ndarray:
    """[taps, C] -> for each group of 4 channels every tap's 4 weights, then
    the remaining channels tap by tap."""
    taps, c = w.shape
    c4 = c - c % 4
    head = w[:, :c4].reshape(taps, c4 // 4, 4).transpose(1, 0, 2).reshape(-1)
    return np.concatenate([head, w[:, c4:].T.reshape(-1)])


# ---------------------------------------------------------------- helpers

def _q(t: Tensor) -> tuple[float, int]:
    if t.scale.size == 0:
        raise _Unsupported(f"tensor {t.index} ('{t.name}') is not quantized")
    return float(t.scale[0]), int(t.zero_point[0]) if t.zero_point.size else 0


def _need_int8(*tensors: Tensor) -> None:
    for t in tensors:
        if t.dtype != "int8":
            raise _Unsupported(f"tensor {t.index} ('{t.name}') is {t.dtype}; the AOT runtime runs int8 "
                               "activations")
        _q(t)


def _shape4(shape: tuple[int, ...]) -> list[int]:
    shape = list(shape) or [1]
    if len(shape) > 4:
        extra = int(np.prod(shape[: len(shape) - 3]))
        shape = [extra] + shape[len(shape) - 3:]
    return [1] * (4 - len(shape)) + shape


def _nhwc(t: Tensor) -> tuple[int, int, int, int]:
    if len(t.shape) != 4:
        raise _Unsupported(f"tensor {t.index} has shape {list(t.shape)}; a 4-D NHWC tensor is needed")
    b, h, w, c = t.shape
    return int(b), int(h), int(w), int(c)


def _padding(padding: str, stride: int, dilation: int, in_size: int, k: int, out_size: int) -> int:
    """ComputePaddingHeightWidth: the leading padding (the extra odd pixel goes after)."""
    if padding != "SAME":
        return 0
    effective = (k - 1) * dilation + 1
    total = (out_size - 1) * stride + effective - in_size
    return max(total, 0) // 2


def _act(op: Operator) -> str:
    return str(op.options.get("fused_activation_function", "NONE"))


def _act_range(op: Operator, out: Tensor) -> tuple[int, int]:
    scale, zp = _q(out)
    return quant.activation_range(_act(op), scale, zp)


def _const(model: TFLiteModel, index: int, what: str) -> np.ndarray:
    if index < 0:
        raise _Unsupported(f"its {what} is missing")
    t = model.tensor(index)
    if t.data is None:
        raise _Unsupported(f"its {what} (tensor {index}) is not a constant")
    return t.data


def _fields(**kwargs: Any) -> list[tuple[str, str]]:
    out = []
    for k, v in kwargs.items():
        if isinstance(v, (list, tuple)):
            out.append((k, "{" + ", ".join(str(int(x)) for x in v) + "}"))
        else:
            out.append((k, str(v)))
    return out


def _act_note(op: Operator) -> str:
    act = _act(op)
    return "" if act == "NONE" else f", {act}"


# ---------------------------------------------------------------- lowerings

def _conv_2d(model: TFLiteModel, op: Operator, p: str) -> Lowered:
    inp, out = model.tensor(op.inputs[0]), model.tensor(op.outputs[0])
    filt = model.tensor(op.inputs[1])
    _need_int8(inp, out)
    if filt.dtype != "int8":
        raise _Unsupported(f"its filter is {filt.dtype} (int8 weights are supported)")
    weights = _const(model, op.inputs[1], "filter").astype(np.int64)
    b, ih, iw, ic = _nhwc(inp)
    _, oh, ow, oc = _nhwc(out)
    fo, kh, kw, fic = weights.shape
    if fic != ic:
        raise _Unsupported(f"it is a grouped convolution ({ic // max(fic, 1)} groups)")
    if filt.zero_point.size and np.any(filt.zero_point != 0):
        raise _Unsupported("its filter has a non-zero zero point")
    bias = (_const(model, op.inputs[2], "bias").astype(np.int64)
            if len(op.inputs) > 2 and op.inputs[2] >= 0 else np.zeros(oc, np.int64))
    in_scale, in_zp = _q(inp)
    out_scale, out_zp = _q(out)
    mult, shift = quant.conv_per_channel_multipliers(in_scale, filt.scale, out_scale, oc)
    sh, sw = int(op.options.get("stride_h", 1)), int(op.options.get("stride_w", 1))
    dh, dw = int(op.options.get("dilation_hfactor", 1)), int(op.options.get("dilation_wfactor", 1))
    pad = str(op.options.get("padding", "VALID"))
    ph, pw = _padding(pad, sh, dh, ih, kh, oh), _padding(pad, sw, dw, iw, kw, ow)
    folded = bias - in_zp * weights.reshape(oc, -1).sum(axis=1)
    lo, hi = _act_range(op, out)
    pointwise = kh == 1 and kw == 1 and ph == 0 and pw == 0
    # rows of kh*kw*ic, zero-padded to whole words, row-major (tinyml_gemm_4px)
    laid_out = pad_depth(weights.reshape(oc, -1)).reshape(-1)
    consts = [ConstArray(f"{p}_weights", "int8_t", laid_out.tolist()),
              ConstArray(f"{p}_bias", "int32_t", [quant.wrap32(int(x)) for x in folded]),
              ConstArray(f"{p}_multiplier", "int32_t", mult),
              ConstArray(f"{p}_shift", "int32_t", shift)]
    params = _fields(batches=b, in_h=ih, in_w=iw, in_c=ic, out_h=oh, out_w=ow, out_c=oc, k_h=kh, k_w=kw,
                     stride_h=sh, stride_w=sw, dil_h=dh, dil_w=dw, pad_h=ph, pad_w=pw,
                     input_zp=in_zp, output_zp=out_zp, act_min=lo, act_max=hi,
                     weights=f"{p}_weights", bias=f"{p}_bias", multiplier=f"{p}_multiplier",
                     shift=f"{p}_shift")
    dil = f", dilation {dh}x{dw}" if (dh, dw) != (1, 1) else ""
    summary = (f"CONV_2D {kh}x{kw} stride {sh}x{sw} {pad}{dil}, {ih}x{iw}x{ic} -> {oh}x{ow}x{oc}"
               f"{_act_note(op)}")
    # tinyml_conv2d_scratch_bytes: a block of 4 widened input vectors, and an
    # int8 im2col patch unless 1x1. In place (stride 1, out_c <= in_c): a 1x1
    # conv's block is the copy of the pixels being overwritten; a larger kernel
    # with output shape = input shape also keeps a ring of pad_h + 1 input rows.
    scratch = gemm_scratch_bytes(kh * kw * ic) + (0 if pointwise else kh * kw * ic)
    in_place = (sh, sw) == (1, 1) and oc <= ic and b == 1 and (pointwise or (oh, ow) == (ih, iw))
    return Lowered(op.index, op.opcode, summary,
                   [Call("tinyml_conv2d_s8", ["&params", f"in:{inp.index}", f"out:{out.index}",
                                              "scratch"], "tinyml_conv_params", params)],
                   consts, scratch_bytes=scratch,
                   in_place_of=inp.index if in_place else None,
                   in_place_scratch_bytes=scratch + (ph + 1) * iw * ic if in_place and not pointwise else None)


def _depthwise_conv_2d(model: TFLiteModel, op: Operator, p: str) -> Lowered:
    inp, out = model.tensor(op.inputs[0]), model.tensor(op.outputs[0])
    filt = model.tensor(op.inputs[1])
    _need_int8(inp, out)
    if filt.dtype != "int8":
        raise _Unsupported(f"its filter is {filt.dtype} (int8 weights are supported)")
    weights = _const(model, op.inputs[1], "filter").astype(np.int64)
    b, ih, iw, ic = _nhwc(inp)
    _, oh, ow, oc = _nhwc(out)
    _, kh, kw, foc = weights.shape
    if foc != oc or ic == 0 or oc % ic:
        raise _Unsupported(f"its filter shape {list(weights.shape)} does not match {ic} -> {oc} channels")
    dm = oc // ic
    if filt.zero_point.size and np.any(filt.zero_point != 0):
        raise _Unsupported("its filter has a non-zero zero point")
    bias = (_const(model, op.inputs[2], "bias").astype(np.int64)
            if len(op.inputs) > 2 and op.inputs[2] >= 0 else np.zeros(oc, np.int64))
    in_scale, in_zp = _q(inp)
    out_scale, out_zp = _q(out)
    mult, shift = quant.conv_per_channel_multipliers(in_scale, filt.scale, out_scale, oc)
    sh, sw = int(op.options.get("stride_h", 1)), int(op.options.get("stride_w", 1))
    dh, dw = int(op.options.get("dilation_hfactor", 1)), int(op.options.get("dilation_wfactor", 1))
    pad = str(op.options.get("padding", "VALID"))
    ph, pw = _padding(pad, sh, dh, ih, kh, oh), _padding(pad, sw, dw, iw, kw, ow)
    folded = bias - in_zp * weights.reshape(-1, oc).sum(axis=0)
    lo, hi = _act_range(op, out)
    taps = weights.reshape(kh * kw, oc)
    # the dm == 1 path reads 4-channel groups; the generic path the .tflite order
    laid_out = depthwise_groups(taps) if dm == 1 and kh * kw <= DW_MAX_TAPS else taps.reshape(-1)
    consts = [ConstArray(f"{p}_weights", "int8_t", laid_out.tolist()),
              ConstArray(f"{p}_bias", "int32_t", [quant.wrap32(int(x)) for x in bias]),
              ConstArray(f"{p}_bias_folded", "int32_t", [quant.wrap32(int(x)) for x in folded]),
              ConstArray(f"{p}_multiplier", "int32_t", mult),
              ConstArray(f"{p}_shift", "int32_t", shift),
              ConstArray(f"{p}_zp_row", "int8_t", [in_zp] * ic)]
    params = _fields(batches=b, in_h=ih, in_w=iw, in_c=ic, out_h=oh, out_w=ow, out_c=oc,
                     depth_multiplier=dm, k_h=kh, k_w=kw, stride_h=sh, stride_w=sw, dil_h=dh, dil_w=dw,
                     pad_h=ph, pad_w=pw, input_offset=-in_zp, output_zp=out_zp, act_min=lo, act_max=hi,
                     weights=f"{p}_weights", bias=f"{p}_bias", bias_folded=f"{p}_bias_folded",
                     multiplier=f"{p}_multiplier", shift=f"{p}_shift", zp_row=f"{p}_zp_row")
    dil = f", dilation {dh}x{dw}" if (dh, dw) != (1, 1) else ""
    summary = (f"DEPTHWISE_CONV_2D {kh}x{kw} stride {sh}x{sw} {pad}{dil}, depth multiplier {dm}, "
               f"{ih}x{iw}x{ic} -> {oh}x{ow}x{oc}{_act_note(op)}")
    # tinyml_depthwise_scratch_bytes: in place (dm 1, stride 1, same shape), a
    # ring of pad_h + 1 input rows; otherwise nothing
    in_place = (dm == 1 and (sh, sw) == (1, 1) and (oh, ow) == (ih, iw) and b == 1
                and kh * kw <= DW_MAX_TAPS)
    return Lowered(op.index, op.opcode, summary,
                   [Call("tinyml_depthwise_conv2d_s8", ["&params", f"in:{inp.index}", f"out:{out.index}",
                                                        "scratch"],
                         "tinyml_depthwise_params", params)], consts,
                   in_place_of=inp.index if in_place else None,
                   in_place_scratch_bytes=(ph + 1) * iw * ic if in_place else None)


def _fully_connected(model: TFLiteModel, op: Operator, p: str) -> Lowered:
    inp, out = model.tensor(op.inputs[0]), model.tensor(op.outputs[0])
    filt = model.tensor(op.inputs[1])
    _need_int8(inp, out)
    if filt.dtype != "int8":
        raise _Unsupported(f"its weights are {filt.dtype} (int8 weights are supported)")
    weights = _const(model, op.inputs[1], "weights").astype(np.int64)
    if weights.ndim != 2:
        raise _Unsupported(f"its weights have shape {list(weights.shape)} (2-D expected)")
    out_depth, depth = weights.shape
    if filt.zero_point.size and np.any(filt.zero_point != 0):
        raise _Unsupported("its weights have a non-zero zero point")
    if out.num_elements % out_depth or inp.num_elements % depth:
        raise _Unsupported("its input and output sizes do not match the weights")
    batches = out.num_elements // out_depth
    bias = (_const(model, op.inputs[2], "bias").astype(np.int64)
            if len(op.inputs) > 2 and op.inputs[2] >= 0 else np.zeros(out_depth, np.int64))
    in_scale, in_zp = _q(inp)
    out_scale, out_zp = _q(out)
    mult, shift = quant.fc_multipliers(in_scale, filt.scale, out_scale, out_depth)
    folded = bias - in_zp * weights.sum(axis=1)
    lo, hi = _act_range(op, out)
    # rows zero-padded to whole words, four rows interleaved (tinyml_gemv)
    consts = [ConstArray(f"{p}_weights", "int8_t", interleave_rows(pad_depth(weights), 4).tolist()),
              ConstArray(f"{p}_bias", "int32_t", [quant.wrap32(int(x)) for x in folded]),
              ConstArray(f"{p}_multiplier", "int32_t", mult),
              ConstArray(f"{p}_shift", "int32_t", shift)]
    params = _fields(batches=batches, in_depth=depth, out_depth=out_depth, output_zp=out_zp,
                     act_min=lo, act_max=hi, weights=f"{p}_weights", bias=f"{p}_bias",
                     multiplier=f"{p}_multiplier", shift=f"{p}_shift")
    summary = f"FULLY_CONNECTED {depth} -> {out_depth}" + (f" x{batches}" if batches > 1 else "") + _act_note(op)
    return Lowered(op.index, op.opcode, summary,
                   [Call("tinyml_fully_connected_s8", ["&params", f"in:{inp.index}", f"out:{out.index}"],
                         "tinyml_fc_params", params)], consts)


def _pool(model: TFLiteModel, op: Operator, p: str) -> Lowered:
    inp, out = model.tensor(op.inputs[0]), model.tensor(op.outputs[0])
    _need_int8(inp, out)
    if _q(inp) != _q(out):
        # TFLM requires equal input/output quantization for int8 pooling.
        raise _Unsupported("its input and output quantization differ")
    b, ih, iw, c = _nhwc(inp)
    _, oh, ow, _ = _nhwc(out)
    kh, kw = int(op.options["filter_height"]), int(op.options["filter_width"])
    sh, sw = int(op.options.get("stride_h", 1)), int(op.options.get("stride_w", 1))
    pad = str(op.options.get("padding", "VALID"))
    ph, pw = _padding(pad, sh, 1, ih, kh, oh), _padding(pad, sw, 1, iw, kw, ow)
    lo, hi = _act_range(op, out)
    params = _fields(batches=b, in_h=ih, in_w=iw, channels=c, out_h=oh, out_w=ow, k_h=kh, k_w=kw,
                     stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw, act_min=lo, act_max=hi)
    kernel = "tinyml_avg_pool_s8" if op.opcode == "AVERAGE_POOL_2D" else "tinyml_max_pool_s8"
    summary = f"{op.opcode} {kh}x{kw} stride {sh}x{sw} {pad}, {ih}x{iw}x{c} -> {oh}x{ow}x{c}{_act_note(op)}"
    return Lowered(op.index, op.opcode, summary,
                   [Call(kernel, ["&params", f"in:{inp.index}", f"out:{out.index}"],
                         "tinyml_pool_params", params)], [])


def _softmax(model: TFLiteModel, op: Operator, p: str) -> Lowered:
    inp, out = model.tensor(op.inputs[0]), model.tensor(op.outputs[0])
    _need_int8(inp, out)
    out_scale, out_zp = _q(out)
    if out_zp != -128 or np.float32(out_scale) != np.float32(1.0 / 256):
        raise _Unsupported("its int8 output is not quantized with scale 1/256 and zero point -128")
    in_scale, _ = _q(inp)
    sp = quant.softmax_params(float(op.options.get("beta", 1.0)), in_scale)
    depth = int(inp.shape[-1]) if inp.shape else 1
    params = _fields(outer=inp.num_elements // depth, depth=depth, **sp)
    summary = f"SOFTMAX over {depth} values, beta {float(op.options.get('beta', 1.0)):g}"
    return Lowered(op.index, op.opcode, summary,
                   [Call("tinyml_softmax_s8", ["&params", f"in:{inp.index}", f"out:{out.index}"],
                         "tinyml_softmax_params", params)], [])


def _broadcast(a: tuple[int, ...], b: tuple[int, ...], o: tuple[int, ...]) -> tuple[bool, list, list, list]:
    if len(o) > 4:
        if tuple(a) == tuple(b) == tuple(o):
            return False, [], [], []
        raise _Unsupported(f"it broadcasts a {len(o)}-D shape (up to 4-D is supported)")
    a4, b4, o4 = _shape4(a), _shape4(b), _shape4(o)
    if a4 == b4 == o4:
        return False, o4, [], []

    def strides(s: list[int]) -> list[int]:
        st, acc = [0] * 4, 1
        for k in range(3, -1, -1):
            st[k] = 0 if s[k] == 1 and o4[k] != 1 else acc
            acc *= s[k]
        return st
    return True, o4, strides(a4), strides(b4)


def _binary(model: TFLiteModel, op: Operator, p: str) -> Lowered:
    in1, in2 = model.tensor(op.inputs[0]), model.tensor(op.inputs[1])
    out = model.tensor(op.outputs[0])
    _need_int8(in1, in2, out)
    s1, z1 = _q(in1)
    s2, z2 = _q(in2)
    so, zo = _q(out)
    lo, hi = _act_range(op, out)
    bc, shape, st1, st2 = _broadcast(in1.shape, in2.shape, out.shape)
    common = dict(size=out.num_elements, broadcast=int(bc), shape=shape or [1, 1, 1, out.num_elements],
                  stride1=st1 or [0, 0, 0, 1], stride2=st2 or [0, 0, 0, 1],
                  input1_offset=-z1, input2_offset=-z2)
    if op.opcode in ("ADD", "SUB"):
        ap = quant.add_params(s1, s2, so) if op.opcode == "ADD" else quant.sub_params(s1, s2, so)
        t1 = quant.add_input_table(z1, ap["left_shift"], ap["input1_multiplier"], ap["input1_shift"])
        t2 = quant.add_input_table(z2, ap["left_shift"], ap["input2_multiplier"], ap["input2_shift"])
        if op.opcode == "SUB":
            t2 = [-v for v in t2]
        params = _fields(**common, left_shift=ap["left_shift"],
                         input1_multiplier=ap["input1_multiplier"], input1_shift=ap["input1_shift"],
                         input2_multiplier=ap["input2_multiplier"], input2_shift=ap["input2_shift"],
                         output_multiplier=ap["output_multiplier"], output_shift=ap["output_shift"],
                         output_zp=zo, act_min=lo, act_max=hi, table1=f"{p}_table1", table2=f"{p}_table2")
        tables = [ConstArray(f"{p}_table1", "int32_t", t1), ConstArray(f"{p}_table2", "int32_t", t2)]
    else:
        m, s = quant.mul_params(s1, s2, so)
        params = _fields(**common, left_shift=0, input1_multiplier=0, input1_shift=0,
                         input2_multiplier=0, input2_shift=0, output_multiplier=m, output_shift=s,
                         output_zp=zo, act_min=lo, act_max=hi, table1="NULL", table2="NULL")
        tables = []
    # SUB is an ADD whose second table is negated.
    kernel = {"ADD": "tinyml_add_s8", "SUB": "tinyml_add_s8", "MUL": "tinyml_mul_s8"}[op.opcode]
    sign = {"ADD": "+", "SUB": "-", "MUL": "*"}[op.opcode]
    summary = (f"{op.opcode} {list(in1.shape)} {sign} {list(in2.shape)}"
               f"{' (broadcast)' if bc else ''}{_act_note(op)}")
    consts, args = list(tables), ["&params"]
    for k, t in enumerate((in1, in2), start=1):
        if t.data is not None:
            consts.append(ConstArray(f"{p}_input{k}", "int8_t", t.data.reshape(-1).tolist()))
            args.append(f"{p}_input{k}")
        else:
            args.append(f"in:{t.index}")
    args.append(f"out:{out.index}")
    in_place = None
    if not bc:
        for t in (in1, in2):
            if t.data is None and t.num_elements == out.num_elements:
                in_place = t.index
                break
    return Lowered(op.index, op.opcode, summary,
                   [Call(kernel, args, "tinyml_binary_params", params)], consts, in_place_of=in_place)


def _reduce(model: TFLiteModel, op: Operator, p: str) -> Lowered:
    """MEAN and REDUCE_MAX over any axes of an up-to-4-D tensor."""
    inp, out = model.tensor(op.inputs[0]), model.tensor(op.outputs[0])
    _need_int8(inp, out)
    axes = _const(model, op.inputs[1], "axis").reshape(-1).tolist()
    rank = len(inp.shape)
    if rank > 4:
        raise _Unsupported(f"its input is {rank}-D (up to 4-D is supported)")
    axes = sorted({int(a) % rank for a in axes})
    shape = _shape4(inp.shape)
    reduce = [0] * 4
    for a in axes:
        reduce[a + 4 - rank] = 1
    count = int(np.prod([shape[k] for k in range(4) if reduce[k]])) if axes else 1
    in_scale, in_zp = _q(inp)
    out_scale, out_zp = _q(out)
    if op.opcode == "MEAN":
        mult, shift = quant.mean_params(in_scale, out_scale, count)
        kernel = "tinyml_mean_s8"
    else:
        if (np.float32(in_scale), in_zp) != (np.float32(out_scale), out_zp):
            raise _Unsupported("its input and output quantization differ")
        mult, shift = 0, 0
        kernel = "tinyml_reduce_max_s8"
    params = _fields(shape=shape, reduce=reduce, count=count, input_zp=in_zp, output_zp=out_zp,
                     multiplier=mult, shift=shift)
    summary = f"{op.opcode} over axes {axes} of {list(inp.shape)}"
    return Lowered(op.index, op.opcode, summary,
                   [Call(kernel, ["&params", f"in:{inp.index}", f"out:{out.index}"],
                         "tinyml_mean_params", params)], [])


def _pad(model: TFLiteModel, op: Operator, p: str) -> Lowered:
    inp, out = model.tensor(op.inputs[0]), model.tensor(op.outputs[0])
    _need_int8(inp, out)
    paddings = _const(model, op.inputs[1], "paddings").astype(np.int64)
    rank = len(inp.shape)
    if rank > 4:
        raise _Unsupported(f"its input is {rank}-D (up to 4-D is supported)")
    before = [0] * (4 - rank) + [int(x) for x in paddings[:, 0]]
    value = _q(out)[1]
    if op.opcode == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = int(_const(model, op.inputs[2], "constant value").reshape(-1)[0])
    params = _fields(in_shape=_shape4(inp.shape), out_shape=_shape4(out.shape), before=before, value=value)
    summary = f"{op.opcode} {list(inp.shape)} -> {list(out.shape)} with {value}"
    return Lowered(op.index, op.opcode, summary,
                   [Call("tinyml_pad_s8", ["&params", f"in:{inp.index}", f"out:{out.index}"],
                         "tinyml_pad_params", params)], [])


def _concatenation(model: TFLiteModel, op: Operator, p: str) -> Lowered:
    out = model.tensor(op.outputs[0])
    ins = [model.tensor(i) for i in op.inputs]
    _need_int8(out, *ins)
    for t in ins:
        if t.data is not None:
            raise _Unsupported(f"its input tensor {t.index} is a constant (only activations are supported)")
        if _q(t) != _q(out):
            raise _Unsupported("its inputs are quantized differently from its output")
    rank = len(out.shape)
    axis = int(op.options.get("axis", 0)) % rank
    outer = int(np.prod(out.shape[:axis])) if axis else 1
    dst_stride = int(np.prod(out.shape[axis:]))
    calls, offset = [], 0
    for t in ins:
        chunk = int(np.prod(t.shape[axis:]))
        calls.append(Call("tinyml_copy_strided", [f"in:{t.index}", f"out:{out.index}+{offset}",
                                                  str(outer), str(chunk), str(dst_stride)]))
        offset += chunk
    summary = f"CONCATENATION of {len(ins)} tensors along axis {axis} -> {list(out.shape)}"
    return Lowered(op.index, op.opcode, summary, calls, [])


def _view(model: TFLiteModel, op: Operator, p: str) -> Lowered:
    inp, out = model.tensor(op.inputs[0]), model.tensor(op.outputs[0])
    if inp.dtype != out.dtype or inp.nbytes != out.nbytes:
        raise _Unsupported("its input and output sizes differ")
    if inp.data is not None:
        raise _Unsupported("its input is a constant")
    summary = f"{op.opcode} {list(inp.shape)} -> {list(out.shape)}"
    return Lowered(op.index, op.opcode, summary,
                   [Call("tinyml_copy_strided", [f"in:{inp.index}", f"out:{out.index}", "1",
                                                 str(inp.nbytes), str(inp.nbytes)])],
                   [], view_of=inp.index)


def _lut(model: TFLiteModel, op: Operator, p: str) -> Lowered:
    inp, out = model.tensor(op.inputs[0]), model.tensor(op.outputs[0])
    if op.opcode == "QUANTIZE" and inp.dtype == "float32":
        return _quantize_float(model, op, p)
    if op.opcode == "DEQUANTIZE":
        return _dequantize(model, op, p)
    _need_int8(inp, out)
    s_in, z_in = _q(inp)
    s_out, z_out = _q(out)
    name = op.opcode
    if name == "LOGISTIC":
        if z_out != -128 or np.float32(s_out) != np.float32(1.0 / 256):
            raise _Unsupported("its int8 output is not quantized with scale 1/256 and zero point -128")
        table = quant.lut_logistic(s_in, z_in)
    elif name == "TANH":
        if z_out != 0 or np.float32(s_out) != np.float32(1.0 / 128):
            raise _Unsupported("its int8 output is not quantized with scale 1/128 and zero point 0")
        table = quant.lut_tanh(s_in, z_in)
    elif name == "RELU":
        table = quant.lut_relu(s_in, z_in, s_out, z_out)
    elif name == "RELU6":
        table = quant.lut_relu6(s_in, z_in)
    elif name == "LEAKY_RELU":
        table = quant.lut_leaky_relu(s_in, z_in, s_out, z_out, float(op.options.get("alpha", 0.2)))
    elif name == "HARD_SWISH":
        table = quant.lut_hard_swish(s_in, z_in, s_out, z_out)
    elif name == "QUANTIZE":
        table = quant.lut_requantize(s_in, z_in, s_out, z_out)
    else:  # pragma: no cover - table and dispatch agree
        raise _Unsupported("no lookup table for it")
    consts = [ConstArray(f"{p}_table", "int8_t", table)]
    summary = f"{name} on {inp.num_elements} values (lookup table)"
    return Lowered(op.index, op.opcode, summary,
                   [Call("tinyml_lut_s8", [f"{p}_table", f"in:{inp.index}", f"out:{out.index}",
                                           str(inp.num_elements)])],
                   consts, in_place_of=inp.index)


def _quantize_float(model: TFLiteModel, op: Operator, p: str) -> Lowered:
    inp, out = model.tensor(op.inputs[0]), model.tensor(op.outputs[0])
    _need_int8(out)
    s_out, z_out = _q(out)
    summary = f"QUANTIZE float32 -> int8 on {inp.num_elements} values"
    return Lowered(op.index, op.opcode, summary,
                   [Call("tinyml_quantize_f32_s8", [f"in:{inp.index}", f"out:{out.index}",
                                                    str(inp.num_elements), _float_literal(s_out),
                                                    str(z_out)])], [])


def _dequantize(model: TFLiteModel, op: Operator, p: str) -> Lowered:
    inp, out = model.tensor(op.inputs[0]), model.tensor(op.outputs[0])
    _need_int8(inp)
    if out.dtype != "float32":
        raise _Unsupported(f"its output is {out.dtype} (float32 expected)")
    s_in, z_in = _q(inp)
    consts = [ConstArray(f"{p}_table", "float", quant.lut_dequantize(s_in, z_in))]
    summary = f"DEQUANTIZE int8 -> float32 on {inp.num_elements} values (lookup table)"
    return Lowered(op.index, op.opcode, summary,
                   [Call("tinyml_dequantize_s8_f32", [f"{p}_table", f"in:{inp.index}", f"out:{out.index}",
                                                      str(inp.num_elements)])], consts)


def _float_literal(x: float) -> str:
    """A C float literal that parses back to the same float32."""
    return f"{float(np.float32(x))!r}f"


LOWERINGS: dict[str, Callable[[TFLiteModel, Operator, str], Lowered]] = {
    "CONV_2D": _conv_2d,
    "DEPTHWISE_CONV_2D": _depthwise_conv_2d,
    "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _pool,
    "MAX_POOL_2D": _pool,
    "SOFTMAX": _softmax,
    "ADD": _binary,
    "SUB": _binary,
    "MUL": _binary,
    "MEAN": _reduce,
    "REDUCE_MAX": _reduce,
    "PAD": _pad,
    "PADV2": _pad,
    "CONCATENATION": _concatenation,
    "RESHAPE": _view,
    "SQUEEZE": _view,
    "EXPAND_DIMS": _view,
    "QUANTIZE": _lut,
    "DEQUANTIZE": _lut,
    "LOGISTIC": _lut,
    "TANH": _lut,
    "RELU": _lut,
    "RELU6": _lut,
    "LEAKY_RELU": _lut,
    "HARD_SWISH": _lut,
}

SUPPORTED_OPERATORS = frozenset(LOWERINGS)


def _where(model: TFLiteModel, op: Operator) -> str:
    """'its input tensor 22 ("name") comes from operator 3 (CONV_2D)' or the model input."""
    if not op.inputs or op.inputs[0] < 0:
        return "it has no input"
    t = model.tensor(op.inputs[0])
    if t.index in model.inputs:
        src = "the model input"
    else:
        producer = model.producer(t.index)
        src = (f"operator {producer.index} ({producer.opcode})" if producer is not None
               else "a constant")
    return f"its input tensor {t.index} ('{t.name}') comes from {src}"


def _refuse(model: TFLiteModel, op: Operator, reason: str | None) -> UnsupportedOperatorError:
    in_tflm = op.opcode in TFLM_OPERATORS
    runtime = ("it is supported by the tflm runtime (--runtime tflm)" if in_tflm
               else "no tinyml runtime supports it (TFLite Micro has no kernel for it either)")
    what = (f"the aot runtime does not support {op.opcode}" if reason is None
            else f"the aot runtime cannot run this {op.opcode}: {reason}")
    return UnsupportedOperatorError(
        f"{model.path.name}: operator {op.index} ({op.opcode}): {what}; {_where(model, op)}; {runtime}.",
        path=model.path,
        hint="Run the model with --runtime tflm, or change the layer before quantization." if in_tflm
        else "Replace the layer with supported operators before quantization.")


def lower(model: TFLiteModel, op: Operator) -> Lowered:
    fn = LOWERINGS.get(op.opcode)
    if fn is None:
        raise _refuse(model, op, None)
    try:
        lowered = fn(model, op, f"op{op.index}")
    except _Unsupported as exc:
        raise _refuse(model, op, str(exc)) from None
    lowered.inputs = [i for i in op.inputs if i >= 0]
    lowered.outputs = list(op.outputs)
    return lowered


def check_model(model: TFLiteModel) -> list[Lowered]:
    """Lower every operator (raising on the first unsupported one)."""
    if model.subgraph_count != 1:
        raise UnsupportedOperatorError(
            f"{model.path.name} has {model.subgraph_count} subgraphs; the aot runtime runs "
            "single-subgraph models (control flow is supported by the tflm runtime).", path=model.path)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedOperatorError(
            f"{model.path.name} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; the aot "
            "runtime runs models with one input and one output.", path=model.path)
    for t in (*model.input_tensors, *model.output_tensors):
        if t.dtype not in ("int8", "float32"):
            raise UnsupportedOperatorError(
                f"{model.path.name}: the model's {'input' if t.index in model.inputs else 'output'} "
                f"tensor {t.index} is {t.dtype}; the aot runtime takes int8 (or float32) tensors.",
                path=model.path)
    return [lower(model, op) for op in model.operators]
