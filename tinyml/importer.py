"""Stage `import`: bring an existing model into the build directory.

- Keras 3 `.keras`: rebuilt as tf-keras (same layers and weights, checked
  numerically) so it can be pruned with tensorflow-model-optimization.
- tf-keras `.keras` / `.h5` and Keras SavedModel directories: loaded as is.
- `.tflite`: a full-int8 model goes straight to quantize/model.tflite; a
  float one is refused (there is no representative data to quantize it with).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .artifacts import atomic_write_bytes, sha256_file, write_json
from .data import DatasetSpec, check_matches_model, load_dataset
from .errors import ModelError


@dataclass
class ImportResult:
    kind: str
    artifact: Path
    metrics: dict


def detect_kind(path: Path) -> str:
    if path.is_dir():
        if (path / "saved_model.pb").exists() or (path / "saved_model.pbtxt").exists():
            return "savedmodel"
        raise ModelError(f"{path} is a directory but not a SavedModel (no saved_model.pb).", path=path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file.", path=path)
    suffix = path.suffix.lower()
    kinds = {".keras": "keras", ".h5": "h5", ".hdf5": "h5", ".tflite": "tflite"}
    if suffix not in kinds:
        raise ModelError(f"{path}: unknown model format '{suffix}' (expected .keras, .h5, .tflite "
                         "or a SavedModel directory).", path=path)
    return kinds[suffix]


def import_model(build_dir: Path, source: Path, *, dataset: DatasetSpec | None = None) -> ImportResult:
    from .train import evaluate, model_dir, write_dataset_artifacts

    source = Path(source)
    kind = detect_kind(source)
    build_dir = Path(build_dir)
    record = {"source": str(source), "kind": kind,
              "sha256": sha256_file(source) if source.is_file() else None}
    if kind == "tflite":
        return _import_tflite(build_dir, source, record)

    from .kerasio import is_keras3, load_model, save_model
    record["converted_from_keras3"] = kind == "keras" and is_keras3(source)
    model = load_model(source)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"{source}: tinyml handles models with one input and one output; this one has "
                         f"{len(model.inputs)} inputs and {len(model.outputs)} outputs.", path=source)

    metrics: dict = {"imported": record, "params": int(model.count_params())}
    if dataset is not None:
        data = load_dataset(dataset)
        check_matches_model(data, tuple(model.input_shape), str(source))
        task = "autoencoder" if tuple(model.output_shape) == tuple(model.input_shape) else "classification"
        metrics.update(task=task, dataset=dataset.to_dict(), test_samples=int(len(data.x_test)),
                       **evaluate(model, data, task))
        write_dataset_artifacts(build_dir, dataset, data)
    out = model_dir(build_dir)
    path = save_model(model, out / "float.keras")
    write_json(out / "metrics.json", metrics)
    return ImportResult(kind, path, metrics)


def _import_tflite(build_dir: Path, source: Path, record: dict) -> ImportResult:
    from .tflite_model import load_model as load_tflite

    model = load_tflite(source)
    io_types = {t.dtype for t in model.input_tensors + model.output_tensors}
    if io_types != {"int8"}:
        raise ModelError(f"{source} is not a full-int8 model (its inputs/outputs are "
                         f"{', '.join(sorted(io_types))}); import the Keras model or SavedModel "
                         "instead and let `tinyml quantize` make the int8 model.", path=source)
    dest = build_dir / "quantize" / "model.tflite"
    atomic_write_bytes(dest, source.read_bytes())
    write_json(build_dir / "quantize" / "metrics.json", {"imported": record})
    return ImportResult("tflite", dest, {"imported": record})


__all__ = ["import_model", "detect_kind", "ImportResult"]
