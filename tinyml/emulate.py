"""`tinyml emulate`: run the model's firmware on an emulated board and prove it.

Renders and builds the emulator variant of the board's firmware (its own QEMU
machine, or the same-core stand-in its board file names), bakes N held-out
samples into it (seeded random inputs when there is no dataset), runs it under
a timeout, parses the harness lines and compares every output with the host
int8 model (the tflite-micro Python interpreter, bit for bit).

The record it writes, emulate/<board>-<emulator>.json, has the same shape for
QEMU, Renode and a real board's serial port (tinyml monitor uses
build_record() too).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .artifacts import write_json
from .errors import ConfigError, EmulatorError
from .harness import HarnessResult, parse_lines, require_complete  # noqa: F401
from .project_run import checked_harness, run_project  # noqa: F401  (the emulate stage's runner, shared)

HOST_REFERENCE = "tflite-micro Python interpreter (tinyml.interpreters.run_tflm)"


@dataclass
class EmulateResult:
    record: dict
    path: Path
    harness: HarnessResult
    project_dir: Path


def host_outputs(model_path: Path, inputs: np.ndarray) -> np.ndarray:
    """The reference outputs as the firmware prints them, one row per input:
    the output tensors' bytes one after the other, as int8 (the tensors
    themselves for a single int8 output)."""
    from .interpreters import run_tflm_bytes

    return run_tflm_bytes(model_path, np.asarray(inputs, np.int8).reshape(len(inputs), -1))


def latency_note(unit: str) -> str:
    if unit == "instructions":
        return ("instructions / clock_hz, assuming 1 instruction per cycle: an estimate; a real Cortex-M4 "
                "takes about 1.2-1.6 cycles per instruction (instructions counted by QEMU -icount, not cycles)")
    return "cycles / clock_hz"


def _is_classifier(output_len: int, input_len: int, labels) -> bool:
    return labels is not None and output_len > 1 and output_len != input_len


def build_record(*, harness: HarnessResult, board: str, emulator: str, machine: str | None, stand_in: bool,
                 runtime: str, model_path: Path, model_sha256: str, inputs: np.ndarray,
                 labels: np.ndarray | None, host: np.ndarray, clock_hz: int, size: dict | None,
                 extra: dict | None = None) -> dict:
    """The emulate JSON record (shape in DESIGN.md / the harness protocol notes)."""
    n = len(inputs)
    if len(harness.samples) != n:
        raise EmulatorError(f"the firmware reported {len(harness.samples)} samples, {n} were baked in.")
    in_len = int(np.asarray(inputs).reshape(n, -1).shape[1])
    classify = _is_classifier(host.shape[1], in_len, labels)
    samples = []
    matching, max_diff = 0, 0
    device_hits = host_hits = 0
    for i, s in enumerate(harness.samples):
        dev = np.frombuffer(s.output, dtype=np.int8)
        ref = host[i]
        if dev.shape != ref.shape:
            raise EmulatorError(f"sample {i}: the firmware printed {dev.size} output bytes, the model has "
                                f"{ref.size}; the firmware was built for another model.")
        diff = int(np.max(np.abs(dev.astype(np.int16) - ref.astype(np.int16)))) if dev.size else 0
        agree = diff == 0
        matching += agree
        max_diff = max(max_diff, diff)
        label = int(labels[i]) if labels is not None else None
        predicted = int(np.argmax(dev))
        if classify:
            device_hits += predicted == label
            host_hits += int(np.argmax(ref)) == label
        samples.append({"index": i, "ticks": s.ticks, "output": dev.tolist(), "host_output": ref.tolist(),
                        "agree": agree, "label": label, "predicted": predicted})
    ticks = [s.ticks for s in harness.samples]
    unit = harness.clock_unit or "ticks"
    # median_low: a count that was measured (an integer), never the mean of the middle two
    median = statistics.median_low(ticks) if ticks else None
    record = {
        "board": board, "emulator": emulator, "machine": machine, "stand_in": bool(stand_in),
        "runtime": runtime, "model": str(model_path), "model_sha256": model_sha256,
        "clock_unit": unit, "run_id": harness.run_id, "host_reference": HOST_REFERENCE,
        "samples": samples,
        "agreement": {"matching": matching, "total": n, "ratio": matching / n if n else None,
                      "max_abs_diff": max_diff},
        "accuracy": {"device": device_hits / n if classify else None,
                     "host_int8": host_hits / n if classify else None},
        "latency": {
            "unit": unit, "min": min(ticks) if ticks else None, "median": median,
            "max": max(ticks) if ticks else None,
            "estimated_ms_at_clock": (median / clock_hz * 1e3) if median is not None and clock_hz else None,
            "clock_hz": clock_hz, "note": latency_note(unit),
        },
        "arena_bytes": harness.arena_bytes,
        "stack_bytes_used": int(harness.extras["stack"]) if harness.extras.get("stack", "").isdigit() else None,
        "size": size or {},
        "layers": [{"sample": l.sample, "op_index": l.op_index, "opcode": l.opcode, "ticks": l.ticks}
                   for l in harness.layers],
    }
    if extra:
        record.update(extra)
    return record


def emulate_path(build_dir: str | Path, board: str, emulator: str, per_layer: bool = False) -> Path:
    """emulate/<board>-<emulator>.json; a per-layer profile: emulate/<board>-<emulator>-layers.json."""
    return Path(build_dir) / "emulate" / f"{board}-{emulator}{'-layers' if per_layer else ''}.json"


def emulate(build_dir: str | Path, board_name: str, *, model: str | Path | None = None, samples: int = 10,
            emulator: str = "qemu", runtime: str = "aot", timeout_s: float = 300, per_layer: bool = False,
            opt: str = "-Os", seed: int = 0, dataset: str | Path | None = None, console: str | None = None,
            jobs: int = 2, boards_dirs=None, notify: Callable[[str], None] | None = None,
            runtime_choice: dict | None = None, keep_open: bool = False) -> EmulateResult:
    from .build import build_project
    from .emulators import get_runner
    from .firmware import project_dir_for, render_firmware, resolve_inputs

    say = notify or (lambda _m: None)
    build_dir = Path(build_dir)
    if timeout_s <= 0:
        raise ConfigError(f"--timeout-s must be positive, got {timeout_s:g}.")
    get_runner(emulator).require()          # checked when the run is planned
    model_path, board, sample_set = resolve_inputs(build_dir, board_name, model, samples, seed, dataset,
                                                   boards_dirs)
    if emulator == "renode":
        return _emulate_renode(build_dir, board, model_path, sample_set, runtime=runtime, timeout_s=timeout_s,
                               per_layer=per_layer, opt=opt, jobs=jobs, boards_dirs=boards_dirs, say=say,
                               runtime_choice=runtime_choice, keep_open=keep_open)
    # A per-layer profile is a firmware and a record of its own: its hooks add a few
    # instructions per operator, which must never reach the headline figures.
    suffix = "-layers" if per_layer else ""
    project_dir = project_dir_for(build_dir, board.name, runtime, "emulator", emulator)
    project_dir = project_dir.with_name(project_dir.name + suffix)
    say(f"rendering the {emulator} variant of {board.name} ({runtime}, {sample_set.count} samples)")
    project = render_firmware(model_path, board, project_dir, runtime=runtime, variant="emulator",
                              samples=sample_set, per_layer=per_layer, opt=opt, emulator=emulator,
                              boards_dirs=boards_dirs, console=console, runtime_options=calibration())
    say(f"building {project_dir.name} for {project.target_board} ({' '.join(project.core_flags)} {opt})")
    built = build_project(project_dir, opt=opt, jobs=jobs)
    say(f"running on {emulator} -M {project.machine}"
        + (f" (stand-in for {board.name})" if project.stand_in else ""))
    harness, _ = run_project(project_dir, emulator=emulator, timeout_s=timeout_s)
    host = host_outputs(model_path, sample_set.inputs)
    record = build_record(
        harness=harness, board=board.name, emulator=emulator, machine=project.machine,
        stand_in=project.stand_in, runtime=runtime, model_path=model_path, model_sha256=project.model_sha256,
        inputs=sample_set.inputs, labels=sample_set.labels, host=host, clock_hz=int(board.clock_hz),
        size=built.size,
        extra={"target_board": project.target_board, "samples_origin": sample_set.origin,
               "console": project.console, "icount_shift": project.icount_shift,
               "firmware": str(project_dir), "per_layer": per_layer,
               # how --runtime auto was resolved (tinyml.runtimes.resolve_runtime)
               "runtime_choice": runtime_choice or {"runtime": runtime, "requested": runtime, "note": None}})
    path = write_json(emulate_path(build_dir, board.name, emulator, per_layer), record)
    return EmulateResult(record, path, harness, project_dir)


def run_renode_suite(build_dir: Path, board, project, model_path: Path, *, timeout_s: float,
                     say=None, keep_open: bool = False) -> tuple[HarnessResult, Path]:
    """Run a built device project's ELF under renode-test: the suite goes to
    emulate/<board>-renode/; returns the complete harness result and the suite path, or raises
    EmulatorError with one sentence (what went wrong, renode-test's reason, the log path)."""
    from .analyze import analyze
    from .emulators import get_runner
    from .emulators.base import RunRequest
    from .renode import line_timeout_s, plan, write_suite

    say = say or (lambda _m: None)
    renode = plan(board)
    get_runner("renode").require()
    virtual_timeout_s = line_timeout_s(analyze(model_path, measure_arena=False).macs, renode.mips)
    elf = (Path(project.dir) / "build" / "firmware.elf").resolve()
    suite_dir = (build_dir / "emulate" / f"{board.name}-renode").resolve()
    suite = write_suite(suite_dir, board, project, elf, line_timeout_s=virtual_timeout_s)
    say(f"running renode-test {suite.name} ({renode.platform}, {renode.mips} MIPS, "
        f"{virtual_timeout_s:g} virtual s per harness line, {timeout_s:g} s host time)")
    request = RunRequest(elf=suite_dir / "firmware.elf", machine=str(suite), work_dir=suite_dir,
                         timeout_s=timeout_s, console=project.console,
                         extra_args=("--keep-open",) if keep_open else ())
    output = get_runner("renode").run(request)
    harness = checked_harness(output, f"{board.name} on renode {renode.platform}", "renode-test",
                              project.run_id, timeout_s)
    return harness, suite


def calibration() -> dict:
    """runtime_options for render_firmware: the tflm runtime measures its arena with these."""
    from .tflm_calibration import runtime_options

    return runtime_options()


RENODE_CLOCK_NOTE = ("Renode: DWT CYCCNT at PerformanceInMips x 10^6 Hz counts executed instructions, to within one "
                     "10 us quantum of virtual time (Renode models no pipeline or wait states), so these 'cycles' "
                     "are instructions, not the real core's cycles")


def _emulate_renode(build_dir: Path, board, model_path: Path, sample_set, *, runtime: str, timeout_s: float,
                    per_layer: bool, opt: str, jobs: int, boards_dirs, say, runtime_choice,
                    keep_open: bool) -> EmulateResult:
    """The board's own device firmware (its UART driver, DWT, clock init) on Renode's model of the board."""
    from .build import build_project
    from .firmware import project_dir_for, render_firmware
    from .renode import plan

    renode = plan(board)                    # a clear error before building when Renode has no such board
    project_dir = project_dir_for(build_dir, board.name, runtime, "emulator", "renode")
    say(f"rendering {board.name}'s device firmware for Renode ({runtime}, {sample_set.count} samples)")
    project = render_firmware(model_path, board, project_dir, runtime=runtime, variant="device",
                              samples=sample_set, per_layer=per_layer, opt=opt, boards_dirs=boards_dirs,
                              runtime_options=calibration())
    say(f"building {project_dir.name} ({' '.join(project.core_flags)} {opt})")
    built = build_project(project_dir, opt=opt, jobs=jobs)
    harness, suite = run_renode_suite(build_dir, board, project, model_path, timeout_s=timeout_s, say=say,
                                      keep_open=keep_open)
    host = host_outputs(model_path, sample_set.inputs)
    record = build_record(
        harness=harness, board=board.name, emulator="renode", machine=renode.platform, stand_in=False,
        runtime=runtime, model_path=model_path, model_sha256=project.model_sha256, inputs=sample_set.inputs,
        labels=sample_set.labels, host=host, clock_hz=int(board.clock_hz), size=built.size,
        extra={"target_board": board.name, "samples_origin": sample_set.origin, "console": project.console,
               "icount_shift": None, "firmware": str(project_dir), "per_layer": per_layer,
               "renode_suite": str(suite),
               "renode_mips": renode.mips, "clock_note": RENODE_CLOCK_NOTE,
               "runtime_choice": runtime_choice or {"runtime": runtime, "requested": runtime, "note": None}})
    path = write_json(build_dir / "emulate" / f"{board.name}-renode.json", record)
    return EmulateResult(record, path, harness, project_dir)
