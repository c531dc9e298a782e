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
