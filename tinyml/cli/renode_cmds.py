"""`tinyml renode`: Renode scripts a user can commit to their own CI."""

from __future__ import annotations

from pathlib import Path

import click

from .common import console, emit_json
from .firmware_cmds import _board_option, _notify, build_and_run_options
from .tflm_cmds import RUNTIME_HELP, runtime_choice, tflm_dir_option


@click.group("renode")
def renode():
    """Renode: run a board's own firmware on Renode's model of the board.

    \b
    Example:
      tinyml renode export --board stm32f4-discovery ci/renode -B build/digits
      renode-test ci/renode/stm32f4-discovery.robot
    """


@renode.command("export")
@_board_option
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The int8 .tflite (default: the build directory's quantize/model.tflite).")
@click.option("--runtime", type=click.Choice(["auto", "aot", "tflm"]), default="auto", show_default=True,
              help=RUNTIME_HELP)
@tflm_dir_option
@click.option("--force", is_flag=True, help="Replace OUT_DIR if it exists.")
@build_and_run_options
def export(board, out_dir, model, runtime, force, jobs, samples, dataset, seed, opt, boards_dirs, build_dir,
           as_json):
    """Build the board's device firmware and write OUT_DIR/<board>.resc, <board>.robot and firmware.elf.

    The folder is self-contained: `renode-test OUT_DIR/<board>.robot` runs the
    harness on Renode's model of the board and passes when every baked sample
    printed its result (the outputs are in OUT_DIR/uart.log; `tinyml emulate
    --emulator renode` also compares them with the host model).

    \b
    Example:
      tinyml renode export --board nrf52840-dk ci/renode -B build/digits --samples 20
    """
    from ..renode import export as run_export

    notify = _notify(as_json, "renode export")
    choice = runtime_choice(runtime, notify)
    suite = run_export(build_dir, board, out_dir, runtime=choice.runtime, model=model, samples=samples, seed=seed,
                       dataset=dataset, opt=opt, jobs=jobs, force=force, boards_dirs=list(boards_dirs) or None,
                       notify=notify)
    files = sorted(p.name for p in Path(out_dir).iterdir())
    if as_json:
        emit_json({"board": board, "out_dir": str(out_dir), "suite": str(suite), "files": files,
                   "run": f"renode-test {suite}"})
        return
    console().print(f"-> {out_dir}: {', '.join(files)}\nrun it: renode-test {suite}", markup=False)
