"""Import of Keras 3, tf-keras .h5, SavedModel and .tflite models."""

import numpy as np
import pytest

from tinyml.data import DatasetSpec
from tinyml.errors import DatasetError, ModelError
from tinyml.importer import import_model

pytestmark = pytest.mark.slow


def _keras3_functional(path):
    import tinyml.tfcompat  # noqa: F401  (TF_USE_LEGACY_KERAS before keras/TF import)
    import keras
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(10, activation="softmax", name="dense")(x)
    model = keras.Model(inp, out)
    model.save(path)
    return model


def test_keras3_model_is_converted_and_prunable(tmp_path):
    src = tmp_path / "k3.keras"
    k3 = _keras3_functional(src)
    build = tmp_path / "b"
    result = import_model(build, src, dataset=DatasetSpec(kind="digits"))
    assert result.metrics["imported"]["converted_from_keras3"] is True
    from tinyml.kerasio import load_model
    converted = load_model(build / "model" / "float.keras")
    x = np.random.default_rng(1).random((3, 8, 8, 1), np.float32)
    assert np.allclose(np.asarray(k3(x)), converted.predict(x, verbose=0), atol=1e-5)
    from tinyml.prune import prune
    pruned = prune(build, sparsity=0.5, fine_tune_epochs=1)
    layers = pruned.metrics["layers"]
    # names are set in the model: Keras' automatic names depend on what else the process built
    assert layers["conv"]["sparsity"] == pytest.approx(0.5, abs=0.02)
    assert layers["dense"]["sparsity"] == pytest.approx(0.5, abs=0.02)
    assert layers["dw"]["pruned"] is False


def test_h5_and_savedmodel(tmp_path):
    from tinyml.tfcompat import keras
    k = keras()
    model = k.Sequential([k.Input((8, 8, 1)), k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
    model.save(tmp_path / "m.h5")
    r = import_model(tmp_path / "b1", tmp_path / "m.h5", dataset=DatasetSpec(kind="digits"))
    assert r.kind == "h5" and 0.0 <= r.metrics["accuracy"] <= 1.0
    model.save(tmp_path / "sm", save_format="tf")
    r = import_model(tmp_path / "b2", tmp_path / "sm")
    assert r.kind == "savedmodel" and (tmp_path / "b2" / "model" / "float.keras").exists()


def test_dataset_shape_mismatch(tmp_path):
    from tinyml.tfcompat import keras
    k = keras()
    model = k.Sequential([k.Input((4,)), k.layers.Dense(2)])
    model.save(tmp_path / "m.h5")
    with pytest.raises(DatasetError, match=r"expects \(4,\)"):
        import_model(tmp_path / "b", tmp_path / "m.h5", dataset=DatasetSpec(kind="digits"))
    assert not (tmp_path / "b" / "model" / "float.keras").exists()


def test_int8_tflite_goes_to_quantize(shared_models, tmp_path):
    r = import_model(tmp_path, shared_models / "kws_ref_model.tflite")
    assert r.artifact == tmp_path / "quantize" / "model.tflite"
    assert r.artifact.read_bytes() == (shared_models / "kws_ref_model.tflite").read_bytes()


def test_float_tflite_is_refused(tmp_path):
    from tinyml.tfcompat import keras, tf
    k = keras()
    model = k.Sequential([k.Input((4,)), k.layers.Dense(2)])
    (tmp_path / "f.tflite").write_bytes(tf().lite.TFLiteConverter.from_keras_model(model).convert())
    with pytest.raises(ModelError, match="is not a full-int8 model"):
        import_model(tmp_path / "b", tmp_path / "f.tflite")
    assert not (tmp_path / "b").exists()


def test_unknown_format(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(ModelError, match="unknown model format '.onnx'"):
        import_model(tmp_path / "b", tmp_path / "m.onnx")
