"""Commands that span the pipeline: report (and run)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import build_dir_option, console, emit_json, json_option


@click.command("report")
@click.option("--boards-dir", "boards_dirs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Extra directory of board files (for the energy estimate).")
@build_dir_option
@json_option
def report(boards_dirs, build_dir, as_json):
    """Write report/report.{json,md,html} with plots from the build directory's artifacts.

    \b
    Example:
      tinyml report -B build/digits
      xdg-open build/digits/report/report.html
    """
    from ..report import report as run_report

    result = run_report(build_dir, list(boards_dirs) or None)
    if as_json:
        emit_json(result.data)
        return
    out = console()
    for name in ("report.html", "report.md", "report.json"):
        out.print(f"wrote {result.out_dir / name}")
    for name in result.data.get("plots", {}).values():
        out.print(f"wrote {result.out_dir / name}")


@click.command("run")
@click.argument("project_file", required=False, default="tinyml.yaml", type=click.Path(path_type=Path))
@click.option("--board", "boards", multiple=True, help="Run on this board only (repeatable); overrides the file.")
@click.option("--runtime", type=click.Choice(["auto", "aot", "tflm"]), default=None, help="Override the runtime.")
@click.option("--samples", type=int, default=None, help="Override the number of emulated samples.")
@click.option("--seed", type=int, default=None, help="Override the seed.")
@click.option("--boards-dir", "boards_dirs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Extra directory of board files.")
@json_option
def run(project_file, boards, runtime, samples, seed, boards_dirs, as_json):
    """Run every stage of a tinyml.yaml project: train/import, prune, quantize, analyze,
    fit check, build, emulate, report. Unchanged stages are skipped; a missed
    threshold exits with code 1.

    \b
    Example:
      tinyml run examples/digits/tinyml.yaml
      tinyml run examples/digits --board mps2-an386 --samples 20
    """
    from ..progress import cli_progress
    from ..project import load_project
    from ..run import raise_on_failures, run_project

    project = load_project(project_file)
    out = console() if not as_json else None
    with cli_progress(not as_json) as progress:
        result = run_project(project, boards=list(boards) or None, runtime=runtime, samples=samples, seed=seed,
                             boards_dirs=list(boards_dirs) or None, progress=progress,
                             say=(out.print if out else (lambda s: None)))
    if as_json:
        emit_json(result.to_dict())
    elif not result.failures:
        out.print(f"all thresholds met; report: {result.report_dir / 'report.html'}")
    raise_on_failures(result)
