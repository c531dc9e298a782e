"""The `tinyml` command line: one command per stage, loaded lazily.

Commands only parse options and call the stage; stages raise TinyMLError,
which `main` turns into one sentence on stderr and an exit code. TensorFlow
is imported by the stages that need it, never here, so `tinyml --help` and
`tinyml boards list` stay fast.
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from ..errors import TinyMLError

# name -> "module:attribute" of a click.Command, in the order of the pipeline.
COMMANDS: dict[str, str] = {
    "train": "tinyml.cli.model_cmds:train",
    "import": "tinyml.cli.model_cmds:import_",
    "prune": "tinyml.cli.model_cmds:prune",
    "quantize": "tinyml.cli.model_cmds:quantize",
    "analyze": "tinyml.cli.model_cmds:analyze",
    "boards": "tinyml.cli.boards_cmds:boards",
    "check": "tinyml.cli.check_cmd:check",
    "export": "tinyml.cli.firmware_cmds:export",
    "firmware": "tinyml.cli.firmware_cmds:firmware",
    "build": "tinyml.cli.firmware_cmds:build",
    "emulate": "tinyml.cli.firmware_cmds:emulate",
    "bench": "tinyml.cli.firmware_cmds:bench",
    "verify": "tinyml.cli.verify_cmd:verify",
    "report": "tinyml.cli.pipeline_cmds:report",
    "flash": "tinyml.cli.flash_cmds:flash",
    "monitor": "tinyml.cli.flash_cmds:monitor",
    "run": "tinyml.cli.pipeline_cmds:run",
    "tflm": "tinyml.cli.tflm_cmds:tflm",
    "renode": "tinyml.cli.renode_cmds:renode",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors.")
@click.version_option(package_name="tinyml")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """tinyml: from a Keras model to int8 firmware proven on an emulated Cortex-M.

    \b
    Stages, in pipeline order:
      train / import -> prune -> quantize -> analyze -> check -> export
      -> firmware -> build -> emulate / verify / bench -> report -> flash
    `tinyml run` chains them from a tinyml.yaml project file.

    \b
    Example:
      tinyml train --zoo digits_cnn --dataset digits -B build/digits
      tinyml quantize -B build/digits
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if debug:
        import os
        os.environ["TINYML_DEBUG"] = "1"


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="tinyml", standalone_mode=False)
    except TinyMLError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            click.echo(exc.hint, err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except OSError as exc:
        # permission denied, disk full, a read-only file system: the path and the system's reason
        if debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"error: {where}{exc.strerror or exc}.", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one sentence, no traceback
        if debug:
            traceback.print_exc()
        click.echo(f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback).",
                   err=True)
        sys.exit(3)
    sys.exit(0)
