"""Commands of the firmware side: export, firmware, build, emulate, bench."""

from __future__ import annotations

from pathlib import Path

import click

from .common import build_dir_option, console, emit_json, err_console, json_option


def _boards_dir_option(func):
    return click.option("--boards-dir", "boards_dirs", multiple=True,
                        type=click.Path(file_okay=False, path_type=Path),
                        help="Extra folder of board YAML files (repeatable; searched before the shipped boards).")(func)


def _notify(as_json: bool, stage: str):
    def notify(message: str) -> None:
        if not as_json:
            err_console().print(f"[bold]{stage}:[/bold] {message}", markup=True, highlight=False)
    return notify


@click.command("export")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder for model_data.h and model_data.c.")
@click.option("--name", default=None,
              help="C identifier of the array (default: the model file name, sanitized).")
@click.option("--force", is_flag=True, help="Replace existing model_data.h/.c that differ.")
@json_option
def export(model, out_dir, name, force, as_json):
    """Write the model as a 16-byte aligned const C array: model_data.h / model_data.c.

    \b
    Example:
      tinyml export build/digits/quantize/model.tflite -o src/ --name digits_model
    """
    from ..export import export_c_array

    result = export_c_array(model, out_dir, name=name, force=force)
    if as_json:
        emit_json({"header": result.header, "source": result.source, "identifier": result.identifier,
                   "size_bytes": result.size_bytes, "sha256": result.sha256})
        return
    console().print(f"{model} ({result.size_bytes:,} bytes) -> {result.header}, {result.source} "
                    f"as `{result.identifier}[]`", markup=False)
