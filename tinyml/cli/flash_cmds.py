"""Commands for real boards: flash (pyOCD / OpenOCD / UF2 / mass-storage copy) and monitor (serial)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import build_dir_option, console, emit_json, err_console, json_option


def _boards_dir_option(func):
    return click.option("--boards-dir", "boards_dirs", multiple=True,
                        type=click.Path(file_okay=False, path_type=Path),
                        help="Extra folder of board YAML files (repeatable; searched before the shipped boards).")(func)


def _runtime_option(func):
    return click.option("--runtime", type=click.Choice(["aot", "tflm"]), default=None,
                        help="Which built firmware to use when both runtimes were built for the board.")(func)


@click.command("flash")
@click.option("--board", required=True, help="Board name (boards/<name>.yaml) or path to a board file.")
@click.option("--firmware", type=click.Path(path_type=Path), default=None,
              help="Firmware file or folder (default: <build-dir>/firmware/<board>-<runtime>/build/).")
@click.option("--probe", "method", type=click.Choice(["pyocd", "openocd", "uf2", "copy"]), default=None,
              help="Flashing method (default: the board file's flashing.default).")
@click.option("--probe-id", default=None, help="Unique ID / serial of the debug probe when several are connected.")
@click.option("--volume", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="uf2/copy: mount point of the board's volume (default: found by its label).")
@click.option("--dry-run", is_flag=True,
              help="Print the exact commands and files without touching hardware (writes only the .uf2).")
@_runtime_option
@_boards_dir_option
@build_dir_option
@json_option
def flash(board, firmware, method, probe_id, volume, dry_run, runtime, boards_dirs, build_dir, as_json):
    """Flash the firmware built by `tinyml build` onto a real dev board.

    \b
    Methods (the board file names the default):
      pyocd    pyOCD through a CMSIS-DAP / ST-LINK probe (CMSIS-Packs installed on demand)
      openocd  OpenOCD with the board's config (Debian package `openocd`)
      uf2      write a .uf2 with the board's family ID and copy it to the bootloader volume
      copy     copy the .bin to the ST-LINK / DAPLink mass-storage volume

    \b
    Example:
      tinyml flash --board nucleo-f446re --dry-run -B build/digits
      tinyml flash --board rpi-pico -B build/digits
    """
    from ..flash import flash as run_flash

    def notify(message: str) -> None:
        if not as_json:
            err_console().print(f"[bold]flash:[/bold] {message}")

    result = run_flash(board, build_dir=build_dir, runtime=runtime, firmware=firmware, method=method,
                       probe_id=probe_id, volume=volume, dry_run=dry_run,
                       boards_dirs=list(boards_dirs) or None, notify=notify)
    if as_json:
        emit_json(result.to_dict())
        return
    out = console()
    verb = "would flash" if result.dry_run else "flashed"
    out.print(f"{verb} [bold]{result.board}[/bold] with {result.method}: {result.firmware}")
    for number, step in enumerate(result.steps, 1):
        out.print(f"  {number}. {step.description}")
        out.print(f"     {step.display()}", markup=False)
    for note in result.notes:
        out.print(f"  note: {note}", markup=False)
    if result.dry_run:
        out.print("dry run: no probe or volume was touched.")


@click.command("monitor")
@click.option("--board", required=True, help="Board name (boards/<name>.yaml) or path to a board file.")
@click.option("--port", default=None, help="Serial port (default: the one debug probe's serial port found on USB).")
@click.option("--baud", type=int, default=None, help="Baud rate (default: the board file's console.baud).")
@click.option("--timeout-s", type=float, default=120.0, show_default=True,
              help="Give up when the run has not finished after this many seconds.")
@_runtime_option
@_boards_dir_option
@build_dir_option
@json_option
def monitor(board, port, baud, timeout_s, runtime, boards_dirs, build_dir, as_json):
    """Read the harness lines a flashed board prints on its serial port; same JSON as `tinyml emulate`.

    Start it, then reset the board (or flash it): the result lands in
    <build-dir>/emulate/<board>-serial.json and in `tinyml report`.

    \b
    Example:
      tinyml flash --board nucleo-f446re -B build/digits
      tinyml monitor --board nucleo-f446re --port /dev/ttyACM0 -B build/digits
    """
    from ..monitor import monitor as run_monitor

    def notify(message: str) -> None:
        if not as_json:
            err_console().print(f"[bold]monitor:[/bold] {message}")

    result = run_monitor(board, build_dir=build_dir, port=port, baud=baud, timeout_s=timeout_s,
                         runtime=runtime, boards_dirs=list(boards_dirs) or None, notify=notify)
    if as_json:
        emit_json(result.record)
        return
    _print_run(result.record, result.path)


def _print_run(record: dict, path: Path) -> None:
    from rich.table import Table

    table = Table(title=f"{record.get('board')} on {record.get('emulator')} ({record.get('runtime')})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    agreement = record.get("agreement") or {}
    if agreement:
        table.add_row("bit-exact agreement", f"{agreement.get('matching')}/{agreement.get('total')}")
    accuracy = record.get("accuracy") or {}
    if accuracy.get("device") is not None:
        table.add_row("device accuracy", f"{accuracy['device']:.2%}")
    if accuracy.get("host_int8") is not None:
        table.add_row("host int8 accuracy", f"{accuracy['host_int8']:.2%}")
    latency = record.get("latency") or {}
    if latency.get("median") is not None:
        table.add_row(f"median {latency.get('unit', 'ticks')}", f"{latency['median']:,}")
    if latency.get("estimated_ms_at_clock") is not None:
        table.add_row("ms per inference", f"{latency['estimated_ms_at_clock']:.3f}")
    if record.get("arena_bytes") is not None:
        table.add_row("arena bytes used", f"{record['arena_bytes']:,}")
    out = console()
    out.print(table)
    out.print(f"-> {path}")
