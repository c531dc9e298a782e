"""Stage `train`: a zoo model trained on a dataset.

Artifacts (build/<project>/model/): float.keras, metrics.json (float accuracy
on the held-out split), dataset.json (how to reload the same split) and
heldout.npz (the held-out samples later stages evaluate and emulate on).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import zoo
from .artifacts import atomic_write_bytes, read_json, write_json
from .data import Dataset, DatasetSpec, load_dataset
from .errors import ConfigError
from .progress import NullProgress, ProgressSink, keras_callback


@dataclass
class TrainResult:
    model_path: Path
    metrics: dict


def model_dir(build_dir: Path) -> Path:
    return Path(build_dir) / "model"


def write_dataset_artifacts(build_dir: Path, spec: DatasetSpec, dataset: Dataset) -> None:
    """dataset.json + heldout.npz: what every later stage reloads."""
    out = model_dir(build_dir)
    write_json(out / "dataset.json", {**spec.to_dict(), "class_names": dataset.class_names,
                                      "input_shape": list(dataset.input_shape)})
    import io
    buf = io.BytesIO()
    np.savez(buf, x=dataset.x_test.astype(np.float32), y=dataset.y_test.astype(np.int64))
    atomic_write_bytes(out / "heldout.npz", buf.getvalue())


def load_dataset_from_build(build_dir: Path) -> tuple[DatasetSpec, Dataset] | None:
    path = model_dir(build_dir) / "dataset.json"
    if not path.exists():
        return None
    record = read_json(path)
    spec = DatasetSpec.from_dict({k: v for k, v in record.items()
                                  if k in DatasetSpec.__dataclass_fields__})
    return spec, load_dataset(spec)


def evaluate(model, dataset: Dataset, task: str) -> dict:
    """Float metrics on the held-out split."""
    if task == "autoencoder":
        recon = model.predict(dataset.x_test, verbose=0)
        return {"reconstruction_mse": float(np.mean((recon - dataset.x_test) ** 2))}
    pred = np.argmax(model.predict(dataset.x_test, verbose=0), axis=-1)
    return {"accuracy": float(np.mean(pred == dataset.y_test))}


def train(build_dir: Path, zoo_name: str, spec: DatasetSpec, *, epochs: int = 30,
          batch_size: int = 32, width: float | None = None, learning_rate: float = 1e-3,
          seed: int = 0, progress: ProgressSink | None = None) -> TrainResult:
    from .kerasio import save_model
    from .tfcompat import keras, seed_everything

    if epochs < 1:
        raise ConfigError(f"epochs must be at least 1, got {epochs}.")
    entry = zoo.get_entry(zoo_name)
    dataset = load_dataset(spec, progress=progress)
    seed_everything(seed)
    k = keras()
    model = zoo.build(zoo_name, dataset.input_shape, max(dataset.num_classes, 2), width)
    if entry.task == "autoencoder":
        model.compile(optimizer=k.optimizers.Adam(learning_rate), loss="mse")
        x_fit, y_fit, metric = dataset.x_train, dataset.x_train, "loss"
    else:
        model.compile(optimizer=k.optimizers.Adam(learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        x_fit, y_fit, metric = dataset.x_train, dataset.y_train, "accuracy"
    sink = progress or NullProgress()
    model.fit(x_fit, y_fit, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
              callbacks=[keras_callback(sink, f"train {zoo_name}", epochs, metric)])
    metrics = {
        "zoo": zoo_name, "task": entry.task, "width": width if width is not None else zoo.DEFAULT_WIDTH.get(zoo_name, 1.0),
        "epochs": epochs, "batch_size": batch_size, "seed": seed, "dataset": spec.to_dict(),
        "train_samples": int(len(dataset.x_train)), "test_samples": int(len(dataset.x_test)),
        "params": int(model.count_params()), **evaluate(model, dataset, entry.task)}
    out = model_dir(build_dir)
    path = save_model(model, out / "float.keras")
    write_dataset_artifacts(build_dir, spec, dataset)
    write_json(out / "metrics.json", metrics)
    return TrainResult(path, metrics)
