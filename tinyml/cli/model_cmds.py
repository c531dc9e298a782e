"""Commands of the model side: train, import, prune, quantize, analyze."""

from __future__ import annotations

from pathlib import Path

import click

from .common import build_dir_option, console, emit_json, err_console, json_option


def _dataset_options(func):
    func = click.option("--test-fraction", type=float, default=0.2, show_default=True,
                        help="Share of samples held out for testing.")(func)
    func = click.option("--label-column", default=None,
                        help="CSV: name or index of the label column (default: the last).")(func)
    func = click.option("--image-size", nargs=2, type=int, default=None, metavar="H W",
                        help="Image folders: resize every image to H x W (default 32 32).")(func)
    func = click.option("--grayscale", is_flag=True, help="Image folders: load as one channel.")(func)
    func = click.option("--dataset-option", "dataset_options", multiple=True, metavar="KEY=VALUE",
                        help="Option of an example dataset (repeatable; VALUE is read as YAML), "
                             "e.g. --dataset-option max_train=10000.")(func)
    return func


def _spec(dataset, seed, test_fraction, label_column, image_size, grayscale, dataset_options=()):
    import yaml

    from ..data import spec_from_arg
    from ..errors import ConfigError
    options = {}
    for item in dataset_options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--dataset-option {item!r}: expected KEY=VALUE.")
        options[key] = yaml.safe_load(value)
    return spec_from_arg(dataset, seed=seed, test_fraction=test_fraction, label_column=label_column,
                         image_size=tuple(image_size) if image_size else None, grayscale=grayscale,
                         options=options)


def _list_zoo(ctx, value):
    if not value or ctx.resilient_parsing:
        return
    from ..zoo import ZOO
    for entry in ZOO.values():
        click.echo(f"{entry.name:16} {entry.task:15} input {entry.reference_input}: {entry.description}")
    ctx.exit()


@click.command("train")
@click.option("--zoo", "zoo_name", default="digits_cnn", show_default=True,
              help="Zoo architecture (see `tinyml train --list-zoo`).")
@click.option("--list-zoo", is_flag=True, is_eager=True, expose_value=False, callback=lambda ctx, _p, v: _list_zoo(ctx, v),
              help="List the zoo architectures and exit.")
@click.option("--dataset", default="digits", show_default=True,
              help="'digits' (bundled, offline), an example dataset (fashion_mnist, gestures, kws_espeak), "
                   "a .npz with x and y, a .csv, or a folder of class folders.")
