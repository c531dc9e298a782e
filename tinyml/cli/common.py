"""Options and output helpers shared by the commands."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import click

from ..artifacts import to_json


def build_dir_option(func: Callable) -> Callable:
    return click.option(
        "-B", "--build-dir", type=click.Path(file_okay=False, path_type=Path),
        default=lambda: os.environ.get("TINYML_BUILD_DIR", "build/default"),
        show_default="build/default or $TINYML_BUILD_DIR",
        help="Build directory of the project: every stage reads and writes here.")(func)


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the result as JSON (for CI) instead of a table.")(func)


def emit_json(obj: Any) -> None:
    click.echo(to_json(obj), nl=False)


def console():
    """A rich console on stdout (lazy import keeps --help fast)."""
    from rich.console import Console
    return Console(highlight=False, soft_wrap=True)


def err_console():
    from rich.console import Console
    return Console(stderr=True, highlight=False, soft_wrap=True)


def loads(text: str) -> Any:
    return json.loads(text)
