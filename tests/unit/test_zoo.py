"""The zoo's MLPerf Tiny architectures, converted to int8, have exactly the
MACs of the MLPerf Tiny reference models in ../shared/models."""

import numpy as np
import pytest

from tinyml import zoo
from tinyml.analyze import analyze
from tinyml.errors import ConfigError

pytestmark = pytest.mark.slow

REFERENCE = {  # zoo name: (input shape, classes, width, reference model)
    "ds_cnn": ((49, 10, 1), 12, 1.0, "kws_ref_model"),
    "mobilenet_v1": ((96, 96, 3), 2, 0.25, "vww_96_int8"),
    "resnet8": ((32, 32, 3), 10, 1.0, "pretrainedResnet_quant"),
    "fc_autoencoder": ((640,), None, 1.0, "ad01_int8"),
}


def _int8(model, shape, path):
    from tinyml.tfcompat import tf
    t = tf()
    rng = np.random.default_rng(0)
    # Fresh biases are all zero, and the converter drops all-zero biases.
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 0.1, layer.bias.shape).astype(np.float32))
    conv = t.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [t.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([rng.random((1, *shape), np.float32)] for _ in range(4))
    conv.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = t.int8
    conv.inference_output_type = t.int8
    path.write_bytes(conv.convert())
    return path


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_zoo_matches_mlperf_reference_macs(name, shared_models, tmp_path):
    shape, classes, width, ref = REFERENCE[name]
    model = zoo.build(name, shape, classes or 0, width)
    ours = analyze(_int8(model, shape, tmp_path / "m.tflite"), measure_arena=False)
    theirs = analyze(shared_models / f"{ref}.tflite", measure_arena=False)
    assert ours.macs == theirs.macs
    assert ours.params == theirs.params


def test_width_multiplier_scales_filters():
    full = zoo.build("ds_cnn", (49, 10, 1), 12, 1.0)
    half = zoo.build("ds_cnn", (49, 10, 1), 12, 0.5)
    assert full.layers[1].filters == 64 and half.layers[1].filters == 32


def test_unknown_zoo_name():
    with pytest.raises(ConfigError, match="Did you mean resnet8"):
        zoo.get_entry("resnet")
