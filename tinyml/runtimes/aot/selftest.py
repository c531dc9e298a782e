"""Run generated AOT code on an emulated Cortex-M (QEMU mps2) with semihosting.

Checks the target code paths of the kernel library (SMLAD on Cortex-M4, the
portable C path on Cortex-M3) against tflite-micro and counts the guest
instructions of one tinyml_invoke (QEMU -icount, SysTick at 25 MHz). Used by
the aot runtime's integration tests and benchmark; the product firmware is
built by the firmware stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ... import proc
from ...errors import EmulatorError
from ...resources import data_dir
from .project import AotProject

# core -> (gcc flags, QEMU machine)
CORES = {
    "cortex-m4": (["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"], "mps2-an386"),
    "cortex-m3": (["-mcpu=cortex-m3", "-mthumb"], "mps2-an385"),
}
ICOUNT_SHIFT = 6
INSTRUCTIONS_PER_TICK = 0.625  # -icount shift=6: 64 ns per instruction, SysTick tick 40 ns
_LINE = re.compile(r"^SAMPLE (\d+) (\d+) ([0-9a-f]*)$")
_LAYER = re.compile(r"^LAYER (\d+) (\d+)$")


@dataclass
class SelftestRun:
    outputs: np.ndarray            # (n, output bytes) uint8
    instructions: list[int]        # per inference
    text_bytes: int                # .text of the whole ELF
    layer_instructions: list[int]  # per operator, first input


def selftest_dir() -> Path:
    return data_dir("firmware_templates") / "aot" / "selftest"


def build(project: AotProject, inputs: np.ndarray, elf_path: Path, *, core: str = "cortex-m4",
          opt: str = "-O2", log_path: Path | None = None) -> Path:
    """Compile the model, kernels and self-test runner with inputs baked in."""
    import jinja2

    gcc = proc.require_tool("arm-none-eabi-gcc", "install the Arm GNU toolchain (apt-get install gcc-arm-none-eabi)")
    flags, _ = CORES[core]
    src = selftest_dir()
    out = project.out_dir.resolve()
    raw = np.ascontiguousarray(inputs).reshape(len(inputs), -1).view(np.int8)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(src)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    bodies = [",\n    ".join(", ".join(str(int(v)) for v in row[i:i + 16]) for i in range(0, row.size, 16))
              for row in raw]
    data_h = elf_path.parent / "selftest_data.h"
    elf_path.parent.mkdir(parents=True, exist_ok=True)
    data_h.write_text(env.get_template("selftest_data.h.j2").render(source="the self-test", samples=bodies))
    argv: list = [gcc, *flags, opt, "-g", "-Wall", "-Wextra", "-Werror", "-std=c99", "-ffunction-sections",
                  "-fdata-sections", *[f"-I{out / d}" for d in project.include_dirs], f"-I{elf_path.parent}",
                  f"-I{src}", '-DTINYML_HOOKS_FILE="selftest_hooks.h"',
                  *[out / s for s in project.sources], src / "selftest_main.c",
                  "-nostartfiles", "--specs=nano.specs", f"-T{src / 'mps2.ld'}", "-Wl,--gc-sections",
                  "-o", elf_path]
    proc.run(argv, log_path=log_path, timeout_s=300)
    return elf_path


def run(elf_path: Path, *, core: str = "cortex-m4", output_bytes: int, samples: int,
        timeout_s: float = 300, log_path: Path | None = None) -> SelftestRun:
    qemu = proc.require_tool("qemu-system-arm", "install QEMU (apt-get install qemu-system-arm)")
    _, machine = CORES[core]
    res = proc.run([qemu, "-M", machine, "-nographic", "-monitor", "none", "-serial", "none",
                    "-semihosting-config", "enable=on,target=native", "-icount", f"shift={ICOUNT_SHIFT}",
                    "-kernel", elf_path], timeout_s=timeout_s, log_path=log_path, check=False)
    lines = (res.stderr + res.stdout).splitlines()
    outs, instr, layers = [], [], []
    for line in lines:
        m = _LINE.match(line.strip())
        lm = _LAYER.match(line.strip())
        if lm:
            layers.append(round(int(lm.group(2)) * INSTRUCTIONS_PER_TICK))
        if m:
            outs.append(np.frombuffer(bytes.fromhex(m.group(3)), dtype=np.uint8))
            instr.append(round(int(m.group(2)) * INSTRUCTIONS_PER_TICK))
    if res.timed_out or len(outs) != samples or "DONE" not in lines:
        tail = "\n".join(lines[-5:])
        raise EmulatorError(f"the self-test on {machine} printed {len(outs)} of {samples} results"
                            f"{' before the timeout' if res.timed_out else ''}.", hint=tail, log_path=log_path)
    for o in outs:
        if o.size != output_bytes:
            raise EmulatorError(f"the self-test printed {o.size} output bytes ({output_bytes} expected).")
    size = proc.run([proc.require_tool("arm-none-eabi-size", "install the Arm GNU toolchain"), elf_path],
                    timeout_s=60)
    text = int(size.stdout.splitlines()[1].split()[0])
    return SelftestRun(outputs=np.stack(outs), instructions=instr, text_bytes=text, layer_instructions=layers)
