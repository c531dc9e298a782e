"""The TFLM tensor arena, measured on the device it runs on.

The Python tflite-micro interpreter measures the arena on a 64-bit host with
the reference kernels: its pointer-sized bookkeeping is larger than a Cortex-M's,
but it knows nothing of the scratch buffers CMSIS-NN asks for (their size
depends on the core: DSP, MVE), so a host figure plus a margin was too small on
the device (ad01 on the Cortex-M55, dtln_noise_suppression on the Cortex-M4).

So the arena comes from the same library on the same core:

  1. a calibration firmware with a generous arena (the emulated board's RAM less
     its stack, heap and a reserve for the rest of the firmware's data) is built
     for a QEMU board whose core flags are the target's, and run once;
  2. on the device it searches the smallest arena AllocateTensors accepts
     (binary search, 16-byte steps; arena_used_bytes alone is too small: TFLM's
     memory planner borrows the free arena while it plans and returns it before
     it reports), runs the sample with exactly that arena, and prints it on the
     END line (arena_min=) next to TFLM's arena_used_bytes (arena=); both are
     recorded in $TINYML_CACHE_DIR/tflm/arena/ under the model's SHA-256 and the
     library's cache key (tree, compiler, core flags, levels, kernels): the same
     inputs give the same figures, so it is measured once;
  3. the real firmware's arena is the smallest working arena +
     ARENA_MARGIN_PERCENT % + ARENA_MARGIN_BYTES, rounded up to 16 bytes.

Without an emulator for the core (or without QEMU) the host figure with the
older, larger margin is used and the firmware says so (model.h).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ...artifacts import sha256_file, write_json
from ...errors import TinyMLError, ToolError
from .fetch import tflm_cache_dir
from .library import TFLMLibrary, canonical_core_flags

# The device figure is exact for this library and model; the margin only keeps a
# different link (alignment of the arena's neighbours) from ever starving it.
ARENA_MARGIN_PERCENT = 2
ARENA_MARGIN_BYTES = 256
# Without a device figure: the host measurement + 10% + 1 KB (too small for
# some models, hence the device measurement).
HOST_MARGIN_PERCENT = 10
HOST_MARGIN_BYTES = 1024
# RAM the calibration firmware keeps for everything but the arena (console,
# samples, interpreter and resolver objects, newlib): at least this much, or
# 1/16 of the RAM when that is more.
CALIBRATION_RESERVE_BYTES = 8 * 1024
RECORD_FORMAT = 2   # 2: arena_min_bytes (the smallest arena AllocateTensors accepts)


@dataclass(frozen=True)
class ArenaPlan:
    arena_bytes: int               # what the firmware allocates
    basis: str                     # "device" | "host"
    used_bytes: int | None         # the smallest arena that worked on the device (device basis)
    host_bytes: int | None         # the host interpreter's figure (host basis)
    measured_on: str | None        # "mps2-an386 (QEMU mps2-an386)"
    note: str                      # one line for model.h and the fit check


def _round16(n: float) -> int:
    return int(math.ceil(n / 16) * 16)


def with_margin(used_bytes: int) -> int:
    return _round16(used_bytes * (100 + ARENA_MARGIN_PERCENT) / 100 + ARENA_MARGIN_BYTES)


def host_arena(host_bytes: int) -> int:
    return _round16(host_bytes * (100 + HOST_MARGIN_PERCENT) / 100 + HOST_MARGIN_BYTES)


def arena_dir() -> Path:
    return tflm_cache_dir() / "arena"


def _record_path(model_sha256: str, library_key: str) -> Path:
    return arena_dir() / f"{model_sha256[:24]}-{library_key}.json"


def recorded(model_sha256: str, library_key: str) -> dict | None:
    path = _record_path(model_sha256, library_key)
    try:
        data = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None
    if not data or data.get("format") != RECORD_FORMAT or data.get("model_sha256") != model_sha256:
        return None
    return data


def recorded_for_core(model_sha256: str, core_flags, *, kernels: str = "cmsis_nn",
                      core_opt: str = "-Os", kernel_opt: str = "-O2") -> dict | None:
    """The newest device figure for this model on a core (any tree/compiler):
    what the fit check uses before a firmware is built."""
    flags = list(canonical_core_flags(core_flags))
    best = None
    if not arena_dir().is_dir():
        return None
    for path in arena_dir().glob(f"{model_sha256[:24]}-*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if (data.get("format") == RECORD_FORMAT and data.get("model_sha256") == model_sha256
                and data.get("core_flags") == flags and data.get("kernels") == kernels
                and data.get("core_opt") == core_opt and data.get("kernel_opt") == kernel_opt):
            if best is None or path.stat().st_mtime > best[0]:
                best = (path.stat().st_mtime, data)
    return best[1] if best else None


def calibration_board(target, core_flags, boards_dirs=None):
    """A QEMU board whose core flags are `core_flags`: the target when it is
    one, else its QEMU stand-in, else any board file with a QEMU machine."""
    from ...boards import core_flags as flags_of
    from ...boards import list_boards, qemu_target

    want = canonical_core_flags(core_flags)

    def same(board) -> bool:
        try:
            return canonical_core_flags(flags_of(board, boards_dirs)) == want
        except TinyMLError:
            return False

    if target.emulators.qemu.machine is not None and same(target):
        return target
    try:
        _, stand_in, _ = qemu_target(target, boards_dirs)
        if stand_in.emulators.qemu.machine is not None and same(stand_in):
            return stand_in
    except TinyMLError:
        pass
    for board in sorted(list_boards(boards_dirs), key=lambda b: b.name):
        if board.emulators.qemu.machine is not None and same(board):
            return board
    return None


def _generous_arena(board, io_bytes: int) -> int:
    ram = int(board.memory.ram.size)
    reserve = max(CALIBRATION_RESERVE_BYTES, ram // 16) + 2 * io_bytes
    return (ram - int(board.stack_bytes) - int(board.heap_bytes or 0) - reserve) // 16 * 16


def measure(model_path: Path, lib: TFLMLibrary, target, core_flags, *, opt: str, kernels: str,
            strip_error_strings: bool, host_bytes: int | None, io_bytes: int,
            boards_dirs=None, progress=None, calibrator=None) -> ArenaPlan:
    """The arena for this model and library (see the module docstring).

    calibrator: tinyml.tflm_calibration.calibrate_arena, handed down by the stage that renders
    the firmware (it builds and runs firmware, which a runtime must not import); without one, and
    with no record, the host interpreter's figure is used and the note says so."""
    model_sha = sha256_file(model_path)
    rec = recorded(model_sha, lib.key)
    if rec is not None:
        return _device_plan(rec)
    fallback_why = None
    emu = calibration_board(target, core_flags, boards_dirs)
    if emu is None:
        fallback_why = f"no QEMU board has the core flags {' '.join(core_flags)}"
    else:
        from ...emulators import get_runner

        try:
            get_runner("qemu").require()
        except ToolError:
            fallback_why = "qemu-system-arm is not installed"
    if fallback_why is None and calibrator is None:
        fallback_why = "this step does not run firmware (emulate, bench, run and firmware measure it)"
    if fallback_why is not None:
        if host_bytes is None:
            raise ToolError(f"{model_path.name}: the TFLM arena cannot be measured ({fallback_why}) "
                            "and the host interpreter has no figure for it.")
        return ArenaPlan(host_arena(host_bytes), "host", None, host_bytes, None,
                         f"the Python tflite-micro interpreter's figure on this host ({host_bytes:,} B) "
                         f"+ {HOST_MARGIN_PERCENT}% + {HOST_MARGIN_BYTES} B: not measured on the device "
                         f"({fallback_why})")
    used, smallest, given = calibrator(model_path, emu, opt=opt, kernels=kernels,
                                       strip_error_strings=strip_error_strings, io_bytes=io_bytes,
                                       boards_dirs=boards_dirs, progress=progress)
    rec = {"format": RECORD_FORMAT, "model_sha256": model_sha, "model": model_path.name,
           "library_key": lib.key, "core_flags": list(lib.config.core_flags), "kernels": lib.config.kernels,
           "core_opt": lib.config.core_opt, "kernel_opt": lib.config.kernel_opt,
           "strip_error_strings": lib.config.strip_error_strings, "arena_used_bytes": used,
           "arena_min_bytes": smallest,
           "calibration_arena_bytes": given, "measured_on": f"{emu.name} (QEMU {emu.emulators.qemu.machine})",
           "host_arena_bytes": host_bytes}
    path = _record_path(model_sha, lib.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, rec)
    return _device_plan(rec)


def _device_plan(rec: dict) -> ArenaPlan:
    need = int(rec["arena_min_bytes"])
    return ArenaPlan(with_margin(need), "device", need, rec.get("host_arena_bytes"), rec.get("measured_on"),
                     f"the smallest arena AllocateTensors accepted on {rec.get('measured_on')} "
                     f"({need:,} B with the same library; TFLM's arena_used_bytes "
                     f"{int(rec['arena_used_bytes']):,} B) + {ARENA_MARGIN_PERCENT}% + {ARENA_MARGIN_BYTES} B")


__all__ = ["ArenaPlan", "measure", "recorded", "recorded_for_core", "calibration_board", "with_margin",
           "host_arena", "arena_dir", "ARENA_MARGIN_PERCENT", "ARENA_MARGIN_BYTES"]
