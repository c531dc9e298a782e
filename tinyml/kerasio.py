"""Saving and loading the pipeline's Keras models deterministically, and
converting Keras 3 models to tf-keras so tensorflow-model-optimization can
prune them."""

from __future__ import annotations

import inspect
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .errors import ModelError

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def save_model(model, path: str | Path) -> Path:
    """Save a tf-keras model as .keras, atomically and byte-reproducibly.

    Keras writes the save date into metadata.json and the zip entries carry
    the current time; both are pinned so the same weights give the same file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}.") as tmp:
        raw = Path(tmp) / "raw.keras"
        model.save(raw)
        fixed = Path(tmp) / "fixed.keras"
        with zipfile.ZipFile(raw) as src, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as dst:
            for name in sorted(src.namelist()):
                data = src.read(name)
                if name == "metadata.json":
                    meta = json.loads(data)
                    meta.pop("date_saved", None)
                    data = json.dumps(meta, sort_keys=True).encode()
                info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                dst.writestr(info, data)
        os.replace(fixed, path)
    return path


def load_model(path: str | Path):
    """Load a .keras (tf-keras or Keras 3), .h5 or SavedModel as a tf-keras model."""
    from .tfcompat import keras

    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file.", path=path)
    k = keras()
    if path.suffix == ".keras" and is_keras3(path):
        return convert_keras3(path)
    try:
        return k.models.load_model(path, compile=False)
    except Exception as exc:
        raise ModelError(f"{path} could not be loaded as a Keras model ({_first_line(exc)}).",
                         path=path) from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def is_keras3(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("metadata.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is not a valid .keras archive ({exc}).", path=path) from exc
    return str(meta.get("keras_version", "")).startswith("3.")


# Base-layer keyword arguments tf-keras accepts besides a class's own __init__ parameters.
_BASE_LAYER_KWARGS = {"input_dim", "input_shape", "batch_input_shape", "batch_size", "weights",
                      "activity_regularizer", "autocast", "name", "trainable", "dtype", "dynamic"}


def _tensor_refs(obj) -> list[list]:
    """Every keras_history reference in a Keras 3 node's args, in order."""
    refs = []
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            name, node, index = obj["config"]["keras_history"]
            refs.append([name, node, index, {}])
        else:
            for v in obj.values():
                refs.extend(_tensor_refs(v))
    elif isinstance(obj, list):
        for v in obj:
            refs.extend(_tensor_refs(v))
    return refs


def _plain(value):
    """Keras 3 serialises dtypes, initializers etc. with module/registered_name;
    tf-keras wants {class_name, config} or a plain string."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return value["config"]["name"]
        out = {k: _plain(v) for k, v in value.items() if k not in ("module", "registered_name", "build_config",
                                                                      "compile_config")}
        return out
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _layer_config(layer_cfg: dict, k) -> dict:
    cls_name = layer_cfg["class_name"]
    cfg = _plain(layer_cfg["config"])
    if cls_name == "InputLayer":
        if "batch_shape" in cfg:
            cfg["batch_input_shape"] = cfg.pop("batch_shape")
        cfg.pop("optional", None)
    cls = getattr(k.layers, cls_name, None)
    if cls is None:
        raise ModelError(f"layer '{cfg.get('name')}' is a {cls_name}, which tf-keras does not have; "
                         "the model cannot be converted for pruning.")
    params = set(inspect.signature(cls.__init__).parameters) | _BASE_LAYER_KWARGS
    # Initializers only matter for fresh weights, and the weights are copied;
    # Keras 3 gives them options tf-keras does not know.
    for key in [key for key in cfg if key.endswith("_initializer")]:
        cfg.pop(key)
    dropped = {key: v for key, v in cfg.items() if key not in params}
    for key in dropped:
        cfg.pop(key)
    # Keras 3-only options that change the computation must not be dropped silently.
    if dropped.get("lora_rank") or dropped.get("quantization_config"):
        raise ModelError(f"layer '{cfg.get('name')}' uses a Keras 3 option ({', '.join(dropped)}) "
                         "that tf-keras cannot express.")
    out = {"class_name": cls_name, "config": cfg, "name": cfg.get("name")}
    if "inbound_nodes" in layer_cfg:
        out["inbound_nodes"] = [_tensor_refs(node) for node in layer_cfg["inbound_nodes"]]
    return out


def convert_keras3(path: Path):
    """Rebuild a Keras 3 model as tf-keras: same layers, same weights.

    The layer configs are translated (dtype policies, InputLayer shape, the
    node format of functional graphs), the weights copied layer by layer, and
    the two models are run on the same random batch: the conversion is
    accepted only when their outputs agree to float rounding.
    """
    import keras as keras3

    from .tfcompat import keras

    k = keras()
    try:
        src = keras3.saving.load_model(path, compile=False)
    except Exception as exc:
        raise ModelError(f"{path} could not be loaded as a Keras 3 model ({_first_line(exc)}).",
                         path=path) from exc
    cfg = json.loads(src.to_json())
    model_cfg = cfg["config"]
    layers = [_layer_config(layer, k) for layer in model_cfg["layers"]]
    if cfg["class_name"] == "Sequential":
        new_cfg = {"class_name": "Sequential", "config": {"name": model_cfg.get("name"), "layers": layers}}
    elif cfg["class_name"] in ("Functional", "Model"):
        def io(v):
            return [v] if v and isinstance(v[0], str) else v
        new_cfg = {"class_name": "Functional", "config": {
            "name": model_cfg.get("name"), "layers": layers,
            "input_layers": io(model_cfg["input_layers"]), "output_layers": io(model_cfg["output_layers"])}}
    else:
        raise ModelError(f"{path}: a subclassed Keras 3 model ({cfg['class_name']}) cannot be converted; "
                         "save it as a Sequential or functional model.", path=path)
    try:
        dst = k.models.model_from_json(json.dumps(new_cfg))
        for layer in src.layers:
            weights = layer.get_weights()
            if weights:
                dst.get_layer(layer.name).set_weights(weights)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{path}: converting the Keras 3 model to tf-keras failed ({_first_line(exc)}).",
                         path=path) from exc
    rng = np.random.default_rng(0)
    probe = rng.standard_normal((4, *src.input_shape[1:])).astype(np.float32)
    want = np.asarray(src(probe, training=False))
    got = np.asarray(dst(probe, training=False))
    if not np.allclose(want, got, rtol=1e-4, atol=1e-5):
        raise ModelError(f"{path}: the tf-keras rebuild of the Keras 3 model computes different outputs "
                         f"(max difference {np.abs(want - got).max():.3g}); it cannot be pruned safely.",
                         path=path)
    return dst
