"""Every `tinyml ...` command in the README names a real command, and every
option it uses exists on that command."""

import re
import shlex
from pathlib import Path

import click

from tinyml.cli import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_commands() -> list[str]:
    text = README.read_text().replace("\\\n", " ")
    cmds = []
    for line in text.splitlines():
        # code blocks are indented by four spaces
        if line.startswith("    ") and line.strip().startswith("tinyml "):
            cmds.append(line.strip().split("  #")[0].strip())
    for inline in re.findall(r"`(tinyml [^`]+)`", text):
        cmds.append(inline)
    return cmds


def test_readme_has_commands():
    assert len(_readme_commands()) > 20


def test_every_readme_command_exists_with_its_options():
    ctx = click.Context(cli)
    for line in _readme_commands():
        words = shlex.split(line)[1:]
        command: click.Command = cli
        while words and isinstance(command, click.Group) and not words[0].startswith("-"):
            name = words.pop(0)
            if name in ("COMMAND", "NAME"):
                break
            sub = command.get_command(ctx, name)
            assert sub is not None, f"README: unknown command in `{line}`"
            command = sub
        known = {opt for p in command.params for opt in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}
        known |= {"--help", "-h", "--debug"}
        for word in words:
            if word.startswith("-") and word != "-":
                option = word.split("=")[0]
                assert option in known, f"README: `{line}` uses {option}, which `{command.name}` does not have"
