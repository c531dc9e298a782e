"""Stage `prune`: magnitude pruning with tensorflow-model-optimization.

Reads model/float.keras, prunes Conv2D / Dense kernels (tfmot leaves
DepthwiseConv2D kernels dense) to a
target sparsity with a polynomial (gradual) or constant schedule while
fine-tuning, or to the structured 2:4 pattern, strips the pruning wrappers and
writes optimize/optimized.keras with optimize/metrics.json: achieved sparsity
per layer and accuracy before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .artifacts import sha256_file, write_json
from .errors import ConfigError, ModelError
from .progress import NullProgress, ProgressSink, keras_callback

SCHEDULES = ("polynomial", "constant")


@dataclass
class PruneResult:
    model_path: Path
    metrics: dict


def _pruned_by_tfmot(layer) -> bool:
    """tfmot accepts DepthwiseConv2D in a pruned model but leaves its kernel dense."""
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry
    return bool(PruneRegistry._LAYERS_WEIGHTS_MAP.get(layer.__class__))


def layer_sparsity(model) -> dict[str, dict]:
    """Fraction of exactly-zero kernel weights per layer with a kernel."""
    out = {}
    for layer in model.layers:
        kernel = getattr(layer, "depthwise_kernel", None)
        if kernel is None:
            kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        w = np.asarray(kernel)
        out[layer.name] = {"weights": int(w.size), "zeros": int(np.sum(w == 0)),
                           "sparsity": float(np.mean(w == 0)), "pruned": _pruned_by_tfmot(layer)}
    return out


def prune(build_dir: Path, *, sparsity: float = 0.5, schedule: str = "polynomial",
          fine_tune_epochs: int = 2, structured_2_4: bool = False, batch_size: int = 32,
          learning_rate: float = 1e-4, seed: int = 0,
          progress: ProgressSink | None = None) -> PruneResult:
    from .kerasio import load_model, save_model
    from .tfcompat import keras, seed_everything
    from .train import evaluate, load_dataset_from_build, model_dir

    if not structured_2_4 and not 0.0 < sparsity < 1.0:
        raise ConfigError(f"sparsity must be between 0 and 1 (exclusive), got {sparsity}.")
    if schedule not in SCHEDULES:
        raise ConfigError(f"unknown pruning schedule '{schedule}' (expected {' or '.join(SCHEDULES)}).")
    if fine_tune_epochs < 1:
        raise ConfigError("pruning needs at least one fine-tuning epoch: the masks are applied "
                          "during training steps.")
    build_dir = Path(build_dir)
    source = model_dir(build_dir) / "float.keras"
    if not source.exists():
        raise ModelError(f"{source} does not exist; run `tinyml train` or `tinyml import` first.",
                         path=source)
    loaded = load_dataset_from_build(build_dir)
    if loaded is None:
        raise ConfigError(f"{build_dir}: pruning fine-tunes on the training data, and no dataset is "
                          "recorded; run `tinyml train`, or `tinyml import --dataset ...`.")
    spec, dataset = loaded

    seed_everything(seed)  # imports TensorFlow the tinyml way first
    import tensorflow_model_optimization as tfmot

    k = keras()
    model = load_model(source)
    task = "autoencoder" if tuple(model.output_shape) == tuple(model.input_shape) else "classification"
    before = evaluate(model, dataset, task)
    steps_per_epoch = int(np.ceil(len(dataset.x_train) / batch_size))
    # Reach the target three quarters into fine-tuning, in 8 equal steps, so the
    # last mask update always happens and the rest of training recovers accuracy.
    frequency = max(1, (steps_per_epoch * fine_tune_epochs * 3 // 4) // 8)
    end_step = frequency * 8
    sp = tfmot.sparsity.keras
    if structured_2_4:
        params = {"sparsity_m_by_n": (2, 4), "pruning_schedule": sp.ConstantSparsity(0.5, begin_step=0, frequency=1)}
    elif schedule == "polynomial":
        params = {"pruning_schedule": sp.PolynomialDecay(initial_sparsity=0.0, final_sparsity=sparsity,
                                                         begin_step=0, end_step=end_step,
                                                         frequency=frequency)}
    else:
        params = {"pruning_schedule": sp.ConstantSparsity(sparsity, begin_step=0, frequency=1)}
    try:
        wrapped = sp.prune_low_magnitude(model, **params)
    except ValueError as exc:
        raise ModelError(f"{source}: tensorflow-model-optimization cannot prune this model ({exc}).",
                         path=source) from exc
    if task == "autoencoder":
        wrapped.compile(optimizer=k.optimizers.Adam(learning_rate), loss="mse")
        y_fit, metric = dataset.x_train, "loss"
    else:
        wrapped.compile(optimizer=k.optimizers.Adam(learning_rate),
                        loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        y_fit, metric = dataset.y_train, "accuracy"
    sink = progress or NullProgress()
    wrapped.fit(dataset.x_train, y_fit, epochs=fine_tune_epochs, batch_size=batch_size, verbose=0,
                shuffle=True, callbacks=[sp.UpdatePruningStep(),
                                         keras_callback(sink, "prune + fine-tune", fine_tune_epochs, metric)])
    pruned = sp.strip_pruning(wrapped)
    after = evaluate(pruned, dataset, task)
    layers = layer_sparsity(pruned)
    total = sum(v["weights"] for v in layers.values() if v["pruned"])
    zeros = sum(v["zeros"] for v in layers.values() if v["pruned"])
    metrics = {
        "source_sha256": sha256_file(source),
        "target_sparsity": 0.5 if structured_2_4 else sparsity,
        "structured_2_4": structured_2_4, "schedule": "constant" if structured_2_4 else schedule,
        "fine_tune_epochs": fine_tune_epochs, "seed": seed,
        # over the layers tfmot prunes (Conv2D, Dense); see "layers" for each one
        "achieved_sparsity": zeros / total if total else 0.0, "layers": layers,
        "before": before, "after": after,
    }
    from .guardrails import prune_warning

    warning = prune_warning(metrics)
    metrics["warnings"] = [warning] if warning else []
    out = build_dir / "optimize"
    path = save_model(pruned, out / "optimized.keras")
    write_json(out / "metrics.json", metrics)
    return PruneResult(path, metrics)
