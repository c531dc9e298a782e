"""What every emulator runner offers: start the firmware, return its console lines.

A runner knows nothing about the harness protocol (tinyml/harness.py parses
the lines) and nothing about boards beyond what a RunRequest carries, so
QEMU, Renode and a serial port on a real board can stand in for one another.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ToolError


@dataclass(frozen=True)
class RunRequest:
    elf: Path
    machine: str                   # the emulator's name for the machine / platform
    work_dir: Path                 # logs and console captures go here
    timeout_s: float
    console: str = "semihosting"   # "semihosting" or a UART console kind
    serial_index: int = 0          # which UART of the machine the firmware prints on
    icount_shift: int | None = None
    extra_args: tuple[str, ...] = ()


@dataclass
class RunOutput:
    lines: list[str]               # console lines, in order
    returncode: int | None
    timed_out: bool
    argv: list[str]
    log_path: Path | None
    notes: list[str] = field(default_factory=list)


class Runner(abc.ABC):
    name: str = ""
    install_hint: str = ""

    @abc.abstractmethod
    def is_available(self) -> bool:
        """True when the emulator can be started on this machine."""

    def require(self) -> None:
        if not self.is_available():
            raise ToolError(f"the {self.name} emulator is not installed; {self.install_hint}.")

    @abc.abstractmethod
    def argv(self, request: RunRequest) -> list[str]:
        """The exact command line (for logs and --dry-run style output)."""

    @abc.abstractmethod
    def run(self, request: RunRequest) -> RunOutput:
        """Run to completion or timeout; never raises for a guest failure."""

