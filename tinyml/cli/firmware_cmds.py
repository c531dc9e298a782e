"""Commands of the firmware side: export, firmware, build, emulate, bench."""

from __future__ import annotations

from pathlib import Path

import click

from .common import build_dir_option, console, emit_json, err_console, json_option
from .tflm_cmds import RUNTIME_HELP, bench_runtime_choices, runtime_choice, tflm_dir_option


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


def _board_option(func):
    return click.option("--board", required=True,
                        help="Board name (boards/<name>.yaml, see `tinyml boards list`) or path to a board file.")(func)


def _opt_option(func):
    return click.option("--opt", type=click.Choice(["-Os", "-O2", "-O3"]), default="-Os", show_default=True,
                        help="gcc optimization: -Os for size, -O2 for speed.")(func)


def _samples_options(func):
    func = click.option("--samples", type=int, default=10, show_default=True,
                        help="How many inputs to bake into the firmware (held-out samples when the build "
                             "directory has them, else seeded random inputs).")(func)
    func = click.option("--dataset", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="An .npz with x (float inputs) and y (labels) to take the samples from.")(func)
    func = click.option("--seed", type=int, default=0, show_default=True,
                        help="Seed of the random inputs used when there is no dataset.")(func)
    return func


def build_and_run_options(func):
    """--jobs, the sample options, --opt, --boards-dir, -B and --json: every command that builds and runs firmware."""
    for option in (json_option, build_dir_option, _boards_dir_option, _opt_option, _samples_options):
        func = option(func)
    return click.option("--jobs", "-j", type=int, default=2, show_default=True, help="Parallel compile jobs.")(func)


@click.command("firmware")
@_board_option
@click.option("--runtime", type=click.Choice(["auto", "aot", "tflm"]), default="auto", show_default=True,
              help=RUNTIME_HELP)
@tflm_dir_option
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="int8 .tflite (default: <build-dir>/quantize/model.tflite).")
@click.option("--emulator-variant", "emulator_variant", is_flag=True,
              help="Render the QEMU variant (the board's machine or its stand-in, instruction clock) "
                   "instead of the firmware for the board itself.")
@click.option("--per-layer", is_flag=True, help="Print a per-operator profile (TINYML LAYER lines).")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Project folder (default: <build-dir>/firmware/<board>-<runtime>/).")
@_samples_options
@_opt_option
@_boards_dir_option
@build_dir_option
@json_option
def firmware(board, runtime, model, emulator_variant, per_layer, out_dir, samples, dataset, seed, opt,
             boards_dirs, build_dir, as_json):
    """Render a self-contained firmware project (Makefile, linker script, startup, harness, model).

    The project builds with plain `make` (arm-none-eabi-gcc) outside the tool too.

    \b
    Example:
      tinyml firmware --board stm32f4-discovery --runtime aot -B build/digits
      make -C build/digits/firmware/stm32f4-discovery-aot
    """
    from ..firmware import firmware as run_firmware

    choice = runtime_choice(runtime, _notify(as_json, "firmware"))
    from .. import tflm_calibration

    project = run_firmware(build_dir, board, runtime=choice.runtime, model=model,
                           variant="emulator" if emulator_variant else "device", samples=samples, seed=seed,
                           dataset=dataset, per_layer=per_layer, opt=opt, boards_dirs=list(boards_dirs) or None,
                           out_dir=out_dir, runtime_options=tflm_calibration.runtime_options())
    if as_json:
        emit_json({"project": str(project.dir), **project.to_dict(), "runtime_choice": choice.to_dict()})
        return
    where = f" on QEMU {project.machine}" + (f" (stand-in {project.target_board})" if project.stand_in else "") \
        if project.variant == "emulator" else ""
    for note in project.notes:
        err_console().print(f"note: {note}", markup=False)
    console().print(
        f"rendered {project.runtime} firmware for {project.board}{where} -> {project.dir}\n"
        f"  console {project.console}, clock in {project.clock_unit}, {project.sample_count} samples baked in, "
        f"arena {project.arena_bytes:,} bytes, run id {project.run_id}\n"
        f"  build it: tinyml build --board {project.board} -B {build_dir}   (or: make -C {project.dir})",
        markup=False)


