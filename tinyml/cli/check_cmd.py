"""`tinyml check`: does the model fit the board's flash and RAM?"""

from __future__ import annotations

from pathlib import Path

import click

from .boards_cmds import boards_dir_option
from .common import build_dir_option, console, emit_json, json_option


@click.command("check")
@click.argument("model", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--board", required=True, help="Board name (boards/<name>.yaml) or path to a board file.")
@click.option("--runtime", type=click.Choice(["aot", "tflm"]), default="aot", show_default=True,
              help="Runtime whose code and arena to count.")
@click.option("--reserve-percent", type=click.FloatRange(0, 100, max_open=True), default=None,
              help="RAM reserve margin in percent (default: the board's ram_reserve_percent, usually 10).")
@click.option("--samples", type=click.IntRange(0), default=0, show_default=True,
              help="Count this many test inputs baked into flash, as tinyml's harness firmware carries them "
                   "(0: a deployed application).")
@click.option("--elf", "elf_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Use the sizes of this linked firmware instead of the estimate.")
@boards_dir_option
@build_dir_option
@json_option
def check(model, board, runtime, reserve_percent, samples, elf_path, boards_dirs, build_dir, as_json):
    """Check that MODEL fits BOARD: used / available / headroom for flash and RAM.

    \b
    Before a build the figures are estimates (per-core runtime sizes measured
    from real builds, shipped with tinyml); once <build-dir>/firmware/<board>-<runtime>/
    was built from this model (or with --elf) they are the linked sizes. Exits
    with 0 when the model fits and 1 when it does not, saying by how much and
    what would make it fit. Writes <build-dir>/check/<board>-<runtime>.json.
    MODEL defaults to <build-dir>/quantize/model.tflite.

    \b
    Example:
      tinyml check ../shared/models/vww_96_int8.tflite --board microbit-v2
      tinyml check --board nucleo-l4r5zi --runtime tflm -B build/kws --json
    """
    from ..check import check_to_build
    from ..errors import ModelError, ThresholdError

    if model is None:
        model = build_dir / "quantize" / "model.tflite"
        if not model.is_file():
            raise ModelError(f"no MODEL given and {model} does not exist; run `tinyml quantize -B {build_dir}` "
                             "or pass a .tflite file.", path=model)
    result, written = check_to_build(model, board, build_dir, runtime=runtime, reserve_percent=reserve_percent,
                                     elf_path=elf_path, boards_dirs=list(boards_dirs) or None, samples=samples)
    if as_json:
        data = result.to_dict()
        data["artifact"] = str(written)
        emit_json(data)
    else:
        _print(result, written)
    if not result.fits:
        raise ThresholdError(result.verdict())


def _print(result, written: Path) -> None:
    from rich.table import Table
    out = console()
    table = Table(title=f"{Path(result.model).name} on {result.board}, {result.runtime} runtime "
                        f"({result.basis}; bytes)", title_justify="left")
    for col, kw in (("region", {}), ("used", {"justify": "right"}), ("reserve", {"justify": "right"}),
                    ("available", {"justify": "right"}), ("headroom", {"justify": "right"}),
                    ("", {"justify": "right"}), ("verdict", {})):
        table.add_column(col, **kw)
    for b in (result.flash, result.ram):
        table.add_row("flash" if b.region == "flash" else "RAM", f"{b.used_bytes:,}",
                      f"{b.reserve_bytes:,}" if b.reserve else "", f"{b.available_bytes:,}",
                      f"{b.headroom_bytes:,}", f"{b.headroom_percent:.1f}%",
                      "[green]fits[/green]" if b.fits else "[red]does not fit[/red]")
    out.print(table)
    parts = Table(title="where the bytes go", title_justify="left")
    for col, kw in (("region", {}), ("item", {}), ("bytes", {"justify": "right"}), ("basis", {})):
        parts.add_column(col, **kw)
    for b in (result.flash, result.ram):
        for i in b.items:  # each item's source is in the --json output and the check/<board>-<runtime>.json record
            parts.add_row("flash" if b.region == "flash" else "RAM", i.name, f"{i.bytes:,}", i.basis)
        if b.reserve is not None:
            parts.add_row("RAM" if b.region == "ram" else "flash", f"{b.reserve.name}, kept free (not used)",
                          f"{b.reserve.bytes:,}", b.reserve.basis)
    out.print(parts)
    for note in result.notes:
        out.print(f"note: {note}")
    style = "green" if result.fits else "red"
    out.print(f"[{style}]{result.verdict()}[/{style}]")
    for s in result.suggestions:
        out.print(f"  - {s}")
    out.print(f"wrote {written}")
