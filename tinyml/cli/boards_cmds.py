"""`tinyml boards list` and `tinyml boards show NAME`: the boards registry."""

from __future__ import annotations

from pathlib import Path

import click

from .common import console, emit_json, json_option


def boards_dir_option(func):
    return click.option("--boards-dir", "boards_dirs", multiple=True,
                        type=click.Path(file_okay=False, path_type=Path),
                        help="Extra folder of board YAML files (repeatable; searched before $TINYML_BOARDS_DIR "
                             "and the shipped boards; a board there overrides a shipped one of the same name).")(func)


def _mhz(hz: int) -> str:
    return f"{hz / 1e6:g} MHz"


def _emulators(board) -> str:
    q = board.emulators.qemu
    text = f"qemu:{q.machine or q.board}" + (" (stand-in)" if q.stand_in else "")
    if board.emulators.renode is not None:
        text += ", renode"
    return text


@click.group("boards")
def boards() -> None:
    """The boards tinyml knows: real dev boards and emulator machines.

    \b
    Boards are searched in --boards-dir folders, then $TINYML_BOARDS_DIR
    (os.pathsep-separated), then the boards shipped with tinyml.

    \b
    Example:
      tinyml boards list
      tinyml boards show nucleo-l4r5zi --json
    """


@boards.command("list")
@boards_dir_option
@json_option
def list_(boards_dirs, as_json):
    """List every board: core, clock, flash, RAM and how it is emulated.

    \b
    Example:
      tinyml boards list
      tinyml boards list --boards-dir my_boards --json
    """
    from ..boards import format_size, list_boards, search_dirs
    from ..errors import BoardError
    found = list_boards(list(boards_dirs) or None)
    if not found:
        # The shipped boards always exist: none at all means a broken install, never "0 boards".
        raise BoardError("no board files were found; boards are searched in: "
                         + ", ".join(str(d) for d in search_dirs(list(boards_dirs) or None)) + ".")
    if as_json:
        emit_json([{"name": b.name, "title": b.title, "mcu": b.mcu, "core": b.core, "fpu": b.fpu,
                    "clock_hz": b.clock_hz, "flash_bytes": b.memory.flash.size, "ram_bytes": b.memory.ram.size,
                    "emulator_machine": b.is_emulator, "qemu_machine": b.emulators.qemu.machine,
                    "qemu_board": b.emulators.qemu.board, "stand_in": b.emulators.qemu.stand_in,
                    "renode_platform": b.emulators.renode.platform if b.emulators.renode else None,
                    "source_path": str(b.source_path)} for b in found])
        return
    from rich.table import Table
    table = Table(title=f"{len(found)} boards", title_justify="left")
    for col, kw in (("name", {"no_wrap": True}), ("core", {}), ("clock", {"justify": "right"}),
                    ("flash", {"justify": "right"}), ("RAM", {"justify": "right"}), ("emulators", {})):
        table.add_column(col, **kw)
    for b in found:
        table.add_row(b.name, b.core, _mhz(b.clock_hz), format_size(b.memory.flash.size),
                      format_size(b.memory.ram.size), _emulators(b))
    console().print(table)


@boards.command("show")
@click.argument("name")
@boards_dir_option
@json_option
def show(name, boards_dirs, as_json):
    """Everything tinyml knows about one board (NAME or a path to a board file).

    \b
    Example:
      tinyml boards show microbit-v2
      tinyml boards show ./my_boards/my-board.yaml --json
    """
    from ..boards import board_summary, core_facts, core_flags, format_size, load_board, qemu_target
    dirs = list(boards_dirs) or None
    b = load_board(name, dirs)
    machine, emu, stand_in = qemu_target(b, dirs)
    facts = core_facts(b, dirs)
    if as_json:
        data = board_summary(b)
        data["core_flags"] = core_flags(b, dirs)
        data["core_facts"] = facts.model_dump()
        data["qemu_target"] = {"machine": machine, "emulator_board": emu.name, "stand_in": stand_in}
        emit_json(data)
        return
    from rich.table import Table
    t = Table(title=f"{b.name}: {b.title}", title_justify="left", show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value")
    t.add_row("vendor / MCU", f"{b.vendor} / {b.mcu}")
    t.add_row("core", f"{b.core}, FPU {b.fpu}, {_mhz(b.clock_hz)}"
              + (" (DSP)" if facts.dsp else "") + (", DWT cycle counter" if facts.dwt_cyccnt else ""))
    t.add_row("gcc flags", " ".join(core_flags(b, dirs)))
    for region, r in [("flash", b.memory.flash), ("ram", b.memory.ram), *b.memory.extra_regions.items()]:
        note = f"  ({r.note})" if r.note else ""
        t.add_row(f"memory.{region}", f"{format_size(r.size)} at {r.origin:#010x}{note}")
    t.add_row("stack / heap", f"{format_size(b.stack_bytes)} / {format_size(b.heap_bytes)}; "
              f"reserve {b.ram_reserve_percent:g}% of RAM ({b.ram_reserve_bytes:,} bytes)")
    c = b.console
    where = f" {c.instance or ''} at {c.base:#010x}, {c.baud} baud" if c.base is not None else ""
    pins = f", TX {c.tx_pin} RX {c.rx_pin}" if c.tx_pin else ""
    t.add_row("console", f"{c.kind}{where}{pins}" + (f"  ({c.note})" if c.note else ""))
    for alt in b.alt_consoles:
        t.add_row("other UART", f"{alt.kind} {alt.instance or ''} at {alt.base:#010x}"
                  + (f", QEMU -serial #{alt.qemu_serial}" if alt.qemu_serial is not None else ""))
    t.add_row("cycle counter / clock init", f"{b.cycle_counter} / {b.clock_init}")
    if b.boot_stage:
        t.add_row("boot stage", f"{b.boot_stage.name}, {b.boot_stage.bytes} bytes")
    q = b.emulators.qemu
    t.add_row("QEMU", f"-M {machine}" + (f" via board {emu.name}" if emu.name != b.name else "")
              + (" (stand-in)" if stand_in else " (this board)") + (f"  {q.note}" if q.note else ""))
    if b.emulators.renode:
        r = b.emulators.renode
        t.add_row("Renode", f"{r.platform}, console {r.console}" + (f"  {r.note}" if r.note else ""))
    if b.flashing:
        f = b.flashing
        bits = [f"default {f.default}"]
        if f.pyocd_target:
            bits.append(f"pyOCD {f.pyocd_target}")
        if f.openocd_config:
            cfg = f.openocd_config if isinstance(f.openocd_config, str) else " ".join(f.openocd_config)
            bits.append(f"OpenOCD {cfg}")
        if f.uf2_family is not None:
            bits.append(f"UF2 family {f.uf2_family:#010x}")
        if f.volume_label:
            bits.append(f"volume {f.volume_label}")
        t.add_row("flashing", ", ".join(bits) + (f"  ({f.note})" if f.note else ""))
    else:
        t.add_row("flashing", "none (emulator machine)")
    if b.power:
        t.add_row("power", f"{b.power.active_ua_per_mhz:g} uA/MHz at {b.power.supply_v:g} V"
                  + (f"  ({b.power.note})" if b.power.note else ""))
    t.add_row("datasheet", b.datasheet)
    if b.notes:
        t.add_row("notes", b.notes)
    t.add_row("file", str(b.source_path))
    console().print(t)
