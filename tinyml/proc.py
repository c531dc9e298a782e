"""The one way tinyml runs external tools: argv lists, no shell, timeouts,
return codes checked, and the full output kept in a log file."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ToolError


@dataclass(frozen=True)
class RunResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    log_path: Path | None
    timed_out: bool = False


def require_tool(name: str, install_hint: str) -> str:
    """Return the absolute path of `name` on PATH, or raise naming the package."""
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"'{name}' was not found on PATH; {install_hint}.")
    return found


def run(argv: list[str | os.PathLike], *, cwd: str | Path | None = None,
        timeout_s: float | None = 600, log_path: str | Path | None = None,
        env: dict[str, str] | None = None, check: bool = True,
        input_bytes: bytes | None = None, process_group: bool = False) -> RunResult:
    """Run argv and return its output.

    With check=True a non-zero exit or a timeout raises ToolError naming the
    command and the log file. With check=False a timeout is reported through
    RunResult.timed_out instead, so callers (the emulator runner) can report a
    hang with the last console lines. With process_group=True the tool runs in a
    session of its own and a timeout kills the whole group: renode-test starts
    Renode (mono) as a child that would outlive a killed launcher.
    """
    argv = [str(a) for a in argv]
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    timed_out = False
    try:
        child = subprocess.Popen(argv, cwd=cwd, env=full_env, start_new_session=process_group,
                                 stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise ToolError(f"cannot run '{argv[0]}': {exc.strerror}.") from exc
    with child:
        try:
            out, err = child.communicate(input_bytes, timeout=timeout_s)
            returncode = child.returncode
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill(child, process_group)
            out, err = child.communicate()
            returncode = -1
        except BaseException:
            _kill(child, process_group)
            raise
    stdout = (out or b"").decode("utf-8", "replace")
    stderr = (err or b"").decode("utf-8", "replace")

    log = None
    if log_path is not None:
        log = Path(log_path)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(
            f"$ {' '.join(argv)}\n# cwd: {cwd or os.getcwd()}\n"
            f"# exit: {'timeout' if timed_out else returncode}\n"
            f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n")
    result = RunResult(argv, returncode, stdout, stderr, log, timed_out)
    if check and timed_out:
        raise ToolError(f"'{Path(argv[0]).name}' did not finish within {timeout_s:g} s.",
                        log_path=log)
    if check and returncode != 0:
        tail = (stderr.strip() or stdout.strip()).splitlines()[-12:]
        raise ToolError(
            f"'{Path(argv[0]).name}' failed with exit code {returncode}"
            + (f" (log: {log})" if log else "") + ".",
            hint="\n".join(tail) if tail else None, log_path=log)
    return result


def _kill(child: subprocess.Popen, process_group: bool) -> None:
    if process_group:
        import signal

        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
    child.kill()


@contextlib.contextmanager
def captured_fd(fd: int):
    """Capture what C++ code writes to a file descriptor (the TFLM allocation log)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), fd)
        box: dict[str, str] = {}
        try:
            yield box
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            box["text"] = tmp.read().decode("utf-8", "replace")
