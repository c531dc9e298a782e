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
from ..renode import INSTALL_HINT
from .base import RunOutput, RunRequest, Runner

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
    env = {"TMPDIR": str(tmp), "XDG_CONFIG_HOME": str(config)}
    venv = os.environ.get(RENODE_VENV_ENV)
    if venv:
        env["PATH"] = str(Path(venv) / "bin") + os.pathsep + os.environ.get("PATH", "")
    return env


def _tool(name: str) -> str | None:
    """TINYML_RENODE_DIR (a portable Renode folder) first, then PATH."""
    folder = os.environ.get("TINYML_RENODE_DIR")
    if folder:
        cand = Path(folder) / name
        return str(cand) if cand.is_file() and os.access(cand, os.X_OK) else None
    return shutil.which(name)


class RenodeRunner(Runner):
    name = "renode"
    install_hint = INSTALL_HINT

    def is_available(self) -> bool:
        return _tool(RENODE_TEST) is not None

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
                timed_out = False
            else:
                result = proc.run(argv, cwd=work, timeout_s=request.timeout_s, log_path=log, check=False,
                                  env=env, process_group=True)
                returncode, timed_out = result.returncode, result.timed_out
        finally:
            shutil.rmtree(private, ignore_errors=True)
        text = uart_log.read_text(errors="replace") if uart_log.is_file() else ""
        lines = [line.rstrip("\r") for line in text.splitlines()]
        notes = []
        if returncode == 1:
            notes.append("renode-test: the suite failed (a harness line did not come in virtual time, or "
                         f"TINYML FAIL was printed); robot log: {work / 'robot' / 'log.html'}")
        elif returncode == 2:
            notes.append("renode-test: Renode crashed")
        return RunOutput(lines=lines, returncode=returncode, timed_out=timed_out, argv=[str(a) for a in argv],
                         log_path=log, notes=notes)
