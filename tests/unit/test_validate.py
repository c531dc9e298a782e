"""Bad models are refused before anything reads them: each a real MLPerf Tiny model with one field
overwritten in place in its flatbuffer, and each refusal one sentence naming the operator, the
tensor and the field (issue 15's hand-made cases among them)."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from tinyml.errors import ModelError
from tinyml.tflite_model import load_model

# kws_ref_model: op 0 CONV_2D (in 0, filter 17, bias 3 -> 22), ..., op 11 FULLY_CONNECTED
# (32, 16, 1 -> 33), op 12 SOFTMAX (33 -> 34)


class Patcher:
    """Writes scalars and vector elements of a flatbuffer in place, found through the tflite
    package's accessors (Table positions), so a test says which field it breaks."""

    def __init__(self, source: Path):
        import tflite

        self.buf = bytearray(source.read_bytes())
        self.model = tflite.Model.GetRootAs(bytes(self.buf), 0)
        self.graph = self.model.Subgraphs(0)

    def _vector(self, table, slot: int, index: int, fmt: str, value) -> None:
        offset = table._tab.Offset(slot)
        assert offset, "field absent"
        start = table._tab.Vector(offset)
        struct.pack_into("<" + fmt, self.buf, start + index * struct.calcsize(fmt), value)

    def _scalar(self, table, slot: int, fmt: str, value) -> None:
        offset = table._tab.Offset(slot)
        assert offset, "field absent"
        struct.pack_into("<" + fmt, self.buf, table._tab.Pos + offset, value)

    def shape(self, tensor: int, axis: int, value: int) -> "Patcher":
        self._vector(self.graph.Tensors(tensor), 4, axis, "i", value)        # Tensor.shape
        return self

    def scale(self, tensor: int, value: float) -> "Patcher":
        self._vector(self.graph.Tensors(tensor).Quantization(), 8, 0, "f", value)   # scale
        return self

    def zero_point(self, tensor: int, value: int) -> "Patcher":
        self._vector(self.graph.Tensors(tensor).Quantization(), 10, 0, "q", value)  # zero_point
        return self

    def op_input(self, op: int, position: int, value: int) -> "Patcher":
        self._vector(self.graph.Operators(op), 6, position, "i", value)     # Operator.inputs
        return self

    def opcode_index(self, op: int, value: int) -> "Patcher":
        self._scalar(self.graph.Operators(op), 4, "I", value)
        return self

    def conv_stride_w(self, op: int, value: int) -> "Patcher":
        import tflite

        table = tflite.Conv2DOptions()
        raw = self.graph.Operators(op).BuiltinOptions()
        table.Init(raw.Bytes, raw.Pos)
        self._scalar(table, 6, "i", value)                                  # Conv2DOptions.stride_w
        return self

    def write(self, path: Path) -> Path:
        path.write_bytes(bytes(self.buf))
        return path


@pytest.fixture
def kws(shared_models) -> Path:
    return shared_models / "kws_ref_model.tflite"


def _refusal(path: Path) -> str:
    with pytest.raises(ModelError) as refused:
        load_model(path)
    message = refused.value.message
    assert message.startswith(f"{path}: ") and message.endswith(".") and "\n" not in message
    return message


def test_the_shared_models_pass(shared_models):
    for path in sorted(shared_models.glob("*.tflite")):
        assert load_model(path).operators


def test_a_softmax_output_smaller_than_its_input(kws, tmp_path):
    bad = Patcher(kws).shape(34, 1, 10).write(tmp_path / "m.tflite")
    assert "operator 12 (SOFTMAX): output tensor 34" in _refusal(bad)
    assert "has shape [1, 10], but the operator computes [1, 12]" in _refusal(bad)


def test_a_fully_connected_whose_output_batch_disagrees(kws, tmp_path):
    bad = Patcher(kws).shape(33, 0, 2).write(tmp_path / "m.tflite")
    assert "operator 11 (FULLY_CONNECTED): output tensor 33" in _refusal(bad)
    assert "1 rows of 64 times 12 units make 1 x 12" in _refusal(bad)


def test_a_negative_dimension(kws, tmp_path):
    bad = Patcher(kws).shape(22, 1, -3).write(tmp_path / "m.tflite")
    assert "tensor 22 (" in _refusal(bad) and "has dimension 1 = -3; dimensions must be at least 1" in _refusal(bad)


def test_a_constant_buffer_of_the_wrong_size(kws, tmp_path):
    bad = Patcher(kws).shape(17, 0, 65).write(tmp_path / "m.tflite")    # the first conv's 64 filters
    message = _refusal(bad)
    assert "tensor 17 (" in message and "has a constant buffer of 2,560 bytes, but its shape [65, 10, 4, 1] of int8 needs 2,600" in message


@pytest.mark.parametrize("value", [500, -2])
def test_an_operator_input_out_of_range(kws, tmp_path, value):
    bad = Patcher(kws).op_input(0, 0, value).write(tmp_path / "m.tflite")
    assert f"operator 0 (CONV_2D) input 0 is {value}, but must be -1 or 0..34" in _refusal(bad)


def test_an_opcode_index_out_of_range(kws, tmp_path):
    bad = Patcher(kws).opcode_index(3, 77).write(tmp_path / "m.tflite")
    assert "operator 3's opcode_index is 77, but must be 0..5" in _refusal(bad)


@pytest.mark.parametrize("value, words", [(math.nan, "scale nan"), (-0.5, "scale -0.5"), (0.0, "scale 0.0")])
def test_a_bad_scale(kws, tmp_path, value, words):
    bad = Patcher(kws).scale(0, value).write(tmp_path / "m.tflite")
    assert f"tensor 0 (" in _refusal(bad) and f"has quantization {words}; scales must be finite and positive" \
        in _refusal(bad)


def test_a_zero_point_outside_int8(kws, tmp_path):
    bad = Patcher(kws).zero_point(0, 300).write(tmp_path / "m.tflite")
    assert "has zero point 300, outside int8's range -128..127" in _refusal(bad)


def test_a_zero_stride(kws, tmp_path):
    bad = Patcher(kws).conv_stride_w(0, 0).write(tmp_path / "m.tflite")
    assert "operator 0 (CONV_2D): option stride_w is 0; it must be at least 1" in _refusal(bad)


def test_the_cli_says_one_sentence_and_exits_non_zero(kws, tmp_path, capsys):
    from tinyml.cli import main

    bad = Patcher(kws).shape(34, 1, 10).write(tmp_path / "m.tflite")
    for command in (["analyze", str(bad), "-B", str(tmp_path / "b")],
                    ["check", str(bad), "--board", "mps2-an386", "-B", str(tmp_path / "b")]):
        with pytest.raises(SystemExit) as done:
            main(command)
        err = capsys.readouterr().err
        assert done.value.code == 2 and "Traceback" not in err, err
        assert err.startswith(f"error: {bad}: operator 12 (SOFTMAX): output tensor 34")
    assert not (tmp_path / "b" / "analyze").exists() and not (tmp_path / "b" / "check").exists()
