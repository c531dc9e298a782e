"""MLPerf Tiny reference models through `tinyml check` and `tinyml bench`.

Give the folder holding the four MLPerf Tiny v1 reference models (downloaded
from the MLCommons Tiny repository, see bench.yaml), or model files. For every
model and every `check_boards` board it runs

    tinyml check MODEL --board BOARD --runtime RUNTIME --json

(exit 0: fits, 1: does not fit), and for every `bench_boards` board

    tinyml bench MODEL... --board BOARD --runtime RUNTIME... --json

(build, run in QEMU, instructions per inference, agreement with the
tflite-micro interpreter). Results go to <build dir>/results.json and
results.md; every command's full output to <build dir>/logs/.

Examples:
    python examples/bench/mlperf_tiny/run_bench.py ~/mlperf-tiny-models
    python examples/bench/mlperf_tiny/run_bench.py ../shared/models --bench-board mps2-an386 --model ad
    python examples/bench/mlperf_tiny/run_bench.py ../shared/models --dry-run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_config(path: Path) -> dict:
    import yaml

    config = yaml.safe_load(path.read_text())
    for key in ("models", "check_boards", "bench_boards", "runtimes"):
        if key not in config:
            raise SystemExit(f"{path}: missing '{key}'.")
    return config


def resolve_models(sources: list[str], config: dict, only: list[str]) -> dict[str, Path]:
    """name -> path. A folder must hold the files bench.yaml names; a file is taken as it is."""
    models: dict[str, Path] = {}
    wanted = only or list(config["models"])
    unknown = [n for n in wanted if n not in config["models"]]
    if unknown:
        raise SystemExit(f"unknown model name(s) {', '.join(unknown)} (bench.yaml has "
                         f"{', '.join(config['models'])}).")
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            missing = []
            for name in wanted:
                entry = config["models"][name]
                candidate = path / entry["file"]
                if candidate.is_file():
                    models[name] = candidate
                else:
                    missing.append(f"{entry['file']} (mlcommons/tiny {entry['source']})")
            if missing:
                raise SystemExit(f"{path} lacks {'; '.join(missing)}. Download the MLPerf Tiny reference "
                                 "models from the MLCommons Tiny repository into one folder.")
        elif path.is_file():
            models[path.stem] = path
        else:
            raise SystemExit(f"{path}: no such file or folder.")
    if not models:
        raise SystemExit("no models given.")
    return models


def tinyml_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "tinyml", *args]


def plan(models: dict[str, Path], check_boards: list[str], bench_boards: list[str], runtimes: list[str],
         build_dir: Path) -> list[dict]:
    steps = []
    for name, path in models.items():
        for board in check_boards:
            for runtime in runtimes:
                steps.append({"kind": "check", "model": name, "board": board, "runtime": runtime,
                              "argv": tinyml_argv("check", str(path), "--board", board, "--runtime", runtime,
                                                  "--json"),
                              "log": build_dir / "logs" / f"check-{name}-{board}-{runtime}.log"})
    runtime_args = [a for r in runtimes for a in ("--runtime", r)]
    for board in bench_boards:
        steps.append({"kind": "bench", "board": board, "runtimes": runtimes,
                      "argv": tinyml_argv("bench", *map(str, models.values()), "--board", board, *runtime_args,
                                          "--json", "-B", str(build_dir / "bench" / board)),
                      "log": build_dir / "logs" / f"bench-{board}.log"})
    return steps


def run_steps(steps: list[dict], timeout_s: float) -> list[dict]:
    from tinyml.proc import run

    results = []
    for step in steps:
        print(f"[{step['kind']}] {step['board']}" + (f" {step['model']} ({step['runtime']})"
                                                      if step["kind"] == "check" else ""), flush=True)
        res = run(step["argv"], timeout_s=timeout_s, log_path=step["log"], check=False)
        record = {k: v for k, v in step.items() if k not in ("argv", "log")}
        record["log"] = str(step["log"])
        try:
            record["output"] = json.loads(res.stdout) if res.stdout.strip() else None
        except json.JSONDecodeError:
            record["output"] = None
        if res.timed_out:
            record["status"] = "timeout"
        elif step["kind"] == "check" and res.returncode in (0, 1) and record["output"] is not None:
            record["status"] = "fits" if res.returncode == 0 else "does not fit"
        elif step["kind"] == "bench" and res.returncode == 0:
            record["status"] = "ok"
        else:
            lines = (res.stderr.strip() or res.stdout.strip()).splitlines()
            record["status"] = "error"
            record["reason"] = lines[0] if lines else f"exit code {res.returncode}"
        results.append(record)
    return results


def markdown(results: list[dict], models: list[str]) -> str:
    lines = ["# MLPerf Tiny reference models: fit check and bench", ""]
    checks = [r for r in results if r["kind"] == "check"]
    if checks:
        boards = list(dict.fromkeys(r["board"] for r in checks))
        lines += ["## `tinyml check` (flash / RAM fit before any build)", "",
                  "| model | runtime | " + " | ".join(boards) + " |",
                  "|---|---|" + "---|" * len(boards)]
        for model in models:
            for runtime in dict.fromkeys(r["runtime"] for r in checks):
                cells = [next((r["status"] for r in checks if (r["model"], r["board"], r["runtime"])
                               == (model, b, runtime)), "") for b in boards]
                lines.append(f"| {model} | {runtime} | " + " | ".join(cells) + " |")
        lines.append("")
    for r in (r for r in results if r["kind"] == "bench"):
        out = r.get("output") or {}
        where = out.get("machine") or "?"
        lines += [f"## `tinyml bench` on {r['board']} (QEMU {where}"
                  + (", stand-in" if out.get("stand_in") else "") + ")", ""]
        if r["status"] != "ok" and not out.get("rows"):
            lines += [f"{r['status']}: {r.get('reason', '')} (log: {r['log']})", ""]
            continue
        lines += ["| model | runtime | per inference | unit | flash bytes | RAM bytes | arena bytes | agreement |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in out.get("rows", []):
            if row.get("status") != "ok":
                lines.append(f"| {Path(row['model']).stem} | {row['runtime']} | {row['status']}: "
                             f"{row.get('reason', '')} | | | | | |")
                continue
            ag = row["agreement"]
            lines.append(f"| {Path(row['model']).stem} | {row['runtime']} | {row['per_inference']:,} | "
                         f"{row['clock_unit']} | {row['flash_bytes']:,} | {row['ram_bytes']:,} | "
                         f"{row['arena_bytes']:,} | {ag['matching']}/{ag['total']} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Examples:" + __doc__.split("Examples:")[1])
    parser.add_argument("models", nargs="+", help="folder with the reference models, or .tflite files")
    parser.add_argument("--config", type=Path, default=HERE / "bench.yaml")
    parser.add_argument("--model", action="append", default=[], help="only this model of bench.yaml (repeatable)")
    parser.add_argument("--check-board", action="append", default=None, help="instead of bench.yaml's check_boards (repeatable; '' for none)")
    parser.add_argument("--bench-board", action="append", default=None, help="instead of bench.yaml's bench_boards (repeatable; '' for none)")
    parser.add_argument("--runtime", action="append", default=None, help="instead of bench.yaml's runtimes")
    parser.add_argument("-B", "--build-dir", type=Path, default=Path("build/mlperf_tiny"))
    parser.add_argument("--timeout-s", type=float, default=1800)
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)

    config = load_config(args.config)
    models = resolve_models(args.models, config, args.model)
    check_boards = config["check_boards"] if args.check_board is None else [b for b in args.check_board if b]
    bench_boards = config["bench_boards"] if args.bench_board is None else [b for b in args.bench_board if b]
    runtimes = args.runtime or config["runtimes"]
    steps = plan(models, check_boards, bench_boards, runtimes, args.build_dir)
    if args.dry_run:
        import shlex
        for step in steps:
            print(shlex.join(step["argv"]))
        return 0
    results = run_steps(steps, args.timeout_s)
    from tinyml.artifacts import atomic_write_text, write_json
    write_json(args.build_dir / "results.json", {"models": {k: str(v) for k, v in models.items()},
                                                 "results": results})
    text = markdown(results, list(models))
    atomic_write_text(args.build_dir / "results.md", text + "\n")
    print(text)
    failed = [r for r in results if r["status"] in ("error", "timeout")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
