"""Renode scripts without Renode: golden .resc/.robot for every board with a
Renode platform, the board files' Renode facts checked against the data read
from Renode's sources (shipped platforms, consoles they declare), the Robot
keywords and monitor commands checked against ../shared/RENODE.md, and the
exact renode-test command line."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tinyml.boards import list_boards, load_board
from tinyml.emulators import get_runner
from tinyml.emulators.base import RunRequest
from tinyml.errors import BoardError
from tinyml.renode import declared_consoles, facts_of, maps, platform_facts, plan, render_scripts, shipped_platforms

GOLDEN = Path(__file__).parent / "golden" / "renode"
RENODE_MD = Path(__file__).resolve().parents[3] / "shared" / "RENODE.md"

# Robot keywords the suite may use: Renode 1.15.1's (../shared/RENODE.md; Renode 1.15.1 has no
# `Register Failing Uart String`, which arrived later: tests/integration/test_renode_run.py checks
# these names against the installed Renode) and Robot's BuiltIn ones.
RENODE_KEYWORDS = {"Execute Command", "Execute Script", "Create Terminal Tester", "Wait For Line On Uart",
                   "Wait For Lines On Uart", "Start Emulation", "Reset Emulation", "Provides", "Requires",
                   "Wait For Log Entry"}
BUILTIN_KEYWORDS = {"Log", "Should Not Start With", "Run Keyword And Ignore Error", "Fail"}
# Monitor commands the .resc may use (../shared/RENODE.md "Script (.resc) commands"), by their first words.
RESC_COMMANDS = {"mach create", "machine LoadPlatformDescription", "machine LoadPlatformDescriptionFromString",
                 "sysbus.cpu PerformanceInMips", "sysbus LoadELF", "CreateFileBackend",
                 "sysbus.cpu VectorTableOffset", "Frequency", "emulation SetGlobalQuantum", "macro reset",
                 '"""', "runMacro $reset"}


def renode_boards():
    return sorted(b.name for b in list_boards() if b.emulators.renode is not None)


def rendered(name: str):
    return render_scripts(load_board(name), run_id="0123abcd", samples=3, runtime="aot")


def test_the_boards_users_named_have_renode_platforms():
    assert {"stm32f4-discovery", "nrf52840-dk"} <= set(renode_boards())


@pytest.mark.parametrize("name", renode_boards())
def test_rendered_scripts_match_the_golden_files(name):
    scripts = rendered(name)
    for text, suffix in ((scripts.resc, "resc"), (scripts.robot, "robot")):
        golden = GOLDEN / f"{name}.{suffix}"
        if os.environ.get("TINYML_UPDATE_GOLDEN"):
            golden.write_text(text)
        assert golden.is_file(), f"no golden file {golden}; run with TINYML_UPDATE_GOLDEN=1"
        assert text == golden.read_text(), f"{golden} differs from the rendered script"


@pytest.mark.parametrize("name", renode_boards())
def test_platform_and_console_are_renode_facts(name):
    board = load_board(name)
    renode = board.emulators.renode
    assert renode.platform in shipped_platforms() or renode.platform.startswith("renode/")
    consoles = declared_consoles(renode.platform)
    uart = renode.console.removeprefix("sysbus.")
    assert uart in consoles, f"{renode.console} is not declared by {renode.platform}"
    # the firmware's UART driver matches the model Renode has at that name
    model = consoles[uart]
    expected = {"stm32-usart": ("UART.STM32_UART", "UART.STM32F7_USART"), "nrf52-uarte": ("UART.NRF52840_UART",)}
    assert model in expected[board.console.kind]
    facts = facts_of(renode.platform)
    # the UART is where the firmware writes, and the board's flash and RAM are mapped
    assert facts["consoles"][uart]["base"] == board.console.base
    for region in (board.memory.flash, board.memory.ram):
        assert maps(facts["memory"], int(region.origin), int(region.size))
    assert renode.add_dwt != bool(facts["dwt"]), "add a DWT exactly where the platform has none"
    assert renode.mips and renode.mips * 1_000_000 <= board.clock_hz * 2


def test_every_platform_fact_names_a_shipped_platform():
    assert len(shipped_platforms()) > 200
    for platform in platform_facts():
        assert platform in shipped_platforms(), platform


