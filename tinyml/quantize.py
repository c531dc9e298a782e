"""Stage `quantize`: full-integer int8 post-training quantization.

The TFLite converter with a representative dataset (samples of the training
split) produces quantize/model.tflite with int8 weights, activations, input
and output; quantize/float.tflite is the float conversion for comparison.
quantize/metrics.json holds the host accuracy of both (ai-edge-litert).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .artifacts import atomic_dir, atomic_write_bytes, read_json, sha256_file, write_json
from .errors import ConfigError, ModelError
from .progress import NullProgress, ProgressSink


@dataclass
class QuantizeResult:
    model_path: Path
    float_model_path: Path
    metrics: dict


def quantize_array(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float -> int8 as TFLite's QUANTIZE does: round half away from zero, clamp."""
    v = np.asarray(x, np.float64) / scale
    rounded = np.sign(v) * np.floor(np.abs(v) + 0.5)
    return np.clip(rounded + zero_point, -128, 127).astype(np.int8)


def dequantize_array(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (np.asarray(q, np.float32) - zero_point) * scale


def source_model(build_dir: Path) -> Path:
    """optimize/optimized.keras when it was made from the current float model,
    else model/float.keras."""
    build_dir = Path(build_dir)
    float_path = build_dir / "model" / "float.keras"
    optimized = build_dir / "optimize" / "optimized.keras"
    if optimized.exists() and float_path.exists():
        record = read_json(build_dir / "optimize" / "metrics.json")
        if record.get("source_sha256") == sha256_file(float_path):
            return optimized
    if float_path.exists():
        return float_path
    raise ModelError(f"{float_path} does not exist; run `tinyml train` or `tinyml import` first.",
                     path=float_path)


def _convert(model, representative: np.ndarray | None) -> bytes:
    from .tfcompat import tf

    t = tf()
    converter = t.lite.TFLiteConverter.from_keras_model(model)
    if representative is not None:
        def gen():
            for sample in representative:
                yield [sample[np.newaxis].astype(np.float32)]
        converter.optimizations = [t.lite.Optimize.DEFAULT]
        converter.representative_dataset = gen
        converter.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = t.int8
        converter.inference_output_type = t.int8
    import os
    from .proc import captured_fd
    try:
        if os.environ.get("TINYML_DEBUG"):
            return converter.convert()
        # The converter's C++ core prints a summary line on the terminal.
        with captured_fd(1), captured_fd(2):
            return converter.convert()
    except Exception as exc:
        kind = "int8" if representative is not None else "float"
        raise ModelError(f"the TFLite converter could not make the {kind} model "
                         f"({str(exc).strip().splitlines()[0][:200]}).") from exc


def tflite_predictions(model_path: Path, x: np.ndarray, interpreter: str = "litert") -> np.ndarray:
    """Float outputs of a .tflite on float inputs, quantizing in/out when int8.

    interpreter: "litert" (ai-edge-litert) or "tflm" (the Python tflite-micro
    interpreter, the reference the firmware is held to bit for bit).
    """
    from .interpreters import run_litert, run_tflm
    from .tflite_model import load_model

    m = load_model(model_path)
    inp, out = m.input_tensors[0], m.output_tensors[0]
    feed = x
    if inp.dtype == "int8":
        feed = quantize_array(x, float(inp.scale[0]), int(inp.zero_point[0]))
    raw = (run_tflm if interpreter == "tflm" else run_litert)(model_path, feed)
    if out.dtype == "int8":
        return dequantize_array(raw, float(out.scale[0]), int(out.zero_point[0]))
    return raw


def host_metrics(model_path: Path, x: np.ndarray, y: np.ndarray, task: str,
                 interpreter: str = "litert") -> dict:
    pred = tflite_predictions(model_path, x, interpreter)
    if task == "autoencoder":
        return {"reconstruction_mse": float(np.mean((pred.reshape(x.shape) - x) ** 2))}
    return {"accuracy": float(np.mean(np.argmax(pred, axis=-1) == y))}


def quantize(build_dir: Path, *, model_path: Path | None = None, representative_samples: int = 200,
             progress: ProgressSink | None = None) -> QuantizeResult:
    from .data import check_matches_model
    from .kerasio import load_model
    from .train import evaluate, load_dataset_from_build

    build_dir = Path(build_dir)
    source = Path(model_path) if model_path else source_model(build_dir)
    loaded = load_dataset_from_build(build_dir)
    if loaded is None:
        raise ConfigError(f"{build_dir}: int8 quantization needs representative data, and no dataset "
                          "is recorded; run `tinyml train`, or `tinyml import --dataset ...`.")
    if representative_samples < 1:
        raise ConfigError(f"representative samples must be at least 1, got {representative_samples}.")
    _, dataset = loaded
    sink = progress or NullProgress()
    sink.start("quantize", 4)
    model = load_model(source)
    check_matches_model(dataset, tuple(model.input_shape), str(source))
    task = "autoencoder" if tuple(model.output_shape) == tuple(model.input_shape) else "classification"
    rng = np.random.default_rng(0)
    count = min(representative_samples, len(dataset.x_train))
    representative = dataset.x_train[np.sort(rng.choice(len(dataset.x_train), count, replace=False))]
    float_bytes = _convert(model, None)
    sink.advance(1, "float model converted")
    int8_bytes = _convert(model, representative)
    sink.advance(1, "int8 model converted")
    out = build_dir / "quantize"
    # Everything is written into a temporary directory that replaces quantize/
    # only once the metrics are in: no new model beside old metrics.
    with atomic_dir(out) as tmp:
        float_tmp = atomic_write_bytes(tmp / "float.tflite", float_bytes)
        int8_tmp = atomic_write_bytes(tmp / "model.tflite", int8_bytes)
        from .tflite_model import load_model as load_tflite
        m = load_tflite(int8_tmp)
        inp, outp = m.input_tensors[0], m.output_tensors[0]
        metrics = {
            "source": str(source), "source_sha256": sha256_file(source), "task": task,
            "representative_samples": count, "test_samples": int(len(dataset.x_test)),
            "keras": evaluate(model, dataset, task),
            "float_tflite": host_metrics(float_tmp, dataset.x_test, dataset.y_test, task),
            "int8_bytes": len(int8_bytes), "float_bytes": len(float_bytes),
            "input": {"shape": list(inp.shape), "scale": float(inp.scale[0]),
                      "zero_point": int(inp.zero_point[0])},
            "output": {"shape": list(outp.shape), "scale": float(outp.scale[0]),
                       "zero_point": int(outp.zero_point[0])},
        }
        sink.advance(1, "float accuracy measured")
        metrics["int8_tflite"] = host_metrics(int8_tmp, dataset.x_test, dataset.y_test, task)
        # LiteRT's and TFLM's int8 kernels can differ in the last bits (SOFTMAX);
        # the device is held to TFLM, so its accuracy is recorded too.
        metrics["int8_tflm"] = host_metrics(int8_tmp, dataset.x_test, dataset.y_test, task, "tflm")
        sink.advance(1, "int8 accuracy measured")
        from .guardrails import quantize_warning

        warning = quantize_warning(metrics)
        metrics["warnings"] = [warning] if warning else []
        write_json(tmp / "metrics.json", metrics)
    float_path, int8_path = out / "float.tflite", out / "model.tflite"
    return QuantizeResult(int8_path, float_path, metrics)
