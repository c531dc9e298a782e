"""Run a built firmware project on its emulator and check the harness lines.

The lowest layer that runs firmware: the emulate and bench stages use it, and so does the tflm
arena calibration (tinyml/tflm_calibration.py), which the firmware stage's callers hand to the
tflm runtime. It imports the firmware stage's manifest reader and the emulator runners, never a
stage above them.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError, EmulatorError
from .harness import HarnessResult, parse_lines, require_complete


def run_project(project_dir: Path, *, emulator: str = "qemu", timeout_s: float = 300) -> tuple[HarnessResult, object]:
    """Run a built emulator-variant project; returns the parsed, complete harness result."""
    from .emulators import get_runner
    from .emulators.base import RunRequest
    from .firmware import FirmwareProject

    project = FirmwareProject.load(project_dir)
    if project.variant != "emulator" or project.machine is None:
        raise ConfigError(f"{project_dir} is a {project.variant} build; emulate runs the emulator variant.")
    runner = get_runner(emulator)
    runner.require()
    elf = project_dir / "build" / "firmware.elf"
    if not elf.is_file():
        raise ConfigError(f"{elf} does not exist; build the project first (tinyml build).", path=elf)
    request = RunRequest(elf=elf.resolve(), machine=project.machine, work_dir=project_dir.resolve(),
                         timeout_s=timeout_s, console=project.console, serial_index=project.serial_index,
                         icount_shift=project.icount_shift)
    output = runner.run(request)
    harness = checked_harness(output, f"{project.board} on {emulator} {project.machine}", emulator,
                              project.run_id, timeout_s)
    return harness, output


def checked_harness(output, where: str, tool: str, run_id: str, timeout_s: float) -> HarnessResult:
    """The runner's console lines parsed; a hang, fault, stale image or bad exit is an EmulatorError."""
    harness = parse_lines(output.lines, expected_run_id=run_id)
    if output.timed_out:
        where += f" (killed after the {timeout_s:g} s timeout, host time)"
    require_complete(harness, where, timed_out=output.timed_out, log_path=output.log_path,
                     detail=output.notes[0] if output.notes else None)
    if output.returncode not in (0, None):
        why = f" ({output.notes[0]})" if output.notes else ""
        raise EmulatorError(f"{where}: {tool} exited with status {output.returncode} after TINYML END{why}.",
                            hint="\n".join(output.lines[-12:]), log_path=output.log_path)
    return harness
