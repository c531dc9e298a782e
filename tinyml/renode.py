"""Renode scripts for a board: the .resc that builds the machine and the
Robot Framework suite `renode-test` runs, rendered from renode/*.j2.

What goes in them comes from the board file's `emulators.renode` section and
renode/platform-facts.yaml (facts read from Renode's platform files); the
templates only lay it out. The scripts name the firmware and the UART log
relative to themselves (`${CURDIR}` in the suite, `?=` defaults in the .resc),
so an exported folder can be committed and run anywhere with `renode-test`.

Timing in Renode: the core runs PerformanceInMips million instructions per
virtual second and the added DWT's CYCCNT ticks at MIPS x 10^6 Hz, so CYCCNT
counts executed instructions exactly; Renode has no pipeline model, so these
are not the real core's cycles (the report says so).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .artifacts import atomic_dir, refuse_overwrite, write_json
from .errors import BoardError, ConfigError

RESC_TEMPLATE = "board.resc.j2"
ROBOT_TEMPLATE = "board.robot.j2"
ELF_NAME = "firmware.elf"
UART_LOG = "uart.log"
# virtual seconds between two harness lines when the model is not known (an export's default)
DEFAULT_LINE_TIMEOUT_S = 60
# The slowest runtime tinyml builds (TFLM's reference kernels) needs about 16 instructions per MAC
# on a Cortex-M4 (BENCHMARKS.md); 50 leaves room for the M0 and for per-layer printing.
INSTRUCTIONS_PER_MAC_LIMIT = 50
MIN_LINE_TIMEOUT_S = 1.0
# Renode's global quantum: virtual time, and so the DWT's CYCCNT, advances in these steps, so a
# count is exact to within one quantum (MIPS x 10 instructions). Measured on Renode 1.15.1
# (stm32f4-discovery, 0.5 virtual s): 1 us took 56 s of host time, 10 us 3.3 s, 100 us 3.3 s.
# Renode's default of 100 us rounds a small model's inference by up to 10%.
QUANTUM_US = 10
from .emulators.renode import INSTALL_HINT  # noqa: E402,F401  (the runner's; re-exported)


@lru_cache(maxsize=1)
def shipped_platforms() -> frozenset[str]:
    """Renode's shipped platform files as `@platforms/...` (renode/shipped-platforms.txt)."""
    from .resources import data_dir

    text = (data_dir("renode") / "shipped-platforms.txt").read_text()
    return frozenset("@" + line.strip() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=1)
def platform_facts() -> dict:
    import yaml

    from .resources import data_dir

    return yaml.safe_load((data_dir("renode") / "platform-facts.yaml").read_text()) or {}


def our_platform(platform: str) -> Path | None:
    """A .repl of ours in renode/ (`platform: renode/<name>.repl` in a board file), else None."""
    from .resources import data_dir

    if platform.startswith("renode/") and platform.endswith(".repl"):
        return data_dir("renode") / platform.split("/", 1)[1]
    return None


def _repl_facts(path: Path) -> dict:
    """The facts tinyml relies on, read from a .repl of ours: the shipped platform it `using`s (from
    platform-facts.yaml), then its own entries: UARTs (name -> model, base), Memory.MappedMemory
    regions (name -> [origin, size], one per address it is registered at) and size updates of
    memories declared by the `using`d file, and whether it declares a DWT."""
    import copy
    import re

    text = path.read_text() if path.is_file() else ""
    used = re.search(r'(?m)^using\s+"([^"]+)"', text)
    facts = copy.deepcopy(platform_facts().get("@" + used[1]) or {}) if used else {}
    facts.setdefault("consoles", {})
    facts.setdefault("memory", {})
    facts["dwt"] = bool(facts.get("dwt")) or re.search(r"(?m)^\w+:\s*Miscellaneous\.DWT\b", text) is not None
    facts["using"] = used[1] if used else None
    memory: dict[str, list[int]] = {}
    for block in re.split(r"\n(?=\S)", text):
        head = re.match(r"(\w+):\s*(?:([\w.]+)\s*@\s*(.*))?$", block.splitlines()[0].strip()) if block.strip() else None
        if head is None:
            continue
        name, model, where = head[1], head[2], head[3] or ""
        addresses = [int(a, 16) for a in re.findall(r"sysbus\s+(0x[0-9A-Fa-f]+)", where)]
        size = re.search(r"(?m)^\s+size:\s*(0x[0-9A-Fa-f]+|\d+)", block)
        if model and model.startswith("UART.") and addresses:
            facts["consoles"][name] = {"model": model, "base": addresses[0]}
        elif model == "Memory.MappedMemory" and size:
            for i, address in enumerate(addresses):
                memory[name if i == 0 else f"{name}@{i}"] = [address, int(size[1], 0)]
        elif model is None and size and name in facts["memory"]:
            facts["memory"][name] = [facts["memory"][name][0], int(size[1], 0)]   # an update of a `using`d memory
    facts["memory"].update(memory)
    return facts


