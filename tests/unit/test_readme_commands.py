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


def _example_tables() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(the `tinyml run` examples, the benchmark examples) of the README: (folder, command to run it)."""
    text = README.read_text()
    run_part, _, bench_part = text.partition("A benchmark, not a `tinyml run` project")
    row = re.compile(r"^\| `(examples/[^`]+)` \|[^|]*\| `([^`]+)` \|$", re.M)
    return row.findall(run_part.split("Examples of `tinyml run`", 1)[1]), row.findall(bench_part)


def test_every_run_example_is_a_tinyml_run_project():
    run_examples, bench_examples = _example_tables()
    root = README.parent
    listed = {folder for folder, _ in run_examples}
    # every example folder with a tinyml.yaml is listed, and every listed one has one
    assert listed == {str(p.parent.relative_to(root)) for p in (root / "examples").glob("*/tinyml.yaml")}
    for folder, command in run_examples:
        assert (root / folder / "tinyml.yaml").is_file(), folder
        assert command == "make demo" or command == f"tinyml run {folder}/tinyml.yaml", command
    assert bench_examples, "the README lists the benchmark example"
    for folder, command in bench_examples:
        assert not (root / folder / "tinyml.yaml").exists()
        script = command.split()[1]
        assert command.startswith("python ") and script.startswith(folder) and (root / script).is_file(), command
