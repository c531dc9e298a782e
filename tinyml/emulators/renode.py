"""Run a board's firmware in Renode and collect its UART lines.

    renode-test <board>.robot -r <work_dir>/robot --variable UART_LOG:<work_dir>/uart.log

The suite (rendered by tinyml.renode beside the ELF) builds the machine from
the board's platform, adds the DWT, loads the ELF, waits for every harness line
in virtual time and fails fast on `TINYML FAIL`; the UART's file backend keeps
every line, which is what this runner returns. renode-test exits 0 when the
suite passed, 1 when a test failed and 2 when Renode crashed; a stuck Renode is
killed after the host-time limit. `--keep-open` runs `renode --console
--disable-gui` with the .resc in the foreground instead, for a person at the
monitor in the terminal.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .. import proc
from ..errors import ToolError
from .base import RunOutput, RunRequest, Runner

INSTALL_HINT = ("install Renode: the portable Linux package (renode-<version>.linux-portable.tar.gz from "
                "https://github.com/renode/renode/releases, unpack it and put its folder on PATH) or the "
                ".deb/.rpm package from the same page; renode-test also needs its Python packages: "
                "pip install -r <renode folder>/tests/requirements.txt")
RENODE_TEST = "renode-test"
RENODE = "renode"
# A venv with renode-test's Python requirements (robotframework 6.1, psutil, ...), kept apart from
# tinyml's own so its pins cannot disturb ours; renode-test runs the `python3` it finds on PATH.
RENODE_VENV_ENV = "TINYML_RENODE_VENV"


def run_environment(private_dir: Path) -> dict[str, str]:
    """Environment for one Renode run. Renode deletes every $TMPDIR/renode-* folder whose suffix is
    not a live pid when it starts, and unpacks its CPU cores there: each run gets a TMPDIR of its
    own, and its own $XDG_CONFIG_HOME (config.lock), so parallel runs cannot break each other."""
    tmp = private_dir / "tmp"
    config = private_dir / "config"
    tmp.mkdir(parents=True, exist_ok=True)
    config.mkdir(parents=True, exist_ok=True)
    return {"TMPDIR": str(tmp), "XDG_CONFIG_HOME": str(config), "PATH": run_environment_path()}


def _tool(name: str) -> str | None:
    """TINYML_RENODE_DIR (a portable Renode folder) first, then PATH."""
    folder = os.environ.get("TINYML_RENODE_DIR")
    if folder:
        cand = Path(folder) / name
        return str(cand) if cand.is_file() and os.access(cand, os.X_OK) else None
    return shutil.which(name)


MONO_PACKAGES = ("mono-runtime libmono-posix4.0-cil libmono-microsoft-csharp4.0-cil libmono-system-xml-linq4.0-cil "
                 "libmono-system-drawing4.0-cil")


def missing_piece() -> str | None:
    """Why Renode cannot run tinyml's suites here (one sentence), or None when it can."""
    import subprocess

    test = _tool(RENODE_TEST)
    if test is None:
        return f"the renode emulator is not installed; {INSTALL_HINT}."
    root = Path(test).resolve().parent
    if (root / "output" / "bin" / "Release" / "Renode.exe").is_file() and shutil.which("mono") is None:
        return (f"the Renode in {root} is a Mono build and mono is not installed: "
                f"apt-get install {MONO_PACKAGES} (or mono-complete).")
    path = run_environment_path()
    python = shutil.which("python3", path=path)
    if python is None or subprocess.run([python, "-c", "import robot, psutil, yaml"], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, timeout=60).returncode != 0:
        return (f"renode-test runs {python or 'python3, which is not on PATH'}, which lacks its Python packages: "
                f"make a venv, pip install -r {root / 'tests' / 'requirements.txt'} in it and set "
                f"{RENODE_VENV_ENV} to that venv.")
    return None


def run_environment_path() -> str:
    """The PATH renode-test runs with: TINYML_RENODE_VENV's bin first, when set."""
    venv = os.environ.get(RENODE_VENV_ENV)
    path = os.environ.get("PATH", "")
    return str(Path(venv) / "bin") + os.pathsep + path if venv else path


def suite_failure(stdout: str) -> str:
    """The reason renode-test gives for a failed test: the first line of its boxed error."""
    import re

    for line in stdout.splitlines():
        text = line.strip().removeprefix("\u2551").strip()          # renode-test boxes errors with U+2551
        if line.strip().startswith("\u2551") and text:
            text = re.sub(r"^(KeywordException|Exception): ", "", text)
            return text.rstrip(".")
    return "the suite failed"


class RenodeRunner(Runner):
    name = "renode"
    install_hint = INSTALL_HINT

    def is_available(self) -> bool:
        return _tool(RENODE_TEST) is not None

    def require(self) -> None:
        problem = missing_piece()
        if problem is not None:
            raise ToolError(problem)

    def argv(self, request: RunRequest) -> list[str]:
        """request.machine is the rendered .robot suite."""
        work = Path(request.work_dir)
        if "--keep-open" in request.extra_args:
            resc = Path(request.machine).with_suffix(".resc")
            script = (f"$elf=@{request.elf}; $uart_log=@{work / 'uart.log'}; include @{resc}; start")
            return [_tool(RENODE) or RENODE, "--console", "--disable-gui", "-e", script]
        return [_tool(RENODE_TEST) or RENODE_TEST, str(request.machine), "-r", str(work / "robot"),
                "--variable", f"ELF:{request.elf}", "--variable", f"UART_LOG:{work / 'uart.log'}"]

    def run(self, request: RunRequest) -> RunOutput:
        work = Path(request.work_dir)
        uart_log = work / "uart.log"
        uart_log.unlink(missing_ok=True)
        argv = self.argv(request)
        log = work / "renode.log"
        private = Path(tempfile.mkdtemp(prefix="tinyml-renode-"))
        try:
            env = run_environment(private)
            if "--keep-open" in request.extra_args:
                # interactive: the person closes Renode; no host-time limit
                import subprocess
                returncode = subprocess.call(argv, cwd=work, env={**os.environ, **env})
                timed_out, stdout = False, ""
            else:
                result = proc.run(argv, cwd=work, timeout_s=request.timeout_s, log_path=log, check=False,
                                  env=env, process_group=True)
                returncode, timed_out = result.returncode, result.timed_out
                stdout = result.stdout
        finally:
            shutil.rmtree(private, ignore_errors=True)
        text = uart_log.read_text(errors="replace") if uart_log.is_file() else ""
        lines = [line.rstrip("\r") for line in text.splitlines()]
        notes = []
        if timed_out:
            notes.append(f"log: {log}")
        elif returncode == 1:
            notes.append(f"renode-test: {suite_failure(stdout)}; log: {log}")
        elif returncode not in (0, None):
            notes.append(f"renode-test exited with {returncode}: Renode crashed or could not start; log: {log}")
        return RunOutput(lines=lines, returncode=returncode, timed_out=timed_out, argv=[str(a) for a in argv],
                         log_path=log, notes=notes)
