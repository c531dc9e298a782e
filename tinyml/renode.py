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
# virtual seconds between two harness lines: start-up, or one inference of the largest model
# tinyml runs (about 42 M instructions at the slowest board's MIPS is well under 10 s)
DEFAULT_LINE_TIMEOUT_S = 60
INSTALL_HINT = ("install Renode: the portable Linux package (renode-<version>.linux-portable.tar.gz from "
                "https://github.com/renode/renode/releases, unpack it and put its folder on PATH) or the "
                ".deb/.rpm package from the same page; renode-test also needs its Python packages: "
                "pip install -r <renode folder>/tests/requirements.txt")


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


def declared_consoles(platform: str) -> dict[str, str]:
    """UART peripherals the platform declares, sysbus name -> Renode model."""
    ours = our_platform(platform)
    if ours is not None:
        import re

        text = ours.read_text() if ours.is_file() else ""
        return {m[1]: m[2] for m in re.finditer(r"(?m)^(\w+):\s*(UART\.\w+)\s*@\s*sysbus", text)}
    return dict((platform_facts().get(platform) or {}).get("consoles") or {})


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


def plan(board) -> RenodePlan:
    """The Renode facts of a board, checked: a clear error when it has none or they are wrong."""
    from .boards import source_of

    where = source_of(board)
    renode = board.emulators.renode
    if renode is None:
        raise BoardError(f"{where}: board {board.name} has no Renode platform (emulators.renode); "
                         "Renode ships no model of it. Use --emulator qemu.")
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
    facts = platform_facts().get(renode.platform) or {}
    if facts.get("dwt") and renode.add_dwt:
        raise BoardError(f"{where}: emulators.renode.add_dwt is true but {renode.platform} already has a DWT.")
    return RenodePlan(
        board=board.name, title=board.title, source=where, platform=renode.platform,
        platform_is_ours=ours is not None, console=renode.console, console_kind=board.console.kind,
        mips=int(renode.mips), add_dwt=bool(renode.add_dwt), dwt_frequency_hz=int(renode.mips) * 1_000_000,
        systick_hz=int(board.clock_hz), clock_hz=int(board.clock_hz),
        vector_table_offset=f"0x{int(board.memory.flash.origin):08X}")


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
        line_timeout_s=f"{line_timeout_s:g}")
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

    say = notify or (lambda _m: None)
    out_dir = Path(out_dir)
    refuse_overwrite(out_dir, force)
    model_path, board, sample_set = resolve_inputs(Path(build_dir), board_name, model, samples, seed, dataset,
                                                   boards_dirs)
    plan(board)                                 # fail before building when the board cannot run in Renode
    project_dir = project_dir_for(Path(build_dir), board.name, runtime, "emulator", "renode")
    say(f"rendering {board.name}'s device firmware ({runtime}, {sample_set.count} samples)")
    project = render_firmware(model_path, board, project_dir, runtime=runtime, variant="device",
                              samples=sample_set, opt=opt, boards_dirs=boards_dirs)
    say(f"building {project_dir.name}")
    build_project(project_dir, opt=opt, jobs=jobs)
    suite = write_suite(out_dir, board, project, project_dir / "build" / "firmware.elf")
    say(f"wrote {suite.name}, {suite.with_suffix('.resc').name} and {ELF_NAME} to {out_dir}")
    return suite
