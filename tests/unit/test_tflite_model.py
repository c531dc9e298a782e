import numpy as np
import pytest

from tinyml.errors import ModelError
from tinyml.tflite_model import load_model


def test_reads_kws_structure(shared_models):
    m = load_model(shared_models / "kws_ref_model.tflite")
    assert m.opcodes == ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE",
                         "FULLY_CONNECTED", "SOFTMAX"]
    first = m.operators[0]
    assert first.options["stride_h"] == 2 and first.options["padding"] == "SAME"
    assert first.options["fused_activation_function"] == "RELU"
    w = m.tensor(first.inputs[1])
    assert w.shape == (64, 10, 4, 1) and w.dtype == "int8" and w.per_channel
    assert w.scale.size == 64 and w.quantized_dimension == 0
    inp = m.input_tensors[0]
    assert inp.shape == (1, 49, 10, 1) and inp.dtype == "int8"
    assert inp.zero_point[0] == 83 and inp.scale[0] == pytest.approx(0.5847029)


def test_truncated_model_is_corrupt(shared_models, tmp_path):
    data = (shared_models / "vww_96_int8.tflite").read_bytes()
    bad = tmp_path / "cut.tflite"
    bad.write_bytes(data[:5000])
    with pytest.raises(ModelError, match="cut.tflite is corrupt"):
        load_model(bad)


def test_not_a_tflite(tmp_path):
    p = tmp_path / "x.tflite"
    p.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    with pytest.raises(ModelError, match="missing the 'TFL3' identifier"):
        load_model(p)
