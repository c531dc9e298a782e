"""Run firmware on qemu-system-arm and collect its console lines.

    qemu-system-arm -M <machine> -display none -monitor none
        -serial null ... -serial stdio        (the UART the firmware prints on, if any)
        -semihosting-config enable=on,target=native
        -icount shift=N,sleep=off -kernel firmware.elf

Semihosting SYS_WRITE0 output arrives on QEMU's stderr, a UART's on stdout;
semihosting SYS_EXIT ends QEMU (status 0 for a good run). With -icount the
virtual clock advances exactly 2^N ns per guest instruction, so the firmware's
SysTick readings convert to instructions exactly (BENCHMARKS.md, "Counting on
QEMU"); that needs the rate QEMU's SysTick runs at on each machine, a fact
about QEMU's machines kept beside the boards (boards/qemu-machines.yaml).
"""

from __future__ import annotations

import shutil

from .. import proc
from .base import RunOutput, RunRequest, Runner

QEMU = "qemu-system-arm"
INSTALL_HINT = "install the Debian package qemu-system-arm (sudo apt-get install qemu-system-arm)"

class QemuRunner(Runner):
    name = "qemu"
    install_hint = INSTALL_HINT

    def is_available(self) -> bool:
        return shutil.which(QEMU) is not None

    def argv(self, request: RunRequest) -> list[str]:
        argv = [QEMU, "-M", request.machine, "-display", "none", "-monitor", "none"]
        if request.console == "semihosting":
            argv += ["-serial", "null"]
        else:
            argv += ["-serial", "null"] * request.serial_index + ["-serial", "stdio"]
        argv += ["-semihosting-config", "enable=on,target=native"]
        if request.icount_shift is not None:
            # sleep=off: an idle guest never waits for host time, so a run's
            # length never depends on the host's load.
            argv += ["-icount", f"shift={request.icount_shift},sleep=off"]
        argv += [*request.extra_args, "-kernel", str(request.elf)]
        return argv

    def run(self, request: RunRequest) -> RunOutput:
        proc.require_tool(QEMU, INSTALL_HINT)
        argv = self.argv(request)
        log = request.work_dir / "qemu.log"
        result = proc.run(argv, cwd=request.work_dir, timeout_s=request.timeout_s, log_path=log,
                          check=False, input_bytes=b"")
        if request.console == "semihosting":
            console, other = result.stderr, result.stdout
        else:
            console, other = result.stdout, result.stderr
        lines = console.splitlines() + other.splitlines()
        return RunOutput(lines=lines, returncode=None if result.timed_out else result.returncode,
                         timed_out=result.timed_out, argv=argv, log_path=log)