@click.command("build")
@_board_option
@click.option("--runtime", type=click.Choice(["auto", "aot", "tflm"]), default="auto", show_default=True,
              help=RUNTIME_HELP)
@tflm_dir_option
@click.option("--emulator-variant", "emulator_variant", is_flag=True, help="Build the QEMU variant instead.")
@click.option("--jobs", "-j", type=int, default=2, show_default=True, help="Parallel compile jobs.")
@_opt_option
@_boards_dir_option
@build_dir_option
@json_option
def build(board, runtime, emulator_variant, jobs, opt, boards_dirs, build_dir, as_json):
    """Cross-compile the firmware: firmware.elf/.bin/.hex, the map and size.json.

    Renders the project first when `tinyml firmware` has not. size.json splits
    flash and RAM into model, runtime (kernel library) and application.

    \b
    Example:
      tinyml build --board nucleo-h743zi -B build/digits
      tinyml build --board mps2-an386 --opt -O2 --json -B build/digits
    """
    from ..build import build as run_build

    choice = runtime_choice(runtime, _notify(as_json, "build"))
    result = run_build(build_dir, board, runtime=choice.runtime, variant="emulator" if emulator_variant else "device",
                       opt=opt, jobs=jobs, boards_dirs=list(boards_dirs) or None,
                       notify=_notify(as_json, "build"))
    if as_json:
        emit_json({"elf": result.elf, "bin": result.bin, "hex": result.hex, "map": result.map,
                   "size_json": result.size_path, "size": result.size, "runtime_choice": choice.to_dict()})
        return
    from rich.table import Table

    s = result.size
    table = Table(title=f"{result.project.board} {result.project.runtime} firmware ({s['opt']})")
    table.add_column("")
    table.add_column("bytes", justify="right")
    for key in ("text", "rodata", "data", "bss", "stack_bytes", "heap_bytes"):
        table.add_row(key.replace("_bytes", ""), f"{s[key]:,}")
    table.add_row("flash (text+rodata+data)", f"{s['flash_bytes']:,}")
    table.add_row("RAM (data+bss+heap+stack)", f"{s['ram_bytes']:,}")
    for cat in ("model", "runtime", "application"):
        table.add_row(f"flash: {cat}", f"{s['split'][cat]:,}")
    table.add_row("arena (in bss)", f"{s['arena_bytes']:,}")
    out = console()
    out.print(table)
    out.print(f"-> {result.elf} (.bin, .hex), {result.size_path}", markup=False)


@click.command("emulate")
@click.argument("model", required=False, type=click.Path(dir_okay=False, path_type=Path))
@_board_option
@click.option("--emulator", type=click.Choice(["qemu", "renode"]), default="qemu", show_default=True,
              help="qemu: the board's QEMU machine or its same-core stand-in (emulator firmware); renode: the "
                   "board's own device firmware on Renode's model of the board (renode-test).")
@click.option("--runtime", type=click.Choice(["auto", "aot", "tflm"]), default="auto", show_default=True,
              help=RUNTIME_HELP)
@tflm_dir_option
@click.option("--timeout-s", type=float, default=300.0, show_default=True,
              help="Kill the emulator after this many seconds of host time (a hang is an error with the last "
                   "console lines); Renode's per-line timeouts are in virtual time, in the suite.")
@click.option("--keep-open", is_flag=True,
              help="renode: run `renode --disable-gui` with the board's .resc in the foreground (monitor open) "
                   "instead of renode-test; the UART log is parsed when you quit Renode.")
@click.option("--per-layer", is_flag=True, help="Measure every operator instead (TINYML LAYER lines): a firmware of its own, "
              "recorded in emulate/<board>-<emulator>-layers.json, so its hooks never touch the headline figures.")
@click.option("--console", "console_kind", default=None,
              help="Print on this console of the emulated board instead of its default, e.g. "
                   "stm32-usart on netduinoplus2 or cmsdk-uart on mps2-an386 (board file alt_consoles).")
