"""`tinyml run`: every stage of a project file, in order, into one build
directory; stages whose inputs did not change are skipped (content hashes);
thresholds turn into a non-zero exit so the run can gate CI."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .data import DatasetSpec
from .errors import ThresholdError
from .project import Project
from .stamps import record, stage_key, up_to_date


@dataclass
class StageOutcome:
    name: str
    skipped: bool
    detail: str = ""
    seconds: float = 0.0            # wall time of the stage (the stamp check alone when skipped)

    def to_dict(self) -> dict:
        return {"name": self.name, "skipped": self.skipped, "detail": self.detail,
                "seconds": round(self.seconds, 3)}


@dataclass
class RunResult:
    build_dir: Path
    stages: list[StageOutcome] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    report_dir: Path | None = None
    runtime: str | None = None

    def to_dict(self) -> dict:
        return {"build_dir": str(self.build_dir), "report": str(self.report_dir) if self.report_dir else None,
                "runtime": self.runtime,
                "stages": [s.to_dict() for s in self.stages],
                "total_seconds": round(sum(s.seconds for s in self.stages), 3),
                "notes": self.notes, "warnings": self.warnings, "threshold_failures": self.failures,
                "passed": not self.failures}


PROFILE_SAMPLES = 3        # inputs the per-layer profile runs (its counts are per input, not a median of many)
RUN_RECORD = "run.json"     # <build>/run.json: the last `tinyml run`'s stages and their wall times


def _dataset_spec(project: Project) -> DatasetSpec | None:
    ds = project.dataset
    if ds is None:
        return None
    return DatasetSpec(kind=ds.kind, path=str(project.path(ds.path)) if ds.path else None, seed=project.seed,
                       test_fraction=ds.test_fraction, label_column=ds.label_column,
                       image_size=tuple(ds.image_size) if ds.image_size else None,
                       grayscale=ds.grayscale,
                       # paths among the options are relative to the project file too
                       options={k: (str(project.path(v)) if k.endswith("_dir") and isinstance(v, str) else v)
                                for k, v in ds.options.items()})


class _Runner:
    def __init__(self, project: Project, build_dir: Path, progress, say: Callable[[str], None]):
        self.project, self.build, self.progress, self.say = project, build_dir, progress, say
        self.result = RunResult(build_dir)
        self.check_paths: list[Path] = []      # this run's fit checks, for the thresholds

    def stage(self, name: str, stage_dir: Path, key: str, outputs: list[Path], action: Callable[[], str]):
        # Stamps live apart from the artifacts, so that no stage or the report mistakes them for results.
        stage_dir = self.build / ".stamps"
        start = time.perf_counter()
        if up_to_date(stage_dir, name, key, outputs):
            self.result.stages.append(StageOutcome(name, True, "inputs unchanged", time.perf_counter() - start))
            self.say(f"skip  {name}: inputs unchanged")
            return
        self.say(f"run   {name}")
        detail = action() or ""
        record(stage_dir, name, key)
        seconds = time.perf_counter() - start
        self.result.stages.append(StageOutcome(name, False, detail, seconds))
        if detail:
            self.say(f"       {detail}")
        self.say(f"       {_duration(seconds)}")

    def warn_new(self) -> None:
        """Say each accuracy warning the artifacts now give, once (a skipped stage's too)."""
        from .guardrails import accuracy_warnings

        for warning in accuracy_warnings(self.build):
            if warning not in self.result.warnings:
                self.result.warnings.append(warning)
                self.say(f"warning: {warning}")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def run_project(project: Project, *, boards: list[str] | None = None, runtime: str | None = None,
                samples: int | None = None, seed: int | None = None, boards_dirs=None,
                progress=None, say: Callable[[str], None] = lambda s: None) -> RunResult:
    """Run the project; CLI overrides (`boards`, `runtime`, `samples`, `seed`) apply to this run only."""
    if seed is not None:
        project = project.model_copy(update={"seed": seed})
    if runtime is not None:
        project = project.model_copy(update={"runtime": runtime})
    emulate_boards = list(boards) if boards else list(project.emulate.boards)
    check_boards = list(boards) if boards else list(dict.fromkeys(project.boards + project.emulate.boards))
    n_samples = samples or project.emulate.samples
    build = project.build_path
    r = _Runner(project, build, progress, say)
    spec = _dataset_spec(project)
    m = project.model

    # 1. model: train from the zoo, or import a file
    model_out = build / "model" / "float.keras"
    if m.zoo:
        from .train import train
        params = {"zoo": m.zoo, "width": m.width, "epochs": m.epochs, "batch_size": m.batch_size,
                  "lr": m.learning_rate, "seed": project.seed, "dataset": spec.to_dict() if spec else None}
        dataset_inputs = [Path(spec.path)] if spec and spec.path else []
        r.stage("train", build / "model", stage_key(params, dataset_inputs), [model_out], lambda: _train(
            train, build, m, spec or DatasetSpec(seed=project.seed), project.seed, progress))
    else:
        from .importer import import_model
        source = project.path(m.file)
        params = {"dataset": spec.to_dict() if spec else None}
        is_tflite = source.suffix.lower() == ".tflite"
        outputs = [build / "quantize" / "model.tflite"] if is_tflite else [model_out]
        r.stage("import", build / ("quantize" if is_tflite else "model"), stage_key(params, [source]), outputs,
                lambda: f"imported {import_model(build, source, dataset=spec).kind} model")
    int8 = build / "quantize" / "model.tflite"

    # 2-3. prune and quantize (not for an imported int8 .tflite)
    if m.zoo or not str(m.file).lower().endswith(".tflite"):
        if project.optimize.prune is not None:
            from .prune import prune
            p = project.optimize.prune
            params = {**p.model_dump(), "seed": project.seed}
            r.stage("prune", build / "optimize", stage_key(params, [model_out]),
                    [build / "optimize" / "optimized.keras"],
                    lambda: _prune(prune, build, p, project.seed, progress))
        from .quantize import quantize, source_model
        src = source_model(build)
        params = {"representative_samples": project.quantize.representative_samples}
        r.stage("quantize", build / "quantize", stage_key(params, [src, build / "model" / "heldout.npz"]), [int8],
                lambda: _quantize(quantize, build, project.quantize.representative_samples, progress))
        r.warn_new()

    # 4. analyze
    from .analyze import analyze_to_build
    r.stage("analyze", build / "analyze", stage_key({}, [int8]), [build / "analyze" / "analysis.json"],
            lambda: f"{analyze_to_build(int8, build).macs:,} MACs per inference")

    # 5-7. fit check, firmware, emulation: see _board_stages
    _board_stages(r, int8, check_boards, emulate_boards, n_samples, boards_dirs)

    # 8. report, always; run.json first so that the report shows this run's stage times
    from .artifacts import write_json
    from .report import report
    r.result.failures = evaluate_thresholds(project, build, emulate_boards, r.check_paths)
    write_json(build / RUN_RECORD, r.result.to_dict())
    start = time.perf_counter()
    r.result.report_dir = report(build, boards_dirs).out_dir
    seconds = time.perf_counter() - start
    r.result.stages.append(StageOutcome("report", False, str(r.result.report_dir / "report.html"), seconds))
    say(f"run   report -> {r.result.report_dir / 'report.html'}")
    say(f"       {_duration(seconds)}")
    write_json(build / RUN_RECORD, r.result.to_dict())
    total = sum(s.seconds for s in r.result.stages)
    say("stage times: " + ", ".join(f"{s.name} {_duration(s.seconds)}" + (" (skipped)" if s.skipped else "")
                                    for s in r.result.stages) + f"; total {_duration(total)}")
    return r.result


def _train(train, build, m, spec, seed, progress) -> str:
    res = train(build, m.zoo, spec, epochs=m.epochs, batch_size=m.batch_size, width=m.width,
                learning_rate=m.learning_rate, seed=seed, progress=progress)
    key = "accuracy" if "accuracy" in res.metrics else "reconstruction_mse"
    return f"float {key} {res.metrics[key]:.4f}"


def _prune(prune, build, p, seed, progress) -> str:
    res = prune(build, sparsity=p.sparsity, schedule=p.schedule, fine_tune_epochs=p.fine_tune_epochs,
                structured_2_4=p.structured_2_4, seed=seed, progress=progress)
    return f"sparsity {res.metrics['achieved_sparsity']:.1%}"


def _quantize(quantize, build, samples, progress) -> str:
    res = quantize(build, representative_samples=samples, progress=progress)
    q = res.metrics
    key = "accuracy" if "accuracy" in q["int8_tflm"] else "reconstruction_mse"
    return f"int8 {key} {q['int8_tflm'][key]:.4f} (float {q['float_tflite'][key]:.4f}), {q['int8_bytes']:,} bytes"


def _board_stages(r: _Runner, int8: Path, check_boards, emulate_boards, samples, boards_dirs) -> None:
    from .boards import load_board
    from .resources import data_dir

    from .runtimes import resolve_runtime

    project, build = r.project, r.build
    choice = resolve_runtime(project.runtime)
    runtime = choice.runtime
    r.result.runtime = runtime
    if choice.note:
        r.result.notes.append(choice.note)
        r.say(f"runtime auto: {choice.note}")
    templates = data_dir("firmware_templates")
    heldout = build / "model" / "heldout.npz"

    # 5. fit check on every board
    from .check import check_path
    fitting = set()
    for name in check_boards:
        board = load_board(name, boards_dirs)
        out = check_path(build, board.name, runtime)
        r.check_paths.append(out)
        key = stage_key({"runtime": runtime}, [int8, board.source_path])

        def do_check(board=board):
            from .check import check_to_build
            result, _ = check_to_build(int8, board.name, build, runtime=runtime, boards_dirs=boards_dirs)
            return result.verdict()
        r.stage(f"check {board.name}", build / "check", key, [out], do_check)
        import json
        if json.loads(out.read_text()).get("fits"):
            fitting.add(board.name)

    # 6. device firmware for every board it fits (what `tinyml flash` puts on the board)
    for name in check_boards:
        board = load_board(name, boards_dirs)
        if board.name not in fitting:
            r.say(f"skip  build {board.name}: the model does not fit "
                  f"(see {check_path(build, board.name, runtime).relative_to(build)})")
            continue
        from .firmware import project_dir_for
        proj = project_dir_for(build, board.name, runtime, "device")
        key = stage_key({"runtime": runtime}, [int8, board.source_path, templates])

        def do_build(board=board):
            from .build import build as run_build
            from .firmware import firmware
            from .check import check_to_build
            from .tflm_calibration import runtime_options
            firmware(build, board.name, runtime=runtime, boards_dirs=boards_dirs, runtime_options=runtime_options())
            res = run_build(build, board.name, runtime=runtime, boards_dirs=boards_dirs)
            # The fit check again, now from the linked ELF: the estimate is replaced.
            checked, _ = check_to_build(int8, board.name, build, runtime=runtime, boards_dirs=boards_dirs)
            return (f"flash {res.size['flash_bytes']:,} B, RAM {res.size['ram_bytes']:,} B; "
                    f"fit check from the linked ELF: {checked.verdict()}")
        r.stage(f"build {board.name}", proj, key, [proj / "build" / "firmware.elf"], do_build)

    # 7. emulation on the emulate boards
    for name in emulate_boards:
        board = load_board(name, boards_dirs)
        emulator = project.emulate.emulator
        out = build / "emulate" / f"{board.name}-{emulator}.json"
        params = {"runtime": runtime, "samples": samples, "seed": project.seed, "emulator": emulator}
        key = stage_key(params, [int8, heldout, board.source_path, templates])

        def do_emulate(board=board, emulator=emulator):
            from .emulate import emulate
            res = emulate(build, board.name, samples=samples, emulator=emulator, runtime=runtime,
                          timeout_s=project.emulate.timeout_s, seed=project.seed, boards_dirs=boards_dirs,
                          notify=lambda m: r.say(f"       {m}"), runtime_choice=choice.to_dict())
            rec = res.record
            agr, acc = rec["agreement"], (rec.get("accuracy") or {}).get("device")
            lat = rec.get("latency") or {}
            return (f"agreement {agr['matching']}/{agr['total']}"
                    + (f", device accuracy {acc:.2%}" if acc is not None else "")
                    + (f", median {lat.get('median'):,} {lat.get('unit')}" if lat.get("median") else ""))
        r.stage(f"emulate {board.name}", build / "emulate", key, [out], do_emulate)

        # 7b. per-layer profile (aot): a firmware of its own, so that the hooks' few
        # instructions per operator stay out of the figures above.
        if runtime == "aot" and project.emulate.per_layer:
            from .emulate import emulate_path
            layers_out = emulate_path(build, board.name, emulator, per_layer=True)
            profile_samples = min(samples, PROFILE_SAMPLES)

            def do_profile(board=board, emulator=emulator, profile_samples=profile_samples):
                from .emulate import emulate
                res = emulate(build, board.name, samples=profile_samples, emulator=emulator, runtime=runtime,
                              timeout_s=project.emulate.timeout_s, seed=project.seed, boards_dirs=boards_dirs,
                              per_layer=True, runtime_choice=choice.to_dict())
                ops = {l["op_index"] for l in res.record["layers"]}
                return f"{len(ops)} operators measured on {profile_samples} sample(s)"
            r.stage(f"profile {board.name}", build / "emulate",
                    stage_key({**params, "per_layer": True, "samples": profile_samples},
                              [int8, heldout, board.source_path, templates]),
                    [layers_out], do_profile)


def evaluate_thresholds(project: Project, build: Path, emulate_boards: list[str],
                        check_paths: list[Path] | None = None) -> list[str]:
    """Every threshold the results miss, as one sentence each. `check_paths`: this run's
    fit checks (check/<board>-<runtime>.json); by default every check in the build."""
    import json
    t = project.thresholds
    failures = []
    for board in emulate_boards:
        path = build / "emulate" / f"{board}-{project.emulate.emulator}.json"
        if not path.exists():
            failures.append(f"{board}: no emulation result ({path} is missing).")
            continue
        res = json.loads(path.read_text())
        acc = (res.get("accuracy") or {}).get("device")
        if t.min_device_accuracy is not None and acc is not None and acc < t.min_device_accuracy:
            failures.append(f"{board}: device accuracy {acc:.2%} is below min_device_accuracy "
                            f"{t.min_device_accuracy:.2%}.")
        agreement = (res.get("agreement") or {}).get("ratio")
        if t.min_agreement is not None and agreement is not None and agreement < t.min_agreement:
            failures.append(f"{board}: agreement with the host int8 model {agreement:.2%} is below "
                            f"min_agreement {t.min_agreement:.2%}.")
        ms = (res.get("latency") or {}).get("estimated_ms_at_clock")
        if t.max_latency_ms is not None and ms is not None and ms > t.max_latency_ms:
            failures.append(f"{board}: estimated latency {ms:.2f} ms exceeds max_latency_ms {t.max_latency_ms:g}.")
    if check_paths is None:
        check_paths = sorted((build / "check").glob("*.json"))
    for path in check_paths:
        res = json.loads(path.read_text())
        for region, limit in (("flash", t.min_flash_headroom_percent), ("ram", t.min_ram_headroom_percent)):
            part = res.get(region) or {}
            if limit is None or not part.get("available_bytes"):
                continue
            headroom = 100.0 * part.get("headroom_bytes", 0) / part["available_bytes"]
            if headroom < limit:
                failures.append(f"{path.stem}: {region} headroom {headroom:.1f}% is below "
                                f"min_{region}_headroom_percent {limit:g}%.")
    return failures


def raise_on_failures(result: RunResult) -> None:
    if result.failures:
        raise ThresholdError(f"{len(result.failures)} threshold(s) failed: " + " ".join(result.failures))
