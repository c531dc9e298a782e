"""Run firmware on qemu-system-arm and collect its console lines.

    qemu-system-arm -M <machine> -display none -monitor none
        -serial null ... -serial stdio        (the UART the firmware prints on, if any)
        -semihosting-config enable=on,target=native
        -icount shift=N,sleep=off -kernel firmware.elf

Semihosting SYS_WRITE0 output arrives on QEMU's stderr, a UART's on stdout;
semihosting SYS_EXIT ends QEMU (status 0 for a good run). With -icount the
virtual clock advances exactly 2^N ns per guest instruction, so the firmware's
SysTick readings convert to instructions exactly (BENCHMARKS.md, "Counting on
QEMU"); that needs the rate QEMU's SysTick runs at on each machine, below.
"""

from __future__ import annotations

import shutil

from .. import proc
from .base import RunOutput, RunRequest, Runner

QEMU = "qemu-system-arm"
INSTALL_HINT = "install the Debian package qemu-system-arm (sudo apt-get install qemu-system-arm)"

# The rate of the SysTick's processor clock (CLKSOURCE=1) in QEMU 7.2's model
# of each machine: facts about QEMU, not about boards (a real LM3S6965 runs at
# up to 50 MHz; QEMU's reset RCC gives 12.5 MHz). Each is checked by
# tests/integration/test_emulate_clock.py with a loop of known length.
SYSTICK_HZ: dict[str, int] = {
    "mps2-an385": 25_000_000,      # hw/arm/mps2.c SYSCLK_FRQ
    "mps2-an386": 25_000_000,
    "mps2-an500": 25_000_000,
    "mps2-an511": 25_000_000,
    "mps2-an505": 20_000_000,      # hw/arm/mps2-tz.c sysclk_frq
    "mps2-an521": 20_000_000,
    "mps3-an524": 32_000_000,
    "mps3-an547": 32_000_000,
    "microbit": 16_000_000,        # hw/arm/nrf51_soc.c HCLK
    "lm3s6965evb": 12_500_000,     # hw/arm/stellaris.c: 200 MHz / (SYSDIV 15 + 1) at reset
    "lm3s811evb": 12_500_000,
    "netduinoplus2": 168_000_000,  # hw/arm/netduinoplus2.c SYSCLK_FRQ
    "netduino2": 120_000_000,
    "stm32vldiscovery": 24_000_000,
}


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


def systick_hz(machine: str, fallback_hz: int) -> tuple[int, bool]:
    """(SysTick rate of the machine in QEMU, known) - the fallback when the table lacks it."""
    if machine in SYSTICK_HZ:
        return SYSTICK_HZ[machine], True
    return int(fallback_hz), False