@build_and_run_options
def emulate(model, board, emulator, runtime, timeout_s, keep_open, per_layer, console_kind, jobs, samples,
            dataset, seed, opt, boards_dirs, build_dir, as_json):
    """Build the board's firmware, run it in QEMU or Renode and compare with the host int8 model.

    Reports bit-exact agreement with the tflite-micro interpreter, device vs
    host int8 accuracy, instructions per inference (QEMU -icount: guest
    instructions, not cycles; Renode: DWT CYCCNT counting executed
    instructions) and the latency they suggest at the board's clock. Writes
    <build-dir>/emulate/<board>-<emulator>.json.

    \b
    Example:
      tinyml emulate --board mps2-an386 --samples 50 -B build/digits
      tinyml emulate kws_ref_model.tflite --board nucleo-h743zi --samples 3
      tinyml emulate --emulator renode --board stm32f4-discovery -B build/digits
    """
    from ..emulate import emulate as run_emulate

    choice = runtime_choice(runtime, _notify(as_json, "emulate"))
    result = run_emulate(build_dir, board, model=model, samples=samples, emulator=emulator,
                         runtime=choice.runtime, runtime_choice=choice.to_dict(),
                         timeout_s=timeout_s, per_layer=per_layer, opt=opt, seed=seed, dataset=dataset,
                         console=console_kind, jobs=jobs, boards_dirs=list(boards_dirs) or None,
                         notify=_notify(as_json, "emulate"), keep_open=keep_open)
    if as_json:
        emit_json(result.record)
        return
    print_emulate(result.record, result.path)