@click.option("--epochs", type=int, default=30, show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--width", type=float, default=None, help="Width multiplier (default 1.0; 0.25 for mobilenet_v1).")
@click.option("--learning-rate", type=float, default=1e-3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same model.")
@_dataset_options
@build_dir_option
@json_option
def train(zoo_name, dataset, epochs, batch_size, width, learning_rate, seed, test_fraction,
          label_column, image_size, grayscale, dataset_options, build_dir, as_json):
    """Train a zoo model on a dataset; writes model/float.keras and model/metrics.json.

    \b
    Example:
      tinyml train --zoo digits_cnn --dataset digits --epochs 30 -B build/digits
    """
    from ..progress import cli_progress
    from ..train import train as run_train

    spec = _spec(dataset, seed, test_fraction, label_column, image_size, grayscale, dataset_options)
    with cli_progress(not as_json) as progress:
        result = run_train(build_dir, zoo_name, spec, epochs=epochs, batch_size=batch_size, width=width,
                           learning_rate=learning_rate, seed=seed, progress=progress)
    if as_json:
        emit_json({"model": str(result.model_path), **result.metrics})
        return
    m = result.metrics
    score = (f"float accuracy {m['accuracy']:.2%}" if "accuracy" in m
             else f"reconstruction MSE {m['reconstruction_mse']:.5f}")
    console().print(f"{zoo_name}: {m['params']:,} parameters, {score} on {m['test_samples']} held-out "
                    f"samples -> {result.model_path}")


@click.command("import")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--dataset", default=None,
              help="Dataset to evaluate on and quantize with later ('digits', .npz, .csv, folder).")
@click.option("--seed", type=int, default=0, show_default=True)
@_dataset_options
@build_dir_option
@json_option
def import_(model, dataset, seed, test_fraction, label_column, image_size, grayscale, dataset_options,
            build_dir, as_json):
    """Import a Keras 3 .keras, tf-keras .h5/.keras, SavedModel directory or int8 .tflite.

    Keras 3 models are rebuilt as tf-keras models (same layers, same weights,
    outputs checked equal) so that they can be pruned.

    \b
    Example:
      tinyml import my_model.keras --dataset digits -B build/mine
      tinyml import kws_ref_model.tflite -B build/kws
    """
    from ..importer import import_model

    spec = (_spec(dataset, seed, test_fraction, label_column, image_size, grayscale, dataset_options)
            if dataset else None)
    result = import_model(build_dir, model, dataset=spec)
    if as_json:
        emit_json({"kind": result.kind, "artifact": str(result.artifact), **result.metrics})
        return
    extra = f", float accuracy {result.metrics['accuracy']:.2%}" if "accuracy" in result.metrics else ""
    console().print(f"imported {model} ({result.kind}) -> {result.artifact}{extra}")


@click.command("prune")
@click.option("--sparsity", type=float, default=0.5, show_default=True, help="Target fraction of zero weights.")
@click.option("--schedule", type=click.Choice(["polynomial", "constant"]), default="polynomial", show_default=True)
@click.option("--fine-tune-epochs", type=int, default=2, show_default=True)
@click.option("--structured-2-4", "structured", is_flag=True, help="Prune to the 2:4 pattern instead.")
@click.option("--seed", type=int, default=0, show_default=True)
@build_dir_option
@json_option
def prune(sparsity, schedule, fine_tune_epochs, structured, seed, build_dir, as_json):
    """Magnitude-prune the model (tensorflow-model-optimization) and fine-tune it.

    \b
    Example:
      tinyml prune --sparsity 0.5 --fine-tune-epochs 3 -B build/digits
    """
    from ..progress import cli_progress
    from ..prune import prune as run_prune

    with cli_progress(not as_json) as progress:
        result = run_prune(build_dir, sparsity=sparsity, schedule=schedule, fine_tune_epochs=fine_tune_epochs,
                           structured_2_4=structured, seed=seed, progress=progress)
    m = result.metrics
    for warning in m.get("warnings", []):
        err_console().print(f"warning: {warning}", markup=False, highlight=False)
    if as_json:
        emit_json({"model": str(result.model_path), **m})
        return
    from rich.table import Table
    table = Table(title=f"pruning: achieved {m['achieved_sparsity']:.1%} (target {m['target_sparsity']:.0%})")
    for col in ("layer", "weights", "zeros", "sparsity"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for name, v in m["layers"].items():
        table.add_row(name, f"{v['weights']:,}", f"{v['zeros']:,}",
                      f"{v['sparsity']:.1%}" + ("" if v["pruned"] else " (not pruned by tfmot)"))
    out = console()
    out.print(table)
    key = "accuracy" if "accuracy" in m["before"] else "reconstruction_mse"
    out.print(f"{key}: before {m['before'][key]:.4f}, after {m['after'][key]:.4f} -> {result.model_path}")


@click.command("quantize")
@click.option("--model", "model_path", type=click.Path(path_type=Path), default=None,
              help="Keras model to quantize (default: optimize/optimized.keras, else model/float.keras).")
@click.option("--representative-samples", type=int, default=200, show_default=True)
@build_dir_option
@json_option
def quantize(model_path, representative_samples, build_dir, as_json):
    """Full-int8 post-training quantization (int8 input and output) with the TFLite converter.

    \b
    Example:
      tinyml quantize -B build/digits
    """
    from ..progress import cli_progress
    from ..quantize import quantize as run_quantize

    with cli_progress(not as_json) as progress:
        result = run_quantize(build_dir, model_path=model_path,
                              representative_samples=representative_samples, progress=progress)
    m = result.metrics
    for warning in m.get("warnings", []):
        err_console().print(f"warning: {warning}", markup=False, highlight=False)
    if as_json:
        emit_json({"model": str(result.model_path), "float_model": str(result.float_model_path), **m})
        return
    from rich.table import Table
    key = "accuracy" if "accuracy" in m["keras"] else "reconstruction_mse"
    table = Table(title=f"host {key} on {m['test_samples']} held-out samples")
    for col in ("model", "bytes", key):
        table.add_column(col, justify="left" if col == "model" else "right")
    fmt = (lambda v: f"{v:.2%}") if key == "accuracy" else (lambda v: f"{v:.5f}")
    table.add_row("Keras float", "", fmt(m["keras"][key]))
    table.add_row("TFLite float", f"{m['float_bytes']:,}", fmt(m["float_tflite"][key]))
    table.add_row("TFLite int8 (LiteRT)", f"{m['int8_bytes']:,}", fmt(m["int8_tflite"][key]))
    table.add_row("TFLite int8 (tflite-micro)", f"{m['int8_bytes']:,}", fmt(m["int8_tflm"][key]))
    out = console()
    out.print(table)
    out.print(f"int8 model -> {result.model_path}")


@click.command("analyze")
@click.argument("model", type=click.Path(path_type=Path), required=False)
@build_dir_option
@json_option
def analyze(model, build_dir, as_json):
    """Operators, tensors, parameters, MACs, weight bytes, largest activations and arena of a .tflite.

    Without MODEL, analyzes quantize/model.tflite of the build directory.

    \b
    Example:
      tinyml analyze kws_ref_model.tflite
      tinyml analyze --json -B build/digits
    """
    from ..analyze import analyze as run_analyze
    from ..artifacts import write_json

    path = model or (Path(build_dir) / "quantize" / "model.tflite")
    result = run_analyze(path)
    if model is None:
        write_json(Path(build_dir) / "analyze" / "analysis.json", result.to_dict())
    if as_json:
        emit_json(result.to_dict())
        return
    from rich.table import Table
    table = Table(title=f"{path} ({result.size_bytes:,} bytes)")
    for col in ("#", "operator", "output shape", "MACs", "params", "weight bytes"):
        table.add_column(col, justify="left" if col in ("operator", "output shape") else "right")
    for layer in result.operators:
        out_shape = "x".join(str(d) for d in layer.outputs[0].get("shape", []))
        table.add_row(str(layer.index), layer.opcode, out_shape, f"{layer.macs:,}", f"{layer.params:,}",
                      f"{layer.weight_bytes:,}")
    out = console()
    out.print(table)
    out.print(f"total: {result.macs:,} MACs, {result.params:,} parameters, {result.weight_bytes:,} weight bytes")
    big = ", ".join(f"output of #{a['produced_by']} {a['bytes']:,} B" if a["produced_by"] is not None
                    else f"model input {a['bytes']:,} B" for a in result.largest_activations[:3])
    out.print(f"largest activations: {big}")
    out.print(f"tensor arena (tflite-micro, 64-bit host): {result.arena_bytes_tflm_host:,} bytes; "
              "a 32-bit MCU needs slightly less (pointer-sized bookkeeping).")
