"""Read a .tflite flatbuffer into plain dataclasses.

Parsing uses the `tflite` package (flatbuffers code generated from TFLite's
schema.fbs); this module only turns its accessors into typed records that the
analyzer, the fit check and the AOT code generator share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError

_TFLITE_IDENTIFIER = b"TFL3"

# TensorType enum of schema.fbs -> numpy dtype name.
_TENSOR_TYPES = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string",
    6: "bool", 7: "int16", 8: "complex64", 9: "int8", 10: "float64",
    11: "complex128", 12: "uint64", 13: "resource", 14: "variant", 15: "uint32",
    16: "uint16", 17: "int4",
}

ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH",
               5: "SIGN_BIT"}
PADDINGS = {0: "SAME", 1: "VALID"}


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    data: np.ndarray | None          # constant contents (weights, biases, shapes)
    scale: np.ndarray                # empty when not quantized
    zero_point: np.ndarray
    quantized_dimension: int = 0
    is_variable: bool = False

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def num_elements(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def itemsize(self) -> int:
        return {"int4": 1, "bool": 1}.get(self.dtype) or np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return self.num_elements * self.itemsize

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1


@dataclass
class Operator:
    index: int
    opcode: str                      # e.g. "CONV_2D"; custom ops are "CUSTOM:<name>"
    inputs: list[int]                # -1 marks an omitted optional input
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)
    version: int = 1


@dataclass
class TFLiteModel:
    path: Path
    size_bytes: int
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    description: str
    schema_version: int
    subgraph_count: int

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    @property
    def input_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.inputs]

    @property
    def output_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.outputs]

    def producer(self, tensor_index: int) -> Operator | None:
        for op in self.operators:
            if tensor_index in op.outputs:
                return op
        return None

    @property
    def opcodes(self) -> list[str]:
        """Distinct operator names in order of first use."""
        return list(dict.fromkeys(op.opcode for op in self.operators))


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _options_to_dict(table: Any) -> dict[str, Any]:
    """Every scalar (and int vector) field of a generated options table."""
    out: dict[str, Any] = {}
    cls = type(table)
    for attr in dir(cls):
        if attr.startswith("_") or attr in ("Init",) or attr.startswith("GetRootAs"):
            continue
        if attr.endswith(("BufferHasIdentifier", "IsNone", "Length")):
            continue
        method = getattr(table, attr)
        if not callable(method):
            continue
        if attr.endswith("AsNumpy"):
            value = method()
            out[_snake(attr[: -len("AsNumpy")])] = [] if isinstance(value, int) else value.tolist()
            continue
        try:
            value = method()
        except TypeError:
            continue  # vector element accessors need an index; AsNumpy covers them
        if isinstance(value, (int, float, bool)):
            out[_snake(attr)] = value
        elif isinstance(value, bytes):
            out[_snake(attr)] = value.decode("utf-8", "replace")
    if "fused_activation_function" in out:
        out["fused_activation_function"] = ACTIVATIONS.get(out["fused_activation_function"], "UNKNOWN")
    if "padding" in out and isinstance(out["padding"], int):
        out["padding"] = PADDINGS.get(out["padding"], "UNKNOWN")
    return out


def _builtin_options(op: Any, tflite: Any) -> dict[str, Any]:
    options_type = op.BuiltinOptionsType()
    if options_type == 0 or op.BuiltinOptions() is None:
        return {}
    names = {v: k for k, v in vars(tflite.BuiltinOptions).items() if isinstance(v, int)}
    cls = getattr(tflite, names.get(options_type, ""), None)
    if cls is None:
        return {}
    table = cls()
    raw = op.BuiltinOptions()
    table.Init(raw.Bytes, raw.Pos)
    return _options_to_dict(table)


def load_model(path: str | Path) -> TFLiteModel:
    """Parse a .tflite file; raise ModelError with one sentence when it is not one."""
    import tflite  # the schema package; imported here to keep CLI start-up light

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file.", path=path)
    buf = path.read_bytes()
    if len(buf) < 8 or buf[4:8] != _TFLITE_IDENTIFIER:
        raise ModelError(f"{path} is not a TFLite flatbuffer (missing the 'TFL3' identifier).",
                         path=path)
    from . import validate

    try:
        model = tflite.Model.GetRootAs(buf, 0)
        validate.check_structure(path, schema_version=model.Version(), subgraphs=model.SubgraphsLength())
        graph = model.Subgraphs(0)
        tensors = [_read_tensor(path, model, graph.Tensors(i), i) for i in range(graph.TensorsLength())]
        count = len(tensors)
        operators = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            validate.check_index(path, op.OpcodeIndex(), model.OperatorCodesLength(),
                                 f"operator {i}'s opcode_index")
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == 32:
                name = "CUSTOM:" + (code.CustomCode() or b"?").decode("utf-8", "replace")
            else:
                name = tflite.utils.BUILTIN_OPCODE2NAME.get(builtin, f"BUILTIN_{builtin}")
            inputs = [int(x) for x in op.InputsAsNumpy()] if op.InputsLength() else []
            outputs = [int(x) for x in op.OutputsAsNumpy()] if op.OutputsLength() else []
            for k, index in enumerate(inputs):
                validate.check_index(path, index, count, f"operator {i} ({name}) input {k}", optional=True)
            for k, index in enumerate(outputs):
                validate.check_index(path, index, count, f"operator {i} ({name}) output {k}")
            operators.append(Operator(index=i, opcode=name, inputs=inputs, outputs=outputs,
                                      options=_builtin_options(op, tflite), version=code.Version()))
        graph_inputs = [int(x) for x in graph.InputsAsNumpy()] if graph.InputsLength() else []
        graph_outputs = [int(x) for x in graph.OutputsAsNumpy()] if graph.OutputsLength() else []
        for k, index in enumerate(graph_inputs):
            validate.check_index(path, index, count, f"subgraph input {k}")
        for k, index in enumerate(graph_outputs):
            validate.check_index(path, index, count, f"subgraph output {k}")
        result = TFLiteModel(
            path=path, size_bytes=len(buf), tensors=tensors, operators=operators,
            inputs=graph_inputs, outputs=graph_outputs,
            description=(model.Description() or b"").decode("utf-8", "replace"),
            schema_version=model.Version(), subgraph_count=model.SubgraphsLength())
        validate.check_model(result)
        return result
    except ModelError:
        raise
    except Exception as exc:  # flatbuffers raises assorted errors on truncated data
        raise ModelError(f"{path} is corrupt: the flatbuffer could not be read ({exc}).",
                         path=path) from exc


def _read_tensor(path: Path, model: Any, t: Any, index: int) -> Tensor:
    from . import validate

    dtype = _TENSOR_TYPES.get(t.Type(), f"type{t.Type()}")
    shape = tuple(int(x) for x in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    raw = None
    validate.check_index(path, t.Buffer(), model.BuffersLength(), f"tensor {index}'s buffer")
    buffer = model.Buffers(t.Buffer())
    if buffer is not None and buffer.DataLength() > 0:
        raw = buffer.DataAsNumpy().tobytes()
    elif buffer is not None and buffer.Offset() > 1:
        # Buffers past 2 GB are stored after the flatbuffer; tiny models never need it.
        raise ModelError("models with buffers stored outside the flatbuffer are not supported.")
    scale = np.zeros(0, dtype=np.float32)
    zero_point = np.zeros(0, dtype=np.int64)
    qdim = 0
    q = t.Quantization()
    if q is not None and q.ScaleLength() > 0:
        scale = q.ScaleAsNumpy().astype(np.float32)
        zero_point = (q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength()
                      else np.zeros(scale.shape, np.int64))
        qdim = q.QuantizedDimension()
    tensor = Tensor(index=index, name=(t.Name() or b"").decode("utf-8", "replace"), shape=shape,
                    dtype=dtype, data=None, scale=scale, zero_point=zero_point,
                    quantized_dimension=qdim, is_variable=bool(t.IsVariable()))
    validate.check_tensor(path, tensor, buffer_bytes=None if raw is None else len(raw),
                          known_type=t.Type() in _TENSOR_TYPES)
    if raw is not None:
        if dtype in ("int4", "string", "resource", "variant"):
            tensor.data = np.frombuffer(raw, dtype=np.uint8)
        else:
            tensor.data = np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)
    return tensor
