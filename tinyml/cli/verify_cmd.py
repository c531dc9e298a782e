"""`tinyml verify`: the generated runtime against tflite-micro and LiteRT, byte for byte."""

from __future__ import annotations

from pathlib import Path

import click

from .common import build_dir_option, console, emit_json, json_option


@click.command("verify")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--runtime", type=click.Choice(["aot"]), default="aot", show_default=True,
              help="Runtime to check on the host (the aot runtime's generated C, built with gcc).")
@click.option("-n", "--samples", type=int, default=50, show_default=True, help="Number of inputs to compare.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--dataset", default=None,
              help="Use held-out samples of a dataset ('digits', .npz, .csv, folder) instead of random inputs.")
@click.option("--per-layer", is_flag=True,
              help="Also compare every operator's output with tflite-micro's and name the first that differs.")
@click.option("--sanitize", is_flag=True,
              help="Build the host runner with AddressSanitizer and UBSan; any report is an error.")
@build_dir_option
@json_option
def verify(model, runtime, samples, seed, dataset, per_layer, sanitize, build_dir, as_json):
    """Compile the generated C for the host and compare every output byte with
    the tflite-micro interpreter (the contract) and with LiteRT.

    Exit code 1 when any byte differs from tflite-micro.

    \b
    Example:
      tinyml verify build/digits/quantize/model.tflite --runtime aot -n 100
      tinyml verify kws_ref_model.tflite --per-layer --json
      tinyml verify kws_ref_model.tflite --sanitize -n 5
    """
    from ..verify import verify as run_verify

    result = run_verify(model, build_dir, runtime=runtime, samples=samples, seed=seed, dataset=dataset,
                        per_layer=per_layer, check=False, sanitize=sanitize)
    if as_json:
        emit_json(result)
    else:
        _print(result)
    result.raise_if_mismatch()


def _print(result) -> None:
    from rich.table import Table

    out = console()
    o = result.output
    table = Table(title=f"{Path(result.model).name}: {result.runtime} runtime vs references, "
                        f"{result.samples} {result.inputs} inputs (seed {result.seed})")
    for col in ("output", "reference", "identical inputs", "mismatched bytes", "largest difference"):
        table.add_column(col, justify="left" if col in ("output", "reference") else "right")
    for a in result.agreements:
        mark = "[green]" if a.ok else "[red]"
        table.add_row(f"tensor {o['tensor']} {o['shape']} {o['dtype']}", a.reference,
                      f"{mark}{a.identical_samples}/{a.samples}", f"{a.mismatched_bytes}/{a.total_bytes}",
                      f"{a.max_abs_diff:g}")
    out.print(table)
    if result.per_layer:
        layers = Table(title="per operator vs tflite-micro")
        for col in ("op", "opcode", "tensor", "identical inputs", "largest difference"):
            layers.add_column(col, justify="left" if col == "opcode" else "right")
        for la in result.per_layer:
            mark = "[green]" if la.identical_samples == la.samples else "[red]"
            layers.add_row(str(la.op_index), la.opcode, str(la.tensor),
                           f"{mark}{la.identical_samples}/{la.samples}", f"{la.max_abs_diff:g}")
        out.print(layers)
        if result.first_differing_op is not None:
            b = result.first_differing_op
            out.print(f"[red]first operator that differs: {b['op_index']} ({b['opcode']}), tensor {b['tensor']}")
    tflm = "unknown" if result.tflm_arena_bytes is None else f"{result.tflm_arena_bytes:,}"
    out.print(f"arena: {result.arena_bytes:,} bytes (tflite-micro on this host: {tflm} bytes incl. its "
              f"bookkeeping); constant data {result.weights_bytes:,} bytes; report: {result.report_path}")