def facts_of(platform: str) -> dict:
    """What tinyml relies on in a platform: platform-facts.yaml for Renode's, the file for ours."""
    ours = our_platform(platform)
    if ours is not None:
        return _repl_facts(ours)
    return platform_facts().get(platform) or {}


def declared_consoles(platform: str) -> dict[str, str]:
    """UART peripherals the platform declares, sysbus name -> Renode model."""
    return {name: uart["model"] for name, uart in (facts_of(platform).get("consoles") or {}).items()}


@dataclass(frozen=True)
class RenodePlan:
    """Everything the templates need for one board."""
    board: str
    title: str
    source: str                 # the board file, for the generated-by line
    platform: str               # `@platforms/...` or renode/<ours>.repl
    platform_is_ours: bool
    console: str                # sysbus.<uart>
    console_kind: str           # the firmware's console driver (board console.kind)
    mips: int
    add_dwt: bool
    dwt_frequency_hz: int
    systick_hz: int
    clock_hz: int
    vector_table_offset: str

    @property
    def platform_file(self) -> str:
        return Path(self.platform).name


def maps(memory: dict, origin: int, size: int) -> bool:
    """True when the regions (name -> [origin, size]) cover [origin, origin + size) without a gap."""
    address, end = origin, origin + size
    regions = sorted((int(o), int(o) + int(n)) for o, n in memory.values())
    for start, stop in regions:
        if start <= address < stop:
            address = stop
        if address >= end:
            return True
    return False


def plan(board) -> RenodePlan:
    """The Renode facts of a board, checked: a clear error when it has none or they are wrong."""
    from .boards import source_of

    where = source_of(board)
    renode = board.emulators.renode
    if renode is None:
        raise BoardError(f"{where}: board {board.name} has no Renode platform (emulators.renode): neither "
                         "Renode nor tinyml's renode/ folder has a model of it. Use --emulator qemu.")
    if renode.mips is None:
        raise BoardError(f"{where}: emulators.renode.mips is missing (the core's MIPS sets Renode's "
                         "virtual time and the DWT frequency).")
    ours = our_platform(renode.platform)
    if ours is None and renode.platform not in shipped_platforms():
        raise BoardError(f"{where}: emulators.renode.platform {renode.platform!r} is neither a platform "
                         "file Renode ships (renode/shipped-platforms.txt) nor renode/<name>.repl of ours.")
    if ours is not None and not ours.is_file():
        raise BoardError(f"{where}: emulators.renode.platform {renode.platform!r} names {ours}, which does "
                         "not exist.")
    consoles = declared_consoles(renode.platform)
    uart = renode.console.removeprefix("sysbus.")
    if not renode.console.startswith("sysbus.") or uart not in consoles:
        raise BoardError(f"{where}: emulators.renode.console {renode.console!r} is not a UART of "
                         f"{renode.platform} (it declares: {', '.join(sorted(consoles)) or 'none known'}).")
    if board.console.kind == "semihosting":
        raise BoardError(f"{where}: the board's console is semihosting; Renode runs the board's own "
                         "firmware, which must print on a real UART.")
    facts = facts_of(renode.platform)
    base = (facts.get("consoles") or {})[uart].get("base")
    if base is not None and board.console.base is not None and int(base) != int(board.console.base):
        raise BoardError(f"{where}: emulators.renode.console {renode.console} is at 0x{int(base):08X} in "
                         f"{renode.platform}, but the board's console is at 0x{int(board.console.base):08X}.")
    for region in ("flash", "ram"):
        mem = getattr(board.memory, region)
        if not maps(facts.get("memory") or {}, int(mem.origin), int(mem.size)):
            raise BoardError(f"{where}: {renode.platform} does not map the board's {region} "
                             f"(0x{int(mem.origin):08X}, {int(mem.size)} bytes); the firmware would fault there.")
    if facts.get("dwt") and renode.add_dwt:
        raise BoardError(f"{where}: emulators.renode.add_dwt is true but {renode.platform} already has a DWT.")
    if not facts.get("dwt") and not renode.add_dwt and board.cycle_counter == "dwt":
        raise BoardError(f"{where}: emulators.renode.add_dwt is false but {renode.platform} has no DWT; the "
                         "firmware's cycle counter would read 0.")
    return RenodePlan(
        board=board.name, title=board.title, source=where, platform=renode.platform,
        platform_is_ours=ours is not None, console=renode.console, console_kind=board.console.kind,
        mips=int(renode.mips), add_dwt=bool(renode.add_dwt), dwt_frequency_hz=int(renode.mips) * 1_000_000,
        systick_hz=int(board.clock_hz), clock_hz=int(board.clock_hz),
        vector_table_offset=f"0x{int(board.memory.flash.origin):08X}")