@pytest.mark.parametrize("name", renode_boards())
def test_scripts_use_only_documented_keywords_and_commands(name):
    scripts = rendered(name)
    cases, keywords = scripts.robot.split("*** Test Cases ***", 1)[1].split("*** Keywords ***", 1)
    own = {line.strip() for line in keywords.splitlines() if line.strip() and not line.startswith(" ")}
    used = set()
    for line in (cases + keywords).splitlines():
        if not line.startswith("    ") or not line.strip():
            continue
        cells = [c for c in re.split(r"\s{2,}", line.strip()) if c]
        while cells and cells[0].startswith("${"):          # assignments: ${a}    ${b}=
            cells = cells[1:]
        if cells[0] in ("FOR", "END", "IF", "ELSE", "...") or cells[0].startswith("["):
            continue
        used.add(cells[0])
    allowed = RENODE_KEYWORDS | BUILTIN_KEYWORDS | own
    assert used and used <= allowed, used - allowed
    assert "treatAsRegex=true" in scripts.robot and "Wait For Regex On Uart" not in scripts.robot
    for line in scripts.resc.splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("$"):
            continue
        assert any(cmd in line for cmd in RESC_COMMANDS), line


def test_keyword_list_is_the_one_in_renode_md():
    if not RENODE_MD.is_file():
        pytest.skip(f"{RENODE_MD} not found (the shared folder beside the checkout)")
    text = RENODE_MD.read_text()
    for keyword in RENODE_KEYWORDS:
        assert f"`{keyword}" in text, keyword
    for command in ("mach create", "LoadPlatformDescriptionFromString", "PerformanceInMips", "LoadELF",
                    "CreateFileBackend", "VectorTableOffset", "Miscellaneous.DWT @ sysbus 0xE0001000"):
        assert command in text, command


def test_dwt_counts_executed_instructions():
    scripts = rendered("stm32f4-discovery")
    assert "sysbus.cpu PerformanceInMips 168" in scripts.resc
    assert 'Miscellaneous.DWT @ sysbus 0xE0001000 { frequency: 168000000 }' in scripts.resc
    assert "sysbus.cpu VectorTableOffset 0x08000000" in scripts.resc
    assert "sysbus.usart2 CreateFileBackend $uart_log true" in scripts.resc
    # CYCCNT follows virtual time, which advances once per quantum: 10 us, not Renode's 100 us
    assert 'emulation SetGlobalQuantum "0.000010"' in scripts.resc
    nano = rendered("arduino-nano-33-ble-sense")
    assert "sysbus.cpu VectorTableOffset 0x00010000" in nano.resc    # after the Arduino bootloader


def test_scripts_are_relocatable():
    scripts = rendered("nrf52840-dk")
    for text in (scripts.resc, scripts.robot):
        assert "/tmp" not in text and str(Path.cwd()) not in text
    assert "${CURDIR}/firmware.elf" in scripts.robot


@pytest.mark.parametrize("name", ["mps2-an386", "microbit", "rpi-pico", "sparkfun-edge"])
def test_boards_without_a_renode_model_say_so(name):
    with pytest.raises(BoardError, match=r"has no Renode platform .*Use --emulator qemu"):
        plan(load_board(name))


def test_renode_test_command_line(tmp_path):
    runner = get_runner("renode")
    request = RunRequest(elf=tmp_path / "firmware.elf", machine=str(tmp_path / "b.robot"), work_dir=tmp_path,
                         timeout_s=60)
    assert runner.argv(request)[1:] == [str(tmp_path / "b.robot"), "-r", str(tmp_path / "robot"),
                                        "--variable", f"ELF:{tmp_path / 'firmware.elf'}",
                                        "--variable", f"UART_LOG:{tmp_path / 'uart.log'}"]
    keep = RunRequest(elf=tmp_path / "firmware.elf", machine=str(tmp_path / "b.robot"), work_dir=tmp_path,
                      timeout_s=60, extra_args=("--keep-open",))
    argv = runner.argv(keep)
    assert argv[1:4] == ["--console", "--disable-gui", "-e"] and f"include @{tmp_path / 'b.resc'}" in argv[4]


def test_without_renode_the_error_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("TINYML_RENODE_DIR", raising=False)
    runner = get_runner("renode")
    assert not runner.is_available()
    with pytest.raises(Exception, match=r"renode emulator is not installed; install Renode: the portable "
                                        r"Linux package .* \.deb/\.rpm package"):
        runner.require()


