"""`tinyml bench`: one table, a row per model and runtime, on an emulated board.

Every model runs in the board's emulator variant with the same inputs as
/work/shared/BENCHMARKS.md: sample 0 is the pattern byte i = (i*37+11) & 0xFF
(so the instruction counts compare with the TFLM figures there), then a few
seeded random inputs. Each output is compared with the tflite-micro
interpreter bit for bit. QEMU's -icount clock makes the counts deterministic:
two runs print the same numbers. With emulator="renode" the board's own device
firmware runs on Renode's model of the board and the counts are its DWT's
CYCCNT, which counts executed instructions (to within one 10 us quantum).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .artifacts import write_json
from .errors import ConfigError, ModelError, TinyMLError

RUNTIME_STATUS_UNAVAILABLE = "unavailable"


@dataclass
class BenchResult:
    board: str
    machine: str | None
    stand_in: bool
    rows: list[dict]
    path: Path

    @property
    def unavailable(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == RUNTIME_STATUS_UNAVAILABLE]

    def to_dict(self) -> dict:
        return {"board": self.board, "machine": self.machine, "stand_in": self.stand_in, "rows": self.rows}


def runtime_available(runtime: str) -> str | None:
    """None when the runtime can build firmware, else the reason it cannot."""
    if runtime == "aot":
        return None
    if runtime == "tflm":
        from .runtimes.tflm import find_tree, how_to_get_tflm

        if find_tree(None) is None:
            return "no TensorFlow Lite Micro tree found. " + how_to_get_tflm()
        return None
    return f"unknown runtime {runtime!r}"


def _is_library_failure(exc: Exception) -> bool:
    from .runtimes.tflm.library import LibraryBuildError

    return isinstance(exc, LibraryBuildError)


def bench(models: list[str | Path], board_name: str, *, runtimes: list[str] | tuple[str, ...] = ("aot",),
          build_dir: str | Path = "build/bench", samples: int = 4, seed: int = 0, timeout_s: float = 600,
          opt: str = "-Os", jobs: int = 2, emulator: str = "qemu", boards_dirs=None,
          notify: Callable[[str], None] | None = None, runtime_choices: list[dict] | None = None) -> BenchResult:
    from .build import build_project
    from .emulate import build_record, calibration, host_outputs, run_project, run_renode_suite
    from .emulators import get_runner
    from .firmware import _load_board, bench_samples, render_firmware

    say = notify or (lambda _m: None)
    if not models:
        raise ConfigError("name at least one .tflite model to benchmark.")
    if samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {samples}.")
    runtimes = list(dict.fromkeys(runtimes or ["aot"]))
    paths = [Path(m) for m in models]
    for p in paths:
        if not p.is_file():
            raise ModelError(f"{p} does not exist.", path=p)
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise ConfigError("two models share a file name; bench names its rows and folders after it.")
    get_runner(emulator).require()
    board = _load_board(board_name, boards_dirs)
    build_dir = Path(build_dir)
    rows: list[dict] = []
    machine, stand_in = None, False
    # A runtime whose library does not build for this core fails every model the
    # same way: tried once, the same one-sentence reason for the other rows.
    broken: dict[str, str] = {}
    for path in paths:
        sample_set = bench_samples(path, samples, seed)
        host = None
        for runtime in runtimes:
            base = {"model": path.stem, "model_path": str(path), "runtime": runtime, "board": board.name}
            reason = runtime_available(runtime)
            if reason is not None:
                rows.append({**base, "status": RUNTIME_STATUS_UNAVAILABLE, "reason": reason})
                continue
            if runtime in broken:
                rows.append({**base, "status": "error", "reason": broken[runtime]})
                continue
            project_dir = build_dir / "bench" / (f"{path.stem}-{board.name}-{runtime}"
                                                 + ("-renode" if emulator == "renode" else ""))
            try:
                say(f"{path.stem} / {runtime}: render + build")
                # Renode runs the board's own device firmware; QEMU the emulator variant
                project = render_firmware(path, board, project_dir, runtime=runtime,
                                          variant="device" if emulator == "renode" else "emulator",
                                          samples=sample_set, opt=opt,
                                          emulator="qemu" if emulator == "renode" else emulator,
                                          boards_dirs=boards_dirs, runtime_options=calibration())
                built = build_project(project_dir, opt=opt, jobs=jobs)
                if emulator == "renode":
                    harness, _ = run_renode_suite(build_dir / "bench" / f"{path.stem}-{runtime}", board, project, path,
                                                  timeout_s=timeout_s, say=say)
                    project_machine, project_stand_in = board.emulators.renode.platform, False
                else:
                    say(f"{path.stem} / {runtime}: run on {emulator} -M {project.machine}")
                    harness, _ = run_project(project_dir, emulator=emulator, timeout_s=timeout_s)
                    project_machine, project_stand_in = project.machine, project.stand_in
            except TinyMLError as exc:
                # One model a runtime cannot take (an operator it lacks, too big for the
                # machine) must not hide the others' rows.
                rows.append({**base, "status": "error", "reason": exc.message})
                if _is_library_failure(exc):
                    broken[runtime] = exc.message
                    say(f"{runtime}: {exc.message}")
                continue
            machine, stand_in = project_machine, project_stand_in
            if host is None:
                host = host_outputs(path, sample_set.inputs)
            record = build_record(harness=harness, board=board.name, emulator=emulator, machine=machine,
                                  stand_in=stand_in, runtime=runtime, model_path=path,
                                  model_sha256=project.model_sha256, inputs=sample_set.inputs, labels=None,
                                  host=host, clock_hz=int(board.clock_hz), size=built.size)
            ticks = [s["ticks"] for s in record["samples"]]
            size = built.size
            rows.append({
                **base, "status": "ok", "emulator": emulator, "machine": machine, "stand_in": stand_in,
                "clock_unit": record["clock_unit"],
                "per_inference": ticks[0],                 # the BENCHMARKS.md pattern input
                "per_inference_median": statistics.median_low(ticks),
                "per_inference_min": min(ticks), "per_inference_max": max(ticks),
                "flash_bytes": size["flash_bytes"], "ram_bytes": size["ram_bytes"],
                "model_flash_bytes": size["split"]["model"], "runtime_flash_bytes": size["split"]["runtime"],
                "application_flash_bytes": size["split"]["application"],
                "samples_flash_bytes": size.get("samples_bytes"),
                "arena_bytes": record["arena_bytes"], "stack_bytes_used": record["stack_bytes_used"],
                "agreement": record["agreement"], "samples": len(ticks),
                "elf_sha256": size["elf_sha256"],
                "pattern_output_head": record["samples"][0]["output"][:8],
            })
    name = f"bench-{board.name}" + ("-renode" if emulator == "renode" else "")
    result = BenchResult(board.name, machine, stand_in, rows, build_dir / "bench" / f"{name}.json")
    write_json(result.path, {**result.to_dict(), "samples_origin": (
        f"sample 0 = BENCHMARKS.md pattern (byte i = (i*37+11) & 0xFF), then {samples - 1} seeded random "
        f"int8 inputs (seed {seed})"), "opt": opt, "runtime_choices": runtime_choices or []})
    return result