def line_timeout_s(macs: int, mips: int) -> float:
    """Virtual seconds the suite waits for the next harness line: one inference at the board's MIPS
    with INSTRUCTIONS_PER_MAC_LIMIT, at least MIN_LINE_TIMEOUT_S (start-up, clock init). A hung
    firmware then fails in virtual time, long before the host-time limit."""
    needed = INSTRUCTIONS_PER_MAC_LIMIT * max(int(macs), 0) / (int(mips) * 1e6)
    return float(max(MIN_LINE_TIMEOUT_S, round(needed + 0.5)))


@dataclass(frozen=True)
class RenodeScripts:
    resc_name: str
    robot_name: str
    resc: str
    robot: str
    platform_copy: Path | None  # our .repl, to be copied beside the scripts


def render_scripts(board, *, run_id: str, samples: int, runtime: str,
                   line_timeout_s: float = DEFAULT_LINE_TIMEOUT_S) -> RenodeScripts:
    from .ctemplates import environment
    from .resources import data_dir

    p = plan(board)
    if samples < 1:
        raise ConfigError("a Renode suite needs at least one baked sample.")
    resc_name, robot_name = f"{board.name}.resc", f"{board.name}.robot"
    nvic = "sysbus.nvic"
    ctx = dict(
        source=p.source, title=p.title, board=p.board, platform=p.platform, platform_is_ours=p.platform_is_ours,
        platform_file=p.platform_file, console=p.console, console_kind=p.console_kind, mips=p.mips,
        add_dwt=p.add_dwt, dwt_frequency_hz=p.dwt_frequency_hz, systick_hz=p.systick_hz, clock_hz=p.clock_hz,
        vector_table_offset=p.vector_table_offset, nvic=nvic, elf_name=ELF_NAME, resc_name=resc_name,
        robot_name=robot_name, run_id=run_id, samples=int(samples), runtime=runtime,
        line_timeout_s=f"{line_timeout_s:g}", quantum_us=QUANTUM_US, quantum_s=f"{QUANTUM_US / 1e6:.6f}")
    env = environment(str(data_dir("renode")))
    return RenodeScripts(resc_name, robot_name, env.get_template(RESC_TEMPLATE).render(**ctx),
                         env.get_template(ROBOT_TEMPLATE).render(**ctx),
                         our_platform(p.platform) if p.platform_is_ours else None)


def write_suite(dest: Path, board, project, elf: Path, *, line_timeout_s: float = DEFAULT_LINE_TIMEOUT_S) -> Path:
    """Write .resc, .robot, the ELF (and our .repl) into `dest` (replaced atomically); returns the suite."""
    scripts = render_scripts(board, run_id=project.run_id, samples=project.sample_count,
                             runtime=project.runtime, line_timeout_s=line_timeout_s)
    with atomic_dir(dest) as tmp:
        (tmp / scripts.resc_name).write_text(scripts.resc)
        (tmp / scripts.robot_name).write_text(scripts.robot)
        shutil.copyfile(elf, tmp / ELF_NAME)
        if scripts.platform_copy is not None:
            shutil.copyfile(scripts.platform_copy, tmp / scripts.platform_copy.name)
        write_json(tmp / "tinyml-renode.json", {
            "board": board.name, "runtime": project.runtime, "run_id": project.run_id,
            "samples": project.sample_count, "platform": board.emulators.renode.platform,
            "console": board.emulators.renode.console, "suite": scripts.robot_name, "resc": scripts.resc_name,
            "elf": ELF_NAME, "uart_log": UART_LOG})
    return dest / scripts.robot_name


def export(build_dir: str | Path, board_name: str, out_dir: str | Path, *, runtime: str = "aot",
           model: str | Path | None = None, samples: int = 10, seed: int = 0, dataset: str | Path | None = None,
           opt: str = "-Os", jobs: int = 2, force: bool = False, boards_dirs=None, notify=None) -> Path:
    """`tinyml renode export`: build the board's device firmware and write a self-contained suite."""
    from .build import build_project
    from .firmware import project_dir_for, render_firmware, resolve_inputs
    from .tflm_calibration import runtime_options

    say = notify or (lambda _m: None)
    out_dir = Path(out_dir)
    refuse_overwrite(out_dir, force)
    model_path, board, sample_set = resolve_inputs(Path(build_dir), board_name, model, samples, seed, dataset,
                                                   boards_dirs)
    plan(board)                                 # fail before building when the board cannot run in Renode
    project_dir = project_dir_for(Path(build_dir), board.name, runtime, "emulator", "renode")
    say(f"rendering {board.name}'s device firmware ({runtime}, {sample_set.count} samples)")
    project = render_firmware(model_path, board, project_dir, runtime=runtime, variant="device",
                              samples=sample_set, opt=opt, boards_dirs=boards_dirs,
                              runtime_options=runtime_options())
    say(f"building {project_dir.name}")
    build_project(project_dir, opt=opt, jobs=jobs)
    suite = write_suite(out_dir, board, project, project_dir / "build" / "firmware.elf")
    say(f"wrote {suite.name}, {suite.with_suffix('.resc').name} and {ELF_NAME} to {out_dir}")
    return suite