def test_emulate_renode_without_renode_is_one_sentence_and_qemu_stays_default(monkeypatch, tmp_path, capsys):
    from tinyml.cli import main

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("TINYML_RENODE_DIR", raising=False)
    if get_runner("renode").is_available():
        pytest.skip("Renode is installed here")
    with pytest.raises(SystemExit) as done:
        main(["emulate", "--emulator", "renode", "--board", "stm32f4-discovery", "--runtime", "aot",
              "-B", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "Traceback" not in err
    assert err.startswith("error: the renode emulator is not installed; install Renode: the portable Linux package")
    assert not (tmp_path / "b").exists()
    from tinyml.cli.firmware_cmds import emulate
    assert next(p for p in emulate.params if p.name == "emulator").default == "qemu"


def test_our_platforms_map_the_board_and_place_the_console():
    """Our .repl files are read as Renode reads them: a `using`d platform's memories resized (the
    nRF52833 is an nRF52840 with less flash and RAM), an address list for an aliased SRAM."""
    microbit = facts_of("renode/nrf52833.repl")
    assert microbit["memory"]["flash"] == [0, 0x80000] and microbit["memory"]["ram"] == [0x20000000, 0x20000]
    assert microbit["consoles"]["uart0"] == {"model": "UART.NRF52840_UART", "base": 0x40002000}
    l475 = facts_of("renode/stm32l475.repl")
    assert l475["memory"]["sram2"] == [0x10000000, 0x8000] and l475["memory"]["sram2@1"] == [0x20018000, 0x8000]
    assert maps(l475["memory"], 0x20000000, 0x20000) and not maps(l475["memory"], 0x20000000, 0x20001)
    assert not l475["dwt"] and l475["consoles"]["usart1"]["base"] == 0x40013800


def test_a_board_whose_console_or_memory_renode_does_not_have_is_refused(tmp_path):
    import yaml

    from tinyml.boards import load_board_file

    source = yaml.safe_load(Path(load_board("b-l475e-iot01a").source_path).read_text())
    source["console"]["base"] = 0x40004400           # USART2's address, but the board says usart1
    (tmp_path / "wrong-uart.yaml").write_text(yaml.safe_dump({**source, "name": "wrong-uart"}))
    with pytest.raises(BoardError, match=r"emulators.renode.console sysbus.usart1 is at 0x40013800"):
        plan(load_board_file(tmp_path / "wrong-uart.yaml"))
    source = yaml.safe_load(Path(load_board("b-l475e-iot01a").source_path).read_text())
    source["memory"]["ram"]["size"] = "256K"          # past SRAM1 + SRAM2
    (tmp_path / "big-ram.yaml").write_text(yaml.safe_dump({**source, "name": "big-ram"}))
    with pytest.raises(BoardError, match=r"does not map the board's ram"):
        plan(load_board_file(tmp_path / "big-ram.yaml"))


def _fake_renode(tmp_path: Path, *, mono_build: bool) -> Path:
    folder = tmp_path / "renode"
    (folder / "output" / "bin" / "Release").mkdir(parents=True)
    if mono_build:
        (folder / "output" / "bin" / "Release" / "Renode.exe").write_bytes(b"MZ")
    for tool in ("renode", "renode-test"):
        (folder / tool).write_text("#!/bin/sh\nexit 0\n")
        (folder / tool).chmod(0o755)
    return folder


def _bin(tmp_path: Path, **scripts: str) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in scripts.items():
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    return folder


def test_a_mono_build_without_mono_names_the_packages(monkeypatch, tmp_path, capsys):
    from tinyml.cli import main
    from tinyml.emulators.renode import missing_piece

    monkeypatch.setenv("TINYML_RENODE_DIR", str(_fake_renode(tmp_path, mono_build=True)))
    monkeypatch.setenv("PATH", str(_bin(tmp_path)))
    monkeypatch.delenv("TINYML_RENODE_VENV", raising=False)
    assert missing_piece() == (f"the Renode in {tmp_path / 'renode'} is a Mono build and mono is not installed: "
                               "apt-get install mono-runtime libmono-posix4.0-cil libmono-microsoft-csharp4.0-cil "
                               "libmono-system-xml-linq4.0-cil libmono-system-drawing4.0-cil (or mono-complete).")
    with pytest.raises(SystemExit) as done:
        main(["emulate", "--emulator", "renode", "--board", "stm32f4-discovery", "--runtime", "aot",
              "-B", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "Traceback" not in err and "is a Mono build and mono is not installed" in err
    assert not (tmp_path / "b").exists()


def test_renode_test_without_its_python_packages_says_how(monkeypatch, tmp_path):
    from tinyml.emulators.renode import missing_piece

    monkeypatch.setenv("TINYML_RENODE_DIR", str(_fake_renode(tmp_path, mono_build=True)))
    monkeypatch.setenv("PATH", str(_bin(tmp_path, mono="exit 0", python3="exit 1")))   # `import robot` fails
    monkeypatch.delenv("TINYML_RENODE_VENV", raising=False)
    problem = missing_piece()
    assert problem.startswith(f"renode-test runs {tmp_path / 'bin' / 'python3'}, which lacks its Python packages: ")
    assert f"pip install -r {tmp_path / 'renode' / 'tests' / 'requirements.txt'}" in problem
    assert "TINYML_RENODE_VENV" in problem
    # the venv named by TINYML_RENODE_VENV comes first on renode-test's PATH
    venv = tmp_path / "venv"
    _bin(venv, python3="exit 0")
    monkeypatch.setenv("TINYML_RENODE_VENV", str(venv))
    assert missing_piece() is None