def print_emulate(record: dict, path: Path) -> None:
    from rich.table import Table

    machine = record.get("machine")
    where = f"{record['emulator']} {machine}" + (" as a same-core stand-in" if record.get("stand_in") else "")
    table = Table(title=f"{record['board']} ({where}), runtime {record['runtime']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    ag = record["agreement"]
    table.add_row("bit-exact agreement with host int8", f"{ag['matching']}/{ag['total']} "
                  f"({ag['ratio']:.0%}, max |diff| {ag['max_abs_diff']})")
    acc = record["accuracy"]
    if acc["device"] is not None:
        table.add_row("accuracy: device / host int8", f"{acc['device']:.2%} / {acc['host_int8']:.2%}")
    else:
        table.add_row("accuracy", "n/a (no labels: agreement only)")
    lat = record["latency"]
    unit = lat["unit"]
    table.add_row(f"{unit} per inference min / median / max",
                  f"{lat['min']:,} / {lat['median']:,} / {lat['max']:,}")
    if lat.get("estimated_ms_at_clock") is not None:
        table.add_row(f"estimated latency at {lat['clock_hz'] / 1e6:g} MHz",
                      f"{lat['estimated_ms_at_clock']:.3f} ms")
    if record.get("arena_bytes") is not None:
        table.add_row("arena bytes", f"{record['arena_bytes']:,}")
    if record.get("stack_bytes_used") is not None:
        table.add_row("stack high-water bytes", f"{record['stack_bytes_used']:,}")
    size = record.get("size") or {}
    if size:
        table.add_row("flash / RAM bytes (ELF)", f"{size['flash_bytes']:,} / {size['ram_bytes']:,}")
    out = console()
    out.print(table)
    out.print(f"latency: {lat['note']}.", markup=False)
    if record.get("clock_note"):
        out.print(f"{record['clock_note']}.", markup=False)
    out.print(f"-> {path}", markup=False)


@click.command("bench")
@click.argument("models", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@_board_option
@click.option("--runtime", "runtimes", multiple=True, type=click.Choice(["auto", "aot", "tflm"]),
              default=("auto",), show_default=True,
              help="Runtime(s) to compare (repeatable). auto (default): TFLite Micro and aot side by side "
                   "when a TFLM tree is found, else aot alone.")
@tflm_dir_option
@click.option("--samples", type=int, default=4, show_default=True,
              help="Inputs per model: the BENCHMARKS.md pattern, then seeded random ones.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--timeout-s", type=float, default=600.0, show_default=True)
@click.option("--emulator", type=click.Choice(["qemu", "renode"]), default="qemu", show_default=True,
              help="qemu: the board's QEMU machine, -icount instructions. renode: the board's own device "
                   "firmware on Renode's model of it, DWT CYCCNT (executed instructions).")
@click.option("--jobs", "-j", type=int, default=2, show_default=True, help="Parallel compile jobs.")
@_opt_option
@_boards_dir_option
@build_dir_option
@json_option
def bench(models, board, runtimes, samples, seed, timeout_s, emulator, jobs, opt, boards_dirs, build_dir,
          as_json):
    """Instructions per inference, flash, RAM, arena and agreement: a row per model and runtime.

    Runs on the board's QEMU machine (or its same-core stand-in) with QEMU's
    deterministic -icount clock, so two runs print the same numbers. Input 0 is
    BENCHMARKS.md's pattern (byte i = (i*37+11) & 0xFF), so the counts compare
    with the TFLM figures there.

    \b
    Example:
      tinyml bench ../shared/models/*.tflite --board mps2-an386
      tinyml bench ../shared/models/*.tflite --board mps2-an386 --runtime tflm --runtime aot
      tinyml bench ../shared/models/kws_ref_model.tflite --board stm32f4-discovery --emulator renode
    """
    from ..bench import bench as run_bench
    from ..errors import ConfigError

    choices = bench_runtime_choices(runtimes, _notify(as_json, "bench"))
    result = run_bench(list(models), board, runtimes=[c.runtime for c in choices],
                       runtime_choices=[c.to_dict() for c in choices], build_dir=build_dir, samples=samples,
                       seed=seed, timeout_s=timeout_s, opt=opt, jobs=jobs, emulator=emulator,
                       boards_dirs=list(boards_dirs) or None, notify=_notify(as_json, "bench"))
    if as_json:
        emit_json(result.to_dict())
    else:
        print_bench(result)
    bad = [r for r in result.rows if r["status"] != "ok"]
    if bad:
        reasons = dict.fromkeys(f"{r['runtime']}: {r['reason']}" for r in bad)
        raise ConfigError(f"{len(bad)} of {len(result.rows)} benchmark rows did not run ("
                          + "; ".join(reasons) + ").")


def print_bench(result) -> None:
    from rich.table import Table

    ok = [r for r in result.rows if r["status"] == "ok"]
    unit = ok[0]["clock_unit"] if ok else "instructions"
    renode = bool(ok) and ok[0].get("emulator") == "renode"
    emulator = "Renode" if renode else "QEMU"
    where = (f"{emulator} {result.machine}" + (" (stand-in)" if result.stand_in else "")
             if result.machine else emulator)
    table = Table(title=f"tinyml bench on {result.board} ({where})")
    for col, justify in (("model", "left"), ("runtime", "left"), (unit, "right"), ("flash B", "right"),
                         ("runtime B", "right"), ("RAM B", "right"), ("arena B", "right"), ("agree", "right")):
        table.add_column(col, justify=justify, no_wrap=justify == "right" or col == "runtime",
                         overflow="fold", min_width=14 if col == "model" else None)
    for r in result.rows:
        if r["status"] != "ok":
            table.add_row(r["model"], r["runtime"], r["status"], "", "", "", "", "")
            continue
        ag = r["agreement"]
        table.add_row(r["model"], r["runtime"], f"{r['per_inference']:,}", f"{r['flash_bytes']:,}",
                      f"{r['runtime_flash_bytes']:,}", f"{r['ram_bytes']:,}", f"{r['arena_bytes']:,}",
                      f"{ag['matching']}/{ag['total']}")
    out = console()
    out.print(table)
    counted = ("Renode's DWT CYCCNT at MIPS x 10^6 Hz (executed instructions to within one 10 us quantum; "
               "not the real core's cycles)" if renode else "QEMU -icount (deterministic; not cycles)")
    out.print(f"{unit} per inference on the BENCHMARKS.md pattern input, counted by {counted}. flash B "
              "includes the baked samples; runtime B is the kernel library's code.", markup=False)
    for reason in dict.fromkeys(f"{r['runtime']}: {r['reason']}" for r in result.rows if r["status"] != "ok"):
        out.print(f"not run: {reason}", markup=False)
    out.print(f"-> {result.path}", markup=False)
