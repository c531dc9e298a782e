"""The tflm arena measured on the emulated core: the calibration firmware.

The tflm runtime (tinyml/runtimes/tflm/arena.py) decides when an arena must be measured and
keeps the records; building and running the calibration firmware is a pipeline of stages
(firmware, build, emulate), so it lives here, above them, and the stages that render firmware
hand `calibrate_arena` down to the runtime (runtime_options={"calibrator": calibrate_arena}).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from .errors import EmulatorError, ModelError, ToolError
from .runtimes.tflm.arena import _generous_arena, _round16, arena_dir

RUNTIME_OPTIONS_KEY = "calibrator"


def runtime_options() -> dict:
    """What a stage passes to render_firmware so a tflm firmware's arena is measured."""
    return {RUNTIME_OPTIONS_KEY: calibrate_arena}


def calibrate_arena(model_path: Path, emu, *, opt: str, kernels: str, strip_error_strings: bool,
               io_bytes: int, boards_dirs, progress) -> tuple[int, int]:
    """Build and run the calibration firmware; (arena_used_bytes, smallest arena, arena given)."""
    from .build import build_project
    from .firmware import bench_samples, render_firmware
    from .project_run import run_project

    arena = _generous_arena(emu, io_bytes)
    if arena <= 0:
        raise ModelError(f"{model_path.name}: {emu.name} has no RAM left for a TFLM arena "
                         f"({int(emu.memory.ram.size):,} B of RAM: {int(emu.stack_bytes):,} B of stack, "
                         f"{io_bytes:,} B of input/output buffers (twice) and the rest of the firmware's "
                         "data come first).", path=model_path)
    options = {"arena_bytes": arena, "kernels": kernels, "strip_error_strings": strip_error_strings,
               "calibrate": True}
    arena_dir().mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".calibrate-", dir=arena_dir()))
    keep = False
    try:
        samples = bench_samples(model_path, 1, seed=0)
        for _attempt in range(2):
            project = render_firmware(model_path, emu, work / "fw", runtime="tflm", variant="emulator",
                                      samples=samples, opt=opt, boards_dirs=boards_dirs,
                                      runtime_options=options)
            try:
                build_project(project.dir)
                break
            except ToolError as exc:
                # The reserve was not enough for the rest of the firmware's data:
                # give the arena what the linker says is missing, once.
                m = re.search(r"region RAM overflowed by ([\d,]+) bytes", exc.message)
                if m is None or _attempt == 1 or arena - _round16(int(m[1].replace(",", "")) + 64) <= 0:
                    keep = True   # the log the message names stays
                    raise ToolError(f"the TFLM arena calibration firmware of {model_path.name} for "
                                    f"{emu.name} does not build: {exc.message}", hint=exc.hint,
                                    log_path=exc.log_path) from exc
                arena -= _round16(int(m[1].replace(",", "")) + 64)
                options["arena_bytes"] = arena
        try:
            harness, _ = run_project(project.dir, timeout_s=900)
        except EmulatorError as exc:
            if "init returned 3" in exc.message:   # AllocateTensors failed (tflm_model.cc.j2)
                # TFLM's own log line says why: a kernel that refuses the model in
                # Prepare, or an arena too small even with all the board's RAM.
                lines = [ln.strip() for ln in (exc.hint or "").splitlines()
                         if ln.strip() and not ln.startswith(("TINYML", "tflm:", "last console"))]
                why = "; ".join(lines[-2:]) or "no TFLM log line"
                raise ModelError(f"{model_path.name}: TFLM's AllocateTensors fails on {emu.name} "
                                 f"({emu.core}, {kernels} kernels) with an arena of {arena:,} bytes (all the "
                                 f"RAM the board has for it): {why}.", path=model_path) from exc
            raise
        smallest = harness.extras.get("arena_min", "")
        if not harness.arena_bytes or not smallest.isdigit() or int(smallest) < harness.arena_bytes:
            raise EmulatorError(f"the TFLM arena calibration run on {emu.name} reported arena="
                                f"{harness.arena_bytes} arena_min={smallest or '?'}.")
        return int(harness.arena_bytes), int(smallest), arena
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
